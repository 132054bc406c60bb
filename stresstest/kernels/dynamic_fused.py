"""Fused per-element passes of the dynamic mode's day (:func:`stresstest.kernels.dynamic.simulate`).

The day's state lives in (product, industry) arrays of ``P n`` numbers; written with numpy,
each of its ~150 element-wise operations is one pass over memory. These kernels do the
inventory part of a day in one pass over the (product, industry) arrays and one over the
rated inputs, compiled by numba (cached on disk after the first
call). They compute exactly what the numpy expressions in their docstrings compute, in the
same order of operations (bit-identical; tested against those expressions).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def input_feasible(S, arr, arrM, inv, rated_p, rated_j, rated_half, cap,
                   any_half):  # pragma: no cover
    """Input-feasible output of every industry from its pooled inventories, over its rated
    inputs only: the pairs ``(rated_p[k], rated_j[k])`` in row-major order, half-critical
    where ``rated_half[k]``.

    With ``v = (S + arr + arrM) inv``: over the critical inputs ``x^c_j = min_p v[p, j]`` at
    the first minimising ``p``; with ``any_half`` the half-critical inputs give
    ``x^h_j = ½ min_p v[p, j] + ½ cap_j``. Returns ``(x^in, binding product)``:
    ``min(x^c, x^h)`` and its input (``x^c``'s where ``x^c <= x^h``); ``x^in = inf``,
    product 0 for an industry with no rated input.
    """
    n = cap.shape[0]
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
def settle(Of, ratio_f, Or, ratio_r, tiers, E, substituting, OM, rMf, OMr, rMr, S, arr, share,
           x, Sm, arrM, arrE, wm, a, AM, xopt, Sstar, Sm_star, irt, arr_next, arrM_next,
           arrE_next, use, S_next, Sm_next, O_next, OM_next, Or_next,
           OMr_next):  # pragma: no cover
    """Tomorrow's arrivals, today's use and inventories, and tomorrow's orders, in one pass
    over the (product, industry) arrays; writes the ``*_next`` arrays and ``use``.

    Arrivals: ``arr' = Of r_f (+ Or r_r)``, ``arrM' = OM r^M_f (+ OMr r^M_r)`` (``r^M`` per
    product), ``arrE' = E r_f`` when ``substituting`` (else 0). Use and inventories:
    ``use = min(share x, avail)`` with ``avail = S + arr + arrM``, ``S' = avail − use``, ``Sm' = Sm + arrM + arrE − wm use``.
    Orders: the pool's gap ``G = S* − S'`` is restocked from the domestic line up to the
    domestic account's own gap, clipped to the sign of ``G``,
    ``dom = clip(G − (Sm* − Sm'), min(G, 0), max(G, 0))``, and from imports for the rest;
    ``need_d = max(dom irt + a xopt, 0)``, ``need_m = max((G − dom) irt + AM xopt, 0)``. With
    ``tiers`` the current-needs orders are ``min(need, flow)`` and the rest restocking orders
    (``Or'``, ``OMr'``); without, the whole need is a current-needs order.
    """
    P, n = Of.shape
    for p in range(P):
        rf_m = rMf[p]
        rr_m = rMr[p]
        for j in range(n):
            rf = ratio_f[p, j]
            v = Of[p, j] * rf
            m = OM[p, j] * rf_m
            if tiers:
                v = v + Or[p, j] * ratio_r[p, j]
                m = m + OMr[p, j] * rr_m
            arr_next[p, j] = v
            arrM_next[p, j] = m
            arrE_next[p, j] = E[p, j] * rf if substituting else 0.0
            u = share[p, j] * x[j]
            av = S[p, j] + arr[p, j]
            av = av + arrM[p, j]
            if av < u:
                u = av
            use[p, j] = u
            s = av - u
            S_next[p, j] = s
            sm = Sm[p, j] + arrM[p, j]
            sm = sm + arrE[p, j]
            sm = sm - wm[p, j] * u
            Sm_next[p, j] = sm
            fd = a[p, j] * xopt[j]
            fm = AM[p, j] * xopt[j]
            g = Sstar[p, j] - s
            dom = g - (Sm_star[p, j] - sm)
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
            if tiers:
                od = need_d if need_d < fd else fd
                om = need_m if need_m < fm else fm
                O_next[p, j] = od
                OM_next[p, j] = om
                Or_next[p, j] = need_d - od
                OMr_next[p, j] = need_m - om
            else:
                O_next[p, j] = need_d
                OM_next[p, j] = need_m
