"""Validation cases: the data are consistent, and docs/validation.md shows what the engine
computes today (fast cases; `python -m tests.validation.evaluate` regenerates the page)."""

from __future__ import annotations

import re

import pytest

from stresstest.scenario import list_scenarios

from .cases import CASES, shortfall
from .evaluate import BEGIN, DOC, END, regions_of, sectors_of

#: One case per event and kind of measure: run in CI (each is one band run).
FAST = ("cn-gdp-2020q1", "hubei-gdp-2020q1", "shanghai-industry-output-2022m4")


def test_cases_are_consistent(china31):
    names = {s["name"] for s in list_scenarios()}
    labels = set(map(str, china31["sector"].values))
    for c in CASES:
        assert c["scenario"] in names, c["id"]
        assert c["shortfall"] == pytest.approx(shortfall(c["yoy"], c["trend"]), abs=5e-5)
        assert regions_of(china31, c["region"]), c["id"]
        var, sectors = sectors_of(china31, c["measure"])
        assert var in ("x", "va") and set(sectors) <= labels, c["id"]
        start, end = c["window"]
        assert 0 <= start < end, c["id"]


def _documented() -> dict:
    """``{id: modelled central shortfall}`` from the generated table of docs/validation.md."""
    text = DOC.read_text(encoding="utf-8")
    table = text.split(BEGIN, 1)[1].split(END, 1)[0]
    out = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 6 and cells[0] in {c["id"] for c in CASES}:
            m = re.match(r"([+-]?[0-9.]+)%", cells[5])
            out[cells[0]] = float(m.group(1)) / 100
    return out


def test_documented_results_are_current(china31):
    from stresstest.band import run_band
    from stresstest.scenario import compile_scenario, load_scenario

    from .evaluate import shortfall as modelled

    documented = _documented()
    assert set(c["id"] for c in CASES) <= set(documented), "regenerate docs/validation.md"
    for case in (c for c in CASES if c["id"] in FAST):
        shock = compile_scenario(load_scenario(case["scenario"]), china31)
        shock.attrs["window_start"], shock.attrs["window_end"] = case["window"]
        res = run_band(china31, shock, estimates=("central",))
        got = modelled(res.sel(estimate="central", drop=True), case)
        assert got == pytest.approx(documented[case["id"]], abs=6e-4), (
            f"{case['id']}: engine gives {got:+.4f}, docs/validation.md {documented[case['id']]:+.4f}"
            " -- rerun python -m tests.validation.evaluate")
