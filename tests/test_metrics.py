"""Metrics on hand-made Results (make_result) with known answers."""

import numpy as np
import pandas as pd
import pytest

from stresstest import metrics
from stresstest.compiled import no_plan, no_shock
from stresstest.economy import derive
from stresstest.errors import InputError
from stresstest.result import BINDING, make_result


def _result(eco, x_share, cap_share=None, ess_share=1.0, time=None, binding=None, plan=None):
    """A Result with x = x_share * x0 (broadcast over industries[, time])."""
    d = derive(eco)
    R, S, n = d.n_region, d.n_sector, d.n
    tshape = () if time is None else (len(time),)
    xs = np.broadcast_to(np.asarray(x_share, float), (n,) + tshape) if np.ndim(x_share) <= 1 \
        and (time is None or np.ndim(x_share) == 0) else np.asarray(x_share, float)
    x = d.x.reshape((n,) + (1,) * len(tshape)) * xs
    cap = d.x.reshape((n,) + (1,) * len(tshape)) * (1.0 if cap_share is None else cap_share) \
        * np.ones(tshape)
    from stresstest.result import essential_baseline, final_baseline

    eb = essential_baseline(eco).values.reshape((R, S) + (1,) * len(tshape))
    ess = eb * np.asarray(ess_share) * np.ones(tshape)
    f = final_baseline(eco).values.reshape((R, S, 3) + (1,) * len(tshape)) * np.ones(tshape)
    b = np.full((n,) + tshape, BINDING["demand"]) if binding is None else binding
    return make_result(eco, mode="test", shock=no_shock(eco), plan=plan, x=x, capacity=cap,
                       f=f, exports=d.exports.reshape((n,) + (1,) * len(tshape)) * np.ones(tshape),
                       essential=ess, binding=b, time=time)


def test_surviving_share_and_loss(tiny):
    res = _result(tiny, 0.8)
    assert metrics.surviving_share(res, "x") == pytest.approx(0.8)
    assert metrics.surviving_share(res, "va") == pytest.approx(0.8)
    by_region = metrics.surviving_share(res, "x", by="region")
    np.testing.assert_allclose(by_region, 0.8)
    assert by_region.dims == ("region",)
    assert metrics.loss(res, "x") == pytest.approx(0.2 * float(tiny["x"].sum()))
    with pytest.raises(InputError, match="by="):
        metrics.surviving_share(res, "x", by="province")
    with pytest.raises(InputError, match="variable"):
        metrics.loss(res, "gdp")


def test_loss_split_direct_bounded(tiny):
    res = _result(tiny, 0.7, cap_share=0.9)
    sp = metrics.loss_split(res, "x")
    x0 = float(tiny["x"].sum())
    assert sp["total"] == pytest.approx(0.3 * x0)
    assert sp["direct"] == pytest.approx(0.1 * x0)
    assert sp["indirect"] == pytest.approx(0.2 * x0)
    res2 = _result(tiny, 0.95, cap_share=0.5)  # direct exceeds total: bounded
    sp2 = metrics.loss_split(res2, "va")
    assert sp2["direct"] == pytest.approx(sp2["total"]) and sp2["indirect"] == pytest.approx(0)


def test_critical_supply_and_worst_region(tiny):
    share = np.ones((3, 4))
    share[1, 0] = 0.5
    res = _result(tiny, 1.0, ess_share=share)
    cs = metrics.critical_supply(res)
    assert list(cs["national"]["product"].values) == ["S0"]
    eb = res["essential_baseline"].sel(product="S0").values
    expect = (eb.sum() - 0.5 * eb[1]) / eb.sum()
    assert float(cs["national"].sel(product="S0")) == pytest.approx(expect)
    assert str(cs["worst_region"].sel(product="S0").values) == "R1"
    assert float(cs["worst"].sel(product="S0")) == pytest.approx(0.5)



def test_national_critical_supply_is_critical_supplys_national(tiny):
    """The national part alone (what a sampled band reads) equals ``critical_supply``'s,
    labels included, daily and static, for the critical products or chosen ones."""
    share = np.ones((3, 4, 3))
    share[1, 0, 2] = 0.5
    share[:, 1, 1] = 0.7
    for res in (_result(tiny, 1.0, ess_share=share[:, :, 2]),
                _result(tiny, 1.0, ess_share=share, time=np.arange(3))):
        for products in (None, ["S1", "S0"]):
            want = metrics.critical_supply(res, products)["national"]
            got = metrics.national_critical_supply(res, products)
            assert got.dims == want.dims
            np.testing.assert_array_equal(got.values, want.values)
            assert list(got["product"].values) == list(want["product"].values)
    with pytest.raises(InputError, match="unknown products"):
        metrics.national_critical_supply(res, ["S9"])

def test_critical_supply_on_the_worst_day(tiny):
    """A dynamic Result keeps each day; ``worst_day`` takes the lowest day of each number:
    national on the day the nation is short, the worst region on its own worst day."""
    share = np.ones((3, 4, 3))
    share[1, 0, 2] = 0.5  # R1 short of S0 on day 2 only
    share[:, 0, 1] = 0.8  # every region at 80% on day 1
    res = _result(tiny, 1.0, ess_share=share, time=np.arange(3))
    daily = metrics.critical_supply(res)
    assert daily["national"].dims == ("product", "time")
    worst = metrics.critical_supply(res, worst_day=True)
    eb = res["essential_baseline"].sel(product="S0").values
    day2 = (eb.sum() - 0.5 * eb[1]) / eb.sum()
    assert worst["national"].dims == ("product",)
    assert float(worst["national"].sel(product="S0")) == pytest.approx(min(0.8, day2))
    np.testing.assert_allclose(worst["national"], daily["national"].min("time"))
    assert float(worst["worst"].sel(product="S0")) == pytest.approx(0.5)
    assert str(worst["worst_region"].sel(product="S0").values) == "R1"
    np.testing.assert_allclose(worst["by_region"].sel(product="S0"), [0.8, 0.5, 0.8])


def test_binding_counts(tiny):
    b = np.full(12, BINDING["demand"])
    b[:3] = BINDING["capacity"]
    s = metrics.binding_counts(_result(tiny, 1.0, binding=b))
    assert isinstance(s, pd.Series) and list(s.index) == list(BINDING)
    assert s["capacity"] == 3 and s["demand"] == 9 and s.sum() == 12


def test_backup_value_cost_benefit(tiny):
    plan = no_plan(tiny, name="p")
    plan.attrs["annual_cost"] = 10.0
    none = _result(tiny, 0.8)
    withp = _result(tiny, 0.9, plan=plan)
    va0 = float(none["va_baseline"].sum())
    assert metrics.backup_value(withp, none) == pytest.approx(0.1 * va0)
    assert metrics.plan_cost(plan) == 10.0
    withp.attrs["plan_annual_cost"] = 10.0
    assert metrics.plan_cost(withp) == 10.0
    # no direct shock in no_shock(): the event is the 1-day window
    assert metrics.benefit(withp, none) == pytest.approx(0.1 * va0 / 365)
    assert metrics.benefit_cost(withp, none) == pytest.approx(0.1 * va0 / 365 / 10.0)
    assert metrics.benefit_cost(withp, none, cost=5.0, probability=0.02) == pytest.approx(
        0.02 * 0.1 * va0 / 365 / 5.0)
    assert metrics.benefit_cost(withp, none, cost=0.0) == float("inf")
    assert np.isnan(metrics.benefit_cost(none, none, cost=0.0))


def test_breakeven_and_expected_benefit_cost():
    assert metrics.breakeven_probability(200.0, 10.0) == pytest.approx(0.05)
    assert metrics.breakeven_probability(-1.0, 10.0) == float("inf")
    assert metrics.breakeven_probability(5.0, 0.0) == 0.0
    assert np.isnan(metrics.breakeven_probability(0.0, 0.0))
    # a benefit within the solver's resolution saves nothing
    res = metrics.benefit_resolution(5000.0)
    assert res == pytest.approx(5000.0 * metrics.BENEFIT_RESOLUTION)
    assert metrics.breakeven_probability(0.9 * res, 10.0, res) == float("inf")
    assert metrics.breakeven_probability(1.1 * res, 10.0, res) == pytest.approx(10.0 / (1.1 * res))
    assert np.isnan(metrics.breakeven_probability(0.9 * res, 0.0, res))
    assert metrics.benefit_resolution(float("nan")) == 0.0
    # at p = p*, expected benefit equals the cost
    assert metrics.expected_benefit_cost(200.0, 10.0, 0.05) == pytest.approx(1.0)
    assert metrics.expected_benefit_cost(200.0, 10.0, 0.01) == pytest.approx(0.2)
    assert metrics.prob_key(0.01) == "bc_at_1%" and metrics.prob_key(0.025) == "bc_at_2.5%"


def _shocked(eco, horizon, window, cut_days, x_share, plan=None):
    """A static Result whose scenario cuts R0/S1 capacity to 50% on ``cut_days`` (a
    ``(start, end, level)`` list) of ``horizon`` days; outcome ``x_share`` of baseline."""
    sh = no_shock(eco, horizon, name="cut")
    for lo, hi, level in cut_days:
        sh["kappa"].loc[dict(region="R0", sector="S1")][lo:hi] = level
    sh.attrs.update(window_start=window[0], window_end=window[1])
    d = derive(eco)
    x = d.x * x_share
    from stresstest.result import essential_baseline, final_baseline

    return make_result(eco, mode="test", shock=sh, plan=plan, x=x, capacity=d.x,
                       f=final_baseline(eco).values, exports=d.exports,
                       essential=essential_baseline(eco).values * x_share,
                       binding=np.full(d.n, BINDING["demand"]))


def test_event_extrapolation_of_static_results(tiny):
    """Static benefit: window average x window days x (event severity / window severity)."""
    # 10 days at 50% then a 10-day tail at 75%: the tail adds half the window's direct shock
    none = _shocked(tiny, 30, (0, 10), [(0, 10, 0.5), (10, 20, 0.75)], 0.8)
    plan = _shocked(tiny, 30, (0, 10), [(0, 10, 0.5), (10, 20, 0.75)], 0.9)
    assert none.sizes["day"] == 30 and float(none["severity"][25]) == 0.0
    assert metrics.event_factor(none) == pytest.approx(1.5)
    assert metrics.event_days(none) == 30
    va0 = float(none["va_baseline"].sum())
    assert metrics.benefit(plan, none) == pytest.approx(0.1 * va0 * 10 / 365 * 1.5)
    assert metrics.event_loss(none) == pytest.approx(0.2 * va0 * 10 / 365 * 1.5)
    # no tail: the event is the window
    flat = _shocked(tiny, 30, (0, 10), [(0, 10, 0.5)], 0.8)
    assert metrics.event_factor(flat) == pytest.approx(1.0)


def test_dynamic_benefit_sums_the_horizon(tiny):
    T = 6
    time = np.arange(T)
    none = _result(tiny, np.broadcast_to(np.array([1, .5, .5, .8, .9, 1.0]), (12, T)),
                   time=time, binding=np.ones((12, T), int))
    plan = _result(tiny, np.broadcast_to(np.array([1, .7, .7, .9, 1.0, 1.0]), (12, T)),
                   time=time, binding=np.ones((12, T), int))
    va0 = float(none["va_baseline"].sum())
    assert metrics.event_factor(none) == 1.0 and metrics.event_days(none) == T
    assert metrics.benefit(plan, none) == pytest.approx(va0 * (0.2 + 0.2 + 0.1 + 0.1) / 365)


def test_essential_secured_days_and_person_days(tiny):
    none = _result(tiny, 0.8, ess_share=0.5)
    plan = _result(tiny, 0.8, ess_share=0.75)
    # a quarter of essential use secured on the 1-day event: 0.25 days of national use
    out = metrics.essential_secured(plan, none)
    assert out["days"] == pytest.approx(0.25) and np.isnan(out["person_days"])
    pop = [1e6, 2e6, 3e6]
    out = metrics.essential_secured(plan.assign_coords(population=("region", pop)),
                                    none.assign_coords(population=("region", pop)))
    assert out["person_days"] == pytest.approx(0.25 * sum(pop))


def test_plan_table_units_rank_and_notes(tiny):
    tiny = tiny.assign_attrs(units="1e8 yuan")
    none = _result(tiny, 0.8)
    cheap = _result(tiny, 0.85, plan=no_plan(tiny, name="cheap"))
    dear = _result(tiny, 0.9, plan=no_plan(tiny, name="dear"))
    df = metrics.plan_table({"none": none, "dear": dear, "cheap": cheap},
                            {"none": 0.0, "dear": 100.0, "cheap": 1.0}, probabilities=[0.1])
    assert list(df.index) == ["cheap", "dear", "none"]
    assert list(df["rank"].astype("object").fillna(0)) == [1, 2, 0]
    va0 = float(none["va_baseline"].sum())
    assert df.loc["dear", "benefit"] == pytest.approx(0.1 * va0 / 365 * 0.1)  # bn yuan
    assert df.loc["dear", "cost"] == pytest.approx(10.0)
    assert df.loc["dear", "breakeven_p"] == pytest.approx(100.0 / (0.1 * va0 / 365))
    assert df.loc["dear", "bc_at_10%"] == pytest.approx(0.1 / df.loc["dear", "breakeven_p"])
    assert df.attrs["unit"] == "bn yuan" and df.attrs["units"]["benefit"] == "bn yuan"
    assert df.attrs["units"]["cost"] == "bn yuan/yr"
    assert any("p* = annual cost / benefit per event" in n for n in df.attrs["notes"])
    # a benefit within the solver's resolution: p* never, unranked, like a plan saving nothing
    noise = _result(tiny, 0.8 + 1e-10, plan=no_plan(tiny, name="noise"))
    df = metrics.plan_table({"none": none, "noise": noise, "cheap": cheap},
                            {"noise": 1.0, "cheap": 1.0})
    assert 0 < df.loc["noise", "benefit"] and df.loc["noise", "breakeven_p"] == np.inf
    assert list(df.index) == ["cheap", "noise", "none"]
    assert list(df["rank"].astype("object").fillna(0)) == [1, 0, 0]
    zh = metrics.plan_table({"none": none, "dear": dear}, {"dear": 100.0}, unit="亿元")
    assert zh.loc["dear", "cost"] == pytest.approx(100.0) and zh.attrs["unit"] == "亿元"
    with pytest.raises(InputError, match="currencies are not converted"):
        metrics.plan_table({"none": none}, unit="bn USD")


def test_rose_resilience(tiny):
    potential = _result(tiny, 0.6)
    actual = _result(tiny, 0.9)
    assert metrics.rose_resilience(actual, potential) == pytest.approx(0.75)
    pot_money = float(metrics.loss(potential))
    assert metrics.rose_resilience(actual, pot_money) == pytest.approx(0.75)


def test_time_path_metrics(tiny):
    T = 10
    path = np.array([1.0, 0.7, 0.5, 0.6, 0.8, 0.9, 0.95, 0.995, 1.0, 1.0])
    time = np.arange(T)
    share = np.broadcast_to(path, (12, T))
    ess = np.broadcast_to(path, (3, 4, T))
    res = _result(tiny, share, time=time, ess_share=ess, binding=np.ones((12, T), int))
    pk = metrics.peak_loss(res, "x")
    assert pk["day"] == 2 and pk["share"] == pytest.approx(0.5)
    assert metrics.area_under_loss(res, "x") == pytest.approx((1 - path).sum())
    assert metrics.time_to_recovery(res, 0.01, "x") == 7
    assert metrics.time_to_recovery(res, 0.6, "x") == 0
    days = metrics.days_below(res, 0.9)
    assert int(days.sel(region="R0", product="S0")) == 4
    assert float(metrics.min_critical_supply(res).sel(region="R2", product="S0")) == \
        pytest.approx(0.5)
    x0 = float(tiny["x"].sum())
    assert metrics.cumulative_loss(res, "x") == pytest.approx(x0 * (1 - path).sum() / 365)
    hl = metrics.headline(res)
    # no_shock's window is day 0 only; the horizon mean and the trough are reported too
    assert hl["output_share"] == pytest.approx(path[0])
    assert hl["output_share_horizon"] == pytest.approx(path.mean())
    assert hl["output_trough"] == pytest.approx(0.5) and hl["output_trough_day"] == 2
    assert hl["recovery_day"] == 7
    assert hl["binding:demand"] == 12 * T
    with pytest.raises(InputError, match="dynamic"):
        metrics.peak_loss(_result(tiny, 0.5))


def test_time_to_recovery_not_recovered(tiny):
    time = np.arange(5)
    res = _result(tiny, np.broadcast_to([1, 0.5, 0.5, 0.5, 0.5], (12, 5)), time=time,
                  binding=np.ones((12, 5), int))
    assert np.isnan(metrics.time_to_recovery(res, 0.01, "x"))


def test_headline_static(tiny):
    none = _result(tiny, 0.8)
    res = _result(tiny, 0.9)
    hl = metrics.headline(res, none, cost=2.0)
    for key in ("output_share", "va_share", "csr:S0", "worst_csr", "worst_region",
                "binding:capacity", "benefit", "cost", "breakeven_p", "bc_at_1%", "bc_at_5%",
                "essential_days", "event_days"):
        assert key in hl
    assert hl["cost"] == 2.0 and hl["benefit"] > 0


def test_severity_path_equals_the_dense_formula_on_the_shipped_library(china31):
    """The direct shock per day, summed over cut links in cached blocks, equals the formula over
    the full ``(from, to, product, time)`` arrays."""
    from stresstest.result import severity_path
    from stresstest.scenario import compile_scenario, list_scenarios, load_scenario

    d = derive(china31)
    R, S = d.n_region, d.n_sector
    flows = (china31["Z"].sum("sector") + china31["Y"].sum("use")).transpose(
        "origin", "region", "product").values
    y = (china31["Y"].sum("origin") + china31["MY"]).transpose("region", "product", "use").values
    for item in list_scenarios():
        sh = compile_scenario(load_scenario(item["name"]), china31)
        ref = (d.x.reshape(R, S, 1) * np.maximum(0, 1 - sh["kappa"].values)).sum(axis=(0, 1))
        if "alpha_M" in sh:
            m0 = d.AM @ d.x + d.MY.sum(axis=(1, 2))
            ref = ref + (m0[:, None] * np.maximum(0, 1 - sh["alpha_M"].values)).sum(axis=0)
        if "epsilon" in sh:
            ref = ref + (d.exports.reshape(R, S, 1)
                         * np.maximum(0, 1 - sh["epsilon"].values)).sum(axis=(0, 1))
        if "rho" in sh:
            rho = sh["rho"].transpose("region_from", "region_to", "product", "time").values
            ref = ref + np.einsum("abp,abpt->t", flows, np.maximum(0, 1 - rho))
        if "delta" in sh:
            delta = sh["delta"].transpose("region", "product", "use", "time").values
            ref = ref + np.einsum("rpu,rput->t", y, np.abs(1 - delta))
        np.testing.assert_allclose(severity_path(china31, sh), ref, rtol=1e-12,
                                   atol=1e-12 * ref.max(), err_msg=item["name"])


def test_worst_region_ties_go_to_the_first_region():
    """Regions within a relative 1e-9 of the lowest critical supply ratio tie: the worst is the
    first of them in region order, whichever the last bits put lowest; a real gap decides."""
    import xarray as xr

    from stresstest.metrics import worst_region_index

    def worst(values):
        da = xr.DataArray(np.array(values, dtype=float).T, dims=("product", "region"))
        return worst_region_index(da).values.tolist()

    assert worst([[0.8, 0.6], [0.437, 0.5], [0.437 - 1e-16, 0.4]]) == [1, 2]
    assert worst([[0.437 - 1e-16, 0.6], [0.437, 0.5], [0.5, 0.4]]) == [0, 2]
    assert worst([[0.5, np.inf], [0.437, np.inf], [0.4369, np.inf]]) == [2, 0]


def test_results_share_kept_coordinates_but_not_their_attributes(tiny):
    """Results on the same labels reuse one set of coordinates (kept per economy, at most
    ``_COORDINATES_KEPT`` label sets): equal to coordinates built afresh, in the same order;
    attributes set on one Result stay there, and the shared arrays are read-only."""
    import xarray as xr

    from stresstest import result as result_module
    from stresstest.economy import economy_cache

    a, b = _result(tiny, 0.9), _result(tiny, 0.8)
    assert list(a.coords) == list(b.coords)
    a["region"].attrs["note"] = "a only"
    a["critical"].attrs["note"] = "a only"
    assert "note" not in b["region"].attrs and "note" not in b["critical"].attrs
    with pytest.raises(ValueError, match="read-only"):
        a["critical"].values[0] = not a["critical"].values[0]
    kept = economy_cache(tiny)["result_coordinates"]
    for k in range(result_module._COORDINATES_KEPT + 3):  # other labels of the time axis
        _result(tiny, 0.9, time=np.arange(k + 2))
    assert len(kept) == result_module._COORDINATES_KEPT
    kept.clear()
    fresh = _result(tiny, 0.9)
    xr.testing.assert_identical(fresh.coords.to_dataset(), b.coords.to_dataset())
    assert list(fresh.coords) == list(b.coords)
