"""The rationing mode's fused passes (stresstest.kernels.rationing_fused) equal the numpy
expressions they replace, bit for bit: the order state (the order bases of ``_order_bases``
contracted with the sparse order-state map), the binding pairs' coefficients and the input
ratio. Random and china31 structures, with and without a first tier, own use, stocks,
re-sourcing and inventories, one scenario and a batch, with inputs that are not available
at all (``x / 0`` and ``0 / 0`` order the plan) and NaN."""

from __future__ import annotations

import numpy as np
import pytest

from stresstest.economy import derive, net_of_own_use
from stresstest.kernels import rationing_fused as fused
from stresstest.kernels.rationing import input_ratio, order_maps, pair_coefficients
from stresstest.modes.rationing import structure
from stresstest.recipe import resolve_recipe
from stresstest.testing import random_economy


def _order_bases(st, maps, plan, x, rt, alpha_reg):
    """The buyers' best-response order bases ``y[p, j] = min(P_j, x_j / avail[p, j])``
    (P, n, K), ``avail = ω r̃[row(p, j)] + (1 − ω) α̃[p, reg j]``, ``P_j`` where nothing is
    available: the numpy the order state and the stock use replaced."""
    P, n, R = st.n_product, st.n, st.n_region
    K = plan.shape[1]
    imp = alpha_reg[:, :, None, :]
    dom = np.take(rt, st.col_row.reshape(-1), axis=0).reshape(P, R, n // R, K)
    avail = maps.omega.reshape(P, R, n // R, 1) * (dom - imp)
    avail += imp
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.divide(x.reshape(1, R, n // R, K), avail, out=avail)
    np.fmin(y, plan.reshape(1, R, n // R, K), out=y)
    return y.reshape(P, n, K)


def _maps(economy, tiers):
    recipe = resolve_recipe(economy)
    st = structure(economy, recipe)
    dn = net_of_own_use(derive(economy))
    first = (recipe.crit | recipe.half) if tiers else None
    return st, order_maps(st, dn.a_prod, dn.AM, first)


def _round(st, K, seed):
    """A round's inputs: availabilities in [0, 1] with exact zeros, outputs and plans with
    zeros (so that ``x / 0`` and ``0 / 0`` both occur)."""
    rng = np.random.default_rng(seed)
    U, P, R, n = st.G.shape[0], st.n_product, st.n_region, st.n
    rt = rng.uniform(0.0, 1.0, (U, K)) * (rng.uniform(size=(U, K)) > 0.2)
    alpha_reg = rng.uniform(0.0, 1.0, (P, R, K)) * (rng.uniform(size=(P, R, K)) > 0.2)
    plan = rng.uniform(0.5, 2.0, (n, K)) * (rng.uniform(size=(n, K)) > 0.1)
    x = plan * rng.uniform(0.0, 1.0, (n, K)) * (rng.uniform(size=(n, K)) > 0.2)
    return rt, alpha_reg, x, plan


def _check(st, maps, K, seed):
    P, R, n = st.n_product, st.n_region, st.n
    rt, alpha_reg, x, plan = _round(st, K, seed)
    want = maps.H @ _order_bases(st, maps, plan, x, rt, alpha_reg).reshape(P * n, K)
    want_full = maps.Hn @ plan
    got, got_full = fused.order_state(*maps.columns, rt, alpha_reg.reshape(P * R, K), x, plan,
                                      maps.H.shape[0])
    assert np.array_equal(got, want)
    assert np.array_equal(got_full, want_full)
    assert np.isfinite(got).all()


@pytest.mark.parametrize("tiers", [False, True])
@pytest.mark.parametrize("K", [1, 2, 7])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_order_state_equals_numpy_random(tiers, K, seed):
    eco = random_economy(4, 5, seed=seed, density=0.7)
    st, maps = _maps(eco, tiers)
    _check(st, maps, K, seed)


def test_order_state_equals_numpy_with_mixed_rows():
    """An economy whose buyers of a product in one region use different pooled rows: the
    fused pass reads each pair's own row."""
    eco = random_economy(3, 6, seed=5, density=0.5, home_bias=0.5)
    st, maps = _maps(eco, True)
    _check(st, maps, 3, 5)


@pytest.mark.parametrize("K", [1, 16])
def test_order_state_equals_numpy_china31(china31, K):
    st, maps = _maps(china31, True)
    _check(st, maps, K, 11)


def _stock_use_numpy(st, maps, plan, x, rt, alpha_reg, sigma, a, m, inventory, window):
    """The numpy expressions of ``_finish`` that :func:`fused.stock_use` replaced."""
    P, R, n = st.n_product, st.n_region, st.n
    K = x.shape[1]
    share = a + m
    y = _order_bases(st, maps, plan, x, rt, alpha_reg)
    dom = rt[st.col_row]
    imp = alpha_reg[:, st.region_of, :]
    gap = np.maximum(0.0, share[:, :, None] * x[None] - y * (a[:, :, None] * dom
                                                              + m[:, :, None] * imp))
    if inventory is not None:
        gap = np.maximum(0.0, gap - inventory[:, :, None] / window[None, None, :]
                         * share[:, :, None] * y)
    used = np.minimum(gap, sigma[:, st.region_of, :] * share[:, :, None] * y)
    return (used.reshape(P, R, n // R, K).sum(axis=2),
            (share[:, :, None] * y).reshape(P, R, n // R, K).sum(axis=2))


@pytest.mark.parametrize("K", [1, 3])
@pytest.mark.parametrize("inventory", [False, True])
def test_stock_use_equals_numpy(K, inventory):
    """The stock used and the inputs needed per (product, region) from the answer's order
    bases, without forming them, equal ``_finish``'s numpy bit for bit: one scenario (numpy
    sums a region's buyers pairwise: more than eight sectors here) and a batch, with and
    without buyers' inventories, on buyers of a product in one region using different pooled
    rows, with inputs that are not available at all (``x / 0``, ``0 / 0``) and a NaN."""
    eco = random_economy(3, 11, seed=K, density=0.6, home_bias=0.5)
    st, maps = _maps(eco, True)
    dn = net_of_own_use(derive(eco))
    P, R, n = st.n_product, st.n_region, st.n
    rng = np.random.default_rng(K)
    rt, alpha_reg, x, plan = _round(st, K, K)
    x[2, 0] = np.nan
    sigma = rng.uniform(0, 1, (P, R, K)) * (rng.uniform(size=(P, R, K)) > 0.3)
    inv = rng.uniform(0, 20, (P, n)) * (rng.uniform(size=(P, n)) > 0.5) if inventory else None
    window = rng.uniform(5, 60, K)
    want = _stock_use_numpy(st, maps, plan, x, rt, alpha_reg, sigma, dn.a_prod, dn.AM, inv,
                            window)
    args = (plan, x, rt, alpha_reg)
    rest = (maps.omega, st.col_row, dn.a_prod, dn.AM, dn.a_prod + dn.AM,
            fused.NONE_2D if inv is None else inv, window if inventory else fused.NONE_1D, R)
    used, need = fused.stock_use(*args, sigma, *rest, False)
    np.testing.assert_array_equal(used, want[0])
    np.testing.assert_array_equal(need, want[1])
    assert np.isnan(used).any() and (used[~np.isnan(used)] > 0).any()
    empty, need_only = fused.stock_use(*args, fused.NONE_3D, *rest, True)
    assert empty.size == 0
    np.testing.assert_array_equal(need_only, want[1])


def test_order_state_columns_visit_columns_in_order():
    """Each row is summed in increasing column order (as scipy's product on sorted CSR
    does): the columns' flat indices increase, and each column's rows are sorted."""
    eco = random_economy(4, 5, seed=3, density=0.7)
    st, maps = _maps(eco, True)
    ptr, rows, vals, buyer, pr, row, omega = maps.columns
    flat = np.flatnonzero(np.diff(maps.H.tocsc().indptr))
    assert np.array_equal(buyer, flat % st.n)
    assert np.all(np.diff(flat) > 0)
    for c in range(buyer.size):
        assert np.all(np.diff(rows[ptr[c]:ptr[c + 1]]) > 0)
    assert ptr[-1] == maps.H.nnz


def _pair_coefficients_numpy(st, alpha_reg, sigma, theta_dom, inventory):
    """The numpy expressions the fused pass replaced."""
    K = alpha_reg.shape[-1]
    a, m = st.pair_a, st.pair_m
    o = 0.0 if st.pair_o is None else st.pair_o
    wa, wm = (a / (a + m + o))[:, None], (m / (a + m + o))[:, None]
    h = np.where(st.pair_half, 0.5, 1.0)[:, None]
    h0 = np.where(st.pair_half, 0.5, 0.0)[:, None]
    alpha = np.take(alpha_reg.reshape(-1, K), st.pair_pr, axis=0)
    alpha *= wm
    if st.pair_o is not None:
        alpha += (o / (a + m + o))[:, None]
    if sigma is not None:
        alpha += np.take(sigma.reshape(-1, K), st.pair_pr, axis=0)
    if theta_dom is not None:
        th = np.take(theta_dom.reshape(-1, K), st.pair_pr, axis=0)
        beta = wa * (1.0 - th)
        th *= wa
        alpha += th
    else:
        beta = np.repeat(wa, K, axis=1)
    if inventory is not None:
        alpha += inventory
    if st.pair_half.any():
        alpha *= h
        alpha += h0
        beta *= h
    return alpha, beta


def _input_ratio_numpy(st, rt_raw, alpha, beta):
    eff = np.take(rt_raw, st.pair_row, axis=0)
    eff *= beta
    eff += alpha
    np.minimum(eff, 1.0, out=eff)
    s = np.ones((st.n, rt_raw.shape[1]))
    if st.pair_js.size:
        s[st.pair_js] = np.minimum.reduceat(eff, st.pair_start, axis=0)
    return s, eff


def _economies():
    yield random_economy(4, 5, seed=0, density=0.7)
    yield random_economy(3, 6, seed=4, density=0.5, home_bias=0.5)


@pytest.mark.parametrize("K", [1, 5])
@pytest.mark.parametrize("terms", [(False, False, False), (True, True, True),
                                   (True, False, True), (False, True, False)])
def test_pair_coefficients_and_input_ratio_equal_numpy(K, terms):
    with_sigma, with_theta, with_inv = terms
    for seed, eco in enumerate(_economies()):
        st, _ = _maps(eco, False)
        rng = np.random.default_rng(seed)
        P, R, U, npairs = st.n_product, st.n_region, st.G.shape[0], st.pair_p.size
        # a broadcast view, as the rounds pass it without re-sourcing
        alpha_reg = np.broadcast_to(rng.uniform(0, 1, (P, 1, K)), (P, R, K))
        sigma = rng.uniform(0, 0.3, (P, R, K)) if with_sigma else None
        theta = rng.uniform(0, 1, (P, R, K)) * (rng.uniform(size=(P, R, K)) > 0.3) \
            if with_theta else None
        inv = rng.uniform(0, 0.5, (npairs, K)) if with_inv else None
        want = _pair_coefficients_numpy(st, alpha_reg, sigma, theta, inv)
        got = pair_coefficients(st, alpha_reg, sigma, theta, inv)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
        rt_raw = rng.uniform(0, 1, (U, K)) * (rng.uniform(size=(U, K)) > 0.2)
        # a NaN availability read by an industry's second pair makes its ratio NaN, as in numpy
        second = st.pair_start[np.diff(np.append(st.pair_start, npairs)) > 1][0] + 1
        rt_raw[st.pair_row[second], 0] = np.nan
        want = _input_ratio_numpy(st, rt_raw, *got)
        s, eff = input_ratio(st, rt_raw, *got)
        assert np.array_equal(eff, want[1], equal_nan=True)
        assert np.array_equal(s, want[0], equal_nan=True)


def test_pair_coefficients_and_input_ratio_equal_numpy_china31(china31):
    """china31's pairs have own use (``pair_o``) and half-critical inputs."""
    st, _ = _maps(china31, False)
    assert st.pair_o is not None and st.pair_half.any()
    rng = np.random.default_rng(7)
    K, P, R, U = 4, st.n_product, st.n_region, st.G.shape[0]
    args = (rng.uniform(0, 1, (P, R, K)), rng.uniform(0, 0.2, (P, R, K)),
            rng.uniform(0, 1, (P, R, K)), rng.uniform(0, 0.5, (st.pair_p.size, K)))
    want = _pair_coefficients_numpy(st, *args)
    got = pair_coefficients(st, *args)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    rt_raw = rng.uniform(0, 1, (U, K))
    assert all(np.array_equal(a, b) for a, b in zip(input_ratio(st, rt_raw, *got),
                                                      _input_ratio_numpy(st, rt_raw, *got)))


def test_anderson_columns_do_not_depend_on_the_batch():
    """The fused Anderson passes sum over the state in a fixed order: a scenario's iterates
    are bit-identical alone and in a batch (with restarts, bounds and dropped columns)."""
    from stresstest.kernels.rationing import Anderson

    rng = np.random.default_rng(5)
    N, K = 60, 4
    M = rng.uniform(-1, 1, (K, N, N)) * 0.05
    b = rng.uniform(size=(N, K))
    upper = np.full(N, 0.9)

    def G(y, cols):  # column by column, so that the map itself does not depend on the batch
        return np.stack([M[k] @ np.ascontiguousarray(y[:, i]) + b[:, k] + 0.01 * np.sin(y[:, i])
                         for i, k in enumerate(cols)], axis=1)

    def run(cols):
        acc, y, live = Anderson(depth=3), np.zeros((N, len(cols))), np.array(cols)
        out = {}
        for it in range(20):
            if not live.size:
                break
            if it == 6:
                acc.reset(live % 2 == 0)
            y = acc.step(y, G(y, live), upper=upper, lower=0.0)
            if it == 12 and 1 in live:  # scenario 1 leaves the batch
                keep = live != 1
                out[1] = y[:, ~keep][:, 0].copy()
                acc.keep(keep)
                y, live = y[:, keep], live[keep]
        for k, col in zip(live, y.T):
            out[int(k)] = col
        return out

    batch = run([0, 1, 2, 3])
    for k in range(K):
        assert np.array_equal(run([k])[k], batch[k])


def _resourcing_gaps_numpy(rt, alpha_t, plan, pl, jl, row, pr, a, m, cover, window, n_pr):
    """The numpy expressions of ``substitution_shares`` that the fused pass replaced."""
    import scipy.sparse as sp

    E = sp.csr_matrix((np.ones(pl.size), (pr, np.arange(pl.size))), shape=(n_pr, pl.size))
    a, m = a[:, None], m[:, None]
    short_rows = 1.0 - rt
    short_rows[short_rows <= 1e-12] = 0.0
    lost = 1.0 - alpha_t
    lost[lost <= 1e-12] = 0.0
    pj = np.take(plan, jl, axis=0)
    gap_dom = np.take(short_rows, row, axis=0)
    gap_dom *= a
    gap_dom *= pj
    gap_imp = np.take(lost, pl, axis=0)
    gap_imp *= m
    gap_imp *= pj
    dom_total, imp_total = E @ gap_dom, E @ gap_imp
    if cover is None:
        return dom_total, imp_total, dom_total, imp_total
    left = (a + m) * cover[:, None] / window[None, :]
    left *= pj
    with np.errstate(divide="ignore", invalid="ignore"):
        left /= gap_dom + gap_imp
    np.subtract(1.0, left, out=left)
    np.fmax(left, 0.0, out=left)
    gap_dom *= left
    gap_imp *= left
    return dom_total, imp_total, E @ gap_dom, E @ gap_imp


@pytest.mark.parametrize("K", [1, 4])
@pytest.mark.parametrize("with_cover", [False, True])
def test_resourcing_gaps_equal_numpy(K, with_cover):
    """Random pairs with repeated (product, region) bins, availabilities at and within 1e-12
    of 1 (no shortfall), zero plans (0 / 0) and stocks that cover all, part or none."""
    rng = np.random.default_rng(K + 10 * with_cover)
    P, R, n, U, npairs = 4, 3, 12, 9, 40
    pl = np.sort(rng.integers(0, P, npairs))
    jl = rng.integers(0, n, npairs)
    row = rng.integers(0, U, npairs)
    pr = pl * R + jl % R
    a = rng.uniform(0, 0.3, npairs)
    m = rng.uniform(0, 0.1, npairs) * (rng.uniform(size=npairs) > 0.3)
    rt = rng.uniform(0, 1, (U, K))
    rt[0] = 1.0
    rt[1] = 1.0 - 1e-13
    alpha_t = rng.uniform(0, 1, (P, K))
    alpha_t[0] = 1.0
    plan = rng.uniform(0, 2, (n, K)) * (rng.uniform(size=(n, K)) > 0.2)
    cover = rng.uniform(0, 30, npairs) * (rng.uniform(size=npairs) > 0.3) if with_cover else None
    window = rng.uniform(5, 60, K)
    want = _resourcing_gaps_numpy(rt, alpha_t, plan, pl, jl, row, pr, a, m, cover,
                                  window, P * R)
    got = fused.resourcing_gaps(rt, alpha_t, plan, pl, jl, row, pr, a, m,
                                fused.NONE_1D if cover is None else cover, window, P * R)
    for g, w in zip(got, want):
        assert np.array_equal(g, w)


def _route_numpy(io, io_first, fdr, cap, exports, prio, cols):
    """The numpy expressions of the route function that the fused pass replaced."""
    fd_cols, cap_cols = fdr[..., cols], cap[..., cols]
    orders = io + fd_cols
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(orders > 0, np.minimum(1.0, cap_cols / np.where(orders > 0, orders, 1.0)),
                     1.0)
    first = None if io_first is None else (c * io_first).sum(axis=1)
    prio_c = None if prio is None else (c * prio[..., cols]).sum(axis=1)
    return (c, (c * io).sum(axis=1), (c * fd_cols).sum(axis=1) + exports[:, cols], first,
            prio_c)


@pytest.mark.parametrize("with_first", [False, True])
@pytest.mark.parametrize("with_prio", [False, True])
def test_route_caps_equal_numpy(with_first, with_prio):
    """Caps equal numpy's bit for bit; the sums over destinations run in order (numpy may sum
    a short axis pairwise), so they agree to rounding, and a scenario's sums do not depend on
    the other columns of its batch (a subset of columns, or one column alone, equals its own
    run, bit for bit)."""
    rng = np.random.default_rng(2)
    n, R, K0 = 9, 5, 6
    io = rng.uniform(0, 2, (n, R, K0)) * (rng.uniform(size=(n, R, K0)) > 0.3)
    io_first = io * rng.uniform(0, 1, (n, R, K0)) if with_first else None
    fdr = np.broadcast_to(rng.uniform(0, 1, (n, R, 1)) * (rng.uniform(size=(n, R, 1)) > 0.3),
                          (n, R, K0))  # a read-only view, as the mode passes it
    cap = rng.uniform(0, 2, (n, R, K0))
    cap[rng.uniform(size=(n, R, K0)) > 0.7] = np.inf  # no cap on a link
    exports = rng.uniform(0, 1, (n, K0))
    prio = fdr * rng.uniform(0, 1, (n, 1, 1)) if with_prio else None
    none = fused.NONE_3D

    def fused_route(cols):
        out = fused.route_caps(io[..., cols], none if io_first is None else io_first[..., cols],
                               fdr, cap, exports, none if prio is None else prio, cols)
        assert out[0].shape == (R, n, cols.size) and out[0].flags.c_contiguous
        return (out[0].transpose(1, 0, 2), *out[1:3], out[3] if io_first is not None else None,
                out[4] if prio is not None else None)

    every = np.arange(K0)
    got, want = fused_route(every), _route_numpy(io, io_first, fdr, cap, exports, prio, every)
    assert np.array_equal(got[0], want[0])
    for g, w in zip(got[1:], want[1:]):
        if w is not None:
            np.testing.assert_allclose(g, w, rtol=1e-14, atol=0)
    sub = np.array([4, 1])
    part = fused_route(sub)
    for g, p in zip(got, part):
        if p is not None:
            assert np.array_equal(g[..., sub], p)
    for k in range(K0):  # one scenario takes the kernel's scalar path: the same bits
        one = fused_route(np.array([k]))
        for g, p in zip(got, one):
            if p is not None:
                assert np.array_equal(g[..., [k]], p)


def _binding_pair_numpy(st, eff, s):
    n, K = st.n, eff.shape[1]
    out = np.full((n, K), -1, dtype=np.int64)
    lim = np.take(s, st.pair_j, axis=0)
    lim *= 1 + 1e-12
    idx = np.where(eff <= lim, np.arange(eff.shape[0])[:, None], eff.shape[0])
    first = np.minimum.reduceat(idx, st.pair_start, axis=0)
    out[st.pair_js] = np.where(first < eff.shape[0], first, -1)
    return out


@pytest.mark.parametrize("K", [1, 3])
def test_binding_pair_equals_numpy(K):
    """Ties within 1e-12 go to the first pair; a NaN bottleneck binds nothing."""
    from stresstest.kernels.rationing import binding_pair

    for seed, eco in enumerate(_economies()):
        st, _ = _maps(eco, False)
        rng = np.random.default_rng(seed)
        U = st.G.shape[0]
        alpha, beta = pair_coefficients(st, rng.uniform(0, 1, (st.n_product, st.n_region, K)),
                                        None, None)
        rt_raw = rng.uniform(0, 1, (U, K))
        rt_raw[rng.uniform(size=(U, K)) > 0.6] = 1.0  # many pairs at 1: ties
        s, eff = input_ratio(st, rt_raw, alpha, beta)
        s[0, 0] = np.nan
        eff[1] *= 1 + 1e-13  # within the tolerance of its industry's bottleneck
        assert np.array_equal(binding_pair(st, eff, s), _binding_pair_numpy(st, eff, s))


def test_order_step_equals_numpy():
    rng = np.random.default_rng(8)
    rows, K = 50, 3
    full = rng.uniform(0, 2, (rows, K)) * (rng.uniform(size=(rows, K)) > 0.3)
    new = full * rng.uniform(0, 1, (rows, K))
    orders = full * rng.uniform(0, 1, (rows, K))
    scale = rng.uniform(0.5, 2, (rows, K))
    new[3, 2], full[3, 2] = np.nan, 1.0  # a NaN step propagates, as np.max does
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.where(full > 0, np.abs(new - orders) / np.where(full > 0, full, 1.0),
                        0.0).max(axis=0, initial=0.0)
    step, new_s = fused.order_step(new, full, orders, scale)
    assert np.array_equal(step, want, equal_nan=True) and np.isnan(step[2])
    assert np.array_equal(new_s, new / scale, equal_nan=True)


def _policy_system_solve_numpy(st, policy, g, const, alpha, beta, c, w):
    """The numpy assembly that :func:`fused.policy_system` replaced, solved as before."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    n, K = policy.shape
    U1 = st.G.shape[0]
    qs, js = np.nonzero(policy.T >= 0)
    ks = policy[js, qs]
    b = const.copy()
    b[js, qs] = g[js, qs] * alpha[ks, qs] + w[js, qs]
    d = np.zeros((n, K))
    d[js, qs] = g[js, qs] * beta[ks, qs]
    keys = qs * U1 + st.pair_row[ks]
    uniq, wid_js = np.unique(keys, return_inverse=True)
    W = uniq.size
    wq, wu = uniq // U1, uniq % U1
    lengths = np.diff(st.G.indptr)[wu]
    owner = np.repeat(np.arange(wu.size), lengths)
    offsets = np.cumsum(lengths) - lengths
    pos = np.repeat(st.G.indptr[wu] - offsets, lengths) + np.arange(lengths.sum())
    cols, vals = st.G.indices[pos], st.G.data[pos]
    q_e = wq[owner]
    if c is not None:
        vals = vals * c[cols, st.row_r[wu][owner], q_e]
    h = np.bincount(owner, weights=vals * b[cols, q_e], minlength=W)
    wid = np.full((n, K), -1, dtype=np.int64)
    wid[js, qs] = wid_js
    target = wid[cols, q_e]
    dep = target >= 0
    own, tgt = owner[dep], target[dep]
    mv = vals[dep] * d[cols[dep], q_e[dep]]
    on_diag = tgt == own
    diag = 1.0 - np.bincount(own[on_diag], weights=mv[on_diag], minlength=W)
    own, tgt, mv = own[~on_diag], tgt[~on_diag], mv[~on_diag]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(own, minlength=W) + 1)])
    data = np.empty(indptr[-1])
    indices = np.empty(indptr[-1], dtype=np.int64)
    off = np.ones(indptr[-1], dtype=bool)
    off[indptr[:-1]] = False
    data[indptr[:-1]], indices[indptr[:-1]] = diag, np.arange(W)
    data[off], indices[off] = -mv, tgt
    # copies: the solve sorts each row's entries in place (csr_matrix shares the data)
    system = (data.copy(), indices.copy(), indptr.copy(), h.copy())
    try:
        z = spla.spsolve(sp.csr_matrix((data, indices, indptr), shape=(W, W)), h) if W else h
    except Exception:  # noqa: BLE001
        return system, None
    z = np.atleast_1d(np.asarray(z, dtype=float))
    if not np.all(np.isfinite(z)):
        return system, None
    r = b
    r[js, qs] = b[js, qs] + d[js, qs] * z[wid_js]
    return system, r


def _by_destination(args):
    """``args`` of :func:`_policy_inputs` with the route factors by destination region
    (R, n, K), as the kernels read them."""
    policy, g, const, alpha, beta, c, w = args
    c_rn = None if c is None else np.ascontiguousarray(c.transpose(1, 0, 2))
    return policy, g, const, alpha, beta, c_rn, w


def _policy_inputs(st, K, seed, routes):
    """A random policy (each industry: the constant piece or one of its binding pairs) and
    the coefficients of its system."""
    rng = np.random.default_rng(seed)
    n, npairs = st.n, st.pair_p.size
    policy = np.full((n, K), -1, dtype=np.int64)
    stops = np.append(st.pair_start[1:], npairs)
    for j, lo, hi in zip(st.pair_js, st.pair_start, stops):
        pick = rng.integers(lo - 1, hi, K)  # lo - 1: the constant piece
        policy[j] = np.where(pick >= lo, pick, -1)
    g = rng.uniform(0.0, 1.5, (n, K)) * (rng.uniform(size=(n, K)) > 0.1)
    const = rng.uniform(0.0, 1.0, (n, K))
    w = rng.uniform(0.0, 0.2, (n, K))
    alpha = rng.uniform(0.0, 0.5, (npairs, K))
    beta = rng.uniform(0.0, 0.5, (npairs, K))
    c = rng.uniform(0.0, 1.0, (n, st.n_region, K)) if routes else None
    return policy, g, const, alpha, beta, c, w


@pytest.mark.parametrize("K", [1, 3])
@pytest.mark.parametrize("routes", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_policy_system_equals_numpy(K, routes, seed, monkeypatch):
    """The assembled system equals numpy's bit for bit, and so does its SuperLU solution
    (every component forced to SuperLU; the component solve is compared below)."""
    import stresstest.kernels.rationing as kr
    from stresstest.kernels.rationing import _policy_system_solve

    monkeypatch.setattr(kr, "MAX_COMPONENT", 0)

    for eco in _economies():
        st, _ = _maps(eco, True)
        args = _policy_inputs(st, K, seed, routes)
        (data, indices, indptr, h), want = _policy_system_solve_numpy(st, *args)
        policy, g, const, alpha, beta, c, w = _by_destination(args)
        got_sys = fused.policy_system(policy, g, const, w, alpha, beta,
                                      fused.NONE_3D if c is None else c, st.G.indptr,
                                      st.G.indices, st.G.data, st.pair_row, st.row_r,
                                      st.G.shape[0])
        for a, b in zip(got_sys[:4], (data, indices, indptr, h)):
            assert np.array_equal(a, b)
        got = _policy_system_solve(st, *_by_destination(args))
        assert (got is None) == (want is None)
        if want is not None:
            assert np.array_equal(got, want)


def test_policy_system_equals_numpy_china31(china31, monkeypatch):
    import stresstest.kernels.rationing as kr
    from stresstest.kernels.rationing import _policy_system_solve

    monkeypatch.setattr(kr, "MAX_COMPONENT", 0)

    st, _ = _maps(china31, True)
    for K, routes in ((1, True), (4, False)):
        args = _policy_inputs(st, K, 7, routes)
        (data, indices, indptr, h), want = _policy_system_solve_numpy(st, *args)
        assert h.size > 50 * K
        got = _policy_system_solve(st, *_by_destination(args))
        assert (got is None) == (want is None)
        if want is not None:
            assert np.array_equal(got, want)


@pytest.mark.parametrize("K", [1, 4])
def test_pooled_routes_equals_sparse_product(K):
    """The pooled availability through route factors equals the sparse product over
    (supplier, destination) columns it replaced, bit for bit."""
    import scipy.sparse as sp

    for eco in _economies():
        st, _ = _maps(eco, True)
        rng = np.random.default_rng(K)
        n, R = st.n, st.n_region
        c = rng.uniform(0, 1, (n, R, K)) * (rng.uniform(size=(n, R, K)) > 0.2)
        r = rng.uniform(0, 1, (n, K))
        G = st.G.tocoo()
        GxT = sp.csr_matrix((G.data, (G.row, G.col * R + st.row_r[G.row])),
                            shape=(st.G.shape[0], n * R))
        want = GxT @ (c * r[:, None, :]).reshape(-1, K)
        got = fused.pooled_routes(st.G.indptr, st.G.indices, st.G.data, st.row_r,
                                  np.ascontiguousarray(c.transpose(1, 0, 2)), r)
        assert np.array_equal(got, want)


def _allocate_numpy(demand, spare, T0, sub, need):
    """The numpy allocation that :func:`fused.allocate` replaced."""
    P, R, K = demand.shape
    tot_d = demand.sum(axis=1)
    tot_s = spare.sum(axis=1)
    got, sent = np.zeros((P, R, K)), np.zeros((P, R, K))
    ap, ak = np.nonzero((tot_d > 0) & (tot_s > 0))
    if not ap.size:
        return got, sent
    td, ts = tot_d[ap, ak], tot_s[ap, ak]
    frac_d = demand[ap, :, ak] / td[:, None]
    flow_s = spare[ap, :, ak] * (np.minimum(td, ts) / ts)[:, None]
    cap = sub["headroom"][ap, ak][:, None, None] * T0[ap]
    nl = sub["new_links"][ap, ak]
    if np.any(nl > 0):
        exist = T0[ap] > 0
        n_new = np.maximum((~T0[ap].astype(bool)).sum(axis=1), 1)
        cap_new = (nl[:, None] * need[ap, :, ak] / n_new)[:, None, :]
        cap = np.where(exist, cap, cap_new)
    F = flow_s[:, :, None] * frac_d[:, None, :]
    np.minimum(F, cap, out=F)
    got[ap, :, ak] = F.sum(axis=1)
    sent[ap, :, ak] = F.sum(axis=2)
    return got, sent


@pytest.mark.parametrize("new_links", [False, True])
@pytest.mark.parametrize("K", [1, 5])
def test_allocate_equals_numpy(new_links, K):
    """What each region gets equals numpy's bit for bit over a batch (both sum over origins in
    order); for one scenario, and what each origin sends, they agree to rounding (numpy sums
    a contiguous axis pairwise: the totals over regions for K = 1, the destinations)."""
    rng = np.random.default_rng(K + 10 * new_links)
    P, R = 6, 9
    demand = rng.uniform(0, 2, (P, R, K)) * (rng.uniform(size=(P, R, K)) > 0.3)
    spare = rng.uniform(0, 2, (P, R, K)) * (rng.uniform(size=(P, R, K)) > 0.3)
    demand[0], spare[1] = 0.0, 0.0  # products without demand or without spare capacity
    T0 = rng.uniform(0, 1, (P, R, R)) * (rng.uniform(size=(P, R, R)) > 0.4)
    sub = {"headroom": rng.uniform(0, 0.5, (P, K)),
           "new_links": (rng.uniform(0, 0.3, (P, K)) * (rng.uniform(size=(P, K)) > 0.3)
                         if new_links else np.zeros((P, K)))}
    need = rng.uniform(0, 3, (P, R, K))
    n_new = np.maximum((T0 == 0).sum(axis=1), 1).astype(float)
    got, sent = fused.allocate(demand, spare, T0, sub["headroom"], sub["new_links"],
                               need if new_links else fused.NONE_3D, n_new)
    want_got, want_sent = _allocate_numpy(demand, spare, T0, sub, need if new_links else None)
    if K > 1:
        assert np.array_equal(got, want_got)
    np.testing.assert_allclose(got, want_got, rtol=1e-14, atol=0)
    np.testing.assert_allclose(sent, want_sent, rtol=1e-14, atol=0)
    assert got[0].sum() == 0 and sent[1].sum() == 0 and got.sum() > 0


def _resourcing_flows_numpy(dom_total, imp_total, dom_short, imp_short, imports, enabled, s,
                            xbar, x, T0, sub, need, n_new):
    """The numpy tail of ``substitution_shares`` that :func:`fused.resourcing_flows`
    replaced."""
    P, R, K = dom_total.shape
    imp_short = imp_short * imports[:, None, :]
    on = enabled[:, None, :]
    spare = np.maximum(0.0, s * xbar - x).reshape(R, P, K).transpose(1, 0, 2) * on
    got_dom, sent_dom = fused.allocate(dom_short * on, spare, T0, sub["headroom"],
                                       sub["new_links"], need, n_new)
    spare_left = np.maximum(spare - sent_dom, 0.0)
    dem = imp_short * on
    tot_d, tot_s = dem.sum(axis=1), spare_left.sum(axis=1)
    volume = np.minimum(tot_d, tot_s)
    with np.errstate(divide="ignore", invalid="ignore"):
        got_imp = np.where(tot_d[:, None] > 0, dem * (volume / np.where(
            tot_d > 0, tot_d, 1.0))[:, None], 0.0)
        sent_imp = np.where(tot_s[:, None] > 0, spare_left * (volume / np.where(
            tot_s > 0, tot_s, 1.0))[:, None], 0.0)
        theta = np.where(dom_total > 0, np.minimum(1.0, got_dom / np.where(
            dom_total > 0, dom_total, 1.0)), 0.0)
        theta_imp = np.where(imp_total > 0, np.minimum(1.0, got_imp / np.where(
            imp_total > 0, imp_total, 1.0)), 0.0)
    return theta, theta_imp, (sent_dom + sent_imp).transpose(1, 0, 2).reshape(R * P, K)


@pytest.mark.parametrize("new_links", [False, True])
@pytest.mark.parametrize("K", [1, 5])
def test_resourcing_flows_equal_numpy(new_links, K):
    """The re-sourcing from the shortfalls on (spare capacity, domestic allocation, lost
    imports pro rata, filled shares) equals the numpy it replaced bit for bit, one scenario
    (numpy sums the regions pairwise) and a batch (in order); products re-sourcing nothing,
    without demand, short of spare capacity, over-filled shares (clipped to 1) and NaN."""
    rng = np.random.default_rng(3 + K + 10 * new_links)
    P, R = 5, 19  # more than eight regions: numpy's pairwise sum for K = 1
    shape = (P, R, K)
    dom_total = rng.uniform(0, 2, shape) * (rng.uniform(size=shape) > 0.2)
    imp_total = rng.uniform(0, 2, shape) * (rng.uniform(size=shape) > 0.2)
    dom_short = dom_total * rng.uniform(0, 1.2, shape)  # a stock may leave more than the gap
    imp_short = imp_total * rng.uniform(0, 1, shape)
    dom_total[0, :2] = 0.0
    imp_total[1, :3] = 1e-9  # tiny totals: shares above 1
    dom_short[2] = 0.0
    s = rng.uniform(0, 1, (R * P, K))
    xbar = rng.uniform(0.5, 2, (R * P, K))
    x = s * xbar * rng.uniform(0.5, 1.1, (R * P, K))
    x[3, 0] = np.nan
    imports = rng.uniform(0, 1, (P, K))
    enabled = rng.uniform(size=(P, K)) > 0.2
    enabled[4], enabled[1], imports[1] = False, True, 1.0
    T0 = rng.uniform(0, 1, (P, R, R)) * (rng.uniform(size=(P, R, R)) > 0.4)
    sub = {"headroom": rng.uniform(0, 0.5, (P, K)),
           "new_links": (rng.uniform(0, 0.3, (P, K)) if new_links else np.zeros((P, K)))}
    need = rng.uniform(0, 3, shape) if new_links else fused.NONE_3D
    n_new = np.maximum((T0 == 0).sum(axis=1), 1).astype(float)
    args = (dom_total, imp_total, dom_short, imp_short, imports, enabled, s, xbar, x, T0)
    got = fused.resourcing_flows(*args, sub["headroom"], sub["new_links"], need, n_new)
    want = _resourcing_flows_numpy(*args, sub, need, n_new)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_array_equal(g, w)
    assert (got[0] <= 1).all() and np.nanmax(got[1]) == 1.0
    assert (got[0][4] == 0).all() and got[2].sum() > 0


@pytest.mark.parametrize("R", [1, 7, 8, 31, 128, 129, 300])
@pytest.mark.parametrize("K", [1, 3])
def test_sum_over_axis1_in_numpy_order(R, K):
    """``a.sum(axis=1)`` bit for bit: pairwise for one scenario, row after row for a batch."""
    rng = np.random.default_rng(R * K)
    a = rng.uniform(-1, 1, (4, R, K)) * 10.0 ** rng.uniform(-8, 8, (4, R, K))
    np.testing.assert_array_equal(fused.sum_over_axis1(a), a.sum(axis=1))


def _csr(dense):
    import scipy.sparse as sp

    m = sp.csr_matrix(dense)
    return m.data, m.indices.astype(np.int64), m.indptr.astype(np.int64)


def test_solve_by_components_hand_solvable():
    """A triangular chain, a 2-cycle feeding a third unknown, and singular systems."""
    A = np.array([[2.0, -1.0, 0.0], [0.0, 1.0, -0.5], [0.0, 0.0, 4.0]])
    z, status = fused.solve_by_components(*_csr(A), np.array([1.0, 1.0, 2.0]), 8)
    assert status == 0 and np.allclose(z, [1.125, 1.25, 0.5], rtol=1e-15)
    # z0 - 0.5 z1 = 1, -0.5 z0 + z1 - z2 = 0, z2 = 2 -> z1 = 2 + z0 / 2 -> z0 = 8/3, z1 = 10/3
    B = np.array([[1.0, -0.5, 0.0], [-0.5, 1.0, -1.0], [0.0, 0.0, 1.0]])
    z, status = fused.solve_by_components(*_csr(B), np.array([1.0, 0.0, 2.0]), 8)
    assert status == 0 and np.allclose(z, [8 / 3, 10 / 3, 2.0], rtol=1e-15)
    z, status = fused.solve_by_components(*_csr(B), np.array([1.0, 0.0, 2.0]), 1)
    assert status == 2  # the 2-cycle is larger than max_block
    C = np.array([[1.0, -1.0], [-1.0, 1.0]])  # singular 2-cycle
    assert fused.solve_by_components(*_csr(C), np.ones(2), 8)[1] == 1
    D = np.array([[1.0, 0.0], [-1.0, 0.0]])  # an unknown nothing determines
    assert fused.solve_by_components(*_csr(D), np.ones(2), 8)[1] == 1
    z, status = fused.solve_by_components(np.zeros(0), np.zeros(0, np.int64),
                                          np.zeros(1, np.int64), np.zeros(0), 8)
    assert status == 0 and z.size == 0


@pytest.mark.parametrize("K", [1, 3])
def test_solve_by_components_equals_superlu(china31, K):
    """Policy systems of china31 (random policies, with and without routes) solved by their
    strongly connected components agree with SuperLU to rounding, and the mode's solve
    agrees with its SuperLU fallback (a component larger than MAX_COMPONENT)."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    import stresstest.kernels.rationing as kr

    st, _ = _maps(china31, True)
    for seed, routes in ((3, False), (4, True), (5, True)):
        args = _by_destination(_policy_inputs(st, K, seed, routes))
        policy, g, const, alpha, beta, c, w = args
        data, indices, indptr, h, *_ = fused.policy_system(
            policy, g, const, w, alpha, beta, fused.NONE_3D if c is None else c,
            st.G.indptr, st.G.indices, st.G.data, st.pair_row, st.row_r, st.G.shape[0])
        W = h.size
        want = spla.spsolve(sp.csr_matrix((data.copy(), indices.copy(), indptr.copy()),
                                          shape=(W, W)), h)
        # random policies read more cycles than an equilibrium's: no limit on components here
        z, status = fused.solve_by_components(data, indices, indptr, h, W)
        assert status == 0 and W > 50 * K
        np.testing.assert_allclose(z, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())
        assert fused.solve_by_components(data, indices, indptr, h, 1)[1] == 2
        r = kr._policy_system_solve(st, *args)
        saved = kr.MAX_COMPONENT
        try:
            kr.MAX_COMPONENT = 1
            r_lu = kr._policy_system_solve(st, *args)
        finally:
            kr.MAX_COMPONENT = saved
        np.testing.assert_allclose(r, r_lu, rtol=1e-12, atol=1e-12)
