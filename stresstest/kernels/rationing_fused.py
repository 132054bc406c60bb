"""Fused passes of the rationing mode's order rounds (:func:`.rationing.solve_rationing`).

Written with numpy, a round forms the buyers' order bases ``y`` (P, n, K) — several passes
over ``P n K`` numbers, most of them zero-coefficient — only to contract them with the
sparse order-state map ``H``. :func:`order_state` does the contraction directly from the
round's availabilities, visiting only the entries of ``H``, compiled by numba (cached on disk
after the first call). It computes exactly what the numpy expressions in its docstring
compute, in the same order of operations (bit-identical; tested against them).
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: An absent optional array argument of these kernels (they test its first length), by rank.
NONE_1D, NONE_2D, NONE_3D = np.empty(0), np.empty((0, 0)), np.empty((0, 0, 0))


@njit(cache=True, nogil=True, error_model="numpy")  # x / 0 is inf, 0 / 0 nan, as in numpy
def order_state(ptr, rows, vals, buyer, pr, row, omega, rt, alpha_reg, x, plan,
                n_rows):  # pragma: no cover
    """``(H @ y, H @ y_full)`` for the buyers' best-response order bases

        y[p, j] = fmin(x_j / (ω[p, j] (r̃[row(p, j)] − α̃[p, reg j]) + α̃[p, reg j]), P_j)

    and full orders ``y_full[p, j] = P_j`` (``Hn @ plan``), with ``H`` by columns
    (:func:`order_state_columns`: the entries ``ptr[c]:ptr[c + 1]`` of ``rows, vals`` belong
    to the ``c``-th non-empty column ``(p, j)``, whose buyer ``j``, flat ``p R + reg j`` and
    pooled row are ``buyer[c], pr[c], row[c]``, its domestic share ``omega[c]``), ``rt``
    (U, K) the pooled availability, ``alpha_reg`` (P R, K), ``x`` and ``plan`` (n, K).
    Columns are visited in increasing order, so each row of ``H`` is summed in the order of
    its sorted CSR entries, as scipy's sparse product does; ``y`` is formed once per
    column."""
    K = x.shape[1]
    out = np.zeros((n_rows, K))
    full = np.zeros((n_rows, K))
    if K == 1:  # the same sums without the scenario loop (a third faster for one scenario)
        for c in range(buyer.shape[0]):
            j, a, w = buyer[c], alpha_reg[pr[c], 0], omega[c]
            v = x[j, 0] / (w * (rt[row[c], 0] - a) + a)
            pl = plan[j, 0]
            v = v if v < pl else pl
            for e in range(ptr[c], ptr[c + 1]):
                out[rows[e], 0] += vals[e] * v
                full[rows[e], 0] += vals[e] * pl
        return out, full
    y = np.empty(K)
    for c in range(buyer.shape[0]):
        j, g, r, w = buyer[c], pr[c], row[c], omega[c]
        for k in range(K):
            a = alpha_reg[g, k]
            v = x[j, k] / (w * (rt[r, k] - a) + a)
            pl = plan[j, k]
            y[k] = v if v < pl else pl  # fmin: x / 0 (inf) and 0 / 0 (nan) order the plan
        for e in range(ptr[c], ptr[c + 1]):
            u, h = rows[e], vals[e]
            for k in range(K):
                out[u, k] += h * y[k]
                full[u, k] += h * plan[j, k]
    return out, full


def order_state_columns(H, n, n_region, region_of, col_row, omega):
    """The column layout of the order-state map ``H`` (sparse, columns ``p n + j``) that
    :func:`order_state` reads: ``(ptr, rows, vals, buyer, pr, row, omega)`` over its
    non-empty columns, rows sorted within each column."""
    Hc = H.tocsc()
    Hc.sort_indices()
    counts = np.diff(Hc.indptr)
    cols = np.flatnonzero(counts)
    p, j = cols // n, cols % n
    ptr = np.concatenate([[0], np.cumsum(counts[cols])]).astype(np.int64)
    return (ptr, Hc.indices.astype(np.int64), Hc.data, j.astype(np.int64),
            (p * n_region + np.asarray(region_of)[j]).astype(np.int64),
            np.asarray(col_row)[p, j].astype(np.int64), np.asarray(omega)[p, j])


@njit(cache=True, nogil=True)
def input_ratio(rt_raw, pair_row, alpha, beta, pair_start, pair_js, n):  # pragma: no cover
    """:func:`.rationing.input_ratio` in one pass over the binding pairs:

        eff = min(α + β r̃_raw[pair_row], 1)          (npairs, K)
        s_j = min over j's pairs of eff, 1 without pairs   (n, K)

    (``pair_start``: the first pair of each industry ``pair_js`` that has pairs)."""
    npairs, K = alpha.shape
    eff = np.empty((npairs, K))
    s = np.ones((n, K))
    m = pair_js.shape[0]
    for i in range(m):
        lo = pair_start[i]
        hi = pair_start[i + 1] if i + 1 < m else npairs
        j = pair_js[i]
        for e in range(lo, hi):
            r = pair_row[e]
            for k in range(K):
                v = rt_raw[r, k] * beta[e, k] + alpha[e, k]
                if v > 1.0:  # np.minimum(v, 1): NaN stays NaN
                    v = 1.0
                eff[e, k] = v
                if e == lo or v < s[j, k] or v != v:  # NaN propagates, as in np.minimum
                    s[j, k] = v
    return s, eff


@njit(cache=True, nogil=True)
def pair_coefficients(alpha_reg, pair_pr, wm, wa, wo, sigma, theta_dom, inventory, h, h0,
                      any_half):  # pragma: no cover
    """``(α, β)`` of :func:`.rationing.pair_coefficients` in one pass over the pairs, in its
    order of operations: ``α = α̃[pr] wm (+ wo) (+ σ[pr]) (+ wa θ[pr]) (+ inventory)``,
    ``β = wa (1 − θ[pr])``, then for half-critical pairs ``α ← α h + h0``, ``β ← β h``.
    ``alpha_reg``, ``sigma``, ``theta_dom``: (P R, K); ``wm, wa, wo, h, h0`` (npairs,); the
    optional terms are empty arrays when absent."""
    npairs = pair_pr.shape[0]
    K = alpha_reg.shape[1]
    alpha = np.empty((npairs, K))
    beta = np.empty((npairs, K))
    has_wo, has_sigma = wo.shape[0] > 0, sigma.shape[0] > 0
    has_theta, has_inv = theta_dom.shape[0] > 0, inventory.shape[0] > 0
    for e in range(npairs):
        g = pair_pr[e]
        for k in range(K):
            a = alpha_reg[g, k] * wm[e]
            if has_wo:
                a += wo[e]
            if has_sigma:
                a += sigma[g, k]
            if has_theta:
                th = theta_dom[g, k]
                b = wa[e] * (1.0 - th)
                a += th * wa[e]
            else:
                b = wa[e]
            if has_inv:
                a += inventory[e, k]
            if any_half:
                a = a * h[e] + h0[e]
                b = b * h[e]
            alpha[e, k] = a
            beta[e, k] = b
    return alpha, beta


@njit(cache=True, nogil=True)
def anderson_update(y, gy, f_prev, g_prev, dF, dG, p, has_prev, cols):  # pragma: no cover
    """One pass of :class:`.rationing.Anderson`'s step over the state (N, K): the residual
    ``f = G(y) − y``; with ``has_prev`` the newest differences ``dF[p] = f − f_prev``,
    ``dG[p] = G(y) − g_prev`` (ring buffers (depth, N, K0) of which scenario ``k`` owns
    column ``cols[k]``); ``f_prev, g_prev`` (N, K0) become ``f, G(y)`` in place. Returns
    ``dots[k, q] = dF[q]·dF[p]`` (the Gram row) and ``rhs[k, q] = dF[q]·f`` per scenario
    (K, depth), each summed over the state in order, whatever the batch."""
    N, K = gy.shape
    d = dF.shape[0]
    dots = np.zeros((K, d))
    rhs = np.zeros((K, d))
    for i in range(N):
        for k in range(K):
            c = cols[k]
            g = gy[i, k]
            f = g - y[i, k]
            if has_prev:
                dp = f - f_prev[i, c]
                dF[p, i, c] = dp
                dG[p, i, c] = g - g_prev[i, c]
                for q in range(d):
                    v = dF[q, i, c]
                    dots[k, q] += v * dp
                    rhs[k, q] += v * f
            f_prev[i, c] = f
            g_prev[i, c] = g
    return dots, rhs


@njit(cache=True, nogil=True)
def anderson_mix(gy, dG, gamma, lower, upper, cols):  # pragma: no cover
    """``G(y) − Σ_q γ[k, q] dG[q, :, cols[k]]`` (N, K), clipped to ``[lower, upper]`` as
    ``np.clip`` does (``lower``: a scalar, −inf for none; ``upper`` (N,) a bound per row of
    the state, the same for every scenario, or (0,) for none)."""
    N, K = gy.shape
    d = dG.shape[0]
    has_upper = upper.shape[0] > 0
    out = np.empty((N, K))
    for i in range(N):
        for k in range(K):
            c = cols[k]
            acc = 0.0
            for q in range(d):
                acc += gamma[k, q] * dG[q, i, c]
            v = gy[i, k] - acc
            if v < lower:
                v = lower
            if has_upper and v > upper[i]:
                v = upper[i]
            out[i, k] = v
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def resourcing_gaps(rt, alpha_t, plan, pair_p, pair_j, pair_row, pair_pr, a, m, cover,
                    window, n_pr):  # pragma: no cover
    """The shortfalls of :func:`.rationing.substitution_shares`, summed per (product, buyer
    region) ``pair_pr`` in pair order (as the sparse product with its summing matrix does):

        gap_dom = ((1 − r̃[row]) a) P_j,   gap_imp = ((1 − α̃_p) m) P_j
        (shortfalls ≤ 1e-12 count as 0), totals before and after the stocks' cover
        left = fmax(1 − (((a + m) cover) / window) P_j / (gap_dom + gap_imp), 0)

    (``cover``: the buyer's inventory days of the input, empty for none). Returns
    ``(dom_total, imp_total, dom_short, imp_short)`` (P R, K)."""
    K = plan.shape[1]
    dom_total = np.zeros((n_pr, K))
    imp_total = np.zeros((n_pr, K))
    has_cover = cover.shape[0] > 0
    if has_cover:
        dom_short = np.zeros((n_pr, K))
        imp_short = np.zeros((n_pr, K))
    else:
        dom_short, imp_short = dom_total, imp_total
    for e in range(pair_p.shape[0]):
        j, g, r, p = pair_j[e], pair_pr[e], pair_row[e], pair_p[e]
        for k in range(K):
            pj = plan[j, k]
            sd = 1.0 - rt[r, k]
            if sd <= 1e-12:
                sd = 0.0
            si = 1.0 - alpha_t[p, k]
            if si <= 1e-12:
                si = 0.0
            gd = sd * a[e] * pj
            gi = si * m[e] * pj
            dom_total[g, k] += gd
            imp_total[g, k] += gi
            if has_cover:
                left = (a[e] + m[e]) * cover[e] / window[k] * pj
                left = 1.0 - left / (gd + gi)
                if not left > 0.0:  # fmax(left, 0): no shortfall (0 / 0) leaves nothing
                    left = 0.0
                dom_short[g, k] += gd * left
                imp_short[g, k] += gi * left
    return dom_total, imp_total, dom_short, imp_short


@njit(cache=True, nogil=True, error_model="numpy")
def route_caps(io, io_first, fd, cap, exports, prio, cols):  # pragma: no cover
    """Route caps of the order rounds in one pass over (supplier, destination region): with
    ``orders = io + fd`` (intermediate orders by destination ``io`` (n, R, K), final orders
    ``fd`` (n, R, K0) of which scenario ``k`` reads column ``cols[k]``, as ``cap``,
    ``exports`` (n, K0) and ``prio`` (n, R, K0)),

        c = min(1, cap / orders) where orders > 0, else 1
        D̂_int = Σ_r c io,   D̂_fin = Σ_r c fd + exports,   D̂_first = Σ_r c io_first,
        prio_c = Σ_r c prio

    each summed over destinations in order (``io_first`` or ``prio`` (0, 0, 0) for none:
    ``D̂_first`` or ``prio_c`` is then empty). ``c`` is returned by destination region,
    ``c_rn`` (R, n, K), the layout the delivery ratios read (:func:`pooled_routes`)."""
    n, R, K = io.shape
    has_first = io_first.shape[0] > 0
    has_prio = prio.shape[0] > 0
    c = np.empty((R, n, K))
    d_int = np.zeros((n, K))
    d_fin = np.zeros((n, K))
    first = np.zeros((n, K)) if has_first else np.zeros((0, K))
    prio_c = np.zeros((n, K)) if has_prio else np.zeros((0, K))
    if K == 1:  # the same sums in scalar accumulators, without the scenario loop
        q = cols[0]
        for i in range(n):
            si = 0.0
            sf = 0.0
            s1 = 0.0
            sp = 0.0
            for r in range(R):
                f = fd[i, r, q]
                x = io[i, r, 0]
                o = x + f
                if o > 0:
                    v = cap[i, r, q] / o
                    if v > 1.0:
                        v = 1.0
                else:
                    v = 1.0
                c[r, i, 0] = v
                si += v * x
                sf += v * f
                if has_first:
                    s1 += v * io_first[i, r, 0]
                if has_prio:
                    sp += v * prio[i, r, q]
            d_int[i, 0] = si
            d_fin[i, 0] = sf + exports[i, q]
            if has_first:
                first[i, 0] = s1
            if has_prio:
                prio_c[i, 0] = sp
        return c, d_int, d_fin, first, prio_c
    for i in range(n):
        for r in range(R):
            for k in range(K):
                q = cols[k]
                f = fd[i, r, q]
                x = io[i, r, k]
                o = x + f
                if o > 0:
                    v = cap[i, r, q] / o
                    if v > 1.0:  # np.minimum(1, v): NaN stays NaN
                        v = 1.0
                else:
                    v = 1.0
                c[r, i, k] = v
                d_int[i, k] += v * x
                d_fin[i, k] += v * f
                if has_first:
                    first[i, k] += v * io_first[i, r, k]
                if has_prio:
                    prio_c[i, k] += v * prio[i, r, q]
        for k in range(K):
            d_fin[i, k] += exports[i, cols[k]]
    return c, d_int, d_fin, first, prio_c


@njit(cache=True, nogil=True)
def pooled_routes(G_ptr, G_idx, G_val, row_r, c_rn, r):  # pragma: no cover
    """The pooled availability through route factors, ``r̃[u] = Σ_i G[u, i] (c[i, reg u]
    r_i)`` (U, K) (``G`` in CSR; ``c_rn`` the route factors by destination region (R, n, K),
    so that a row reads its region's factors contiguously; ``r`` (n, K)), each row summed in
    the order of its entries as scipy's sparse product does."""
    U = G_ptr.shape[0] - 1
    R, n, K = c_rn.shape
    out = np.empty((U, K))
    if K == 1:  # c r by region first, then a scalar accumulator per row: 3x faster
        cr = np.empty((R, n))
        for reg in range(R):
            for i in range(n):
                cr[reg, i] = c_rn[reg, i, 0] * r[i, 0]
        for u in range(U):
            ru = row_r[u]
            a = 0.0
            for t in range(G_ptr[u], G_ptr[u + 1]):
                a += G_val[t] * cr[ru, G_idx[t]]
            out[u, 0] = a
        return out
    acc = np.empty(K)
    for u in range(U):
        ru = row_r[u]
        acc[:] = 0.0
        for t in range(G_ptr[u], G_ptr[u + 1]):
            i, g = G_idx[t], G_val[t]
            for k in range(K):
                acc[k] += g * (c_rn[ru, i, k] * r[i, k])
        out[u] = acc
    return out


@njit(cache=True, nogil=True)
def binding_pair(eff, s, pair_j, pair_start, pair_js, n):  # pragma: no cover
    """:func:`.rationing.binding_pair` in one pass over the pairs: the first pair of each
    industry whose availability is within 1e-12 (relative) of its bottleneck,
    ``eff <= s (1 + 1e-12)``, (n, K) indices into the pairs; -1 for industries without
    pairs (or where no pair qualifies, when ``s`` is NaN)."""
    npairs, K = eff.shape
    out = np.full((n, K), -1, np.int64)
    m = pair_js.shape[0]
    for i in range(m):
        lo = pair_start[i]
        hi = pair_start[i + 1] if i + 1 < m else npairs
        j = pair_js[i]
        for k in range(K):
            lim = s[j, k] * (1 + 1e-12)
            for e in range(lo, hi):
                if eff[e, k] <= lim:
                    out[j, k] = e
                    break
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def order_step(new, full, orders, scale):  # pragma: no cover
    """The step of the order state and its normalised image, in one pass over (rows, K):
    ``step_k = max_u |new − orders| / full`` over rows with ``full > 0`` (0 if none; NaN
    propagates, as in ``np.max``) and ``new / scale``."""
    rows, K = new.shape
    step = np.zeros(K)
    new_s = np.empty((rows, K))
    for u in range(rows):
        for k in range(K):
            f = full[u, k]
            v = new[u, k]
            if f > 0:
                d = abs(v - orders[u, k]) / f
                if d > step[k] or d != d:
                    step[k] = d
            new_s[u, k] = v / scale[u, k]
    return step, new_s


@njit(cache=True, nogil=True)
def policy_system(policy, g, const, w, alpha, beta, c_rn, G_ptr, G_idx, G_val, pair_row, row_r,
                  n_rows):  # pragma: no cover
    """The linear system of one delivery-ratio policy for a batch, as
    :func:`.rationing._policy_system_solve` describes it: ``(I − M) z = h`` in CSR
    ``(data, indices, indptr)`` with ``h``, and per industry and scenario ``b``, ``d`` and the
    unknown ``wid`` its binding pair reads (-1: none), so that ``r = b + d z[wid]``.

    Unknowns are the (scenario, pooled row) pairs some policy reads, scenario-major with rows
    ascending; each CSR row holds its diagonal ``1 − M[u, u]`` first, then ``−M[u, t]`` in
    the order of ``G``'s entries; ``G`` (CSR ``G_ptr, G_idx, G_val``) with ``n_rows`` rows,
    ``c_rn`` the route factors by destination region (R, n, K) or an empty array. The same
    operations in the same order as the numpy assembly it replaced (bit-identical; tested
    against it)."""
    n, K = policy.shape
    b = const.copy()
    d = np.zeros((n, K))
    wid = np.full((n, K), -1, np.int64)
    reads = np.full(n_rows, -1, np.int64)
    uq = np.empty(n * K, np.int64)
    uu = np.empty(n * K, np.int64)
    W = 0
    for q in range(K):
        reads[:] = -1
        for j in range(n):
            k = policy[j, q]
            if k >= 0:
                b[j, q] = g[j, q] * alpha[k, q] + w[j, q]
                d[j, q] = g[j, q] * beta[k, q]
                reads[pair_row[k]] = 0
        for u in range(n_rows):
            if reads[u] == 0:
                reads[u] = W
                uq[W], uu[W] = q, u
                W += 1
        for j in range(n):
            k = policy[j, q]
            if k >= 0:
                wid[j, q] = reads[pair_row[k]]
    has_c = c_rn.shape[0] > 0
    size = W
    for e in range(W):
        u = uu[e]
        size += G_ptr[u + 1] - G_ptr[u]
    indptr = np.empty(W + 1, np.int64)
    indices = np.empty(size, np.int64)
    data = np.empty(size)
    h = np.zeros(W)
    pos = 0
    for e in range(W):
        q, u = uq[e], uu[e]
        indptr[e] = pos
        diag_at = pos
        indices[pos] = e
        pos += 1
        diag = 0.0
        for t in range(G_ptr[u], G_ptr[u + 1]):
            i = G_idx[t]
            v = G_val[t]
            if has_c:
                v = v * c_rn[row_r[u], i, q]
            h[e] += v * b[i, q]
            tg = wid[i, q]
            if tg < 0:
                continue
            mv = v * d[i, q]
            if tg == e:
                diag += mv
            else:
                indices[pos] = tg
                data[pos] = -mv
                pos += 1
        data[diag_at] = 1.0 - diag
    indptr[W] = pos
    return data[:pos], indices[:pos], indptr, h, b, d, wid


@njit(cache=True, nogil=True, error_model="numpy")
def allocate(demand, spare, T0, headroom, new_links, need, n_new):  # pragma: no cover
    """Pro-rata re-sourcing flows of :func:`.rationing.substitution_shares` in one pass per
    (product, scenario): ``F[o, d] = min(cap[o, d], spare_o min(Σd, Σs) / Σs · demand_d / Σd)`` where
    both totals are positive, with ``cap = headroom · T0`` on existing links and ``new_links
    · need_d / n_new_d`` on the others (when some active product of the batch allows new
    links; ``need`` (P, R, K), ``n_new`` (P, R) the links absent at baseline into each
    region, at least 1); returns what each destination gets and each origin sends (P, R, K),
    summed in order. ``demand``, ``spare`` (P, R, K); ``T0`` (P, R_o, R_d); ``headroom``,
    ``new_links`` (P, K)."""
    P, R, K = demand.shape
    got = np.zeros((P, R, K))
    sent = np.zeros((P, R, K))
    tot_d = np.zeros((P, K))
    tot_s = np.zeros((P, K))
    any_new = False
    for p in range(P):
        for k in range(K):
            for r in range(R):
                tot_d[p, k] += demand[p, r, k]
                tot_s[p, k] += spare[p, r, k]
            if tot_d[p, k] > 0 and tot_s[p, k] > 0 and new_links[p, k] > 0:
                any_new = True
    frac = np.empty(R)  # each destination's share of the demand, and its cap on new links
    cap_new = np.empty(R)
    got_pk = np.empty(R)
    for p in range(P):
        for k in range(K):
            td, ts = tot_d[p, k], tot_s[p, k]
            if not (td > 0 and ts > 0):
                continue
            scale = min(td, ts) / ts
            hr, nl = headroom[p, k], new_links[p, k]
            for d in range(R):
                frac[d] = demand[p, d, k] / td
                if any_new:
                    cap_new[d] = nl * need[p, d, k] / n_new[p, d]
                got_pk[d] = 0.0
            for o in range(R):
                fs = spare[p, o, k] * scale
                s_o = 0.0
                for d in range(R):
                    f = fs * frac[d]
                    t0 = T0[p, o, d]
                    cap = cap_new[d] if any_new and not t0 > 0 else hr * t0
                    if cap < f or cap != cap:  # np.minimum: NaN propagates
                        f = cap
                    got_pk[d] += f
                    s_o += f
                sent[p, o, k] = s_o
            for d in range(R):
                got[p, d, k] = got_pk[d]
    return got, sent


@njit(cache=True, nogil=True, error_model="numpy")
def stock_use(plan, x, rt, alpha_reg, sigma, omega, col_row, a, m, share, inventory, window,
              n_region, need_only):  # pragma: no cover
    """What the answer's order bases are needed for, without forming them (P, n, K): with
    ``y[p, j] = fmin(x_j / avail[p, j], P_j)``, ``avail = ω (r̃[row] − α̃) + α̃`` (the order
    bases, as in :func:`order_state`) and ``b = share[p, j] y``,

        gap = max(0, share x_j − y (a r̃[row] + m α̃)),  less the buyer's inventory
              ``max(0, gap − (inventory / window) b)`` (``inventory`` empty for none),
        stock_used = Σ_(j in region) min(gap, σ[p, reg j] b),   need = Σ_(j in region) b

    (P, R, K) each; ``need_only``: ``stock_used`` is left empty (no stocks). Buyers ``j = r S
    + s`` (S sectors per region). The sums over a region's buyers run in numpy's order (pairwise
    for one scenario, in order for a batch), so both equal the numpy expressions of
    ``_finish`` bit for bit."""
    P, n = share.shape
    K = x.shape[1]
    R = n_region
    S = n // R
    need = np.zeros((P, R, K))
    stock = np.zeros((0, 0, 0)) if need_only else np.zeros((P, R, K))
    has_inv = inventory.shape[0] > 0
    buf_s = np.empty(S)
    buf_n = np.empty(S)
    for p in range(P):
        for r in range(R):
            for k in range(K):
                al = alpha_reg[p, r, k]
                for t in range(S):
                    j = r * S + t
                    dom = rt[col_row[p, j], k]
                    av = omega[p, j] * (dom - al)
                    av += al
                    y = x[j, k] / av
                    pj = plan[j, k]
                    if y != y or pj < y:  # np.fmin: x / 0 and 0 / 0 order the plan
                        y = pj
                    sh = share[p, j]
                    buf_n[t] = sh * y
                    if need_only:
                        continue
                    g = sh * x[j, k] - y * (a[p, j] * dom + m[p, j] * al)
                    if g < 0.0:
                        g = 0.0
                    if has_inv:
                        g = g - inventory[p, j] / window[k] * sh * y
                        if g < 0.0:
                            g = 0.0
                    cap = sigma[p, r, k] * sh * y
                    if g == g and (cap != cap or cap < g):  # np.minimum: NaN propagates
                        g = cap
                    buf_s[t] = g
                need[p, r, k] = _sum_in_numpy_order(buf_n, K == 1)
                if not need_only:
                    stock[p, r, k] = _sum_in_numpy_order(buf_s, K == 1)
    return stock, need


@njit(cache=True, nogil=True)
def sum_over_axis1(a):  # pragma: no cover
    """``a.sum(axis=1)`` of a C-contiguous (P, R, K) array, in numpy's order: pairwise (eight
    accumulators, blocks of 128 split in halves) along the contiguous axis when ``K == 1``,
    row after row otherwise — so a kernel that takes over such a sum stays bit-identical."""
    P, R, K = a.shape
    out = np.empty((P, K))
    for p in range(P):
        for k in range(K):
            out[p, k] = _sum_in_numpy_order(a[p, :, k], K == 1)
    return out


@njit(cache=True, nogil=True)
def _sum_in_numpy_order(v, contiguous):  # pragma: no cover
    """The sum of ``v`` as numpy reduces it: pairwise (:func:`_pairwise`) along a
    ``contiguous`` axis, else in order from 0."""
    if contiguous:
        return _pairwise(v)
    acc = 0.0
    for i in range(v.shape[0]):
        acc += v[i]
    return acc


@njit(cache=True, nogil=True)
def _pairwise(v):  # pragma: no cover
    """numpy's pairwise sum of a 1-D array (``pairwise_sum`` in its ``loops_utils``)."""
    n = v.shape[0]
    if n < 8:
        res = 0.0
        for i in range(n):
            res += v[i]
        return res
    if n <= 128:
        r0, r1, r2, r3 = v[0], v[1], v[2], v[3]
        r4, r5, r6, r7 = v[4], v[5], v[6], v[7]
        i = 8
        while i < n - n % 8:
            r0 += v[i]
            r1 += v[i + 1]
            r2 += v[i + 2]
            r3 += v[i + 3]
            r4 += v[i + 4]
            r5 += v[i + 5]
            r6 += v[i + 6]
            r7 += v[i + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += v[i]
            i += 1
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return _pairwise(v[:n2]) + _pairwise(v[n2:])


@njit(cache=True, nogil=True, error_model="numpy")
def resourcing_flows(dom_total, imp_total, dom_short, imp_short, imports, enabled, s, xbar, x,
                     T0, headroom, new_links, need, n_new):  # pragma: no cover
    """The re-sourcing of :func:`.rationing.substitution_shares` from its shortfalls (P, R, K)
    on: spare capacity ``max(0, s x̄ − x)`` (n, K) by (product, region), zero where product
    ``p`` re-sources nothing (``enabled`` (P, K) False); the domestic shortfalls allocated by
    :func:`allocate`; lost imports (``imp_short`` times ``imports`` (P, K)) shared pro rata
    over the spare capacity left, ``got = dem · min(Σdem, Σleft) / Σdem``, ``sent = left ·
    min(Σdem, Σleft) / Σleft``. Returns ``θ = min(1, got_dom / dom_total)``,
    ``θ_imp = min(1, got_imp / imp_total)`` (0 where the totals are 0), (P, R, K), and the
    suppliers' extra orders ``sent_dom + sent_imp`` (n, K): the numpy expressions it replaced,
    in their order of operations (bit-identical)."""
    P, R, K = dom_total.shape
    spare = np.empty((P, R, K))
    dem = np.empty((P, R, K))
    for r in range(R):
        for p in range(P):
            i = r * P + p
            for k in range(K):
                on = 1.0 if enabled[p, k] else 0.0
                v = s[i, k] * xbar[i, k] - x[i, k]
                if v < 0.0:
                    v = 0.0
                spare[p, r, k] = v * on
                dem[p, r, k] = dom_short[p, r, k] * on
    got_dom, sent_dom = allocate(dem, spare, T0, headroom, new_links, need, n_new)
    for p in range(P):
        for r in range(R):
            for k in range(K):
                on = 1.0 if enabled[p, k] else 0.0
                v = spare[p, r, k] - sent_dom[p, r, k]
                if v < 0.0:
                    v = 0.0
                spare[p, r, k] = v
                dem[p, r, k] = imp_short[p, r, k] * imports[p, k] * on
    tot_d = sum_over_axis1(dem)
    tot_s = sum_over_axis1(spare)
    theta = np.empty((P, R, K))
    theta_imp = np.empty((P, R, K))
    flows = np.empty((R * P, K))
    for p in range(P):
        for k in range(K):
            td, ts = tot_d[p, k], tot_s[p, k]
            volume = td if td < ts or td != td else ts
            fd = volume / (td if td > 0 else 1.0)
            fs = volume / (ts if ts > 0 else 1.0)
            for r in range(R):
                got_imp = dem[p, r, k] * fd if td > 0 else 0.0
                sent_imp = spare[p, r, k] * fs if ts > 0 else 0.0
                t = dom_total[p, r, k]
                v = got_dom[p, r, k] / (t if t > 0 else 1.0)
                theta[p, r, k] = (1.0 if v > 1.0 else v) if t > 0 else 0.0
                t = imp_total[p, r, k]
                v = got_imp / (t if t > 0 else 1.0)
                theta_imp[p, r, k] = (1.0 if v > 1.0 else v) if t > 0 else 0.0
                flows[r * P + p, k] = sent_dom[p, r, k] + sent_imp
    return theta, theta_imp, flows


@njit(cache=True, nogil=True)
def solve_by_components(data, indices, indptr, h, max_block):  # pragma: no cover
    """Solve the sparse system ``A z = h`` (CSR; a policy system of
    :func:`policy_system`) by its strongly connected components: Tarjan's algorithm finds
    them in an order where every component comes after the components it reads, so each is
    a small dense system (Gaussian elimination with partial pivoting) once the unknowns it
    reads outside itself are known. Policy systems are nearly triangular (china31: the
    largest component of about 110 unknowns has a few dozen), which makes this much cheaper
    than a general sparse factorisation. Returns ``(z, status)``: 0 solved, 1 singular (a
    zero pivot), 2 a component larger than ``max_block`` (``z`` undefined: solve otherwise).
    """
    W = h.shape[0]
    z = np.zeros(W)
    index = np.full(W, -1, np.int64)
    low = np.zeros(W, np.int64)
    on_stack = np.zeros(W, np.bool_)
    stack = np.empty(W, np.int64)
    sp = 0
    call = np.empty(W, np.int64)  # the depth-first path: node and its next entry
    nxt = np.empty(W, np.int64)
    local = np.full(W, -1, np.int64)
    counter = 0
    for root in range(W):
        if index[root] >= 0:
            continue
        depth = 0
        call[0] = root
        nxt[0] = indptr[root]
        index[root] = low[root] = counter
        counter += 1
        stack[sp] = root
        sp += 1
        on_stack[root] = True
        while depth >= 0:
            v = call[depth]
            e = nxt[depth]
            if e < indptr[v + 1]:
                nxt[depth] = e + 1
                w = indices[e]
                if w == v:
                    continue
                if index[w] < 0:
                    index[w] = low[w] = counter
                    counter += 1
                    stack[sp] = w
                    sp += 1
                    on_stack[w] = True
                    depth += 1
                    call[depth] = w
                    nxt[depth] = indptr[w]
                elif on_stack[w] and index[w] < low[v]:
                    low[v] = index[w]
                continue
            if low[v] == index[v]:  # v roots a component: pop it and solve it
                top = sp
                while True:
                    sp -= 1
                    on_stack[stack[sp]] = False
                    if stack[sp] == v:
                        break
                size = top - sp
                if size > max_block:
                    return z, 2
                members = stack[sp:top]
                for a in range(size):
                    local[members[a]] = a
                B = np.zeros((size, size))
                rhs = np.empty(size)
                for a in range(size):
                    u = members[a]
                    acc = h[u]
                    for t in range(indptr[u], indptr[u + 1]):
                        c = indices[t]
                        if local[c] >= 0:
                            B[a, local[c]] += data[t]
                        else:
                            acc -= data[t] * z[c]
                    rhs[a] = acc
                for col in range(size):  # Gaussian elimination, partial pivoting
                    piv = col
                    best = abs(B[col, col])
                    for rr in range(col + 1, size):
                        if abs(B[rr, col]) > best:
                            best = abs(B[rr, col])
                            piv = rr
                    if best == 0.0:
                        return z, 1
                    if piv != col:
                        for cc in range(col, size):
                            B[col, cc], B[piv, cc] = B[piv, cc], B[col, cc]
                        rhs[col], rhs[piv] = rhs[piv], rhs[col]
                    for rr in range(col + 1, size):
                        f = B[rr, col] / B[col, col]
                        if f != 0.0:
                            for cc in range(col + 1, size):
                                B[rr, cc] -= f * B[col, cc]
                            rhs[rr] -= f * rhs[col]
                for a in range(size - 1, -1, -1):
                    acc = rhs[a]
                    for cc in range(a + 1, size):
                        acc -= B[a, cc] * rhs[cc]
                    rhs[a] = acc / B[a, a]
                for a in range(size):
                    z[members[a]] = rhs[a]
                    local[members[a]] = -1
            depth -= 1
            if depth >= 0:
                p = call[depth]
                if low[v] < low[p]:
                    low[p] = low[v]
    return z, 0
