"""Mode ``dynamic``: day-by-day propagation with inventories, orders, overproduction, recovery,
standby ramp-up and stockpile drawdown (ARIO-style). Equations: ``docs/dynamic.md``; numerics:
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
from ..result import make_result

DAYS_PER_YEAR = 365.0

#: Default parameters; override per call (``run_dynamic(..., restock_tau=5)``) or in a
#: scenario's ``[parameters]`` table. ``inventory_days`` (None, a number of days, or
#: ``{product: days}``) overrides the per-product defaults: ``inventory_days_goods`` for
#: tradable products, ``inventory_days_services`` for non-tradable ones and
#: ``inventory_days_utilities`` for non-storable utilities (sector names containing one of
#: :data:`UTILITY_WORDS`; gas and water supply are usually non-tradable, hence services).
DEFAULTS = {
    "inventory_days": None,
    "inventory_days_goods": 30.0,
    "inventory_days_services": 3.0,
    "inventory_days_utilities": 1.0,
    "restock_tau": 10.0,
    "overprod_max": 1.25,
    "overprod_tau": 365.0,
    "critical_threshold": 0.02,
    "final_rule": "proportional",
    "resourcing_tau": 7.0,
    "stock_refill_days": 365.0,
    "stock_trigger": 0.5,
    "inventory_psi": 0.0,
}
UTILITY_WORDS = ("electricity", "electric power", "heat power", "power and heat",
                 "power supply", "power generation", "steam", "utilities")


def _positive(name, value, allow_zero=False, minimum=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise InputError(f"dynamic option {name!r} must be a number, got {value!r}")
    lo = 0.0 if minimum is None else minimum
    if value < lo or (value == lo and not allow_zero and minimum is None):
        op = ">=" if (allow_zero or minimum is not None) else ">"
        raise InputError(f"dynamic option {name!r} must be {op} {lo:g}, got {value!r}")
    return float(value)


def resolve_parameters(economy: xr.Dataset, shock: xr.Dataset | None = None,
                       options: dict | None = None) -> dict:
    """Merge :data:`DEFAULTS`, the scenario's ``parameters`` (shock attrs, JSON) and call
    options (later wins); validate. Scenario keys that are not dynamic parameters belong to
    other modes and are left alone; unknown call options are errors."""
    params = dict(DEFAULTS)
    if shock is not None and shock.attrs.get("parameters"):
        raw = shock.attrs["parameters"]
        try:
            sp_ = json.loads(raw) if isinstance(raw, str) else dict(raw)
        except (ValueError, TypeError):
            raise InputError(f"scenario {shock.attrs.get('scenario', '')!r}: [parameters] is "
                             f"not a JSON table: {raw!r}") from None
        if not isinstance(sp_, dict):
            raise InputError(f"scenario {shock.attrs.get('scenario', '')!r}: [parameters] is "
                             f"not a table: {raw!r}")
        params.update({k: v for k, v in sp_.items() if k in DEFAULTS})
    options = dict(options or {})
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise InputError(f"unknown option {unknown[0]!r} for mode 'dynamic' (known: horizon, "
                         f"{', '.join(DEFAULTS)})")
    params.update(options)
    for k in ("restock_tau", "overprod_tau", "stock_refill_days"):
        params[k] = _positive(k, params[k])
    params["resourcing_tau"] = _positive("resourcing_tau", params["resourcing_tau"], minimum=1.0)
    params["overprod_max"] = _positive("overprod_max", params["overprod_max"], minimum=1.0)
    params["stock_trigger"] = _positive("stock_trigger", params["stock_trigger"],
                                        allow_zero=True)
    if params["stock_trigger"] > 1.0:
        raise InputError("dynamic option 'stock_trigger' must be <= 1, got "
                         f"{params['stock_trigger']!r}")
    params["inventory_psi"] = _positive("inventory_psi", params["inventory_psi"],
                                        allow_zero=True)
    if params["inventory_psi"] > 1.0:
        raise InputError("dynamic option 'inventory_psi' must be <= 1, got "
                         f"{params['inventory_psi']!r}")
    params["critical_threshold"] = _positive("critical_threshold", params["critical_threshold"],
                                             allow_zero=True)
    if params["critical_threshold"] >= 1.0:
        raise InputError("dynamic option 'critical_threshold' must be < 1, got "
                         f"{params['critical_threshold']!r}")
    for k in ("inventory_days_goods", "inventory_days_services", "inventory_days_utilities"):
        params[k] = _positive(k, params[k], allow_zero=True)
    if params["final_rule"] not in kd.FINAL_RULES:
        raise InputError(f"dynamic option 'final_rule' must be one of "
                         f"{', '.join(kd.FINAL_RULES)}, got {params['final_rule']!r}")
    inventory_cover(economy, params)  # validates inventory_days
    return params


def inventory_cover(economy: xr.Dataset, params: dict) -> np.ndarray:
    """Target inventory cover (P) in days of baseline use, from :func:`resolve_parameters`."""
    names = [str(s).lower() for s in economy["sector_name"].values]
    tradable = economy["tradable"].values.astype(bool)
    utility = np.array([any(w in nm for w in UTILITY_WORDS) for nm in names])
    cover = np.where(utility, params["inventory_days_utilities"],
                     np.where(tradable, params["inventory_days_goods"],
                              params["inventory_days_services"])).astype(float)
    spec = params.get("inventory_days")
    if spec is None:
        return cover
    if isinstance(spec, dict):
        labels = {str(p): i for i, p in enumerate(economy["sector"].values)}
        for key, val in spec.items():
            if str(key) not in labels:
                raise InputError(f"dynamic option 'inventory_days': unknown product {key!r} "
                                 f"(products: {', '.join(list(labels)[:8])}, ...)")
            cover[labels[str(key)]] = _positive(f"inventory_days[{key}]", val, allow_zero=True)
        return cover
    return np.full(cover.shape, _positive("inventory_days", spec, allow_zero=True))


def _extend(arr: np.ndarray, horizon: int) -> np.ndarray:
    """Time-leading array cut or extended (last day held) to ``horizon`` days."""
    T = arr.shape[0]
    if horizon <= T:
        return arr[:horizon]
    return np.concatenate([arr, np.repeat(arr[-1:], horizon - T, axis=0)], axis=0)


def build_inputs(economy: xr.Dataset, shock: xr.Dataset, plan: xr.Dataset | None,
                 horizon: int | None, params: dict):
    """The kernel's :class:`~stresstest.kernels.dynamic.Table`, ``Params``, ``Path`` and
    ``Backups`` (daily money) for a compiled shock and plan."""
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
        economy["essential_share"].values.astype(float))
    prm = kd.Params(cover=inventory_cover(economy, params),
                    **{k: params[k] for k in ("restock_tau", "overprod_max", "overprod_tau",
                                              "critical_threshold", "final_rule",
                                              "resourcing_tau", "stock_refill_days",
                                              "stock_trigger", "inventory_psi")})
    kappa = _extend(stack(shock["kappa"].transpose("region", "sector", "time")).T, horizon)
    alpha_M = _extend(shock["alpha_M"].transpose("time", "product").values, horizon)
    rho = delta = None
    if "rho" in shock:
        rho = _extend(shock["rho"].transpose("time", "region_from", "region_to",
                                             "product").values, horizon)
    if "delta" in shock:
        delta = _extend(shock["delta"].transpose("time", "region", "product", "use").values,
                        horizon)
    for name, arr in (("kappa", kappa), ("alpha_M", alpha_M), ("rho", rho), ("delta", delta)):
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
        headroom=plan["substitution_headroom"].values,
        new_links=plan["substitution_new_links"].values,
        imports=plan["substitution_imports"].values,
        window_end=int(shock.attrs.get("window_end", T)),
    )
    path = kd.Path(kappa=kappa, alpha_M=alpha_M, standby=standby, rho=rho, delta=delta)
    return table, prm, path, backups, plan


def run_dynamic(economy: xr.Dataset, shock: xr.Dataset, plan: xr.Dataset | None = None, *,
                horizon: int | None = None, inventory_days=None,
                inventory_days_goods: float | None = None,
                inventory_days_services: float | None = None,
                inventory_days_utilities: float | None = None,
                restock_tau: float | None = None, overprod_max: float | None = None,
                overprod_tau: float | None = None, critical_threshold: float | None = None,
                final_rule: str | None = None, resourcing_tau: float | None = None,
                stock_refill_days: float | None = None, stock_trigger: float | None = None,
                inventory_psi: float | None = None, record_flows: bool = False) -> xr.Dataset:
    """Simulate ``horizon`` days (default: the scenario's) and return a Result with ``time``.

    Options left at ``None`` take the scenario's ``[parameters]`` or :data:`DEFAULTS`. Money
    in the Result is an annual rate (daily flow x 365). ``record_flows=True`` adds the daily
    inventory accounts ``S``, ``SM`` (start of day), ``arrivals``, ``arrivals_M``, ``use``,
    ``use_M`` (economy units per day) on dims (product, region, sector, time):
    ``S(t+1) = S(t) + arrivals(t) - use(t)``.
    """
    given = dict(inventory_days=inventory_days, inventory_days_goods=inventory_days_goods,
                 inventory_days_services=inventory_days_services,
                 inventory_days_utilities=inventory_days_utilities, restock_tau=restock_tau,
                 overprod_max=overprod_max, overprod_tau=overprod_tau,
                 critical_threshold=critical_threshold, final_rule=final_rule,
                 resourcing_tau=resourcing_tau, stock_refill_days=stock_refill_days,
                 stock_trigger=stock_trigger, inventory_psi=inventory_psi)
    options = {k: v for k, v in given.items() if v is not None}
    params = resolve_parameters(economy, shock, options)
    table, prm, path, backups, plan_used = build_inputs(economy, shock, plan, horizon, params)
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
    if record_flows:
        for k, v in tr.flows.items():
            extra[k] = xr.DataArray(v.reshape(S, R, S, -1),
                                    dims=("product", "region", "sector", "time"))
    public = {k: v for k, v in params.items()}
    public["horizon"] = int(path.days)
    res = make_result(
        economy, mode="dynamic", shock=shock, plan=plan if not plan_is_empty(plan) else None,
        x=tr.x * y, capacity=tr.capacity * y, f=tr.f * y, exports=tr.exports * y,
        essential=tr.essential * y, binding=tr.binding, binding_product=tr.binding_product,
        time=days, parameters=public,
        diagnostics={"days": int(path.days), "seconds": round(elapsed, 4),
                     "backend": "dense" if table.n <= kd.DENSE_LIMIT else "sparse"},
        extra=extra, kappa=path.kappa.T, imports_remaining=path.alpha_M.T,
    )
    if plan is not None and not plan_is_empty(plan):
        res.attrs["plan"] = str(plan.attrs.get("plan", ""))
    elif plan is not None:
        res.attrs["plan"] = str(plan.attrs.get("plan", "none"))
    res = res.assign_coords(region=reg, sector=sec)
    return res


__all__ = ["DEFAULTS", "run_dynamic", "resolve_parameters", "inventory_cover", "build_inputs"]
