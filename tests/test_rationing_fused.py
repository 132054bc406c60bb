"""The rationing mode's fused order-state pass (stresstest.kernels.rationing_fused) equals the
numpy expressions it replaces — the order bases of ``_order_bases`` contracted with the
sparse order-state map — bit for bit: random and china31 structures, with and without a
first tier, one scenario and a batch, with inputs that are not available at all (``x / 0``
and ``0 / 0`` order the plan)."""

from __future__ import annotations

import numpy as np
import pytest

from stresstest.economy import derive, net_of_own_use
from stresstest.kernels import rationing_fused as fused
from stresstest.kernels.rationing import _order_bases, order_maps
from stresstest.modes.rationing import structure
from stresstest.recipe import resolve_recipe
from stresstest.testing import random_economy


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


def test_order_state_equals_numpy_without_regional_rows():
    """Economies whose buyers of a product in one region use different pooled rows take
    ``_order_bases``' general path; the fused pass reads each pair's own row in both."""
    eco = random_economy(3, 6, seed=5, density=0.5, home_bias=0.5)
    st, maps = _maps(eco, True)
    saved = maps.pr_row, maps.odd
    try:
        maps.pr_row = maps.odd = None  # force the general path of _order_bases
        _check(st, maps, 3, 5)
    finally:
        maps.pr_row, maps.odd = saved


@pytest.mark.parametrize("K", [1, 16])
def test_order_state_equals_numpy_china31(china31, K):
    st, maps = _maps(china31, True)
    _check(st, maps, K, 11)


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
