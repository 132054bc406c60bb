import json

import numpy as np
import pytest
import xarray as xr

from stresstest import EconomyError, InputError, load_economy, save_economy, validate_economy
from stresstest.economy import derive, make_economy, net_of_own_use, spectral_radius_bound
from stresstest.testing import random_economy

from .conftest import shared_file


def miller_blair():
    gt = json.loads(shared_file("groundtruth", "miller_blair_2x2.json").read_text())
    inp = gt["inputs"]
    Z = np.array(inp["Z"])
    f = np.array(inp["f"])
    x = np.array(inp["x"])
    va = x - Z.sum(axis=0)
    eco = make_economy(Z.reshape(1, 2, 1, 2), f.reshape(1, 2, 1, 1), np.zeros((1, 2)),
                       np.zeros((2, 1, 2)), np.zeros((2, 1, 1)), va.reshape(1, 1, 2),
                       regions=["mb"], sectors=["agriculture", "manufacturing"],
                       uses=["final"], components=["va"], x=x.reshape(1, 2))
    return gt, eco


def test_miller_blair_A_and_L_through_public_api():
    gt, eco = miller_blair()
    d = derive(eco)
    exp = gt["expected_published"]
    np.testing.assert_allclose(d.A.toarray(), exp["A"], atol=gt["tolerances"]["A"])
    L = d.solve(np.eye(2))
    np.testing.assert_allclose(L, exp["L"], atol=gt["tolerances"]["L"])
    x_new = d.solve(np.array(gt["inputs"]["f_new"]))
    np.testing.assert_allclose(x_new, exp["x_new"], atol=gt["tolerances"]["x_new"])


def test_random_economy_identities_exact(tiny):
    validate_economy(tiny, rtol=1e-12)
    d = derive(tiny)
    np.testing.assert_allclose(d.solve(d.fd), d.x, rtol=1e-10)
    assert derive(tiny) is d  # cached


def test_sourcing_shares_sum_to_one_per_product(tiny):
    d = derive(tiny)
    tau = d.tau0.toarray()
    sums = d.pool_by_product(tau)
    used = d.a_prod > 0
    np.testing.assert_allclose(sums[used], 1.0, rtol=1e-12)


@pytest.mark.parametrize("empty", [0, 2])
def test_derived_coefficients_match_their_dense_definitions(empty):
    """``A = Z / x`` (0 for an industry without output), ``a[p, j] = Σ_(i of p) A[i, j]``,
    ``τ = A / a[product(i), j]`` on A's pattern, and the table net of own use
    ``(A − diag δ) / (1 − δ)``, against dense arithmetic (the sparse builders work on the
    stored entries)."""
    eco = random_economy(3, 4, seed=7, density=0.6, empty_industries=empty)
    d = derive(eco)
    n, S = d.n, d.n_sector
    Z = eco["Z"].transpose("origin", "product", "region", "sector").values
    x = eco["x"].values.reshape(n)
    A = Z.reshape(n, n) * np.divide(1.0, x, out=np.zeros(n), where=x > 0)[None, :]
    assert (x == 0).sum() == empty
    np.testing.assert_array_equal(d.A.toarray(), A)
    assert d.A.nnz == np.count_nonzero(A)
    a = A.reshape(-1, S, n).sum(axis=0)
    np.testing.assert_allclose(d.a_prod, a, rtol=1e-15, atol=0)
    tau = d.tau0.toarray()
    denom = a[d.product_of]
    np.testing.assert_allclose(tau, np.divide(A, denom, out=np.zeros_like(A), where=denom > 0),
                               rtol=1e-15)
    assert d.tau0.nnz == d.A.nnz
    dn = net_of_own_use(d)
    own = np.diag(A)
    np.testing.assert_allclose(dn.A.toarray(), (A - np.diag(own)) / (1.0 - own)[None, :],
                               rtol=1e-15)
    assert np.all(dn.A.diagonal() == 0) and dn.A.nnz == np.count_nonzero(dn.A.toarray())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_table_net_of_own_use_is_the_same_leontief_economy(seed):
    """Netting each industry's use of its own output out of the table keeps the accounts:
    ``Ã x̃ + f = x̃`` with ``x̃ = (1 − δ) x``, ``(I − Ã)^-1 f = (1 − δ) (I − A)^-1 f`` (also
    transposed), the same value added and imports, no own use left, and the same sourcing
    shares of every other input."""
    d = derive(random_economy(3, 4, seed=seed, density=1.0))
    dn = net_of_own_use(d)
    keep = 1.0 - dn.own
    assert dn.own.max() > 0 and np.all(dn.A.diagonal() == 0)
    np.testing.assert_allclose(dn.x, keep * d.x, rtol=1e-15)
    np.testing.assert_allclose(dn.A @ dn.x + d.fd, dn.x, rtol=1e-12, atol=1e-12 * d.x.max())
    f = np.random.default_rng(seed).uniform(size=(d.n, 3))
    np.testing.assert_allclose(dn.solve(f), keep[:, None] * d.solve(f), rtol=1e-12)
    np.testing.assert_allclose(dn.solve(f), np.linalg.solve(np.eye(d.n) - dn.A.toarray(), f),
                               rtol=1e-10)
    np.testing.assert_allclose(dn.solve_transposed(f),
                               np.linalg.solve((np.eye(d.n) - dn.A.toarray()).T, f), rtol=1e-10)
    np.testing.assert_allclose(dn.v * dn.x, d.v * d.x, rtol=1e-12)
    np.testing.assert_allclose(dn.AM @ dn.x, d.AM @ d.x, rtol=1e-12)
    other = d.product_of[:, None] != d.product_of[None, :]  # (origin, buyer) of another product
    dense, dense_n = d.tau0.toarray(), dn.tau0.toarray()
    np.testing.assert_allclose(dense_n[other], dense[other], rtol=1e-12, atol=1e-15)
    assert net_of_own_use(d) is dn


def test_netcdf_round_trip_exact(tmp_path, tiny):
    path = save_economy(tiny, tmp_path / "e.nc")
    back = load_economy(path)
    xr.testing.assert_identical(back, tiny)


def _bits_equal(a, b):
    def bits(v):
        return np.ascontiguousarray(v.values).view(np.uint8)

    return all(np.array_equal(bits(a[v]), bits(b[v])) for v in a.data_vars
               if a[v].dtype.kind == "f")


def _gravity_like(seed):
    """A random economy whose Z and Y are origin shares x domestic use (as a gravity build),
    with negative inventory use and signed zeros, rebalanced so it is valid."""
    eco = random_economy(3, 4, seed=seed)
    rng = np.random.default_rng(seed)
    share = rng.dirichlet(np.ones(3), size=(4, 3)).transpose(2, 0, 1)  # (O, P, D)
    share[:, 0, 1] = [1.0, 0.0, 0.0]
    Zin = eco.Z.sum("origin").transpose("product", "region", "sector").values
    Yd = eco.Y.sum("origin").transpose("product", "region", "use").values
    Z = share[..., None] * Zin[None]
    Y = share[..., None] * Yd[None]
    ds = eco.copy(deep=True)
    ds["Z"] = (ds.Z.dims, Z.transpose(0, 1, 2, 3))
    ds["Y"] = (ds.Y.dims, Y)
    rows = (ds.Z.sum(["region", "sector"]) + ds.Y.sum(["region", "use"])).rename(
        {"origin": "region", "product": "sector"}) + ds.exports
    ds["exports"] = ds.exports + (ds.x - rows).clip(min=0)
    ds["x"] = (ds.Z.sum(["region", "sector"]) + ds.Y.sum(["region", "use"])).rename(
        {"origin": "region", "product": "sector"}) + ds.exports
    ds["V"] = ds.V * 0 + ((ds.x - ds.Z.sum(["origin", "product"]) - ds.M.sum("product"))
                          / ds.sizes["component"])
    for v in ("Z", "Y", "exports", "x", "V"):
        ds[v] = ds[v].transpose(*eco[v].dims)
        ds[v].attrs = dict(eco[v].attrs)
    return validate_economy(ds)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_packed_flows_round_trip_bit_exact(tmp_path, seed):
    import h5py

    eco = _gravity_like(seed)
    path = save_economy(eco, tmp_path / "g.nc")
    with h5py.File(path, "r") as f:
        assert "Z_ulp" in f and "Z" not in f  # packed
    back = load_economy(path)
    xr.testing.assert_identical(back, eco)
    assert _bits_equal(back, eco)


def test_packed_flows_keep_the_dim_order(tmp_path):
    eco = _gravity_like(3)
    eco["Z"] = eco.Z.transpose("region", "sector", "origin", "product")
    eco["Y"] = eco.Y.transpose("use", "region", "origin", "product")
    back = load_economy(save_economy(eco, tmp_path / "g.nc"))
    xr.testing.assert_identical(back, eco)
    assert back.Z.dims == eco.Z.dims and back.Y.dims == eco.Y.dims
    assert _bits_equal(back, eco)


def test_unfactorable_flows_are_written_unpacked(tmp_path, tiny):
    import h5py

    path = save_economy(tiny, tmp_path / "t.nc")
    with h5py.File(path, "r") as f:
        assert "Z" in f and "Z_ulp" not in f
    assert _bits_equal(load_economy(path), tiny)


def test_china31_is_packed_and_small(china31, tmp_path):
    from stresstest.economy import builtin_economies

    assert builtin_economies()["china31"].stat().st_size < 3e6
    back = load_economy(save_economy(china31, tmp_path / "c.nc"))
    xr.testing.assert_identical(back, china31)
    assert _bits_equal(back, china31)


def test_broken_packed_file_is_an_input_error(tmp_path):
    eco = _gravity_like(0)
    path = save_economy(eco, tmp_path / "g.nc")
    ds = xr.load_dataset(path, engine="h5netcdf").drop_vars("Z_domestic_use")
    ds.to_netcdf(tmp_path / "bad.nc", engine="h5netcdf")
    with pytest.raises(InputError, match="packed flows"):
        load_economy(tmp_path / "bad.nc")


@pytest.mark.parametrize("mutate, words", [
    (lambda ds: ds["Z"].__setitem__((0, 0, 0, 0), -1.0), "negative"),
    (lambda ds: ds["Y"].__setitem__((0, 0, 0, 0), np.nan), "NaN"),
    (lambda ds: ds["x"].__setitem__((1, 1), ds["x"].values[1, 1] * 1.01), "identity"),
    (lambda ds: ds["V"].__setitem__((0, 0, 0), ds["V"].values[0, 0, 0] + 5), "column identity"),
])
def test_validation_names_the_problem(tiny, mutate, words):
    bad = tiny.copy(deep=True)
    mutate(bad)
    with pytest.raises(EconomyError, match=words):
        validate_economy(bad)


def test_validation_rejects_duplicate_and_mismatched_labels(tiny):
    bad = tiny.assign_coords(region=["R0", "R0", "R2"])
    with pytest.raises(EconomyError, match="duplicate region"):
        validate_economy(bad)
    bad = tiny.assign_coords(origin=["R0", "R2", "R1"])
    with pytest.raises(EconomyError, match="origin labels"):
        validate_economy(bad)


def test_non_productive_table_rejected():
    Z = np.array([[60.0, 80.0], [60.0, 40.0]])
    x = np.array([100.0, 100.0])
    # columns use more than they produce; balance with a signed value-added component
    va = x - Z.sum(axis=0)
    f = x - Z.sum(axis=1)
    with pytest.raises(EconomyError, match="negative|productive"):
        make_economy(Z.reshape(1, 2, 1, 2), f.reshape(1, 2, 1, 1), np.zeros((1, 2)),
                     np.zeros((2, 1, 2)), np.zeros((2, 1, 1)), va.reshape(1, 1, 2),
                     regions=["r"], sectors=["a", "b"], uses=["inventory"], components=["va"],
                     inventory_uses=["inventory"], signed_components=["va"], x=x.reshape(1, 2))
    assert spectral_radius_bound(derive_free_A(Z, x)) > 1


def derive_free_A(Z, x):
    import scipy.sparse as sp
    return sp.csc_matrix(Z / x[None, :])


def test_load_economy_unknown_name():
    with pytest.raises(InputError, match="no such built-in economy"):
        load_economy("atlantis")


def test_load_economy_bad_file(tmp_path):
    p = tmp_path / "junk.nc"
    p.write_text("not netcdf")
    with pytest.raises(InputError, match="junk.nc"):
        load_economy(p)


def test_large_sparse_derive_is_sparse():
    eco = random_economy(8, 30, seed=3, density=0.2)
    d = derive(eco)
    assert d.A.nnz < 0.3 * d.n ** 2
    np.testing.assert_allclose(d.solve(d.fd), d.x, rtol=1e-9)


def test_iterative_solve_matches_lu_for_large_tables():
    eco = random_economy(8, 30, seed=3, density=0.2)
    d = derive(eco)
    rhs = np.random.default_rng(0).uniform(size=(d.n, 3))
    ref, ref_t = d.solve(rhs), d.solve_transposed(rhs)
    d.DENSE_MAX_N = d.SPARSE_LU_MAX_N = 10  # force the large-table path on this instance
    assert d.method == "neumann"
    np.testing.assert_allclose(d.solve(rhs), ref, rtol=1e-11)
    np.testing.assert_allclose(d.solve_transposed(rhs), ref_t, rtol=1e-11)
