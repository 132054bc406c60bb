"""Regionalisation kernels: distances, gravity trade, bounded IPF/RAS (arrays in, arrays out).

Used by ``scripts/build_china31.py`` to build the default economy from national and provincial
statistics (method in ``docs/china31.md``). :func:`reweight_trade` redoes the interprovincial
trade of a built economy for other gravity parameters from what the economy holds, and
:func:`trade_summary` measures it. No file I/O here; every function validates its
arguments and raises :class:`~stresstest.errors.InputError` naming the bad argument, or
:class:`~stresstest.errors.ConvergenceError` when a balancing problem has no solution.
"""

from __future__ import annotations

import numpy as np

from .errors import ConvergenceError, InputError

EARTH_RADIUS_KM = 6371.0088


def _finite(name: str, a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if not np.isfinite(a).all():
        raise InputError(f"{name}: contains NaN or infinite values")
    return a


def great_circle_km(lon, lat) -> np.ndarray:
    """Great-circle distances (km) between all pairs of points, ``(R, R)``, haversine formula.

    ``lon``, ``lat`` in degrees, shape ``(R,)``; the diagonal is 0.
    """
    lon = _finite("lon", lon)
    lat = _finite("lat", lat)
    if lon.shape != lat.shape or lon.ndim != 1:
        raise InputError(f"lon and lat must be 1-D of equal length, got {lon.shape} and {lat.shape}")
    if (np.abs(lat) > 90).any() or (np.abs(lon) > 360).any():
        raise InputError("lat must lie in [-90, 90] and lon in [-360, 360] degrees")
    la, lo = np.radians(lat), np.radians(lon)
    dlat = la[:, None] - la[None, :]
    dlon = lo[:, None] - lo[None, :]
    h = np.sin(dlat / 2) ** 2 + np.cos(la)[:, None] * np.cos(la)[None, :] * np.sin(dlon / 2) ** 2
    d = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
    np.fill_diagonal(d, 0.0)
    return 0.5 * (d + d.T)


def internal_distance_km(area_km2, factor: float = 2.0 / 3.0) -> np.ndarray:
    """Intra-region distance ``factor * sqrt(area / pi)`` (km).

    With ``factor = 2/3`` this is the mean distance from the centre of a disc of the region's area
    to its points (Head & Mayer 2002).
    """
    area = _finite("area_km2", area_km2)
    if (area <= 0).any():
        raise InputError(f"area_km2 must be positive, got minimum {area.min():g}")
    if not factor > 0:
        raise InputError(f"internal distance factor must be positive, got {factor!r}")
    return factor * np.sqrt(area / np.pi)


def distance_matrix(lon, lat, area_km2, factor: float = 2.0 / 3.0) -> np.ndarray:
    """Great-circle distances between capitals with :func:`internal_distance_km` on the diagonal."""
    d = great_circle_km(lon, lat)
    intra = internal_distance_km(area_km2, factor)
    if intra.shape != (d.shape[0],):
        raise InputError(f"area_km2 has shape {intra.shape}, expected ({d.shape[0]},)")
    d[np.diag_indices_from(d)] = intra
    return d


def distance_decay(distance, gamma: float) -> np.ndarray:
    """Gravity impedance ``distance ** -gamma`` (``distance`` in km, all entries > 0)."""
    d = _finite("distance", distance)
    if (d <= 0).any():
        raise InputError("distance: every entry (incl. the diagonal) must be positive")
    if not np.isfinite(gamma) or gamma < 0:
        raise InputError(f"gamma must be a finite number >= 0, got {gamma!r}")
    return d ** (-float(gamma))


def _check_margins(seed, rows, cols, upper, tol):
    seed = _finite("seed", seed)
    rows = _finite("row_targets", rows)
    cols = _finite("col_targets", cols)
    if seed.ndim < 2:
        raise InputError(f"seed must be at least 2-D, got shape {seed.shape}")
    if rows.shape != seed.shape[:-1] or cols.shape != seed.shape[:-2] + seed.shape[-1:]:
        raise InputError(f"margin shapes {rows.shape} and {cols.shape} do not fit seed {seed.shape}")
    for name, a in (("seed", seed), ("row_targets", rows), ("col_targets", cols)):
        if (a < 0).any():
            idx = np.unravel_index(int(np.argmin(a)), a.shape)
            raise InputError(f"{name} must be non-negative; {name}{list(idx)} = {a[idx]:g}")
    rs, cs = rows.sum(axis=-1), cols.sum(axis=-1)
    gap = np.abs(rs - cs) / np.maximum(np.maximum(rs, cs), 1e-300)
    if (gap > tol).any():
        k = np.unravel_index(int(np.argmax(gap)), gap.shape)
        raise InputError(f"row and column targets must have the same total; batch {list(k)}: "
                         f"{rs[k]:.17g} vs {cs[k]:.17g} (relative gap {gap[k]:.3g})")
    if upper is not None:
        upper = np.broadcast_to(np.asarray(upper, dtype=np.float64), seed.shape)
        if np.isnan(upper).any() or (upper < 0).any():
            raise InputError("upper bounds must be non-negative (inf allowed)")
    return seed, rows, cols, upper


def _scale_to(w, U, target):
    """Factor ``a`` along the last axis with ``sum(min(U, a*w)) = target`` (exact, Newton).

    ``sum(min(U, a w))`` is concave and piecewise linear in ``a``; Newton steps reach the root in
    at most one step per breakpoint.
    """
    total_w = w.sum(axis=-1)
    a = np.divide(target, total_w, out=np.zeros_like(target), where=total_w > 0)
    if U is None:
        return a
    for _ in range(10 * w.shape[-1] + 10):
        aw = a[..., None] * w
        free = aw < U
        g_free = np.where(free, w, 0.0).sum(axis=-1)
        fixed = np.where(free, 0.0, U).sum(axis=-1)
        new = np.divide(target - fixed, g_free, out=a.copy(), where=g_free > 0)
        new = np.maximum(new, 0.0)
        if np.array_equal(new, a):
            break
        a = new
    return a


def ipf(seed, row_targets, col_targets, upper=None, *, tol: float = 1e-12,
        max_iter: int = 20000, total_tol: float = 1e-9) -> np.ndarray:
    """Iterative proportional fitting (RAS) of ``seed`` to row and column sums.

    Returns ``X`` with ``X = min(upper, diag(a) seed diag(b))`` (``upper`` optional, a bound per
    cell), ``X.sum(-1) = row_targets`` and ``X.sum(-2) = col_targets`` to ``tol`` relative to
    each margin's total. Leading axes are a batch: ``seed (..., m, n)``, ``row_targets (..., m)``,
    ``col_targets (..., n)``. Row and column targets must have equal totals per batch to
    ``total_tol`` (relative); the column targets are rescaled by the tiny remaining gap.

    Raises :class:`InputError` for negative or mismatched inputs and :class:`ConvergenceError`
    when the margins cannot be reached (e.g. a positive target on an all-zero seed line, or
    bounds too tight).
    """
    seed, rows, cols, U = _check_margins(seed, row_targets, col_targets, upper, total_tol)
    rs, cs = rows.sum(axis=-1), cols.sum(axis=-1)
    cols = cols * np.divide(rs, cs, out=np.ones_like(rs), where=cs > 0)[..., None]
    for name, t, s in (("row", rows, seed.sum(-1)), ("column", cols, seed.sum(-2))):
        bad = (t > 0) & (s <= 0)
        if bad.any():
            k = np.argwhere(bad)[0]
            raise ConvergenceError(f"IPF: {name} {list(k)} has target {t[tuple(k)]:g} but an "
                                   "all-zero seed")
    if U is not None:
        for name, t, s in (("row", rows, U.sum(-1)), ("column", cols, U.sum(-2))):
            bad = t > s * (1 + 1e-12)
            if bad.any():
                k = np.argwhere(bad)[0]
                raise ConvergenceError(f"IPF: {name} {list(k)} target {t[tuple(k)]:g} exceeds the "
                                       f"sum of its upper bounds {s[tuple(k)]:g}")
    scale = np.maximum(rs, 1e-300)[..., None]
    a = np.ones(rows.shape)
    b = np.ones(cols.shape)
    UT = None if U is None else np.swapaxes(U, -1, -2)
    seedT = np.swapaxes(seed, -1, -2)
    err = np.inf
    for _ in range(max_iter):
        a = _scale_to(seed * b[..., None, :], U, rows)
        b = _scale_to(seedT * a[..., None, :], UT, cols)
        X = a[..., :, None] * seed * b[..., None, :]
        if U is not None:
            X = np.minimum(X, U)
        err = float((np.abs(X.sum(-1) - rows) / scale).max(initial=0.0))
        if err <= tol:
            return X
    raise ConvergenceError(f"IPF did not reach tol={tol:g} in {max_iter} iterations "
                           f"(worst relative row residual {err:.3g}); the margins may be "
                           "infeasible under the bounds")


def gravity_flows(supply, demand, impedance, home_share=None, *, tol: float = 1e-12,
                  total_tol: float = 1e-9) -> np.ndarray:
    """Doubly-constrained gravity flows per product, ``T[p, o, d]``.

    ``T[p, o, d] = H[p, o, d] + a[p, o] b[p, d] S[p, o] D[p, d] K[o, d]`` with row sums ``S``
    (``supply (P, R)``) and column sums ``D`` (``demand (P, R)``); ``K = impedance (R, R)``
    (e.g. :func:`distance_decay`). ``home_share (P,)`` in ``[0, 1)`` is home bias: the
    in-region part ``H[p, r, r] = home_share[p] * min(S[p, r], D[p, r])`` is served first and
    the gravity model allocates the rest. Balanced by :func:`ipf` over all products at once.
    """
    S = _finite("supply", supply)
    D = _finite("demand", demand)
    K = _finite("impedance", impedance)
    if S.ndim != 2 or S.shape != D.shape or K.shape != (S.shape[1], S.shape[1]):
        raise InputError(f"supply {S.shape}, demand {D.shape} and impedance {K.shape} must be "
                         "(P, R), (P, R) and (R, R)")
    if (K < 0).any():
        raise InputError("impedance must be non-negative")
    for name, a in (("supply", S), ("demand", D)):
        if (a < 0).any():
            p, r = np.unravel_index(int(np.argmin(a)), a.shape)
            raise InputError(f"{name} pool must be non-negative; {name}[{p}, {r}] = {a[p, r]:g}")
    h = np.zeros(S.shape[0]) if home_share is None else _finite("home_share", home_share)
    if h.shape != (S.shape[0],) or (h < 0).any() or (h >= 1).any():
        raise InputError(f"home_share must have shape ({S.shape[0]},) with values in [0, 1)")
    local = h[:, None] * np.minimum(S, D)
    S2, D2 = S - local, D - local
    seed = S2[:, :, None] * D2[:, None, :] * K[None, :, :]
    T = ipf(seed, S2, D2, tol=tol, total_tol=total_tol)
    idx = np.arange(S.shape[1])
    T[:, idx, idx] += local
    return T


def origin_shares(T) -> np.ndarray:
    """Sourcing shares ``T[p, o, d] / sum_o T[p, o, d]`` (0 where a destination buys nothing)."""
    T = _finite("T", T)
    tot = T.sum(axis=-2, keepdims=True)
    return np.divide(T, tot, out=np.zeros_like(T), where=tot > 0)


# --------------------------------------------------------------------------- trade of an economy


def supply_pool(x, exports) -> np.ndarray:
    """Supply pool per product and origin ``(P, R)``: output not exported, ``x - exports``.

    ``x``, ``exports`` are ``(R, S)`` (symmetric tables: product = sector). Cells below
    ``1e-12`` of the cell's output are rounding noise of the export fit and count as 0.
    """
    x = _finite("x", x)
    exports = _finite("exports", exports)
    supply = (x - exports).T.copy()
    supply[supply < 1e-12 * np.maximum(x.T, 1e-300)] = 0.0
    return supply


def interprovincial_trade(supply, demand, domestic_intermediate, domestic_final, lon, lat,
                          area_km2, tradable, gamma: float, home_share: float,
                          internal_factor: float, *, tol: float = 1e-12):
    """Gravity trade of every product and the flows it implies (the kernel of the build).

    ``supply``, ``demand`` ``(P, R)`` pools; ``domestic_intermediate`` ``(P, R, S)`` and
    ``domestic_final`` ``(P, R, U)`` the domestic use of each product by destination region
    (whatever its origin); ``lon``, ``lat``, ``area_km2`` ``(R,)``; ``tradable`` ``(P,)``
    bool: non-tradables get the home bias ``home_share``. Returns ``(T, Z, Y)``: the flows
    ``T[p, o, d]`` and ``Z[o, p, d, s] = T[p, o, d] / D[p, d] * domestic_intermediate[p, d, s]``,
    likewise ``Y[o, p, d, u]``.
    """
    tradable = np.asarray(tradable, dtype=bool)
    dist = distance_matrix(lon, lat, area_km2, internal_factor)
    K = distance_decay(dist, gamma)
    if not (0.0 <= float(home_share) < 1.0):
        raise InputError(f"home_share must lie in [0, 1), got {home_share!r}")
    home = np.where(tradable, 0.0, float(home_share))
    D = _finite("demand", demand)
    use = (np.abs(_finite("domestic_intermediate", domestic_intermediate)).sum(axis=2)
           + np.abs(_finite("domestic_final", domestic_final)).sum(axis=2))
    orphan = (D <= 0) & (use > 0)
    if orphan.any():
        p, r = np.argwhere(orphan)[0]
        raise InputError(f"product {p} in region {r} is used but its domestic demand pool is "
                         f"{D[p, r]:g} (uses cancel out); flows cannot be allocated to origins")
    T = gravity_flows(supply, D, K, home, tol=tol)
    sh = origin_shares(T)  # (P, O, R)
    Z = np.einsum("por,prs->oprs", sh, domestic_intermediate)
    Y = np.einsum("por,pru->opru", sh, domestic_final)
    return T, Z, Y


def _param(ds, value, key, name):
    if value is not None:
        return float(value)
    if key not in ds.attrs:
        raise InputError(f"{name} not given and the economy has no attrs[{key!r}] to default to")
    return float(ds.attrs[key])


#: Prefixes of the attrs in which a build reports its calibration (``scripts/build_china31.py``);
#: :func:`reweight_trade` drops them since they no longer describe the table.
CALIBRATION_ATTRS = ("fit_", "check_", "calibration_", "objective_")


def reweight_trade(economy, gamma: float | None = None, home_share: float | None = None,
                   internal_factor: float | None = None, *, area_km2=None,
                   validate: bool = True, summary: bool = True):
    """Re-derive the interprovincial trade of a built economy for other gravity parameters.

    Everything comes from the economy itself: per product, the supply pool of each origin
    (``x - exports``) and the domestic use of each destination (``Z`` and ``Y`` summed over
    origins, by using sector and final use), region coordinates ``lon``, ``lat`` and
    ``area_km2`` (``area_km2=`` overrides or supplies areas the economy lacks), the sector
    coordinate ``tradable`` and, for parameters left at ``None``, the build's
    ``attrs["gamma"]``, ``attrs["nontradable_home_share"]`` and
    ``attrs["internal_distance_factor"]``. The doubly-constrained gravity model of the build
    (:func:`interprovincial_trade`) then re-allocates each destination's use over origins.

    Only ``Z`` and ``Y`` change, and only in who supplies whom: every industry's output, inputs,
    imports, value added and exports stay as they are, so row and column identities hold (to
    the IPF tolerance, 1e-12 of each product's total) and national totals per product and use
    are unchanged. With the build's parameters it reproduces the built economy (to ~1e-12).
    Returns a new validated Dataset (``validate_economy(rtol=1e-9)``) whose attrs record the
    parameters and, if ``summary``, the recomputed trade statistics (:func:`trade_summary`);
    the build's calibration report (attrs starting with :data:`CALIBRATION_ATTRS`) is dropped.
    About a second for china31.
    """
    import xarray as xr

    from .economy import DIMS, validate_economy

    ds = economy
    if not isinstance(ds, xr.Dataset):
        raise InputError(f"economy must be an xarray.Dataset, got {type(ds).__name__}")
    gamma = _param(ds, gamma, "gamma", "gamma")
    home_share = _param(ds, home_share, "nontradable_home_share", "home_share")
    internal_factor = _param(ds, internal_factor, "internal_distance_factor", "internal_factor")
    if area_km2 is None:
        if "area_km2" not in ds.coords:
            raise InputError("the economy has no region coordinate 'area_km2'; pass area_km2=")
        area_km2 = ds["area_km2"].values
    area_km2 = _finite("area_km2", area_km2)
    R = ds.sizes["region"]
    if area_km2.shape != (R,):
        raise InputError(f"area_km2 must have one value per region ({R}), got {area_km2.shape}")
    if "tradable" not in ds.coords:
        raise InputError("the economy has no sector coordinate 'tradable'")
    Z = ds["Z"].transpose(*DIMS["Z"]).values
    Y = ds["Y"].transpose(*DIMS["Y"]).values
    x = ds["x"].transpose("region", "sector").values
    exports = ds["exports"].transpose("region", "sector").values
    Zin = Z.sum(axis=0)  # (P, R, S)
    Yd = Y.sum(axis=0)  # (P, R, U)
    demand = Zin.sum(axis=2) + Yd.sum(axis=2)
    _, Znew, Ynew = interprovincial_trade(
        supply_pool(x, exports), demand, Zin, Yd, ds["lon"].values, ds["lat"].values,
        area_km2, ds["tradable"].values, gamma, home_share, internal_factor)
    out = ds.copy()
    out["Z"] = (DIMS["Z"], Znew, ds["Z"].attrs)
    out["Y"] = (DIMS["Y"], Ynew, ds["Y"].attrs)
    out = out.assign_coords(area_km2=("region", area_km2))
    # a build's calibration report describes the build's parameters, not these
    out.attrs = {k: v for k, v in out.attrs.items() if not k.startswith(CALIBRATION_ATTRS)}
    out.attrs.update({"gamma": gamma, "nontradable_home_share": home_share,
                      "internal_distance_factor": internal_factor,
                      "internal_distance_rule": f"{internal_factor:.6g} * sqrt(area_km2 / pi)"})
    if summary:
        out.attrs.update(trade_summary(out))
    if validate:
        validate_economy(out, rtol=1e-9)
    return out


def trade_summary(economy) -> dict:
    """Interprovincial trade statistics of an economy (floats, for attrs and the fit).

    ``interprovincial_trade`` (off-diagonal flows of ``Z`` and ``Y``, each flow counted once),
    ``international_trade`` (exports + imports), their ratio
    ``interprovincial_to_international``, ``interprovincial_share_of_domestic_sales``, the
    in-province shares of tradable and non-tradable sales, and the mean over regions of the
    shares of each region's value added induced by final demand in the region itself, in
    the other regions and abroad (``va_share_own_region_mean``,
    ``va_share_other_regions_mean``, ``va_share_foreign_mean``; Leontief decomposition
    ``v ∘ (I - A)^-1 f`` by the location of final demand ``f``, exports abroad), the
    interprovincial trade relative to value added (``interprovincial_trade_to_va``) and the
    means over regions of ``(outflow + inflow) / VA`` and ``(exports + imports) / VA``
    (``interprovincial_dependence_mean``, ``international_dependence_mean``).
    """
    from .economy import DIMS, derive

    ds = economy
    R = ds.sizes["region"]
    Z = ds["Z"].transpose(*DIMS["Z"]).values
    Y = ds["Y"].transpose(*DIMS["Y"]).values
    T = Z.sum(axis=3) + Y.sum(axis=3)  # (O, P, D)
    flows = T.sum(axis=1)
    off = ~np.eye(R, dtype=bool)
    inter = float(flows[off].sum())
    intl = float(ds["exports"].sum() + ds["M"].sum() + ds["MY"].sum())
    tradable = ds["tradable"].values.astype(bool) if "tradable" in ds.coords else \
        np.ones(ds.sizes["sector"], bool)
    diag = np.einsum("opo->p", T)
    tot = T.sum(axis=(0, 2))

    def share(mask):
        return float(diag[mask].sum() / tot[mask].sum()) if tot[mask].sum() > 0 else float("nan")

    d = derive(ds)
    F = np.concatenate([d.Ydest.sum(axis=2), d.exports[:, None]], axis=1)  # (n, R + 1)
    W = (d.v[:, None] * d.solve(F)).reshape(R, d.n_sector, R + 1).sum(axis=1)
    va = W.sum(axis=1)
    safe = np.where(va != 0, va, np.nan)
    own = np.diag(W[:, :R]) / safe
    foreign = W[:, R] / safe
    outflow = flows.sum(axis=1) - np.diag(flows)
    inflow = flows.sum(axis=0) - np.diag(flows)
    abroad = (ds["exports"].sum("sector") + ds["M"].sum(["product", "sector"])
              + ds["MY"].sum(["product", "use"])).transpose("region").values
    va_total = float(ds["V"].sum())
    return {
        "interprovincial_trade": inter,
        "international_trade": intl,
        "interprovincial_to_international": inter / intl if intl > 0 else float("nan"),
        "interprovincial_share_of_domestic_sales": inter / float(flows.sum()),
        "nontradable_in_province_share": share(~tradable),
        "tradable_in_province_share": share(tradable),
        "va_share_own_region_mean": float(np.nanmean(own)),
        "va_share_other_regions_mean": float(np.nanmean(1.0 - own - foreign)),
        "va_share_foreign_mean": float(np.nanmean(foreign)),
        "interprovincial_trade_to_va": inter / va_total if va_total else float("nan"),
        "interprovincial_dependence_mean": float(np.nanmean((outflow + inflow) / safe)),
        "international_dependence_mean": float(np.nanmean(abroad / safe)),
    }
