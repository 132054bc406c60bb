"""Metrics: pure functions of Result Datasets (:mod:`stresstest.result`).

Money in a Result is an annual rate in the economy's units; a static Result describes the
average day of the shock window ``[window_start, window_end)``, a dynamic one has a daily
``time`` dim. Money over a period is therefore ``rate x days / 365``:

- static: ``loss x window / 365`` over the shock window;
- dynamic: ``Σ_t loss(t) / 365`` over the simulated days.

Loss is ``baseline - outcome`` (negative when output rises, e.g. a demand surge).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .errors import InputError
from .result import BINDING

DAYS_PER_YEAR = 365.0
_BY = {None: ["region", "sector"], "region": ["sector"], "sector": ["region"]}
_VARS = ("x", "va")


def _var(res: xr.Dataset, var: str):
    if var not in _VARS:
        raise InputError(f"metric variable {var!r} must be one of {', '.join(_VARS)}")
    return res[var], res[f"{var}_baseline"]


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
    return _scalar(out.sum(dims) / base.sum(dims))


def loss(res: xr.Dataset, var: str = "va", by: str | None = None):
    """``Σ (baseline - outcome)``, money per year (per day of a dynamic Result: ``time`` kept)."""
    out, base = _var(res, var)
    dims = _dims(by)
    return _scalar((base - out).sum(dims))


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
    total = (base - out).sum(["region", "sector"])
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
    cap = (res["x_baseline"] * np.maximum(0.0, 1.0 - res["kappa"])).sum(["region", "sector"])
    imp = (res["imports_baseline"] * np.maximum(0.0, 1.0 - res["imports_remaining"])).sum(
        "product")
    exp = 0.0
    if "exports_remaining" in res:
        exp = (res["exports_baseline"] * np.maximum(0.0, 1.0 - res["exports_remaining"])).sum(
            ["region", "sector"])
    return {"capacity": _scalar(cap), "imports": _scalar(imp), "exports": _scalar(exp),
            "total": _scalar(cap + imp + exp)}


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


def critical_supply(res: xr.Dataset, products=None) -> xr.Dataset:
    """Critical supply: ``national`` CSR per product (essential-weighted: ``Σ_r delivered /
    Σ_r baseline``), ``by_region`` (the Result's ``csr``), ``worst`` (lowest regional CSR per
    product) and ``worst_region`` (its label). Products: the critical ones (the ``critical``
    coordinate) with essential use, or ``products``. Dynamic Results keep ``time``."""
    eb = res["essential_baseline"]
    keep = eb.sum("region") > 0
    if "critical" in res.coords:
        keep = keep & res["critical"].astype(bool)
    sel = res["product"].values[keep.values] if products is None else list(products)
    missing = set(map(str, sel)) - set(map(str, res["product"].values))
    if missing:
        raise InputError(f"critical_supply: unknown products {sorted(missing)}")
    ess = res["essential"].sel(product=sel)
    base = eb.sel(product=sel)
    national = ess.sum("region") / base.sum("region")
    by_region = res["csr"].sel(product=sel)
    filled = by_region.fillna(np.inf)
    worst = by_region.min("region", skipna=True)
    idx = filled.argmin("region")
    worst_region = xr.DataArray(res["region"].values[idx.values], dims=idx.dims,
                                coords=idx.coords)
    return xr.Dataset({"national": national, "by_region": by_region, "worst": worst,
                       "worst_region": worst_region})


def binding_counts(res: xr.Dataset) -> pd.Series:
    """Number of industries per binding constraint (names of :data:`BINDING`); for a dynamic
    Result, industry-days."""
    codes = res["binding"].values.reshape(-1)
    counts = np.bincount(codes.astype(np.int64), minlength=max(BINDING.values()) + 1)
    return pd.Series({name: int(counts[code]) for name, code in BINDING.items()},
                     name="industries")


# --------------------------------------------------------------------------- plans


def cumulative_loss(res: xr.Dataset, var: str = "va") -> float:
    """Money lost over the days a Result describes: ``Σ_t loss(t) / 365`` (dynamic) or
    ``loss x window / 365`` (static)."""
    total = loss(res, var)
    if _is_dynamic(res):
        return float(total.sum("time")) / DAYS_PER_YEAR
    return float(total) * window_days(res) / DAYS_PER_YEAR


def backup_value(res_plan: xr.Dataset, res_none: xr.Dataset, var: str = "va") -> float:
    """Loss without the plan minus loss with it: money per year (static Results) or money over
    the simulated days (dynamic Results, :func:`cumulative_loss`)."""
    if _is_dynamic(res_plan) != _is_dynamic(res_none):
        raise InputError("backup_value: both Results must be static or both dynamic")
    if _is_dynamic(res_plan):
        return cumulative_loss(res_none, var) - cumulative_loss(res_plan, var)
    return float(loss(res_none, var)) - float(loss(res_plan, var))


def benefit(res_plan: xr.Dataset, res_none: xr.Dataset, var: str = "va") -> float:
    """Money a plan saves over the days a Result describes (:func:`cumulative_loss` without
    the plan minus with it): the shock window (static) or the simulated days (dynamic)."""
    if _is_dynamic(res_plan) != _is_dynamic(res_none):
        raise InputError("benefit: both Results must be static or both dynamic")
    return cumulative_loss(res_none, var) - cumulative_loss(res_plan, var)


#: A plan that lowers a national or regional share by more than this (share of baseline) does
#: harm (:func:`plan_harm`).
HARM_TOL = 1e-3


def plan_harm(res_plan: xr.Dataset, res_none: xr.Dataset, tol: float = HARM_TOL) -> list[str]:
    """Where a plan does worse than no plan: national value added, a product's national
    critical supply, or a region's surviving output lower by more than ``tol`` (share of
    baseline; dynamic Results: averaged over days). One short text per finding, worst first;
    empty when the plan harms nothing."""
    def avg(v):
        return v.mean("time") if "time" in getattr(v, "dims", ()) else v

    found = []
    drop = float(avg(surviving_share(res_none, "va"))) - float(avg(surviving_share(res_plan,
                                                                                  "va")))
    if drop > tol:
        found.append((drop, f"national value added -{100 * drop:.1f} pp"))
    cs_p = avg(critical_supply(res_plan)["national"])
    cs_n = avg(critical_supply(res_none)["national"])
    for prod, a, b in zip(cs_p["product"].values, cs_n.values, cs_p.values):
        if np.isfinite(a) and np.isfinite(b) and a - b > tol:
            found.append((a - b, f"critical supply of {prod} -{100 * (a - b):.1f} pp"))
    reg_p = avg(surviving_share(res_plan, "x", by="region"))
    reg_n = avg(surviving_share(res_none, "x", by="region"))
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
                 window_days: int | None = None, var: str = "va") -> float:
    """Benefit over the shock divided by the plan's annual cost.

    Benefit: static — :func:`backup_value` (an annual rate) times ``window_days / 365``
    (default: the Result's shock window); dynamic — the cumulative backup value over the
    simulated days. ``cost`` defaults to :func:`plan_cost` of ``res_plan``. One shock event per
    year of cost, no discounting. ``inf`` when the cost is 0 and the benefit positive; NaN when
    both are 0 or the cost is unknown.
    """
    cost = plan_cost(res_plan) if cost is None else float(cost)
    if _is_dynamic(res_plan):
        benefit = backup_value(res_plan, res_none, var)
    else:
        days = _window(res_plan) if window_days is None else int(window_days)
        benefit = backup_value(res_plan, res_none, var) * days / DAYS_PER_YEAR
    if not np.isfinite(cost):
        return float("nan")
    if cost == 0:
        return float("inf") if benefit > 0 else float("nan")
    return benefit / cost


def _window(res):
    return window_days(res)


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


#: Headline keys that a band reports for every estimate (``key``, ``key_low``, ``key_high``);
#: ``csr:<product>`` keys too.
BAND_KEYS = ("output_share", "va_share", "output_loss", "va_loss", "worst_csr",
             "amplification", "backup_value", "benefit", "benefit_cost", "harm")


def headline(res: xr.Dataset, res_none: xr.Dataset | None = None, cost: float | None = None,
             var: str = "va") -> dict:
    """Headline numbers of a Result (flat dict of scalars, for ``compare``, the CLI and the
    report: the one place they are computed).

    Keys: ``scenario, plan, mode, output_share, va_share, output_loss, va_loss`` (annual rate;
    dynamic: mean over days), ``direct_shock`` (:func:`direct_shock`, total), ``amplification``
    (:func:`amplification`), ``csr:<product>`` national critical supply (dynamic: mean over
    days), ``worst_csr``, ``worst_region``, ``worst_product``, ``binding:<name>``; with
    ``res_none``: ``backup_value`` (money per year), ``benefit`` (:func:`benefit`, money over
    the window), ``cost``, ``benefit_cost``, ``harm`` (:func:`plan_harm`, joined; empty when
    the plan harms nothing). For a band Result
    (:mod:`stresstest.band`) the keys are the central estimate's, and each of
    :data:`BAND_KEYS` and ``csr:*`` also comes as ``<key>_low`` and ``<key>_high`` (against the
    same estimate of ``res_none``).
    """
    from .band import estimates_of, is_band, select_estimate

    if not is_band(res):
        return _headline(res, res_none, cost, var)
    out = _headline(select_estimate(res), None if res_none is None
                    else select_estimate(res_none), cost, var)
    for e in estimates_of(res)[1:]:
        none_e = None if res_none is None else (
            select_estimate(res_none, e) if is_band(res_none) else res_none)
        h = _headline(select_estimate(res, e), none_e, cost, var)
        for k, v in h.items():
            if k in BAND_KEYS or k.startswith("csr:"):
                out[f"{k}_{e}"] = v
    return out


def _headline(res, res_none, cost, var) -> dict:
    dyn = _is_dynamic(res)

    def flat(v):
        return float(v.mean("time")) if isinstance(v, xr.DataArray) and dyn else float(v)

    out = {
        "scenario": res.attrs.get("scenario", ""),
        "plan": res.attrs.get("plan", ""),
        "mode": res.attrs.get("mode", ""),
        "output_share": flat(surviving_share(res, "x")),
        "va_share": flat(surviving_share(res, "va")),
        "output_loss": flat(loss(res, "x")),
        "va_loss": flat(loss(res, "va")),
    }
    if "kappa" in res and "imports_remaining" in res:
        out["direct_shock"] = flat(direct_shock(res)["total"])
        out["amplification"] = amplification(res)
    cs = critical_supply(res)
    national = cs["national"].mean("time") if dyn else cs["national"]
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
    if res_none is not None:
        c = plan_cost(res) if cost is None else float(cost)
        out["backup_value"] = backup_value(res, res_none, var)
        out["benefit"] = benefit(res, res_none, var)
        out["cost"] = c
        out["benefit_cost"] = benefit_cost(res, res_none, c, var=var)
        out["harm"] = "; ".join(plan_harm(res, res_none))
    elif cost is not None:
        out["cost"] = float(cost)
    return out
