"""The click CLI: every command, its error paths and atomic outputs."""

from __future__ import annotations

import subprocess
import sys
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner

from stresstest.cli import _parse_options, cli
from stresstest.economy import save_economy
from stresstest.testing import random_economy

SCENARIO = """name = "tiny-cut"
description = "Capacity of S0 in R0 falls to 40%."
horizon = 30

[[events]]
kind = "capacity"
regions = "R0"
sectors = "S0"
remaining = 0.4
start = 0
duration = 30
"""
PLAN = """name = "backup"
description = "Standby S0 capacity in R1."

[[standby]]
region = "R1"
sector = "S0"
capacity_share = 0.2
lead_time = 0
ramp = 0
annual_cost_share = 0.08
"""


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_economy(random_economy(3, 4, seed=1), tmp_path / "eco.nc")
    (tmp_path / "tiny-cut.toml").write_text(SCENARIO)
    (tmp_path / "backup.toml").write_text(PLAN)
    return tmp_path


def invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=True)


def one_error_line(result, code):
    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output


def test_version_and_help():
    r = invoke("--version")
    assert r.exit_code == 0 and "stresstest" in r.output
    r = invoke("--help")
    for cmd in ("economies", "info", "import", "scenarios", "plans", "show", "validate", "run",
                "compare", "report"):
        assert cmd in r.output


def test_parse_options():
    assert _parse_options(["a=1", "b=0.5", "c=true", "d=x y", "e=[1,2]"]) == {
        "a": 1, "b": 0.5, "c": True, "d": "x y", "e": [1, 2]}


def test_economies_and_info(files):
    r = invoke("economies")
    assert r.exit_code == 0
    r = invoke("info", str(files / "eco.nc"))
    assert r.exit_code == 0, r.output
    for word in ("gross output", "identity residuals", "interregional trade", "largest regions"):
        assert word in r.output


def test_info_missing_file_exits_2(files):
    one_error_line(invoke("info", "nope.nc"), 2)


def test_bad_option_values_exit_2(files):
    r = invoke("run", "tiny-cut.toml", "--economy", "eco.nc", "--mode", "bogus")
    assert r.exit_code == 2 and "bogus" in r.output
    r = invoke("run", "tiny-cut.toml", "--economy", "eco.nc", "--option", "noequals")
    assert r.exit_code == 2 and "KEY=VALUE" in r.output
    r = invoke("run", "tiny-cut.toml", "--economy", "eco.nc", "--horizon", "0")
    assert r.exit_code == 2


def test_import_missing_file_exits_2(files):
    one_error_line(invoke("import", "csv", "missing.csv", "-o", "out.nc"), 2)
    r = invoke("import", "excel", "x", "-o", "out.nc")
    assert r.exit_code == 2


def test_import_pymrio_test_system(files):
    pytest.importorskip("pymrio")
    io = pytest.importorskip("stresstest.io")
    if not hasattr(io, "from_pymrio"):
        pytest.skip("stresstest.io.from_pymrio not available")
    r = invoke("import", "pymrio", "test", "-o", "test.nc")
    assert r.exit_code == 0, r.output
    assert (files / "test.nc").exists()


def test_scenarios_plans_and_show():
    pytest.importorskip("stresstest.scenario")
    pytest.importorskip("stresstest.plan")
    r = invoke("scenarios")
    assert r.exit_code == 0 and "coastal-blockade" in r.output
    r = invoke("plans")
    assert r.exit_code == 0 and "none" in r.output
    r = invoke("show", "none", "--economy", "no-such-economy")
    one_error_line(r, 2)


def test_show_scenario_file_on_economy(files):
    pytest.importorskip("stresstest.scenario")
    r = invoke("show", "tiny-cut.toml", "--economy", "eco.nc")
    assert r.exit_code == 0, r.output
    assert "tiny-cut" in r.output


def test_show_unknown_name_exits_2(files):
    pytest.importorskip("stresstest.scenario")
    pytest.importorskip("stresstest.plan")
    one_error_line(invoke("show", "no-such-thing", "--economy", "eco.nc"), 2)


def test_validate(files):
    pytest.importorskip("stresstest.scenario")
    pytest.importorskip("stresstest.plan")
    from stresstest.plan import list_plans
    from stresstest.scenario import list_scenarios

    shock = list_scenarios()[0]["path"]
    plan = list_plans()[0]["path"]
    (files / "bad.toml").write_text('name = "bad"\nhorizon = -3\n[[events]]\nkind = "x"\n')
    r = invoke("validate", shock, plan, "eco.nc")
    assert r.exit_code == 0, r.output
    assert r.output.count(": ok") == 3
    r = invoke("validate", shock, "bad.toml", "missing.toml")
    assert r.exit_code == 2
    assert r.stdout.splitlines() == [f"{shock}: ok (scenario)"]
    assert "error: bad.toml: " in r.stderr
    assert "error: missing.toml: no such file" in r.stderr
    assert r.stderr.splitlines()[-1] == "error: 2 of 3 files failed validation"


def test_run_prints_summary_and_writes_outputs(files):
    pytest.importorskip("stresstest.api")
    r = invoke("run", "tiny-cut.toml", "--economy", "eco.nc", "--plan", "backup.toml",
               "-o", "out/res.nc", "--csv", "csv")
    assert r.exit_code == 0, r.output
    assert "surviving output" in r.output and "critical supply" in r.output
    assert "binding constraints" in r.output and "worst regions" in r.output
    import xarray as xr

    res = xr.load_dataset(files / "out" / "res.nc")
    assert res.attrs["plan"] == "backup" and "x" in res
    # the default run is the central estimate with its band: x has an estimate dim
    assert (files / "csv" / "x.csv").read_text().startswith("region,sector,estimate,value")
    assert set(res["estimate"].values) == {"central", "low", "high"}
    r = invoke("run", "tiny-cut.toml", "--economy", "eco.nc", "--no-band", "--csv", "csv1")
    assert r.exit_code == 0, r.output
    assert (files / "csv1" / "x.csv").read_text().startswith("region,sector,value")


def test_run_unknown_scenario_exits_2(files):
    pytest.importorskip("stresstest.api")
    one_error_line(invoke("run", "no-such-scenario", "--economy", "eco.nc"), 2)


def test_run_output_is_atomic(files, monkeypatch):
    pytest.importorskip("stresstest.api")
    import xarray as xr

    def boom(self, path, *a, **k):
        open(path, "wb").write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", boom)
    r = invoke("run", "tiny-cut.toml", "--economy", "eco.nc", "-o", "res.nc")
    assert r.exit_code == 1
    assert not (files / "res.nc").exists()
    assert not [p for p in files.iterdir() if p.name.startswith(".res.nc")]


def test_unexpected_error_is_one_line_and_debug_reraises(files, monkeypatch):
    api = pytest.importorskip("stresstest.api")

    def broken(*a, **k):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(api, "run", broken)
    r = invoke("run", "tiny-cut.toml", "--economy", "eco.nc")
    one_error_line(r, 1)
    assert "kaboom" in r.stderr
    r = invoke("--debug", "run", "tiny-cut.toml", "--economy", "eco.nc")
    assert isinstance(r.exception, RuntimeError)


def test_debug_shows_traceback_in_a_real_process(files):
    cmd = [sys.executable, "-m", "stresstest.cli", "info", "nope.nc"]
    plain = subprocess.run(cmd, capture_output=True, text=True, cwd=files)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert plain.stderr.strip().startswith("error: ")
    debug = subprocess.run(cmd[:3] + ["--debug"] + cmd[3:], capture_output=True, text=True,
                           cwd=files)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "markdown"])
def test_compare_formats(files, fmt):
    pytest.importorskip("stresstest.api")
    r = invoke("-q", "compare", "tiny-cut.toml", "--economy", "eco.nc", "--plan", "backup.toml",
               "--format", fmt)
    assert r.exit_code == 0, r.output
    assert "backup" in r.stdout and "none" in r.stdout
    if fmt == "json":
        import json

        doc = json.loads(r.stdout)
        rows = doc["plans"]
        assert [row["plan"] for row in rows] == ["backup", "none"]
        assert rows[0]["output_share"] <= 1.0
        assert doc["units"]["output_share"] == "1 (share)" and doc["notes"]


def test_report_writes_html_and_markdown(files):
    pytest.importorskip("stresstest.api")
    r = invoke("-q", "report", "tiny-cut.toml", "--economy", "eco.nc", "--plan", "backup.toml")
    assert r.exit_code == 0, r.output
    html = files / "reports" / "tiny-cut.html"
    md = files / "reports" / "tiny-cut.md"
    assert html.exists() and md.exists()

    class P(HTMLParser):
        ids = set()

        def handle_starttag(self, tag, attrs):
            assert tag not in ("script", "link")
            self.ids.update(v for k, v in attrs if k == "id")

    p = P()
    p.feed(html.read_text(encoding="utf-8"))
    assert {"summary", "headline", "regions", "heatmap", "critical", "chokepoints"} <= p.ids
    assert "stresstest report tiny-cut.toml --plan backup.toml" in md.read_text(encoding="utf-8")


def test_report_unknown_plan_exits_2(files):
    pytest.importorskip("stresstest.api")
    one_error_line(invoke("report", "tiny-cut.toml", "--economy", "eco.nc", "--plan", "nope"), 2)


def test_report_on_china31_with_every_plan(china31, tmp_path):
    pytest.importorskip("stresstest.api")
    r = invoke("-q", "report", "coastal-blockade", "--mode", "leontief",
               "-o", str(tmp_path / "cb.html"))
    assert r.exit_code == 0, r.output
    text = (tmp_path / "cb.html").read_text(encoding="utf-8")
    assert ">GD<" in text and "Guangdong 广东" in text


RANGED = SCENARIO.replace("remaining = 0.4", "remaining = [0.2, 0.6]")


def test_samples_on_run_compare_and_report(files):
    """--samples N adds the sampled 5-50-95% band (and the plan's chance of ranking first) to
    run, compare (table, csv) and the report; the report's command line carries the seed."""
    (files / "ranged.toml").write_text(RANGED.replace('"tiny-cut"', '"ranged"'))
    args = ("ranged.toml", "--economy", "eco.nc", "--plan", "backup.toml", "--no-band",
            "--samples", "4", "--seed", "3")
    r = invoke("-q", "run", *args)
    assert r.exit_code == 0, r.output
    assert "How sure: sampled band" in r.output and "ranks first" in r.output
    assert "events[0].remaining 0.2 – 0.6" in r.output
    r = invoke("-q", "compare", *args, "--format", "csv")
    assert r.exit_code == 0, r.output
    header = r.stdout.splitlines()[0]
    assert "sampled_output_share_q5" in header and "sampled_p_first" in header
    r = invoke("-q", "report", *args)
    assert r.exit_code == 0, r.output
    md = (files / "reports" / "ranged.md").read_text(encoding="utf-8")
    assert "## How sure: sampled band" in md and "--samples 4 --seed 3" in md
    html = (files / "reports" / "ranged.html").read_text(encoding="utf-8")
    assert 'id="samples"' in html


def test_samples_bad_usage_exits_2(files):
    r = invoke("run", "tiny-cut.toml", "--economy", "eco.nc", "--scheduler", "local")
    one_error_line(r, 2)
    assert "--samples" in r.stderr
    r = invoke("run", "tiny-cut.toml", "--economy", "eco.nc", "--mode", "optimal",
               "--samples", "2")
    one_error_line(r, 2)
    assert "cannot be sampled" in r.stderr
    r = invoke("run", "tiny-cut.toml", "--economy", "eco.nc", "--samples", "-1")
    assert r.exit_code == 2


def test_summary_says_when_value_added_lost_is_below_zero():
    """A run whose value added ends above the baseline (a plan's standby capacity replacing
    what the shock removed) prints a negative loss with a note saying what it means; a loss
    does not."""
    import numpy as np

    from stresstest.cli import _summary_lines
    from stresstest.compiled import no_shock
    from stresstest.economy import derive
    from stresstest.result import BINDING, essential_baseline, final_baseline, make_result

    eco = random_economy(3, 4, seed=1)
    d = derive(eco)
    R, S, n = d.n_region, d.n_sector, d.n

    def summary(share):
        res = make_result(eco, mode="test", shock=no_shock(eco), plan=None, x=d.x * share,
                          capacity=d.x.copy(), f=final_baseline(eco).values.reshape(R, S, 3),
                          exports=d.exports.copy(),
                          essential=essential_baseline(eco).values.reshape(R, S),
                          binding=np.full(n, BINDING["demand"]))
        return next(line for line in _summary_lines(res, eco)
                    if line.startswith("value added lost"))

    above, below = summary(1.05), summary(0.95)
    assert "below 0: value added above the baseline" in above and ": -" in above
    assert "below 0" not in below and ": -" not in below
