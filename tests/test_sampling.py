"""Sampled uncertainty bands (stresstest.sampling): scenario ranges, the seeded design, per-draw
numbers equal to a plain run with the drawn inputs, quantiles and rank probabilities."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import stresstest as st
from stresstest import metrics
from stresstest.errors import InputError, ScenarioError
from stresstest.sampling import (UNCERTAIN_PARAMETERS, Uncertain, draw, rank_first,
                                 run_samples, sample_table, split_draw, uncertain_inputs)
from stresstest.scenario import compile_scenario, parse_scenario
from stresstest.testing import random_economy

RANGED = """name = "ranged"
description = "ranges"
horizon = 60
[[events]]
kind = "capacity"
regions = "R0"
sectors = "all"
remaining = [0.4, 0.8]
start = 0
duration = [10, 30]
[[events]]
kind = "imports"
products = "all"
remaining = 0.9
start = 0
duration = 20
"""


def test_range_midpoint_is_the_central_value():
    sc = parse_scenario(RANGED)
    assert sc.events[0].remaining == pytest.approx(0.6)
    assert sc.events[0].duration == 20
    assert sc.uncertain() == [(0, "duration", 10, 30), (0, "remaining", 0.4, 0.8)]
    assert sc.events[1].ranges == ()
    drawn = sc.with_values({(0, "remaining"): 0.45, (0, "duration"): 12.6})
    assert (drawn.events[0].remaining, drawn.events[0].duration) == (0.45, 13)
    assert drawn.events[1] == sc.events[1]


@pytest.mark.parametrize("bad, msg", [
    ("remaining = [0.8, 0.4]", "events[0].remaining: [0.8, 0.4] is a range [low, high] with "
                               "low > high"),
    ("remaining = [0.4, 1.2]", "events[0].remaining.high: 1.2 is outside [0, 1]"),
    ("remaining = [0.4]", "events[0].remaining: [0.4] must be a number or a range"),
    ("remaining = [0.4, 'x']", "events[0].remaining.high: 'x' must be a number"),
])
def test_bad_ranges_name_the_field(bad, msg):
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(RANGED.replace("remaining = [0.4, 0.8]", bad))
    assert msg in str(exc.value)


def test_bad_duration_range():
    with pytest.raises(ScenarioError, match=r"events\[0\]\.duration\.low: 0 must be >= 1"):
        parse_scenario(RANGED.replace("duration = [10, 30]", "duration = [0, 30]"))


def test_design_is_seeded_stratified_and_inside_the_ranges():
    sc = parse_scenario(RANGED)
    inputs = uncertain_inputs(sc)
    assert [i.name for i in inputs[:2]] == ["events[0].duration", "events[0].remaining"]
    a, b = draw(inputs, 40, seed=3), draw(inputs, 40, seed=3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, draw(inputs, 40, seed=4))
    for j, inp in enumerate(inputs):
        assert a[:, j].min() >= inp.low and a[:, j].max() <= inp.high
        if not inp.choices and inp.field != "duration":
            # Latin hypercube: each of the 40 strata of the range is hit exactly once
            strata = np.floor((a[:, j] - inp.low) / (inp.high - inp.low) * 40).astype(int)
            assert sorted(strata) == list(range(40))
    dur = a[:, 0]
    assert np.all(dur == np.round(dur))
    mat = a[:, [i.name for i in inputs].index("materiality")]
    assert set(mat) == {0.0025, 0.005, 0.01}


@pytest.mark.parametrize("d,n,seed", [(1, 1, 0), (3, 40, 3), (9, 200, 0), (14, 7, 12345)])
def test_design_is_scipys_latin_hypercube(d, n, seed):
    """The design (drawn without importing scipy.stats) is scipy's LatinHypercube on the same
    generator, number for number, and stratified: each column hits each of the n strata of
    [0, 1) once."""
    from stresstest.sampling import _lhs

    qmc = pytest.importorskip("scipy.stats.qmc")
    u = _lhs(d, n, seed)
    try:
        engine = qmc.LatinHypercube(d, rng=np.random.default_rng(seed))
    except TypeError:  # scipy < 1.15 names the generator ``seed``
        engine = qmc.LatinHypercube(d, seed=np.random.default_rng(seed))
    np.testing.assert_array_equal(u, engine.random(n))
    assert u.shape == (n, d) and (u >= 0).all() and (u < 1).all()
    for col in u.T:
        assert sorted(np.floor(col * n).astype(int)) == list(range(n))


def test_fixed_parameters_are_not_drawn():
    sc = parse_scenario(RANGED)
    names = [i.name for i in uncertain_inputs(sc, {"inventory_scale": 0.7})]
    assert "inventory_scale" not in names and "spare_scale" in names
    with pytest.raises(InputError, match="central recipe"):
        uncertain_inputs(sc, {"recipe": "strict"})


def test_recipe_ranges_are_centred_on_the_defaults():
    from stresstest.recipe import PARAMETERS

    for name, u in UNCERTAIN_PARAMETERS.items():
        assert u.central == pytest.approx(PARAMETERS[name].default), name


@pytest.mark.parametrize("kw, msg", [({"samples": 0}, "samples=0"),
                                     ({"samples": 2.5}, "whole number"),
                                     ({"seed": -1}, "seed=-1")])
def test_bad_sample_arguments(kw, msg):
    eco = random_economy(3, 4, seed=1)
    with pytest.raises(InputError, match=msg):
        run_samples(eco, parse_scenario(RANGED), **{"samples": 2, **kw})


def _plan(eco):
    from stresstest.plan import compile_plan, parse_plan

    text = """name = "standby"
description = "standby"
[[standby]]
region = "R1"
sector = "all"
capacity_share = 0.3
lead_time = 0
ramp = 0
annual_cost_share = 0.1
"""
    return compile_plan(parse_plan(text), eco)


def _plain_headline(eco, sc, inputs, row, plan):
    """``(metrics.headline, recipe parameters)`` of one draw run the plain way: the scenario
    with the drawn values compiled on ``eco``, ``st.run`` without and with ``plan``."""
    ev, prm = split_draw(inputs, row)
    shock = compile_scenario(sc.with_values(ev), eco)
    none = st.run(eco, shock, None, **prm)
    res = st.run(eco, shock, plan, **prm)
    return metrics.headline(res, none, cost=metrics.plan_cost(plan)), prm


def test_each_draw_is_a_plain_run_with_the_drawn_inputs():
    """The per-draw numbers equal metrics.headline of st.run with the drawn scenario and
    parameters (the sampled path is no shortcut)."""
    eco = random_economy(3, 4, seed=1)
    sc = parse_scenario(RANGED)
    plan = _plan(eco)
    s = run_samples(eco, sc, [plan], samples=5, seed=11, chunk_size=2)
    inputs = uncertain_inputs(sc)
    assert list(s["input"].values) == [i.name for i in inputs]
    for k in (0, 3):
        h, _ = _plain_headline(eco, sc, inputs, s["draw"].values[k], plan)
        got = s.sel(plan="standby", sample=k)
        assert float(got["output_share"]) == pytest.approx(h["output_share"], rel=1e-12)
        assert float(got["va_share"]) == pytest.approx(h["va_share"], rel=1e-12)
        assert float(got["benefit"]) == pytest.approx(h["benefit"], rel=1e-9, abs=1e-9)
        assert float(got["va_loss_event"]) == pytest.approx(h["va_loss_event"], rel=1e-9)
        for p in got["product"].values:
            assert float(got["csr"].sel(product=p)) == pytest.approx(h[f"csr:{p}"], rel=1e-12)
        bp = float(got["breakeven_p"])
        assert (np.isinf(bp) and np.isinf(h["breakeven_p"])) or bp == pytest.approx(
            h["breakeven_p"], rel=1e-9)


def test_samples_carry_their_provenance():
    eco = random_economy(3, 4, seed=1)
    s = run_samples(eco, parse_scenario(RANGED), samples=3, seed=2)
    assert s.attrs["seed"] == 2 and s.attrs["samples"] == 3
    assert s.attrs["scenario"] == "ranged" and s.attrs["stresstest_version"]
    assert list(s["plan"].values) == ["none"]
    assert np.all(s["benefit"].values == 0)


def _fake(breakeven, benefit):
    breakeven, benefit = np.asarray(breakeven, float), np.asarray(benefit, float)
    P, K = breakeven.shape
    return xr.Dataset({
        "breakeven_p": (("plan", "sample"), breakeven),
        "benefit": (("plan", "sample"), benefit),
        "plan_annual_cost": ("plan", np.ones(P)),
        "output_share": (("plan", "sample"), np.full((P, K), 0.9)),
        "va_share": (("plan", "sample"), np.full((P, K), 0.9)),
        "csr": (("plan", "sample", "product"), np.full((P, K, 1), 0.8)),
    }, coords={"plan": ["none"] + [f"p{i}" for i in range(1, P)], "sample": np.arange(K),
               "product": ["grain"]})


def test_rank_first_by_lowest_breakeven_probability():
    s = _fake([[np.nan] * 4, [0.1, 0.3, np.inf, np.inf], [0.2, 0.2, 0.5, np.inf]],
              [[0] * 4, [5, 1, 0, 0], [2, 3, 1, 0]])
    first = rank_first(s)
    assert np.isnan(float(first.sel(plan="none")))
    # draw 0: p1 (0.1); draw 1: p2 (0.2 < 0.3); draw 2: p2 (p1 saves nothing); draw 3: none
    assert float(first.sel(plan="p1")) == 0.25
    assert float(first.sel(plan="p2")) == 0.5


def test_rank_ties_go_to_the_larger_benefit():
    s = _fake([[np.nan], [0.2], [0.2]], [[0], [1.0], [3.0]])
    assert float(rank_first(s).sel(plan="p2")) == 1.0


def test_sample_table_quantiles():
    K = 101
    s = _fake([np.full(K, np.nan), np.linspace(0.0, 1.0, K)], [np.zeros(K), np.ones(K)])
    s["output_share"][1] = np.linspace(0.5, 1.0, K)
    df = sample_table(s)
    assert df.loc["p1", "output_share_q5"] == pytest.approx(0.525)
    assert df.loc["p1", "output_share_q50"] == pytest.approx(0.75)
    assert df.loc["p1", "breakeven_p_q95"] == pytest.approx(0.95)
    assert df.loc["p1", "p_first"] == 1.0
    inf = _fake([np.full(4, np.nan), [0.1, np.inf, np.inf, np.inf]], [np.zeros(4), [1, 0, 0, 0]])
    df = sample_table(inf)
    assert np.isinf(df.loc["p1", "breakeven_p_q95"]) and df.loc["p1", "breakeven_p_q5"] == 0.1


def test_uncertain_choice_and_rounding():
    u = Uncertain("m", 1, 3, "", "", choices=(1.0, 2.0, 3.0))
    np.testing.assert_array_equal(u.value([0.0, 0.34, 0.99]), [1.0, 2.0, 3.0])
    d = Uncertain("events[0].duration", 10, 30, "days", "", event=0, field="duration")
    assert d.value(0.5) == 20 and d.central == 20


def test_dynamic_draws_carry_output_paths():
    eco = random_economy(3, 4, seed=1)
    s = run_samples(eco, parse_scenario(RANGED), samples=3, seed=5, mode="dynamic")
    assert s["path"].dims == ("plan", "sample", "time") and s.sizes["time"] == 60
    assert np.all(np.isfinite(s["path"].values)) and np.all(s["path"].values > 0)
    # the mean of the path over the draw's window is its output share (one definition); the
    # window is [0, max end): the drawn duration of event 0 or event 1's 20 days
    for k in range(3):
        hi = max(20, int(s["draw"].sel(sample=k, input="events[0].duration")))
        assert float(s["path"].isel(sample=k, plan=0, time=slice(0, hi)).mean()) == \
            pytest.approx(float(s["output_share"].isel(sample=k, plan=0)), rel=1e-12)
    with pytest.raises(InputError, match="cannot be sampled"):
        run_samples(eco, parse_scenario(RANGED), samples=2, mode="optimal")


def test_samples_on_local_dask_cluster_equal_in_process():
    """The same draws on a local cluster, in chunks of 2 and in the default chunks (two per
    worker), as in process."""
    pytest.importorskip("distributed")
    from distributed import Client

    from stresstest.ensemble import local_cluster

    eco = random_economy(3, 4, seed=1)
    sc = parse_scenario(RANGED)
    local = run_samples(eco, sc, samples=6, seed=9, chunk_size=2)
    with local_cluster(n_workers=2, dashboard_address=None) as cluster, Client(cluster) as c:
        for size in (2, None):
            remote = run_samples(eco, sc, samples=6, seed=9, chunk_size=size, scheduler=c)
            xr.testing.assert_allclose(remote, local, rtol=1e-12)


def test_batch_variants_equal_separate_runs(tiny):
    """run_rationing_batch(variants=...): each scenario's own recipe parameters give the same
    answer as a separate run with them (inventory scale through the window, spare capacity
    and re-sourcing per column)."""
    from stresstest.modes.rationing import run_rationing_batch

    sc = parse_scenario(RANGED)
    shocks = [compile_scenario(sc.with_values({(0, "remaining"): r, (0, "duration"): d}), tiny)
              for r, d in ((0.3, 12), (0.5, 25), (0.7, 30))]
    variants = [{"inventory_scale": 0.0, "spare_scale": 1.4, "resourcing_imports": 0.1},
                {"inventory_scale": 1.5, "spare_ramp_days": 10.0, "resourcing_friction": 0.0},
                {"inventory_scale": 0.7, "resourcing_ramp_days": 50.0}]
    batch = run_rationing_batch(tiny, shocks, variants=variants)
    for k, (sh, v) in enumerate(zip(shocks, variants)):
        one = st.run(tiny, sh, **v)
        for var in ("x", "va", "essential"):
            np.testing.assert_allclose(batch[var].isel(scenario=k).values, one[var].values,
                                       rtol=1e-9, atol=1e-9 * float(one[var].max()))
    with pytest.raises(InputError, match="cannot vary within a batch"):
        run_rationing_batch(tiny, shocks, variants=[{"materiality": 0.01}] * 3)
    with pytest.raises(InputError, match="one dict per shock"):
        run_rationing_batch(tiny, shocks, variants=[{}])


def test_batched_draws_equal_plain_draws_on_the_shipped_library(china31):
    """The batched sampled path (draws grouped by materiality, per-draw recipe parameters in
    one batch for the plans side by side, their order rounds started from the no-plan
    equilibrium) gives the per-draw numbers of the plain path (each draw
    its own run from full orders, numbers from metrics.headline) on a shipped scenario with
    ranges and two shipped plans."""
    kw = dict(samples=6, seed=4, chunk_size=6)
    plans = ["western-energy-reserve", "central-grain-reserve"]  # one batch side by side
    batched = run_samples(china31, "sichuan-earthquake", plans, **kw)
    plain = run_samples(china31, "sichuan-earthquake", plans, batched=False,
                        warm_orders=False, **kw)
    for var in ("output_share", "va_share", "va_loss_event", "amplification", "csr"):
        np.testing.assert_allclose(batched[var].values, plain[var].values, rtol=1e-8,
                                   err_msg=var)
    scale = float(np.abs(plain["va_loss_event"]).max())
    np.testing.assert_allclose(batched["benefit"].values, plain["benefit"].values, rtol=1e-6,
                               atol=1e-8 * scale)


def test_trade_calibration_is_drawn_only_where_the_economy_stores_its_range(china31):
    from stresstest.regionalize import reweight_trade
    from stresstest.sampling import TRADE_LEVELS, trade_inputs

    inputs = {i.name: i for i in trade_inputs(china31)}
    assert set(inputs) == {"trade_gamma", "trade_home_share"}
    g = inputs["trade_gamma"]
    assert (g.low, g.high) == tuple(china31.attrs["calibration_range_gamma"])
    assert len(g.choices) == TRADE_LEVELS and g.low < min(g.choices) < max(g.choices) < g.high
    # strata midpoints: equal spacing, symmetric inside the range
    assert np.allclose(np.diff(g.choices), (g.high - g.low) / TRADE_LEVELS)
    assert trade_inputs(random_economy(3, 4, seed=1)) == []
    assert trade_inputs(reweight_trade(china31, gamma=3.0, summary=False)) == []


def test_trade_draws_are_plain_runs_on_the_reweighted_economy(china31):
    """A draw with a trade calibration equals st.run on reweight_trade(china31, gamma, home
    share) with the drawn shock and recipe parameters, the plan compiled on that economy."""
    from stresstest.plan import compile_plan, load_plan
    from stresstest.regionalize import reweight_trade
    from stresstest.sampling import trade_key
    from stresstest.scenario import load_scenario

    sc = load_scenario("sichuan-earthquake")
    s = run_samples(china31, sc, ["western-energy-reserve"], samples=3, seed=2, chunk_size=3)
    inputs = uncertain_inputs(sc, None, china31)
    assert list(s["input"].values) == [i.name for i in inputs]
    for k in range(3):
        row = s["draw"].values[k]
        key = trade_key(inputs, row)
        assert [name for name, _ in key] == ["gamma", "home_share"]
        eco = reweight_trade(china31, **dict(key))
        plan = compile_plan(load_plan("western-energy-reserve"), eco)
        h, prm = _plain_headline(eco, sc, inputs, row, plan)
        assert not any(name.startswith("trade_") for name in prm)
        got = s.sel(plan="western-energy-reserve", sample=k)
        assert float(got["output_share"]) == pytest.approx(h["output_share"], rel=1e-8)
        assert float(got["va_loss_event"]) == pytest.approx(h["va_loss_event"], rel=1e-8)
        assert float(got["benefit"]) == pytest.approx(h["benefit"], rel=1e-6)


def test_draws_without_equilibrium_are_flagged_and_left_out():
    """A draw whose runs miss the equilibrium (here: 5 order rounds from full orders at
    orders_tol 1e-15) is flagged, NaN and left out of the quantiles, on the batched and the
    plain path alike (the plain path's single runs raise ConvergenceError; it must not abort
    the band), and the report says how many."""
    from stresstest.report.samples import sample_section

    eco = random_economy(3, 4, seed=1)
    sc = parse_scenario(RANGED)
    kw = dict(samples=8, seed=1, max_outer=5, orders_tol=1e-15, warm_orders=False)
    batched = run_samples(eco, sc, [_plan(eco)], **kw)
    plain = run_samples(eco, sc, [_plan(eco)], batched=False, **kw)
    ok = batched["converged"].values
    assert ok.any() and not ok.all()
    np.testing.assert_array_equal(ok, plain["converged"].values)
    for s in (batched, plain):
        assert np.isnan(s["output_share"].values[~ok]).all()
        assert np.isfinite(s["output_share"].values[ok]).all()
    np.testing.assert_allclose(batched["output_share"].values[ok],
                               plain["output_share"].values[ok], rtol=1e-9)
    table = sample_table(batched)
    kept = batched["output_share"].sel(plan="none").values
    assert table.loc["none", "output_share_q50"] == pytest.approx(
        np.median(kept[np.isfinite(kept)]))
    assert table.loc["none", "not_converged"] == int((~ok[0]).sum())
    failed = int((~ok).any(axis=0).sum())
    assert f"{failed} of 8 draws found no equilibrium" in sample_section(batched, eco)["intro"]


@pytest.mark.parametrize("bad", [[2.0], [1.0, 2.0, 3.0], [3.0, 2.0], [1.0, float("nan")]])
def test_malformed_trade_range_is_refused_not_truncated(bad):
    from stresstest.sampling import trade_inputs

    eco = random_economy(3, 4, seed=1)
    eco.attrs["calibration_range_gamma"] = bad
    with pytest.raises(InputError, match="calibration_range_gamma"):
        trade_inputs(eco)


def test_chunks_hold_whole_batches(china31):
    """Chunks of a blockade band: every draw once, at most ``size`` per chunk, one trade
    calibration and one materiality per chunk, and no more chunks than the groups need."""
    from stresstest.sampling import _chunks, trade_key
    from stresstest.scenario import load_scenario

    inputs = uncertain_inputs(load_scenario("coastal-blockade"), None, china31)
    values = draw(inputs, 60, seed=3)

    def key(k):
        return trade_key(inputs, values[k]), split_draw(inputs, values[k])[1]["materiality"]

    groups = {key(k) for k in range(60)}
    assert len(groups) > 1
    for size in (4, 64):
        chunks = _chunks(inputs, values, size)
        assert sorted(np.concatenate(chunks).tolist()) == list(range(60))
        assert all(1 <= c.size <= size and len({key(k) for k in c}) == 1 for c in chunks)
        sizes = [sum(key(k) == g for k in range(60)) for g in groups]
        assert len(chunks) == sum(-(-m // size) for m in sizes)
        assert [c.size for c in chunks] == sorted((c.size for c in chunks), reverse=True)


def test_benefit_at_solver_noise_is_no_benefit(china31):
    """A plan that does nothing in a scenario (the grain reserve in the Sichuan earthquake)
    has benefits at solver noise, some of them positive: its p* is "never" in every draw,
    not tens of millions of events a year, and it ranks first in none; the same floor as the
    plain headline (metrics.benefit_resolution)."""
    from stresstest.scenario import load_scenario

    s = run_samples(china31, load_scenario("sichuan-earthquake"), ["central-grain-reserve"],
                    samples=8, seed=0)
    b = s["benefit"].sel(plan="central-grain-reserve").values
    none = s["va_loss_event"].sel(plan="none").values
    noise = np.abs(b) <= metrics.BENEFIT_RESOLUTION * np.abs(none)
    assert noise.any() and (b[noise] > 0).any()
    assert np.all(np.isinf(s["breakeven_p"].sel(plan="central-grain-reserve").values[noise]))
    assert float(rank_first(s).sel(plan="central-grain-reserve")) == pytest.approx(
        ((~noise) & (b > 0)).mean())


def test_trade_tables_on_threads_equal_one_thread(china31):
    """The re-derived trade tables of a band and the plans compiled on them are made on
    threads; they equal one thread's bit for bit (BLAS held to one thread in both)."""
    from stresstest.api import resolve_plan
    from stresstest.sampling import trade_economies, uncertain_inputs

    sc = st.load_scenario("coastal-blockade")
    inputs = uncertain_inputs(sc, {}, china31)
    values = draw(inputs, 12, 0)
    compiled = {"western-energy-reserve": resolve_plan("western-energy-reserve", china31)}
    given = {"western-energy-reserve": "western-energy-reserve"}
    one = trade_economies(china31, inputs, values, compiled, given, threads=1)
    two = trade_economies(china31, inputs, values, compiled, given, threads=2)
    assert list(one) == list(two) and len(one) > 2 and () not in one
    for key in one:
        xr.testing.assert_identical(two[key][0], one[key][0])
        plan_one, plan_two = one[key][1]["western-energy-reserve"], two[key][1][
            "western-energy-reserve"]
        xr.testing.assert_identical(plan_two, plan_one)
        assert not plan_one.identical(compiled["western-energy-reserve"])  # re-compiled


def test_trade_tables_carry_their_rationing_caches(china31):
    """With ``mode="rationing"`` each re-derived trade table comes with the caches every run
    on it reads (net table and its pooled rows, the LU of ``I - A``, baseline flows), made
    once in the parent so that forked workers inherit them; the same caches a run makes."""
    from stresstest.economy import derive, net_of_own_use
    from stresstest.modes.rationing import _STRUCTURES
    from stresstest.sampling import trade_economies, uncertain_inputs

    sc = st.load_scenario("coastal-blockade")
    inputs = uncertain_inputs(sc, {}, china31)
    values = draw(inputs, 6, 0)
    plain = trade_economies(china31, inputs, values, {"none": None}, {"none": None})
    ready = trade_economies(china31, inputs, values, {"none": None}, {"none": None},
                            mode="rationing")
    for key in ready:
        d = derive(ready[key][0])
        assert d._lu is not None and d._net is not None and d._net._pools is not None
        assert "T0" in _STRUCTURES[d._net]
        bare = derive(plain[key][0])
        assert bare._net is None  # made by the mode, not by re-deriving the table
        np.testing.assert_array_equal(net_of_own_use(bare).A.toarray(), d._net.A.toarray())


def test_samples_on_threads_equal_one_thread():
    """Threads and forked processes (where the platform forks) give one thread's answers."""
    from stresstest.ensemble import fork_context

    eco = random_economy(3, 4, seed=1)
    sc = parse_scenario(RANGED)
    one = run_samples(eco, sc, samples=6, seed=9, chunk_size=2, threads=1)
    for processes in [False] + ([True] if fork_context() is not None else []):
        two = run_samples(eco, sc, samples=6, seed=9, chunk_size=2, threads=2,
                          processes=processes)
        xr.testing.assert_identical(two, one)
    with pytest.raises(InputError, match="threads"):
        run_samples(eco, sc, samples=2, threads=0)
