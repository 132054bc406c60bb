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
    # shock window of the no_shock() default: 1 day
    assert metrics.benefit_cost(withp, none) == pytest.approx(0.1 * va0 / 365 / 10.0)
    assert metrics.benefit_cost(withp, none, cost=5.0, window_days=73) == pytest.approx(
        0.1 * va0 * 73 / 365 / 5.0)
    assert metrics.benefit_cost(withp, none, cost=0.0) == float("inf")
    assert np.isnan(metrics.benefit_cost(none, none, cost=0.0))


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
    assert hl["output_share"] == pytest.approx(path.mean())
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
                "binding:capacity", "backup_value", "cost", "benefit_cost"):
        assert key in hl
    assert hl["cost"] == 2.0 and hl["backup_value"] > 0
