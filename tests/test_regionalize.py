"""Regionalisation kernels: distances, bounded IPF, doubly-constrained gravity."""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from stresstest.errors import ConvergenceError, InputError
from stresstest.regionalize import (distance_decay, distance_matrix, gravity_flows,
                                    great_circle_km, internal_distance_km, ipf, origin_shares)


def test_great_circle_known_distance_and_symmetry():
    # Beijing (116.41E, 39.90N) to Shanghai (121.47E, 31.23N): about 1,068 km
    d = great_circle_km([116.407526, 121.473701], [39.90403, 31.230416])
    assert d[0, 1] == pytest.approx(1068, abs=5)
    assert np.array_equal(d, d.T) and (np.diag(d) == 0).all()
    # a quarter of the equator
    q = great_circle_km([0.0, 90.0], [0.0, 0.0])
    assert q[0, 1] == pytest.approx(np.pi / 2 * 6371.0088)


def test_internal_distance_of_a_disc():
    assert internal_distance_km([np.pi * 300.0**2])[0] == pytest.approx(200.0)
    d = distance_matrix([0, 1], [0, 0], [np.pi, 4 * np.pi], factor=1.0)
    assert np.diag(d) == pytest.approx([1.0, 2.0])


def test_ipf_hand_case():
    X = ipf(np.ones((2, 2)), [3.0, 1.0], [2.0, 2.0])
    assert np.allclose(X, [[1.5, 1.5], [0.5, 0.5]], rtol=1e-13)


def test_ipf_upper_bounds_bind():
    seed = np.ones((2, 2))
    upper = np.array([[1.0, np.inf], [np.inf, np.inf]])
    X = ipf(seed, [2.5, 1.5], [2.0, 2.0], upper=upper)
    # unbounded RAS gives 1.25 in the corner; the bound holds it at 1 and the rest adjusts
    assert np.allclose(X, [[1.0, 1.5], [1.0, 0.5]], rtol=1e-11)
    assert (X <= upper + 1e-12).all()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), m=st.integers(1, 6), n=st.integers(1, 7),
       batch=st.integers(1, 3), bounded=st.booleans())
@example(seed=298, m=6, n=6, batch=1, bounded=True)  # a row 1.2e-11 off, relative to itself
def test_ipf_hits_both_margins(seed, m, n, batch, bounded):
    """The row margins hold to ``tol`` = 1e-12 relative to the margins' total, as ipf
    documents (not relative to each row: a small row may be off by more, relative to
    itself); the column margins to 1e-10."""
    rng = np.random.default_rng(seed)
    truth = rng.uniform(0.1, 10.0, (batch, m, n))
    rows, cols = truth.sum(-1), truth.sum(-2)
    start = rng.uniform(0.1, 10.0, (batch, m, n))
    upper = truth * rng.uniform(1.0, 2.0, truth.shape) if bounded else None
    X = ipf(start, rows, cols, upper=upper)
    assert (np.abs(X.sum(-1) - rows) <= 1e-12 * rows.sum(-1, keepdims=True)).all()
    assert np.allclose(X.sum(-2), cols, rtol=1e-10, atol=1e-12 * rows.sum())
    assert (X >= 0).all()
    if bounded:
        assert (X <= upper * (1 + 1e-12)).all()


def test_ipf_rejects_bad_input():
    with pytest.raises(InputError, match="non-negative"):
        ipf(np.ones((2, 2)), [-1.0, 3.0], [1.0, 1.0])
    with pytest.raises(InputError, match="same total"):
        ipf(np.ones((2, 2)), [1.0, 1.0], [1.0, 2.0])
    with pytest.raises(InputError, match="shapes"):
        ipf(np.ones((2, 2)), [1.0, 1.0, 1.0], [1.0, 2.0])
    with pytest.raises(InputError, match="NaN"):
        ipf(np.array([[1.0, np.nan], [1, 1]]), [1.0, 1.0], [1.0, 1.0])
    with pytest.raises(ConvergenceError, match="all-zero seed"):
        ipf(np.array([[1.0, 1.0], [0.0, 0.0]]), [1.0, 1.0], [1.0, 1.0])
    with pytest.raises(ConvergenceError, match="upper bounds"):
        ipf(np.ones((2, 2)), [3.0, 1.0], [2.0, 2.0], upper=np.ones((2, 2)))


def _pools(rng, P, R):
    S = rng.uniform(1.0, 10.0, (P, R))
    D = rng.uniform(1.0, 10.0, (P, R))
    return S, D * (S.sum(1) / D.sum(1))[:, None]


def _impedance(rng, R, gamma=1.0):
    lon, lat = rng.uniform(90, 125, R), rng.uniform(20, 45, R)
    return distance_decay(distance_matrix(lon, lat, rng.uniform(1e4, 1e6, R)), gamma)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), home=st.floats(0.0, 0.95))
def test_gravity_margins_and_distance_symmetry(seed, home):
    rng = np.random.default_rng(seed)
    P, R = 3, 5
    S, D = _pools(rng, P, R)
    K = _impedance(rng, R)
    assert np.array_equal(K, K.T)
    h = np.full(P, home)
    T = gravity_flows(S, D, K, h)
    assert np.allclose(T.sum(2), S, rtol=1e-11) and np.allclose(T.sum(1), D, rtol=1e-10)
    # symmetric impedance: swapping supply and demand transposes the flows
    T2 = gravity_flows(D, S, K, h)
    assert np.allclose(T2, T.transpose(0, 2, 1), rtol=1e-9, atol=1e-12)
    # home bias: at least home * min(S, D) stays in the region
    assert (np.einsum("prr->pr", T) >= home * np.minimum(S, D) * (1 - 1e-12)).all()
    sh = origin_shares(T)
    assert np.allclose(sh.sum(1), 1.0)


def test_gravity_distance_decay_lowers_far_flows():
    S = np.array([[1.0, 1.0, 1.0]])
    lon, lat = np.array([100.0, 101.0, 120.0]), np.array([30.0, 30.0, 30.0])
    K = distance_decay(distance_matrix(lon, lat, [1e4] * 3), 1.0)
    T = gravity_flows(S, S, K)[0]
    assert T[0, 1] > T[0, 2]
    Tflat = gravity_flows(S, S, distance_decay(distance_matrix(lon, lat, [1e4] * 3), 0.0))[0]
    assert np.allclose(Tflat, 1 / 3)


def test_zero_supply_gives_zero_flows():
    rng = np.random.default_rng(0)
    S, D = _pools(rng, 2, 4)
    S[0, 1] = 0.0
    D[1, 2] = 0.0
    S *= (D.sum(1) / S.sum(1))[:, None]
    T = gravity_flows(S, D, _impedance(rng, 4), np.array([0.0, 0.5]))
    assert (T[0, 1, :] == 0).all() and (T[1, :, 2] == 0).all()


def test_gravity_rejects_bad_pools():
    K = np.ones((2, 2))
    with pytest.raises(InputError, match="supply pool must be non-negative"):
        gravity_flows([[-1.0, 3.0]], [[1.0, 1.0]], K)
    with pytest.raises(InputError, match="same total"):
        gravity_flows([[1.0, 3.0]], [[1.0, 1.0]], K)
    with pytest.raises(InputError, match="home_share"):
        gravity_flows([[1.0, 1.0]], [[1.0, 1.0]], K, [1.0])
    with pytest.raises(InputError, match="positive"):
        distance_decay(np.zeros((2, 2)), 1.0)
    with pytest.raises(InputError, match="gamma"):
        distance_decay(np.ones((2, 2)), -1.0)


def test_reweight_trade_on_a_small_economy():
    """reweight_trade needs only what an economy holds: pools, coordinates and areas."""
    from stresstest.economy import validate_economy
    from stresstest.regionalize import reweight_trade
    from stresstest.testing import random_economy

    eco = random_economy(4, 3, seed=7).assign_coords(
        lon=("region", [100.0, 105.0, 115.0, 121.0]), lat=("region", [30.0, 34.0, 28.0, 31.0]),
        area_km2=("region", [4e5, 2e5, 1.5e5, 6e3]),
        tradable=("sector", [True, True, False]))
    with pytest.raises(InputError, match="gamma"):
        reweight_trade(eco)
    base = reweight_trade(eco, 1.0, 0.8, 2 / 3)
    validate_economy(base, rtol=1e-9)
    again = reweight_trade(base)
    np.testing.assert_allclose(again.Z.values, base.Z.values, rtol=1e-9, atol=1e-12)
    far = reweight_trade(base, gamma=3.0, home_share=0.0)
    validate_economy(far, rtol=1e-9)
    np.testing.assert_allclose(far.Z.sum("origin"), base.Z.sum("origin"), rtol=1e-12)
    np.testing.assert_allclose(far.Y.sum("origin"), base.Y.sum("origin"), rtol=1e-12, atol=1e-12)
    assert far.attrs["gamma"] == 3.0 and far.attrs["nontradable_home_share"] == 0.0
    assert far.attrs["tradable_in_province_share"] > base.attrs["tradable_in_province_share"]
