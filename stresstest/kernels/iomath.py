"""Linear input-output algebra: pure numpy/scipy functions on the stacked industry axis.

Notation: ``Z`` (n x n) intermediate flows, ``x`` (n) gross output, ``y`` (n) final demand,
``A = Z diag(x)^-1``, ``L = (I - A)^-1``, ``B = diag(x)^-1 Z``, ``G = (I - B)^-1``,
``A* = diag(x)^-1 A diag(x)``. Industries with ``x = 0`` get zero coefficients.

Nothing here forms ``L`` unless asked to: the functions take ``solve`` (``rhs -> L rhs``) and
``solve_t`` (``rhs -> L^T rhs``) callables, e.g. :meth:`stresstest.economy.Derived.solve` /
``solve_transposed``, which reuse one factorisation of ``I - A``. Two identities avoid a
second factorisation: ``G = diag(x)^-1 L diag(x)`` and ``(I - A*)^-1 = diag(x)^-1 L diag(x)``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.sparse as sp

Solve = Callable[[np.ndarray], np.ndarray]

#: Largest table for which a full ``n x n`` inverse (``L``, ``G``) may be formed.
DENSE_LIMIT = 3000


def safe_inverse(x: np.ndarray) -> np.ndarray:
    """``1 / x`` where ``x > 0``, else 0."""
    x = np.asarray(x, dtype=np.float64)
    return np.divide(1.0, x, out=np.zeros_like(x), where=x > 0)


def technical_coefficients(Z, x):
    """``A = Z diag(x)^-1`` (input per unit of the buying industry's output); sparse stays sparse."""
    inv = safe_inverse(x)
    if sp.issparse(Z):
        return sp.csc_matrix(Z @ sp.diags(inv))
    return np.asarray(Z, dtype=np.float64) * inv[None, :]


def allocation_coefficients(Z, x):
    """Ghosh ``B = diag(x)^-1 Z`` (share of the selling industry's output sold to each buyer)."""
    inv = safe_inverse(x)
    if sp.issparse(Z):
        return sp.csr_matrix(sp.diags(inv) @ Z)
    return np.asarray(Z, dtype=np.float64) * inv[:, None]


def astar(A, x):
    """Inoperability interdependency ``A* = diag(x)^-1 A diag(x)`` (``A*_ij = Z_ij / x_i``)."""
    x = np.asarray(x, dtype=np.float64)
    inv = safe_inverse(x)
    if sp.issparse(A):
        return sp.csr_matrix(sp.diags(inv) @ A @ sp.diags(x))
    return inv[:, None] * np.asarray(A, dtype=np.float64) * x[None, :]


def dense_solver(A) -> Solve:
    """``rhs -> (I - A)^-1 rhs`` for a small dense ``A`` (tests, ground-truth cases)."""
    import scipy.linalg as sla

    A = np.asarray(A.toarray() if sp.issparse(A) else A, dtype=np.float64)
    lu = sla.lu_factor(np.eye(A.shape[0]) - A)
    return lambda rhs: sla.lu_solve(lu, np.asarray(rhs, dtype=np.float64))


def dense_solver_t(A) -> Solve:
    """``rhs -> (I - A)^-T rhs`` for a small dense ``A``."""
    import scipy.linalg as sla

    A = np.asarray(A.toarray() if sp.issparse(A) else A, dtype=np.float64)
    lu = sla.lu_factor(np.eye(A.shape[0]) - A)
    return lambda rhs: sla.lu_solve(lu, np.asarray(rhs, dtype=np.float64), trans=1)


def leontief_output(solve: Solve, y: np.ndarray) -> np.ndarray:
    """Demand-driven output ``x = L y`` for ``y`` (n) or a block (n, k)."""
    return solve(np.asarray(y, dtype=np.float64))


def leontief_inverse(solve: Solve, n: int) -> np.ndarray:
    """Dense ``L`` (n x n) by one block solve with the identity; only for ``n <= DENSE_LIMIT``."""
    _check_dense(n)
    return solve(np.eye(n))


def output_multipliers(solve_t: Solve, n: int) -> np.ndarray:
    """Type-I output multipliers ``m_j = Σ_i L_ij`` (column sums): one solve ``L^T 1``."""
    return solve_t(np.ones(n))


def ghosh_inverse(solve: Solve, x: np.ndarray) -> np.ndarray:
    """Dense Ghosh inverse ``G = diag(x)^-1 L diag(x)`` (n <= ``DENSE_LIMIT``).

    Columns with ``x_j = 0`` are those of ``L`` scaled by zero; rows with ``x_i = 0`` are set to
    the unit row (the industry neither sells nor is sold to).
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    _check_dense(n)
    G = safe_inverse(x)[:, None] * solve(np.diag(x))
    zero = x <= 0
    if zero.any():
        G[zero, :] = 0.0
        G[zero, zero] = 1.0
    return G


def ghosh_output(solve_t: Solve, x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Supply-driven output ``x'^T = v'^T G`` for primary inputs ``v'`` (n) — forward linkages
    only; never use it to propagate a supply cut. ``G^T v = diag(x) L^T diag(x)^-1 v``."""
    x = np.asarray(x, dtype=np.float64)
    return x * solve_t(safe_inverse(x) * np.asarray(v, dtype=np.float64))


# --------------------------------------------------------------------------- inoperability


def inoperability(solve: Solve, x: np.ndarray, c: np.ndarray, cap: bool = True) -> np.ndarray:
    """Static IIM ``q = (I - A*)^-1 c*`` via ``diag(x)^-1 L diag(x) c*``, capped at 1.

    ``c`` (n) or (n, k): demand perturbation as a share of each industry's output.
    """
    x = np.asarray(x, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    xs = x if c.ndim == 1 else x[:, None]
    q = solve(xs * c) * safe_inverse(xs)
    return np.minimum(q, 1.0) if cap else q


def inoperability_from_astar(Astar, c, cap: bool = True) -> np.ndarray:
    """Static IIM from a given ``A*`` (dense, small): ``q = min(1, (I - A*)^-1 c)``."""
    q = dense_solver(Astar)(np.asarray(c, dtype=np.float64))
    return np.minimum(q, 1.0) if cap else q


def diim_step(q: np.ndarray, Astar, K: np.ndarray, c: np.ndarray) -> np.ndarray:
    """One DIIM day: ``q + K (A* q + c* - q)`` clipped to ``[0, 1]`` (vectorised over industries;
    ``q`` may carry trailing columns)."""
    Aq = Astar @ q
    K = np.asarray(K, dtype=np.float64)
    if q.ndim > 1 and K.ndim == 1:
        K = K[:, None]
    return np.clip(q + K * (Aq + c - q), 0.0, 1.0)


def diim_path(Astar, K, c, steps: int, q0=None) -> np.ndarray:
    """DIIM trajectory ``q[t]`` for ``t = 0 .. steps-1`` (shape (steps, n)) with ``q[0] = q0``
    (default 0) and ``q[t] = clip(q[t-1] + K (A* q[t-1] + c*[t] - q[t-1]), 0, 1)`` for
    ``t >= 1`` (Lian & Haimes 2006, discrete form; the convention of stigrs/diim).

    ``c`` is (n) constant or (steps, n) per day (row ``t`` drives the step into day ``t``;
    row 0 is unused).
    ``K`` (n or scalar) is the resilience (recovery rate per day).
    """
    c = np.asarray(c, dtype=np.float64)
    n = Astar.shape[0]
    K = np.broadcast_to(np.asarray(K, dtype=np.float64), (n,))
    out = np.zeros((int(steps), n))
    out[0] = 0.0 if q0 is None else np.asarray(q0, dtype=np.float64)
    for t in range(int(steps) - 1):
        ct = c if c.ndim == 1 else c[t + 1]
        out[t + 1] = diim_step(out[t], Astar, K, ct)
    return out


# --------------------------------------------------------------------------- extraction


def leontief_diagonal(solve: Solve, n: int, chunk: int = 512) -> np.ndarray:
    """Diagonal of ``L`` with ``n`` solves in blocks of ``chunk`` unit vectors (memory
    ``O(n * chunk)``; never stores ``L``)."""
    diag = np.empty(n)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        E = np.zeros((n, stop - start))
        E[np.arange(start, stop), np.arange(stop - start)] = 1.0
        block = solve(E)
        diag[start:stop] = block[np.arange(start, stop), np.arange(stop - start)]
    return diag


def extraction_losses(solve: Solve, solve_t: Solve, x: np.ndarray, y: np.ndarray,
                      kind: str = "total", l_diag: np.ndarray | None = None) -> np.ndarray:
    """Output lost in the whole system when each industry ``j`` is extracted, closed forms.

    With ``m = 1^T L`` (output multipliers) and ``L_jj`` (diagonal; ``n`` solves, see
    :func:`leontief_diagonal`), by the block inverse / Sherman-Morrison formulas
    (Miller & Lahr 2001; Dietzenbacher & Lahr 2013):

    - ``total`` (row and column ``j`` removed, ``y_j`` lost): ``ΔX_j = x_j m_j / L_jj``.
      The others' output falls by ``L_ij x_j / L_jj``; ``x_j`` itself is lost.
    - ``backward`` (column ``j`` of ``A`` zero: ``j`` buys no inputs):
      ``ΔX_j = x_j (m_j - 1) / L_jj``.
    - ``forward`` (row ``j`` of ``A`` zero: nobody buys ``j``'s output as an input; the buyers'
      demand vanishes, Leontief forward extraction): ``ΔX_j = m_j (x_j - y_j) / L_jj``.
    - ``forward_ghosh`` (row ``j`` of ``B`` zero in the supply-driven model):
      ``ΔX_j = ((L x)_j - x_j) / L_jj`` since ``G = diag(x)^-1 L diag(x)``.

    Cost: one transposed solve, one solve, and ``n`` solves for ``diag(L)`` (pass ``l_diag``
    to reuse it). Returns (n) money per the units of ``x``.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = x.size
    ld = leontief_diagonal(solve, n) if l_diag is None else np.asarray(l_diag, dtype=np.float64)
    if kind == "forward_ghosh":
        return (solve(x) - x) / ld
    m = output_multipliers(solve_t, n)
    if kind == "total":
        return x * m / ld
    if kind == "backward":
        return x * (m - 1.0) / ld
    if kind == "forward":
        return m * (x - y) / ld
    raise ValueError(f"extraction kind must be total, backward, forward or forward_ghosh, "
                     f"got {kind!r}")


def extraction_bruteforce(A: np.ndarray, y: np.ndarray, j: int, kind: str = "total") -> float:
    """Reference: output lost when industry ``j`` is extracted, by re-inversion (tests only)."""
    A = np.asarray(A, dtype=np.float64)
    n = A.shape[0]
    x = np.linalg.solve(np.eye(n) - A, y)
    if kind == "total":
        keep = np.arange(n) != j
        xr = np.linalg.solve(np.eye(n - 1) - A[np.ix_(keep, keep)], y[keep])
        return float(x.sum() - xr.sum())
    A2 = A.copy()
    if kind == "backward":
        A2[:, j] = 0.0
    elif kind == "forward":
        A2[j, :] = 0.0
    elif kind == "forward_ghosh":
        B = safe_inverse(x)[:, None] * A * x[None, :]
        v = x - B.T @ x
        B[j, :] = 0.0
        return float(x.sum() - np.linalg.solve((np.eye(n) - B).T, v).sum())
    else:
        raise ValueError(kind)
    return float(x.sum() - np.linalg.solve(np.eye(n) - A2, y).sum())


# --------------------------------------------------------------------------- mixed model


def mixed_output(solve: Solve, x0: np.ndarray, y0: np.ndarray, y: np.ndarray,
                 capacity: np.ndarray, rtol: float = 1e-12, max_iter: int = 200):
    """Mixed exogenous/endogenous Leontief model: ``x = min(capacity, A x + y)``.

    Industries in the exogenous set ``X`` produce at capacity and their final deliveries
    ``f_X`` become endogenous; the others meet final demand ``y`` and the intermediate demand.
    Solved in increments from the baseline (``x0 = L y0``), so ``y = y0`` with enough capacity
    returns ``x0`` exactly: ``x = x0 + L Δf`` with ``Δf_E = Δy_E`` and ``Δf_X`` from
    ``L_XX Δf_X = cap_X - x0_X - (L Δy_E)_X`` (``|X|`` solves with the given factorisation, then
    a dense ``|X| x |X|`` solve). ``X`` is found by policy iteration from ``X = {L y > cap}``:
    drop members whose final deliveries would exceed demand, add members above capacity.

    Returns ``(x, f, X, iterations)``: output, final deliveries (``f_E = y_E``, ``f_X`` may be
    negative when capacity cannot cover the intermediate demand), boolean mask of ``X``.
    """
    x0 = np.asarray(x0, dtype=np.float64)
    y0 = np.asarray(y0, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    cap = np.asarray(capacity, dtype=np.float64)
    n = x0.size
    dy = y - y0
    xd = x0 + solve(dy) if np.any(dy != 0) else x0.copy()
    tol = rtol * (np.abs(x0) + np.abs(cap)) + 1e-300
    X = xd > cap + tol
    x, f = xd, y.copy()
    it = 0
    seen = set()
    while X.any() and it < max_iter:
        it += 1
        idx = np.flatnonzero(X)
        dyE = np.where(X, 0.0, dy)
        lE = solve(dyE) if np.any(dyE != 0) else np.zeros(n)
        E = np.zeros((n, idx.size))
        E[idx, np.arange(idx.size)] = 1.0
        LX = solve(E)
        dfX = np.linalg.solve(LX[idx], cap[idx] - x0[idx] - lE[idx])
        x = x0 + lE + LX @ dfX
        x[idx] = cap[idx]
        f = y.copy()
        f[idx] = y0[idx] + dfX
        drop = X & (f > y + tol)
        add = ~X & (x > cap + tol)
        if not (drop.any() or add.any()):
            break
        key = X.tobytes()
        if key in seen:
            break
        seen.add(key)
        X = (X & ~drop) | add
    if not X.any():
        x, f = xd, y.copy()
    return x, f, X, it


def compressed_axis_index(M: sp.spmatrix) -> np.ndarray:
    """The compressed-axis index of each stored entry of a CSR (its row) or CSC (its column)
    matrix, in storage order."""
    return np.repeat(np.arange(M.indptr.size - 1), np.diff(M.indptr))


def unique_rows(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(first, inverse)`` of the distinct rows of ``keys`` (m, c) in lexicographic order, as
    ``np.unique(keys, axis=0, return_index=True, return_inverse=True)`` gives them, by one
    stable lexsort of the columns (``np.unique`` sorts the rows as structured records, 30x
    slower on china31's sourcing shares): ``first`` the index of each distinct row's first
    occurrence, ``inverse`` each row's distinct-row number."""
    m = keys.shape[0]
    order = np.lexsort(keys.T[::-1])
    ranked = keys[order]
    new = np.ones(m, dtype=bool)
    new[1:] = (ranked[1:] != ranked[:-1]).any(axis=1)
    inverse = np.empty(m, dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return order[new], inverse


def pooled_rows(tau: sp.spmatrix, product_of, region_of, n_product, decimals: int = 12):
    """Group buyer columns with identical sourcing shares per product and buyer region.

    Returns ``(G, row_p, row_r, col_row)`` with ``col_row[p, j]`` the row of buyer ``j`` for
    product ``p`` (-1 where ``j`` buys none of ``p``). Shares are compared rounded to
    ``decimals`` (they are ratios computed column by column).
    """
    tau = sp.csc_matrix(tau)
    n = tau.shape[0]
    col_row = np.full((n_product, n), -1, dtype=np.int64)
    rows_i, rows_v, row_len, row_p, row_r = [], [], [], [], []
    tau_csr = sp.csr_matrix(tau)
    base = 0
    for p in range(n_product):  # one vectorised pass per product
        origins = np.flatnonzero(product_of == p)
        block = tau_csr[origins].toarray()  # (n_origin_of_p, n)
        used = np.flatnonzero(block.sum(axis=0) > 0)
        if used.size == 0:
            continue
        keys = np.round(block[:, used].T, decimals)
        keys = np.concatenate([keys, region_of[used, None].astype(float)], axis=1)
        first, inverse = unique_rows(keys)
        col_row[p, used] = base + inverse
        rep = used[first]  # a representative buyer of each row
        sub = block[:, rep].T  # (rows, n_origin_of_p)
        k, o = np.nonzero(sub)
        rows_i.append(origins[o])
        rows_v.append(sub[k, o])
        row_len.append(np.bincount(k, minlength=rep.size))
        row_p.append(np.full(rep.size, p))
        row_r.append(region_of[rep])
        base += rep.size
    row_p = np.concatenate(row_p) if row_p else np.zeros(0, np.int64)
    row_r = np.concatenate(row_r) if row_r else np.zeros(0, np.int64)
    U = len(row_p)
    indptr = np.concatenate([[0], np.cumsum(np.concatenate(row_len) if row_len else [])]
                            ).astype(np.int64)
    indices = np.concatenate(rows_i) if rows_i else np.zeros(0, np.int64)
    data = np.concatenate(rows_v) if rows_v else np.zeros(0)
    G = sp.csr_matrix((data, indices, indptr), shape=(U, n))
    return G, np.asarray(row_p, np.int64), np.asarray(row_r, np.int64), col_row


def _check_dense(n: int) -> None:
    if n > DENSE_LIMIT:
        raise ValueError(f"refusing to form a dense {n} x {n} inverse (limit {DENSE_LIMIT}); "
                         "use solves with the factorisation instead")
