"""The dynamic mode's fused passes (stresstest.kernels.dynamic_fused) equal the numpy
expressions they replace, bit for bit: random states with ties, industries without a rated
input, negative and positive inventory gaps, with and without order tiers, half-critical
inputs and import substitution."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from stresstest.kernels import dynamic_fused as fused


def _input_feasible_numpy(S, arr, arrM, inv, crit, half, cap, any_half):
    avail = S + arr
    avail += arrM
    v = avail * inv
    idx = np.arange(S.shape[1])
    rc = np.where(crit, v, np.inf)
    pc = np.argmin(rc, axis=0)
    xin_c = rc[pc, idx]
    if not any_half:
        return xin_c, pc
    rh = np.where(half, v, np.inf)
    ph = np.argmin(rh, axis=0)
    xin_h = 0.5 * rh[ph, idx] + 0.5 * cap
    return np.minimum(xin_c, xin_h), np.where(xin_c <= xin_h, pc, ph)


def _settle_numpy(Of, ratio_f, Or, ratio_r, tiers, first, store_first, E, substituting,
                  update_E, imf, res_rate, OM, rMf, OMr, rMr, S, arr, x, Sm, arrM, arrE, a, AM,
                  xopt, Sstar, irt, inv, rated, row_of, friction=None):
    """The numpy expressions of ``simulate``'s day that the fused pass replaced (None: an
    output the pass does not write)."""
    share = a + AM
    with np.errstate(divide="ignore", invalid="ignore"):
        wa = np.where(share > 0, a / np.where(share > 0, share, 1.0), 0.0)
    wm = np.where(share > 0, 1.0 - wa, 0.0)
    Sm_star = wm * Sstar
    arr_next = Of * ratio_f
    arrM_next = OM * rMf[:, None]
    if tiers:
        arr_next += Or * ratio_r
        arrM_next += OMr * rMr[:, None]
    arrE_next = E * ratio_f if substituting else None  # the caller's zeros stay
    avail = S + arr
    avail += arrM
    use = np.multiply(share, x[None])
    np.minimum(use, avail, out=use)
    S_next = avail - use
    Sm_next = Sm + arrM
    Sm_next += arrE
    Sm_next -= wm * use
    flow_d, flow_m = a * xopt[None], AM * xopt[None]
    G = Sstar - S_next
    Gm = Sm_star - Sm_next
    dom = np.subtract(G, Gm)
    np.maximum(dom, np.minimum(G, 0.0), out=dom)
    np.minimum(dom, np.maximum(G, 0.0), out=dom)
    G -= dom
    dom *= irt
    dom += flow_d
    need_d = np.maximum(dom, 0.0, out=dom)
    G *= irt
    G += flow_m
    need_m = np.maximum(G, 0.0, out=G)
    if tiers:
        O_next, OM_next = np.minimum(need_d, flow_d), np.minimum(need_m, flow_m)
        Or_next, OMr_next = need_d - O_next, need_m - OM_next
    else:
        O_next, OM_next = need_d, need_m
        Or_next = OMr_next = None
    E_next = None
    if update_E:
        target_E = imf * OM
        target_E *= (1.0 - rMf)[:, None]
        step = target_E - E
        step *= res_rate
        E_next = np.where(target_E < E, target_E, E + step)  # rises at res_rate, falls at once
    Of_next = O_next + (E if E_next is None else E_next)
    Off_next = Of_next * first if tiers else None
    crit, half = rated == 1, rated == 2
    minima = _rated_minima_numpy(S_next, arr_next, arrM_next, inv, crit, half)
    rows = row_of.max() + 1
    sums = [np.bincount(row_of.ravel(), weights=v.ravel(), minlength=rows)
            for v in ((Of_next, Off_next, Or_next) if tiers else (Of_next,))]
    charge = None
    if friction is not None:  # use per unit ordered, friction on the substituting part
        placed = Of + OM + Or + OMr if tiers else Of + OM
        per_unit = np.divide(use, placed, out=np.zeros_like(use), where=placed > 0)
        charge = (per_unit, (friction[:, None] * (E * per_unit)).sum(axis=0))
    return ((arr_next, arrM_next, arrE_next, use, S_next, Sm_next, O_next, OM_next, Or_next,
             OMr_next, E_next, Of_next, Off_next if store_first else None), minima, sums, charge,
            (E_next is not None and bool(E_next.any()), tiers and bool(Or_next.any())))


def _rated_minima_numpy(S, arr, arrM, inv, crit, half):
    avail = S + arr
    avail += arrM
    v = avail * inv
    idx = np.arange(S.shape[1])
    rc, rh = np.where(crit, v, np.inf), np.where(half, v, np.inf)
    pc, ph = np.argmin(rc, axis=0), np.argmin(rh, axis=0)
    return rc[pc, idx], pc, rh[ph, idx], ph


def _state(seed, P=7, n=23):
    rng = np.random.default_rng(seed)

    def u(lo=0.0, hi=1.0):
        # rounded values make ties (equal availability of two inputs) common
        return np.round(rng.uniform(lo, hi, (P, n)), 1)

    a, AM = u() * (rng.uniform(size=(P, n)) < 0.8), u() * (rng.uniform(size=(P, n)) < 0.6)
    share = a + AM
    with np.errstate(divide="ignore", invalid="ignore"):
        wa = np.where(share > 0, a / np.where(share > 0, share, 1.0), 0.0)
    wm = np.where(share > 0, 1.0 - wa, 0.0)
    crit = (rng.uniform(size=(P, n)) < 0.3) & (share > 0)
    crit[:, 0] = False  # an industry without a rated input
    half = (rng.uniform(size=(P, n)) < 0.3) & (share > 0) & ~crit
    half[:, 0] = False
    Sstar = 5.0 * share
    return dict(rng=rng, a=a, AM=AM, share=share, wm=wm, crit=crit, half=half, Sstar=Sstar,
                Sm_star=wm * Sstar, inv=np.where(crit | half, 1.0 / np.maximum(share, 1e-9), 0.0),
                S=u(0, 8), arr=u(), arrM=u(), cap=rng.uniform(0.5, 1.5, n), u=u, n=n, P=P)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("any_half", [True, False])
def test_input_feasible_equals_numpy(seed, any_half):
    s = _state(seed)
    crit, half = s["crit"], s["half"] if any_half else np.zeros_like(s["crit"])
    rp, rj = np.nonzero(crit | half)
    # whole numbers and unit coefficients: two inputs of a buyer often tie for the minimum
    S, arr, arrM = (np.floor(4 * v) for v in (s["u"](), s["u"](), s["u"]()))
    inv = (crit | half).astype(float)
    got = fused.feasible_output(*fused.rated_minima(S, arr, arrM, inv, rp, rj, half[rp, rj]),
                                s["cap"], any_half)
    want = _input_feasible_numpy(S, arr, arrM, inv, crit, half, s["cap"], any_half)
    v = np.where(crit, S + arr + arrM, np.inf)
    assert ((v == v.min(axis=0)) & crit).sum(axis=0).max() > 1  # a tie was met
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert np.isinf(got[0][0]) and got[1][0] == 0


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("tiers,substituting,update_E", [(True, True, True), (False, False, False),
                                                         (True, True, False),
                                                         (False, True, True)])
@pytest.mark.parametrize("friction", [False, True])
@pytest.mark.parametrize("store_first", [True, False])
def test_settle_equals_numpy(seed, tiers, substituting, update_E, friction, store_first):
    s = _state(seed)
    u, P, n = s["u"], s["P"], s["n"]
    rng = s["rng"]
    zeros = np.zeros((P, n))
    first = rng.uniform(size=(P, n)) < 0.4
    rated = s["crit"].astype(np.int8) + 2 * s["half"].astype(np.int8)
    row_of = rng.integers(0, 9, (P, n))
    args = [u(), u(), u() if tiers else zeros, u() if tiers else np.ones((P, n)), tiers, first,
            store_first and tiers, u() if substituting else zeros, substituting, update_E, u(),
            0.2, u(),
            rng.uniform(0, 1, P), u() if tiers else zeros, rng.uniform(0, 1, P), s["S"],
            s["arr"], rng.uniform(0, 2, n), u(-2, 3), s["arrM"], u(), s["a"], s["AM"],
            rng.uniform(0, 2, n), s["Sstar"], 0.1, s["inv"], rated]
    outs = [np.full((P, n), np.nan) for _ in range(13)]
    minima = (np.empty(n), np.empty(n, np.int64), np.empty(n), np.empty(n, np.int64))
    sums = np.full((9, 3), np.nan)
    fric = rng.uniform(0, 0.1, P) if friction else np.zeros(0)
    per_unit = np.full((P, n) if friction else (0, 0), np.nan)
    cost_e = np.full(n if friction else 0, np.nan)
    args[0][0, 1] = args[12][0, 1] = 0.0  # nothing ordered (Of, OM): no use per unit
    if tiers:
        args[2][0, 1] = args[14][0, 1] = 0.0
    flags = fused.settle(*args, *outs, *minima, row_of, sums, fric, per_unit, cost_e)
    want, want_minima, want_sums, want_charge, want_flags = _settle_numpy(
        *args, row_of, friction=fric if friction else None)
    if friction:
        np.testing.assert_array_equal(per_unit, want_charge[0])
        assert per_unit[0, 1] == 0.0
        np.testing.assert_allclose(cost_e, want_charge[1], rtol=1e-14, atol=0)
        if substituting:
            assert (cost_e > 0).any()
    for k, (g, w) in enumerate(zip(outs, want)):
        if w is None:
            assert np.isnan(g).all(), k  # not written
        else:
            np.testing.assert_array_equal(g, w, err_msg=str(k))
    for g, w in zip(minima, want_minima):
        np.testing.assert_array_equal(g, w)
    for k, w in enumerate(want_sums):
        np.testing.assert_array_equal(sums[:, k], w)
    assert flags == want_flags
    G = s["Sstar"] - want[4]
    assert (G < 0).any() and (G > 0).any()  # both signs of the inventory gap were met


@pytest.mark.parametrize("tiers", [True, False])
def test_pooled_ratios_equal_numpy(tiers):
    rng = np.random.default_rng(3)
    P, n, U = 5, 17, 8
    per_row = rng.uniform(size=(3 if tiers else 1, U + 1))
    row_of = rng.integers(0, U + 1, (P, n))
    first = rng.uniform(size=(P, n)) < 0.5
    got = np.take(per_row, row_of.ravel(), axis=1).reshape(-1, P, n)
    ratio_f, ratio_r = np.full((P, n), np.nan), np.full((P, n), np.nan)
    fused.pooled_ratios(per_row, row_of, first, tiers, ratio_f, ratio_r)
    if tiers:
        np.testing.assert_array_equal(ratio_f, np.where(first, got[1], got[0]))
        np.testing.assert_array_equal(ratio_r, got[2])
    else:
        np.testing.assert_array_equal(ratio_f, got[0])
        assert np.isnan(ratio_r).all()


def test_final_deliveries_equal_numpy():
    rng = np.random.default_rng(5)
    R, S = 4, 6
    n = R * S
    Yc, Yo, Yn = rng.uniform(size=(n, R)), rng.uniform(size=(n, R)), -rng.uniform(size=(n, R))
    r_fc, r_fo = rng.uniform(size=n), rng.uniform(size=n)
    delivered, consumed = np.full((R, S), np.nan), np.full((R, S), np.nan)
    fused.final_deliveries(Yc, Yo, Yn, r_fc, r_fo, R, delivered, consumed)
    Ydel_c = Yc * r_fc[:, None]
    Ydel = Ydel_c + Yo * r_fo[:, None] + Yn
    np.testing.assert_array_equal(delivered, Ydel.reshape(R, S, R).sum(axis=0).T)
    np.testing.assert_array_equal(consumed, Ydel_c.reshape(R, S, R).sum(axis=0).T)


def _resourcing_pairs(seed, R=5, S=6, pooled=True):
    """Random re-sourcing pairs as :class:`stresstest.kernels.dynamic._DenseLinks` stores
    them: buyer-products (s, k) in row-major order, grouped by pooled row (several pairs a
    group, groups product-major) or one group per pair, with a deviation Δ (ngroups, R)."""
    rng = np.random.default_rng(seed)
    n = R * S
    mask = rng.uniform(size=(S, n)) < 0.4
    mask[2] = False  # a product without pairs
    s, k = np.nonzero(mask)
    if pooled:
        region = k // S
        _, rep, g = np.unique(s * R + region, return_index=True, return_inverse=True)
    else:
        rep, g = np.arange(s.size), np.arange(s.size)
    g = g.reshape(-1)
    group_s = s[rep]
    delta = rng.normal(scale=0.1, size=(rep.size, R))
    return rng, n, s, k, g, group_s, delta


@pytest.mark.parametrize("pooled", [True, False])
def test_pair_demand_equals_bincount_and_sparse_product(pooled):
    """``pair_demand`` is the group orders by ``np.bincount`` times Δ by the groups'
    selector as a scipy sparse matrix (the code it replaced), bit for bit."""
    R, S = 5, 6
    rng, n, s, k, g, group_s, delta = _resourcing_pairs(1, R, S, pooled)
    m = group_s.size
    M = sp.csr_matrix((np.ones(m), (group_s, np.arange(m))), shape=(S, m))
    group_ptr = np.searchsorted(group_s, np.arange(S + 1))
    out = np.full((S, 2, R), np.nan)
    for j in range(2):
        O = rng.uniform(size=(S, n))
        fused.pair_demand(O, s, k, g, group_ptr, delta, out, j)
        M.data[:] = np.bincount(g, weights=np.take(O, s * n + k), minlength=m)
        np.testing.assert_array_equal(out[:, j, :], M @ delta)


@pytest.mark.parametrize("pooled", [True, False])
def test_add_pair_ratios_equals_sparse_product(pooled):
    R, S = 5, 6
    rng, n, s, k, g, group_s, delta = _resourcing_pairs(2, R, S, pooled)
    cols = (np.arange(R)[None, :] * S + group_s[:, None]).ravel()
    D = sp.csr_matrix((delta.reshape(-1), cols, np.arange(0, cols.size + 1, R)),
                      shape=(group_s.size, n))
    ratio, r = rng.uniform(size=(S, n)), rng.uniform(size=n)
    want = ratio.copy()
    want.reshape(-1)[s * n + k] += np.take(D @ r, g)
    fused.add_pair_ratios(ratio, r, s, k, g, group_s, delta, S)
    np.testing.assert_array_equal(ratio, want)


def test_pair_cost_equals_bincount():
    R, S = 5, 6
    rng, n, s, k, g, group_s, delta = _resourcing_pairs(3, R, S)
    friction = rng.uniform(0, 0.1, S)
    pos = np.maximum(delta, 0.0) @ np.ones(R)
    O, per_unit = rng.uniform(size=(S, n)), rng.uniform(size=(S, n))
    w = friction[s] * pos[g] * (np.take(O, s * n + k) * np.take(per_unit, s * n + k))
    np.testing.assert_array_equal(fused.pair_cost(friction, pos, O, per_unit, s, k, g, n),
                                  np.bincount(k, weights=w, minlength=n))


def test_csr_columns_equal_sparse_products():
    """``csr_columns`` is scipy's product of a CSR matrix with up to three columns, bit for bit,
    for rows of ``X`` in C order (the suppliers' ratios) or a transposed view (the orders per
    pooled row); rows that are not live are left as they were."""
    rng = np.random.default_rng(4)
    U, n = 9, 20
    G = sp.random(U, n, density=0.4, random_state=5, format="csr")
    G.sort_indices()
    rs = rng.uniform(size=(3, n))
    live = np.array([True, False, True])
    per_row = np.full((3, U + 1), 7.0)
    fused.csr_columns(G.indptr, G.indices, G.data, rs, live, per_row)
    want = np.full((3, U + 1), 7.0)
    want[live, :-1] = (G @ rs[live].T).T
    np.testing.assert_array_equal(per_row, want)
    GT = sp.csr_matrix(G.T)
    orders = rng.uniform(size=(U + 1, 3))
    for k in (1, 2, 3):
        dd = np.full((k, n), np.nan)
        fused.csr_columns(GT.indptr, GT.indices, GT.data, orders.T[:k], np.ones(k, bool), dd)
        np.testing.assert_array_equal(dd, (GT @ orders[:U, :k]).T)
    with pytest.raises(ValueError, match="at most three"):  # never a row silently left out
        fused.csr_columns(GT.indptr, GT.indices, GT.data, np.ones((4, U + 1)),
                          np.ones(4, bool), np.empty((4, n)))
