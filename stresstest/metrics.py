"""Metrics: pure functions of Result Datasets (:mod:`stresstest.result`).

Money in a Result is an annual rate in the economy's units; a static Result describes the
average day of the shock window ``[window_start, window_end)``, a dynamic one has a daily
``time`` dim. Money over a period is therefore ``rate x days / 365``.

**The benefit of a plan** (:data:`DEFINITIONS`, the one definition every table, export and
the report print): value added saved over the whole event, recovery included, on the same
horizon in every mode (the scenario's ``horizon``, days ``0 .. H-1``):

- dynamic: ``Σ_t (va_plan(t) − va_none(t)) / 365`` over the simulated days;
- static: the average day of the window scaled to the event by the scenario's own daily
  direct shock (the Result's ``severity``, :func:`stresstest.result.severity_path`):
  ``(va_plan − va_none) · W / 365 · F`` with ``F = Σ_{t<H} severity(t) / Σ_{t∈window}
  severity(t)`` (:func:`event_factor`): each day's loss is taken proportional to that day's
  direct shock, so the recovery tail counts at the loss per unit of shock of the window.

Alongside: critical supply secured, in days of national essential use (person-days when the
economy has a ``population`` region coordinate, :func:`essential_secured`); the annual cost;
the break-even annual probability ``p* = annual cost / benefit per event``; the expected
benefit/cost ``p · benefit / cost`` at stated annual probabilities :data:`PROBABILITIES`;
plans ranked by lowest ``p*`` (:func:`plan_table`).

Loss is ``baseline - outcome`` (negative when output rises, e.g. a demand surge).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .errors import InputError
from .result import BINDING
from .units import DAYS_PER_YEAR

_BY = {None: ["region", "sector"], "region": ["sector"], "sector": ["region"]}
_VARS = ("x", "va")


def _var(res: xr.Dataset, var: str):
    """The outcome and baseline of ``var`` as coordinate-free Variables (:func:`_v`)."""
    if var not in _VARS:
        raise InputError(f"metric variable {var!r} must be one of {', '.join(_VARS)}")
    return _v(res, var), _v(res, f"{var}_baseline")


def _v(res: xr.Dataset, name: str) -> xr.Variable:
    """A Result's variable without its coordinates. Every variable of a Result shares the
    Result's indexes, so metrics compute on Variables (the same numpy operations, broadcast by
    dim name) and skip the coordinate alignment that would cost more than the arithmetic on
    china31-sized arrays; :func:`_labelled` puts the coordinates back."""
    return res.variables[name]


def _coords_along(obj, dims) -> dict:
    """The coordinates of ``obj`` (a Dataset or DataArray) along ``dims`` only, as Variables:
    those an xarray operation leaving ``dims`` would have kept."""
    dims = set(dims)
    return {k: c for k, c in obj.coords.variables.items() if set(c.dims) <= dims}


def _labelled(res, v: xr.Variable) -> xr.DataArray:
    """``v`` as a DataArray with the coordinates of ``res`` along its dims."""
    return xr.DataArray(v, coords=_coords_along(res, v.dims))


def _dims(by):
    if by not in _BY:
        raise InputError(f"by={by!r} must be None, 'region' or 'sector'")
    return _BY[by]


def _is_dynamic(res: xr.Dataset) -> bool:
    return "time" in res["x"].dims


def window_days(res: xr.Dataset) -> int:
    """Days described by a Result: the shock window (static) or the number of days (dynamic)."""
    if _is_dynamic(res):
        return int(res.sizes["time"])
    return max(1, int(res.attrs.get("window_end", 1)) - int(res.attrs.get("window_start", 0)))


def _scalar(da):
    return float(da) if isinstance(da, xr.DataArray) and da.ndim == 0 else da


# --------------------------------------------------------------------------- levels


def surviving_share(res: xr.Dataset, var: str = "x", by: str | None = None):
    """``Σ outcome / Σ baseline`` of output (``x``) or value added (``va``), in total (float; a
    DataArray over ``time`` for dynamic Results) or by ``region`` / ``sector``."""
    out, base = _var(res, var)
    dims = _dims(by)
    return _scalar(_labelled(res, out.sum(dims) / base.sum(dims)))


def loss(res: xr.Dataset, var: str = "va", by: str | None = None):
    """``Σ (baseline - outcome)``, money per year (per day of a dynamic Result: ``time`` kept)."""
    out, base = _var(res, var)
    dims = _dims(by)
    return _scalar(_labelled(res, (base - out).sum(dims)))


def loss_split(res: xr.Dataset, var: str = "va") -> dict:
    """Total loss split into ``direct`` and ``indirect`` (money per year).

    ``direct``: the capacity shortfall of shocked industries, ``x0 - min(x0, capacity)``
    (for ``va`` valued at each industry's VA coefficient), bounded to ``[0, total]``;
    ``indirect`` = total - direct (propagation through supply chains and demand). For a
    dynamic Result each entry is a DataArray over ``time``.
    """
    out, base = _var(res, var)
    x0 = res["x_baseline"]
    coef = xr.ones_like(x0) if var == "x" else (res["va_baseline"] / x0.where(x0 > 0)).fillna(0)
    direct = ((x0 - np.minimum(x0, res["capacity"])) * coef).sum(["region", "sector"])
    total = _labelled(res, (base - out).sum(["region", "sector"]))
    direct = np.minimum(np.maximum(direct, 0.0), np.maximum(total, 0.0))
    return {"total": _scalar(total), "direct": _scalar(direct),
            "indirect": _scalar(total - direct)}


def direct_shock(res: xr.Dataset) -> dict:
    """The scenario's direct shock, money per year (a DataArray over ``time`` for a dynamic
    Result): ``capacity`` the output hit industries can no longer make,
    ``Σ x0 max(0, 1 − κ)``; ``imports`` the foreign supply cut, ``Σ_p M0_p max(0, 1 − α_p)``
    (intermediate and final imports); ``exports`` foreign demand for exports cut,
    ``Σ ex0 max(0, 1 − ε)``; ``total``. Plans do not change it. Needs the Result's
    ``kappa`` and ``imports_remaining`` (every mode records them)."""
    if "kappa" not in res or "imports_remaining" not in res:
        raise InputError("direct_shock needs a Result with 'kappa' and 'imports_remaining'")
    def cut(base, remaining, dims):  # Σ base max(0, 1 − remaining)
        return (_v(res, base) * np.maximum(0.0, 1.0 - _v(res, remaining))).sum(dims)

    cap = cut("x_baseline", "kappa", ["region", "sector"])
    imp = cut("imports_baseline", "imports_remaining", "product")
    exp = (cut("exports_baseline", "exports_remaining", ["region", "sector"])
           if "exports_remaining" in res else 0.0)
    return {"capacity": _scalar(_labelled(res, cap)), "imports": _scalar(_labelled(res, imp)),
            "exports": exp if np.isscalar(exp) else _scalar(_labelled(res, exp)),
            "total": _scalar(_labelled(res, cap + imp + exp))}


def amplification(res: xr.Dataset) -> float:
    """Total output loss over the direct shock (:func:`direct_shock`; a dynamic Result: both
    summed over its days): 1 = no propagation, 2 = the indirect loss equals the direct one.
    NaN when there is no direct shock (e.g. only a route cut or a demand change)."""
    total = loss(res, "x")
    direct = direct_shock(res)["total"]
    if _is_dynamic(res):
        total, direct = float(total.sum("time")), float(direct.sum("time"))
    total, direct = float(total), float(direct)
    scale = float(res["x_baseline"].sum())
    return total / direct if direct > 1e-12 * scale else float("nan")


#: Regions whose critical supply ratio is within this relative distance of the lowest tie
#: with it: the worst region is the first of them (a last-bit difference never decides it).
WORST_TIE = 1e-9


def worst_region_index(csr: xr.DataArray) -> xr.DataArray:
    """Index along ``region`` of the worst (lowest) value of ``csr`` (no NaN), the first in
    region order among those within :data:`WORST_TIE` (relative) of the lowest: regions served
    by the same constraint tie, and which of them the solver's rounding puts lowest is noise."""
    v = csr.variable
    low = v.min("region")
    tied = v <= low + WORST_TIE * abs(low)
    return _labelled(csr, tied.argmax("region")).rename(csr.name)


def _critical_products(res: xr.Dataset, products=None) -> np.ndarray:
    """Positions along ``product`` of the critical products with essential use (the
    ``critical`` coordinate), or of ``products`` (labels; unknown ones raise)."""
    keep = _v(res, "essential_baseline").sum("region").values > 0
    if "critical" in res.coords:
        keep &= res.coords["critical"].values.astype(bool)
    sel = res["product"].values[keep] if products is None else list(products)
    missing = set(map(str, sel)) - set(map(str, res["product"].values))
    if missing:
        raise InputError(f"critical_supply: unknown products {sorted(missing)}")
    return res.indexes["product"].get_indexer(sel)


def national_critical_supply(res: xr.Dataset, products=None) -> xr.DataArray:
    """``critical_supply(res, products)["national"]`` alone (essential-weighted CSR per
    product, ``Σ_r delivered / Σ_r baseline``), without the regional parts (a sampled band
    reads only this)."""
    sub = res[["essential", "essential_baseline"]].isel(
        product=_critical_products(res, products))
    national = _national_csr(sub)
    return xr.DataArray(national, coords=_coords_along(sub, national.dims))


def _national_csr(sub: xr.Dataset) -> xr.Variable:
    """``Σ_r essential / Σ_r essential_baseline`` of a Result (or its critical products)."""
    return _v(sub, "essential").sum("region") / _v(sub, "essential_baseline").sum("region")


def critical_supply(res: xr.Dataset, products=None, worst_day: bool = False) -> xr.Dataset:
    """Critical supply: ``national`` CSR per product (essential-weighted: ``Σ_r delivered /
    Σ_r baseline``, :func:`national_critical_supply`), ``by_region`` (the Result's ``csr``),
    ``worst`` (lowest regional CSR per product) and ``worst_region`` (its label). Products:
    the critical ones (the ``critical`` coordinate) with essential use, or ``products``.
    Dynamic Results keep ``time``; with ``worst_day`` each is taken on its worst day instead
    (the lowest national CSR, each region's lowest CSR, and the lowest of those)."""
    at = _critical_products(res, products)
    sub = res[["essential", "essential_baseline", "csr"]].isel(product=at)
    csr = _v(sub, "csr")
    national = _national_csr(sub)
    if worst_day and _is_dynamic(res):
        csr, national = csr.min("time"), national.min("time")
    idx = worst_region_index(_labelled(sub, csr).fillna(np.inf))
    data = {"national": national, "by_region": csr, "worst": csr.min("region", skipna=True),
            "worst_region": xr.Variable(idx.dims, res["region"].values[idx.values])}
    return xr.Dataset(data, coords=_coords_along(sub, set().union(*(v.dims for v in
                                                                     data.values()))))


def binding_counts(res: xr.Dataset) -> pd.Series:
    """Number of industries per binding constraint (names of :data:`BINDING`); for a dynamic
    Result, industry-days."""
    codes = res["binding"].values.reshape(-1)
    counts = np.bincount(codes.astype(np.int64), minlength=max(BINDING.values()) + 1)
    return pd.Series({name: int(counts[code]) for name, code in BINDING.items()},
                     name="industries")


# --------------------------------------------------------------------------- plans

#: Annual probabilities of the event at which expected benefit/cost is shown by default.
PROBABILITIES = (0.01, 0.02, 0.05)


def _window_slice(res):
    lo = int(res.attrs.get("window_start", 0))
    hi = int(res.attrs.get("window_end", lo + 1))
    return lo, max(hi, lo + 1)


def event_days(res: xr.Dataset) -> int:
    """Days of the event a benefit covers: the scenario's horizon (the Result's ``severity``
    path or, dynamic, its days); the window for a static Result without ``severity``."""
    if _is_dynamic(res):
        return int(res.sizes["time"])
    if "severity" in res:
        return int(res.sizes["day"])
    return window_days(res)


def event_factor(res: xr.Dataset) -> float:
    """``F``: the whole event's direct shock over the window's, ``Σ_{t<H} severity(t) /
    Σ_{t∈window} severity(t)`` (static Results; 1 for dynamic ones, which simulate every day,
    and when the Result has no ``severity`` or the window has no direct shock)."""
    if _is_dynamic(res) or "severity" not in res:
        return 1.0
    return event_factor_of(res["severity"].values, *_window_slice(res))


def event_factor_of(severity, lo: int, hi: int) -> float:
    """:func:`event_factor` of a severity path (money per year by day) and window
    ``[lo, hi)``; 1 when the window has no direct shock."""
    sev = np.asarray(severity, float)
    inside = float(sev[lo:hi].sum())
    total = float(sev.sum())
    if not inside > 1e-12 * max(total, 1e-300) or not np.isfinite(total):
        return 1.0
    return total / inside


def event_loss(res: xr.Dataset, var: str = "va") -> float:
    """Money lost over the whole event (:func:`event_days`): ``Σ_t loss(t) / 365``
    (dynamic) or ``loss · W / 365 · F`` (static, :func:`event_factor`)."""
    return cumulative_loss(res, var) * event_factor(res)


def cumulative_loss(res: xr.Dataset, var: str = "va") -> float:
    """Money lost over the days a Result describes: ``Σ_t loss(t) / 365`` (dynamic) or
    ``loss x window / 365`` (static, the window only)."""
    total = loss(res, var)
    if _is_dynamic(res):
        return float(total.sum("time")) / DAYS_PER_YEAR
    return float(total) * window_days(res) / DAYS_PER_YEAR


def backup_value(res_plan: xr.Dataset, res_none: xr.Dataset, var: str = "va") -> float:
    """Loss without the plan minus loss with it: money per year (static Results) or money over
    the simulated days (dynamic Results, :func:`cumulative_loss`). Not the benefit of a plan
    (:func:`benefit`): a rate, kept for analysis."""
    if _is_dynamic(res_plan) != _is_dynamic(res_none):
        raise InputError("backup_value: both Results must be static or both dynamic")
    if _is_dynamic(res_plan):
        return cumulative_loss(res_none, var) - cumulative_loss(res_plan, var)
    return float(loss(res_none, var)) - float(loss(res_plan, var))


def benefit(res_plan: xr.Dataset, res_none: xr.Dataset, var: str = "va") -> float:
    """The benefit of a plan: money (value added by default) saved over the whole event,
    recovery included (:func:`event_loss` without the plan minus with it; see the module
    doc)."""
    if _is_dynamic(res_plan) != _is_dynamic(res_none):
        raise InputError("benefit: both Results must be static or both dynamic")
    return event_loss(res_none, var) - event_loss(res_plan, var)


def _essential_over_event(res: xr.Dataset) -> xr.DataArray:
    """Delivered essential use of the critical products over the event by region (money)."""
    eb = res["essential_baseline"]
    keep = eb.sum("region") > 0
    if "critical" in res.coords:
        keep = keep & res["critical"].astype(bool)
    ess = res["essential"].where(keep, 0.0).sum("product")
    if _is_dynamic(res):
        return ess.sum("time") / DAYS_PER_YEAR
    return ess * window_days(res) / DAYS_PER_YEAR * event_factor(res)


def essential_secured(res_plan: xr.Dataset, res_none: xr.Dataset) -> dict:
    """Critical supply a plan secures over the event (essential final use of the critical
    products delivered with the plan minus without it):

    - ``days``: in days of national essential use, ``Σ_r Δ / (Σ_r e0_r / 365)`` (``e0`` the
      baseline essential use of the critical products, money per year);
    - ``person_days``: ``Σ_r population_r · Δ_r / (e0_r / 365)`` when the Result has a
      ``population`` region coordinate (persons), else NaN. Without it, ``days`` times the
      national population is the same number if essential use per person is equal across
      regions.
    """
    eb = res_none["essential_baseline"]
    keep = eb.sum("region") > 0
    if "critical" in res_none.coords:
        keep = keep & res_none["critical"].astype(bool)
    e0 = eb.where(keep, 0.0).sum("product")  # money per year by region
    delta = _essential_over_event(res_plan) - _essential_over_event(res_none)
    nat = float(e0.sum())
    days = float(delta.sum()) / (nat / DAYS_PER_YEAR) if nat > 0 else float("nan")
    person = float("nan")
    if "population" in res_none.coords:
        per_day = e0 / DAYS_PER_YEAR
        ok = per_day > 0
        person = float((res_none["population"] * delta / per_day.where(ok)).where(ok, 0.0).sum())
    return {"days": days, "person_days": person}


#: A benefit within this share of the event's value-added loss without the plan is below the
#: solver's resolution (the order rounds stop at 1e-8 relative change of orders; event
#: losses move by about 1e-9 of themselves between tolerances 1e-8 and 1e-7): for
#: :func:`breakeven_probability` the plan then saves nothing. Seen: plans that do nothing in
#: a scenario had benefits of +-1e-6 bn yuan on 5,000 bn, which read as p* = 2e7 events a year.
BENEFIT_RESOLUTION = 1e-7


def benefit_resolution(event_loss_none: float) -> float:
    """The smallest benefit that counts (:data:`BENEFIT_RESOLUTION` of the event's loss
    without the plan, money)."""
    v = abs(float(event_loss_none))
    return BENEFIT_RESOLUTION * v if np.isfinite(v) else 0.0


def breakeven_probability(benefit_per_event: float, cost: float,
                          resolution: float = 0.0) -> float:
    """``p* = annual cost / benefit per event``: the annual probability of the event above
    which the plan pays for itself (expected benefit = cost). ``inf`` when the plan saves
    nothing (benefit <= ``resolution``, :func:`benefit_resolution`, and a cost), 0 when it
    costs nothing and saves something, NaN when unknown. A ``p*`` above 1 means more than one
    event a year would be needed."""
    b, c = float(benefit_per_event), float(cost)
    if not (np.isfinite(b) and np.isfinite(c)):
        return float("nan")
    if b <= max(float(resolution), 0.0):
        return float("inf") if c > 0 else float("nan")
    return c / b


def expected_benefit_cost(benefit_per_event: float, cost: float, probability: float) -> float:
    """Expected benefit/cost ``p · benefit / cost`` at annual probability ``p`` (no
    discounting, one event at most a year); ``inf`` when the cost is 0 and the benefit
    positive, NaN when both are 0 or unknown."""
    b, c = float(benefit_per_event), float(cost)
    if not (np.isfinite(b) and np.isfinite(c)):
        return float("nan")
    if c == 0:
        return float("inf") if b > 0 else float("nan")
    return float(probability) * b / c


#: A plan that lowers a national or regional share by more than this (share of baseline) does
#: harm (:func:`plan_harm`).
HARM_TOL = 1e-3


def plan_harm(res_plan: xr.Dataset, res_none: xr.Dataset, tol: float = HARM_TOL) -> list[str]:
    """Where a plan does worse than no plan: national value added, a product's national
    critical supply, or a region's output lower by more than ``tol`` (share of the no-plan
    baseline; dynamic Results: averaged over days). One short text per finding, worst first;
    empty when the plan harms nothing."""
    def avg(v):
        return v.mean("time") if "time" in getattr(v, "dims", ()) else v

    found = []
    drop = float(avg(surviving_share(res_none, "va"))) - float(avg(surviving_share(res_plan,
                                                                                  "va")))
    if drop > tol:
        found.append((drop, f"national value added -{100 * drop:.1f} pp"))
    cs_p = avg(national_critical_supply(res_plan))
    cs_n = avg(national_critical_supply(res_none))
    for prod, a, b in zip(cs_p["product"].values, cs_n.values, cs_p.values):
        if np.isfinite(a) and np.isfinite(b) and a - b > tol:
            found.append((a - b, f"critical supply of {prod} -{100 * (a - b):.1f} pp"))
    # regional output lost, over the no-plan baseline (a plan that builds new industries moves
    # output between regions, so each run's loss is taken against its own baseline)
    base = res_none["x_baseline"].sum("sector")
    lost_p = res_plan["x_baseline"].sum("sector") - res_plan["x"].sum("sector")
    lost_n = base - res_none["x"].sum("sector")
    reg_p = avg(1.0 - lost_p / base.where(base > 0))
    reg_n = avg(1.0 - lost_n / base.where(base > 0))
    for reg, a, b in zip(reg_p["region"].values, reg_n.values, reg_p.values):
        if np.isfinite(a) and np.isfinite(b) and a - b > tol:
            found.append((a - b, f"output of {reg} -{100 * (a - b):.1f} pp"))
    return [text for _, text in sorted(found, key=lambda t: -t[0])]


def plan_cost(obj) -> float:
    """Annual cost of a plan: a compiled plan's ``annual_cost`` (else the sum of its cost
    arrays) or a Result's ``plan_annual_cost`` attr; NaN when unknown."""
    if obj is None:
        return 0.0
    if isinstance(obj, xr.Dataset) and "standby_capacity" in obj:
        if "annual_cost" in obj.attrs:
            return float(obj.attrs["annual_cost"])
        return float(sum(float(obj[v].sum()) for v in ("standby_cost", "stock_cost") if v in obj))
    if isinstance(obj, xr.Dataset):
        return float(obj.attrs.get("plan_annual_cost", np.nan))
    raise InputError(f"plan_cost needs a compiled plan or a Result, got {type(obj).__name__}")


def benefit_cost(res_plan: xr.Dataset, res_none: xr.Dataset, cost: float | None = None,
                 probability: float = 1.0, var: str = "va") -> float:
    """Expected benefit/cost at annual ``probability`` of the event
    (:func:`expected_benefit_cost` of :func:`benefit` and the annual ``cost``, default
    :func:`plan_cost` of ``res_plan``). ``probability=1``: one event every year."""
    cost = plan_cost(res_plan) if cost is None else float(cost)
    return expected_benefit_cost(benefit(res_plan, res_none, var), cost, probability)


def rose_resilience(res: xr.Dataset, potential_loss, var: str = "va") -> float:
    """Rose's static economic resilience ``1 - actual / potential`` loss.

    ``potential_loss``: the loss without adaptation — money per year, or a Result whose loss
    is taken (typically the demand-driven ``leontief`` / IIM loss of the same shock, or the
    ``none`` plan); ``actual`` is this Result's loss. 1 = every potential loss avoided, 0 = none;
    NaN when the potential loss is 0.
    """
    pot = float(loss(potential_loss, var) if isinstance(potential_loss, xr.Dataset)
                else potential_loss)
    if _is_dynamic(res):
        act = float(loss(res, var).mean("time"))
    else:
        act = float(loss(res, var))
    return float("nan") if pot == 0 else 1.0 - act / pot


# --------------------------------------------------------------------------- time paths


def _need_time(res, what):
    if not _is_dynamic(res):
        raise InputError(f"{what} needs a dynamic Result (with a time dim); mode "
                         f"{res.attrs.get('mode', '?')!r} is static")


def loss_share(res: xr.Dataset, var: str = "va"):
    """``1 - surviving_share`` (per day for dynamic Results)."""
    return 1.0 - surviving_share(res, var)


def peak_loss(res: xr.Dataset, var: str = "va") -> dict:
    """Largest daily loss: ``{"loss": money per year, "share": of baseline, "day": t}``."""
    _need_time(res, "peak_loss")
    lo = loss(res, var)
    t = int(lo.argmax("time"))
    return {"loss": float(lo[t]), "share": float(loss_share(res, var)[t]),
            "day": int(res["time"].values[t])}


def area_under_loss(res: xr.Dataset, var: str = "va") -> float:
    """Area under the loss-share curve, share x days (``Σ_t loss_share(t)``; 10 = ten days of
    total loss)."""
    _need_time(res, "area_under_loss")
    return float(loss_share(res, var).sum("time"))


def time_to_recovery(res: xr.Dataset, threshold: float = 0.01, var: str = "va") -> float:
    """Days from the start until the loss share falls to ``<= threshold`` for good (after its
    peak); 0 if it never exceeds it, NaN if it has not recovered by the last day."""
    _need_time(res, "time_to_recovery")
    share = loss_share(res, var).values
    above = share > threshold
    if not above.any():
        return 0.0
    last = int(np.flatnonzero(above)[-1])
    if last == share.size - 1:
        return float("nan")
    return float(res["time"].values[last + 1])


def days_below(res: xr.Dataset, threshold: float = 0.9) -> xr.DataArray:
    """Days with critical supply ratio below ``threshold`` by region and product (static
    Results: the whole window when the average day is below)."""
    below = res["csr"] < threshold
    if _is_dynamic(res):
        return below.sum("time")
    return below.astype(int) * window_days(res)


def min_critical_supply(res: xr.Dataset) -> xr.DataArray:
    """Lowest critical supply ratio over time by region and product (static: ``csr``)."""
    return res["csr"].min("time") if _is_dynamic(res) else res["csr"]


# --------------------------------------------------------------------------- headline


def prob_key(p: float) -> str:
    """Headline key of the expected benefit/cost at annual probability ``p``
    (``0.01`` -> ``"bc_at_1%"``)."""
    return f"bc_at_{100 * float(p):g}%"


#: Headline keys that a band reports for every estimate (``key``, ``key_low``, ``key_high``);
#: ``csr:<product>`` and ``bc_at_<p>%`` keys too.
BAND_KEYS = ("output_share", "va_share", "output_loss", "va_loss", "worst_csr",
             "amplification", "va_loss_event", "benefit", "essential_days", "person_days",
             "breakeven_p", "harm")


def _band_key(k: str) -> bool:
    return k in BAND_KEYS or k.startswith(("csr:", "bc_at_"))


def dynamic_summary(res: xr.Dataset, var: str = "x", threshold: float = 0.01) -> dict:
    """Time-path metrics of a dynamic Result (surviving share of ``var``): ``window`` the
    average day of the shock window, ``horizon`` the average over all days, ``trough`` and
    ``trough_day`` the lowest day, ``recovery_day`` the first day from which the loss stays
    within ``threshold`` (NaN: not recovered by the last day; :func:`time_to_recovery`),
    ``cumulative_loss`` money over the days (:func:`cumulative_loss`)."""
    _need_time(res, "dynamic_summary")
    share = surviving_share(res, var)
    lo, hi = _window_slice(res)
    t = int(share.argmin("time"))
    return {"window": float(share.isel(time=slice(lo, hi)).mean("time")),
            "horizon": float(share.mean("time")), "trough": float(share[t]),
            "trough_day": int(res["time"].values[t]),
            "recovery_day": time_to_recovery(res, threshold, var),
            "cumulative_loss": cumulative_loss(res, var)}


def headline(res: xr.Dataset, res_none: xr.Dataset | None = None, cost: float | None = None,
             var: str = "va", probabilities=PROBABILITIES) -> dict:
    """Headline numbers of a Result (flat dict of scalars, money in economy units: the one
    place they are computed; ``compare``, ``run``, the report and :func:`plan_table` call it).

    Keys: ``scenario, plan, mode``; ``output_share, va_share`` (surviving, the average day of
    the shock window; dynamic: the mean over the window's days), ``output_loss, va_loss``
    (money per year, same day), ``direct_shock`` (:func:`direct_shock`, total),
    ``amplification`` (:func:`amplification`), ``csr:<product>`` national critical supply
    (dynamic: mean over the window), ``worst_csr``, ``worst_region``, ``worst_product`` (worst
    region and day), ``binding:<name>``; ``event_days`` and ``event_factor``
    (:func:`event_days`, :func:`event_factor`), ``va_loss_event`` (:func:`event_loss`, money
    over the event). Dynamic Results also: ``output_share_horizon``, ``output_trough``,
    ``output_trough_day``, ``recovery_day``, ``va_share_horizon``, ``va_trough``
    (:func:`dynamic_summary`). With ``res_none``: ``benefit`` (:func:`benefit`, money over the
    event), ``essential_days`` and ``person_days`` (:func:`essential_secured`), ``cost``
    (annual), ``breakeven_p`` (:func:`breakeven_probability`), ``bc_at_<p>%`` for each of
    ``probabilities`` (:func:`expected_benefit_cost`), ``harm`` (:func:`plan_harm`, joined;
    empty when the plan harms nothing). For a band Result (:mod:`stresstest.band`) the keys
    are the central estimate's, and each of :data:`BAND_KEYS`, ``csr:*`` and ``bc_at_*``
    also comes as ``<key>_low`` and ``<key>_high`` (against the same estimate of
    ``res_none``).
    """
    from .band import estimates_of, is_band, select_estimate

    probabilities = tuple(PROBABILITIES if probabilities is None else probabilities)
    if not is_band(res):
        return _headline(res, res_none, cost, var, probabilities)
    out = _headline(select_estimate(res), None if res_none is None
                    else select_estimate(res_none), cost, var, probabilities)
    for e in estimates_of(res)[1:]:
        none_e = None if res_none is None else (
            select_estimate(res_none, e) if is_band(res_none) else res_none)
        h = _headline(select_estimate(res, e), none_e, cost, var, probabilities)
        for k, v in h.items():
            if _band_key(k):
                out[f"{k}_{e}"] = v
    return out


def _headline(res, res_none, cost, var, probabilities) -> dict:
    dyn = _is_dynamic(res)
    lo, hi = _window_slice(res)

    def flat(v):
        if isinstance(v, xr.DataArray) and "time" in v.dims:
            return float(v.isel(time=slice(lo, hi)).mean("time"))
        return float(v)

    out = {
        "scenario": res.attrs.get("scenario", ""),
        "plan": res.attrs.get("plan", ""),
        "mode": res.attrs.get("mode", ""),
        "output_share": flat(surviving_share(res, "x")),
        "va_share": flat(surviving_share(res, "va")),
        "output_loss": flat(loss(res, "x")),
        "va_loss": flat(loss(res, "va")),
    }
    if dyn:
        dx, dv = dynamic_summary(res, "x"), dynamic_summary(res, "va")
        out.update({"output_share_horizon": dx["horizon"], "output_trough": dx["trough"],
                    "output_trough_day": dx["trough_day"], "recovery_day": dx["recovery_day"],
                    "va_share_horizon": dv["horizon"], "va_trough": dv["trough"]})
    if "kappa" in res and "imports_remaining" in res:
        out["direct_shock"] = flat(direct_shock(res)["total"])
        out["amplification"] = amplification(res)
    cs = critical_supply(res)
    national = cs["national"]
    if dyn:
        national = national.isel(time=slice(lo, hi)).mean("time")
    for p, v in zip(national["product"].values, national.values):
        out[f"csr:{p}"] = float(v)
    csr = min_critical_supply(res)
    if np.isfinite(csr.values).any():
        flat_i = int(np.nanargmin(csr.values))
        r, p = np.unravel_index(flat_i, csr.shape)
        out.update({"worst_csr": float(csr.values[r, p]),
                    "worst_region": str(csr["region"].values[r]),
                    "worst_product": str(csr["product"].values[p])})
    else:
        out.update({"worst_csr": float("nan"), "worst_region": "", "worst_product": ""})
    for name, count in binding_counts(res).items():
        out[f"binding:{name}"] = int(count)
    out["event_days"] = event_days(res)
    out["event_factor"] = event_factor(res)
    out["va_loss_event"] = event_loss(res, var)
    if res_none is not None:
        c = plan_cost(res) if cost is None else float(cost)
        b = benefit(res, res_none, var)
        ess = essential_secured(res, res_none)
        out["benefit"] = b
        out["essential_days"] = ess["days"]
        out["person_days"] = ess["person_days"]
        out["cost"] = c
        out["breakeven_p"] = breakeven_probability(
            b, c, benefit_resolution(event_loss(res_none, var)))
        for p in probabilities:
            out[prob_key(p)] = expected_benefit_cost(b, c, p)
        out["harm"] = "; ".join(plan_harm(res, res_none))
    elif cost is not None:
        out["cost"] = float(cost)
    return out


# --------------------------------------------------------------------------- plan table

#: What the plan-economics numbers mean: printed under every table (CLI, report, exports) and
#: in the docs. ``{unit}`` is the money unit of the output.
DEFINITIONS = {
    "en": {
        "benefit": ("Benefit = value added saved by the plan over the whole event, recovery "
                    "included, on the scenario's horizon of {days} days in every mode "
                    "(static modes: the average day of the shock window scaled by the "
                    "scenario's daily direct shock over the event, factor {factor}; dynamic: "
                    "the sum over the simulated days), in {unit}."),
        "essential": ("Critical supply secured = essential final use of the critical products "
                      "delivered with the plan minus without it over the event, in days of "
                      "national essential use{person}."),
        "cost": ("Annual cost = the plan's yearly cost (carrying cost of stocks, capital "
                 "charge + O&M of standby capacity, annuity of corridors), in {unit} a year."),
        "breakeven": ("p* = annual cost / benefit per event: the annual probability of the "
                      "event above which the plan pays for itself (shown per year when above "
                      "1: more than one event a year needed; never when the benefit is not "
                      "above 1e-7 of the event's loss without the plan, the solver's "
                      "resolution)."),
        "expected": ("Expected benefit/cost at p = p × benefit / annual cost (no discounting, "
                     "at most one event a year)."),
    },
    "zh": {
        "benefit": ("效益 = 方案在整个事件期间（含恢复期）挽回的增加值；各模型均按情景的{days}天期限计算"
                    "（静态模型：冲击窗口的平均日按情景逐日直接冲击外推到整个事件，系数{factor}；"
                    "动态模型：逐日加总），单位{unit}。"),
        "essential": "关键供给保障 = 有方案与无方案相比在事件期间多交付的关键产品必需最终使用，"
                     "以全国必需使用天数计{person}。",
        "cost": "年成本 = 方案每年的成本（储备的持有成本、备用产能的资本费用与运维、通道的年金），"
                "单位{unit}/年。",
        "breakeven": "p* = 年成本 / 每次事件的效益：事件年发生概率高于此值时方案的期望效益超过成本"
                     "（大于1时以“次/年”显示：需每年发生不止一次；效益不超过无方案时事件损失的"
                     "1e-7（求解精度）时为“无法回本”）。",
        "expected": "概率 p 下的期望效益/成本 = p × 效益 / 年成本（不贴现，每年至多一次事件）。",
    },
}


def definitions(lang: str = "en", unit: str = "", days=None, factor=None,
                person: bool = False) -> list[str]:
    """The :data:`DEFINITIONS` filled in (``days``: the event horizon; ``factor``: the static
    event factor, omitted for dynamic runs)."""
    d = DEFINITIONS.get(lang, DEFINITIONS["en"])
    fac = "—" if factor is None or not np.isfinite(factor) else f"{factor:.2f}"
    if lang == "zh":
        pers = "（有人口数据时另计人·天）" if person else ""
    else:
        pers = " (and person-days, with the regions' population)" if person else ""
    out = []
    for key in ("benefit", "essential", "cost", "breakeven", "expected"):
        text = d[key].format(unit=unit, days="?" if days is None else int(days), factor=fac,
                             person=pers)
        if factor is None and key == "benefit":
            text = (text.replace(", factor —", "").replace("，系数—", ""))
        out.append(text)
    return out


#: Headline keys in money per year (converted to the output's unit, ``<unit>/yr``).
MONEY_RATE_KEYS = ("output_loss", "va_loss", "direct_shock", "cost")
#: Headline keys in money over the event (``<unit>``).
MONEY_EVENT_KEYS = ("va_loss_event", "benefit")
RANK_CRITERION = {
    "en": ("Ranked by the lowest break-even annual probability p* among plans that save value "
           "added (ties: larger benefit); plans that save nothing follow unranked. A plan that "
           "lowers a national or regional share by more than 0.1 pp is flagged (worse than "
           "none)."),
    "zh": ("在挽回增加值的方案中按盈亏平衡年概率 p* 从低到高排名（相同则效益大者优先）；无效益的方案"
           "列于其后、不排名。使全国或地区某项比例下降超过0.1个百分点的方案另加标注（劣于无方案）。")}


def _money_key(k: str) -> str | None:
    base = k[:-4] if k.endswith("_low") else k[:-5] if k.endswith("_high") else k
    if base in MONEY_RATE_KEYS:
        return "rate"
    if base in MONEY_EVENT_KEYS:
        return "event"
    return None


def plan_table(results: dict, costs: dict | None = None, *, probabilities=PROBABILITIES,
               unit: str | None = None, lang: str = "en") -> pd.DataFrame:
    """Headline numbers per plan (:func:`headline` against ``results["none"]``), money in
    ``unit`` (:mod:`stresstest.units`; default ``bn yuan`` for yuan economies), indexed by
    plan and ranked (column ``rank``: 1 = lowest break-even probability ``p*``, ties broken
    by the larger benefit; plans that save nothing follow without a rank, ``none`` last; harm is
    flagged in ``harm``, not ranked on). ``df.attrs``: ``units`` (column -> unit), ``unit`` (money unit),
    ``notes`` (:func:`definitions`), ``criterion``, ``probabilities``. The CLI
    (``compare``, exports) and the report show this table."""
    from . import units as U

    if not results:
        raise InputError("plan_table needs at least one Result")
    costs = dict(costs or {})
    res_none = results.get("none")
    first = next(iter(results.values()))
    eco_units = str(first.attrs.get("units", ""))
    f, label = U.factor(eco_units, unit, lang)
    probabilities = tuple(PROBABILITIES if probabilities is None else probabilities)
    rows = []
    for p, res in results.items():
        c = costs.get(p)
        if c is None:
            c = 0.0 if p == "none" else plan_cost(res)
        h = headline(res, res_none, cost=c, probabilities=probabilities)
        h["plan"] = p
        rows.append(h)
    df = pd.DataFrame(rows).set_index("plan")
    for col in df.columns:
        if _money_key(col):
            df[col] = pd.to_numeric(df[col], errors="coerce") * f
    # rank: lowest p* first; harm or no benefit after; none last
    pstar = df["breakeven_p"] if "breakeven_p" in df else pd.Series(np.nan, index=df.index)
    ben = df["benefit"] if "benefit" in df else pd.Series(np.nan, index=df.index)
    is_none = pd.Series(df.index == "none", index=df.index)
    # a benefit within the solver's resolution has p* = inf: no benefit either
    key = pd.DataFrame({"none": is_none, "bad": ~(ben > 0) | (pstar == np.inf),
                        "p": pstar.fillna(np.inf).replace(-np.inf, np.inf),
                        "b": -ben.fillna(-np.inf)})
    order = key.sort_values(["none", "bad", "p", "b"], kind="stable").index
    df = df.loc[order]
    rank = pd.Series(pd.NA, index=df.index, dtype="Int64")
    ranked = [p for p in df.index if p != "none" and not key.loc[p, "bad"]]
    rank.loc[ranked] = range(1, len(ranked) + 1)
    df.insert(0, "rank", rank)
    col_units = {}
    for col in df.columns:
        kind = _money_key(col)
        base = col.rsplit("_", 1)[0] if col.endswith(("_low", "_high")) else col
        if kind == "rate":
            col_units[col] = f"{label}/yr"
        elif kind == "event":
            col_units[col] = label
        elif base in ("event_days", "essential_days", "output_trough_day", "recovery_day"):
            col_units[col] = "days" if base != "essential_days" else \
                "days of national essential use"
        elif base == "person_days":
            col_units[col] = "person-days"
        elif base in ("output_share", "va_share", "worst_csr", "output_share_horizon",
                      "output_trough", "va_share_horizon", "va_trough", "breakeven_p") \
                or base.startswith("csr:"):
            col_units[col] = "1 (share)" if base != "breakeven_p" else "per year"
        elif base.startswith("bc_at_") or base in ("amplification", "event_factor"):
            col_units[col] = "1"
        elif base.startswith("binding:"):
            col_units[col] = "industries" if not first.sizes.get("time") else "industry-days"
    h0 = headline(res_none if res_none is not None else first)
    person = "person_days" in df and bool(np.isfinite(pd.to_numeric(
        df["person_days"], errors="coerce")).any())
    df.attrs.update({
        "units": col_units, "unit": label, "criterion": RANK_CRITERION.get(lang, RANK_CRITERION["en"]),
        "probabilities": list(probabilities),
        "notes": definitions(lang, label, h0["event_days"],
                             None if _is_dynamic(first) else h0["event_factor"], person),
    })
    return df


# --------------------------------------------------------------------------- chokepoints


def chokepoints(res: xr.Dataset, economy: xr.Dataset, top: int = 10) -> pd.DataFrame:
    """The scenario's own chokepoints, from its binding constraints (central estimate of a
    band; dynamic: summed over the days).

    Output lost by each industry (``x0 − x``) is attributed to what binds it (``binding``,
    ``binding_product``): an input ``p`` — to the regions supplying ``p`` to that industry,
    in proportion to ``Z[o, p → industry] · (1 − x[o, p] / x0[o, p])⁺`` (their deliveries
    times their own shortfall; by deliveries alone when no supplier is short); an import —
    to ``foreign supply of p``; a route — to ``interregional routes of p``; capacity — to the
    industry itself. Rows ``region`` (``""`` for imports and routes), ``product``, ``kind``
    (input, import, route, capacity), ``industries`` (bound by it), ``loss`` (output lost by
    them over the event, economy units, :func:`event_loss` basis), ``share`` (of the total
    output loss over the event), ranked by ``loss``; the top ``top``."""
    from .band import select_estimate

    res = select_estimate(res)
    x0 = res["x_baseline"].transpose("region", "sector").values
    x, code, prod = (res[v].transpose("region", "sector", ...).values
                     for v in ("x", "binding", "binding_product"))
    R, S = x0.shape
    if x.ndim == 3:  # dynamic: days; loss per day at an annual rate
        scale = 1.0 / DAYS_PER_YEAR
    else:
        x, code, prod = x[..., None], code[..., None], prod[..., None]
        scale = window_days(res) / DAYS_PER_YEAR * event_factor(res)
    lost = np.maximum(x0[..., None] - x, 0.0) * scale          # (R, S, T) money
    total = float(lost.sum())
    Z = economy["Z"].transpose("origin", "product", "region", "sector").values
    short = np.maximum(0.0, 1.0 - np.divide(x, x0[..., None], out=np.ones_like(x),
                                            where=x0[..., None] > 0))   # (R, S, T)
    acc: dict = {}
    count: dict = {}

    def add(key, value, n=1):
        acc[key] = acc.get(key, 0.0) + value
        count[key] = count.get(key, 0) + n

    products = [str(p) for p in economy["sector"].values]
    regions = [str(r) for r in economy["region"].values]
    for r, s, t in zip(*np.nonzero(lost > 0)):
        c, p, v = int(code[r, s, t]), int(prod[r, s, t]), float(lost[r, s, t])
        if c == BINDING["capacity"]:
            add((regions[r], products[s], "capacity"), v)
        elif c == BINDING["import"] and p >= 0:
            add(("", products[p], "import"), v)
        elif c == BINDING["route"] and p >= 0:
            add(("", products[p], "route"), v)
        elif c == BINDING["input"] and p >= 0:
            z = Z[:, p, r, s]
            w = z * short[:, p, t]
            if not w.sum() > 0:
                w = z
            if not w.sum() > 0:
                continue
            w = w / w.sum()
            for o in np.nonzero(w > 1e-6)[0]:
                add((regions[o], products[p], "input"), v * float(w[o]), 0)
            count[("*", products[p], "input")] = count.get(("*", products[p], "input"), 0) + 1
    rows = [{"region": k[0], "product": k[1], "kind": k[2], "loss": v,
             "industries": count.get(k, 0) if k[2] != "input" else
             count.get(("*", k[1], "input"), 0),
             "share": v / total if total > 0 else np.nan} for k, v in acc.items()]
    if not rows:
        return pd.DataFrame(columns=["region", "product", "kind", "industries", "loss",
                                     "share"])
    df = pd.DataFrame(rows).sort_values("loss", ascending=False, kind="stable").head(top)
    df = df[["region", "product", "kind", "industries", "loss", "share"]].reset_index(drop=True)
    df.index = pd.RangeIndex(1, len(df) + 1, name="rank")
    return df
