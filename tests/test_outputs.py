"""Every output shows the same numbers: the HTML report, its Markdown twin, compare's CSV and
xlsx (all from metrics.plan_table), with units in every header; exports by extension."""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner

from stresstest.cli import cli
from stresstest.economy import save_economy
from stresstest.testing import random_economy

SCENARIO = """name = "cut"
description = "Capacity of S0 everywhere falls to 40%, then recovers."
description_zh = "各地区S0产能降至40%，随后恢复。"
horizon = 40

[[events]]
kind = "capacity"
regions = "all"
sectors = "S0"
remaining = 0.4
start = 0
duration = 20
recovery = "linear"
recovery_days = 10
note = "test"
note_zh = "测试"
"""
PLAN = """name = "backup"
description = "Standby S0 capacity in R1 and R2."
description_zh = "在R1和R2设S0备用产能。"

[[standby]]
region = ["R1", "R2"]
sector = "S0"
capacity_share = 0.3
lead_time = 0
ramp = 0
capital_per_output = 1.5
capital_charge = 0.08
om_share = 0.02
note_zh = "备用产能"
"""


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    eco = random_economy(3, 4, seed=1)
    eco.attrs["units"] = "1e8 yuan"
    save_economy(eco, tmp_path / "eco.nc")
    (tmp_path / "cut.toml").write_text(SCENARIO, encoding="utf-8")
    (tmp_path / "backup.toml").write_text(PLAN, encoding="utf-8")
    return tmp_path


def invoke(*args):
    return CliRunner().invoke(cli, ["-q", *args], catch_exceptions=True)


BASE = ("cut.toml", "--economy", "eco.nc", "--plan", "backup.toml", "--probability", "2%",
        "--probability", "10%")


class _Tables(HTMLParser):
    """Cells of the HTML tables, by the table's class."""

    def __init__(self):
        super().__init__()
        self.tables, self._cls, self._row, self._cell = {}, None, None, None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._cls = dict(attrs).get("class", "")
            self.tables[self._cls] = []
        elif tag == "tr" and self._cls is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._cls].append(self._row)
            self._row = None
        elif tag == "table":
            self._cls = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def number(text: str) -> float:
    """The first number of a displayed cell (``1,234.5``, ``20%``, ``6.8/yr``)."""
    m = re.match(r"\s*<?(-?[\d,]*\.?\d+)\s*(%|/yr)?", text)
    assert m, text
    v = float(m.group(1).replace(",", ""))
    return v / 100 if m.group(2) == "%" else v


def close(shown: float, exact: float, text: str):
    """``shown`` is ``exact`` rounded as displayed (digits of ``text``)."""
    digits = len(text.split("%")[0].split("/")[0].split(" ")[0].split(".")[1]) \
        if "." in text.split(" ")[0] else 0
    tol = 0.5 * 10 ** -digits * (0.01 if "%" in text.split(" ")[0] else 1) + 1e-12
    rel = abs(exact) * 0.006 if "%" in text.split(" ")[0] and "." not in text.split(" ")[0] \
        else 0.0  # p* in percent with two significant digits
    assert abs(shown - exact) <= max(tol, rel), (text, exact)


def test_html_markdown_csv_and_xlsx_show_the_same_numbers(files):
    r = invoke("compare", *BASE, "-o", "cmp.csv")
    assert r.exit_code == 0, r.output
    r = invoke("compare", *BASE, "--format", "xlsx", "-o", "cmp.xlsx")
    assert r.exit_code == 0, r.output
    r = invoke("report", *BASE, "-o", "rep.html")
    assert r.exit_code == 0, r.output

    rows = {row["plan"]: row for row in csv.DictReader(io.StringIO(
        (files / "cmp.csv").read_text(encoding="utf-8")))}
    header = list(next(iter(rows.values())))
    # units in the CSV header: money in bn yuan (default for yuan economies)
    assert "benefit [bn yuan]" in header and "cost [bn yuan/yr]" in header
    assert "breakeven_p [per year]" in header and "bc_at_2% [1]" in header
    assert "bc_at_10% [1]" in header and "bc_at_1% [1]" not in header
    csvv = {p: {k.split(" [")[0]: v for k, v in row.items()} for p, row in rows.items()}
    b = csvv["backup"]
    assert float(b["benefit"]) > 0 and float(b["event_factor"]) > 1  # recovery tail counted
    assert b["rank"] == "1"
    # cost basis: capital 1.5 x capacity at 8% charge + 2% O&M, in bn yuan
    assert float(b["cost"]) > 0

    from openpyxl import load_workbook

    wb = load_workbook(files / "cmp.xlsx")
    assert {"economics", "outcomes", "all numbers", "notes"} <= set(wb.sheetnames)
    sheet = wb["all numbers"]
    head = [c.value for c in sheet[1]]
    assert head == header
    for row in sheet.iter_rows(min_row=2, values_only=True):
        plan = row[0]
        for k, v in zip(head, row):
            c = rows[plan][k]
            if isinstance(v, float):
                assert v == pytest.approx(float(c), rel=1e-12, abs=1e-15), (plan, k)
            elif v is None:
                assert c in ("", "nan"), (plan, k, c)
    notes = {r[0]: r[1] for r in wb["notes"].iter_rows(min_row=2, values_only=True)}
    assert notes["money unit"] == "bn yuan" and "p* = annual cost" in " ".join(
        str(v) for v in notes.values())

    html = (files / "rep.html").read_text(encoding="utf-8")
    md = (files / "rep.md").read_text(encoding="utf-8")
    p = _Tables()
    p.feed(html)
    econ = p.tables["economics"]
    heads = econ[0]
    assert heads[2].endswith("[bn yuan]") and "[bn yuan/yr]" in heads[4]
    md_rows = {line.split("|")[2].strip(): [c.strip() for c in line.split("|")[1:-1]]
               for line in md.splitlines() if line.startswith("| ") and "| backup |" in line}
    for cells in econ[1:]:
        plan = cells[1]
        if plan != "backup":
            continue
        assert md_rows[plan] == cells  # the Markdown twin shows the same cells
        c = csvv[plan]
        close(number(cells[2]), float(c["benefit"]), cells[2])
        close(number(cells[4]), float(c["cost"]), cells[4])
        close(number(cells[5]), float(c["breakeven_p"]), cells[5])
        close(number(cells[6]), float(c["bc_at_2%"]), cells[6])
        close(number(cells[7]), float(c["bc_at_10%"]), cells[7])
    head = p.tables["headline"]
    for cells in head[1:]:
        plan = "none" if cells[0].startswith("none") else cells[0]
        close(number(cells[1]), float(csvv[plan]["output_share"]), cells[1])
        close(number(cells[2]), float(csvv[plan]["va_share"]), cells[2])
    # every table of the report says its definitions: the footnotes are under the table
    assert "Benefit = value added saved by the plan over the whole event" in html
    assert "Benefit = value added saved by the plan over the whole event" in md


def test_units_option_and_bad_unit(files):
    r = invoke("compare", *BASE, "--format", "json", "--unit", "亿元")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["unit"] == "亿元" and doc["units"]["benefit"] == "亿元"
    r2 = invoke("compare", *BASE, "--format", "json")
    doc2 = json.loads(r2.stdout)
    b1 = next(p for p in doc["plans"] if p["plan"] == "backup")["benefit"]
    b2 = next(p for p in doc2["plans"] if p["plan"] == "backup")["benefit"]
    assert b1 == pytest.approx(10 * b2)
    r = invoke("compare", *BASE, "--unit", "bn USD")
    assert r.exit_code == 2 and "currencies are not converted" in r.stderr
    assert len([x for x in r.stderr.splitlines() if x.strip()]) == 1


@pytest.mark.parametrize("cmd,out", [("compare", "x.pdf"), ("compare", "x.xls"),
                                     ("run", "x.csv"), ("run", "x.txt"),
                                     ("report", "x.md")])
def test_output_extension_the_command_does_not_write(files, cmd, out):
    r = invoke(cmd, "cut.toml", "--economy", "eco.nc", "-o", out)
    assert r.exit_code == 2, r.output
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert not (files / out).exists()


def test_format_and_extension_must_agree(files):
    r = invoke("compare", *BASE, "--format", "csv", "-o", "x.json")
    assert r.exit_code == 2 and "does not end in .csv" in r.stderr
    r = invoke("compare", *BASE, "--format", "xlsx")
    assert r.exit_code == 2 and "needs -o" in r.stderr


def test_run_writes_xlsx_netcdf_and_csv_with_units(files):
    import xarray as xr

    r = invoke("run", "cut.toml", "--economy", "eco.nc", "--plan", "backup.toml", "-o",
               "run.xlsx", "--csv", "csv")
    assert r.exit_code == 0, r.output
    from openpyxl import load_workbook

    wb = load_workbook(files / "run.xlsx")
    assert {"headline", "critical supply", "regions", "sectors", "binding",
            "notes"} <= set(wb.sheetnames)
    units = {row[0]: row[2] for row in wb["headline"].iter_rows(min_row=2, values_only=True)}
    assert units["va_loss"] == "bn yuan/yr" and units["va_loss_event"] == "bn yuan"
    text = (files / "csv" / "x.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0].endswith("value,units")
    assert "bn yuan per year" in text
    binding = (files / "csv" / "binding.csv").read_text(encoding="utf-8")
    assert binding.splitlines()[0].endswith("value,units,meaning")
    r = invoke("run", "cut.toml", "--economy", "eco.nc", "-o", "run.nc", "--unit", "亿元")
    assert r.exit_code == 0, r.output
    with xr.open_dataset(files / "run.nc") as ds:
        assert ds["x"].attrs["units"] == "亿元 per year" and ds.attrs["units"] == "亿元"
        assert ds["x"].attrs["long_name"] == "gross output"
        assert "flag_meanings" in ds["binding_product"].attrs
        assert ds["x_baseline"].attrs["units"] == "亿元 per year"
        assert "sector_name" in ds.coords and "region_name_zh" in ds.coords


def test_chinese_report_is_chinese_in_yiyuan(files):
    r = invoke("report", "cut.toml", "--economy", "eco.nc", "--plan", "backup.toml",
               "--lang", "zh", "-o", "zh.html")
    assert r.exit_code == 0, r.output
    md = (files / "zh.md").read_text(encoding="utf-8")
    assert "各地区S0产能降至40%，随后恢复。" in md and "原因：测试" in md
    assert "在R1和R2设S0备用产能。" in md and "原因：备用产能" in md
    assert "亿元" in md and "bn yuan" not in md and "1e8 yuan" not in md
    html = (files / "zh.html").read_text(encoding="utf-8")
    assert "@font-face" in html and "data:font/woff;base64," in html


def test_chinese_fields_are_strict_and_optional():
    from stresstest.errors import PlanError, ScenarioError
    from stresstest.plan import parse_plan
    from stresstest.scenario import parse_scenario

    sc = parse_scenario(SCENARIO, stem="cut")
    assert sc.description_zh.startswith("各地区") and sc.events[0].note_zh == "测试"
    with pytest.raises(ScenarioError, match="description_zh: .*must be a string"):
        parse_scenario(SCENARIO.replace('description_zh = "各地区S0产能降至40%，随后恢复。"',
                                        "description_zh = 3"), stem="cut")
    with pytest.raises(ScenarioError, match=r"events\[0\].note_zh"):
        parse_scenario(SCENARIO.replace('note_zh = "测试"', "note_zh = [1]"), stem="cut")
    plan = parse_plan(PLAN, stem="backup")
    assert plan.description_zh and plan.elements[0]["note_zh"] == "备用产能"
    with pytest.raises(PlanError, match="note_zhh"):
        parse_plan(PLAN.replace("note_zh", "note_zhh"), stem="backup")


def test_cost_bases_of_plan_elements():
    from stresstest.errors import PlanError
    from stresstest.plan import annuity_factor, compile_plan, parse_plan

    eco = random_economy(3, 4, seed=1)
    plan = parse_plan(PLAN, stem="backup")
    c = compile_plan(plan, eco)
    cap = float(c["standby_capacity"].sum())
    assert float(c["standby_cost"].sum()) == pytest.approx(cap * 1.5 * (0.08 + 0.02))
    with pytest.raises(PlanError, match="one cost basis"):
        parse_plan(PLAN + "annual_cost_share = 0.1\n", stem="backup")
    with pytest.raises(PlanError, match="capital_charge: required with capital_per_output"):
        parse_plan(PLAN.replace("capital_charge = 0.08\n", ""), stem="backup")
    corridor = ('name = "c"\ndescription = "d"\n[[corridor]]\nfrom = "R0"\nto = "R1"\n'
                'extra = 0.1\ncapital_cost = 100.0\ninterest_rate = 0.05\nlifetime = 20\n'
                'om_share = 0.01\n')
    c = compile_plan(parse_plan(corridor, stem="c"), eco)
    assert c.attrs["annual_cost"] == pytest.approx(100.0 * (annuity_factor(0.05, 20) + 0.01))
    assert annuity_factor(0.05, 20) == pytest.approx(0.0802426, rel=1e-5)
    assert annuity_factor(0.0, 20) == pytest.approx(0.05)
    with pytest.raises(PlanError, match="lifetime: required with capital_cost"):
        parse_plan(corridor.replace("lifetime = 20\n", ""), stem="c")
    with pytest.raises(PlanError, match="interest_rate: only with capital_cost"):
        parse_plan(corridor.replace("capital_cost = 100.0\n", "").replace(
            "lifetime = 20\n", ""), stem="c")


def test_dynamic_run_says_which_number_it_shows(files):
    r = invoke("run", "cut.toml", "--economy", "eco.nc", "--mode", "dynamic")
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "average day of the window (days 0–19)" in out
    assert "over all 40 days" in out and "trough" in out and "recovered" in out
    r = invoke("compare", *BASE, "--mode", "dynamic")
    assert r.exit_code == 0, r.output
    assert "output, window avg" in r.stdout and "recovery day" in r.stdout
