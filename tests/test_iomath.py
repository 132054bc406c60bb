"""Pure linear-algebra kernels: closed forms against brute-force re-inversion."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings, strategies as st

from stresstest.kernels import iomath as io


def _system(seed, n=6, zeros=0.3):
    rng = np.random.default_rng(seed)
    A = rng.uniform(0, 0.9 / n, (n, n))
    A[rng.uniform(size=(n, n)) < zeros] = 0.0
    y = rng.uniform(1, 5, n)
    return A, y


def test_coefficients_dense_and_sparse_agree():
    Z = np.array([[150.0, 500.0], [200.0, 100.0]])
    x = np.array([1000.0, 2000.0])
    A = io.technical_coefficients(Z, x)
    np.testing.assert_allclose(A, [[0.15, 0.25], [0.2, 0.05]], rtol=1e-14)
    np.testing.assert_allclose(io.technical_coefficients(sp.csr_matrix(Z), x).toarray(), A)
    np.testing.assert_allclose(io.allocation_coefficients(Z, x), [[0.15, 0.5], [0.1, 0.05]])
    np.testing.assert_allclose(io.astar(A, x), io.allocation_coefficients(Z, x), rtol=1e-14)
    np.testing.assert_allclose(io.astar(sp.csr_matrix(A), x).toarray(), io.astar(A, x))


def test_zero_output_industry_gets_zero_coefficients():
    Z = np.array([[1.0, 0.0], [0.0, 0.0]])
    x = np.array([10.0, 0.0])
    assert np.all(np.isfinite(io.technical_coefficients(Z, x)))
    assert io.technical_coefficients(Z, x)[0, 1] == 0.0


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 7),
       kind=st.sampled_from(["total", "backward", "forward", "forward_ghosh"]))
def test_extraction_closed_form_matches_reinversion(seed, n, kind):
    A, y = _system(seed, n)
    solve, solve_t = io.dense_solver(A), io.dense_solver_t(A)
    x = solve(y)
    closed = io.extraction_losses(solve, solve_t, x, y, kind)
    brute = np.array([io.extraction_bruteforce(A, y, j, kind) for j in range(n)])
    np.testing.assert_allclose(closed, brute, rtol=1e-9, atol=1e-9 * x.sum())


def test_leontief_diagonal_chunks():
    A, _ = _system(3, 9)
    L = np.linalg.inv(np.eye(9) - A)
    np.testing.assert_allclose(io.leontief_diagonal(io.dense_solver(A), 9, chunk=4), np.diag(L))


def test_ghosh_identity_and_inoperability_identity():
    A, y = _system(5, 5)
    solve = io.dense_solver(A)
    x = solve(y)
    B = io.astar(A, x)
    G = np.linalg.inv(np.eye(5) - B)
    np.testing.assert_allclose(io.ghosh_inverse(solve, x), G, rtol=1e-12)
    c = np.linspace(0.01, 0.05, 5)
    np.testing.assert_allclose(io.inoperability(solve, x, c, cap=False), G @ c, rtol=1e-12)
    np.testing.assert_allclose(io.inoperability_from_astar(B, c, cap=False), G @ c, rtol=1e-12)
    v = x - A.sum(axis=0) * x
    np.testing.assert_allclose(io.ghosh_output(io.dense_solver_t(A), x, v), x, rtol=1e-12)


def test_dense_limit():
    with pytest.raises(ValueError, match="dense"):
        io.leontief_inverse(lambda r: r, io.DENSE_LIMIT + 1)


def test_diim_step_clips_and_converges_to_static():
    As = np.array([[0.15, 0.5], [0.1, 0.05]])
    c = np.array([0.0, 0.1])
    q = io.diim_path(As, 0.2, c, 200)
    np.testing.assert_allclose(q[-1], io.inoperability_from_astar(As, c), atol=1e-9)
    big = io.diim_step(np.array([0.9, 0.9]), As, np.array([1.0, 1.0]), np.array([1.0, 1.0]))
    assert np.all(big == 1.0)
    neg = io.diim_step(np.array([0.1, 0.1]), As, np.array([1.0, 1.0]), np.array([-1.0, -1.0]))
    assert np.all(neg == 0.0)


def test_mixed_output_hand_case():
    """Two sectors; sector 0 capped. x = min(cap, A x + y) solved by hand."""
    A = np.array([[0.1, 0.2], [0.3, 0.1]])
    y0 = np.array([10.0, 20.0])
    solve = io.dense_solver(A)
    x0 = solve(y0)
    cap = np.array([0.5 * x0[0], 10 * x0[1]])
    x, f, X, _ = io.mixed_output(solve, x0, y0, y0, cap)
    assert X.tolist() == [True, False]
    # sector 1 demand-driven given x0_capped: x1 = (0.3 x0c + 20) / 0.9
    x1 = (0.3 * cap[0] + 20.0) / 0.9
    np.testing.assert_allclose(x, [cap[0], x1], rtol=1e-12)
    np.testing.assert_allclose(f[0], cap[0] - 0.1 * cap[0] - 0.2 * x1, rtol=1e-12)
    assert f[1] == y0[1]
    # no binding capacity: baseline exactly
    x, f, X, it = io.mixed_output(solve, x0, y0, y0, x0)
    assert np.array_equal(x, x0) and not X.any() and it == 0


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 7))
def test_mixed_output_is_fixed_point(seed, n):
    A, y0 = _system(seed, n)
    rng = np.random.default_rng(seed + 1)
    solve = io.dense_solver(A)
    x0 = solve(y0)
    cap = x0 * rng.uniform(0.2, 1.2, n)
    y = y0 * rng.uniform(0.5, 1.5, n)
    x, f, X, _ = io.mixed_output(solve, x0, y0, y, cap)
    np.testing.assert_allclose(x, np.minimum(cap, A @ x + y), rtol=1e-9, atol=1e-9)
    assert np.all(x <= cap * (1 + 1e-12))
    np.testing.assert_allclose(f, x - A @ x, rtol=1e-9, atol=1e-9)
    assert np.all(f <= y * (1 + 1e-9) + 1e-12)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 40), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_unique_rows_matches_numpy_unique(m, c, seed):
    """Distinct rows in np.unique's order, with its first occurrences and inverse: few distinct
    values so that rows repeat, signed zeros and exact ties included."""
    rng = np.random.default_rng(seed)
    keys = rng.choice([0.0, -0.0, 0.25, 0.5, 1.0 / 3.0], size=(m, c))
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    got_first, got_inverse = io.unique_rows(keys)
    np.testing.assert_array_equal(got_first, first)
    np.testing.assert_array_equal(got_inverse, inverse.reshape(-1))
