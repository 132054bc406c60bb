"""Fused per-element passes of the dynamic mode's day (:func:`stresstest.kernels.dynamic.simulate`).

The day's state lives in (product, industry) arrays of ``P n`` numbers; written with numpy,
each of its ~150 element-wise operations is one pass over memory. These kernels do the
inventory part of a day in one pass over the (product, industry) arrays, which also leaves
tomorrow's input-feasible output ready (a pass over the rated inputs when a stock release
changes the arrivals), compiled by numba (cached on disk after the first
call). They compute exactly what the numpy expressions in their docstrings compute, in the
same order of operations (bit-identical; tested against those expressions).

The re-sourcing deviation's contractions (a few thousand pairs a day) and the pooled rows'
products are compiled too: there numpy's gathers and scipy's sparse products cost more in
calls than in arithmetic; they sum in scipy's and ``np.bincount``'s order (bit-identical,
tested against those calls).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def rated_minima(S, arr, arrM, inv, rated_p, rated_j, rated_half):  # pragma: no cover
    """``v = (S + arr + arrM) inv`` minimised over each buyer's critical and over its
    half-critical inputs (the pairs ``(rated_p[k], rated_j[k])`` in row-major order,
    half-critical where ``rated_half[k]``): ``(min_c, argmin_c, min_h, argmin_h)`` per buyer,
    the first minimising input; ``inf`` and 0 where a buyer has none."""
    n = S.shape[1]
    best_c = np.full(n, np.inf)
    arg_c = np.zeros(n, np.int64)
    best_h = np.full(n, np.inf)
    arg_h = np.zeros(n, np.int64)
    for k in range(rated_p.shape[0]):
        p, j = rated_p[k], rated_j[k]
        v = S[p, j] + arr[p, j]
        v = (v + arrM[p, j]) * inv[p, j]
        if rated_half[k]:
            if v < best_h[j]:
                best_h[j] = v
                arg_h[j] = p
        elif v < best_c[j]:
            best_c[j] = v
            arg_c[j] = p
    return best_c, arg_c, best_h, arg_h


@njit(cache=True, nogil=True)
def feasible_output(best_c, arg_c, best_h, arg_h, cap, any_half):  # pragma: no cover
    """Input-feasible output from :func:`rated_minima`: ``x^c = min_c`` and, with
    ``any_half``, ``x^h = ½ min_h + ½ cap``. Returns ``(min(x^c, x^h), binding product)``,
    the critical input's where ``x^c <= x^h``; ``inf``, product 0 without a rated input."""
    n = cap.shape[0]
    xin = np.empty(n)
    bp = np.empty(n, np.int64)
    for j in range(n):
        if any_half:
            xh = 0.5 * best_h[j] + 0.5 * cap[j]
            xin[j] = min(best_c[j], xh)
            bp[j] = arg_c[j] if best_c[j] <= xh else arg_h[j]
        else:
            xin[j] = best_c[j]
            bp[j] = arg_c[j]
    return xin, bp


@njit(cache=True, nogil=True)
def final_deliveries(Yc, Yo, Yn, r_fc, r_fo, n_region, delivered, consumed):  # pragma: no cover
    """Domestic final use delivered, by destination region and product (R, P): consumption
    ``Yc r_fc`` plus other final use ``Yo r_fo`` plus draw-downs ``Yn`` (industry ``i = o S +
    p`` by destination, (n, R) each), summed over the origin regions ``o`` in order, into
    ``delivered``; the consumption alone into ``consumed``."""
    n, R = Yc.shape
    S = n // n_region
    delivered[:] = 0.0
    consumed[:] = 0.0
    for o in range(n_region):
        for p in range(S):
            i = o * S + p
            fc, fo = r_fc[i], r_fo[i]
            for r in range(R):
                yc = Yc[i, r] * fc
                y = yc + Yo[i, r] * fo
                y = y + Yn[i, r]
                delivered[r, p] += y
                consumed[r, p] += yc


@njit(cache=True, nogil=True)
def pooled_ratios(per_row, row_of, first, tiers, ratio_f, ratio_r):  # pragma: no cover
    """Delivery ratios of every buyer-product from its pooled row's availability
    ``per_row[t, row_of[p, j]]`` of each tier ``t``: with ``tiers`` ``ratio_f`` is the
    binding buyers' tier (1) where ``first``, else the others' (0), and ``ratio_r`` the
    restocking tier (2); without, ``ratio_f`` is tier 0 (``ratio_r`` not written)."""
    P, n = row_of.shape
    for p in range(P):
        for j in range(n):
            row = row_of[p, j]
            if tiers:
                ratio_f[p, j] = per_row[1, row] if first[p, j] else per_row[0, row]
                ratio_r[p, j] = per_row[2, row]
            else:
                ratio_f[p, j] = per_row[0, row]


@njit(cache=True, nogil=True)
def settle(Of, ratio_f, Or, ratio_r, tiers, first, store_first, E, substituting, update_E,
           imf, res_rate, OM, rMf, OMr, rMr, S, arr, x, Sm, arrM, arrE, a, AM, xopt, Sstar, irt,
           inv, rated,
           arr_next, arrM_next, arrE_next, use, S_next, Sm_next, O_next, OM_next, Or_next,
           OMr_next, E_next, Of_next, Off_next, best_c, arg_c, best_h, arg_h, row_of,
           row_orders, friction, per_unit, cost_e):  # pragma: no cover
    """Tomorrow's arrivals, today's use and inventories, and tomorrow's orders, in one pass
    over the (product, industry) arrays; writes the ``*_next`` arrays and ``use``.

    Arrivals: ``arr' = Of r_f (+ Or r_r)``, ``arrM' = OM r^M_f (+ OMr r^M_r)`` (``r^M`` per
    product), ``arrE' = E r_f`` when ``substituting`` (else ``arrE_next`` is not written:
    the caller passes zeros, and ``E`` is 0 and not read). Use and inventories, with
    ``share = a + AM`` and the imported share ``wm = 1 − a / share`` (0 where nothing is
    used): ``use = min(share x, avail)`` with ``avail = S + arr + arrM``,
    ``S' = avail − use``, ``Sm' = Sm + arrM + arrE − wm use``. Orders: the pool's gap
    ``G = S* − S'`` is restocked from the domestic line up to the domestic account's own gap
    ``(S* − wm S*) − (S' − Sm')``, clipped to the sign of ``G``, and from imports for the
    rest: ``dom = clip(G − (wm S* − Sm'), min(G, 0), max(G, 0))``,
    ``need_d = max(dom irt + a xopt, 0)``, ``need_m = max((G − dom) irt + AM xopt, 0)``. With
    ``tiers`` the current-needs orders are ``min(need, flow)`` and the rest restocking orders
    (``Or'``, ``OMr'``); without, the whole need is a current-needs order. With
    ``update_E`` the orders replacing lost imports rise toward ``e* = imf OM (1 − r^M_f)`` at
    ``res_rate`` and fall to it at once (a buyer cancels the substitutes it no longer needs):
    ``E' = E + res_rate (e* − E)`` if ``e* ≥ E`` else ``e*`` (else ``E_next`` is not
    written: the caller keeps ``E``). Tomorrow's current-needs orders ``Of' = O' + E'`` and,
    with tiers, those of the buyers for which the input binds ``Of' first`` (stored in
    ``Off_next`` only with ``store_first``: pooled rows read their sums); tomorrow's
    :func:`rated_minima` of ``S' + arr' + arrM'`` (``rated`` (P, n): 1 a critical input,
    2 a half-critical one, 0 neither) go to ``best_c … arg_h``. With ``row_of`` (P, n) the
    pooled sourcing row of each buyer-product (``row_orders.shape[0] - 1``: none), the
    orders ``Of'``, ``Of' first`` and ``Or'`` summed per row, in the order of the buyers'
    flat index, go to ``row_orders`` (rows, 3) (a (0, 0) ``row_of``: not summed). With
    ``friction`` (P; empty: none) the use per unit of the orders being filled,
    ``per_unit = use / (Of + OM (+ Or + OMr))`` (0 where nothing is ordered), goes to
    ``per_unit`` and the friction on the import-substituting part of the inputs used,
    ``Σ_p friction_p E per_unit``, to ``cost_e`` (n). Returns whether any ``E'`` and any
    ``Or'`` is nonzero.
    """
    P, n = Of.shape
    best_c[:] = np.inf
    arg_c[:] = 0
    best_h[:] = np.inf
    arg_h[:] = 0
    e_any = False
    r_any = False
    pooled = row_of.shape[0] > 0
    if pooled:
        row_orders[:] = 0.0
    charge = friction.shape[0] > 0
    if charge:
        cost_e[:] = 0.0
    for p in range(P):
        rf_m = rMf[p]
        rr_m = rMr[p]
        lost_m = 1.0 - rf_m
        for j in range(n):
            rf = ratio_f[p, j]
            v = Of[p, j] * rf
            m = OM[p, j] * rf_m
            if tiers:
                v = v + Or[p, j] * ratio_r[p, j]
                m = m + OMr[p, j] * rr_m
            arr_next[p, j] = v
            arrM_next[p, j] = m
            if substituting:  # else arrE_next is the caller's zeros, left as they are
                arrE_next[p, j] = E[p, j] * rf
            ap, mp = a[p, j], AM[p, j]
            share = ap + mp
            wm = 1.0 - ap / share if share > 0.0 else 0.0
            u = share * x[j]
            av = S[p, j] + arr[p, j]
            av = av + arrM[p, j]
            if av < u:
                u = av
            use[p, j] = u
            if charge:
                pl = Of[p, j] + OM[p, j]
                if tiers:
                    pl = pl + Or[p, j]
                    pl = pl + OMr[p, j]
                w = u / pl if pl > 0.0 else 0.0
                per_unit[p, j] = w
                cost_e[j] += friction[p] * (E[p, j] * w)
            s = av - u
            S_next[p, j] = s
            sm = Sm[p, j] + arrM[p, j]
            sm = sm + arrE[p, j]
            sm = sm - wm * u
            Sm_next[p, j] = sm
            cls = rated[p, j]
            if cls:  # rated_minima's update, written out: a helper call cost 20% of the day
                w = s + v
                w = (w + m) * inv[p, j]
                if cls == 2:
                    if w < best_h[j]:
                        best_h[j] = w
                        arg_h[j] = p
                elif w < best_c[j]:
                    best_c[j] = w
                    arg_c[j] = p
            fd = ap * xopt[j]
            fm = mp * xopt[j]
            st = Sstar[p, j]
            g = st - s
            dom = g - (wm * st - sm)
            lo = g if g < 0.0 else 0.0
            hi = g if g > 0.0 else 0.0
            if dom < lo:
                dom = lo
            if dom > hi:
                dom = hi
            nd = (g - dom) * irt + fm
            need_m = nd if nd > 0.0 else 0.0
            nd = dom * irt + fd
            need_d = nd if nd > 0.0 else 0.0
            e = E[p, j] if substituting else 0.0  # E stays 0 without substitution
            if update_E:
                t = imf[p, j] * OM[p, j]
                t = t * lost_m
                if t < e:
                    e = t
                else:
                    t = t - e
                    t = t * res_rate
                    e = e + t
                E_next[p, j] = e
                if e != 0.0:
                    e_any = True
            if tiers:
                od = need_d if need_d < fd else fd
                om = need_m if need_m < fm else fm
                O_next[p, j] = od
                OM_next[p, j] = om
                rd = need_d - od
                Or_next[p, j] = rd
                OMr_next[p, j] = need_m - om
                if rd != 0.0:
                    r_any = True
                of = od + e
                Of_next[p, j] = of
                off = of * 1.0 if first[p, j] else of * 0.0
                if store_first:
                    Off_next[p, j] = off
                if pooled:
                    row = row_of[p, j]
                    row_orders[row, 0] += of
                    row_orders[row, 1] += off
                    row_orders[row, 2] += rd
            else:
                O_next[p, j] = need_d
                OM_next[p, j] = need_m
                of = need_d + e
                Of_next[p, j] = of
                if pooled:
                    row_orders[row_of[p, j], 0] += of
    return e_any, r_any


# --------------------------------------------------------------------------- re-sourcing
# The deviation Δ (ngroups, R) of the re-sourcing pairs ``(pair_s[t], pair_k[t])`` (buyer
# ``pair_k`` of product ``pair_s``, group ``pair_g``; the groups of product ``s`` are
# ``group_ptr[s]:group_ptr[s + 1]``, of supplier product ``group_s``).


@njit(cache=True, nogil=True)
def pair_demand(O, pair_s, pair_k, pair_g, group_ptr, delta, out, col):  # pragma: no cover
    """Extra orders on suppliers from the deviation, into ``out[:, col, :]`` (S, k, R):
    ``out[s, col, o] = Σ_(g of s) go[g] Δ[g, o]`` with the orders of each group
    ``go[g] = Σ_(t in g) O[pair_s[t], pair_k[t]]``, each summed in index order (the sums of
    ``np.bincount`` and of scipy's sparse product with the groups' selector)."""
    ng, R = delta.shape
    go = np.zeros(ng)
    for t in range(pair_g.shape[0]):
        go[pair_g[t]] += O[pair_s[t], pair_k[t]]
    for s in range(group_ptr.shape[0] - 1):
        for o in range(R):
            out[s, col, o] = 0.0
        for g in range(group_ptr[s], group_ptr[s + 1]):
            v = go[g]
            for o in range(R):
                out[s, col, o] += v * delta[g, o]


@njit(cache=True, nogil=True)
def add_pair_ratios(ratio, r, pair_s, pair_k, pair_g, group_s, delta, S):  # pragma: no cover
    """Add the deviation's part of the pooled delivery ratio to the pairs of ``ratio``
    (P, n): ``ratio[s, k] += Σ_o Δ[g, o] r[o S + group_s[g]]``, each group's sum formed once
    in supplier order (as scipy's product with Δ as a sparse (ngroups, n) matrix)."""
    ng, R = delta.shape
    v = np.empty(ng)
    for g in range(ng):
        acc = 0.0
        sg = group_s[g]
        for o in range(R):
            acc += delta[g, o] * r[o * S + sg]
        v[g] = acc
    for t in range(pair_g.shape[0]):
        ratio[pair_s[t], pair_k[t]] += v[pair_g[t]]


@njit(cache=True, nogil=True)
def pair_cost(friction, pos, O, per_unit, pair_s, pair_k, pair_g, n):  # pragma: no cover
    """Friction per buyer (n) on the part of the inputs used that re-sourcing moved:
    ``Σ_t (friction[s] pos[g]) (O[s, k] per_unit[s, k])`` over the pairs ``t = (s, k)``
    of buyer ``k``, summed in pair order (as ``np.bincount``); ``pos[g]`` the share moved
    away from the group's suppliers."""
    out = np.zeros(n)
    for t in range(pair_g.shape[0]):
        s, k = pair_s[t], pair_k[t]
        out[k] += (friction[s] * pos[pair_g[t]]) * (O[s, k] * per_unit[s, k])
    return out


# --------------------------------------------------------------------------- pooled rows


@njit(cache=True, nogil=True)
def csr_columns(ptr, idx, val, X, live, out):  # pragma: no cover
    """``out[t, r] = Σ_e val[e] X[t, idx[e]]`` over the entries ``ptr[r]:ptr[r + 1]`` of a
    matrix in CSR, for the rows ``t`` of ``X`` (k <= 3) where ``live[t]`` (the others of
    ``out`` untouched), each sum in the order of the entries as scipy's sparse product does.
    The pooled rows' delivery ratios (``G`` times the suppliers' ratios) and the orders on
    suppliers (``Gᵀ`` times the orders per pooled row) of up to three order tiers: a row's
    sums in one pass, each in its own accumulator (a pass per tier, each one chain of
    dependent additions, ran slower than scipy)."""
    k = X.shape[0]
    if k > 3:
        raise ValueError("csr_columns takes at most three rows of X")
    l0 = k > 0 and live[0]
    l1 = k > 1 and live[1]
    l2 = k > 2 and live[2]
    for r in range(ptr.shape[0] - 1):
        a0 = 0.0
        a1 = 0.0
        a2 = 0.0
        for e in range(ptr[r], ptr[r + 1]):
            v, c = val[e], idx[e]
            if l0:
                a0 += v * X[0, c]
            if l1:
                a1 += v * X[1, c]
            if l2:
                a2 += v * X[2, c]
        if l0:
            out[0, r] = a0
        if l1:
            out[1, r] = a1
        if l2:
            out[2, r] = a2
