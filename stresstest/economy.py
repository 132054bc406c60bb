"""The economy: a multi-regional input-output table as an :class:`xarray.Dataset`.

Schema (DESIGN.md section 3). Dims ``origin``/``region`` share one set of labels, as do
``product``/``sector`` (symmetric product-by-product tables):

=========  =======================================  ===========================================
variable   dims                                     meaning (annual, ``attrs["units"]``)
=========  =======================================  ===========================================
``Z``      origin, product, region, sector          intermediate flows
``Y``      origin, product, region, use             domestic output to final use in ``region``
``exports`` region, sector                          exports to the rest of the world
``M``      product, region, sector                  imported intermediate inputs
``MY``     product, region, use                     imports to final use
``V``      component, region, sector                value added
``x``      region, sector                           gross output
=========  =======================================  ===========================================

Coordinates (one name per coordinate in a Dataset, hence the prefixes): ``region``:
``region_name_zh, lon, lat, zone, coastal``; ``sector``: ``sector_name, sector_name_zh, tradable,
critical, essential_share``; ``use``: ``consumption`` (households + government, the base of
essential supply) and ``inventory`` (may be negative); ``component``: ``signed`` (net taxes and
adjustments, may be negative). ``import_route_share[sector, route]`` says how foreign supply of
each product arrives (rows sum to 1).

Linear algebra runs on the stacked ``industry = (region, sector)`` axis, region-major:
``industry = r * n_sector + s``. :func:`derive` computes the cached quantities once per Dataset.
"""

from __future__ import annotations

import os
import tempfile
import threading
import weakref
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import xarray as xr

from .errors import EconomyError, InputError
from .kernels.iomath import compressed_axis_index, pooled_rows

ROUTES = ("sea", "land", "air")
FLOW_VARIABLES = ("Z", "Y", "exports", "M", "MY", "V", "x")
DIMS = {
    "Z": ("origin", "product", "region", "sector"),
    "Y": ("origin", "product", "region", "use"),
    "exports": ("region", "sector"),
    "M": ("product", "region", "sector"),
    "MY": ("product", "region", "use"),
    "V": ("component", "region", "sector"),
    "x": ("region", "sector"),
}
REGION_COORDS = ("region_name_zh", "lon", "lat", "zone", "coastal")
SECTOR_COORDS = ("sector_name", "sector_name_zh", "tradable", "critical", "essential_share")

#: Default relative tolerance of the row and column identities, relative to each
#: industry's gross output (plus ``1e-12`` of total output for empty industries).
RTOL = 1e-6


# --------------------------------------------------------------------------- construction


def make_economy(
    Z,
    Y,
    exports,
    M,
    MY,
    V,
    *,
    regions,
    sectors,
    uses,
    components,
    x=None,
    units="currency",
    region_coords: dict | None = None,
    sector_coords: dict | None = None,
    consumption_uses=None,
    inventory_uses=(),
    signed_components=(),
    import_route_share=None,
    attrs: dict | None = None,
    validate: bool = True,
    rtol: float = RTOL,
) -> xr.Dataset:
    """Assemble an economy Dataset from numpy arrays in the dim order of :data:`DIMS`.

    ``x`` defaults to the row sums (output = intermediate + final + exports). Region and sector
    coordinates not given get neutral defaults (no coordinates, not coastal, zone ``"all"``,
    every sector tradable, none critical, ``essential_share`` 0). ``consumption_uses`` defaults
    to every use that is not an inventory use. ``import_route_share`` is ``(sector, route)``;
    the default brings everything by sea.
    """
    regions = [str(r) for r in regions]
    sectors = [str(s) for s in sectors]
    uses = [str(u) for u in uses]
    components = [str(c) for c in components]
    R, S = len(regions), len(sectors)
    Z = np.asarray(Z, dtype=np.float64).reshape(R, S, R, S)
    Y = np.asarray(Y, dtype=np.float64).reshape(R, S, R, len(uses))
    exports = np.asarray(exports, dtype=np.float64).reshape(R, S)
    M = np.asarray(M, dtype=np.float64).reshape(S, R, S)
    MY = np.asarray(MY, dtype=np.float64).reshape(S, R, len(uses))
    V = np.asarray(V, dtype=np.float64).reshape(len(components), R, S)
    if x is None:
        x = Z.sum(axis=(2, 3)) + Y.sum(axis=(2, 3)) + exports
    x = np.asarray(x, dtype=np.float64).reshape(R, S)

    rc = {"region_name_zh": regions, "lon": np.full(R, np.nan), "lat": np.full(R, np.nan),
          "zone": ["all"] * R, "coastal": np.zeros(R, bool)}
    rc.update(region_coords or {})
    sc = {"sector_name": sectors, "sector_name_zh": sectors, "tradable": np.ones(S, bool),
          "critical": np.zeros(S, bool), "essential_share": np.zeros(S)}
    sc.update(sector_coords or {})
    if consumption_uses is None:
        consumption_uses = [u for u in uses if u not in set(inventory_uses)]
    if import_route_share is None:
        import_route_share = np.zeros((S, len(ROUTES)))
        import_route_share[:, 0] = 1.0

    ds = xr.Dataset(coords={"region": regions, "sector": sectors, "origin": regions,
                            "product": sectors, "use": uses, "component": components,
                            "route": list(ROUTES)})
    ds = ds.assign_coords({k: ("region", np.asarray(v)) for k, v in rc.items()})
    ds = ds.assign_coords({k: ("sector", np.asarray(v)) for k, v in sc.items()})
    ds = ds.assign_coords(
        consumption=("use", np.isin(uses, list(consumption_uses))),
        inventory=("use", np.isin(uses, list(inventory_uses))),
        signed=("component", np.isin(components, list(signed_components))),
    )
    data = {"Z": Z, "Y": Y, "exports": exports, "M": M, "MY": MY, "V": V, "x": x}
    for name, arr in data.items():
        ds[name] = (DIMS[name], arr)
        ds[name].attrs["units"] = units
    ds["import_route_share"] = (("sector", "route"), np.asarray(import_route_share, float))
    ds.attrs.update({"units": units, "title": "economy"})
    ds.attrs.update(attrs or {})
    if validate:
        validate_economy(ds, rtol=rtol)
    return ds


# --------------------------------------------------------------------------- validation


def _worst_cells(bad: xr.DataArray, score: xr.DataArray, k: int = 3) -> str:
    """Describe up to ``k`` cells where ``bad`` holds, worst ``score`` first."""
    flat_bad = bad.values.reshape(-1)
    flat_score = np.abs(np.nan_to_num(score.values.reshape(-1), nan=np.inf))
    idx = np.flatnonzero(flat_bad)
    idx = idx[np.argsort(-flat_score[idx], kind="stable")][:k]
    parts = []
    for i in idx:
        pos = np.unravel_index(i, bad.shape)
        label = ", ".join(f"{d}={bad[d].values[p]}" for d, p in zip(bad.dims, pos))
        parts.append(f"[{label}]")
    more = f" (and {len(np.flatnonzero(flat_bad)) - len(idx)} more)" if flat_bad.sum() > k else ""
    return "; ".join(parts) + more


def validate_economy(ds: xr.Dataset, rtol: float = RTOL, source: str | None = None) -> xr.Dataset:
    """Check an economy and return it unchanged, or raise :class:`EconomyError`.

    Checks: variables and dims present; labels unique, ``origin == region`` and
    ``product == sector``; no NaN/inf; flows non-negative (except inventory uses and signed
    value-added components); row identity ``x = ΣZ + ΣY + exports`` and column identity
    ``x = ΣZ + ΣM + ΣV``, each to ``rtol`` relative to the industry's output (plus ``1e-12`` of
    total output); productivity (spectral radius of ``A`` < 1). The message names ``source``
    (a file), the variable and the worst cells.
    """
    where = f"{source}: " if source else ""

    def fail(msg):
        raise EconomyError(f"{where}{msg}")

    if not isinstance(ds, xr.Dataset):
        fail(f"an economy must be an xarray.Dataset, got {type(ds).__name__}")
    for name, dims in DIMS.items():
        if name not in ds:
            fail(f"variable {name!r} is missing (an economy needs {', '.join(DIMS)})")
        if set(ds[name].dims) != set(dims):
            fail(f"variable {name!r} has dims {ds[name].dims}, expected {dims}")
    for dim in ("region", "sector", "use", "component"):
        labels = ds[dim].values
        uniq, counts = np.unique(labels.astype(str), return_counts=True)
        if (counts > 1).any():
            fail(f"duplicate {dim} labels: {', '.join(map(str, uniq[counts > 1][:5]))}")
    for a, b in (("origin", "region"), ("product", "sector")):
        if list(map(str, ds[a].values)) != list(map(str, ds[b].values)):
            diff = [f"{u}!={v}" for u, v in zip(ds[a].values, ds[b].values) if str(u) != str(v)]
            fail(f"{a} labels must equal {b} labels in the same order; first mismatch "
                 f"{diff[:1] or 'length ' + str(ds[a].size) + ' vs ' + str(ds[b].size)}")
    for c in REGION_COORDS:
        if c not in ds.coords:
            fail(f"region coordinate {c!r} is missing")
    for c in SECTOR_COORDS:
        if c not in ds.coords:
            fail(f"sector coordinate {c!r} is missing")
    es = ds["essential_share"].values.astype(float)
    if np.isnan(es).any() or (es < 0).any() or (es > 1).any():
        bad = ds["essential_share"].where((es < 0) | (es > 1) | np.isnan(es), drop=True)
        fail(f"essential_share must lie in [0, 1]; bad at sector {list(map(str, bad.sector.values))[:5]}")

    for name in FLOW_VARIABLES:
        v = ds[name]
        if not np.isfinite(v.values).all():
            fail(f"variable {name!r} has NaN or infinite values at "
                 f"{_worst_cells(~np.isfinite(v), v)}")
        if not (v.values < 0).any():
            continue  # nothing negative (Z, the largest table, on every shipped economy)
        allowed = xr.zeros_like(v, dtype=bool)
        if "use" in v.dims:
            allowed = allowed | ds["inventory"]
        if "component" in v.dims:
            allowed = allowed | ds["signed"]
        neg = (v < 0) & ~allowed
        if neg.any():
            fail(f"variable {name!r} has negative flows at {_worst_cells(neg, v)}")

    x = ds["x"]
    scale = 1e-12 * float(np.abs(x).sum()) + 1e-300
    # every value is finite (checked above): plain sums, without the NaN-skipping copy of
    # each table (1.6 GiB and ~2 s for Z at 9,800 industries)
    nosk = {"skipna": False}
    rows = (ds["Z"].sum(["region", "sector"], **nosk) + ds["Y"].sum(["region", "use"], **nosk)
            ).rename({"origin": "region", "product": "sector"}) + ds["exports"]
    cols = (ds["Z"].sum(["origin", "product"], **nosk) + ds["M"].sum("product", **nosk)
            + ds["V"].sum("component", **nosk))
    for label, total in (("row identity x = sum(Z) + sum(Y) + exports", rows),
                         ("column identity x = sum(Z) + sum(M) + sum(V)", cols)):
        resid = total - x
        rel = np.abs(resid) / (np.abs(x) + scale)
        bad = np.abs(resid) > rtol * np.abs(x) + scale
        if bad.any():
            fail(f"{label} fails (rtol={rtol:g}) at {_worst_cells(bad, rel)}; worst relative "
                 f"residual {float(rel.max()):.3g}")

    # the bound of spectral_radius_bound (max column sum of A, flows being non-negative)
    # from the column sums already at hand; the coefficient matrix only when it is >= 1
    zcol = ds["Z"].sum(["origin", "product"], **nosk).transpose("region", "sector").values
    xv = x.transpose("region", "sector").values
    colmax = float(np.max(np.divide(zcol, xv, out=np.zeros_like(xv), where=xv > 0),
                          initial=0.0))
    rho = colmax if colmax < 1.0 else spectral_radius_bound(ds)
    if rho >= 1.0:
        fail(f"technical coefficients are not productive: spectral radius of A is {rho:.6g} "
             "(must be < 1)")
    return ds


def _coefficient_matrix(ds: xr.Dataset) -> sp.csc_matrix:
    """``A = Z diag(1 / x)`` (0 where ``x = 0``), CSC, zeros dropped."""
    R, S = ds.sizes["region"], ds.sizes["sector"]
    n = R * S
    Z = ds["Z"].transpose(*DIMS["Z"]).values.reshape(n, n)
    x = ds["x"].transpose("region", "sector").values.reshape(n)
    inv = np.divide(1.0, x, out=np.zeros_like(x), where=x > 0)
    return _csr_of_dense(Z, inv).tocsc()


def _csr_of_dense(M: np.ndarray, col_scale: np.ndarray) -> sp.csr_matrix:
    """``M diag(col_scale)`` as CSR with its zeros dropped, built from the row-major array in
    one pass (scipy's dense constructor goes through COO and a sort: 4x slower on china31,
    whose A is 91% full)."""
    nz = M != 0
    indptr = np.zeros(M.shape[0] + 1, dtype=np.int64)
    np.cumsum(nz.sum(axis=1), out=indptr[1:])
    cols = np.nonzero(nz)[1]
    data = M[nz] * col_scale[cols]
    out = sp.csr_matrix((data, cols, indptr), shape=M.shape)
    out.eliminate_zeros()  # entries of columns scaled by 0
    return out


def spectral_radius_bound(ds_or_A) -> float:
    """Spectral radius of ``A``; the max column sum when that is already < 1 (a bound)."""
    A = ds_or_A if sp.issparse(ds_or_A) else _coefficient_matrix(ds_or_A)
    colmax = float(np.abs(A).sum(axis=0).max()) if A.shape[0] else 0.0
    if colmax < 1.0:
        return colmax
    if A.shape[0] <= 3000:
        return float(np.abs(np.linalg.eigvals(A.toarray())).max())
    try:
        vals = spla.eigs(A.astype(float), k=1, which="LM", return_eigenvectors=False, maxiter=5000)
        return float(np.abs(vals).max())
    except spla.ArpackNoConvergence:  # pragma: no cover - pathological tables
        return colmax


# --------------------------------------------------------------------------- derived, cached


@dataclass(eq=False)
class Derived:
    """Quantities derived once per economy, on the stacked industry axis (region-major).

    ``A`` (n x n, CSC) technical coefficients; ``AM`` (P x n) import coefficients; ``v`` (n)
    value-added coefficients; ``lu`` a sparse LU of ``I - A``; ``a_prod`` (P x n) product
    requirements ``a[p, j] = Σ_origin A[(origin, p), j]``; ``tau0`` (n x n, CSC, pattern of A)
    sourcing shares ``A[i, j] / a[product(i), j]``; ``x`` (n) gross output; ``fd`` (n) final
    demand for each industry's output incl. exports; ``Ydest`` (n, R, U) domestic final use by
    destination; ``exports`` (n); ``MY`` (P, R, U); ``product_of`` (n) product index of each
    industry; ``region_of`` (n). ``own`` (n) is set on the table net of own use
    (:func:`net_of_own_use`) only.
    """

    n_region: int
    n_sector: int
    x: np.ndarray
    A: sp.csc_matrix
    AM: np.ndarray
    v: np.ndarray
    a_prod: np.ndarray
    tau0: sp.csc_matrix
    fd: np.ndarray
    Ydest: np.ndarray
    exports: np.ndarray
    MY: np.ndarray
    product_of: np.ndarray
    region_of: np.ndarray
    _lu: object = field(default=None, repr=False)
    _luT: object = field(default=None, repr=False)
    own: np.ndarray | None = field(default=None, repr=False)
    _gross: object = field(default=None, repr=False)
    _net: object = field(default=None, repr=False)
    _pools: tuple | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        return self.n_region * self.n_sector

    #: Tables up to this many industries with ``A`` denser than :attr:`DENSE_MIN_DENSITY`
    #: are factored with dense LAPACK LU (fast for many right-hand sides); sparse tables up to
    #: :attr:`SPARSE_LU_MAX_N` industries with SuperLU; larger tables are solved iteratively
    #: (a Neumann series ``x = b + A x``, which converges because ``A`` is productive — its
    #: rate is the spectral radius — and costs one sparse product per step, no fill-in).
    #: None of them forms an inverse.
    DENSE_MAX_N = 4000
    DENSE_MIN_DENSITY = 0.1
    SPARSE_LU_MAX_N = 4000
    ITER_RTOL = 1e-13
    ITER_MAX = 100_000

    @property
    def dense(self) -> bool:
        """Whether ``I - A`` is factored densely (small, dense table)."""
        return self.n <= self.DENSE_MAX_N and self.A.nnz > self.DENSE_MIN_DENSITY * self.n ** 2

    @property
    def method(self) -> str:
        """How ``(I - A) x = b`` is solved: ``"dense-lu"``, ``"sparse-lu"`` or ``"neumann"``."""
        if self.dense:
            return "dense-lu"
        return "sparse-lu" if self.n <= self.SPARSE_LU_MAX_N else "neumann"

    @property
    def lu(self):
        """LU factorisation of ``I - A`` (computed once, on first use): a ``(lu, piv)`` pair
        from :func:`scipy.linalg.lu_factor` for ``dense-lu``, a SuperLU object for
        ``sparse-lu``, ``None`` for the iterative method."""
        if self._lu is None and self.method != "neumann":
            if self.dense:
                import scipy.linalg as sla

                self._lu = sla.lu_factor(np.eye(self.n) - self.A.toarray(), check_finite=False)
            else:
                I = sp.identity(self.n, format="csc")
                self._lu = spla.splu((I - self.A).tocsc(), permc_spec="COLAMD")
        return self._lu

    def _neumann(self, rhs, trans: bool) -> np.ndarray:
        from .errors import ConvergenceError

        A = (self.A.T if trans else self.A).tocsr()
        x = rhs.copy()
        term = rhs
        scale = np.maximum(np.abs(rhs).max(axis=0), 1e-300)
        for _ in range(self.ITER_MAX):
            term = A @ term
            x += term
            if np.all(np.abs(term).max(axis=0) <= self.ITER_RTOL * scale):
                return x
        raise ConvergenceError("Leontief solve: the Neumann series did not converge")

    def _solve(self, rhs, trans: bool) -> np.ndarray:
        rhs = np.asarray(rhs, dtype=np.float64)
        if self._gross is not None:  # net of own use: (I - Ã)^-1 = diag(1 - δ) (I - A)^-1
            keep = (1.0 - self.own).reshape((-1,) + (1,) * (rhs.ndim - 1))
            return (self._gross._solve(keep * rhs, True) if trans
                    else keep * self._gross._solve(rhs, False))
        if self.method == "neumann":
            return self._neumann(rhs, trans)
        lu = self.lu
        if isinstance(lu, tuple):
            import scipy.linalg as sla

            with _LAPACK_SOLVE, single_threaded_blas():
                return sla.lu_solve(lu, rhs, trans=1 if trans else 0, check_finite=False)
        return lu.solve(rhs, trans="T" if trans else "N")

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """``(I - A)^-1 rhs`` for a vector (n,) or a block of right-hand sides (n, k)."""
        return self._solve(rhs, trans=False)

    def solve_transposed(self, rhs: np.ndarray) -> np.ndarray:
        """``(I - A)^-T rhs``, i.e. row vectors times the Leontief inverse."""
        return self._solve(rhs, trans=True)

    @property
    def pools(self) -> tuple:
        """``(G, row_p, row_r, col_row)`` of :func:`stresstest.kernels.iomath.pooled_rows` for
        ``tau0`` (computed once): buyers with identical sourcing shares of a product share a
        row."""
        if self._pools is None:
            self._pools = pooled_rows(self.tau0, self.product_of, self.region_of, self.n_sector)
        return self._pools

    def pool_by_product(self, values: np.ndarray) -> np.ndarray:
        """Sum an industry vector/matrix (n, ...) over origins into products (P, ...)."""
        R, S = self.n_region, self.n_sector
        return values.reshape((R, S) + values.shape[1:]).sum(axis=0)


_CACHE_BY_ID: dict = {}

#: One dense LU solve at a time: two threads in OpenBLAS' triangular solves at once get
#: answers that differ in the last bits from run to run (measured: 1e-16 relative, in whole
#: batches of an ensemble run on two threads); serialised, they equal a lone thread's.
_LAPACK_SOLVE = threading.Lock()
_BLAS = None


def single_threaded_blas():
    """A context in which BLAS runs on the calling thread only (:mod:`threadpoolctl`; the
    limit is process-wide, nested contexts restore the outer one's).

    The dense LU solves run so, under :data:`_LAPACK_SOLVE`: their answers then do not
    depend on the number of BLAS threads (OpenBLAS' triangular solves with 32 or more
    right-hand sides differ in the last bits between one thread and two), and no BLAS thread
    is left spinning after the call, taking a core from a parallel worker. A block of
    right-hand sides on ~1,300 industries takes milliseconds either way."""
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


def economy_cache(ds: xr.Dataset) -> dict:
    """A dict of what has been computed from ``ds`` (its :class:`Derived`, selector tables,
    ...), kept while the Dataset object lives. Keyed on the object: modify a copy, not the
    economy in place."""
    hit = _CACHE_BY_ID.get(id(ds))
    if hit is not None and hit[0]() is ds:
        return hit[1]
    cache: dict = {}
    _CACHE_BY_ID[id(ds)] = (weakref.ref(ds, lambda _r, i=id(ds): _CACHE_BY_ID.pop(i, None)),
                            cache)
    return cache


def cached(ds: xr.Dataset, key, make):
    """``make()``, computed once per Dataset object ``ds`` and ``key`` (:func:`economy_cache`)."""
    cache = economy_cache(ds)
    if key not in cache:
        cache[key] = make()
    return cache[key]


def derive(ds: xr.Dataset) -> Derived:
    """Return the cached :class:`Derived` quantities of ``ds`` (computed on first call).

    The cache is keyed on the Dataset object: modify a copy, not the economy in place.
    """
    return cached(ds, "derived", lambda: _compute_derived(ds))


def _product_requirements(A: sp.spmatrix, product_of, n_product: int):
    """``(a_prod, tau0)``: requirements per product ``a[p, j] = Σ_(i: product(i) = p) A[i, j]``
    (P, n) and sourcing shares ``τ[i, j] = A[i, j] / a[product(i), j]`` (n x n, CSC)."""
    n = A.shape[0]
    A = _canonical_csc(A)
    col = compressed_axis_index(A)
    prod = product_of[A.indices]
    a_prod = np.bincount(prod * n + col, weights=A.data, minlength=n_product * n).reshape(
        n_product, n)
    denom = a_prod[prod, col]
    tau_vals = np.divide(A.data, denom, out=np.zeros_like(A.data), where=denom > 0)
    return a_prod, sp.csc_matrix((tau_vals, A.indices.copy(), A.indptr.copy()), shape=(n, n))


def _canonical_csc(A: sp.spmatrix) -> sp.csc_matrix:
    """``A`` as CSC with sorted row indices and no duplicates (a copy only when needed)."""
    A = sp.csc_matrix(A)
    if not A.has_canonical_format:
        A = A.copy()
        A.sum_duplicates()
    return A


def net_of_own_use(d: Derived) -> Derived:
    r"""The table with every industry's use of its own output netted out (cached on ``d``).

    ``δ_j = A[j, j]`` is industry ``j``'s use of its own output (same province, same sector)
    per unit of output. Net output ``x̃ = (1 − δ) x`` is what ``j`` delivers to everyone
    else; per unit of it ``j`` needs ``Ã[i, j] = A[i, j] / (1 − δ_j)`` of every other input
    (``Ã[j, j] = 0``), likewise ``AM`` and ``v``. Final use and imports are unchanged and
    ``I − Ã = (I − A) diag(1 − δ)^{-1}``, so ``(I − Ã)^{-1} f = (1 − δ) (I − A)^{-1} f``: the
    Leontief model is the same (no new factorisation). ``own`` on the result holds ``δ``.
    Rationing uses this table: a supplier serves its own use first (a power plant's own
    electricity does not queue behind its customers; see ``docs/rationing.md``).
    """
    if d._net is not None:
        return d._net
    A = _canonical_csc(d.A)
    own = np.asarray(A.diagonal(), dtype=np.float64).copy()
    own[~np.isfinite(own) | (own < 0) | (own >= 1.0 - 1e-12) | (d.x <= 0)] = 0.0
    keep = 1.0 - own
    # (A − diag(own)) diag(1 / keep) on the stored entries: the netted diagonal is exactly 0
    col = compressed_axis_index(A)
    data = A.data.copy()
    diag = A.indices == col
    data[diag] -= own[col[diag]]
    data *= (1.0 / keep)[col]
    A_net = sp.csc_matrix((data, A.indices.copy(), A.indptr.copy()), shape=A.shape)
    A_net.eliminate_zeros()
    a_prod, tau0 = _product_requirements(A_net, d.product_of, d.n_sector)
    net = replace(d, x=d.x * keep, A=A_net, AM=d.AM / keep[None, :], v=d.v / keep,
                  a_prod=a_prod, tau0=tau0, _lu=None, _luT=None, _net=None, _gross=d, own=own,
                  _pools=None)
    d._net = net
    return net


def _compute_derived(ds: xr.Dataset) -> Derived:
    R, S = ds.sizes["region"], ds.sizes["sector"]
    n = R * S
    x = ds["x"].transpose("region", "sector").values.reshape(n).astype(np.float64)
    A = _coefficient_matrix(ds)
    A.eliminate_zeros()
    inv = np.divide(1.0, x, out=np.zeros_like(x), where=x > 0)
    AM = ds["M"].transpose("product", "region", "sector").values.reshape(S, n) * inv
    v = ds["V"].sum("component").transpose("region", "sector").values.reshape(n) * inv
    product_of = np.tile(np.arange(S), R)
    region_of = np.repeat(np.arange(R), S)
    a_prod, tau0 = _product_requirements(A, product_of, S)
    Y = ds["Y"].transpose("origin", "product", "region", "use").values.reshape(n, R, -1)
    exports = ds["exports"].transpose("region", "sector").values.reshape(n)
    fd = Y.sum(axis=(1, 2)) + exports
    MY = ds["MY"].transpose("product", "region", "use").values
    return Derived(R, S, x, A, AM, v, a_prod, tau0, fd, Y, exports, MY, product_of, region_of)


# --------------------------------------------------------------------------- files


def builtin_dirs() -> list[Path]:
    """Folders searched for built-in economies, scenarios and plans (package first)."""
    here = Path(__file__).resolve().parent
    return [here / "_builtin", here.parent]


def builtin_economies() -> dict[str, Path]:
    """Names of the built-in economies and their netCDF files."""
    out: dict[str, Path] = {}
    for root in builtin_dirs():
        for f in sorted((root / "data").glob("*.nc")):
            out.setdefault(f.stem, f)
    return out


def load_economy(name_or_path, validate: bool = True) -> xr.Dataset:
    """Load a built-in economy by name (e.g. ``"china31"``) or a netCDF file, and validate it.

    An ``xarray.Dataset`` passes through validation unchanged.
    """
    if isinstance(name_or_path, xr.Dataset):
        return validate_economy(name_or_path) if validate else name_or_path
    builtins = builtin_economies()
    key = str(name_or_path)
    if key in builtins:
        path = builtins[key]
    else:
        path = Path(key)
        if not path.exists():
            names = ", ".join(sorted(builtins)) or "none"
            raise InputError(f"economy {key!r}: no such built-in economy or file "
                             f"(built-ins: {names})")
    try:
        ds = xr.load_dataset(path, engine=_netcdf_engine())
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file
        raise InputError(f"{path}: cannot read as a netCDF economy ({exc})") from None
    try:
        ds = _unpack_flows(ds)
    except (KeyError, ValueError, IndexError) as exc:
        raise InputError(f"{path}: the packed flows Z and Y cannot be restored ({exc})") from None
    ds = _restore_after_netcdf(ds)
    if validate:
        validate_economy(ds, source=str(path))
    return ds


def _netcdf_engine() -> str:
    import importlib.util

    if importlib.util.find_spec("h5netcdf") is not None:
        return "h5netcdf"
    return "scipy"  # pragma: no cover


_BOOL_COORDS = ("coastal", "tradable", "critical", "consumption", "inventory", "signed")


def _restore_after_netcdf(ds: xr.Dataset) -> xr.Dataset:
    for c in _BOOL_COORDS:
        if c in ds.coords and ds[c].dtype != bool:
            ds = ds.assign_coords({c: ds[c].astype(bool)})
    for c in list(ds.coords):
        if ds[c].dtype == object:
            ds = ds.assign_coords({c: ds[c].astype(str)})
    return ds


def save_economy(ds: xr.Dataset, path, compress: bool = True) -> Path:
    """Write an economy to netCDF atomically; exact round trip (``load_economy`` gives back an
    identical Dataset).

    With ``compress`` (default) every variable is zlib-compressed with the byte shuffle filter,
    one chunk per variable, and ``Z`` and ``Y`` are packed as origin shares times domestic use
    when that is exact (:func:`_pack_flows`, docs/formats.md): a gravity-built table such as
    china31 then takes about a tenth of the space of dense compressed float64.
    """
    path = Path(path)
    validate_economy(ds)
    out = ds.copy()
    for c in _BOOL_COORDS:
        if c in out.coords:
            out = out.assign_coords({c: out[c].astype("u1")})
    for c in list(out.coords):
        if out[c].dtype.kind in "OU":
            out = out.assign_coords({c: out[c].astype(str).astype(object)})
    enc = {}
    if compress:
        out = _pack_flows(out)
        # a variable over an empty dimension (an economy without final uses, say) has no
        # chunk to compress: HDF5 rejects zero-length chunks
        enc = {v: {"zlib": True, "complevel": 6, "shuffle": True,
                   **({"chunksizes": out[v].shape} if out[v].ndim else {})}
               for v in out.data_vars if out[v].size}
    write_atomic(path, lambda tmp: out.to_netcdf(tmp, engine=_netcdf_engine(), encoding=enc))
    return path


#: Packed flows: ``Z[o, p, d, s] = share[o, p, d] * Z_domestic_use[p, d, s]`` (likewise ``Y``)
#: corrected cell by cell by a small integer number of units in the last place (int8 ``*_ulp``;
#: cells that need more are stored exactly as ``*_exception_index``/``*_exception_value``).
PACKED = {"Z": ("Z_domestic_use", "Z_ulp", "sector"), "Y": ("Y_domestic_use", "Y_ulp", "use")}
_PACK_MARK = "stresstest_packing"
_PACK_NOTE = ("packed by stresstest.save_economy: {var} = origin_share * {use} "
              "(bit pattern + {ulp}); restored exactly by stresstest.load_economy")
#: Pack only when at most this share of cells needs an exact exception value.
PACK_MAX_EXCEPTIONS = 0.01


def _pack_flows(out: xr.Dataset) -> xr.Dataset:
    """Replace ``Z`` and ``Y`` by origin shares, domestic use by destination and int8
    corrections, or return ``out`` unchanged when that would not be exact and compact.

    The shares are ``sum_s Z + sum_u |Y|`` of each origin over all origins, per product and
    destination; the prediction ``share * domestic use`` is a single float multiplication, so
    ``load_economy`` recomputes exactly the same bits and adds the stored corrections (an
    integer count of units in the last place, usually 0 to +-10). Tables whose flows do not
    factor this way (a real MRIO) would need many exceptions and are written unpacked.
    """
    if any(v not in out for v in PACKED) or any(n in out for names in PACKED.values()
                                                 for n in names[:2]):
        return out
    Z = out["Z"].transpose(*DIMS["Z"]).values
    Y = out["Y"].transpose(*DIMS["Y"]).values
    if Z.dtype != np.float64 or Y.dtype != np.float64:
        return out
    T = Z.sum(axis=3) + np.abs(Y).sum(axis=3)  # (O, P, D)
    D = T.sum(axis=0)
    share = np.divide(T, D, out=np.zeros_like(T), where=D > 0)
    packed = out.drop_vars(list(PACKED))
    packed["origin_share"] = (("origin", "product", "region"), share,
                              {"description": "share of each origin in the domestic supply of a "
                                              "product to a region (packed Z and Y)"})
    n_exc = 0
    for name, flows in (("Z", Z), ("Y", Y)):
        use_name, ulp_name, last = PACKED[name]
        use = flows.sum(axis=0)
        pred = share[..., None] * use[None]
        diff = (flows.view(np.uint64) - pred.view(np.uint64)).view(np.int64)
        bad = (diff > 127) | (diff < -127)  # not abs(): abs(int64 min) overflows
        n_exc += int(bad.sum())
        if n_exc > PACK_MAX_EXCEPTIONS * (Z.size + Y.size):
            return out
        ulp = np.where(bad, 0, diff).astype(np.int8)
        attrs = dict(out[name].attrs)
        attrs[_PACK_MARK] = _PACK_NOTE.format(var=name, use=use_name, ulp=ulp_name)
        # in the variable's own dim order, so that load_economy restores it
        packed[ulp_name] = xr.Variable(DIMS[name], ulp, attrs).transpose(*out[name].dims)
        packed[use_name] = (("product", "region", last), use)
        if bad.any():
            idx = np.flatnonzero(bad)
            packed[f"{name}_exception_index"] = (f"{name}_exception", idx.astype(np.int64))
            packed[f"{name}_exception_value"] = (f"{name}_exception", flows.reshape(-1)[idx])
    return packed


def _unpack_flows(ds: xr.Dataset) -> xr.Dataset:
    """Inverse of :func:`_pack_flows` (a Dataset without packed flows passes unchanged)."""
    if "origin_share" not in ds or any(PACKED[v][1] not in ds for v in PACKED):
        return ds
    share = ds["origin_share"].transpose("origin", "product", "region").values
    drop = ["origin_share"]
    for name, (use_name, ulp_name, last) in PACKED.items():
        use = ds[use_name].transpose("product", "region", last).values
        ulp = ds[ulp_name].transpose(*DIMS[name]).values.astype(np.int64)
        pred = share[..., None] * use[None]
        flows = (pred.view(np.uint64) + ulp.view(np.uint64)).view(np.float64)
        if f"{name}_exception_index" in ds:
            idx = ds[f"{name}_exception_index"].values.astype(np.int64)
            flows.reshape(-1)[idx] = ds[f"{name}_exception_value"].values
        attrs = {k: v for k, v in ds[ulp_name].attrs.items() if k != _PACK_MARK}
        var = xr.Variable(DIMS[name], flows, attrs).transpose(*ds[ulp_name].dims)
        ds = ds.assign({name: var.copy(data=np.ascontiguousarray(var.values))})
        drop += [use_name, ulp_name, f"{name}_exception_index", f"{name}_exception_value"]
    return ds.drop_vars([v for v in drop if v in ds])


def write_atomic(path, writer) -> Path:
    """Call ``writer(tmp_path)`` then rename onto ``path``; never leaves a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        writer(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


# --------------------------------------------------------------------------- helpers


def stack(da: xr.DataArray, sector: str = "sector") -> np.ndarray:
    """``(region, sector[, ...])`` -> numpy ``(n[, ...])`` in canonical industry order
    (``da`` a DataArray or Variable; ``sector``: the dim holding sectors, e.g. ``product``)."""
    rest = [d for d in da.dims if d not in ("region", sector)]
    arr = da.transpose("region", sector, *rest).values
    return arr.reshape((-1,) + arr.shape[2:])


def unstack(values: np.ndarray, economy: xr.Dataset, extra_dims=(), extra_coords=None,
            name=None) -> xr.DataArray:
    """numpy ``(n[, ...])`` in industry order -> ``DataArray(region, sector[, ...])``."""
    R, S = economy.sizes["region"], economy.sizes["sector"]
    values = np.asarray(values).reshape((R, S) + np.shape(values)[1:])
    coords = {"region": economy["region"].values, "sector": economy["sector"].values}
    coords.update(extra_coords or {})
    return xr.DataArray(values, dims=("region", "sector", *extra_dims), coords=coords, name=name)
