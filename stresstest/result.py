"""The Result schema shared by every propagation mode (DESIGN.md section 7).

A Result is an :class:`xarray.Dataset` on the economy's labels; money is an annual rate in
the economy's units (a static mode describes the average day of the shock window at an annual
rate; ``dynamic`` adds a ``time`` dim in days):

=======================  ===================================  =================================
variable                 dims                                 meaning
=======================  ===================================  =================================
``x``                    region, sector[, time]               gross output
``va``                   region, sector[, time]               value added ``v * x``
``capacity``             region, sector[, time]               effective capacity (kappa x0 +
                                                              standby; dynamic: times the
                                                              overproduction factor)
``f``                    region, product, source[, time]      final deliveries to the region's
                                                              final users, by source
                                                              (domestic / imported / stock)
``exports``              region, sector[, time]               delivered foreign exports
``csr``                  region, product[, time]              critical supply ratio: delivered
                                                              / baseline essential final use
                                                              (NaN where the baseline is 0)
``binding``              region, sector[, time]               code of the binding constraint
                                                              (see ``BINDING``)
``binding_product``      region, sector[, time]               product of a binding input,
                                                              import or route (-1 if none)
``x_baseline``,          region, sector                       baseline output, value added
``va_baseline``
``f_baseline``           region, product                      baseline final deliveries
``essential_baseline``   region, product                      baseline essential final use
``essential``            region, product[, time]              delivered essential final use
``kappa``                region, sector[, time]               the scenario's remaining capacity
``imports_remaining``,   product[, time], product             the scenario's remaining foreign
``imports_baseline``                                          supply; baseline imports
``exports_remaining``,   region, sector[, time]               the scenario's remaining foreign
``exports_baseline``                                          demand for exports; baseline
                                                              exports
=======================  ===================================  =================================

The ``product`` dim carries the economy's ``critical`` flag as a coordinate.
Modes may add variables (``stock``, ``capacity_value``, ``route_value``, ...). ``attrs``:
``scenario``, ``plan``, ``mode``, ``parameters`` (JSON), ``stresstest_version``, ``economy``,
``units``, ``window_start``/``window_end``, and diagnostics (``iterations``, ``residual``,
``converged``, ``solver_status``).
"""

from __future__ import annotations

import json
import weakref

import numpy as np
import xarray as xr

from ._version import __version__
from .compiled import ROUTE_DIMS, route_rows
from .economy import Derived, cached, derive, stack

SOURCES = ("domestic", "imported", "stock")

#: Codes of the ``binding`` variable.
BINDING = {"none": 0, "demand": 1, "capacity": 2, "input": 3, "import": 4, "route": 5}


def _baseline_final_use(economy: xr.Dataset, d: Derived | None = None):
    """Baseline final use ``(region, product)`` arrays: essential, domestic, imported."""
    d = d if d is not None else derive(economy)
    R, S = d.n_region, d.n_sector
    cons = economy["consumption"].values.astype(bool)
    dom = d.Ydest.reshape(R, S, R, -1).sum(axis=0)  # (product, region, use)
    ess = ((dom[..., cons].sum(axis=2) + d.MY[..., cons].sum(axis=2))
           * economy["essential_share"].values[:, None])
    return ess.T, dom.sum(axis=2).T, d.MY.sum(axis=2).T


def essential_baseline(economy: xr.Dataset) -> xr.DataArray:
    """Baseline essential final use ``(region, product)``: ``essential_share[p]`` times
    households' and government's use of ``p`` in the region, domestic and imported."""
    return xr.DataArray(_baseline_final_use(economy)[0], dims=("region", "product"),
                        coords={"region": economy["region"].values,
                                "product": economy["sector"].values})


def final_baseline(economy: xr.Dataset) -> xr.DataArray:
    """Baseline final deliveries ``(region, product, source)`` (stock is zero)."""
    _, dom, imp = _baseline_final_use(economy)
    return xr.DataArray(np.stack([dom, imp, np.zeros_like(dom)], axis=2),
                        dims=("region", "product", "source"),
                        coords={"region": economy["region"].values,
                                "product": economy["sector"].values, "source": list(SOURCES)})


def essential_delivered(essential_share, consumption_desired, consumption_delivered,
                        stock_release, rule: str = "proportional"):
    """Delivered essential final use (pure, numpy broadcasting).

    ``proportional``: essentials are cut in the same proportion as all consumption,
    ``e * C_del``; ``essential_first``: non-essential use is cut first, ``min(e * C_des,
    C_del)``. Stock release then tops up, never beyond the essential demand ``e * C_des``.
    """
    e = np.asarray(essential_share, dtype=float)
    wanted = e * consumption_desired
    if rule == "proportional":
        base = e * consumption_delivered
    elif rule == "essential_first":
        base = np.minimum(wanted, consumption_delivered)
    else:
        raise ValueError(f"final-use rule must be 'proportional' or 'essential_first', got {rule!r}")
    return np.minimum(base + stock_release, np.maximum(wanted, base))


#: ``long_name`` of every variable a mode may put in a Result (netCDF/CF attribute).
LONG_NAMES = {
    "x": "gross output", "va": "value added", "capacity": "effective capacity",
    "f": "final deliveries to the region's final users by source",
    "exports": "delivered foreign exports",
    "csr": "critical supply ratio (delivered / baseline essential final use)",
    "essential": "delivered essential final use",
    "binding": "binding constraint of the industry",
    "binding_product": "product of the binding input, import or route (-1: none)",
    "x_baseline": "baseline gross output", "va_baseline": "baseline value added",
    "f_baseline": "baseline final deliveries", "essential_baseline": "baseline essential final use",
    "kappa": "remaining capacity share (scenario)",
    "imports_remaining": "remaining foreign supply share (scenario)",
    "imports_baseline": "baseline imports (intermediate and final)",
    "exports_remaining": "remaining foreign demand for exports (scenario)",
    "exports_baseline": "baseline exports",
    "severity": ("direct shock of the scenario on each day of its horizon: capacity lost, "
                 "imports and exports cut, interregional deliveries cut and final demand "
                 "changed (money per year; the basis of the event extrapolation of static "
                 "modes)"),
    "stock_release": "release from strategic stockpiles",
    "substitution_cost": "extra cost of substituted deliveries",
    "demand": "orders received", "input_ratio": "share of orders the inputs allow",
    "import_availability": "foreign supply available / ordered",
    "stock": "strategic stock held", "capacity_value": "marginal value of capacity (LP dual)",
    "route_value": "marginal value of route capacity (LP dual)",
}
#: Variables in money per year (economy units; ``units`` attribute ``"<units> per year"``).
MONEY = ("x", "va", "capacity", "f", "exports", "essential", "x_baseline", "va_baseline",
         "f_baseline", "essential_baseline", "imports_baseline", "exports_baseline", "severity")
#: Dimensionless variables (``units = "1"``).
SHARES = ("csr", "kappa", "imports_remaining", "exports_remaining", "input_ratio",
          "import_availability")


def _pretty(label) -> str:
    label = str(label)
    return label.replace("_", " ").replace("-", " ").title() if label.islower() else label


_FLOWS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _interregional_flows(economy: xr.Dataset, d: Derived) -> np.ndarray:
    """Baseline deliveries ``(from, to, product)`` (intermediate and final), cached per
    economy."""
    flows = _FLOWS.get(d)
    if flows is None:
        flows = _FLOWS[d] = np.ascontiguousarray(
            (economy["Z"].sum("sector") + economy["Y"].sum("use")).transpose(
                "origin", "region", "product").values)
    return flows


def severity_path(economy: xr.Dataset, shock: xr.Dataset, d: Derived | None = None,
                  routes=None):
    """The scenario's direct shock on each day of its horizon, money per year (numpy array over
    ``t = 0 .. horizon-1``), or ``None`` when ``shock`` has no daily profiles:

    ``Σ x0 (1 − κ)⁺ + Σ_p M0_p (1 − α_M)⁺ + Σ ex0 (1 − ε)⁺ + Σ flow0 (1 − ρ)⁺ + Σ Y0 |1 − δ|``

    (capacity lost, foreign supply cut, foreign demand for exports cut, interregional
    deliveries cut, final demand changed). Plans do not change it. Static modes scale the
    average day of their window to the whole event with it
    (:func:`stresstest.metrics.event_factor`). ``routes``: ``(cut, rows)``, the links a route
    event cuts (flat indices) and their daily ``ρ`` rows, for a shock compiled without its
    dense ``rho`` (:func:`stresstest.scenario.compile_average_day`)."""
    if not isinstance(shock, xr.Dataset) or "kappa" not in shock or "time" not in shock.dims:
        return None
    var = shock.variables  # no DataArray (and its coordinates) built per read
    if tuple(var["kappa"].dims) != ("region", "sector", "time"):
        return None
    d = d if d is not None else derive(economy)
    R, S = d.n_region, d.n_sector
    x0 = d.x.reshape(R, S, 1)
    sev = (x0 * np.maximum(0.0, 1.0 - var["kappa"].values)).sum(axis=(0, 1))
    if "alpha_M" in shock:
        m0 = (d.AM @ d.x + d.MY.sum(axis=(1, 2)))[:, None]
        sev = sev + (m0 * np.maximum(0.0, 1.0 - var["alpha_M"].values)).sum(axis=0)
    if "epsilon" in shock:
        ex0 = d.exports.reshape(R, S, 1)
        sev = sev + (ex0 * np.maximum(0.0, 1.0 - var["epsilon"].values)).sum(axis=(0, 1))
    if "rho" in shock:
        # only the links cut on some day (a few per cent of them)
        routes = route_rows(var["rho"].transpose(*ROUTE_DIMS).values)
    if routes is not None:
        cut, rows = routes
        sev = sev + _interregional_flows(economy, d).reshape(-1)[cut] @ np.maximum(
            0.0, 1.0 - rows)
    if "delta" in shock:
        y = cached(economy, "final_use_rpu", lambda: (
            economy["Y"].sum("origin") + economy["MY"]).transpose(
                "region", "product", "use").values)
        delta = var["delta"].transpose("region", "product", "use", "time").values
        sev = sev + np.einsum("rpu,rput->t", y, np.abs(1.0 - delta))
    return np.asarray(sev, dtype=float)


def _result_coordinates(economy: xr.Dataset, axis: str, time, days, more_coords: dict):
    """A Result's coordinates — labels, ``source``, the trailing ``axis`` labelled by ``time``
    (or none), ``critical``, display names and groups, ``day`` (``0 .. days-1``, or none),
    ``more_coords`` — as one :class:`xarray.Coordinates` with its indexes, kept per economy
    for the last few label sets (building the indexes cost more than the rest of a Result)."""
    labels = None if time is None else np.asarray(time)
    key = (axis, None if labels is None else (labels.dtype.str, tuple(labels.tolist())), days,
           tuple((k, tuple(np.asarray(v).tolist())) for k, v in more_coords.items()))
    kept = cached(economy, "result_coordinates", dict)
    hit = kept.get(key)
    if hit is not None:
        return hit
    coords = {"region": economy["region"].values, "sector": economy["sector"].values,
              "product": economy["sector"].values, "source": list(SOURCES)}
    if labels is not None:
        coords[axis] = labels.copy()  # kept: not the caller's array
    coords["critical"] = ("product", _read_only(economy["critical"].values.astype(bool)))
    # display names and groups travel with the Result (region and sector coordinates)
    for dim in ("region", "sector"):
        coords.update({k: (dim, v.values) for k, v in economy.coords.variables.items()
                       if v.dims == (dim,) and k != dim and k not in coords})
    if "region_name" not in coords:
        coords["region_name"] = ("region", [_pretty(r) for r in economy["region"].values])
    if "sector_name" not in coords:
        coords["sector_name"] = ("sector", [_pretty(s) for s in economy["sector"].values])
    coords["product_name"] = ("product", np.asarray(coords["sector_name"][1]))
    if "sector_name_zh" in coords:
        coords["product_name_zh"] = ("product", np.asarray(coords["sector_name_zh"][1]))
    if days is not None:
        coords["day"] = _read_only(np.arange(days))
    coords.update(more_coords)
    out = kept[key] = xr.Coordinates(coords)
    while len(kept) > _COORDINATES_KEPT:
        del kept[next(iter(kept))]
    return out


def _read_only(arr: np.ndarray) -> np.ndarray:
    """``arr``, made read-only (coordinates that Results share)."""
    arr.flags.writeable = False
    return arr


#: How many label sets :func:`_result_coordinates` keeps per economy.
_COORDINATES_KEPT = 8


def make_result(
    economy: xr.Dataset,
    *,
    mode: str,
    shock: xr.Dataset,
    plan: xr.Dataset | None,
    x: np.ndarray,
    capacity: np.ndarray,
    f: np.ndarray,
    exports: np.ndarray,
    essential: np.ndarray,
    binding: np.ndarray,
    binding_product: np.ndarray | None = None,
    time: np.ndarray | None = None,
    parameters: dict | None = None,
    diagnostics: dict | None = None,
    extra: dict | None = None,
    derived: Derived | None = None,
    kappa: np.ndarray | None = None,
    imports_remaining: np.ndarray | None = None,
    exports_remaining: np.ndarray | None = None,
    va_deduction: np.ndarray | None = None,
    more_coords: dict | None = None,
    axis: str = "time",
) -> xr.Dataset:
    """Assemble a Result from numpy arrays on the stacked industry axis.

    Shapes (``n`` industries, ``R`` regions, ``P`` products, optional trailing ``T`` days when
    ``time`` is given): ``x, capacity, exports, binding, binding_product``: (n[, T]);
    ``f``: (R, P, 3[, T]) by :data:`SOURCES`; ``essential``: (R, P[, T]). ``extra`` maps names
    to ready DataArrays (or ``(dims, values)`` tuples). ``kappa`` (n[, T]) and
    ``imports_remaining`` (P[, T]): the scenario's remaining capacity and foreign supply (the
    direct shock, before any plan), kept for :func:`stresstest.metrics.direct_shock`;
    ``exports_remaining`` (n[, T]) the remaining foreign demand for exports (default 1).
    ``va_deduction`` (n[, T]): costs subtracted from value added (friction on substituted
    inputs); ``more_coords``: further coordinates (e.g. ``holder``); ``axis``: the name of the
    trailing dim, whose labels ``time`` gives (``"scenario"`` for a batch of static runs).
    """
    d = derived if derived is not None else derive(economy)
    R, S = d.n_region, d.n_sector
    tdims: tuple = () if time is None else (axis,)
    tshape: tuple = () if time is None else (len(time),)

    def ind(values, dtype=float):
        return (("region", "sector") + tdims,
                np.asarray(values, dtype=dtype).reshape((R, S) + tshape))

    v = d.v.reshape((R, S) + (1,) * len(tshape))
    x_arr = np.asarray(x, dtype=float).reshape((R, S) + tshape)
    eb, f_dom0, f_imp0 = _baseline_final_use(economy, d)
    ess = np.asarray(essential, dtype=float).reshape((R, S) + tshape)
    eb_b = eb.reshape((R, S) + (1,) * len(tshape))
    with np.errstate(divide="ignore", invalid="ignore"):
        csr = np.where(eb_b > 0, ess / np.where(eb_b > 0, eb_b, 1.0), np.nan)
    if binding_product is None:
        binding_product = np.full(np.shape(binding), -1)
    data = {
        "x": ind(x_arr),
        "va": ind(x_arr * v if va_deduction is None else
                  x_arr * v - np.asarray(va_deduction, dtype=float).reshape((R, S) + tshape)),
        "capacity": ind(capacity),
        "f": (("region", "product", "source") + tdims,
              np.asarray(f, dtype=float).reshape((R, S, len(SOURCES)) + tshape)),
        "exports": ind(exports),
        "csr": (("region", "product") + tdims, csr),
        "essential": (("region", "product") + tdims, ess),
        "binding": ind(binding, dtype=np.int8),
        "binding_product": ind(binding_product, dtype=np.int16),
        "x_baseline": (("region", "sector"), d.x.reshape(R, S)),
        "va_baseline": (("region", "sector"), (d.x * d.v).reshape(R, S)),
        "f_baseline": (("region", "product"), f_dom0 + f_imp0),
        "essential_baseline": (("region", "product"), eb),
    }
    if kappa is not None:
        data["kappa"] = ind(kappa)
    if imports_remaining is not None or exports_remaining is not None:
        data["exports_remaining"] = ind(np.broadcast_to(
            1.0 if exports_remaining is None else exports_remaining, (d.n,) + tshape))
        data["exports_baseline"] = (("region", "sector"), d.exports.reshape(R, S))
    if imports_remaining is not None:
        data["imports_remaining"] = (("product",) + tdims,
                                     np.asarray(imports_remaining, dtype=float).reshape(
                                         (S,) + tshape))
        data["imports_baseline"] = ("product", d.AM @ d.x + d.MY.sum(axis=(1, 2)))
    data.update(extra or {})
    days = None
    if time is None or mode == "dynamic":  # a batch's trailing dim holds scenarios: no path
        sev = severity_path(economy, shock, d)
        if sev is not None:
            data["severity"] = ("day", sev)
            days = sev.size
    # one Dataset constructor (incremental assign_coords / __setitem__ cost ~40 ms a Result)
    coords = _result_coordinates(economy, axis, time, days, more_coords or {})
    res = xr.Dataset(data, coords=coords)
    res["binding"].attrs.update({"flag_values": list(BINDING.values()),
                                 "flag_meanings": " ".join(BINDING)})
    res["binding_product"].attrs.update({
        "flag_values": list(range(-1, S)),
        "flag_meanings": " ".join(["none"] + [str(p) for p in economy["sector"].values])})
    units = economy.attrs.get("units", "")
    var = res.variables  # attrs set on the variables (no DataArray built per name)
    for name, text in LONG_NAMES.items():
        if name in var:
            var[name].attrs["long_name"] = text
    for name in MONEY:
        if name in var:
            var[name].attrs["units"] = f"{units} per year"
    for name in SHARES:
        if name in var:
            var[name].attrs["units"] = "1"
    for name in ("binding", "binding_product"):
        var[name].attrs.pop("units", None)
    if time is not None and axis == "time":
        var["time"].attrs["units"] = "days since scenario start"
    res.attrs.update({
        "scenario": str(shock.attrs.get("scenario", "")),
        "plan": str((plan.attrs.get("plan", "none") if plan is not None else "none")),
        "mode": mode,
        "parameters": json.dumps(parameters or {}, sort_keys=True, default=str),
        "stresstest_version": __version__,
        "economy": str(economy.attrs.get("title", "")),
        "units": units,
        "window_start": int(shock.attrs.get("window_start", 0)),
        "window_end": int(shock.attrs.get("window_end", 1)),
    })
    for k, val in (diagnostics or {}).items():
        res.attrs[k] = val if isinstance(val, (int, float, str)) else json.dumps(val, default=str)
    return res


def industry_vector(da: xr.DataArray) -> np.ndarray:
    """A ``(region, sector[, ...])`` DataArray as a stacked numpy array."""
    return stack(da)
