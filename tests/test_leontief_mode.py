"""Mode leontief: the mixed demand-driven model on the average day of the shock window."""

import json

import numpy as np
import pytest

from stresstest.compiled import no_plan, no_shock
from stresstest.economy import derive, stack
from stresstest.errors import InputError
from stresstest.modes import get_mode
from stresstest.modes.leontief import run_leontief
from stresstest.result import BINDING


def _shock(eco, horizon=10, start=0, end=None):
    sh = no_shock(eco, horizon)
    sh.attrs["window_start"], sh.attrs["window_end"] = start, horizon if end is None else end
    return sh


def test_registered():
    assert get_mode("leontief") is run_leontief


def test_no_shock_is_baseline_exactly(tiny):
    res = run_leontief(tiny, _shock(tiny), None)
    np.testing.assert_array_equal(res["x"].values, res["x_baseline"].values)
    np.testing.assert_allclose(res["csr"].sel(product="S0"), 1.0, rtol=1e-12)
    np.testing.assert_allclose(res["f"].sum("source"), res["f_baseline"], rtol=1e-12)
    assert (res["binding"] == BINDING["demand"]).all()
    assert res.attrs["excess_demand"] == 0.0 and json.loads(res.attrs["infeasible_industries"]) == []
    assert res.attrs["mode"] == "leontief"


def test_demand_change_is_L_times_delta_y(tiny):
    sh = _shock(tiny)
    delta = np.ones((3, 4, 4, 10))
    delta[1, 2, 0, :] = 0.5  # households in R1 halve their demand for S2
    sh["delta"] = (("region", "product", "use", "time"), delta)
    res = run_leontief(tiny, sh, None)
    d = derive(tiny)
    Y = d.Ydest.copy()
    Y[d.product_of == 2, 1, 0] *= 0.5
    dy = Y.sum(axis=(1, 2)) - d.Ydest.sum(axis=(1, 2))
    L = np.linalg.inv(np.eye(d.n) - d.A.toarray())
    np.testing.assert_allclose(stack(res["x"]), d.x + L @ dy, rtol=1e-10)
    assert (stack(res["x"]) <= d.x + 1e-9).all()


def test_capacity_cut_mixed_model(tiny):
    sh = _shock(tiny)
    sh["kappa"].loc[dict(region="R0", sector="S1")] = 0.5
    res = run_leontief(tiny, sh, no_plan(tiny))
    d = derive(tiny)
    x = stack(res["x"])
    j = 1
    assert x[j] == pytest.approx(0.5 * d.x[j], rel=1e-12)
    assert res["binding"].sel(region="R0", sector="S1") == BINDING["capacity"]
    # others demand-driven: x = A x + y off the capped industry
    A = d.A.toarray()
    others = np.arange(d.n) != j
    np.testing.assert_allclose((x - A @ x)[others], d.fd[others], rtol=1e-9)
    assert res.attrs["excess_demand"] == pytest.approx(0.5 * d.x[j], rel=1e-9)
    assert json.loads(res.attrs["infeasible_industries"]) == ["R0/S1"]
    assert (stack(res["x"]) <= stack(res["capacity"]) * (1 + 1e-12)).all()


def test_standby_raises_capacity(tiny):
    sh = _shock(tiny)
    sh["kappa"].loc[dict(region="R0", sector="S1")] = 0.5
    plan = no_plan(tiny)
    x0 = float(tiny["x"].sel(region="R0", sector="S1"))
    plan = plan.drop_dims("standby").assign(
        standby_capacity=("standby", [0.25 * x0]), standby_region=("standby", ["R0"]),
        standby_sector=("standby", ["S1"]), standby_lead_time=("standby", [0.0]),
        standby_ramp=("standby", [0.0]), standby_cost=("standby", [1.0]))
    res = run_leontief(tiny, sh, plan)
    assert float(res["x"].sel(region="R0", sector="S1")) == pytest.approx(0.75 * x0)


def test_import_cut_reports_and_scales_imported_final_use(tiny):
    sh = _shock(tiny)
    sh["alpha_M"].loc[dict(product="S0")] = 0.2
    res = run_leontief(tiny, sh, None)
    np.testing.assert_array_equal(res["x"].values, res["x_baseline"].values)
    req = json.loads(res.attrs["imports_required"])
    avail = json.loads(res.attrs["imports_available"])
    assert avail["S0"] == pytest.approx(0.2 * req["S0"])
    assert res.attrs["import_shortfall"] == pytest.approx(0.8 * req["S0"])
    imp = res["f"].sel(source="imported", product="S0")
    base = tiny["MY"].sel(product="S0").sum("use")
    np.testing.assert_allclose(imp, 0.2 * base, rtol=1e-12)
    assert (res["csr"].sel(product="S0") < 1).all()
    assert (res["binding"] == BINDING["import"]).any()


def test_stockpile_tops_up_essential_use(tiny):
    sh = _shock(tiny)
    sh["alpha_M"][:] = 0.0
    none = run_leontief(tiny, sh, None)
    plan = no_plan(tiny)
    plan["stock_amount"].loc[dict(holder="national", product="S0")] = 1e9
    plan["stock_max_release"].loc[dict(holder="national", product="S0")] = 1e9
    res = run_leontief(tiny, sh, plan)
    assert (none["csr"].sel(product="S0") < 1).all()
    np.testing.assert_allclose(res["csr"].sel(product="S0"), 1.0, rtol=1e-12)
    assert float(res["f"].sel(source="stock").sum()) > 0


def test_options_validated(tiny):
    with pytest.raises(InputError, match="final_use_rule"):
        run_leontief(tiny, _shock(tiny), None, final_use_rule="random")


def test_route_shortfall_reported(tiny):
    sh = _shock(tiny)
    sh["rho"] = (("region_from", "region_to", "product", "time"), np.ones((3, 3, 4, 10)))
    sh = sh.assign_coords(region_from=tiny.region.values, region_to=tiny.region.values)
    assert run_leontief(tiny, sh, None).attrs["route_shortfall"] == 0.0
    sh["rho"][0, 1] = 0.0
    assert run_leontief(tiny, sh, None).attrs["route_shortfall"] > 0.0


def test_china31_smoke(china31):
    sh = no_shock(china31, 30)
    coastal = china31["coastal"].values
    sh["kappa"][coastal] = 0.7
    res = run_leontief(china31, sh, None)
    assert 0.6 < float(res["x"].sum() / res["x_baseline"].sum()) < 1.0
