"""The compiled forms of shock scenarios and backup plans: the contract between the file
formats (:mod:`stresstest.scenario`, :mod:`stresstest.plan`) and the propagation modes.

A **compiled shock** is an :class:`xarray.Dataset` on the economy's labels with a daily
``time`` axis ``0 .. horizon-1`` (days since the scenario starts):

==============  ========================================  ========================================
variable        dims                                      meaning
==============  ========================================  ========================================
``kappa``       region, sector, time                      remaining productive capacity (share)
``alpha_route`` product, route, time                      remaining foreign supply by route
``alpha_M``     product, time                             remaining foreign supply, route-weighted
                                                          by ``import_route_share``
``rho``         region_from, region_to, product, time     remaining interregional trade (share of
                                                          baseline), only if a route event
                                                          exists; read-only when compiled
                                                          (:func:`route_cuts`)
``delta``       region, product, use, time                final-demand multiplier, only if a
                                                          demand event exists
``epsilon``     region, product, time                     remaining foreign demand for exports
                                                          (share of baseline), only if an exports
                                                          event exists
==============  ========================================  ========================================

``attrs``: ``scenario``, ``description``, ``horizon`` (days), ``window_start``/``window_end``
(the shock window ``[start, end)`` in days, which static modes average over), ``events`` (a
JSON event log), ``source`` (file), optionally ``parameters`` (JSON object of mode parameters
from the scenario file; read it with ``attrs.get``). Events compose multiplicatively.

A **compiled plan** is an :class:`xarray.Dataset` (no time axis):

===========================  ==========================  =====================================
variable                     dims                        meaning
===========================  ==========================  =====================================
``standby_capacity``         standby                     extra capacity when fully ramped,
                                                         currency/year (economy units)
``standby_region``,          standby                     where (labels)
``standby_sector``
``standby_lead_time``        standby                     days before activation starts
``standby_ramp``             standby                     days from start to full capacity
``standby_cost``             standby                     annual cost, economy units/year
``stock_amount``             holder, product             stock, economy units (holder = regions
                                                         + ``"national"``)
``stock_max_release``        holder, product             max release, economy units per day
``stock_cost``               holder, product             annual cost
``substitution_headroom``    product                     extra flow allowed on existing links,
                                                         share of the baseline link flow
``substitution_new_links``   product                     share of a buyer's product need that may
                                                         come from links absent at baseline
``substitution_friction``    product                     extra cost share on substituted flows
``substitution_imports``     product                     share of a buyer's lost imports of the
                                                         product that domestic supply may replace
``corridor_extra``           region_from, region_to      extra route capacity, share of baseline
                                                         flow: effective ``rho + extra``
===========================  ==========================  =====================================

``attrs``: ``plan``, ``description``, ``annual_cost``, ``elements`` (JSON, one entry per
element with its resolved selection and cost), ``source``. A stock held by a region serves that
region; a ``national`` stock serves every region.
A plan whose arrays are all zero must give results bit-identical to no plan.
"""

from __future__ import annotations

import json
import weakref

import numpy as np
import xarray as xr

from .economy import ROUTES

NATIONAL = "national"


def no_shock(economy: xr.Dataset, horizon: int = 1, name: str = "no-shock") -> xr.Dataset:
    """The compiled shock in which nothing happens, on ``horizon`` days."""
    if int(horizon) < 1:
        raise ValueError(f"horizon must be >= 1 day, got {horizon}")
    horizon = int(horizon)
    time = np.arange(horizon)
    R, S = economy.sizes["region"], economy.sizes["sector"]
    ds = xr.Dataset(
        {
            "kappa": (("region", "sector", "time"), np.ones((R, S, horizon))),
            "alpha_route": (("product", "route", "time"), np.ones((S, len(ROUTES), horizon))),
            "alpha_M": (("product", "time"), np.ones((S, horizon))),
        },
        coords={"region": economy["region"].values, "sector": economy["sector"].values,
                "product": economy["sector"].values, "route": list(ROUTES), "time": time},
    )
    ds["time"].attrs["units"] = "days since scenario start"
    ds.attrs.update({"scenario": name, "description": "no shock", "horizon": horizon,
                     "window_start": 0, "window_end": horizon, "events": "[]", "source": ""})
    return ds


def window_mean(shock: xr.Dataset, routes=None) -> xr.Dataset:
    """The average day of the shock window ``[window_start, window_end)``: drops ``time``.
    ``rho`` is averaged over the links it cuts only (:func:`route_cuts`); elsewhere it is 1.
    A shock without ``time`` (an average day already) is returned as it is: the static modes
    take either. The same Dataset as ``shock.isel(time=slice(start, end)).mean("time",
    skipna=False)`` with the shock's ``attrs`` and ``rho`` last (tested). ``routes``: see
    :func:`window_mean_variables`."""
    if "time" not in shock.dims:
        return shock
    coords = {k: v for k, v in shock.coords.variables.items() if "time" not in v.dims}
    return xr.Dataset(window_mean_variables(shock, routes), coords=coords,
                      attrs=dict(shock.attrs))


def window_mean_variables(shock: xr.Dataset, routes=None) -> dict:
    """:func:`window_mean`'s data variables, ``{name: xarray.Variable}``, without building a
    Dataset (what the static modes read: a Dataset and its indexes cost more than the means).
    Each numeric time-varying variable is numpy's mean over its window slice (as
    ``Dataset.mean(skipna=False)`` computes it), with its attributes; a non-numeric one is
    left out; variables without ``time`` are kept as they are. ``routes``: ``(cut, rows)``,
    the links a route event cuts (flat indices) and their daily ``ρ`` rows, for a shock
    compiled without its dense ``rho`` (:func:`stresstest.scenario.compile_average_day`):
    its ``rho`` is averaged from them. A shock without ``time``: its data variables."""
    if "time" not in shock.dims:
        return {name: shock.variables[name] for name in shock.data_vars}
    start, end = window_bounds(shock)
    dense = "rho" in shock.data_vars and shock.variables["rho"].dims == ROUTE_DIMS
    if dense and routes is not None:
        raise ValueError("window_mean: routes are for a shock without its dense rho")
    out = {}
    for name in shock.data_vars:
        var = shock.variables[name]
        if dense and name == "rho":
            continue
        if "time" not in var.dims:
            out[name] = var
        elif np.issubdtype(var.dtype, np.number) or var.dtype == np.bool_:
            axis = var.dims.index("time")
            window = (slice(None),) * axis + (slice(start, end),)
            out[name] = xr.Variable(var.dims[:axis] + var.dims[axis + 1:],
                                    np.mean(var.values[window], axis=axis), var.attrs)
    attrs = {}
    if dense:
        attrs = shock.variables["rho"].attrs
        routes = route_rows(shock.variables["rho"].values)
    if routes is not None:  # last, as xarray's mean without it and rho added after
        shape = tuple(shock.sizes[dim] for dim in ROUTE_DIMS[:-1])
        out["rho"] = xr.Variable(ROUTE_DIMS[:-1], route_window_mean(shape, *routes, start, end),
                                 attrs)
    return out


def route_window_mean(shape, cut, rows, start: int, end: int) -> np.ndarray:
    """``rho``'s average day over ``[start, end)`` (``shape``: region_from, region_to,
    product): 1 except on the links ``cut`` (flat indices), whose daily rows ``rows``
    (len(cut), time) are averaged."""
    mean = np.ones(int(np.prod(shape)))
    mean[cut] = rows[:, start:end].mean(axis=1)
    return mean.reshape(shape)


#: Dims of a compiled shock's ``rho``, in the order :func:`compile_scenario` makes them.
ROUTE_DIMS = ("region_from", "region_to", "product", "time")
#: Links of read-only route arrays that differ from 1 on some day, by the array owning the
#: memory: ``{id(owner): {(address, shape, strides): flat link indices}}``, and under
#: ``(address, shape, strides, "rows")`` the :func:`route_rows` of that layout.
_CUTS: dict = {}


def _read_only_owner(arr: np.ndarray):
    """The array owning ``arr``'s memory when ``arr`` and every base up to it are read-only
    (its values can no longer change), else None."""
    a = arr
    while True:
        if a.flags.writeable:
            return None
        if not isinstance(a.base, np.ndarray):
            return a
        a = a.base


def _layout(arr: np.ndarray) -> tuple:
    return arr.__array_interface__["data"][0], arr.shape, arr.strides


def cut_rows(rows: np.ndarray) -> np.ndarray:
    """Which of ``rows`` (links × days) a route event cuts: differ from 1 on some day."""
    return (rows != 1.0).any(axis=1)


def remember_route_cuts(rho: np.ndarray, touched: np.ndarray) -> None:
    """Make ``rho`` (region_from, region_to, product, time) read-only and record its
    :func:`route_cuts`, found among the flat links ``touched`` (those its maker's events
    touched: the other rows are not scanned)."""
    rho.flags.writeable = False
    touched = np.asarray(touched)
    cut = touched[cut_rows(rho.reshape(-1, rho.shape[-1])[touched])]
    _record(_read_only_owner(rho), rho, cut)


def _record(owner, rho, cut):
    entry = _CUTS.get(id(owner))
    if entry is None:
        entry = _CUTS[id(owner)] = {}
        weakref.finalize(owner, _CUTS.pop, id(owner), None)  # before its id can be reused
    entry[_layout(rho)] = cut


def route_cuts(rho: np.ndarray) -> np.ndarray:
    """Flat ``(region_from, region_to, product)`` indices of the links whose remaining share
    differs from 1 on some day (``rho`` (R, R, P, T) numpy; NaN counts as different), in
    increasing order. Most route events cut a few per cent of the links: the static modes
    and the severity path read those rows only. Recorded for read-only arrays (those of
    :func:`stresstest.scenario.compile_scenario`), found by one scan of the others."""
    owner = _read_only_owner(rho)
    if owner is not None:
        hit = _CUTS.get(id(owner), {}).get(_layout(rho))
        if hit is not None:
            return hit
    flat = rho.reshape(-1, rho.shape[-1])
    step = 2048  # blocks that stay in cache: no (R, R, P, T) temporary
    cut = np.concatenate([lo + np.flatnonzero(cut_rows(flat[lo:lo + step]))
                          for lo in range(0, flat.shape[0], step)] or [np.zeros(0, int)])
    if owner is not None:
        _record(owner, rho, cut)
    return cut


def route_rows(rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(cut, rows)``: :func:`route_cuts` and the daily rows of those links ((len(cut), time)),
    which the window mean and the severity path read; kept with the cuts (rows read-only) for
    a read-only ``rho``."""
    owner = _read_only_owner(rho)
    key = _layout(rho) + ("rows",)
    if owner is not None:
        hit = _CUTS.get(id(owner), {}).get(key)
        if hit is not None:
            return hit
    cut = route_cuts(rho)
    rows = rho.reshape(-1, rho.shape[-1])[cut]
    if owner is not None:
        rows.flags.writeable = False
        _CUTS[id(owner)][key] = (cut, rows)  # route_cuts made the entry
    return cut, rows


def window_bounds(shock: xr.Dataset) -> tuple[int, int]:
    """``(start, end)`` of the shock window ``[start, end)``, at least one day."""
    start, end = int(shock.attrs["window_start"]), int(shock.attrs["window_end"])
    return start, max(end, start + 1)


def window_days(shock: xr.Dataset) -> np.ndarray:
    """Day numbers of the shock window."""
    return np.arange(*window_bounds(shock))


def no_plan(economy: xr.Dataset, name: str = "none") -> xr.Dataset:
    """The compiled plan with nothing in it."""
    regions = list(map(str, economy["region"].values))
    products = economy["sector"].values
    H, S = len(regions) + 1, len(products)
    empty = np.zeros(0)
    ds = xr.Dataset(
        {
            "standby_capacity": ("standby", empty),
            "standby_region": ("standby", np.array([], dtype=str)),
            "standby_sector": ("standby", np.array([], dtype=str)),
            "standby_lead_time": ("standby", empty),
            "standby_ramp": ("standby", empty),
            "standby_cost": ("standby", empty),
            "stock_amount": (("holder", "product"), np.zeros((H, S))),
            "stock_max_release": (("holder", "product"), np.zeros((H, S))),
            "stock_cost": (("holder", "product"), np.zeros((H, S))),
            "substitution_headroom": ("product", np.zeros(S)),
            "substitution_new_links": ("product", np.zeros(S)),
            "substitution_friction": ("product", np.zeros(S)),
            "substitution_imports": ("product", np.zeros(S)),
            "corridor_extra": (("region_from", "region_to"), np.zeros((H - 1, H - 1))),
        },
        coords={"holder": regions + [NATIONAL], "product": products,
                "region_from": regions, "region_to": regions},
    )
    ds.attrs.update({"plan": name, "description": "no backups", "annual_cost": 0.0,
                     "elements": json.dumps([]), "source": ""})
    return ds


def standby_availability(plan: xr.Dataset, economy: xr.Dataset, days) -> xr.DataArray:
    """Standby capacity available on each day, ``(region, sector, time)`` in economy units/year.

    Element ``e`` supplies ``capacity_e * clip((t - lead_e) / ramp_e, 0, 1)`` (a step at
    ``lead_e`` when ``ramp_e == 0``).
    """
    R, S = economy.sizes["region"], economy.sizes["sector"]
    days = np.atleast_1d(np.asarray(days, dtype=float))
    return xr.DataArray(standby_by_day(plan, economy, days).reshape(R, S, days.size),
                        dims=("region", "sector", "time"),
                        coords={"region": economy["region"].values,
                                "sector": economy["sector"].values, "time": days})


def standby_by_day(plan: xr.Dataset, economy: xr.Dataset, days) -> np.ndarray:
    """:func:`standby_availability` as a numpy array (industry, day), industries stacked
    region-major."""
    days = np.atleast_1d(np.asarray(days, dtype=float))
    R, S = economy.sizes["region"], economy.sizes["sector"]
    out = np.zeros((R * S, days.size))
    n_el = plan.sizes.get("standby", 0)
    if n_el:
        ridx = {str(r): i for i, r in enumerate(economy["region"].values)}
        sidx = {str(s): i for i, s in enumerate(economy["sector"].values)}
        ind = np.array([ridx[str(r)] * S + sidx[str(s)] for r, s in
                        zip(plan["standby_region"].values, plan["standby_sector"].values)])
        lead = plan["standby_lead_time"].values[:, None]
        ramp = plan["standby_ramp"].values[:, None]
        t = days[None, :]
        share = np.where(ramp > 0, np.clip((t - lead) / np.where(ramp > 0, ramp, 1), 0, 1),
                         (t >= lead).astype(float))
        np.add.at(out, ind, plan["standby_capacity"].values[:, None] * share)
    return out


#: Label dims of compiled shocks and plans and the economy dim each must match.
LABEL_DIMS = {"region": "region", "sector": "sector", "product": "sector",
              "region_from": "region", "region_to": "region"}


def check_labels(ds: xr.Dataset, economy: xr.Dataset, what: str) -> None:
    """Raise :class:`~stresstest.errors.InputError` when a compiled shock or plan ``ds`` is
    labelled differently from ``economy`` (dims of :data:`LABEL_DIMS` it has); ``what``
    starts the message (e.g. ``"scenario"``, ``"rationing: shock 3"``)."""
    from .errors import InputError

    name = ds.attrs.get("scenario", ds.attrs.get("plan", ""))
    for dim, ref in LABEL_DIMS.items():
        if dim not in ds.dims:
            continue
        mine, theirs = ds.indexes.get(dim), economy.indexes.get(ref)
        if mine is not None and theirs is not None and mine.equals(theirs):
            continue  # equal indexes (the usual case): no string lists to build
        if list(map(str, ds[dim].values)) != list(map(str, economy[ref].values)):
            raise InputError(f"{what} {name!r}: {dim} labels do not match the economy's {ref} "
                             f"labels ({list(map(str, ds[dim].values))[:3]}... vs "
                             f"{list(map(str, economy[ref].values))[:3]}...)")


def plan_is_empty(plan: xr.Dataset | None) -> bool:
    """True for ``None`` or a plan whose every quantity is zero."""
    if plan is None:
        return True
    return not any(np.any(plan[v].values != 0) for v in plan.data_vars
                   if plan[v].dtype.kind == "f")
