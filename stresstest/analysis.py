"""Linear input-output analysis on an economy (xarray API over :mod:`stresstest.kernels.iomath`).

Every function takes an economy Dataset (its cached factorisation of ``I - A`` is reused) or,
for small hand-made cases, raw arrays: a pair ``(Z, x)`` of intermediate flows (n x n) and gross
output (n); raw input gives numpy output. Money is in the economy's units per year.

- :func:`leontief_inverse` ``L = (I - A)^-1``, :func:`output_multipliers` ``1^T L``,
  :func:`leontief_output` ``x = L y``;
- :func:`ghosh_inverse` ``G = (I - B)^-1 = diag(x)^-1 L diag(x)`` (forward linkages only);
- :func:`extraction` / :func:`rank_extraction`: hypothetical extraction, closed forms;
- :func:`inoperability` ``q = min(1, (I - A*)^-1 c*)`` and :func:`dynamic_inoperability`
  ``q(t) = q(t-1) + K (A* q(t-1) + c*(t) - q(t-1))`` clipped to ``[0, 1]``.
"""

from __future__ import annotations


import numpy as np
import pandas as pd
import scipy.sparse as sp
import xarray as xr

from .economy import derive, stack, unstack
from .errors import InputError
from .kernels import iomath

DENSE_LIMIT = iomath.DENSE_LIMIT
EXTRACTION_KINDS = ("total", "backward", "forward", "forward_ghosh")


# --------------------------------------------------------------------------- helpers

def block_solver(economy_or_derived):
    """The economy's :class:`~stresstest.economy.Derived` (its cached factorisation of
    ``I - A`` solves blocks of right-hand sides: dense LU for small dense tables)."""
    return derive(economy_or_derived) if isinstance(economy_or_derived, xr.Dataset) \
        else economy_or_derived


class _Raw:
    """Solvers for a small dense table given as ``(Z, x)`` or ``(Z, x, y)``."""

    def __init__(self, arg):
        if len(arg) not in (2, 3):
            raise InputError("raw input must be a pair (Z, x) or a triple (Z, x, y)")
        Z = np.asarray(arg[0], dtype=np.float64)
        x = np.asarray(arg[1], dtype=np.float64)
        if Z.ndim != 2 or Z.shape[0] != Z.shape[1] or x.shape != (Z.shape[0],):
            raise InputError(f"raw input: Z must be square (n, n) and x (n,); got Z {Z.shape}, "
                             f"x {x.shape}")
        _finite("Z", Z)
        _finite("x", x)
        self.Z, self.x, self.n = Z, x, x.size
        self.A = iomath.technical_coefficients(Z, x)
        self.y = (np.asarray(arg[2], dtype=np.float64) if len(arg) == 3
                  else x - Z.sum(axis=1))
        self.solve = iomath.dense_solver(self.A)
        self.solve_transposed = iomath.dense_solver_t(self.A)
        self.fd = self.y


def _finite(name, arr):
    arr = np.asarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise InputError(f"{name} has a non-finite value at index {tuple(bad.tolist())}")


def _system(economy):
    """``(derived-like object, economy Dataset or None)``."""
    if isinstance(economy, xr.Dataset):
        return block_solver(economy), economy
    if isinstance(economy, (tuple, list)):
        return _Raw(economy), None
    raise InputError(f"expected an economy Dataset or a pair (Z, x), got {type(economy).__name__}")


def _dense_guard(n: int, what: str):
    if n > DENSE_LIMIT:
        raise InputError(f"{what}: the table has {n} industries; a dense {n} x {n} matrix is "
                         f"only formed for n <= {DENSE_LIMIT}. Use solves instead "
                         "(derive(economy).solve(rhs), output_multipliers, extraction).")


def _square(values: np.ndarray, economy: xr.Dataset, name: str) -> xr.DataArray:
    R, S = economy.sizes["region"], economy.sizes["sector"]
    da = xr.DataArray(values.reshape(R, S, R, S), dims=("origin", "product", "region", "sector"),
                      coords={"origin": economy["region"].values,
                              "product": economy["sector"].values,
                              "region": economy["region"].values,
                              "sector": economy["sector"].values}, name=name)
    return da


def _industry_input(values, economy: xr.Dataset | None, n: int, name: str) -> np.ndarray:
    """A ``(region, sector)`` DataArray or an (n,) array as a stacked numpy vector."""
    if isinstance(values, xr.DataArray):
        if economy is None:
            arr = values.values.reshape(-1)
        else:
            missing = {"region", "sector"} - set(values.dims)
            if missing:
                raise InputError(f"{name} must have dims (region, sector); got {values.dims}")
            values = values.reindex(region=economy["region"].values,
                                    sector=economy["sector"].values)
            arr = stack(values)
    else:
        arr = np.asarray(values, dtype=np.float64)
        if economy is not None and arr.shape == (economy.sizes["region"], economy.sizes["sector"]):
            arr = arr.reshape(-1)
    arr = np.asarray(arr, dtype=np.float64)
    if arr.shape[0] != n:
        raise InputError(f"{name} has {arr.shape[0]} entries along industries, expected {n}")
    _finite(name, arr)
    return arr


def _wrap(values, economy, name, units=None):
    if economy is None:
        return values
    da = unstack(values, economy, name=name)
    if units:
        da.attrs["units"] = units
    return da


def _units(economy):
    return None if economy is None else f"{economy.attrs.get('units', '')} per year"


# --------------------------------------------------------------------------- Leontief / Ghosh


def leontief_inverse(economy) -> xr.DataArray:
    """Dense Leontief inverse ``L`` as ``DataArray(origin, product, region, sector)``: output of
    ``(origin, product)`` needed per unit of final demand for ``(region, sector)``.

    Refuses tables with more than :data:`DENSE_LIMIT` industries (:class:`InputError`).
    """
    d, eco = _system(economy)
    _dense_guard(d.n, "leontief_inverse")
    L = iomath.leontief_inverse(d.solve, d.n)
    return L if eco is None else _square(L, eco, "L")


def leontief_output(economy, y) -> xr.DataArray:
    """Demand-driven output ``x = L y`` for final demand ``y`` (region, sector) or (n,)."""
    d, eco = _system(economy)
    yv = _industry_input(y, eco, d.n, "y")
    return _wrap(iomath.leontief_output(d.solve, yv), eco, "x", _units(eco))


def output_multipliers(economy) -> xr.DataArray:
    """Type-I output multipliers ``m_j = Σ_i L_ij`` (region, sector), one transposed solve."""
    d, eco = _system(economy)
    return _wrap(iomath.output_multipliers(d.solve_transposed, d.n), eco, "output_multiplier")


def ghosh_inverse(economy) -> xr.DataArray:
    """Dense Ghosh inverse ``G = diag(x)^-1 L diag(x)`` (origin, product, region, sector): the
    output of the buyer ``(region, sector)`` enabled per unit of primary input into the seller
    ``(origin, product)``. Forward linkages only; never a model of supply cuts."""
    d, eco = _system(economy)
    _dense_guard(d.n, "ghosh_inverse")
    G = iomath.ghosh_inverse(d.solve, d.x)
    return G if eco is None else _square(G, eco, "G")


# --------------------------------------------------------------------------- extraction


def extraction(economy, kind: str = "total") -> xr.DataArray:
    """Output lost in the whole system without each region-sector (hypothetical extraction).

    ``kind``: ``total`` (row and column removed), ``backward`` (it buys no inputs), ``forward``
    (nobody buys its output as input, Leontief), ``forward_ghosh`` (supply-driven). Closed
    forms of :func:`stresstest.kernels.iomath.extraction_losses` — no re-inversion per
    industry; ``n`` solves with the existing factorisation for ``diag(L)``.
    """
    if kind not in EXTRACTION_KINDS:
        raise InputError(f"extraction kind {kind!r} is not one of {', '.join(EXTRACTION_KINDS)}")
    d, eco = _system(economy)
    loss = iomath.extraction_losses(d.solve, d.solve_transposed, d.x, d.fd, kind)
    out = _wrap(loss, eco, "extraction_loss", _units(eco))
    if eco is not None:
        out.attrs["kind"] = kind
    return out


def rank_extraction(economy, kind: str = "total", top: int | None = None) -> pd.DataFrame:
    """Region-sectors ranked by :func:`extraction` loss (largest first): columns ``rank,
    region, sector, sector_name, loss, loss_share`` (share of total gross output)."""
    if not isinstance(economy, xr.Dataset):
        raise InputError("rank_extraction needs an economy Dataset")
    loss = extraction(economy, kind)
    df = loss.to_dataframe(name="loss").reset_index()[["region", "sector", "loss"]]
    names = dict(zip(map(str, economy["sector"].values),
                     map(str, economy["sector_name"].values)))
    df["sector_name"] = df["sector"].astype(str).map(names)
    df["loss_share"] = df["loss"] / float(economy["x"].sum())
    df = df.sort_values("loss", ascending=False, kind="stable").reset_index(drop=True)
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    df = df[["rank", "region", "sector", "sector_name", "loss", "loss_share"]]
    return df if top is None else df.head(int(top))


# --------------------------------------------------------------------------- inoperability


def inoperability(economy, c_star, cap: bool = True):
    """Static inoperability ``q = min(1, (I - A*)^-1 c*)`` with ``A* = diag(x)^-1 A diag(x)``.

    ``c_star``: demand perturbation as a share of each industry's output (region, sector) or
    (n,). Returns a Dataset with ``q`` (share) and ``loss = q x`` (money per year); raw input
    ``(Z, x)`` returns ``(q, loss)`` numpy arrays.
    """
    d, eco = _system(economy)
    c = _industry_input(c_star, eco, d.n, "c_star")
    q = iomath.inoperability(d.solve, d.x, c, cap=cap)
    loss = q * d.x
    if eco is None:
        return q, loss
    return xr.Dataset({"q": _wrap(q, eco, "q"), "loss": _wrap(loss, eco, "loss", _units(eco))})


def inoperability_from_astar(Astar, c, cap: bool = True) -> np.ndarray:
    """Static IIM from a given interdependency matrix: ``q = min(1, (I - A*)^-1 c)`` (numpy)."""
    Astar = np.asarray(Astar, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    if Astar.ndim != 2 or Astar.shape[0] != Astar.shape[1] or c.shape != (Astar.shape[0],):
        raise InputError(f"Astar must be (n, n) and c (n,); got {Astar.shape} and {c.shape}")
    _finite("Astar", Astar)
    _finite("c", c)
    return iomath.inoperability_from_astar(Astar, c, cap=cap)


def astar(economy):
    """``A* = diag(x)^-1 A diag(x)`` (sparse CSR for an economy, dense for raw input)."""
    d, eco = _system(economy)
    return iomath.astar(d.A, d.x)


def dynamic_inoperability(economy_or_Astar, c_star, K, steps: int, q0=None) -> xr.DataArray:
    """Dynamic IIM: ``q(t) = clip(q(t-1) + K (A* q(t-1) + c*(t) - q(t-1)), 0, 1)``, ``q(0) = q0``.

    ``economy_or_Astar``: an economy Dataset (``A*`` from its ``A`` and ``x``) or a square
    ``A*`` (numpy or sparse). ``c_star``: (n) / (region, sector) constant, or with a leading
    ``time`` axis of length ``steps`` (a DataArray with a ``time`` dim); ``K``: resilience per
    day, scalar or per industry, in ``[0, 1]``; ``steps``: days including day 0.
    Returns ``q`` with a ``time`` dim (days 0 .. steps-1): ``(region, sector, time)`` for an
    economy, ``(industry, time)`` otherwise.
    """
    steps = int(steps)
    if steps < 1:
        raise InputError(f"steps must be >= 1, got {steps}")
    if isinstance(economy_or_Astar, xr.Dataset):
        eco = economy_or_Astar
        d = derive(eco)
        As = iomath.astar(d.A, d.x)
        n = d.n
    else:
        eco = None
        As = economy_or_Astar if sp.issparse(economy_or_Astar) else np.asarray(
            economy_or_Astar, dtype=np.float64)
        if As.ndim != 2 or As.shape[0] != As.shape[1]:
            raise InputError(f"Astar must be square, got shape {As.shape}")
        n = As.shape[0]
    if isinstance(c_star, xr.DataArray) and "time" in c_star.dims:
        if c_star.sizes["time"] != steps:
            raise InputError(f"c_star has {c_star.sizes['time']} days, expected steps={steps}")
        if eco is not None:
            cv = stack(c_star.transpose("region", "sector", "time")).T
        else:
            cv = c_star.transpose("time", ...).values.reshape(steps, n)
    else:
        cv = np.asarray(c_star.values if isinstance(c_star, xr.DataArray) else c_star,
                        dtype=np.float64)
        if cv.ndim == 2 and cv.shape == (steps, n):
            pass
        else:
            cv = _industry_input(c_star, eco, n, "c_star")
    _finite("c_star", cv)
    Kv = np.broadcast_to(np.asarray(K, dtype=np.float64), (n,)) if np.ndim(K) == 0 else \
        _industry_input(K, eco, n, "K")
    if np.any(Kv < 0) or np.any(Kv > 1):
        raise InputError(f"K must lie in [0, 1]; got values from {Kv.min():g} to {Kv.max():g}")
    q0v = None if q0 is None else _industry_input(q0, eco, n, "q0")
    if q0v is not None and (np.any(q0v < 0) or np.any(q0v > 1)):
        raise InputError("q0 must lie in [0, 1]")
    path = iomath.diim_path(As, Kv, cv, steps, q0v)
    time = np.arange(steps)
    if eco is None:
        return xr.DataArray(path.T, dims=("industry", "time"),
                            coords={"time": time}, name="q")
    out = unstack(path.T, eco, extra_dims=("time",), extra_coords={"time": time}, name="q")
    out["time"].attrs["units"] = "days"
    return out
