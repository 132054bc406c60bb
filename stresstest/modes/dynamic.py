"""Mode ``dynamic``: day-by-day propagation with inventories, orders, overproduction, recovery,
standby ramp-up, re-sourcing and stockpile drawdown (ARIO-style, on the production recipe of
:mod:`stresstest.recipe`). Equations: ``docs/dynamic.md``; numerics:
:mod:`stresstest.kernels.dynamic`.

``run_dynamic(economy, shock, plan=None, horizon=None, **options)`` returns a Result with a
``time`` dim (days) plus ``inventory_days`` (region, product, time), ``stock`` (holder,
product, time), ``overproduction`` (region, sector, time) and, when the plan has standby,
``standby_active`` (region, sector, time).
"""

from __future__ import annotations

import json
import numbers
import time as _time

import numpy as np
import xarray as xr

from ..compiled import NATIONAL, check_labels, no_plan, plan_is_empty, standby_availability
from ..economy import derive, stack
from ..errors import InputError
from ..kernels import dynamic as kd
from ..recipe import PARAMETERS as RECIPE_PARAMETERS
from ..recipe import Recipe, recipe_attrs, resolve_recipe, scenario_parameters
from ..result import make_result
from ..units import DAYS_PER_YEAR


#: The dynamic behaviour options and their defaults; every recipe parameter
#: (:data:`stresstest.recipe.PARAMETERS`) is an option too. Override per call
#: (``run_dynamic(..., restock_tau=5)``) or in a scenario's ``[parameters]`` table (call
#: options win). ``overprod_max`` / ``overprod_tau`` ``None``: from the recipe (``1 + spare``
#: per industry, ``spare_ramp_days / 2``).
DEFAULTS = {
    "restock_tau": 10.0,
    "final_rule": "proportional",
    "stock_refill_days": 365.0,
    "stock_trigger": 0.5,
    "inventory_psi": 0.0,
    "overprod_max": None,
    "overprod_tau": None,
    "overprod_rule": "ramp",
    "overprod_when_hit": False,
    "min_cover_days": 1.0,
}


def _positive(name, value, allow_zero=False, minimum=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise InputError(f"dynamic option {name!r} must be a number, got {value!r}")
    lo = 0.0 if minimum is None else minimum
    if value < lo or (value == lo and not allow_zero and minimum is None):
        op = ">=" if (allow_zero or minimum is not None) else ">"
        raise InputError(f"dynamic option {name!r} must be {op} {lo:g}, got {value!r}")
    return float(value)


def resolve_parameters(economy: xr.Dataset, shock: xr.Dataset | None = None,
                       options: dict | None = None) -> tuple[dict, Recipe]:
    """``(dynamic options, recipe)`` of a run: :data:`DEFAULTS` and the recipe's defaults,
    then the scenario's ``parameters`` (shock attrs, JSON; keys of neither kind belong to
    other modes and are left alone), then call ``options`` (unknown ones are errors);
    validated. The recipe is :func:`stresstest.recipe.resolve_recipe` of the recipe keys."""
    from_scenario = {}
    if shock is not None and shock.attrs.get("parameters"):
        raw = shock.attrs["parameters"]
        try:
            got = json.loads(raw) if isinstance(raw, str) else dict(raw)
        except (ValueError, TypeError):
            raise InputError(f"scenario {shock.attrs.get('scenario', '')!r}: [parameters] is "
                             f"not a JSON table: {raw!r}") from None
        if not isinstance(got, dict):
            raise InputError(f"scenario {shock.attrs.get('scenario', '')!r}: [parameters] is "
                             f"not a table: {raw!r}")
        from_scenario = {k: v for k, v in got.items() if k in DEFAULTS}
    options = dict(options or {})
    unknown = sorted(set(options) - set(DEFAULTS) - set(RECIPE_PARAMETERS))
    if unknown:
        raise InputError(f"unknown option {unknown[0]!r} for mode 'dynamic' (known: horizon, "
                         f"record_flows, {', '.join(DEFAULTS)}, "
                         f"{', '.join(RECIPE_PARAMETERS)})")
    params = {**DEFAULTS, **from_scenario,
              **{k: v for k, v in options.items() if k in DEFAULTS}}
    recipe = resolve_recipe(
        economy, {**scenario_parameters(shock),
                  **{k: v for k, v in options.items() if k in RECIPE_PARAMETERS}},
        where="dynamic")
    for k in ("restock_tau", "stock_refill_days"):
        params[k] = _positive(k, params[k])
    params["min_cover_days"] = _positive("min_cover_days", params["min_cover_days"],
                                         allow_zero=True)
    if params["overprod_tau"] is not None:
        params["overprod_tau"] = _positive("overprod_tau", params["overprod_tau"])
    if params["overprod_max"] is not None:
        params["overprod_max"] = _positive("overprod_max", params["overprod_max"],
                                           minimum=1.0)
    for k in ("stock_trigger", "inventory_psi"):
        params[k] = _positive(k, params[k], allow_zero=True)
        if params[k] > 1.0:
            raise InputError(f"dynamic option {k!r} must be <= 1, got {params[k]!r}")
    if params["final_rule"] not in kd.FINAL_RULES:
        raise InputError(f"dynamic option 'final_rule' must be one of "
                         f"{', '.join(kd.FINAL_RULES)}, got {params['final_rule']!r}")
    if params["overprod_rule"] not in kd.OVERPROD_RULES:
        raise InputError(f"dynamic option 'overprod_rule' must be one of "
                         f"{', '.join(kd.OVERPROD_RULES)}, got {params['overprod_rule']!r}")
    if not isinstance(params["overprod_when_hit"], (bool, np.bool_)):
        raise InputError("dynamic option 'overprod_when_hit' must be true or false, got "
                         f"{params['overprod_when_hit']!r}")
    params["overprod_when_hit"] = bool(params["overprod_when_hit"])
    return params, recipe


def kernel_params(recipe: Recipe, params: dict) -> kd.Params:
    """The kernel's :class:`~stresstest.kernels.dynamic.Params` of a recipe and the dynamic
    options: inventories (at least ``min_cover_days`` of every binding input: a working
    stock), binding inputs and critical-first tier from the recipe;
    overproduction ceiling ``1 + spare`` and time constant ``spare_ramp_days / 2`` unless
    overridden; re-sourcing time constant ``resourcing_ramp_days / 2`` (an exponential
    approach with mean lag ``τ`` is about a linear ramp of ``2 τ``)."""
    amax = (1.0 + recipe.spare if params["overprod_max"] is None
            else np.full(recipe.spare.shape, params["overprod_max"]))
    otau = (recipe.spare_ramp_days / 2.0 if params["overprod_tau"] is None
            else params["overprod_tau"])
    binds = recipe.crit | recipe.half
    cover = np.where(binds, np.maximum(recipe.inventory, params["min_cover_days"]),
                     recipe.inventory)
    return kd.Params(
        cover=cover, crit=recipe.crit, half=recipe.half,
        first=(recipe.crit | recipe.half) if recipe.critical_first else None,
        restock_tau=params["restock_tau"], overprod_max=amax, overprod_tau=otau,
        overprod_rule=params["overprod_rule"], overprod_when_hit=params["overprod_when_hit"],
        final_rule=params["final_rule"], resourcing_tau=recipe.resourcing_ramp_days / 2.0,
        stock_refill_days=params["stock_refill_days"], stock_trigger=params["stock_trigger"],
        inventory_psi=params["inventory_psi"])


def _extend(arr: np.ndarray, horizon: int) -> np.ndarray:
    """Time-leading array cut or extended (last day held) to ``horizon`` days."""
    T = arr.shape[0]
    if horizon <= T:
        return arr[:horizon]
    return np.concatenate([arr, np.repeat(arr[-1:], horizon - T, axis=0)], axis=0)


def build_inputs(economy: xr.Dataset, shock: xr.Dataset, plan: xr.Dataset | None,
                 horizon: int | None, params: dict, recipe: Recipe):
    """The kernel's :class:`~stresstest.kernels.dynamic.Table`, ``Params``, ``Path`` and
    ``Backups`` (daily money) for a compiled shock and plan, and the plan used; ``params``
    and ``recipe`` from :func:`resolve_parameters`. Re-sourcing bounds are the recipe's plus
    the plan's substitution (new links and imports capped at 1)."""
    d = derive(economy)
    R, S = d.n_region, d.n_sector
    check_labels(shock, economy, "scenario")
    T = shock.sizes["time"]
    horizon = T if horizon is None else horizon
    if isinstance(horizon, bool) or not isinstance(horizon, numbers.Integral) or horizon < 1:
        raise InputError(f"dynamic option 'horizon' must be a whole number of days >= 1, "
                         f"got {horizon!r}")
    horizon = int(horizon)
    table = kd.Table(
        R, S, d.x / DAYS_PER_YEAR, d.A, d.a_prod, d.AM, d.tau0, d.Ydest / DAYS_PER_YEAR,
        d.exports / DAYS_PER_YEAR, d.MY / DAYS_PER_YEAR,
        economy["consumption"].values.astype(bool),
        economy["essential_share"].values.astype(float), pools=(d.pools[0], d.pools[3]))
    prm = kernel_params(recipe, params)
    kappa = _extend(stack(shock["kappa"].transpose("region", "sector", "time")).T, horizon)
    alpha_M = _extend(shock["alpha_M"].transpose("time", "product").values, horizon)
    rho = delta = epsilon = None
    if "epsilon" in shock:
        epsilon = _extend(stack(shock["epsilon"].rename(product="sector").transpose(
            "region", "sector", "time")).T, horizon)
    if "rho" in shock:
        rho = _extend(shock["rho"].transpose("time", "region_from", "region_to",
                                             "product").values, horizon)
    if "delta" in shock:
        delta = _extend(shock["delta"].transpose("time", "region", "product", "use").values,
                        horizon)
    for name, arr in (("kappa", kappa), ("alpha_M", alpha_M), ("rho", rho), ("delta", delta),
                      ("epsilon", epsilon)):
        if arr is not None and (not np.all(np.isfinite(arr)) or np.any(arr < 0)):
            raise InputError(f"scenario {shock.attrs.get('scenario', '')!r}: {name} has "
                             "negative or non-finite values")

    if plan is not None:
        check_labels(plan, economy, "plan")
    if plan_is_empty(plan):
        plan = no_plan(economy)
    holders = list(map(str, plan["holder"].values))
    if holders != list(map(str, economy["region"].values)) + [NATIONAL]:
        raise InputError(f"plan {plan.attrs.get('plan', '')!r}: holder labels must be the "
                         f"economy's regions followed by {NATIONAL!r}")
    for v in ("stock_amount", "stock_max_release", "substitution_headroom",
              "substitution_new_links", "substitution_imports", "corridor_extra"):
        vals = plan[v].values
        if not np.all(np.isfinite(vals)) or np.any(vals < 0):
            raise InputError(f"plan {plan.attrs.get('plan', '')!r}: {v} has negative or "
                             "non-finite values")
    standby = None
    if plan.sizes.get("standby", 0) and np.any(plan["standby_capacity"].values != 0):
        av = standby_availability(plan, economy, np.arange(horizon))
        standby = stack(av.transpose("region", "sector", "time")).T / DAYS_PER_YEAR
    backups = kd.Backups(
        corridor=plan["corridor_extra"].transpose("region_from", "region_to").values,
        stock=plan["stock_amount"].transpose("holder", "product").values,
        max_release=plan["stock_max_release"].transpose("holder", "product").values,
        headroom=recipe.headroom + plan["substitution_headroom"].values,
        new_links=np.minimum(recipe.new_links + plan["substitution_new_links"].values, 1.0),
        imports=np.minimum(recipe.imports + plan["substitution_imports"].values, 1.0),
        friction=np.where((plan["substitution_headroom"].values > 0)
                          | (plan["substitution_new_links"].values > 0)
                          | (plan["substitution_imports"].values > 0),
                          plan["substitution_friction"].values.astype(float), recipe.friction),
        window_end=int(shock.attrs.get("window_end", T)),
    )
    path = kd.Path(kappa=kappa, alpha_M=alpha_M, standby=standby, rho=rho, delta=delta,
                   epsilon=epsilon)
    return table, prm, path, backups, plan


def run_dynamic(economy: xr.Dataset, shock: xr.Dataset, plan: xr.Dataset | None = None, *,
                horizon: int | None = None, record_flows: bool = False,
                restock_tau: float | None = None, final_rule: str | None = None,
                stock_refill_days: float | None = None, stock_trigger: float | None = None,
                inventory_psi: float | None = None, overprod_max: float | None = None,
                overprod_tau: float | None = None, overprod_rule: str | None = None,
                overprod_when_hit: bool | None = None, min_cover_days: float | None = None,
                **recipe) -> xr.Dataset:
    """Simulate ``horizon`` days (default: the scenario's) and return a Result with ``time``.

    Options left at ``None`` take the scenario's ``[parameters]`` or :data:`DEFAULTS`;
    ``recipe``: recipe parameters (:data:`stresstest.recipe.PARAMETERS`, e.g.
    ``recipe="strict"``, ``inventory_days=30``), over the scenario's. Money in the Result is
    an annual rate (daily flow x 365). ``record_flows=True`` adds the daily inventory
    accounts ``S`` (start of day), ``arrivals`` (domestic, imported and stockpile units),
    ``arrivals_M`` (the imported part) and ``use`` (economy units per day) on dims (product,
    region, sector, time): ``S(t+1) = S(t) + arrivals(t) - use(t)``.
    """
    given = dict(restock_tau=restock_tau, final_rule=final_rule,
                 stock_refill_days=stock_refill_days, stock_trigger=stock_trigger,
                 inventory_psi=inventory_psi, overprod_max=overprod_max,
                 overprod_tau=overprod_tau, overprod_rule=overprod_rule,
                 overprod_when_hit=overprod_when_hit, min_cover_days=min_cover_days)
    options = {k: v for k, v in given.items() if v is not None}
    options.update(recipe)
    params, rec = resolve_parameters(economy, shock, options)
    table, prm, path, backups, plan_used = build_inputs(economy, shock, plan, horizon, params,
                                                        rec)
    t0 = _time.perf_counter()
    try:
        tr = kd.simulate(table, prm, path, backups, record_flows=record_flows)
    except ValueError as exc:
        raise InputError(f"mode 'dynamic': {exc}") from None
    elapsed = _time.perf_counter() - t0
    R, S = table.n_region, table.n_sector
    days = np.arange(path.days)
    y = DAYS_PER_YEAR
    reg, sec = economy["region"].values, economy["sector"].values
    extra = {
        "inventory_days": xr.DataArray(tr.inventory_days, dims=("region", "product", "time"),
                                       attrs={"units": "days of baseline use"}),
        "stock": xr.DataArray(tr.stock, dims=("holder", "product", "time"),
                              coords={"holder": plan_used["holder"].values},
                              attrs={"units": economy.attrs.get("units", "")}),
        "overproduction": xr.DataArray(tr.overprod.reshape(R, S, -1),
                                       dims=("region", "sector", "time")),
    }
    if tr.standby is not None:
        extra["standby_active"] = xr.DataArray(
            tr.standby.reshape(R, S, -1) * y, dims=("region", "sector", "time"),
            attrs={"units": f"{economy.attrs.get('units', '')} per year"})
    if tr.cost is not None:
        extra["substitution_cost"] = xr.DataArray(
            tr.cost.reshape(R, S, -1) * y, dims=("region", "sector", "time"),
            attrs={"units": f"{economy.attrs.get('units', '')} per year",
                   "long_name": "friction on re-sourced and import-substituting flows "
                                "(subtracted from va)"})
    if record_flows:
        for k, v in tr.flows.items():
            extra[k] = xr.DataArray(v.reshape(S, R, S, -1),
                                    dims=("product", "region", "sector", "time"))
    public = {**params, **rec.params, "horizon": int(path.days),
              "overprod_tau_days": float(prm.overprod_tau),
              "resourcing_tau_days": float(prm.resourcing_tau)}
    res = make_result(
        economy, mode="dynamic", shock=shock, plan=plan if not plan_is_empty(plan) else None,
        x=tr.x * y, capacity=tr.capacity * y, f=tr.f * y, exports=tr.exports * y,
        essential=tr.essential * y, binding=tr.binding, binding_product=tr.binding_product,
        time=days, parameters=public,
        diagnostics={"days": int(path.days), "seconds": round(elapsed, 4),
                     "backend": "dense" if table.n <= kd.DENSE_LIMIT else "sparse"},
        extra=extra, kappa=path.kappa.T, imports_remaining=path.alpha_M.T,
        exports_remaining=None if path.epsilon is None else path.epsilon.T,
        va_deduction=tr.cost * y if tr.cost is not None and np.any(tr.cost != 0) else None,
    )
    res.attrs.update(recipe_attrs(rec))
    if plan is not None and not plan_is_empty(plan):
        res.attrs["plan"] = str(plan.attrs.get("plan", ""))
    elif plan is not None:
        res.attrs["plan"] = str(plan.attrs.get("plan", "none"))
    res = res.assign_coords(region=reg, sector=sec)
    return res


__all__ = ["DEFAULTS", "run_dynamic", "resolve_parameters", "kernel_params", "build_inputs"]
