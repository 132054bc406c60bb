r"""Mode ``optimal``: the coordinated upper bound, a linear programme over regional product
markets solved with HiGHS (formulation and equations: :mod:`stresstest.kernels.lp`).

The average day of the shock window (:func:`~stresstest.modes._static.static_inputs`), as an
annual rate. Modelling choices, from the economy's baseline:

- **Capacity** the recipe's (:func:`stresstest.kernels.recipe.capacity_with_spare`): an
  industry no event hits may use its spare capacity, one hit makes ``kappa x0``; plus standby.
- **Links** ``T0[o, r, p] = sum_s Z[o, p, r, s] + sum_u max(Y[o, p, r, u], 0)``; remaining share
  ``rho_eff = rho + corridor_extra``; cap ``T0 rho_eff (1 + substitution_headroom)``; flow above
  ``T0`` (and on new links, allowed by ``substitution_new_links``) costs
  ``substitution_friction`` per money unit.
- **Final use** desired: ``delta``-scaled positive uses, domestic ``Dd`` and imported ``Dm``;
  negative (inventory drawdown) uses are a fixed supply: of the origin's product (domestic) or
  added to the national import pool (imported). ``f`` is reported net of the drawdowns used,
  like ``f_baseline`` (so it may be negative where the baseline is). Consumption is served
  before other final uses, and its essential part (``essential_share`` of desired
  consumption) first (``final_rule="essential_first"``, as in ``rationing``; or
  ``"proportional"``), topped up by stock release.
- **Technology** (``technology="pooled"``, default): mode ``rationing``'s with the same recipe
  (:mod:`stresstest.recipe`), so that the optimum bounds every rationing outcome. A region's
  industries draw a product's domestic and imported supply as one pool, each at most its
  coefficient times capacity; inputs the recipe does not class as binding are not required,
  half-critical (important) ones bind as ``(1 + s) / 2``, the buyers' input stocks cover
  part of the need; inputs are never absorbed beyond their fixed-coefficient use. Re-sourcing
  bounds: the recipe's plus the plan's.
  ``technology="fixed"``: every input at its own domestic and imported coefficient (stricter).
- **Imports**: a national pool per product, ``alpha_M M0 + drawdown`` with
  ``M0 = sum(M) + sum(MY)``; any region may draw on it. Beyond the pool above, domestic product
  may replace at most ``substitution_imports`` of a region's *lost* imports
  ``(1 - alpha_M) m0[r, p]`` (also in final use).
- **Stocks**: regional holders release in their region, the national holder anywhere; release
  ``<= stock_rate``; to essential final use or to industries (in place of domestic or imported
  inputs).
- **Objective**: stage 1 maximises essential supply over critical (region, product) pairs, each
  pair's critical supply ratio counting equally (``essential_weight="equal"``) or in money
  (``"money"``); stage 2 maximises value added minus friction with stage 1 held.

Extra Result variables: ``capacity_value[region, sector]`` (stage-2 dual of the capacity bound:
value added gained per unit of extra capacity, at the held essential supply),
``route_value[region_from, region_to]`` (sum over products of the link-capacity duals),
``stock_release[holder, product]``, ``imports_used`` and ``import_substitution``
``[region, product]``. ``binding`` is best effort from the primal solution, in this order:
``capacity`` (output at its bound), ``import`` (an input whose national pool is exhausted under
a cut), ``route`` (an input arriving on a link at a cap below baseline), ``input`` (an input
from a supplier at a cut capacity), otherwise ``demand``.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..compiled import NATIONAL, no_plan
from ..errors import InputError
from ..kernels.lp import LPInputs, solve_optimal
from ..kernels.recipe import capacity_with_spare, window_inventory_cover
from ..recipe import PARAMETERS as RECIPE_PARAMETERS
from ..recipe import recipe_attrs, resolve_recipe, scenario_parameters
from ..result import BINDING, essential_baseline, make_result
from ._static import static_inputs

METHODS = ("highs-ipm", "highs-ds", "highs")
TECHNOLOGIES = ("pooled", "fixed")
FINAL_RULES = ("essential_first", "proportional")
WEIGHTS = ("equal", "money")
_TOL = 1e-9


def _check_array(name: str, values, where: str, lo=0.0, hi=None, labels=None):
    arr = np.asarray(values, dtype=float)
    bad = ~np.isfinite(arr) | (arr < lo)
    if hi is not None:
        bad |= arr > hi
    if bad.any():
        i = np.unravel_index(np.flatnonzero(bad)[0], arr.shape)
        at = labels(i) if labels else str(tuple(int(k) for k in i))
        rng = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise InputError(f"{where}: {name} at {at} is {float(arr[i]):g}; must be finite and {rng}")


def optimal_inputs(economy: xr.Dataset, shock: xr.Dataset, plan: xr.Dataset | None,
                   essential_weight: str = "equal", final_share_cap: bool = False,
                   technology: str = "pooled", final_rule: str = "essential_first",
                   recipe: dict | None = None) -> tuple[LPInputs, object, object]:
    """The :class:`~stresstest.kernels.lp.LPInputs` of a run, the static inputs and the
    resolved recipe (``recipe``: recipe parameters, over the scenario's ``[parameters]``;
    the same recipe as mode ``rationing``'s, so that the optimum bounds it)."""
    rec = resolve_recipe(economy, {**scenario_parameters(shock), **(recipe or {})},
                         where="optimal")
    plan_given = plan
    plan = plan if plan is not None else no_plan(economy)
    scen = f"scenario {shock.attrs.get('scenario', '')!r}"
    pname = f"plan {plan.attrs.get('plan', '')!r}"
    si = static_inputs(economy, shock, plan)
    d = si.derived
    R, P = d.n_region, d.n_sector
    regions = list(map(str, economy["region"].values))
    sectors = list(map(str, economy["sector"].values))

    def ind_label(i):
        j = i[0]
        return f"region={regions[j // P]}, sector={sectors[j % P]}"

    _check_array("kappa", si.kappa, scen, labels=ind_label)
    _check_array("alpha_M", si.alpha_M, scen, labels=lambda i: f"product={sectors[i[0]]}")
    if si.rho is not None:
        _check_array("rho", si.rho, scen)
    if si.delta is not None:
        _check_array("delta", si.delta, scen)
    _check_array("standby capacity", si.standby, pname, labels=ind_label)
    _check_array("corridor_extra", si.corridor, pname)
    _check_array("stock release rate", si.stock_rate, pname)
    for k in ("headroom", "new_links", "friction", "imports"):
        v = plan[f"substitution_{k}"].values.astype(float)
        _check_array(f"substitution_{k}", v, pname, hi=None if k in ("headroom", "friction")
                     else 1.0, labels=lambda i: f"product={sectors[i[0]]}")
    subst = rec.substitution(si.window, plan_given)
    if subst is None:
        subst = {k: np.zeros(P) for k in ("headroom", "new_links", "friction", "imports")}
    if si.holders[:R] != regions or si.holders[R] != NATIONAL:
        raise InputError(f"{pname}: stock holders must be the economy's regions then "
                         f"{NATIONAL!r}, got {si.holders}")
    if essential_weight not in WEIGHTS:
        raise InputError(f"optimal: option essential_weight={essential_weight!r} is not one of "
                         f"{', '.join(WEIGHTS)}")

    Z = economy["Z"].transpose("origin", "product", "region", "sector").values
    Y = economy["Y"].transpose("origin", "product", "region", "use").values
    M = economy["M"].transpose("product", "region", "sector").values
    MY = economy["MY"].transpose("product", "region", "use").values
    delta = si.delta if si.delta is not None else np.ones((R, P, Y.shape[3]))
    Yd = Y * delta.transpose(1, 0, 2)[None]
    MYd = MY * delta.transpose(1, 0, 2)
    T0 = (Z.sum(axis=3) + np.maximum(Y, 0).sum(axis=3)).transpose(0, 2, 1)
    Dd = np.maximum(Yd, 0).sum(axis=(0, 3)).T
    W = np.maximum(-Yd, 0).sum(axis=(2, 3)).reshape(-1)
    Dm = np.maximum(MYd, 0).sum(axis=2).T
    WM = np.maximum(-MYd, 0).sum(axis=(1, 2))
    Msum = M.sum(axis=2)
    M0 = np.maximum(0.0, (Msum + MY.sum(axis=2)).sum(axis=1))
    m0 = (Msum + np.maximum(MY, 0).sum(axis=2)).T
    cons = economy["consumption"].values.astype(bool)
    C_des = (Yd[..., cons].sum(axis=(0, 3)) + MYd[..., cons].sum(axis=2)).T
    es = economy["essential_share"].values.astype(float)
    E = es[None, :] * np.maximum(C_des, 0.0)
    E0 = essential_baseline(economy).values
    crit = economy["critical"].values.astype(bool)[None, :] & (E0 > 0)
    if essential_weight == "equal":
        omega = np.where(crit, 1.0 / np.where(crit, E0, 1.0), 0.0)
    else:
        omega = crit.astype(float)
    rho = si.rho if si.rho is not None else np.ones((R, R, P))
    xbar = capacity_with_spare(d.x, si.kappa, rec.spare_average(si.window), si.standby)
    inp = LPInputs(
        xbar=xbar, x0=d.x, v=d.v, a=d.a_prod, AM=d.AM, T0=T0,
        rho_eff=rho + si.corridor[:, :, None], headroom=subst["headroom"],
        new_links=subst["new_links"], friction=subst["friction"],
        subst_imports=subst["imports"], alpha=si.alpha_M, ex0=si.exports, W=W, Dd=Dd, Dm=Dm,
        m0=m0, pool=si.alpha_M * M0 + WM, E=E, es=es, omega=omega,
        zbar=si.stock_rate[:R], zbar_nat=si.stock_rate[R], technology=technology,
        final_rule=final_rule, final_share_cap=bool(final_share_cap),
    )
    if technology == "pooled":
        inp.input_weight = np.where(rec.crit, 1.0, np.where(rec.half, 2.0, 0.0))
        if np.any(rec.inventory > 0):
            inp.inventory_cover = window_inventory_cover(rec.inventory, si.window)
    inp.drawdown_dom = np.maximum(-Yd, 0).sum(axis=3)  # (o, p, r)
    inp.drawdown_imp = np.maximum(-MYd, 0).sum(axis=2).T  # (r, p)
    return inp, si, rec


def _net_final(inp: LPInputs, sol) -> np.ndarray:
    """Final deliveries (R, P, 3) net of inventory drawdowns, comparable with ``f_baseline``:
    domestic ``fd`` minus the drawdown of each origin's product used (``w``), attributed to
    destinations pro rata; imported ``fm`` minus the imported drawdown (always in the pool)."""
    R, P = inp.R, inp.P
    W = inp.W.reshape(R, P)
    used = np.divide(sol.w.reshape(R, P), W, out=np.zeros_like(W), where=W > 0)
    dom = sol.fd - (inp.drawdown_dom * used[:, :, None]).sum(axis=0).T
    imp = sol.fm - inp.drawdown_imp
    return np.stack([dom, imp, sol.fs], axis=-1)


def _binding(inp: LPInputs, sol, x0: np.ndarray):
    """Best-effort binding constraint per industry (codes of :data:`BINDING`) and product."""
    R, P = inp.R, inp.P
    n = R * P
    region_of = np.repeat(np.arange(R), P)
    scale = np.maximum(inp.xbar, 1e-12 * max(float(np.abs(x0).sum()), 1e-300))
    code = np.full(n, BINDING["demand"], dtype=np.int8)
    prod = np.full(n, -1, dtype=np.int16)
    at_cap = sol.x >= inp.xbar - _TOL * scale
    exhausted = (inp.alpha < 1) & (sol.pool_used >= inp.pool * (1 - 1e-9) - 1e-12)
    cut_links = sol.link_at_cap & (inp.rho_eff < 1) & (inp.T0 > 0)
    route_short = cut_links.any(axis=0)  # (R, P) markets fed by a capped, cut link
    cut_supplier = (at_cap & (inp.xbar < x0 * (1 - _TOL))).reshape(R, P)
    input_short = ((inp.T0 > 0) & cut_supplier[:, None, :]).any(axis=0)
    for name, score in (
        ("input", inp.a * input_short.T[:, region_of]),
        ("route", inp.a * route_short.T[:, region_of]),
        ("import", inp.AM * exhausted[:, None]),
    ):
        hit = score.max(axis=0) > 0
        code = np.where(hit & ~at_cap, BINDING[name], code)
        prod = np.where(hit & ~at_cap, score.argmax(axis=0), prod)
    code[at_cap] = BINDING["capacity"]
    prod[at_cap] = -1
    return code, prod


def run_optimal(economy: xr.Dataset, shock: xr.Dataset, plan: xr.Dataset | None = None, *,
                essential_weight: str = "equal", method: str = "highs-ipm",
                stage_tol: float = 1e-9, time_limit: float | None = None,
                final_share_cap: bool = False, technology: str = "pooled",
                final_rule: str = "essential_first", **recipe) -> xr.Dataset:
    """Coordinated optimum of the average shock day (see the module docstring).

    ``essential_weight``: ``"equal"`` (each critical region-product's supply ratio counts
    equally) or ``"money"``; ``method``: HiGHS method of the first solve
    (``"highs-ipm"`` with crossover, falling back to dual simplex; later stages are
    warm-started simplex); ``stage_tol``: relative slack on the stage-1 optimum held in stage 2;
    ``time_limit``: seconds per LP solve; ``final_share_cap``: final users take at most their
    baseline share of each market's supply (no queue-jumping; off by default, so that the
    optimum bounds every ``rationing`` outcome); ``technology``: ``"pooled"`` (default, the
    buyers' technology of mode ``rationing``: a region's industries draw a product's domestic and
    imported supply as one pool, each up to its coefficient at capacity; the recipe's binding
    inputs, input stocks, spare capacity and re-sourcing) or ``"fixed"`` (every input at its
    domestic and imported coefficient); ``final_rule``: ``"essential_first"`` (default, as in
    ``rationing``: essential use is served first within delivered consumption) or
    ``"proportional"`` (an ``essential_share`` of delivered consumption is essential);
    ``recipe``: recipe parameters (:data:`stresstest.recipe.PARAMETERS`, e.g. ``recipe=
    "strict"``), the same as mode ``rationing``'s so that the optimum bounds it.
    Raises :class:`~stresstest.errors.SolverError` when HiGHS does not reach an optimum.
    """
    if method not in METHODS:
        raise InputError(f"optimal: option method={method!r} is not one of {', '.join(METHODS)}")
    if not (isinstance(stage_tol, (int, float)) and 0 <= stage_tol <= 1e-3):
        raise InputError(f"optimal: option stage_tol={stage_tol!r} must be a number in [0, 1e-3]")
    if time_limit is not None and not (isinstance(time_limit, (int, float)) and time_limit > 0):
        raise InputError(f"optimal: option time_limit={time_limit!r} must be a positive number")
    if not isinstance(final_share_cap, (bool, np.bool_)):
        raise InputError(f"optimal: option final_share_cap={final_share_cap!r} must be true or false")
    if technology not in TECHNOLOGIES:
        raise InputError(f"optimal: option technology={technology!r} is not one of "
                         f"{', '.join(TECHNOLOGIES)}")
    if final_rule not in FINAL_RULES:
        raise InputError(f"optimal: option final_rule={final_rule!r} is not one of "
                         f"{', '.join(FINAL_RULES)}")
    unknown = sorted(set(recipe) - set(RECIPE_PARAMETERS))
    if unknown:
        raise InputError(f"optimal: unknown option(s) {', '.join(unknown)}")
    inp, si, rec = optimal_inputs(economy, shock, plan, essential_weight, final_share_cap,
                                  technology, final_rule, recipe)
    sol = solve_optimal(inp, method=method, stage_tol=float(stage_tol), time_limit=time_limit)
    d = si.derived
    R, P = d.n_region, d.n_sector
    code, prod = _binding(inp, sol, d.x)
    regions = economy["region"].values
    sectors = economy["sector"].values
    holders = list(map(str, regions)) + [NATIONAL]
    rp = {"region": regions, "product": sectors}
    extra = {
        "capacity_value": xr.DataArray(sol.capacity_value.reshape(R, P), dims=("region", "sector"),
                                       coords={"region": regions, "sector": sectors}),
        "route_value": xr.DataArray(sol.route_value.sum(axis=2), dims=("region_from", "region_to"),
                                    coords={"region_from": regions, "region_to": regions}),
        "stock_release": xr.DataArray(np.vstack([sol.zr, sol.zn.sum(axis=0)[None]]),
                                      dims=("holder", "product"),
                                      coords={"holder": holders, "product": sectors}),
        "imports_used": xr.DataArray(sol.m, dims=("region", "product"), coords=rp),
        "import_substitution": xr.DataArray(sol.u, dims=("region", "product"), coords=rp),
    }
    units = economy.attrs.get("units", "")
    extra["capacity_value"].attrs.update(
        units="1", long_name="value added per unit of extra capacity (stage-2 dual)")
    extra["route_value"].attrs.update(
        units="1", long_name="objective gain per unit of extra link capacity, summed over products")
    for k in ("stock_release", "imports_used", "import_substitution"):
        extra[k].attrs["units"] = f"{units} per year"
    f = _net_final(inp, sol)
    diagnostics = {"solver_status": sol.status,
                   "stage1_objective": sol.stage1_objective,
                   "stage2_objective": sol.stage2_objective,
                   "friction_cost": sol.friction_cost,
                   **{k: v for k, v in sol.info.items()}}
    return make_result(
        economy, mode="optimal", shock=shock, plan=plan, x=sol.x, capacity=inp.xbar, f=f,
        exports=sol.exports, essential=sol.essential, binding=code, binding_product=prod,
        parameters={"essential_weight": essential_weight, "method": method,
                    "stage_tol": stage_tol, "time_limit": time_limit,
                    "final_share_cap": bool(final_share_cap), "technology": technology,
                    "final_rule": final_rule, **rec.params},
        diagnostics={**diagnostics, **recipe_attrs(rec)}, extra=extra, derived=d,
        kappa=si.kappa, imports_remaining=si.alpha_M, exports_remaining=si.epsilon,
    )
