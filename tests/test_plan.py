"""Plan files: parsing, hand-checkable amounts, no_plan identity, library, descriptions."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from stresstest.compiled import no_plan, plan_is_empty, standby_availability, standby_by_day
from stresstest.economy import stack
from stresstest.errors import PlanError
from stresstest.plan import (builtin_plans, compile_plan, describe_plan, list_plans, load_plan,
                             parse_plan, stock_basis, validate_plan_file)
from stresstest.result import essential_baseline
from tests.test_selectors import chinalike

NAMED = {"none", "sichuan-chongqing-electronics", "central-grain-reserve",
         "western-energy-reserve", "three-tasks-balanced"}
HEAD = 'name = "p"\ndescription = "d"\n'


def plan(body: str) -> str:
    return HEAD + body


def test_none_file_is_no_plan_bit_identical(tiny):
    got = compile_plan("none", tiny)
    ref = no_plan(tiny)
    xr.testing.assert_identical(got.drop_attrs(), ref.drop_attrs())
    for v in ref.data_vars:
        assert got[v].dtype == ref[v].dtype
        assert got[v].values.tobytes() == ref[v].values.tobytes()
    assert got.attrs["annual_cost"] == 0.0 and json.loads(got.attrs["elements"]) == []


def test_zero_size_plan_is_empty(tiny):
    text = plan('[[standby]]\nregion = "R1"\nsector = "S0"\ncapacity_share = 0\nlead_time = 0\n'
                "ramp = 0\nannual_cost_share = 0.1\n"
                '[[stockpile]]\nproduct = "S0"\ndays_of_cover = 0\nannual_cost_share = 0.03\n'
                '[[substitution]]\nproducts = "all"\n'
                '[[corridor]]\nfrom = "R0"\nto = "R1"\nextra = 0\n')
    got = compile_plan(parse_plan(text), tiny)
    assert plan_is_empty(got) and got.attrs["annual_cost"] == 0.0
    ref = no_plan(tiny)
    for v in ref.data_vars:
        if "standby" not in ref[v].dims:
            assert got[v].values.tobytes() == ref[v].values.tobytes()
    assert np.all(standby_availability(got, tiny, np.arange(5)).values == 0.0)


def test_standby_capacity_share_split_by_output(tiny):
    text = plan('[[standby]]\nregion = ["R0", "R2"]\nsector = "S1"\ncapacity_share = 0.05\n'
                "lead_time = 10\nramp = 20\nannual_cost_share = 0.08\n")
    ds = compile_plan(parse_plan(text), tiny)
    x = tiny["x"].sel(sector="S1")
    national = float(x.sum())
    cap = ds["standby_capacity"].values
    assert list(ds["standby_region"].values) == ["R0", "R2"]
    assert list(ds["standby_sector"].values) == ["S1", "S1"]
    assert cap.sum() == pytest.approx(0.05 * national)
    w = x.sel(region=["R0", "R2"]).values
    assert np.allclose(cap, 0.05 * national * w / w.sum())
    assert np.allclose(ds["standby_cost"].values, 0.08 * cap)
    assert ds.attrs["annual_cost"] == pytest.approx(0.08 * 0.05 * national)
    av = standby_availability(ds, tiny, [9, 10, 20, 30, 40])
    assert np.allclose(av.sel(region="R0", sector="S1").values,
                       cap[0] * np.array([0, 0, 0.5, 1, 1]))
    by_day = standby_by_day(ds, tiny, [9, 10, 20, 30, 40])
    assert np.array_equal(by_day, av.stack(i=("region", "sector")).transpose("i", "time").values)
    assert np.array_equal(by_day.mean(axis=1), stack(av.mean("time")))


def test_standby_absolute_capacity_and_cost(tiny):
    text = plan('[[standby]]\nregion = "R1"\nsector = "S3"\ncapacity = 12.5\nlead_time = 0\n'
                "ramp = 0\nannual_cost = 2\n")
    ds = compile_plan(parse_plan(text), tiny)
    assert ds["standby_capacity"].values.tolist() == [12.5]
    assert ds["standby_cost"].values.tolist() == [2.0] and ds.attrs["annual_cost"] == 2.0
    bad = plan('[[standby]]\nregion = "R1"\nsector = "all"\ncapacity = 1\nlead_time = 0\n'
               "ramp = 0\nannual_cost = 2\n")
    with pytest.raises(PlanError, match=r"standby\[0\]\.sector: .*exactly one"):
        compile_plan(parse_plan(bad), tiny)


@pytest.mark.parametrize("basis", ["essential", "use", "imports"])
def test_stockpile_amount_national(tiny, basis):
    text = plan(f'[[stockpile]]\nproduct = "S0"\ndays_of_cover = 90\nbasis = "{basis}"\n'
                "max_release = 0.5\nannual_cost_share = 0.03\n")
    ds = compile_plan(parse_plan(text), tiny)
    b = stock_basis(tiny, basis)[:, 0].sum() / 365.0
    assert float(ds["stock_amount"].sel(holder="national", product="S0")) == pytest.approx(90 * b)
    assert float(ds["stock_max_release"].sel(holder="national", product="S0")) == \
        pytest.approx(0.5 * b)
    assert float(ds["stock_cost"].sum()) == pytest.approx(0.03 * 90 * b)
    assert float(ds["stock_amount"].sum()) == pytest.approx(90 * b)


def test_stock_basis_by_hand(tiny):
    eb = essential_baseline(tiny).sel(region="R1", product="S0")
    assert stock_basis(tiny, "essential")[1, 0] == pytest.approx(float(eb))
    fin = ~tiny["inventory"]
    imp = float(tiny["M"].sel(product="S2", region="R1").sum()
                + tiny["MY"].sel(product="S2", region="R1").where(fin, 0).sum())
    assert stock_basis(tiny, "imports")[1, 2] == pytest.approx(imp)
    use = imp + float(tiny["Z"].sel(product="S2", region="R1").sum()
                      + tiny["Y"].sel(product="S2", region="R1").where(fin, 0).sum())
    assert stock_basis(tiny, "use")[1, 2] == pytest.approx(use)


def test_stockpile_regional_holders_and_covers(tiny):
    own = plan('[[stockpile]]\nproduct = "S0"\nregion = ["R1", "R2"]\ndays_of_cover = 10\n'
               "annual_cost_share = 0.03\n")
    ds = compile_plan(parse_plan(own), tiny)
    b = stock_basis(tiny, "essential")[:, 0] / 365
    assert np.allclose(ds["stock_amount"].sel(product="S0").values, [0, 10 * b[1], 10 * b[2], 0])
    nat = own.replace("days_of_cover", 'covers = "national"\ndays_of_cover')
    ds = compile_plan(parse_plan(nat), tiny)
    amt = ds["stock_amount"].sel(product="S0").values
    assert amt.sum() == pytest.approx(10 * b.sum())
    assert amt[1] / amt[2] == pytest.approx(b[1] / b[2]) and amt[0] == 0 and amt[3] == 0


def test_substitution_max_and_corridor_add(tiny):
    text = plan('[[substitution]]\nproducts = ["S1", "S2"]\nheadroom = 0.3\nfriction = 0.1\n'
                '[[substitution]]\nproducts = "S2"\nheadroom = 0.1\nnew_links = 0.2\n'
                "imports = 0.4\nfriction = 0.05\n"
                '[[corridor]]\nfrom = "R0"\nto = ["R1", "R0"]\nextra = 0.2\n'
                '[[corridor]]\nfrom = "R0"\nto = "R1"\nextra = 0.1\nboth_ways = false\n'
                "annual_cost = 3\n")
    ds = compile_plan(parse_plan(text), tiny)
    assert ds["substitution_headroom"].values.tolist() == [0, 0.3, 0.3, 0]
    assert ds["substitution_new_links"].values.tolist() == [0, 0, 0.2, 0]
    assert ds["substitution_friction"].values.tolist() == [0, 0.1, 0.1, 0]
    assert ds["substitution_imports"].values.tolist() == [0, 0, 0.4, 0]
    c = ds["corridor_extra"].transpose("region_from", "region_to").values
    assert np.allclose(c, [[0, 0.3, 0], [0.2, 0, 0], [0, 0, 0]])
    assert ds.attrs["annual_cost"] == 3.0


def test_corridor_cost_share(tiny):
    from stresstest.plan import baseline_trade

    text = plan('[[corridor]]\nfrom = "R0"\nto = "R1"\nextra = 0.2\nannual_cost_share = 0.05\n')
    ds = compile_plan(parse_plan(text), tiny)
    t = baseline_trade(tiny)
    assert ds.attrs["annual_cost"] == pytest.approx(0.05 * 0.2 * (t[0, 1] + t[1, 0]))


def test_errors_name_file_element_field(tiny):
    with pytest.raises(PlanError, match=r"^p\.toml: standby\[0\]\.capacity_share: required"):
        parse_plan(plan('[[standby]]\nregion = "R1"\nsector = "S0"\nlead_time = 0\nramp = 0\n'
                        "annual_cost = 1\n"), "p.toml")
    with pytest.raises(PlanError, match=r"either capacity_share or capacity"):
        parse_plan(plan('[[standby]]\nregion = "R1"\nsector = "S0"\nlead_time = 0\nramp = 0\n'
                        "capacity = 1\ncapacity_share = 0.1\nannual_cost = 1\n"), "p.toml")
    with pytest.raises(PlanError, match=r"stockpile\[0\]\.basis: 'essentail'.*'essential'"):
        parse_plan(plan('[[stockpile]]\nproduct = "S0"\ndays_of_cover = 1\nbasis = "essentail"\n'
                        "annual_cost = 0\n"), "p.toml")
    with pytest.raises(PlanError, match=r"substitution\[0\]\.new_links: 1.5 is outside"):
        parse_plan(plan('[[substitution]]\nproducts = "S0"\nnew_links = 1.5\n'), "p.toml")
    with pytest.raises(PlanError, match=r"^p\.toml: standby\[0\]\.region: unknown region 'R7'"):
        compile_plan(parse_plan(plan('[[standby]]\nregion = "R7"\nsector = "S0"\n'
                                     "capacity_share = 0.1\nlead_time = 0\nramp = 0\n"
                                     "annual_cost = 1\n"), "p.toml"), tiny)
    with pytest.raises(PlanError, match=r"p\.toml: standbye: unknown field.*'standby'"):
        parse_plan(plan("[[standbye]]\nregion = 'R1'\n"), "p.toml")


def test_load_and_library(tmp_path):
    assert NAMED <= {p["name"] for p in list_plans()}
    with pytest.raises(PlanError, match="available: .*central-grain-reserve"):
        load_plan("central-grain")
    f = tmp_path / "q.toml"
    f.write_text(plan(""))
    with pytest.raises(PlanError, match="file name stem 'q'"):
        load_plan(f)


@pytest.mark.parametrize("name", sorted(NAMED))
def test_named_plans_compile_on_chinalike(name):
    eco = chinalike()
    ds = compile_plan(name, eco)
    p = load_plan(name)
    standby_sectors = set(ds["standby_sector"].values.tolist())
    covered = set(np.asarray(eco["sector"].values)[ds["substitution_headroom"].values > 0]
                  .astype(str))
    assert standby_sectors <= covered, "standby without substitution cannot be reached"
    assert ds.attrs["annual_cost"] >= 0
    text = describe_plan(p, eco)
    assert p.name in text and ("Total annual cost" in text)
    if name != "none":
        assert ds.attrs["annual_cost"] > 0 and not plan_is_empty(ds)


def test_named_plans_on_china31(china31):
    for name in sorted(NAMED):
        ds = compile_plan(name, china31)
        assert ds.sizes["holder"] == 32
        assert "Total annual cost" in describe_plan(name, china31)


def test_validate_plan_files():
    for name, path in builtin_plans().items():
        assert validate_plan_file(path).name == name


def test_describe_without_economy():
    text = describe_plan("sichuan-chongqing-electronics")
    assert "standby of 5.0% of national [electronics] output in [Sichuan, Chongqing]" in text
    assert "active after 30 days, full by day 90" in text
