"""Host-region screening and backup siting (issue 14)."""

from __future__ import annotations

import numpy as np
import pytest

from stresstest.compiled import no_shock
from stresstest.errors import InputError
from stresstest.screen import CRITERIA, INDICATORS, rank_sensitivity, score, screen
from stresstest.testing import random_economy


def test_screen_china31_structure(china31):
    ds = screen(china31)
    assert "exposure" not in ds["criterion"].values  # no scenarios: no exposure criterion
    assert ds.sizes["region"] == 31
    assert sorted(ds["rank"].values) == list(range(1, 32))
    assert np.all((ds["indicator_score"].values >= 0) & (ds["indicator_score"].values <= 1))
    v = ds["value"].to_pandas()
    # coastal regions have zero distance to the coast, Xinjiang the largest
    assert v.loc["Guangdong", "coast_distance"] == 0.0
    assert v["coast_distance"].idxmax() in ("Xinjiang", "Tibet")
    # location quotients average to 1 weighted by output
    x = china31["x"].sum("sector").values
    assert np.average(v["lq_energy"].values, weights=x) == pytest.approx(1.0, rel=1e-9)
    # Shanxi and Inner Mongolia (coal) are among the top energy regions
    top = set(v["lq_energy"].sort_values(ascending=False).index[:4])
    assert {"Shanxi", "InnerMongolia"} <= top, top


def test_screen_with_exposure_and_weights(china31):
    ds = screen(china31, ["guangdong-electronics-failure"], samples=200)
    assert list(ds["criterion"].values) == list(CRITERIA)
    v = ds["value"].to_pandas()
    # the failing node is Guangdong's: its own output survives least
    assert v["output_surviving"].idxmin() == "Guangdong"
    only_exposure = screen(china31, ["guangdong-electronics-failure"],
                           weights={c: 0.0 for c in CRITERIA} | {"exposure": 1.0}, samples=50)
    best = str(only_exposure["region"].values[int(np.argmin(only_exposure["rank"].values))])
    s = only_exposure["criterion_score"].sel(criterion="exposure").to_pandas()
    assert best == s.idxmax()


def test_score_is_a_weighted_mean_of_normalised_indicators():
    vals = {"lq_energy": np.array([1.0, 2.0, 3.0]), "coast_distance": np.array([0, 500, 250.0]),
            "unit_labour_cost": np.array([1.0, 0.5, 2.0])}
    out = score(vals, {"endowment": 1.0, "hub": 1.0, "gradient": 2.0})
    np.testing.assert_allclose(out["indicator_scores"]["lq_energy"], [0, 0.5, 1])
    np.testing.assert_allclose(out["indicator_scores"]["unit_labour_cost"], [2 / 3, 1, 0])
    total = (out["criterion_scores"]["endowment"] + out["criterion_scores"]["hub"]
             + 2 * out["criterion_scores"]["gradient"]) / 4
    np.testing.assert_allclose(out["total"], total)
    assert list(out["rank"]) == list(np.argsort(np.argsort(-total)) + 1)


def test_rank_sensitivity_is_seeded_and_firm_for_a_dominant_region():
    C = np.array([[1.0, 0.5, 0.0], [1.0, 0.4, 0.1]])
    a = rank_sensitivity(C, [1, 1], n=500, seed=3)
    b = rank_sensitivity(C, [1, 1], n=500, seed=3)
    np.testing.assert_array_equal(a["rank_median"], b["rank_median"])
    assert a["rank_p95"][0] == 1 and a["top_probability"][0] == 1.0


def test_screen_rejects_bad_input(china31):
    with pytest.raises(InputError, match="unknown criteria"):
        screen(china31, weights={"beauty": 1})
    with pytest.raises(InputError, match="sector groups"):
        screen(random_economy(2, 3, seed=0))
    with pytest.raises(InputError, match="sum to 0"):
        screen(china31, weights={c: 0.0 for c in CRITERIA})


def test_every_indicator_is_documented():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "screening.md").read_text(
        encoding="utf-8")
    for name in INDICATORS:
        assert f"`{name}`" in doc, name


# ----------------------------------------------------------------------------- siting


def test_plan_toml_round_trips_to_a_plan(china31):
    from stresstest.plan import compile_plan, parse_plan
    from stresstest.site import default_candidates, plan_toml

    cands = default_candidates(china31)
    kinds = {c.kind for c in cands}
    assert kinds == {"standby", "stockpile", "corridor"}
    pick = {c: 2 for c in cands[:2]} | {[c for c in cands if c.kind == "stockpile"][0]: 1}
    plan = compile_plan(parse_plan(plan_toml("p", "d", pick), "<p>"), china31)
    assert plan.sizes["standby"] == 2
    assert float(plan["stock_amount"].sum()) > 0


def test_site_spends_within_budget_and_beats_nothing(china31):
    from stresstest.site import default_candidates, portfolio_objective, site

    cands = [c for c in default_candidates(china31, regions=["Sichuan"])
             if c.kind != "corridor"][:6]
    sc = ["guangdong-electronics-failure"]
    res = site(china31, sc, 60.0, candidates=cands, shortlist=3, max_steps=3)
    assert res.cost <= 60.0 + 1e-9
    assert res.objective >= 0
    if res.units:
        J, cost = portfolio_objective(china31, sc, res.units)
        assert J == pytest.approx(res.objective, rel=1e-6, abs=1e-6)
        assert cost == pytest.approx(res.cost, rel=1e-9)
    with pytest.raises(InputError, match="budget"):
        site(china31, sc, -1.0, candidates=cands)


# ----------------------------------------------------------------------------- CLI


def _invoke(*args):
    from click.testing import CliRunner

    from stresstest.cli import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_cli_screen_table_and_report(china31, tmp_path):
    r = _invoke("screen", "--samples", "50", "--scenario", "guangdong-electronics-failure")
    assert r.exit_code == 0, r.output
    assert "Sichuan" in r.output and "P(top 5)" in r.output
    r = _invoke("screen", "--samples", "50", "-o", str(tmp_path / "s.html"))
    assert r.exit_code == 0, r.output
    assert (tmp_path / "s.html").read_text().startswith("<!DOCTYPE html>")
    assert "| rank | region |" in (tmp_path / "s.md").read_text()
    r = _invoke("screen", "--weights", "beauty=1")
    assert r.exit_code == 2 and "unknown criteria" in r.output


def test_cli_site_writes_a_plan_compare_accepts(china31, tmp_path):
    cand = tmp_path / "cand.toml"
    cand.write_text('[[standby]]\nregion = "Sichuan"\nsector = "electronics"\n'
                    'capacity_share = 0.01\nlead_time = 0\nramp = 0\n'
                    'annual_cost_share = 0.08\nmax_units = 2\n')
    out = tmp_path / "sited.toml"
    r = _invoke("site", "--scenario", "guangdong-electronics-failure", "--budget", "500",
                "--candidates", str(cand), "-o", str(out))
    assert r.exit_code == 0, r.output
    from stresstest.plan import compile_plan, load_plan

    plan = compile_plan(load_plan(out), china31)
    assert plan.attrs["plan"] == "sited"
    r = _invoke("site", "--scenario", "guangdong-electronics-failure", "--budget", "500",
                "-o", str(tmp_path / "x.txt"))
    assert r.exit_code == 2 and ".toml" in r.output


# ----------------------------------------------------------------------------- new industry


NEW_LINE = '''name = "new-line"
description = "d"

[[new_industry]]
region = "R1"
sector = "S2"
capacity_share = 0.2
from = ["R0", "R2"]
annual_cost_share = 0.1
'''


def test_new_industry_relocates_output_with_exact_identities():
    from stresstest.economy import validate_economy
    from stresstest.plan import compile_plan, parse_plan
    from stresstest.relocate import relocated, relocation_moves

    eco = random_economy(3, 4, seed=2, drawdowns=0.3)
    plan = compile_plan(parse_plan(NEW_LINE, "<new-line>"), eco)
    (move,) = relocation_moves(plan)
    x = eco["x"].values
    assert move["share"] == pytest.approx(0.2 * x[:, 2].sum() / (x[0, 2] + x[2, 2]))
    assert plan.attrs["annual_cost"] == pytest.approx(0.1 * 0.2 * x[:, 2].sum())
    new = relocated(eco, plan)
    validate_economy(new, rtol=1e-12)
    for v in ("x", "V", "M", "exports"):
        assert float(new[v].sum()) == pytest.approx(float(eco[v].sum()), rel=1e-12)
    assert float(new["x"].sel(region="R1", sector="S2")) == pytest.approx(
        x[1, 2] + move["share"] * (x[0, 2] + x[2, 2]), rel=1e-12)
    np.testing.assert_allclose(new["x"].sel(sector="S0").values, x[:, 0], rtol=1e-12)


def test_new_industry_plan_runs_and_null_shock_keeps_its_baseline():
    import stresstest as st
    from stresstest.plan import parse_plan

    eco = random_economy(3, 4, seed=2)
    res = st.run(eco, no_shock(eco, 5), parse_plan(NEW_LINE, "<new-line>"))
    np.testing.assert_allclose(res["x"].values, res["x_baseline"].values, rtol=1e-9)
    assert float(res["x_baseline"].sel(region="R1", sector="S2")) > float(
        eco["x"].sel(region="R1", sector="S2"))


def test_new_industry_bad_input():
    from stresstest.errors import PlanError
    from stresstest.plan import compile_plan, parse_plan

    eco = random_economy(3, 4, seed=2)
    with pytest.raises(PlanError, match="exceeds the output"):
        compile_plan(parse_plan(NEW_LINE.replace("0.2", "0.99"), "<p>"), eco)
    with pytest.raises(PlanError, match="one sector in one host region"):
        compile_plan(parse_plan(NEW_LINE.replace('region = "R1"', 'region = ["R1", "R0"]'),
                                "<p>"), eco)


def test_standby_of_a_resource_sector_only_where_the_region_has_it(china31):
    """No backup mine or farm without the deposit or the land: standby of coal, oil and gas,
    ores and agriculture is offered only where the region's location quotient is >= 1 (china31
    has no oil and gas output in Jiangxi, which the optimiser used to pick)."""
    from stresstest.errors import InputError
    from stresstest.site import RESOURCE_SECTORS, default_candidates

    x = china31["x"]
    lq = (x / x.sum("sector")) / (x.sum("region") / x.sum())
    cands = default_candidates(china31)
    standby = [dict(c.element) for c in cands if c.kind == "standby"]
    assert "standby oil_gas in Jiangxi" not in {c.label for c in cands}
    for e in standby:
        if e["sector"] in RESOURCE_SECTORS:
            assert float(lq.sel(region=e["region"], sector=e["sector"])) >= 1.0, e
    # manufacturing backups are offered in every inland region
    inland = int((~china31["coastal"].values.astype(bool)).sum())
    assert sum(e["sector"] == "electronics" for e in standby) == inland
    every = default_candidates(china31, resource_sectors=[])
    assert sum(c.kind == "standby" for c in every) > len(standby)
    with pytest.raises(InputError, match="unknown sector"):
        default_candidates(china31, resource_sectors=["unobtainium"])
