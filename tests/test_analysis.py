"""xarray linear analysis, against published ground truth and brute force."""

import json

import numpy as np
import pytest
import xarray as xr

from stresstest import analysis
from stresstest.economy import derive, stack
from stresstest.errors import InputError
from stresstest.kernels import iomath
from stresstest.testing import random_economy
from tests.conftest import shared_file


def _load(name):
    return json.loads(shared_file("groundtruth", name).read_text())


def test_miller_blair():
    gt = _load("miller_blair_2x2.json")
    Z, x = np.array(gt["inputs"]["Z"]), np.array(gt["inputs"]["x"])
    pub, tol = gt["expected_published"], gt["tolerances"]
    np.testing.assert_allclose(iomath.technical_coefficients(Z, x), pub["A"], atol=tol["A"])
    np.testing.assert_allclose(analysis.leontief_inverse((Z, x)), pub["L"], atol=tol["L"])
    x_new = analysis.leontief_output((Z, x), gt["inputs"]["f_new"])
    np.testing.assert_allclose(x_new, pub["x_new"], atol=tol["x_new"])
    labor = np.array(gt["inputs"]["labor_coefficients"]) * x_new
    np.testing.assert_allclose(labor, pub["labor_at_x_new"], atol=tol["labor_at_x_new"])
    der = gt["derived_not_published"]
    np.testing.assert_allclose(analysis.output_multipliers((Z, x)),
                               der["output_multipliers_colsum_L"], atol=1e-6)
    np.testing.assert_allclose(analysis.ghosh_inverse((Z, x)), der["G_ghosh"], atol=1e-6)
    np.testing.assert_allclose(analysis.astar((Z, x)), der["B_allocation"], atol=1e-12)


def test_iim_static_cases():
    gt = _load("iim_cases.json")
    assert len(gt["static_cases"]) >= 4
    for case in gt["static_cases"]:
        q = analysis.inoperability_from_astar(case["Astar"], case["c"])
        np.testing.assert_allclose(q, case["q"], atol=case["tol"], err_msg=case["id"])
        assert q.max() <= 1.0


def test_iim_supply_side_case_coefficients():
    case = _load("iim_cases.json")["supply_side_case"]
    Z, x = np.array(case["Z"]), np.array(case["x"])
    A = iomath.technical_coefficients(Z, x)
    np.testing.assert_allclose(A, case["expected_A_eq31"], atol=case["tol"])
    np.testing.assert_allclose(A.T, case["expected_AS_eq34"], atol=case["tol"])


def test_diim_cases():
    gt = _load("diim_cases.json")
    As, K, c0 = np.array(gt["A_star"]), np.array(gt["K"]), np.array(gt["c0"])
    checked = 0
    for case in gt["cases"]:
        T = case["time_steps"]
        if "ptime" in case:
            p0, p1 = case["ptime"]
            c = np.array([c0 if p0 <= t <= p1 else np.zeros_like(c0) for t in range(T)])
        else:
            c = np.zeros_like(c0)
        q = analysis.dynamic_inoperability(As, c, K, T, q0=case.get("q0"))
        assert q.sizes["time"] == T
        path = q.transpose("time", "industry").values
        if "static_q" in case:
            np.testing.assert_allclose(path[-1], case["static_q"], atol=1e-6)
            checked += 1
        if "expected_q_last" in case:
            np.testing.assert_allclose(path[-1], case["expected_q_last"], atol=case["tol"])
            checked += 1
        if "expected_impact_trapz" in case:
            np.testing.assert_allclose(np.trapezoid(path, axis=0),
                                       case["expected_impact_trapz"], atol=case["tol"])
            checked += 1
    assert checked == 3


def test_economy_inverse_dims_and_values(tiny):
    L = analysis.leontief_inverse(tiny)
    assert L.dims == ("origin", "product", "region", "sector")
    d = derive(tiny)
    Ld = np.linalg.inv(np.eye(d.n) - d.A.toarray())
    np.testing.assert_allclose(L.values.reshape(d.n, d.n), Ld, rtol=1e-10)
    m = analysis.output_multipliers(tiny)
    assert m.dims == ("region", "sector")
    np.testing.assert_allclose(stack(m), Ld.sum(axis=0), rtol=1e-10)
    G = analysis.ghosh_inverse(tiny)
    np.testing.assert_allclose(G.values.reshape(d.n, d.n),
                               np.diag(1 / d.x) @ Ld @ np.diag(d.x), rtol=1e-10)
    x = analysis.leontief_output(tiny, xr.DataArray(d.fd.reshape(3, 4), dims=("region", "sector"),
                                                    coords={"region": tiny.region,
                                                            "sector": tiny.sector}))
    np.testing.assert_allclose(x, tiny["x"], rtol=1e-6)


def test_dense_guard_message(monkeypatch, tiny):
    monkeypatch.setattr(analysis, "DENSE_LIMIT", 5)
    with pytest.raises(InputError, match="solves"):
        analysis.leontief_inverse(tiny)
    with pytest.raises(InputError, match="n <= 5"):
        analysis.ghosh_inverse(tiny)


@pytest.mark.parametrize("kind", analysis.EXTRACTION_KINDS)
def test_extraction_matches_bruteforce(tiny, kind):
    d = derive(tiny)
    loss = analysis.extraction(tiny, kind)
    assert loss.dims == ("region", "sector")
    A = d.A.toarray()
    brute = [iomath.extraction_bruteforce(A, d.fd, j, kind) for j in range(d.n)]
    # the economy's x equals L fd to the validation tolerance only
    np.testing.assert_allclose(stack(loss), brute, rtol=1e-6)
    if kind == "total":
        assert np.all(stack(loss) >= d.x * (1 - 1e-9))


def test_rank_extraction(tiny):
    df = analysis.rank_extraction(tiny, "total", top=5)
    assert list(df.columns) == ["rank", "region", "sector", "sector_name", "loss", "loss_share"]
    assert len(df) == 5 and df["loss"].is_monotonic_decreasing
    full = analysis.extraction(tiny, "total")
    assert df["loss"].iloc[0] == pytest.approx(float(full.max()))
    with pytest.raises(InputError, match="kind"):
        analysis.extraction(tiny, "sideways")


def test_inoperability_economy(tiny):
    d = derive(tiny)
    c = xr.zeros_like(tiny["x"]) + 0.0
    c[0, 0] = 0.2
    out = analysis.inoperability(tiny, c)
    As = iomath.astar(d.A, d.x).toarray()
    q = np.minimum(1, np.linalg.solve(np.eye(d.n) - As, stack(c)))
    np.testing.assert_allclose(stack(out["q"]), q, rtol=1e-10)
    np.testing.assert_allclose(stack(out["loss"]), q * d.x, rtol=1e-10)
    capped = analysis.inoperability(tiny, np.full(d.n, 2.0))
    assert float(capped["q"].max()) == 1.0
    with pytest.raises(InputError, match="c_star"):
        analysis.inoperability(tiny, np.ones(d.n + 1))
    with pytest.raises(InputError, match="c_star"):
        analysis.inoperability(tiny, np.full(d.n, np.nan))


def test_dynamic_inoperability_economy(tiny):
    d = derive(tiny)
    c = np.zeros(d.n)
    c[3] = 0.1
    q = analysis.dynamic_inoperability(tiny, c, 0.5, 400)
    assert q.dims == ("region", "sector", "time") and q.sizes["time"] == 400
    static = analysis.inoperability(tiny, c)["q"]
    np.testing.assert_allclose(q.isel(time=-1), static, atol=1e-9)
    assert float(q.isel(time=0).max()) == 0.0
    with pytest.raises(InputError, match="K"):
        analysis.dynamic_inoperability(tiny, c, 1.5, 10)
    with pytest.raises(InputError, match="steps"):
        analysis.dynamic_inoperability(tiny, c, 0.5, 0)


def test_sparse_economy_extraction_no_dense():
    eco = random_economy(4, 5, seed=3, density=0.4)
    loss = analysis.extraction(eco, "backward")
    assert np.all(np.isfinite(loss)) and float(loss.min()) >= 0
