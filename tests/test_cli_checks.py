"""Issue 11: validation that reports everything, warnings and --strict, CLI hygiene (info on
files that are not economies, readable numbers, labels, did-you-mean, region wording) and
progress lines."""

from __future__ import annotations

import re

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

from stresstest import checks
from stresstest._toml import suggestions
from stresstest.cli import cli, fmt_number
from stresstest.economy import save_economy
from stresstest.errors import MAX_SHOWN, PlanError, ProblemsError, ScenarioError
from stresstest.labels import region_word, region_words
from stresstest.plan import compile_plan, load_plan, parse_plan
from stresstest.scenario import compile_scenario, load_scenario, parse_scenario
from stresstest.testing import random_economy

TWO_MISTAKES = """name = "two"
description = "a top-level duration instead of horizon, and a typo in an event"
duration = 90

[[events]]
kind = "capacity"
regions = "R0"
sectors = "S0"
remainig = 0.5
start = 0
duration = 30
"""

MANY_LABELS = """name = "labels"
description = "three unknown labels and a bad share"
horizon = 30

[[events]]
kind = "capacity"
regions = "Atlantis"
sectors = "S9"
remaining = 1.5
start = 0
duration = 10

[[events]]
kind = "imports"
products = "chips"
remaining = 0.5
start = 0
duration = 10
"""

SCENARIO = """name = "cut"
description = "S0 in R0 falls to 40% for 60 days."
horizon = 90

[[events]]
kind = "capacity"
regions = "R0"
sectors = "S0"
remaining = 0.4
start = 0
duration = 60
"""

STANDBY_ONLY = """name = "standby-only"
description = "Standby S0 capacity in R1, no substitution element."

[[standby]]
region = "R1"
sector = ["S0", "S1"]
capacity_share = 0.2
lead_time = 0
ramp = 0
annual_cost_share = 0.08

[[substitution]]
products = "S1"
headroom = 0.3
"""


def countries(eco):
    """``eco`` with ISO-3 country labels (as a WIOD table has)."""
    names = ["DEU", "FRA", "ROW", "USA", "CHN", "JPN"][: eco.sizes["region"]]
    return eco.assign_coords(region=names, origin=names)


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_economy(random_economy(3, 4, seed=1), tmp_path / "eco.nc")
    save_economy(countries(random_economy(3, 4, seed=1)), tmp_path / "wiodlike.nc")
    (tmp_path / "two.toml").write_text(TWO_MISTAKES)
    (tmp_path / "labels.toml").write_text(MANY_LABELS)
    (tmp_path / "cut.toml").write_text(SCENARIO)
    (tmp_path / "standby-only.toml").write_text(STANDBY_ONLY)
    return tmp_path


def invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=True)


def lines(text):
    return [line for line in text.splitlines() if line.strip()]


# --------------------------------------------------------------------------- all problems


def test_two_mistakes_are_both_named():
    with pytest.raises(ScenarioError) as e:
        parse_scenario(TWO_MISTAKES, "two.toml", stem="two")
    probs = e.value.problems
    assert str(e.value) == "\n".join(probs)
    assert any("duration: unknown field; did you mean 'horizon'?" in p for p in probs)
    assert any(p.startswith("two.toml: horizon: required field is missing") for p in probs)
    assert any("events[0].remainig: unknown field; did you mean 'remaining'?" in p for p in probs)
    assert all(p.startswith("two.toml: ") and "\n" not in p for p in probs)


def test_labels_and_format_problems_together(files):
    eco = random_economy(3, 4, seed=1)
    with pytest.raises(ScenarioError) as e:
        compile_scenario(files / "labels.toml", eco)
    probs = e.value.problems
    assert len(probs) == 4, probs
    assert [re.search(r"events\[(\d)\]", p).group(1) for p in probs] == ["0", "0", "0", "1"]
    assert any("remaining: 1.5 is outside [0, 1]" in p for p in probs)
    assert any("unknown region 'Atlantis'" in p and "did you mean" not in p for p in probs)
    # the API without a file: every label problem of a parsed scenario
    sc = parse_scenario(MANY_LABELS.replace("1.5", "0.5"), "labels.toml")
    with pytest.raises(ScenarioError) as e:
        compile_scenario(sc, eco)
    assert len(e.value.problems) == 3


def test_plan_problems_are_collected(files):
    bad = STANDBY_ONLY.replace('region = "R1"', 'region = "R9"').replace(
        "capacity_share = 0.2", "capacity_share = 2").replace('products = "S1"',
                                                              'products = "nope"')
    with pytest.raises(PlanError) as e:
        parse_plan(bad, "p.toml")
    assert len(e.value.problems) == 1  # the format problem; labels need an economy
    (files / "p.toml").write_text(bad.replace('name = "standby-only"', 'name = "p"'))
    with pytest.raises(PlanError) as e:
        compile_plan("p.toml", random_economy(3, 4, seed=1))
    probs = e.value.problems
    assert len(probs) == 3, probs
    assert probs[0].startswith("p.toml: standby[0].")
    assert probs[-1].startswith("p.toml: substitution[0].products: unknown product 'nope'")
    with pytest.raises(PlanError):
        load_plan(files / "p.toml")


def test_problem_cap():
    err = ScenarioError(*[f"f.toml: events[{i}].start: bad" for i in range(MAX_SHOWN + 7)])
    shown = str(err).splitlines()
    assert len(shown) == MAX_SHOWN + 1 and shown[-1] == "... and 7 more problems"
    assert len(err.problems) == MAX_SHOWN + 7
    assert isinstance(err, ProblemsError) and err.exit_code == 2


def test_validate_lists_every_problem_on_stderr(files):
    r = invoke("validate", "--economy", "eco.nc", "cut.toml", "two.toml", "labels.toml")
    assert r.exit_code == 2
    assert r.stdout.splitlines() == ["cut.toml: ok (scenario)"]
    err = lines(r.stderr)
    assert err[-1] == "error: 2 of 3 files failed validation"
    assert all(line.startswith("error: ") for line in err)
    assert sum("two.toml: " in line for line in err) == 4
    assert sum("labels.toml: " in line for line in err) == 4
    assert "Traceback" not in r.output


def test_validate_economy_option(files):
    text = SCENARIO.replace('regions = "R0"', 'regions = ["DEU", "FRA"]')
    (files / "cut.toml").write_text(text)
    r = invoke("validate", "--economy", "wiodlike.nc", "cut.toml")
    assert r.exit_code == 0, r.output
    r = invoke("validate", "--economy", "eco.nc", "cut.toml")
    assert r.exit_code == 2 and "unknown region 'DEU'" in r.stderr


def test_many_problems_are_capped_in_the_cli(files):
    events = "".join(f'\n[[events]]\nkind = "capacity"\nregions = "X{i}"\nsectors = "S0"\n'
                     f"remaining = 0.5\nstart = 0\nduration = 5\n" for i in range(30))
    (files / "many.toml").write_text('name = "many"\ndescription = "d"\nhorizon = 10\n' + events)
    r = invoke("validate", "--economy", "eco.nc", "many.toml")
    err = lines(r.stderr)
    assert r.exit_code == 2
    assert len(err) == MAX_SHOWN + 2  # 20 problems, "... and 10 more", the count
    assert "... and 10 more problems" in err[-2]
    r = invoke("run", "many.toml", "--economy", "eco.nc")
    assert r.exit_code == 2 and len(lines(r.stderr)) == MAX_SHOWN + 1


# --------------------------------------------------------------------------- warnings


def test_standby_without_substitution_warns_only_in_the_strict_recipe(files):
    eco = random_economy(3, 4, seed=1)
    plan = compile_plan(files / "standby-only.toml", eco)
    assert checks.plan_warnings(plan, eco, "rationing", {}) == []
    w = checks.plan_warnings(plan, eco, "rationing", {"recipe": "strict"})
    assert len(w) == 1 and "standby[0]" in w[0] and "S0" in w[0] and "S1" not in w[0]
    assert "leontief" in checks.plan_warnings(plan, eco, "leontief", {})[0]
    assert checks.plan_warnings(None, eco, "leontief", {}) == []
    r = invoke("validate", "--economy", "eco.nc", "standby-only.toml", "--option",
               "recipe=strict")
    assert r.exit_code == 0 and r.stdout.strip() == "standby-only.toml: ok (plan, 1 warning)"
    assert lines(r.stderr)[0].startswith("warning: standby-only.toml: standby[0]: ")
    r = invoke("validate", "--economy", "eco.nc", "--strict", "standby-only.toml", "--option",
               "recipe=strict")
    assert r.exit_code == 2 and lines(r.stderr)[0].startswith("error: standby-only.toml: ")
    r = invoke("validate", "--economy", "eco.nc", "--mode", "leontief", "standby-only.toml")
    assert r.exit_code == 0 and "warning: " in r.stderr and "leontief" in r.stderr


def test_plan_in_leontief_warns_and_strict_fails(files):
    r = invoke("-q", "run", "cut.toml", "--economy", "eco.nc", "--plan", "standby-only.toml",
               "--mode", "leontief")
    assert r.exit_code == 0, r.output
    assert "warning: " in r.stderr and "mode leontief" in r.stderr
    r = invoke("-q", "compare", "cut.toml", "--economy", "eco.nc", "--plan",
               "standby-only.toml", "--mode", "leontief", "--strict")
    assert r.exit_code == 2 and lines(r.stderr)[0].startswith("error: standby-only.toml: ")


def test_horizon_cut_warns(files):
    w = checks.scenario_warnings(load_scenario("cut.toml"), 50)
    assert len(w) == 1 and "events[0]" in w[0] and "--horizon 50" in w[0]
    assert "last 10 days are cut" in w[0]
    assert checks.scenario_warnings(files / "cut.toml") == []
    r = invoke("-q", "run", "cut.toml", "--economy", "eco.nc", "--horizon", "50")
    assert r.exit_code == 0 and lines(r.stderr) == [f"warning: {w[0]}"]
    r = invoke("-q", "run", "cut.toml", "--economy", "eco.nc", "--horizon", "50", "--strict",
               "-o", "res.nc")
    assert r.exit_code == 2 and lines(r.stderr) == [f"error: {w[0]}"]
    assert not (files / "res.nc").exists()


def test_recovery_cut_and_late_start():
    sc = parse_scenario(SCENARIO.replace("duration = 60", 'duration = 20\nrecovery = "linear"\n'
                                         "recovery_days = 40"), "cut.toml")
    w = checks.scenario_warnings(sc, 40)
    assert len(w) == 1 and "recovery" in w[0]
    sc = parse_scenario(SCENARIO.replace("start = 0", "start = 70"), "cut.toml")
    assert "not simulated" in checks.scenario_warnings(sc, 50)[0]


def test_shipped_files_have_no_warnings(china31):
    from stresstest.plan import list_plans
    from stresstest.scenario import list_scenarios

    for s in list_scenarios():
        assert checks.scenario_warnings(s["name"]) == [], s["name"]
    for p in list_plans():
        for mode in ("rationing", "optimal", "dynamic"):
            assert checks.plan_warnings(p["name"], china31, mode, {}) == []
        assert checks.plan_warnings(p["name"], china31, "rationing", {"recipe": "strict"}) == []


# --------------------------------------------------------------------------- progress, estimate


@pytest.mark.parametrize("band", [False, True])
def test_plans_side_by_side_give_the_results_of_plans_alone(china31, band):
    """``compare``/``report`` run their plans on worker processes: each Result (band Results
    too: central, strict and optimal) is identical to the plan's run on its own."""
    from stresstest import api
    from stresstest.band import run_band
    from stresstest.cli import _run_all

    shock = api.resolve_scenario("chip-import-cutoff", china31)
    names = ["none", "sichuan-chongqing-electronics", "central-grain-reserve"]
    plans = {p: api.resolve_plan(None if p == "none" else p, china31) for p in names}
    together = _run_all(china31, shock, plans, "rationing", {}, band=band)
    assert list(together) == names
    for p in names:
        alone = (run_band(china31, shock, plans[p]) if band
                 else api.run(china31, shock, plans[p], mode="rationing"))
        xr.testing.assert_identical(together[p], alone)


def test_progress_lines_off_a_terminal(files):
    r = invoke("compare", "cut.toml", "--economy", "eco.nc", "--plan", "standby-only.toml")
    assert r.exit_code == 0, r.output
    prog = [line for line in lines(r.stderr) if line.startswith("[")]
    assert [line.split(":")[0] for line in prog] == ["[1/2] plan none",
                                                     "[2/2] plan standby-only"]
    assert all(re.fullmatch(r"\[\d/2\] plan [\w-]+: \d+\.\d s", line) for line in prog)
    r = invoke("-q", "compare", "cut.toml", "--economy", "eco.nc", "--plan", "standby-only.toml")
    assert not [line for line in lines(r.stderr) if line.startswith("[")]


def test_estimate(files, monkeypatch):
    eco = random_economy(3, 4, seed=1)
    china = xr.Dataset(coords={"region": np.arange(31), "sector": np.arange(42)})
    assert checks.estimate_seconds(china, "optimal", 5) == pytest.approx(150.0)
    assert checks.estimate_seconds(china, "dynamic", 1, horizon=730) == pytest.approx(4.0)
    assert checks.estimate_seconds(eco, "optimal", 5) < 1
    assert checks.fmt_seconds(150) == "2.5 min" and checks.fmt_seconds(3.14) == "3.1 s"
    r = invoke("compare", "cut.toml", "--economy", "eco.nc", "--plan", "standby-only.toml")
    assert "note:" not in r.stderr
    monkeypatch.setitem(checks.SECONDS_CHINA31, "rationing", 1e6)
    r = invoke("compare", "cut.toml", "--economy", "eco.nc", "--plan", "standby-only.toml")
    assert r.exit_code == 0
    assert lines(r.stderr)[0].startswith("note: this will take about ")


# --------------------------------------------------------------------------- info, labels


def test_info_on_files_that_are_not_economies(files):
    xr.Dataset({"a": ("t", np.arange(3.0))}).to_netcdf(files / "other.nc", engine="h5netcdf")
    (files / "junk.nc").write_text("not netcdf")
    (files / "notes.txt").write_text("hello")
    for name, words in (("other.nc", "not an economy: it has variables a"),
                        ("junk.nc", "not an economy"), ("notes.txt", "not an economy"),
                        ("cut.toml", "not an economy but a scenario file"),
                        (".", "is a folder")):
        r = invoke("info", name)
        assert r.exit_code == 2, (name, r.output)
        err = lines(r.stderr)
        assert len(err) == 1 and err[0].startswith("error: ") and words in err[0], err
        assert "unexpected" not in r.output and "KeyError" not in r.output


def test_info_numbers_are_for_people(files):
    eco = countries(random_economy(3, 4, seed=1))
    eco["exports"] = eco["exports"] * 0.0
    eco["M"] = eco["M"] * 0.0
    eco["MY"] = eco["MY"] * 0.0
    eco.attrs.update(big=1.0075e6, tiny=7.96e-16, ratio=3.2523456, year=2000, count=123456,
                     huge=1e300)
    _as_file(eco).to_netcdf(files / "notrade.nc", engine="h5netcdf")  # unbalanced: no checks
    r = invoke("info", "notrade.nc")
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "largest countries" in out
    assert "no international trade" in out
    assert not re.search(r"\d{8,}", out), out  # no long digit strings
    got = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in out.splitlines())
    assert got["big"] == "1,007,500" and got["tiny"] == "7.96e-16" and got["ratio"] == "3.252"
    assert got["year"] == "2000" and got["count"] == "123,456" and got["huge"] == "1e+300"


def _as_file(eco):
    out = eco.copy()
    for c in ("coastal", "tradable", "critical", "consumption", "inventory", "signed"):
        out = out.assign_coords({c: out[c].astype("u1")})
    return out


def test_fmt_number():
    assert fmt_number(1.00745e6) == "1,007,450" and fmt_number(0.666667) == "0.6667"
    assert fmt_number(0) == "0" and fmt_number(12) == "12" and fmt_number(1675.08) == "1,675"
    assert fmt_number(2.5e-5) == "2.5e-05" and fmt_number(True) == "true"
    assert all(len(fmt_number(v)) < 12 for v in (1e-300, 1e300, -1e300, 123.456789))


def test_labels_command(files):
    r = invoke("labels", "eco.nc")
    assert r.exit_code == 0, r.output
    out = r.stdout
    for word in ("3 regions", "4 sectors (products)", "region groups", "coastal", "inland",
                 "sector groups", "critical", "tradable", "use groups", "consumption"):
        assert word in out, word
    assert re.search(r"coastal\s+\(2\) R0, R2", out)
    r = invoke("labels", "wiodlike.nc", "--regions")
    assert r.exit_code == 0 and r.stdout.startswith("3 countries")
    assert "sectors" not in r.stdout
    r = invoke("labels", "eco.nc", "--groups")
    assert r.stdout.startswith("region groups")
    one = [line for line in lines(invoke("labels", "nope.nc").stderr)]
    assert len(one) == 1 and one[0].startswith("error: ")


def test_labels_on_china31(china31):
    r = invoke("labels")
    assert r.exit_code == 0
    out = r.stdout
    assert out.startswith("31 provinces")
    assert re.search(r"Sichuan\s+51\s+四川\s+west\s+no", out)
    assert "electronics" in out and "通信设备" in out and "province groups" in out
    assert re.search(r"northeast\s+\(3\) Liaoning, Jilin, Heilongjiang", out)


# --------------------------------------------------------------------------- words


def test_did_you_mean_threshold():
    regions = ["Beijing", "Tianjin", "Shanxi", "Shaanxi", "Sichuan", "Guangdong", "Shandong"]
    assert suggestions("Atlantis", regions) == []
    assert suggestions("Sichaun", regions) == ["Sichuan"]
    assert suggestions("Guandong", regions) == ["Guangdong"]
    assert suggestions("shanxii", regions) == ["Shanxi", "Shaanxi"]
    assert suggestions("remainig", ["remaining", "recovery"]) == ["remaining"]
    assert suggestions("gaz", ["gas", "coal"]) == ["gas"]
    assert suggestions("oil", ["oil_gas", "coal"]) == ["oil_gas"]


def test_no_suggestion_for_atlantis_on_china31(china31):
    from stresstest.selectors import select_regions

    with pytest.raises(ScenarioError) as e:
        select_regions(china31, "Atlantis", where="x.toml: events[0].regions")
    assert "did you mean" not in str(e.value)
    with pytest.raises(ScenarioError) as e:
        select_regions(china31, "Sichaun", where="x.toml: events[0].regions")
    assert "did you mean 'Sichuan'?" in str(e.value)


def test_region_word(china31):
    eco = random_economy(3, 4, seed=1)
    assert region_word(eco) == "region" and region_words(eco) == "regions"
    assert region_word(countries(eco)) == "country" and region_words(countries(eco)) == "countries"
    assert region_word(china31) == "province"
    eco.attrs["region_kind"] = "state"
    assert region_word(eco) == "state"


def test_horizon_has_an_upper_bound(files):
    """A mistyped horizon (found by the fuzz: 269,536,518 days) is a problem, not a 24 GiB
    allocation."""
    with pytest.raises(ScenarioError, match=r"horizon: 269536518 must be <= 3650 days"):
        parse_scenario(SCENARIO.replace("horizon = 90", "horizon = 269536518"), "cut.toml")
    with pytest.raises(ScenarioError, match="from 1 to 3650"):
        compile_scenario(parse_scenario(SCENARIO, "cut.toml"), random_economy(3, 4, seed=1),
                         horizon=10**6)
    r = invoke("run", "cut.toml", "--economy", "eco.nc", "--horizon", "100000")
    assert r.exit_code == 2 and "Traceback" not in r.output
