"""Public API: argument resolution, options, plan cost, compare."""

import pandas as pd
import pytest
import xarray as xr

from stresstest import api
from stresstest.compiled import no_plan, no_shock
from stresstest.errors import InputError


def _shock(eco, kappa=0.6):
    sh = no_shock(eco, 20, name="cut")
    sh["kappa"].loc[dict(region="R0", sector="S1")] = kappa
    return sh


def _standby_plan(eco, capacity, cost, name="backup"):
    plan = no_plan(eco, name=name).drop_dims("standby").assign(
        standby_capacity=("standby", [capacity]), standby_region=("standby", ["R0"]),
        standby_sector=("standby", ["S1"]), standby_lead_time=("standby", [0.0]),
        standby_ramp=("standby", [0.0]), standby_cost=("standby", [cost]))
    plan.attrs["annual_cost"] = cost
    return plan


def test_run_compiled_inputs(tiny):
    res = api.run(tiny, _shock(tiny), None, mode="leontief")
    assert res.attrs["mode"] == "leontief" and res.attrs["plan"] == "none"
    assert res.attrs["plan_annual_cost"] == 0.0
    assert float(res["x"].sum()) < float(res["x_baseline"].sum())


def test_none_plan_identical_to_no_plan(tiny):
    a = api.run(tiny, _shock(tiny), None, mode="leontief")
    b = api.run(tiny, _shock(tiny), no_plan(tiny), mode="leontief")
    xr.testing.assert_identical(a, b)


def test_plan_cost_in_attrs(tiny):
    x0 = float(tiny["x"].sel(region="R0", sector="S1"))
    res = api.run(tiny, _shock(tiny), _standby_plan(tiny, 0.2 * x0, 3.5), mode="leontief")
    assert res.attrs["plan_annual_cost"] == 3.5
    assert res.attrs["plan"] == "backup"


def test_unknown_mode_and_option(tiny):
    with pytest.raises(InputError, match="valid modes: leontief, rationing"):
        api.run(tiny, _shock(tiny), mode="magic")
    with pytest.raises(InputError, match="valid options: final_use_rule, horizon, max_iter"):
        api.run(tiny, _shock(tiny), mode="leontief", damping=0.5)


def test_bad_datasets(tiny):
    with pytest.raises(InputError, match="kappa"):
        api.run(tiny, xr.Dataset(), mode="leontief")
    with pytest.raises(InputError, match="standby_capacity"):
        api.run(tiny, _shock(tiny), xr.Dataset(), mode="leontief")
    with pytest.raises(InputError, match="economy"):
        api.run(42, _shock(tiny), mode="leontief")
    other = no_shock(tiny).assign_coords(region=["A", "B", "C"])
    with pytest.raises(InputError, match="region labels"):
        api.run(tiny, other, mode="leontief")


def test_compare(tiny):
    x0 = float(tiny["x"].sel(region="R0", sector="S1"))
    plans = [None, _standby_plan(tiny, 0.3 * x0, 2.0, "big"),
             _standby_plan(tiny, 0.1 * x0, 1.0, "small")]
    res, table = api.compare(tiny, _shock(tiny), plans, mode="leontief")
    assert list(res["plan"].values) == ["none", "big", "small"]
    assert res["x"].dims[0] == "plan" and "plan" not in res["x_baseline"].dims
    assert isinstance(table, pd.DataFrame) and table.index.name == "plan"
    assert set(table.index) == {"big", "small", "none"} and table.index[-1] == "none"
    assert table.loc["none", "benefit"] == 0.0
    assert table.loc["big", "cost"] == 2.0  # economy units are not yuan: kept as they are
    assert table.attrs["units"]["benefit"] == tiny.attrs["units"]
    ranked = table["rank"].dropna()
    if len(ranked) > 1:
        assert table.loc[ranked.index, "breakeven_p"].is_monotonic_increasing
    xr.testing.assert_identical(res["x"].sel(plan="none", drop=True),
                                api.run(tiny, _shock(tiny), None, mode="leontief")["x"])


def test_compare_adds_reference(tiny):
    x0 = float(tiny["x"].sel(region="R0", sector="S1"))
    res, table = api.compare(tiny, _shock(tiny), [_standby_plan(tiny, 0.3 * x0, 2.0)],
                             mode="leontief", probabilities=[0.1])
    assert list(res["plan"].values) == ["backup"] and list(table.index) == ["backup"]
    assert "bc_at_10%" in table and "bc_at_1%" not in table
    with pytest.raises(InputError, match="currencies are not converted"):
        api.compare(tiny, _shock(tiny), [None], mode="leontief", unit="bn yuan")


def test_named_scenario_and_plan(china31):
    pytest.importorskip("stresstest.scenario")
    pytest.importorskip("stresstest.plan")
    res = api.run("china31", "coastal-blockade", "none", mode="leontief")
    assert res.attrs["plan"] == "none" and res.attrs["plan_annual_cost"] == 0.0
    assert float(res["x"].sum()) < float(res["x_baseline"].sum())
    with pytest.raises(InputError):
        api.run(china31, "no-such-scenario", mode="leontief")


@pytest.mark.parametrize("mode", ["rationing", "optimal", "dynamic", "leontief"])
def test_modes_reject_mislabelled_shocks_and_plans(tiny, mode):
    """Each mode checks a compiled shock's and plan's labels itself (one shared check)."""
    from stresstest.modes import get_mode

    run = get_mode(mode)
    other = no_shock(tiny, 5).assign_coords(region=["A", "B", "C"])
    with pytest.raises(InputError, match="region labels do not match"):
        run(tiny, other, None)
    plan = no_plan(tiny).assign_coords(product=[f"P{k}" for k in range(tiny.sizes["sector"])])
    with pytest.raises(InputError, match="product labels do not match"):
        run(tiny, no_shock(tiny, 5), plan)  # even a plan without backups


def test_public_names_resolve_to_the_documented_callables():
    """Every name in ``stresstest.__all__`` resolves, and the README's entry points are the
    functions (not same-named modules)."""
    import importlib

    import stresstest as st

    band, sampling, screen, site = (importlib.import_module(f"stresstest.{m}")
                                    for m in ("band", "sampling", "screen", "site"))

    for name in st.__all__:
        assert getattr(st, name) is not None, name
    assert st.screen is screen.screen and callable(st.screen)
    assert st.site is site.site and callable(st.site)
    assert st.run_samples is sampling.run_samples
    assert st.run_band is band.run_band
    assert st.metrics.__name__ == "stresstest.metrics"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        st.nope  # noqa: B018
