r"""Supply-constrained rationing fixed point (Pichler & Farmer 2022, ESR 34(3)) on an MRIO.

Pure numerics: numpy/scipy arrays in, arrays out. Money is an annual rate. Every state array
carries a trailing scenario axis ``K`` so a batch of scenarios shares one factorisation of
``I - A`` and each iteration is one block solve.

Notation (``n`` industries ``i = (o, p)`` region-major, ``P`` products, ``R`` regions):
``A`` technical coefficients, ``L = (I - A)^-1``, ``a[p, j] = Σ_{i∈p} A[i, j]``, sourcing
shares ``τ0[i, j] = A[i, j] / a[p(i), j]``, import coefficients ``AM[p, j]``, capacity
``x̄`` (n, K), remaining foreign supply ``α_M`` (P, K), desired final demand ``f^d`` (n, K).

Iteration ``k`` (state: final demand ``f``, start ``f = f^d``):

1. total demand ``d = L (f + t + e)`` (``t``: demand moved between suppliers by sourcing
   substitution, ``e``: domestic orders replacing lost imports; both zero without a plan);
   ``d <- max(d, 0)``.
2. supplier delivery ratio ``r_i = min(1, x̄_i / d_i)`` (1 where ``d_i = 0``).
3. pooled availability of product ``p`` to buyer ``j`` over origins (suppliers of one product
   are substitutes, not complements): ``r̃[p, j] = Σ_{i∈p} τ[i, j] min(r_i, q[o(i), reg(j), p])``.
   Route caps are volumes: the pair ``(o, r, p)`` carries at most ``ρ Z0[o, r, p]`` (``ρ =
   min(1, rho + corridor)`` off the diagonal where a route event exists; ``Z0`` baseline flow),
   so ``q = min(1, ρ Z0 / Σ_{j∈r} τ[(o,p), j] a[p, j] d_j)`` (1 on uncapped pairs).
   Buyers whose ``τ[·∈p, j]`` columns are identical (gravity sourcing makes all sectors of a
   region share them) share one *sourcing row*; ``r̃`` is computed once per unique row (shares
   on a 1e-13 grid; hashes are verified entry by entry, so grouping is exact on that grid).
4. foreign imports are one pool per product with capacity ``α_M[p] M0[p]`` (baseline imports,
   intermediate + final): ``r_M[p] = min(1, α_M M0 / (Σ_j AM[p, j] d_j + MY^d[p]))``; imported
   final use is delivered at ``r_M``. Domestic-for-import substitution raises the buyers' import
   availability ``α̃ = r_M + m_p γ_p (1 - r_M)`` (``γ_p``: share of the substitutable lost
   imports that domestic spare capacity actually serves; those orders ``e`` go to domestic
   suppliers of ``p`` in proportion to their spare capacity).
5. combined availability ``s[p, j] = (a r̃ + AM α̃) / (a + AM)``; stockpiles fill a share
   ``θ`` of each region's remaining shortfall of ``p`` (regional holder first, then national):
   ``s <- s + θ (1 - s)``.
6. only material inputs bind: critical if ``a + AM >= critical_threshold`` (binds as ``s``),
   half-critical if ``>= half_critical_threshold`` (binds as ``(s + 1) / 2``);
   ``s_j = min(1, min_p ...)``.
7. output ``x = min(x̄, s d)``.
8. final deliveries: ``proportional``: ``f <- (x / d) f`` (final users get the same ratio as
   industries; cumulative, so ``f`` decreases monotonically until ``x = d``);
   ``mixed``: ``f <- min(f^d, max(0, x - A (s d)))`` (industries are served first).
9. stop when ``max_i |x_k - x_{k-1}|_i / x0_i < tol``; ``ConvergenceError`` after ``max_iter``.

Capacities (``x̄``, import pools, route caps) are volumes, so a constraint relaxes as demand
falls and the proportional iteration settles instead of decaying geometrically. Sourcing substitution (products with plan headroom or new links):
per sourcing row, the volume lost on short links ``Σ τ (1 - q) need`` (``q = min(r, ρ)``,
``need = Σ_j a[p, j] d_j``) is re-ordered from links with ``q = 1`` in proportion to the
supplier's spare capacity ``x̄ - x``, bounded by the headroom ``τ <= τ0 (1 + h)`` on existing
links, by the plan's new-link share (links absent at baseline) and by the supplier's spare
capacity; the move is damped (``τ += damping · Δτ``) and taken from the short links in
proportion to their shortfall, so shares keep summing to one. Friction: the substituted flow
``Σ max(0, τ - τ0) a x`` (and domestic replacement of imports) costs ``friction`` times its
value, charged to the buyer's value added (``substitution_cost``).

Pure final deliveries: ``f`` is split over destinations/uses and exports in proportion to
``f^d``; imported final use is delivered at ``α_M``. Stock release goes first to essential
final use (regional holder, then national in proportion to the regions' remaining essential
shortfall), the rest to intermediate users of the holder's region (national: all regions).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

EPS_BIND = 1e-9
#: Sourcing shares are grouped into patterns on this absolute grid (pooled availability is
#: then exact to this size, far below the fixed point's tolerance).
SHARE_QUANTUM = 1e-13


class NotConverged(RuntimeError):
    """Raised by :func:`solve_rationing` after ``max_iter`` iterations (carries the residual)."""

    def __init__(self, iterations: int, residual: float):
        super().__init__(f"no convergence after {iterations} iterations (residual {residual:.3g})")
        self.iterations = iterations
        self.residual = residual


# --------------------------------------------------------------------------- structure


@dataclass(eq=False)
class Sourcing:
    """Unique sourcing rows of an economy (built once per economy).

    Row ``u`` is a (product, buyer region, origin-share pattern). ``ent_*`` (CSR order by
    row): ``ent_row``, ``ent_sup`` (supplier industry), ``ent_orig`` (its region), ``ent_tau``.
    ``pj_*`` list every (product, buyer) with ``a > 0`` and its row ``pj_u``. ``G`` (u x n)
    pools supplier ratios; ``H`` (u x n, values ``a``) aggregates buyers' needs per row.
    """

    n: int
    R: int
    P: int
    row_p: np.ndarray
    row_reg: np.ndarray
    ent_row: np.ndarray
    ent_sup: np.ndarray
    ent_orig: np.ndarray
    ent_tau: np.ndarray
    pj_p: np.ndarray
    pj_j: np.ndarray
    pj_u: np.ndarray
    G: sp.csr_matrix
    H: sp.csr_matrix
    pair_index: dict = field(default_factory=dict, repr=False)

    @property
    def n_rows(self) -> int:
        return self.row_p.size


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (wrapping uint64 arithmetic)."""
    x = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def build_sourcing(tau0: sp.spmatrix, a_prod: np.ndarray, product_of: np.ndarray,
                   region_of: np.ndarray, n_region: int) -> Sourcing:
    """Group (product, buyer) sourcing columns into unique rows (exact: hashes are verified)."""
    n = tau0.shape[0]
    P = a_prod.shape[0]
    coo = tau0.tocoo()
    keep = coo.data != 0
    i, j, val = coo.row[keep], coo.col[keep], coo.data[keep].astype(np.float64)
    # shares that agree to SHARE_QUANTUM are one pattern (A / a rounds differently per column)
    val = np.round(val / SHARE_QUANTUM) * SHARE_QUANTUM
    p = product_of[i]
    o = region_of[i]
    group = p.astype(np.int64) * n + j
    order = np.lexsort((o, group))
    i, j, val, p, o, group = i[order], j[order], val[order], p[order], o[order], group[order]
    gstart = (np.flatnonzero(np.r_[True, group[1:] != group[:-1]]) if group.size
              else np.zeros(0, dtype=np.int64))
    glen = np.diff(np.r_[gstart, group.size])
    g_p, g_j = p[gstart], j[gstart]
    with np.errstate(over="ignore"):
        h_e = _mix64(val.view(np.uint64) ^ _mix64(o.astype(np.uint64) + np.uint64(0x9E3779B9)))
        gh = np.add.reduceat(h_e, gstart) if gstart.size else np.zeros(0, np.uint64)
        gh = _mix64(gh ^ _mix64(g_p.astype(np.uint64) * np.uint64(1_000_003)
                                + region_of[g_j].astype(np.uint64) * np.uint64(7919)
                                + glen.astype(np.uint64)))
    _, rep_of_hash, ginv = np.unique(gh, return_index=True, return_inverse=True)
    rep = rep_of_hash[ginv]  # representative group of each group
    # verify: every group equals its representative entry by entry
    pos = np.arange(group.size) - np.repeat(gstart, glen)
    gid = np.repeat(np.arange(gstart.size), glen)
    rep_e = gstart[rep[gid]] + pos
    rep_e_ok = np.minimum(rep_e, max(group.size - 1, 0))
    if group.size:
        same = ((glen[rep[gid]] == glen[gid]) & (o[rep_e_ok] == o) & (val[rep_e_ok] == val)
                & (p[gstart[rep[gid]]] == p) & (region_of[j[gstart[rep[gid]]]] == region_of[j]))
    else:
        same = np.ones(0, bool)
    bad_groups = np.unique(gid[~same])
    if bad_groups.size:  # hash collision: those groups become their own rows
        rep = rep.copy()
        rep[bad_groups] = bad_groups
    reps, g_u = np.unique(rep, return_inverse=True)
    ent_mask = np.isin(gid, reps)
    ent_row = g_u[gid[ent_mask]]
    order = np.argsort(ent_row, kind="stable")
    ent_row = ent_row[order]
    ent_sup = i[ent_mask][order]
    ent_orig = o[ent_mask][order]
    ent_tau = val[ent_mask][order]
    row_p = g_p[reps]
    row_reg = region_of[g_j[reps]]
    U = reps.size
    G = sp.csr_matrix((ent_tau, (ent_row, ent_sup)), shape=(U, n))
    pj_a = a_prod[g_p, g_j]
    H = sp.csr_matrix((pj_a, (g_u, g_j)), shape=(U, n))
    return Sourcing(n, n_region, P, row_p, row_reg, ent_row, ent_sup, ent_orig, ent_tau,
                    g_p, g_j, g_u, G, H)


@dataclass(eq=False)
class Pairs:
    """Binding (product, buyer) pairs sorted by buyer: input share ``a + AM`` at least the
    half-critical threshold. ``u`` is the sourcing row (-1 when ``a = 0``)."""

    p: np.ndarray
    j: np.ndarray
    reg: np.ndarray
    a: np.ndarray
    am: np.ndarray
    u: np.ndarray
    half: np.ndarray
    buyers: np.ndarray  # distinct j, ascending
    starts: np.ndarray  # reduceat starts per buyer


def binding_pairs(src: Sourcing, a_prod: np.ndarray, AM: np.ndarray, region_of: np.ndarray,
                  critical: float, half_critical: float) -> Pairs:
    """The inputs that can constrain each buyer (materiality thresholds on ``a + AM``)."""
    share = a_prod + AM
    pp, jj = np.nonzero(share.T >= half_critical)
    jj, pp = pp, jj  # nonzero of the transpose is sorted by buyer
    sh = share[pp, jj]
    u = np.full(pp.size, -1, dtype=np.int64)
    if src.pj_p.size:
        key_src = src.pj_p.astype(np.int64) * src.n + src.pj_j
        key = pp.astype(np.int64) * src.n + jj
        srt = np.argsort(key_src)
        loc = np.searchsorted(key_src[srt], key)
        loc = np.minimum(loc, key_src.size - 1)
        hit = key_src[srt][loc] == key
        u[hit] = src.pj_u[srt][loc[hit]]
    buyers, starts = np.unique(jj, return_index=True)
    return Pairs(pp, jj, region_of[jj], a_prod[pp, jj], AM[pp, jj], u, sh < critical,
                 buyers, starts)


# --------------------------------------------------------------------------- problem


#: Tables up to this many industries are factorised densely (LAPACK LU, BLAS-3 block solves);
#: larger ones use the sparse LU of :class:`stresstest.economy.Derived`.
DENSE_MAX = 3000


def dense_lu_solver(A: sp.spmatrix):
    """``rhs -> (I - A)^-1 rhs`` from one dense LU factorisation (no inverse is formed)."""
    import scipy.linalg as sla

    M = -A.toarray()
    M[np.diag_indices_from(M)] += 1.0
    lu = sla.lu_factor(M, overwrite_a=True, check_finite=False)

    def solve(rhs):
        return sla.lu_solve(lu, np.asarray(rhs, dtype=np.float64), check_finite=False)

    return solve


@dataclass(eq=False)
class Problem:
    """Everything the fixed point needs (economy part + scenario batch + plan)."""

    solve: object  # callable rhs(n, K) -> (I - A)^-1 rhs
    A: sp.csc_matrix
    x0: np.ndarray  # (n,)
    src: Sourcing
    pairs: Pairs
    region_of: np.ndarray
    product_of: np.ndarray
    xbar: np.ndarray  # (n, K)
    alpha: np.ndarray  # (P, K)
    fd: np.ndarray  # (n, K) desired final demand incl. exports
    rho: np.ndarray | None = None  # (R, R, P, K) effective route ratio, diagonal 1
    # plan
    headroom: np.ndarray | None = None  # (P,)
    new_links: np.ndarray | None = None  # (P,)
    friction: np.ndarray | None = None  # (P,)
    sub_imports: np.ndarray | None = None  # (P,)
    stock_int: np.ndarray | None = None  # (R + 1, P, K) stock available to intermediates
    AM: np.ndarray | None = None  # (P, n)
    imports0: np.ndarray | None = None  # (P,) baseline imports (intermediate + final)
    imports_final: np.ndarray | None = None  # (P, K) desired imported final use


def _pooled(src, ent_row, ent_sup, tau, q_cap, r, S_rows):
    """``r̃`` per sourcing row: ``Σ τ min(r, ρ)`` (``q_cap`` None: no route caps)."""
    if q_cap is None and S_rows is None:
        return src.G @ r
    q = r[ent_sup] if q_cap is None else np.minimum(r[ent_sup], q_cap)
    return S_rows @ ((tau if tau.ndim == 2 else tau[:, None]) * q)


def solve_rationing(pb: Problem, *, rule: str = "proportional", tol: float = 1e-10,
                    max_iter: int = 500, damping: float = 0.5) -> dict:
    """Iterate the rationing fixed point; returns a dict of (.., K) arrays and diagnostics.

    Keys: ``x, d, f, s, r, alpha_eff, tau_excess`` (per sourcing entry, for friction),
    ``e_imp`` (n, K), ``theta`` and ``theta_nat`` (stock fill ratios), ``stock_int_used``
    (R + 1, P, K), ``iterations``, ``residual``. Raises :class:`NotConverged`.
    """
    src, pr = pb.src, pb.pairs
    n, K = pb.xbar.shape
    R, P = src.R, src.P
    x0 = pb.x0
    xscale = np.where(x0 > 0, x0, max(float(np.abs(x0).max()), 1.0) * 1e-12 + 1e-300)[:, None]

    sub_rows = None
    if pb.headroom is not None or pb.new_links is not None:
        hr = pb.headroom if pb.headroom is not None else np.zeros(P)
        nl = pb.new_links if pb.new_links is not None else np.zeros(P)
        active_p = (hr > 0) | (nl > 0)
        if active_p.any():
            sub_rows = active_p[src.row_p]
    imp_sub = pb.sub_imports is not None and np.any(pb.sub_imports > 0)

    # sourcing entries (new-link candidates are appended when the plan allows new links)
    ent_row, ent_sup, ent_orig, tau0 = src.ent_row, src.ent_sup, src.ent_orig, src.ent_tau
    is_new = np.zeros(ent_row.size, bool)
    if sub_rows is not None and np.any(nl[src.row_p] > 0):
        rows_new = np.flatnonzero(nl[src.row_p] > 0)
        cand_row = np.repeat(rows_new, R)
        cand_orig = np.tile(np.arange(R), rows_new.size)
        cand_sup = cand_orig * P + src.row_p[cand_row]
        existing = set(zip(ent_row.tolist(), ent_orig.tolist()))
        fresh = np.array([(rw, og) not in existing for rw, og in zip(cand_row.tolist(),
                                                                   cand_orig.tolist())], bool)
        fresh &= x0[cand_sup] > 0
        ent_row = np.r_[ent_row, cand_row[fresh]]
        ent_sup = np.r_[ent_sup, cand_sup[fresh]]
        ent_orig = np.r_[ent_orig, cand_orig[fresh]]
        tau0 = np.r_[tau0, np.zeros(fresh.sum())]
        is_new = np.r_[is_new, np.ones(fresh.sum(), bool)]
        order = np.argsort(ent_row, kind="stable")
        ent_row, ent_sup, ent_orig, tau0, is_new = (ent_row[order], ent_sup[order],
                                                    ent_orig[order], tau0[order], is_new[order])
    U = src.n_rows
    nE = ent_row.size
    S_rows = None
    if pb.rho is not None or sub_rows is not None:
        S_rows = sp.csr_matrix((np.ones(nE), (ent_row, np.arange(nE))), shape=(U, nE))
    q_cap = None
    if pb.rho is not None:
        pair_key = (ent_orig * R + src.row_reg[ent_row]) * P + src.row_p[ent_row]
        rho_e = pb.rho.reshape(R * R * P, K)[pair_key]  # (nE, K)
        capped_e = rho_e < 1.0
        flow0 = _bincount2(pair_key, (tau0 * (src.H @ x0)[ent_row])[:, None], R * R * P)
        cap_vol = rho_e * flow0[pair_key]  # route capacity on the entry's pair, per year
        q_cap = np.ones((nE, K))
    tau = np.repeat(tau0[:, None], K, axis=1) if sub_rows is not None else tau0
    ent_sub = sub_rows[ent_row] if sub_rows is not None else None
    if sub_rows is not None:
        cap_exist = (tau0 * (1.0 + hr[src.row_p[ent_row]]))[:, None]
        nl_row = nl[src.row_p][:, None]

    # pair-level helpers
    pa, pam, pu, pj, preg, pp = pr.a, pr.am, pr.u, pr.j, pr.reg, pr.p
    wsum = pa + pam
    pu_ok = np.maximum(pu, 0)
    has_dom = (pu >= 0) & (pa > 0)
    has_imp = pam > 0
    half = pr.half
    preg_p = preg * P + pp  # (region, product) index of each pair

    AMd0 = pb.AM @ x0 if pb.AM is not None else np.zeros(P)
    imp0 = pb.imports0 if pb.imports0 is not None else AMd0
    impf = pb.imports_final if pb.imports_final is not None else np.zeros((P, K))
    imp_cap = pb.alpha * imp0[:, None]  # foreign supply, per year
    fd = pb.fd
    f = fd.copy()
    x = np.minimum(pb.xbar, x0[:, None])  # only for the first spare-capacity estimate
    x_prev = None
    t_dem = np.zeros((n, K))
    e_imp = np.zeros((n, K))
    gamma = np.zeros((P, K))
    residual = np.inf
    stock = pb.stock_int
    alpha_eff = pb.alpha
    theta = theta_nat = None
    stock_used = None
    cause = np.zeros((n, K), dtype=np.int8)  # 2 capacity, 3 input, 4 import, 5 route
    cause_p = np.full((n, K), -1, dtype=np.int16)
    for it in range(1, max_iter + 1):
        rhs = f
        if sub_rows is not None:
            rhs = rhs + t_dem
        if imp_sub:
            rhs = rhs + e_imp
        d = np.maximum(pb.solve(rhs), 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(d > 0, np.minimum(1.0, pb.xbar / d), 1.0)
        if q_cap is not None:
            tau_k = tau if tau.ndim == 2 else tau[:, None]
            dem = _bincount2(pair_key, tau_k * np.asarray(src.H @ d)[ent_row], R * R * P)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(dem[pair_key] > 0, cap_vol / dem[pair_key], 1.0)
            q_cap = np.where(capped_e, np.minimum(1.0, ratio), 1.0)
        rt = _pooled(src, ent_row, ent_sup, tau, q_cap, r, S_rows)  # (U, K)

        imp_dem = pb.AM @ d + impf
        with np.errstate(divide="ignore", invalid="ignore"):
            r_imp = np.where(imp_dem > 0, np.minimum(1.0, imp_cap / imp_dem), 1.0)
        alpha_eff = r_imp
        if imp_sub:
            alpha_eff = r_imp + (pb.sub_imports[:, None] * gamma) * (1.0 - r_imp)
        s_pair = np.zeros((pp.size, K))
        if has_dom.any():
            s_pair += np.where(has_dom[:, None], pa[:, None] * rt[pu_ok], 0.0)
        if has_imp.any():
            s_pair += pam[:, None] * alpha_eff[pp]
        s_pair /= wsum[:, None]
        if stock is not None:
            short = wsum[:, None] * (1.0 - s_pair) * d[pj]
            short_rp = _bincount2(preg_p, short, R * P).reshape(R, P, K)
            with np.errstate(divide="ignore", invalid="ignore"):
                theta = np.where(short_rp > 0, np.minimum(1.0, stock[:R] / short_rp), 0.0)
            s_pair = s_pair + theta.reshape(R * P, K)[preg_p] * (1.0 - s_pair)
            rem = short_rp * (1.0 - theta)
            rem_p = rem.sum(axis=0)
            with np.errstate(divide="ignore", invalid="ignore"):
                theta_nat = np.where(rem_p > 0, np.minimum(1.0, stock[R] / rem_p), 0.0)
            s_pair = s_pair + theta_nat[pp] * (1.0 - s_pair)
            stock_used = np.concatenate([theta * short_rp, (theta_nat * rem_p)[None]], axis=0)
        bind = np.where(half[:, None], 0.5 * (s_pair + 1.0), s_pair)
        s = np.ones((n, K))
        if pp.size:
            s[pr.buyers] = np.minimum(1.0, np.minimum.reduceat(bind, pr.starts, axis=0))
        x = np.minimum(pb.xbar, s * d)
        _record_cause(cause, cause_p, x, d, s, pb.xbar, bind, pr, rt, alpha_eff, q_cap, r,
                      tau, ent_sup, S_rows)

        if rule == "proportional":
            with np.errstate(divide="ignore", invalid="ignore"):
                f = np.where(d > 0, x / d, 1.0) * f
        else:
            f = np.minimum(fd, np.maximum(0.0, x - pb.A @ (s * d)))

        if sub_rows is not None:
            tau, t_dem = _substitute(src, ent_row, ent_sup, ent_sub, is_new, tau, tau0, q_cap,
                                     r, d, x, pb.xbar, cap_exist, nl_row, S_rows, damping, n)
        if imp_sub:
            gamma, e_imp = _substitute_imports(pb, gamma, e_imp, r_imp, d, x, damping)

        if x_prev is not None:
            residual = float(np.max(np.abs(x - x_prev) / xscale)) if x.size else 0.0
            if residual < tol:
                break
        x_prev = x
    else:
        raise NotConverged(max_iter, residual)

    tau_excess = None
    if sub_rows is not None:
        tau_excess = np.maximum(tau - tau0[:, None], 0.0)
    return {"x": x, "d": d, "f": f, "s": s, "r": r, "rt": rt, "alpha_eff": alpha_eff,
            "r_imp": r_imp,
            "s_pair": s_pair, "tau": tau, "tau0": tau0, "tau_excess": tau_excess,
            "ent_row": ent_row, "ent_sup": ent_sup, "ent_orig": ent_orig, "q_cap": q_cap,
            "S_rows": S_rows, "gamma": gamma, "e_imp": e_imp, "theta": theta,
            "theta_nat": theta_nat, "stock_int_used": stock_used,
            "cause": cause, "cause_p": cause_p, "iterations": it, "residual": residual}


def _record_cause(cause, cause_p, x, d, s, xbar, bind, pr, rt, alpha_eff, q_cap, r, tau,
                  ent_sup, S_rows):
    """Remember, per industry, the constraint that last cut its output below its demand:
    capacity, or the scarcest binding input (domestic ``input``, ``import``, ``route``)."""
    short = x < d * (1 - EPS_BIND)
    if not short.any():
        return
    at_cap = short & (x >= xbar * (1 - EPS_BIND))
    cause[at_cap] = 2
    cause_p[at_cap] = -1
    inp = short & ~at_cap
    if not inp.any() or pr.p.size == 0:
        return
    sel = inp[pr.j] & (bind <= s[pr.j] * (1 + 1e-15))  # (pairs, K): the minimum of its buyer
    pi, kk = np.nonzero(sel)
    if pi.size == 0:
        return
    u = pr.u[pi]
    uu = np.maximum(u, 0)
    dom = (np.where(u >= 0, pr.a[pi] * (1.0 - rt[uu, kk]), 0.0) if rt.shape[0]
           else np.zeros(pi.size))
    imp = pr.am[pi] * (1.0 - alpha_eff[pr.p[pi], kk])
    code = np.where(imp > dom, 4, 3).astype(np.int8)
    if q_cap is not None:
        tk = tau if tau.ndim == 2 else tau[:, None]
        rt_free = S_rows @ (tk * r[ent_sup])
        routed = (u >= 0) & (rt[uu, kk] < rt_free[uu, kk] - EPS_BIND) & (code == 3)
        code[routed] = 5
    cause[pr.j[pi], kk] = code
    cause_p[pr.j[pi], kk] = pr.p[pi]


def _bincount2(idx: np.ndarray, w: np.ndarray, size: int) -> np.ndarray:
    """Column-wise ``bincount``: ``out[b, k] = Σ_{idx == b} w[:, k]``."""
    M = sp.csr_matrix((np.ones(idx.size), (idx, np.arange(idx.size))), shape=(size, idx.size))
    return np.asarray(M @ w)


def _substitute(src, ent_row, ent_sup, ent_sub, is_new, tau, tau0, q_cap, r, d, x, xbar,
                cap_exist, nl_row, S_rows, damping, n):
    """One damped step of sourcing substitution; returns new shares and the demand transfer."""
    U = src.n_rows
    q = r[ent_sup] if q_cap is None else np.minimum(r[ent_sup], q_cap)
    need = np.asarray(src.H @ d)  # (U, K)
    spare = np.maximum(xbar - x, 0.0)
    sub = ent_sub[:, None]
    lost_e = np.where(sub, tau * (1.0 - q), 0.0)
    lost_u = S_rows @ lost_e  # share lost per row
    elig = sub & (q >= 1.0) & (spare[ent_sup] > 0)
    sp_e = np.where(elig, spare[ent_sup], 0.0)
    room_share = np.where(is_new[:, None], 0.0, np.maximum(cap_exist - tau, 0.0))
    if is_new.any():
        new_tot = S_rows @ np.where(is_new[:, None], tau, 0.0)
        room_new = np.maximum(nl_row - new_tot, 0.0)  # (U, K)
        sp_new = np.where(is_new[:, None], sp_e, 0.0)
        sp_new_sum = S_rows @ sp_new
        with np.errstate(divide="ignore", invalid="ignore"):
            share_new = np.where(sp_new_sum[ent_row] > 0, sp_new / sp_new_sum[ent_row], 0.0)
        room_share = np.where(is_new[:, None], room_new[ent_row] * share_new, room_share)
    sp_sum = S_rows @ sp_e
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(sp_sum[ent_row] > 0, sp_e / sp_sum[ent_row], 0.0)
    request = np.minimum(room_share, lost_u[ent_row] * w) * need[ent_row]  # volume
    req_sup = _bincount2(ent_sup, request, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(req_sup > 0, np.minimum(1.0, spare / req_sup), 0.0)
    grant = request * scale[ent_sup]
    with np.errstate(divide="ignore", invalid="ignore"):
        inc = np.where(need[ent_row] > 0, damping * grant / need[ent_row], 0.0)
    inc_u = S_rows @ inc
    lost_sum = lost_u
    with np.errstate(divide="ignore", invalid="ignore"):
        dec = np.where(lost_sum[ent_row] > 0, inc_u[ent_row] * lost_e / lost_sum[ent_row], 0.0)
    tau = tau + inc - dec
    moved = (tau - tau0[:, None]) * need[ent_row]
    t_dem = _bincount2(ent_sup, moved, n)
    return tau, t_dem


def _substitute_imports(pb, gamma, e_imp, r_imp, d, x, damping):
    """One damped step of domestic-for-import substitution: ``γ_p`` (share of the
    substitutable lost imports served) and the extra domestic orders ``e`` (n, K)."""
    P = pb.src.P
    m = pb.sub_imports
    lost_p = (pb.AM @ d) * (1.0 - r_imp) * m[:, None]  # (P, K) substitutable lost imports
    spare = np.maximum(pb.xbar - x, 0.0)
    prod = pb.product_of
    short = np.maximum(d - pb.xbar, 0.0)
    served = _bincount2(prod, e_imp, P)
    spare_p = _bincount2(prod, spare, P)
    room = np.maximum(lost_p - served, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        take = damping * np.minimum(room, spare_p)
        share = np.where(spare_p[prod] > 0, spare / spare_p[prod], 0.0)
    e_new = e_imp + take[prod] * share - damping * np.minimum(e_imp, short)
    served = _bincount2(prod, e_new, P)
    with np.errstate(divide="ignore", invalid="ignore"):
        excess = np.where(served > lost_p, lost_p / served, 1.0)
        e_new = e_new * excess[prod]
        served = np.minimum(served, lost_p)
        gamma = np.where(lost_p > 0, served / lost_p, 0.0)
    return gamma, e_new
