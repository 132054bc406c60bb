"""Scenario files: parsing, hand-checkable compilation, library, descriptions."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import xarray as xr

from stresstest.compiled import no_shock, window_mean
from stresstest.economy import ROUTES
from stresstest.errors import ScenarioError
from stresstest.scenario import (compile_scenario, describe_scenario, list_scenarios,
                                 load_scenario, parse_scenario, validate_scenario_file)
from tests.test_selectors import chinalike

NAMED = {"coastal-blockade", "chip-import-cutoff", "energy-import-cutoff", "grain-import-cutoff",
         "guangdong-electronics-failure", "sichuan-earthquake", "combined-worst-case"}


def scen(events: str, horizon: int = 20, extra: str = "") -> str:
    return f'name = "t"\ndescription = "d"\nhorizon = {horizon}\n{extra}\n{events}'


def cap(regions="R0", sectors="S1", remaining=0.5, start=2, duration=3, more=""):
    return (f'[[events]]\nkind = "capacity"\nregions = "{regions}"\nsectors = "{sectors}"\n'
            f"remaining = {remaining}\nstart = {start}\nduration = {duration}\n{more}\n")


def test_no_events_is_no_shock(tiny):
    ds = compile_scenario(parse_scenario(scen("", horizon=5)), tiny)
    ref = no_shock(tiny, 5)
    for v in ("kappa", "alpha_route", "alpha_M"):
        assert np.array_equal(ds[v].values, ref[v].values)
        assert ds[v].dims == ref[v].dims
    assert "rho" not in ds and "delta" not in ds
    assert (ds.attrs["window_start"], ds.attrs["window_end"]) == (0, 5)


def test_step_and_overlap_multiply(tiny):
    text = scen(cap(remaining=0.5, start=2, duration=3)
                + cap(regions="coastal", sectors="all", remaining=0.8, start=4, duration=4))
    ds = compile_scenario(parse_scenario(text), tiny)
    k = ds["kappa"].sel(region="R0", sector="S1").values
    assert np.allclose(k[:8], [1, 1, 0.5, 0.5, 0.4, 0.8, 0.8, 0.8]) and np.all(k[8:] == 1)
    assert np.all(ds["kappa"].sel(region="R1").values == 1)          # inland untouched
    assert np.allclose(ds["kappa"].sel(region="R2", sector="S0").values[4:8], 0.8)
    assert (ds.attrs["window_start"], ds.attrs["window_end"]) == (2, 8)


@pytest.mark.parametrize("kind", ["linear", "exponential"])
def test_recovery_end_points(tiny, kind):
    T = 10
    text = scen(cap(remaining=0.3, start=1, duration=4,
                    more=f'recovery = "{kind}"\nrecovery_days = {T}'), horizon=30)
    k = compile_scenario(parse_scenario(text), tiny)["kappa"].sel(region="R0", sector="S1").values
    last = 1 + 4 - 1                       # last shocked day
    assert k[last] == 0.3 and k[last + T] == 1.0 and np.all(k[last + T:] == 1.0)
    s = np.arange(1, T)
    rec = k[last + 1:last + T]
    if kind == "linear":
        assert np.allclose(rec, 1 - 0.7 * (1 - s / T))
    else:
        e3 = math.exp(-3)
        assert np.allclose(rec, 1 - 0.7 * (np.exp(-3 * s / T) - e3) / (1 - e3))
    assert np.all(np.diff(k[last:]) >= 0) and np.all(rec < 1)


def test_recovery_none_jumps_back(tiny):
    k = compile_scenario(parse_scenario(scen(cap(start=0, duration=2))), tiny)["kappa"]
    assert list(k.sel(region="R0", sector="S1").values[:3]) == [0.5, 0.5, 1.0]


def test_sea_only_import_cut(tiny):
    text = scen('[[events]]\nkind = "imports"\nproducts = "all"\nvia = "sea"\nremaining = 0.1\n'
                "start = 0\nduration = 5\n")
    ds = compile_scenario(parse_scenario(text), tiny)
    ar = ds["alpha_route"].isel(time=0)
    assert np.all(ar.sel(route="sea").values == 0.1)
    assert np.all(ar.sel(route=["land", "air"]).values == 1.0)
    share = tiny["import_route_share"].sel(route=list(ROUTES)).values
    assert np.allclose(ds["alpha_M"].isel(time=0).values, share @ np.array([0.1, 1, 1]))
    assert np.all(ds["alpha_M"].isel(time=5).values == 1.0)


def test_import_events_compose_across_routes(tiny):
    text = scen('[[events]]\nkind = "imports"\nproducts = "all"\nvia = "sea"\nremaining = 0.5\n'
                "start = 0\nduration = 5\n"
                '[[events]]\nkind = "imports"\nproducts = ["S2"]\nremaining = 0.4\n'
                'via = ["sea", "air"]\nstart = 0\nduration = 5\n')
    ar = compile_scenario(parse_scenario(text), tiny)["alpha_route"].isel(time=0)
    assert np.allclose(ar.sel(product="S2").values, [0.2, 1.0, 0.4])
    assert np.allclose(ar.sel(product="S1").values, [0.5, 1.0, 1.0])


def test_route_never_cuts_diagonal(tiny):
    text = scen('[[events]]\nkind = "route"\nfrom = "all"\nto = "all"\nremaining = 0.3\n'
                'products = "S1"\nstart = 0\nduration = 2\n')
    ds = compile_scenario(parse_scenario(text), tiny)
    rho = ds["rho"].transpose("region_from", "region_to", "product", "time").values
    assert rho.shape == (3, 3, 4, 20)
    for r in range(3):
        assert np.all(rho[r, r] == 1.0)
    off = ~np.eye(3, dtype=bool)
    assert np.all(rho[off][:, 1, :2] == 0.3)             # cut exactly once, not 0.09
    assert np.all(rho[:, :, [0, 2, 3]] == 1.0) and np.all(rho[..., 2:] == 1.0)


def test_route_one_way_and_self_pair_error(tiny):
    text = scen('[[events]]\nkind = "route"\nfrom = "R0"\nto = "R1"\nremaining = 0.3\n'
                "both_ways = false\nstart = 0\nduration = 2\n")
    rho = compile_scenario(parse_scenario(text), tiny)["rho"].isel(time=0)
    assert float(rho.sel(region_from="R0", region_to="R1").min()) == 0.3
    assert float(rho.sel(region_from="R1", region_to="R0").min()) == 1.0
    bad = scen('[[events]]\nkind = "route"\nfrom = "R0"\nto = "R0"\nremaining = 0.3\n'
               "start = 0\nduration = 2\n")
    with pytest.raises(ScenarioError, match=r"events\[0\]: .*no pair"):
        compile_scenario(parse_scenario(bad), tiny)


def test_demand_event(tiny):
    text = scen('[[events]]\nkind = "demand"\nregions = "R1"\nproducts = "critical"\n'
                'uses = "consumption"\nfactor = 1.5\nstart = 3\nduration = 2\n')
    d = compile_scenario(parse_scenario(text), tiny)["delta"]
    assert d.dims == ("region", "product", "use", "time")
    assert np.all(d.sel(region="R1", product="S0", use=["households", "government"],
                        time=[3, 4]).values == 1.5)
    assert float(d.sel(region="R1", product="S0", use="investment").max()) == 1.0
    assert float(d.sum()) == d.size + 0.5 * 4


def test_window_explicit_and_horizon_override(tiny):
    text = scen(cap(start=2, duration=30), horizon=40, extra="window = [0, 10]")
    ds = compile_scenario(parse_scenario(text), tiny)
    assert (ds.attrs["window_start"], ds.attrs["window_end"]) == (0, 10)
    assert float(window_mean(ds)["kappa"].sel(region="R0", sector="S1")) == pytest.approx(0.6)
    text2 = scen(cap(start=2, duration=30), horizon=40)
    ds2 = compile_scenario(parse_scenario(text2), tiny, horizon=12)
    assert ds2.sizes["time"] == 12 and ds2.attrs["window_end"] == 12
    with pytest.raises(ScenarioError, match=r"events\[0\]\.start"):
        compile_scenario(parse_scenario(scen(cap(start=15), horizon=40)), tiny, horizon=10)
    with pytest.raises(ScenarioError, match="window"):
        compile_scenario(parse_scenario(text), tiny, horizon=5)


def test_attrs_and_parameters(tiny):
    text = scen(cap(), extra='[parameters]\ninventory_days = 15\nrule = "proportional"\n')
    ds = compile_scenario(parse_scenario(text, "x.toml"), tiny)
    assert json.loads(ds.attrs["parameters"]) == {"inventory_days": 15, "rule": "proportional"}
    ev = json.loads(ds.attrs["events"])
    assert ev[0]["regions"] == ["R0"] and ev[0]["n_cells"] == 1 and ev[0]["kind"] == "capacity"
    assert ds.attrs["source"] == "x.toml" and ds.attrs["horizon"] == 20
    with pytest.raises(ScenarioError, match=r"parameters\.x"):
        parse_scenario(scen(cap(), extra="[parameters]\nx = [1, 2]\n"), "x.toml")


def test_unknown_selector_names_file_event_field(tiny):
    with pytest.raises(ScenarioError) as e:
        compile_scenario(parse_scenario(scen(cap() + cap(regions="R9")), "shocks/t.toml"), tiny)
    assert str(e.value).startswith("shocks/t.toml: events[1].regions: unknown region 'R9'")


def test_load_by_path_name_stem_and_missing(tmp_path):
    p = tmp_path / "t.toml"
    p.write_text(scen(cap()))
    assert load_scenario(str(p)).name == "t"
    q = tmp_path / "other.toml"
    q.write_text(scen(cap()))
    with pytest.raises(ScenarioError, match="name.*file name stem 'other'"):
        load_scenario(q)
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenario(tmp_path / "nope.toml")
    with pytest.raises(ScenarioError, match="available: .*coastal-blockade"):
        load_scenario("coastal-blokade")


def test_library_lists_named_scenarios():
    names = {s["name"] for s in list_scenarios()}
    assert NAMED <= names
    for s in list_scenarios():
        assert len(s["description"]) > 80


@pytest.mark.parametrize("name", sorted(NAMED))
def test_named_compile_on_chinalike(name):
    eco = chinalike()
    sc = load_scenario(name)
    assert 180 <= sc.horizon <= 365
    ds = compile_scenario(sc, eco)
    assert ds["kappa"].min() >= 0 and ds["kappa"].max() <= 1
    assert float(ds["alpha_M"].min()) >= 0 and float(ds["alpha_M"].max()) <= 1 + 1e-12
    text = describe_scenario(sc, eco)
    assert sc.name in text and "Events:" in text


def test_blockade_semantics_on_chinalike():
    eco = chinalike()
    ds = compile_scenario("coastal-blockade", eco)
    day0 = ds.isel(time=0)
    assert np.all(day0["alpha_route"].sel(route="sea").values == 0.1)
    assert np.all(day0["alpha_route"].sel(route=["land", "air"]).values == 1.0)
    assert float(day0["kappa"].sel(region="Guangdong", sector="electronics")) == 0.75
    assert float(day0["kappa"].sel(region="Sichuan", sector="electronics")) == 1.0
    assert float(day0["kappa"].sel(region="Guangdong", sector="finance")) == 1.0
    assert float(day0["rho"].sel(region_from="Shanghai", region_to="Guangdong",
                                 product="metals")) == 0.5
    assert float(day0["rho"].sel(region_from="Sichuan", region_to="Guangdong",
                                 product="metals")) == 1.0
    assert float(ds["kappa"].sel(region="Guangdong", sector="electronics", time=149)) == 1.0
    worst = compile_scenario("combined-worst-case", eco).isel(time=0)
    assert float(worst["alpha_route"].sel(product="oil_gas", route="sea")) == pytest.approx(0.03)


def test_named_compile_on_china31(china31):
    for name in sorted(NAMED):
        ds = compile_scenario(name, china31)
        assert ds.sizes["region"] == 31 and ds.sizes["sector"] == 42
        assert "Events:" in describe_scenario(name, china31)


def test_validate_scenario_file_builtin():
    from stresstest.scenario import builtin_scenarios

    for name, path in builtin_scenarios().items():
        assert validate_scenario_file(path).name == name


def test_event_effects_in_the_economys_units_by_default():
    """An event's effects without a money formatter fall back to the economy's units (the
    fallback used to call itself)."""
    import json

    from stresstest.scenario import _effects

    eco = chinalike()
    eco.attrs["units"] = "test-yuan"
    shock = compile_scenario("guangdong-electronics-failure", eco)
    rec = json.loads(shock.attrs["events"])[0]
    lines = _effects(rec, eco, shock)
    assert lines and "test-yuan/yr" in lines[0]


def test_describe_without_economy():
    text = describe_scenario("guangdong-electronics-failure")
    assert "falls to 20% on days 0-59" in text and "full capacity on day 149" in text


def _plain_route_mean(ds):
    return ds["rho"].isel(time=slice(ds.attrs["window_start"], ds.attrs["window_end"])).mean(
        "time", skipna=False)


def test_route_cuts_recorded_read_only_and_used_exactly(tiny):
    """A compiled route array is read-only and carries the links it cuts (no scan); the window
    mean over those links equals the plain mean over every link bit for bit, and the severity
    path equals the sum over every link."""
    from stresstest.compiled import route_cuts
    from stresstest.result import _interregional_flows, severity_path
    from stresstest.economy import derive

    text = scen('[[events]]\nkind = "route"\nfrom = "R0"\nto = "all"\nremaining = 0.3\n'
                'products = "S1"\nstart = 1\nduration = 3\n'
                '[[events]]\nkind = "route"\nfrom = "R1"\nto = "R2"\nremaining = 0.6\n'
                'both_ways = false\nstart = 2\nduration = 9\n', extra="window = [0, 6]")
    ds = compile_scenario(parse_scenario(text), tiny)
    rho = ds["rho"].values
    assert not rho.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        ds["rho"][0, 1] = 0.0
    cut = route_cuts(rho)
    scanned = route_cuts(rho.copy())  # a writeable copy is scanned
    assert np.array_equal(cut, scanned)
    flat = rho.reshape(-1, rho.shape[-1])
    assert np.array_equal(cut, np.flatnonzero((flat != 1.0).any(axis=1)))
    assert 0 < cut.size < flat.shape[0]
    assert np.array_equal(window_mean(ds)["rho"].values, _plain_route_mean(ds).values)
    flows = _interregional_flows(tiny, derive(tiny)).reshape(-1)
    want = flows @ np.maximum(0.0, 1.0 - flat)
    plain = severity_path(tiny, ds.drop_vars("rho"))
    assert np.allclose(severity_path(tiny, ds) - plain, want, rtol=1e-13, atol=0.0)


def _xarray_window_mean(ds):
    """The window mean as xarray computes it, every link of ``rho`` averaged (put last)."""
    start, end = ds.attrs["window_start"], ds.attrs["window_end"]
    out = ds.drop_vars("rho", errors="ignore").isel(time=slice(start, end)).mean(
        "time", skipna=False)
    if "rho" in ds:
        out["rho"] = _plain_route_mean(ds)
    out.attrs = dict(ds.attrs)
    return out


def test_window_mean_is_xarrays_mean_on_the_library(china31):
    """``window_mean`` (numpy means on the variables, ``rho`` over the cut links only) is the
    Dataset xarray's ``mean`` makes, bit for bit, names and order included, on every shipped
    scenario; variables without ``time`` are kept, non-numeric daily ones left out, attributes
    kept."""
    for item in list_scenarios():
        ds = compile_scenario(item["name"], china31)
        got, want = window_mean(ds), _xarray_window_mean(ds)
        xr.testing.assert_identical(got, want)
        assert list(got.data_vars) == list(want.data_vars)
        assert list(got.coords) == list(want.coords)
        for name in got.data_vars:
            assert np.array_equal(got[name].values, want[name].values), (item["name"], name)
    ds = compile_scenario("sichuan-earthquake", china31)
    ds["label"] = ("region", np.array(["x"] * ds.sizes["region"]))
    ds["daily_label"] = ("time", np.array(["y"] * ds.sizes["time"]))
    ds["kappa"].attrs["note"] = "kept"
    got = window_mean(ds)
    assert list(got.data_vars) == ["kappa", "alpha_route", "alpha_M", "label", "rho"]
    assert got["kappa"].attrs == {"note": "kept"} and got["label"].identical(ds["label"])


def test_route_rows_are_kept_for_a_compiled_shock(tiny):
    """The cut links' daily rows of a compiled (read-only) route array are gathered once and
    kept read-only; a writeable copy's are gathered anew; both equal the plain gather."""
    from stresstest.compiled import route_cuts, route_rows

    text = scen('[[events]]\nkind = "route"\nfrom = "R0"\nto = "all"\nremaining = 0.3\n'
                'products = "S1"\nstart = 1\nduration = 3\n', extra="window = [0, 6]")
    ds = compile_scenario(parse_scenario(text), tiny)
    rho = ds["rho"].values
    cut, rows = route_rows(rho)
    with pytest.raises(ValueError, match="without its dense rho"):
        window_mean(ds, (cut, rows))
    assert np.array_equal(cut, route_cuts(rho))
    assert np.array_equal(rows, rho.reshape(-1, rho.shape[-1])[cut])
    assert not rows.flags.writeable
    assert route_rows(rho)[1] is rows
    copy = rho.copy()
    assert route_rows(copy)[1] is not route_rows(copy)[1]
    assert np.array_equal(route_rows(copy)[1], rows)


def _average_day_matches_the_daily_shock(scenario, economy):
    from stresstest.result import severity_path
    from stresstest.scenario import compile_average_day

    days = compile_scenario(scenario, economy)
    mean, severity = compile_average_day(scenario, economy)
    xr.testing.assert_identical(mean, window_mean(days))
    assert list(mean.data_vars) == list(window_mean(days).data_vars)
    want = severity_path(economy, days)
    assert (severity is None) == (want is None)
    if want is not None:
        assert np.array_equal(severity, want)


def test_average_day_without_the_daily_route_array_is_the_plain_one(tiny):
    """:func:`compile_average_day` (a sampled draw's shock, made without the dense daily route
    array) gives ``window_mean`` and ``severity_path`` of the compiled shock bit for bit:
    route events that overlap on a link, a link cut and restored to 1, no route event."""
    text = scen('[[events]]\nkind = "route"\nfrom = "R0"\nto = "all"\nremaining = 0.3\n'
                'products = "S1"\nstart = 1\nduration = 3\n'
                '[[events]]\nkind = "route"\nfrom = "all"\nto = "R2"\nremaining = 0.6\n'
                'start = 2\nduration = 9\n'
                '[[events]]\nkind = "route"\nfrom = "R1"\nto = "R2"\nremaining = 1.0\n'
                'both_ways = false\nstart = 0\nduration = 4\n'
                '[[events]]\nkind = "capacity"\nregions = "R1"\nsectors = "all"\n'
                'remaining = 0.5\nstart = 0\nduration = 5\n', extra="window = [0, 6]")
    _average_day_matches_the_daily_shock(parse_scenario(text), tiny)
    _average_day_matches_the_daily_shock(parse_scenario(scen(
        '[[events]]\nkind = "capacity"\nregions = "R1"\nsectors = "all"\nremaining = 0.5\n'
        'start = 0\nduration = 5\n')), tiny)


def test_average_day_matches_on_the_library_and_its_draws(china31):
    """The same on every shipped scenario and on 20 sampled draws of each scenario with
    route events (drawn severities and durations)."""
    from stresstest.sampling import draw, split_draw, uncertain_inputs

    for item in list_scenarios():
        sc = load_scenario(item["name"])
        _average_day_matches_the_daily_shock(sc, china31)
        if any(e.kind == "route" for e in sc.events):
            inputs = uncertain_inputs(sc, {}, china31)
            for row in draw(inputs, 20, 3):
                ev, _ = split_draw(inputs, row)
                _average_day_matches_the_daily_shock(sc.with_values(ev) if ev else sc, china31)


def test_a_shock_reduced_to_its_window_runs_like_the_shock(tiny):
    """``window_mean`` of an average day is that day; the static inputs and a batch run from
    the reduced shock equal those from the daily shock bit for bit (sampled bands keep only
    the reduced draws)."""
    from stresstest.modes._static import static_inputs
    from stresstest.modes.rationing import run_rationing_batch

    text = scen('[[events]]\nkind = "route"\nfrom = "R0"\nto = "all"\nremaining = 0.3\n'
                'products = "S1"\nstart = 1\nduration = 6\n'
                '[[events]]\nkind = "capacity"\nregions = "R1"\nsectors = "all"\n'
                'remaining = 0.5\nstart = 0\nduration = 4\n', extra="window = [0, 6]")
    ds = compile_scenario(parse_scenario(text), tiny)
    mean = window_mean(ds)
    assert "time" not in mean.dims and mean.attrs == ds.attrs
    assert window_mean(mean) is mean
    a, b = static_inputs(tiny, ds, None), static_inputs(tiny, mean, None)
    for name in ("kappa", "capacity", "alpha_M", "rho", "stock_rate"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    full, reduced = run_rationing_batch(tiny, [ds, ds]), run_rationing_batch(tiny, [mean, mean])
    for v in ("x", "va", "f"):
        assert np.array_equal(full[v].values, reduced[v].values), v


def test_route_cuts_of_a_writeable_array_follow_its_changes(tiny):
    """A route array made by hand stays writeable and is scanned on every call: changing it
    in place changes the window mean (nothing is cached for it)."""
    text = scen('[[events]]\nkind = "route"\nfrom = "R0"\nto = "R1"\nremaining = 0.3\n'
                'products = "S1"\nstart = 0\nduration = 20\n')
    ds = compile_scenario(parse_scenario(text), tiny)
    ds["rho"] = ds["rho"].copy(deep=True)
    assert ds["rho"].values.flags.writeable
    before = window_mean(ds)["rho"].values.copy()
    ds["rho"][1, 2] = 0.5  # a link no event cut
    after = window_mean(ds)["rho"].values
    assert np.array_equal(after, _plain_route_mean(ds).values)
    assert not np.array_equal(before, after)
    ds["rho"][1, 2] = np.nan
    assert np.isnan(window_mean(ds)["rho"].values[1, 2]).all()
