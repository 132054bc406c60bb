"""Mode ``rationing``: the supply-constrained fixed point with interregional substitution.

The numerics and equations are in :mod:`stresstest.kernels.rationing`; this module reduces an
economy, a compiled shock and a compiled plan to kernel arrays (the average day of the shock
window, :func:`stresstest.modes._static.static_inputs`) and the kernel's answer to a Result.

Final use: desired domestic final use ``Ydest[i, r, u] · delta[r, p(i), u]`` plus foreign
exports; each supplier serves its final customers at its final delivery ratio (times the route
factor to their region); imported final use ``MY · delta`` is served at the import availability
``α̃_p``. Essentials follow ``final_rule`` (:func:`stresstest.result.essential_delivered`).

Stockpiles (``stock_rate`` from ``static_inputs``): first to the essential shortfall of the
holder's region (a national stock: to every region in proportion to its remaining essential
shortfall); what is left supplies intermediate users of the product in the holder's region
(national: in proportion to the regions' orders). The fixed point is solved once without stock
to size the essential claim and once with the remainder for intermediate users.

Result extras: ``stock_release`` (holder, product), ``substitution_cost`` (region, sector;
friction already subtracted from ``va``), ``demand`` (region, sector; total orders ``D``),
``input_ratio`` (region, sector; the bottleneck ``s``) and ``import_availability`` (product).
"""

from __future__ import annotations

import weakref

import numpy as np
import scipy.sparse as sp
import xarray as xr

from ..compiled import NATIONAL
from ..economy import derive, net_of_own_use
from ..errors import ConvergenceError, InputError
from ..kernels.rationing import NotConverged, Problem, build_structure, solve_rationing
from ..kernels.rationing_fused import NONE_3D, route_caps
from ..kernels.recipe import capacity_with_spare
from ..recipe import PARAMETERS as RECIPE_PARAMETERS
from ..recipe import (SUBSTITUTION_KEYS, Recipe, recipe_attrs, resolve_recipe,
                      scenario_parameters)
from ..kernels.rationing import substitution_cost as _substitution_cost
from ..result import BINDING, essential_delivered, make_result
from ._static import static_inputs

#: Every option of the mode and its default (recorded in the Result's ``parameters``).
DEFAULTS = {
    "rule": "mixed",                   # "mixed" (industries served first) | "proportional"
    "final_rule": "essential_first",   # "essential_first": essentials first among final users
                                       # and, with rule "mixed", served with industries;
                                       # "proportional": cut like all final use
    "tol": 1e-10,                      # max change of the delivery ratios between iterations
    "max_iter": 5000,
    "damping": 0.5,                    # step of the substitution updates, (0, 1]
    "orders_tol": 1e-8,                # max relative change of orders between outer rounds
    "max_outer": 500,                  # outer rounds (orders and substitution)
    "start_tol": 1e-3,                 # orders_tol (at least) of a run that only starts
                                       # another: a plan's run without its stockpiles (which
                                       # also allocates them); the runs reported converge to
                                       # orders_tol (0: the plain path)
    "batch_size": 32,                  # scenarios per block in run_rationing_batch (32: 1,000
                                       # random scenarios 13% faster than 16, 5-9% than 64)
    "warm_start": True,                # delivery ratios start from the last round's policy
    "warm_orders": True,               # order rounds start from a related run's equilibrium
                                       # (stockpiles: the run without them; a sampled draw's
                                       # plans: its no-plan run)
    "anderson_depth": 5,               # order rounds mixed over this many past rounds
                                       # (0: plain iteration, the reference path)
}
_RULES = ("proportional", "mixed")
_FINAL_RULES = ("proportional", "essential_first")

_STRUCTURES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def split_options(options: dict) -> tuple[dict, dict]:
    """``(solver options, recipe parameters)`` of a run's options; unknown keys are errors."""
    known = set(DEFAULTS) | set(RECIPE_PARAMETERS)
    unknown = sorted(set(options) - known)
    if unknown:
        raise InputError(f"rationing: unknown option(s) {', '.join(unknown)} "
                         f"(known: {', '.join(DEFAULTS)}, {', '.join(RECIPE_PARAMETERS)})")
    return ({k: v for k, v in options.items() if k in DEFAULTS},
            {k: v for k, v in options.items() if k in RECIPE_PARAMETERS})


def check_options(options: dict) -> dict:
    """Merge solver ``options`` into :data:`DEFAULTS`; raise :class:`InputError` on a bad
    one (recipe parameters: :func:`stresstest.recipe.check_parameters`)."""
    options, _ = split_options(options)
    opt = {**DEFAULTS, **options}
    if opt["rule"] not in _RULES:
        raise InputError(f"rationing: option rule={opt['rule']!r} must be one of {_RULES}")
    if opt["final_rule"] not in _FINAL_RULES:
        raise InputError(f"rationing: option final_rule={opt['final_rule']!r} must be one of "
                         f"{_FINAL_RULES}")
    for key in ("tol", "damping", "orders_tol", "start_tol"):
        try:
            opt[key] = float(opt[key])
        except (TypeError, ValueError):
            raise InputError(f"rationing: option {key}={opt[key]!r} is not a number") from None
        if not np.isfinite(opt[key]) or opt[key] < 0:
            raise InputError(f"rationing: option {key}={opt[key]!r} must be finite and >= 0")
    if opt["tol"] <= 0:
        raise InputError(f"rationing: option tol={opt['tol']!r} must be > 0")
    if not 0 < opt["damping"] <= 1:
        raise InputError(f"rationing: option damping={opt['damping']!r} must lie in (0, 1]")
    for key in ("warm_start", "warm_orders"):
        if not isinstance(opt[key], (bool, np.bool_)):
            raise InputError(f"rationing: option {key}={opt[key]!r} must be true or false")
        opt[key] = bool(opt[key])
    depth = opt["anderson_depth"]
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 0:
        raise InputError(f"rationing: option anderson_depth={depth!r} must be an integer >= 0")
    opt["anderson_depth"] = int(depth)
    for key in ("max_iter", "batch_size", "max_outer"):
        val = opt[key]
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 1:
            raise InputError(f"rationing: option {key}={val!r} must be an integer >= 1")
        opt[key] = int(val)
    return opt


def starting_orders_tol(opt: dict) -> float:
    """``orders_tol`` of a run that only starts another (checked options ``opt``): option
    ``start_tol``, or ``orders_tol`` where that is looser."""
    return max(opt["orders_tol"], opt["start_tol"])


def structure(economy: xr.Dataset, recipe: Recipe):
    """Cached pooled sourcing rows and binding pairs of an economy's table net of own use
    (:func:`stresstest.economy.net_of_own_use`) for a recipe's classes."""
    d = net_of_own_use(derive(economy))
    cache = _STRUCTURES.setdefault(d, {})
    key = recipe.key
    if key not in cache:
        cache[key] = build_structure(d.tau0, d.a_prod, d.AM, d.product_of, d.region_of,
                                     d.n_region, recipe.crit, recipe.half,
                                     own=d.own / (1.0 - d.own), pools=d.pools)
    return cache[key]


def prepare(economy: xr.Dataset) -> None:
    """Fill the caches every run on ``economy`` reads whatever its recipe: the table net of
    own use, its pooled sourcing rows, the factorisation of ``I − A`` and the baseline flows
    (a sampled band makes them once per trade table, before its workers fork, instead of once
    in each worker)."""
    d = derive(economy)
    d.lu
    dn = net_of_own_use(d)
    dn.pools
    _baseline_flows(dn)


def recipe_of(economy: xr.Dataset, shocks, options: dict, where: str = "rationing") -> Recipe:
    """The recipe of a run: defaults, then the scenario's ``[parameters]``, then ``options``
    (recipe keys only). Scenarios of one batch must agree on their parameters."""
    _, params = split_options(options)
    found = [scenario_parameters(sh) for sh in shocks]
    if any(f != found[0] for f in found[1:]):
        raise InputError("rationing: the scenarios of one batch set different recipe "
                         "[parameters]; run them separately")
    return resolve_recipe(economy, {**found[0], **params}, where=where)


# --------------------------------------------------------------------------- inputs


def _check_shock(economy, shock, where="shock"):
    if not isinstance(shock, xr.Dataset) or "kappa" not in shock or "alpha_M" not in shock:
        raise InputError(f"rationing: {where} must be a compiled shock Dataset with kappa and "
                         "alpha_M (see stresstest.compiled)")
    for name in ("kappa", "alpha_M"):
        vals = shock[name].values
        if not np.all(np.isfinite(vals)) or np.any(vals < 0):
            raise InputError(f"rationing: {where} variable {name} has negative or NaN values")


def _baseline_flows(d):
    """Baseline intermediate flows ``T0int[o, r, p]`` and total flows ``T0[i, r]`` (n, R)."""
    R, S = d.n_region, d.n_sector
    cache = _STRUCTURES.setdefault(d, {})
    if "T0" not in cache:
        Zr = (d.A.multiply(d.x[None, :])).tocsr() @ _region_indicator(d)
        Zr = Zr.toarray() if hasattr(Zr, "toarray") else np.asarray(Zr)  # (n, R)
        T0 = Zr + d.Ydest.sum(axis=2)
        cache["T0"] = (Zr.reshape(R, S, R).transpose(0, 2, 1), T0)
    return cache["T0"]


def _final_use_split(d):
    """Final use by origin and destination split into orders (positive entries) and inventory
    drawdowns (negative entries: supply from users' stocks, never rationed), (n, R, U) each,
    and summed over uses (n, R); imported final use by (region, product); baseline imports
    (P). Cached per economy."""
    cache = _STRUCTURES.setdefault(d, {})
    if "final_use" not in cache:
        Ypos, Yneg = np.maximum(d.Ydest, 0.0), np.minimum(d.Ydest, 0.0)
        cache["final_use"] = (Ypos, Yneg, Ypos.sum(axis=2), Yneg.sum(axis=2), d.MY.sum(axis=2).T,
                              d.AM @ d.x + d.MY.sum(axis=(1, 2)))
    return cache["final_use"]


def _region_indicator(d):
    import scipy.sparse as sp

    return sp.csr_matrix((np.ones(d.n), (np.arange(d.n), d.region_of)), shape=(d.n, d.n_region))


def _route_function(d, rho_eff, fdr, exports):
    """Callable ``(io, io_first, cols, prio) -> (c, D̂_int, D̂_fin, D̂_first, prio_c)`` for
    route caps (see the kernel, step 2) on the intermediate orders by destination ``io``
    (n, R, K) of scenarios ``cols``; ``c`` (n, R, K) is a view of the factors stored by
    destination region (R, n, K); ``D̂_first`` the capped first-tier orders ``io_first``
    and ``prio_c`` the capped essential final orders ``prio`` (n, R, K0) summed over
    destinations (each None when its argument is None)."""
    _, T0 = _baseline_flows(d)
    n = d.n
    o_of, p_of = d.region_of, d.product_of
    rho_io = rho_eff[o_of, :, p_of, :]  # (n, R, K); +inf: a scenario without route caps
    with np.errstate(invalid="ignore"):
        cap = np.where(np.isposinf(rho_io), np.inf, rho_io * T0[:, :, None])
    cap[np.arange(n), o_of, :] = np.inf

    everyone = np.arange(cap.shape[2])

    def route(io, io_first=None, cols=None, prio=None):
        c_rn, d_int, d_fin, first, prio_c = route_caps(
            io, NONE_3D if io_first is None else io_first, fdr, cap, exports,
            NONE_3D if prio is None else prio, everyone if cols is None else np.asarray(cols))
        return (c_rn.transpose(1, 0, 2), d_int, d_fin, None if io_first is None else first,
                None if prio is None else prio_c)

    return route


#: Recipe parameters that may differ between the scenarios of one batch
#: (``run_rationing_batch(variants=...)``): they change each scenario's capacity ceiling,
#: re-sourcing arrays and inventory cover, not the binding-input structure.
VARIANT_PARAMETERS = ("inventory_scale", "spare_scale", "spare_ramp_days",
                      "resourcing_headroom", "resourcing_new_links", "resourcing_imports",
                      "resourcing_friction", "resourcing_ramp_days")


def _batch_inputs(economy, statics, plan, recipe: Recipe, recipes=None):
    """Stack the average days of K shocks: xbar (n, K) (with the recipe's spare capacity),
    alpha (P, K), rho (R, R, P, K) or None, delta (R, P, U, K) or None, stock rate (R + 1, P),
    window (K) days, substitution arrays (P, K) or None, kappa (n, K) the scenarios' remaining
    capacity, exports (n, K) foreign demand for exports. ``statics``: a list of
    :class:`StaticInputs`, or one with a trailing scenario axis (a shock with a ``scenario``
    dim: every scenario on one window). ``recipes``: one recipe per scenario of a list (its
    spare capacity, re-sourcing and inventory scale; ``recipe``'s inventory at scale 1 is the
    kernel's, each scenario's cover scaled through its window: ``n s / T = n / (T / s)``)."""
    R, P = economy.sizes["region"], economy.sizes["sector"]
    U = economy.sizes["use"]
    if not isinstance(statics, list):  # one StaticInputs over K scenarios
        si = statics
        K = si.kappa.shape[1]
        window = np.full(K, float(si.window))
        xbar = capacity_with_spare(si.derived.x, si.kappa, recipe.spare_average(si.window),
                                   si.standby[:, None])
        rho = None
        if si.rho is not None:
            rho = si.rho + si.corridor[:, :, None, None] if np.any(si.corridor != 0) else si.rho
        sub = recipe.substitution(si.window, plan)
        subst = None if sub is None else {k: np.repeat(v[:, None], K, axis=1)
                                          for k, v in sub.items()}
        return (xbar, si.alpha_M, rho, si.delta, si.stock_rate, window, subst, si.kappa,
                si.exports)
    recipes = recipes or [recipe] * len(statics)
    window = np.array([s.window for s in statics], dtype=float)
    xbar = np.stack([capacity_with_spare(s.derived.x, s.kappa, r.spare_average(s.window),
                                         s.standby) for s, r in zip(statics, recipes)], axis=1)
    alpha = np.stack([s.alpha_M for s in statics], axis=1)
    rho = None
    if any(s.rho is not None for s in statics):
        # a scenario without route events has no route caps, as when it runs alone (not caps
        # at the baseline flows, which rho = 1 means)
        rho = np.stack([s.rho if s.rho is not None else np.full((R, R, P), np.inf)
                        for s in statics], axis=3)
        corridor = statics[0].corridor
        if np.any(corridor != 0):
            rho = rho + corridor[:, :, None, None]
    delta = None
    if any(s.delta is not None for s in statics):
        delta = np.stack([s.delta if s.delta is not None else np.ones((R, P, U))
                          for s in statics], axis=3)
    subst = _joined_substitution([r.substitution(w, plan) for w, r in zip(window, recipes)],
                                 P, np.stack)
    kappa = np.stack([s.kappa for s in statics], axis=1)
    exports = np.stack([s.exports for s in statics], axis=1)
    scale = np.array([r.params["inventory_scale"] for r in recipes], float) / (
        recipe.params["inventory_scale"] or 1.0)
    with np.errstate(divide="ignore"):
        window = np.where(scale > 0, window / np.where(scale > 0, scale, 1.0), np.inf)
    return xbar, alpha, rho, delta, statics[0].stock_rate, window, subst, kappa, exports


# --------------------------------------------------------------------------- solve


def _solve(economy, recipe, xbar, alpha, rho, delta, stock_rate, window, subst, kappa, exports,
           opt, flag_not_converged=False, start=None):
    """Kernel run for K scenarios; returns a dict of outputs (.., K). ``stock_rate``: the
    plan's stock rate (R + 1, P), or one per scenario (R + 1, P, K) for plans side by side
    (:func:`batch_plans`; either every scenario releases stock or none does). A scenario
    without equilibrium raises :class:`ConvergenceError` when it runs alone, unless
    ``flag_not_converged`` (batches: flagged in ``converged``, whatever the batch size).
    ``start``: order rounds start from this final ``state`` of a run on the same structure
    (option ``warm_orders``); the run with a plan's stockpiles starts from the run
    without them."""
    d = derive(economy)
    dn = net_of_own_use(d)  # suppliers serve their own use first
    keep = (1.0 - dn.own)[:, None]
    st = structure(economy, recipe)
    R, P, n = d.n_region, d.n_sector, d.n
    K = xbar.shape[1]
    U = d.Ydest.shape[2]
    Ypos, Yneg, Ypos_r, Yneg_r, MY_r, imports0 = _final_use_split(d)
    if delta is None:
        # the same for every scenario: read-only views, not K copies
        fdr = np.broadcast_to(Ypos_r[:, :, None], (n, R, K))  # (n, R, K)
        fdr_neg = np.broadcast_to(Yneg_r[:, :, None], (n, R, K))
        MYd_r = np.repeat(MY_r[:, :, None], K, axis=2)  # (R, P, K)
    else:
        fdr = np.einsum("oprU,rpUk->oprk", Ypos.reshape(R, P, R, U), delta).reshape(n, R, K)
        fdr_neg = np.einsum("oprU,rpUk->oprk", Yneg.reshape(R, P, R, U), delta).reshape(
            n, R, K)
        MYd_r = np.einsum("prU,rpUk->rpk", d.MY, delta)
    fd = fdr.sum(axis=1) + exports  # gross final orders
    drawdown = -fdr_neg.sum(axis=1) if np.any(fdr_neg < 0) else None
    route = None if rho is None else _route_function(dn, rho, fdr, exports)
    if subst is not None:
        subst = {**subst, "T0int": _baseline_flows(dn)[0]}
    releases = _releases_stock(stock_rate)
    prio = None
    if opt["rule"] == "mixed" and opt["final_rule"] == "essential_first":
        e = economy["essential_share"].values.astype(float)[d.product_of]
        prio = _consumption_dest(economy, d, delta, K) * e[:, None, None]
    pb = Problem(st=st, A=dn.A, AM=dn.AM, a_prod=dn.a_prod, solve=dn.solve, xbar=xbar * keep,
                 fd=fd,
                 drawdown=drawdown,
                 imports0=imports0,
                 MYd=MYd_r.sum(axis=0), alpha=alpha, route=route, subst=subst,
                 prio_dest=prio,
                 inventory=recipe.inventory if np.any(recipe.inventory > 0) else None,
                 window=window, first=(recipe.crit | recipe.half) if recipe.critical_first
                 else None, need=releases)
    kw = dict(rule=opt["rule"], tol=opt["tol"], max_iter=opt["max_iter"],
              damping=opt["damping"], max_outer=opt["max_outer"],
              warm_start=opt["warm_start"], anderson_depth=opt["anderson_depth"],
              flag_not_converged=flag_not_converged)

    def run(start, orders=None, orders_tol=opt["orders_tol"]):
        try:
            out = solve_rationing(pb, **kw, orders_tol=orders_tol, orders=orders,
                                  start=start if opt["warm_orders"] else None)
            out["exports_demand"] = exports
            return out
        except NotConverged as exc:
            raise ConvergenceError(
                f"rationing: {exc.what} did not converge after {exc.iterations} iterations "
                f"(residual {exc.residual:.3g}); "
                + ("the order rounds found no equilibrium (the buyers' best response jumps "
                   "between binding inputs): try rule='proportional' or a larger orders_tol"
                   if exc.what == "orders" else
                   f"raise max_iter or tol (tol={opt['tol']:g}), or lower damping")) from None

    # the run without a plan's stockpiles only allocates them (its shortfalls and orders by
    # region) and starts the run with them, which converges to orders_tol: it stops at
    # start_tol (the shipped library under every shipped plan: the same answers as the plain
    # path to 1e-7 and the stock used to 1e-6; 200 draws of coastal-blockade: 7% fewer
    # batch-rounds than at 1e-4, which was 21% fewer scenario-rounds than the plain path)
    out = run(start, orders_tol=starting_orders_tol(opt) if releases else opt["orders_tol"])
    final = _final_side(economy, d, out, fdr, fdr_neg, MYd_r, delta, opt)
    stock_release = np.zeros((R + 1, P, K))
    if releases:
        stock = (stock_rate if stock_rate.ndim == 3
                 else np.repeat(stock_rate[:, :, None], K, axis=2))
        to_ess, left = _stock_to_essentials(stock, final["ess_short"])
        need = out["need"].transpose(1, 0, 2)  # (R, P, K) inputs ordered by each region
        tot = need.sum(axis=0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            nat_share = np.where(tot > 0, need / np.where(tot > 0, tot, 1.0), 0.0)
        pb.stock_int = left[:R] + left[R][None] * nat_share
        out = run(list(out["state"].T), orders=out["D"])  # stocks do not change the orders D
        final = _final_side(economy, d, out, fdr, fdr_neg, MYd_r, delta, opt,
                                stock_to_region=to_ess)
        used_int = out["stock_used"].transpose(1, 0, 2)
        ess_used = final["f_stock"]  # (R, P, K) essential part actually used
        reg_claim = np.minimum(stock[:R], final["ess_short"])
        reg_used = np.minimum(ess_used, reg_claim)
        nat_used = (ess_used - reg_used).sum(axis=0)
        # intermediate use: regional stock first, then national
        reg_left = stock[:R] - reg_used
        int_reg = np.minimum(used_int, reg_left)
        stock_release[:R] = reg_used + int_reg
        stock_release[R] = nat_used + (used_int - int_reg).sum(axis=0)
    out.update(final)
    out["stock_release"] = stock_release
    out["fd"] = fd
    out["xbar"] = xbar
    out["kappa"], out["alpha_shock"], out["epsilon"] = kappa, alpha, np.divide(
        exports, d.exports[:, None], out=np.ones_like(exports), where=d.exports[:, None] > 0)
    out["cost"] = _substitution_cost(pb, st, out)
    for key in ("x", "plan", "D", "Dhat"):  # net of own use -> gross output
        out[key] = out[key] / keep
    return out


def _stock_to_essentials(stock, short):
    """Allocate stock (R + 1, P, K) to essential shortfalls (R, P, K): own region first, then
    national stock pro rata. Returns (to_region (R, P, K), left (R + 1, P, K))."""
    R = short.shape[0]
    reg = np.minimum(stock[:R], short)
    rem = short - reg
    tot = rem.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(tot > 0, np.minimum(1.0, stock[R] / np.where(tot > 0, tot, 1.0)), 0.0)
    nat = rem * ratio[None]
    left = stock.copy()
    left[:R] -= reg
    left[R] -= nat.sum(axis=0)
    return reg + nat, np.maximum(left, 0.0)


def _consumption_dest(economy, d, delta, K):
    """Desired households' and government's use of each industry's output by destination
    region (n, R, K)."""
    R, P = d.n_region, d.n_sector
    cons = economy["consumption"].values.astype(bool)
    if delta is None:  # the same for every scenario: a read-only view
        return np.broadcast_to(d.Ydest[:, :, cons].sum(axis=2)[:, :, None], (d.n, R, K))
    Y4 = d.Ydest.reshape(R, P, R, -1)
    return np.einsum("oprU,rpUk->oprk", Y4[..., cons], delta[:, :, cons]).reshape(d.n, R, K)


def _by_destination(values, R, P, K):
    """Sum (n, R, K) over origins into (R_dest, P, K)."""
    return values.reshape(R, P, R, K).sum(axis=0).transpose(1, 0, 2)


def _final_side(economy, d, out, fdr, fdr_neg, MYd_r, delta, opt, stock_to_region=None):
    """Final deliveries by destination (R, P, K), essentials and their shortfall. When
    essentials are served with industries (``r_prio``), a supplier delivers the essential part
    of consumption at ``r_prio`` and the rest of final use at ``r_final``; ``fdr`` are the
    final orders (positive entries), ``fdr_neg`` the inventory drawdowns, always in full (they
    are part of the baseline final use ``f_baseline``)."""
    R, P = d.n_region, d.n_sector
    n, _, K = fdr.shape
    cons = economy["consumption"].values.astype(bool)
    route = 1.0 if out["c"] is None else out["c"]
    served = out["r_final"][:, None, :] * route  # (n, R, K)
    yc = _consumption_dest(economy, d, delta, K)
    if out.get("r_prio") is not None:
        e = economy["essential_share"].values.astype(float)[d.product_of][:, None, None]
        ess_orders = e * yc
        served_prio = out["r_prio"][:, None, :] * route
        dom = _by_destination(served_prio * ess_orders + served * (fdr - ess_orders), R, P, K)
        dom_cons = _by_destination(served_prio * ess_orders + served * (yc - ess_orders), R, P,
                                   K)
    else:
        dom = _by_destination(served * fdr, R, P, K)
        dom_cons = _by_destination(served * yc, R, P, K)
    dom = dom + _by_destination(fdr_neg, R, P, K)
    imp = MYd_r * out["alpha_t"][None]  # (R, P, K)
    dom_cons_des = _by_destination(yc, R, P, K)
    if delta is None:
        imp_cons_des = np.repeat(d.MY[:, :, cons].sum(axis=2).T[:, :, None], K, axis=2)
    else:
        imp_cons_des = np.einsum("prU,rpUk->rpk", d.MY[:, :, cons], delta[:, :, cons])
    C_des = dom_cons_des + imp_cons_des
    C_del = dom_cons + imp_cons_des * out["alpha_t"][None]
    e = economy["essential_share"].values.astype(float)[None, :, None]
    no_stock = np.zeros((R, P, K))
    ess0 = essential_delivered(e, C_des, C_del, no_stock, opt["final_rule"])
    short = np.maximum(e * C_des - ess0, 0.0)
    to_region = no_stock if stock_to_region is None else np.minimum(stock_to_region, short)
    essential = essential_delivered(e, C_des, C_del, to_region, opt["final_rule"])
    return {"f_dom": dom, "f_imp": imp, "f_stock": to_region, "essential": essential,
            "exports_del": out["exports_demand"] * out["r_final"], "ess_short": short}


def _binding(d, st, out, tolb=1e-9):
    """Binding constraint code and product per industry (n, K)."""
    x, xbar, plan, Dhat = out["x"], out["xbar"], out["plan"], out["Dhat"]
    code = np.zeros(x.shape, dtype=np.int8)
    prod = np.full(x.shape, -1, dtype=np.int16)
    lost = x < d.x[:, None] * (1 - tolb)
    code[lost] = BINDING["demand"]
    k = out["binding_pair"]
    if not st.pair_p.size:
        at_cap = lost & (x >= xbar * (1 - tolb))
        code[at_cap] = BINDING["capacity"]
        return code, prod
    input_lim = lost & (out["s"] < 1 - tolb) & (k >= 0) & (out["s"] * plan < Dhat * (1 - tolb))
    kk = np.where(k >= 0, k, 0)
    p = st.pair_p[kk]
    code[input_lim] = BINDING["input"]
    prod[input_lim] = p[input_lim]
    K = x.shape[1]
    # each (industry, scenario)'s binding product, its buyer's region and the scenario: the
    # cell of a (P, R, K) array it reads
    cell = (p, np.broadcast_to(d.region_of[:, None], p.shape), np.arange(K)[None, :])
    imp_lim = input_lim & (st.pair_m[kk] > 0) & (out["alpha_reg"][cell] < 1 - tolb)
    code[imp_lim] = BINDING["import"]
    if out["c"] is not None:
        origins_of_p = sp.csr_matrix((np.ones(d.n), (d.product_of, np.arange(d.n))),
                                     shape=(d.n_sector, d.n))  # (P, n)
        capped = (origins_of_p @ (out["c"] < 1 - tolb).reshape(d.n, -1).astype(float)).reshape(
            d.n_sector, -1, K) > 0  # (P, R, K): a route cap on some origin of the product
        route_lim = input_lim & ~imp_lim & capped[cell]
        code[route_lim] = BINDING["route"]
    at_cap = lost & (x >= xbar * (1 - tolb))
    code[at_cap] = BINDING["capacity"]
    prod[at_cap] = -1
    return code, prod


def _assemble(economy, shock, plan, out, opt, recipe, scenario_names=None):
    d = derive(economy)
    st = structure(economy, recipe)
    R, P = d.n_region, d.n_sector
    code, prod = _binding(d, st, out)
    single = scenario_names is None
    sq = (lambda a: a[..., 0]) if single else (lambda a: a)
    tail = () if single else ("scenario",)
    K = out["x"].shape[1]
    shape = (R, P) if single else (R, P, K)
    f = np.stack([out["f_dom"], out["f_imp"], out["f_stock"]], axis=2)  # (R, P, 3, K)
    extra = {
        "stock_release": (("holder", "product") + tail, sq(out["stock_release"])),
        "substitution_cost": (("region", "sector") + tail, sq(out["cost"]).reshape(shape)),
        "demand": (("region", "sector") + tail, sq(out["D"]).reshape(shape)),
        "input_ratio": (("region", "sector") + tail, sq(out["s"]).reshape(shape)),
        "import_availability": (("product",) + tail, sq(out["alpha_t"])),
    }
    if not single:
        extra["converged"] = (tail, out["converged"])
        extra["rounds"] = (tail, out["rounds"])
    res = make_result(
        economy, mode="rationing", shock=shock, plan=plan, x=sq(out["x"]),
        capacity=sq(out["xbar"]), f=sq(f), exports=sq(out["exports_del"]),
        essential=sq(out["essential"]), binding=sq(code), binding_product=sq(prod),
        time=None if single else scenario_names, axis="scenario",
        parameters={**opt, **recipe.params},
        kappa=sq(out["kappa"]), imports_remaining=sq(out["alpha_shock"]),
        exports_remaining=sq(out["epsilon"]),
        diagnostics={"iterations": int(out["iterations"]),
                     "substitution_rounds": int(out["outer"]),
                     "residual": float(out["residual"]), "converged": 1,
                     "solver_status": "converged"},
        extra=extra, derived=d,
        # friction on substituted inputs comes off value added
        va_deduction=sq(out["cost"]) if np.any(out["cost"] != 0) else None,
        more_coords={"holder": [str(r) for r in economy["region"].values] + [NATIONAL]})
    res.attrs.update(recipe_attrs(recipe))
    units = economy.attrs.get("units", "")
    for name in ("stock_release", "substitution_cost", "demand"):
        res.variables[name].attrs["units"] = f"{units} per year"
    return res


# --------------------------------------------------------------------------- public


def run_rationing(economy: xr.Dataset, shock: xr.Dataset, plan: xr.Dataset | None = None,
                  **options) -> xr.Dataset:
    """Supply-constrained fixed point for one scenario; returns a Result (see module doc).

    Options and defaults: :data:`DEFAULTS`. Raises :class:`InputError` on a bad option or
    shock and :class:`ConvergenceError` when an iteration misses its tolerance.
    """
    opt = check_options(options)
    _check_shock(economy, shock)
    recipe = recipe_of(economy, [shock], options)
    si = static_inputs(economy, shock, plan)
    out = _solve(economy, recipe, *_batch_inputs(economy, [si], plan, recipe), opt)
    return _assemble(economy, shock, plan, out, opt, recipe)


_BATCH_KEYS = ("x", "s", "D", "plan", "Dhat", "alpha_t", "alpha_reg", "xbar", "f_dom", "f_imp",
               "f_stock", "essential", "exports_del", "stock_release", "cost", "binding_pair",
               "c", "converged", "rounds", "kappa", "alpha_shock", "epsilon")


def _variant_recipes(economy, shocks, options, variants):
    """``(structural recipe, [recipe per scenario])`` for per-scenario recipe ``variants``
    (dicts of :data:`VARIANT_PARAMETERS`): the structural recipe carries the inventory at
    scale 1 (each scenario's scale goes through its window)."""
    if not isinstance(variants, (list, tuple)) or len(variants) != len(shocks):
        raise InputError(f"rationing: variants must be a list of one dict per shock "
                         f"({len(shocks)}), got {type(variants).__name__}")
    for k, v in enumerate(variants):
        bad = sorted(set(v) - set(VARIANT_PARAMETERS)) if isinstance(v, dict) else [repr(v)]
        if bad:
            raise InputError(f"rationing: variants[{k}]: {', '.join(bad)} cannot vary within "
                             f"a batch (allowed: {', '.join(VARIANT_PARAMETERS)})")
    structural = recipe_of(economy, shocks, {**options, "inventory_scale": 1.0})
    recipes = [recipe_of(economy, shocks[:1], {**options, **v}, f"rationing variants[{k}]")
               for k, v in enumerate(variants)]
    return structural, recipes


def run_rationing_batch(economy: xr.Dataset, shocks, plan: xr.Dataset | None = None, *,
                        variants=None, **options) -> xr.Dataset:
    """Many scenarios with one plan: a Result with a ``scenario`` dim.

    ``shocks``: a list of compiled shocks, or one compiled shock with a ``scenario`` dim. Each
    is reduced to its window's average day; scenarios are solved ``batch_size`` at a time as
    right-hand-side blocks of the economy's single factorisation of ``I - A``.
    ``variants``: with a list of shocks, one dict per shock of recipe parameters that differ
    between them (:data:`VARIANT_PARAMETERS`, over ``options``): the same answers as
    separate runs with those parameters (a test checks it).
    """
    return batch_with_states(economy, shocks, plan, variants=variants, **options)[0]


def batch_with_states(economy: xr.Dataset, shocks, plan: xr.Dataset | None = None, *,
                      variants=None, start=None, **options) -> tuple[xr.Dataset, list]:
    """:func:`run_rationing_batch` and the final order-round state of each scenario (a list
    of vectors); ``start``: one such state per scenario (or None) to start its order rounds
    from, taken from a run on the same economy and recipe (option ``warm_orders``)."""
    opt = check_options(options)
    stacked = isinstance(shocks, xr.Dataset) and "scenario" in shocks.dims
    if variants is not None and stacked:
        raise InputError("rationing: variants need a list of shocks, not one stacked shock")
    if stacked:  # one compiled shock over scenarios (one window): reduced in one pass
        names = (shocks["scenario"].values if "scenario" in shocks.coords
                 else np.arange(shocks.sizes["scenario"]))
        K = shocks.sizes["scenario"]
        if not K:
            raise InputError("rationing: run_rationing_batch needs at least one shock")
        _check_shock(economy, shocks, where="shocks")
        recipe = recipe_of(economy, [shocks], options)
        first = shocks.isel(scenario=0)
        batches = [(static_inputs(economy, shocks.isel(scenario=slice(lo, lo + opt["batch_size"])),
                                  plan), None) for lo in range(0, K, opt["batch_size"])]
    else:
        shocks, names, recipe, recipes = _listed_shocks(economy, shocks, variants, options)
        first = shocks[0]
        statics = [static_inputs(economy, sh, plan) for sh in shocks]
        size = opt["batch_size"]
        batches = [(statics[lo:lo + size], None if recipes is None else recipes[lo:lo + size])
                   for lo in range(0, len(statics), size)]
    n_shocks = sum(_batch_size(part) for part, _ in batches)
    _check_start(start, n_shocks)
    outs, lo = [], 0
    for part, rec in batches:
        k = _batch_size(part)
        outs.append(_solve(economy, recipe, *_batch_inputs(economy, part, plan, recipe, rec),
                           opt, flag_not_converged=True,
                           start=None if start is None else list(start[lo:lo + k])))
        lo += k
    res = _batch_result(economy, first, plan, _merge_blocks(outs), opt, recipe, names)
    states = [col for o in outs for col in o["state"].T]
    return res, states


def batch_plans(economy: xr.Dataset, shocks, plans, *, variants=None, start=None,
                **options) -> list[xr.Dataset]:
    """:func:`run_rationing_batch` of one list of shocks under each of ``plans``, solved as
    one batch over (plan, shock), so that the plans share the solver's blocks and their
    per-block work; one Result per plan, in the order given, equal to the plan's own batch to
    the solver's tolerance (a test compares them). ``plans``: compiled plans on ``economy``
    (or None) that build no new industry (:func:`stresstest.relocate.relocated` is
    ``economy``); those that release stock run as one batch and those that do not as
    another, so that every scenario of a batch takes the same stages. ``start``: one order
    state per shock (:func:`batch_with_states`), used for every plan."""
    from ..relocate import relocated

    opt = check_options(options)
    plans = list(plans)
    if not plans:
        raise InputError("rationing: batch_plans needs at least one plan")
    for p in plans:
        if p is not None and relocated(economy, p) is not economy:
            raise InputError(f"rationing: batch_plans: plan {p.attrs.get('plan', '')!r} builds "
                             "new industries (run it on its relocated economy)")
    shocks, names, recipe, recipes = _listed_shocks(economy, shocks, variants, options)
    _check_start(start, len(shocks))
    per_plan = [_batch_inputs(economy, [static_inputs(economy, sh, p) for sh in shocks], p,
                              recipe, recipes) for p in plans]
    groups: dict = {}
    for k, inputs in enumerate(per_plan):
        groups.setdefault(_releases_stock(inputs[4]), []).append(k)
    out = [None] * len(plans)
    for idx in groups.values():
        results = _plans_side_by_side(economy, shocks, [plans[k] for k in idx],
                                      [per_plan[k] for k in idx], names, recipe, start, opt)
        for k, res in zip(idx, results):
            out[k] = res
    return out


def _plans_side_by_side(economy, shocks, plans, per_plan, names, recipe, start, opt):
    """:func:`batch_plans` for plans (and their :func:`_batch_inputs` ``per_plan``) that all
    release stock or none does."""
    K = len(shocks)
    stacked = _stack_plan_inputs(per_plan, K)
    total = K * len(plans)
    blocks = -(-total // opt["batch_size"])
    bounds = np.linspace(0, total, blocks + 1).round().astype(int)  # even blocks
    states = None if start is None else list(start) * len(plans)
    outs = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        part = [None if a is None else _columns(a, lo, hi) for a in stacked]
        outs.append(_solve(economy, recipe, *part, opt, flag_not_converged=True,
                           start=None if states is None else states[lo:hi]))
    out = _merge_blocks(outs)
    return [_batch_result(economy, shocks[0], p,
                          {key: v if key in _BLOCK_MAXIMA or v is None
                           else v[..., k * K:(k + 1) * K] for key, v in out.items()},
                          opt, recipe, names)
            for k, p in enumerate(plans)]


def _releases_stock(stock_rate) -> bool:
    """Whether a run takes the stockpile stage (:func:`_solve`): some stock rate is not 0."""
    return bool(np.any(stock_rate != 0))


def _listed_shocks(economy, shocks, variants, options):
    """``(shocks, names, recipe, recipes or None)`` of a list of compiled shocks (checked)."""
    shocks = list(shocks)
    names = np.array([str(s.attrs.get("scenario", k)) for k, s in enumerate(shocks)])
    if not shocks:
        raise InputError("rationing: run_rationing_batch needs at least one shock")
    for k, sh in enumerate(shocks):
        _check_shock(economy, sh, where=f"shock {k}")
    if variants is None:
        return shocks, names, recipe_of(economy, shocks, options), None
    return (shocks, names, *_variant_recipes(economy, shocks, options, variants))


def _check_start(start, n_shocks):
    if start is not None and len(start) != n_shocks:
        raise InputError(f"rationing: start needs one state per shock ({n_shocks}), "
                         f"got {len(start)}")


def _stack_plan_inputs(per_plan, K):
    """The :func:`_batch_inputs` of several plans over the same K shocks side by side (the
    scenario axis last, plan-major); the stock rate, one per plan, becomes (R + 1, P, K
    plans); substitution arrays absent for some plans are zero for them, as within one
    plan's batch."""
    xbar, alpha, rho, delta, stock, window, subst, kappa, exports = zip(*per_plan)

    def cat(arrays):
        return None if arrays[0] is None else np.concatenate(arrays, axis=-1)

    stock = np.concatenate([np.repeat(s[:, :, None], K, axis=2) for s in stock], axis=2)
    sub = _joined_substitution(subst, (alpha[0].shape[0], K), np.concatenate)
    return (cat(xbar), cat(alpha), cat(rho), cat(delta), stock, cat(window), sub, cat(kappa),
            cat(exports))


def _joined_substitution(subs, shape, join):
    """The substitution arrays of several runs (dicts of :data:`SUBSTITUTION_KEYS`, None for
    a run without substitution, then zeros of ``shape``) joined along axis 1 by ``join``
    (``np.stack`` for one array per run, ``np.concatenate`` for blocks of runs); None when
    no run has any."""
    if all(sub is None for sub in subs):
        return None
    zero = {k: np.zeros(shape) for k in SUBSTITUTION_KEYS}
    return {k: join([(sub if sub is not None else zero)[k] for sub in subs], axis=1)
            for k in SUBSTITUTION_KEYS}


def _columns(a, lo, hi):
    """Scenarios ``lo:hi`` of a stacked kernel input (last axis; each array of a dict)."""
    if isinstance(a, dict):
        return {k: v[..., lo:hi] for k, v in a.items()}
    return a[..., lo:hi]


#: Kernel outputs that are one number per block (the batch reports their maximum).
_BLOCK_MAXIMA = ("iterations", "outer", "residual")


def _merge_blocks(outs):
    merged = {key: (None if outs[0][key] is None
                    else np.concatenate([o[key] for o in outs], axis=-1))
              for key in _BATCH_KEYS}
    merged.update({key: max(o[key] for o in outs) for key in _BLOCK_MAXIMA})
    return merged


def _batch_result(economy, first, plan, merged, opt, recipe, names):
    """The batch Result of merged kernel outputs; the numbers of scenarios that found no
    equilibrium are NaN (flagged in ``converged``)."""
    res = _assemble(economy, first, plan, merged, opt, recipe, scenario_names=names)
    ok = res["converged"]
    if not bool(ok.all()):
        varying = [v for v in res.data_vars if "scenario" in res[v].dims and v != "binding"
                   and res[v].dtype.kind == "f"]
        res[varying] = res[varying].where(ok)
    res.variables["converged"].attrs["long_name"] = (
        "order rounds reached orders_tol (results of other scenarios are NaN)")
    res.variables["rounds"].attrs["long_name"] = "order rounds of the scenario"
    res.attrs["scenario"] = "batch"
    res.attrs["not_converged"] = int((~ok.values).sum())
    return res


def _batch_size(part) -> int:
    """Scenarios in one block of :func:`batch_with_states` (a list of StaticInputs or one
    with a trailing scenario axis)."""
    return len(part) if isinstance(part, list) else part.kappa.shape[1]
