"""Selectors: labels, names, codes, groups, exclusions, errors with suggestions."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stresstest.economy import make_economy
from stresstest.errors import InputError, PlanError, ScenarioError
from stresstest.selectors import (normalize, select_products, select_regions, select_sectors,
                                  select_uses)
from stresstest.testing import random_economy

REGIONS = ("Beijing Tianjin Hebei Shanxi InnerMongolia Liaoning Jilin Heilongjiang Shanghai "
           "Jiangsu Zhejiang Anhui Fujian Jiangxi Shandong Henan Hubei Hunan Guangdong Guangxi "
           "Hainan Chongqing Sichuan Guizhou Yunnan Tibet Shaanxi Gansu Qinghai Ningxia "
           "Xinjiang").split()
REGIONS_ZH = ("北京 天津 河北 山西 内蒙古 辽宁 吉林 黑龙江 上海 江苏 浙江 安徽 福建 江西 山东 河南 "
              "湖北 湖南 广东 广西 海南 重庆 四川 贵州 云南 西藏 陕西 甘肃 青海 宁夏 新疆").split()
CODES = ("11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 "
         "63 64 65").split()
COASTAL = {"Tianjin", "Hebei", "Liaoning", "Shanghai", "Jiangsu", "Zhejiang", "Fujian",
           "Shandong", "Guangdong", "Guangxi", "Hainan"}
ZONES = {"northeast": {"Liaoning", "Jilin", "Heilongjiang"},
         "central": {"Shanxi", "Anhui", "Jiangxi", "Henan", "Hubei", "Hunan"},
         "west": {"InnerMongolia", "Guangxi", "Chongqing", "Sichuan", "Guizhou", "Yunnan",
                  "Tibet", "Shaanxi", "Gansu", "Qinghai", "Ningxia", "Xinjiang"}}
SECTORS = ("agriculture coal oil_gas metal_ores nonmetal_ores food textiles apparel "
           "timber_furniture paper_printing refined_petroleum chemicals nonmetal_minerals metals "
           "metal_products general_machinery special_machinery transport_equipment "
           "electrical_equipment electronics instruments other_manufacturing repair electricity "
           "gas water construction trade transport hospitality it_services finance real_estate "
           "business_services research technical_services public_facilities household_services "
           "education health culture public_administration").split()
CRITICAL = {"agriculture", "food", "oil_gas", "refined_petroleum", "coal", "chemicals",
            "electricity", "electronics", "health"}
USES = ("rural_households", "urban_households", "government", "fixed_capital", "inventory")


@functools.lru_cache(maxsize=4)
def chinalike(seed: int = 0):
    """A random balanced economy with china31's labels and kinds of coordinates (31 x 42)."""
    base = random_economy(31, 42, seed=seed)
    Y = base["Y"].transpose("origin", "product", "region", "use").values
    MY = base["MY"].transpose("product", "region", "use").values

    def five(a):  # households, government, investment, inventory -> china31's five uses
        return np.concatenate([0.3 * a[..., :1], 0.7 * a[..., :1], a[..., 1:]], axis=-1)

    S = len(SECTORS)
    tradable = np.arange(S) < 22
    names = [s.replace("_", " ").capitalize() for s in SECTORS]
    names[19] = "Manufacture of communication equipment, computers and other electronic equipment"
    return make_economy(
        base["Z"].transpose("origin", "product", "region", "sector").values, five(Y),
        base["exports"].values, base["M"].transpose("product", "region", "sector").values,
        five(MY), base["V"].transpose("component", "region", "sector").values,
        x=base["x"].values, regions=REGIONS, sectors=SECTORS, uses=USES,
        components=list(map(str, base["component"].values)), units="100 million yuan",
        region_coords={"region_name_zh": REGIONS_ZH, "region_code": CODES,
                       "zone": [next((z for z, m in ZONES.items() if r in m), "east")
                                for r in REGIONS],
                       "coastal": np.array([r in COASTAL for r in REGIONS]),
                       "lon": np.linspace(80, 125, 31), "lat": np.linspace(20, 50, 31)},
        sector_coords={"sector_code": [f"{i + 1:02d}" for i in range(S)], "sector_name": names,
                       "sector_name_zh": [f"部门{i + 1}" for i in range(S)],
                       "tradable": tradable,
                       "critical": np.array([s in CRITICAL for s in SECTORS]),
                       "essential_share": np.where([s in CRITICAL for s in SECTORS], 0.6, 0.0)},
        consumption_uses=USES[:3], inventory_uses=("inventory",),
        signed_components=("net_taxes",),
        import_route_share=base["import_route_share"].values, validate=True)


@pytest.fixture(scope="module")
def eco():
    return chinalike()


def test_labels_case_and_separators(eco):
    assert select_regions(eco, "Inner Mongolia") == ["InnerMongolia"]
    assert select_regions(eco, "inner-mongolia") == ["InnerMongolia"]
    assert select_regions(eco, "GUANGDONG") == ["Guangdong"]
    assert select_sectors(eco, "Oil Gas") == ["oil_gas"]
    assert select_sectors(eco, "oil-gas") == ["oil_gas"]


def test_names_and_codes(eco):
    assert select_regions(eco, "四川") == ["Sichuan"]
    assert select_regions(eco, "51") == ["Sichuan"]
    assert select_sectors(eco, "20") == ["electronics"]
    assert select_sectors(eco, "部门1") == ["agriculture"]
    full = "Manufacture of communication equipment, computers and other electronic equipment"
    assert select_sectors(eco, full) == ["electronics"]  # commas inside a full name


def test_groups(eco):
    assert select_regions(eco, "coastal") == [r for r in REGIONS if r in COASTAL]
    assert select_regions(eco, "inland") == [r for r in REGIONS if r not in COASTAL]
    assert select_regions(eco, "northeast") == ["Liaoning", "Jilin", "Heilongjiang"]
    assert len(select_regions(eco, "all")) == 31
    assert select_sectors(eco, "critical") == [s for s in SECTORS if s in CRITICAL]
    assert select_sectors(eco, "tradable") == SECTORS[:22]
    assert select_sectors(eco, "nontradable") == SECTORS[22:]
    assert select_uses(eco, "consumption") == list(USES[:3])
    assert select_uses(eco, ["fixed_capital"]) == ["fixed_capital"]


def test_order_duplicates_exclusions(eco):
    assert select_regions(eco, ["Sichuan", "Beijing", "beijing", "11"]) == ["Beijing", "Sichuan"]
    coastal = [r for r in REGIONS if r in COASTAL]
    assert select_regions(eco, ["coastal", "-Hainan"]) == [r for r in coastal if r != "Hainan"]
    assert select_regions(eco, "coastal, !Hainan, !Guangxi") == [
        r for r in coastal if r not in ("Hainan", "Guangxi")]
    assert select_regions(eco, ["-Tibet"]) == [r for r in REGIONS if r != "Tibet"]
    assert select_sectors(eco, ["critical", "-electronics", "trade"]) == [
        s for s in SECTORS if (s in CRITICAL and s != "electronics") or s == "trade"]


def test_unknown_suggests_and_names_where(eco):
    with pytest.raises(ScenarioError) as e:
        select_regions(eco, "Sichaun", where="shocks/x.toml: events[0].regions")
    msg = str(e.value)
    assert msg.startswith("shocks/x.toml: events[0].regions: unknown region 'Sichaun'")
    assert "Sichuan" in msg
    with pytest.raises(PlanError) as e:
        select_sectors(eco, ["electronic"], where="p.toml: standby[1].sector", error=PlanError)
    assert "'electronics'" in str(e.value) and "p.toml: standby[1].sector" in str(e.value)
    with pytest.raises(ScenarioError, match="unknown use 'households'"):
        select_uses(eco, "households", where="w")
    with pytest.raises(ScenarioError, match="unknown product"):
        select_products(eco, "chips", where="w")


def test_empty_and_wrong_type(eco):
    with pytest.raises(ScenarioError, match="selects no region"):
        select_regions(eco, ["coastal", "-coastal"], where="w")
    with pytest.raises(ScenarioError):
        select_regions(eco, 3, where="w")
    with pytest.raises(ScenarioError):
        select_regions(eco, [], where="w")
    assert issubclass(ScenarioError, InputError)


def test_random_economy_groups(tiny):
    assert select_regions(tiny, "coastal") == ["R0", "R2"]
    assert select_regions(tiny, "inland") == ["R1"]
    assert select_regions(tiny, "east") == ["R0"]
    assert select_sectors(tiny, "critical") == ["S0"]
    with pytest.raises(ScenarioError, match="selects no sector"):
        select_sectors(tiny, "nontradable", where="w")


def test_normalize():
    assert normalize(" Inner-Mongolia_ ") == "innermongolia"


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(REGIONS + ["coastal", "inland", "west", "all"]), min_size=1,
                max_size=6),
       st.lists(st.sampled_from(REGIONS), max_size=3))
def test_selection_is_set_algebra(include, exclude):
    eco = chinalike()
    spec = include + ["-" + r for r in exclude]
    want = set()
    for item in include:
        want |= set(select_regions(eco, item))
    want -= set(exclude)
    if not want:
        with pytest.raises(ScenarioError):
            select_regions(eco, spec)
        return
    got = select_regions(eco, spec)
    assert got == [r for r in REGIONS if r in want]


def test_tables_are_cached_per_economy_object(eco):
    """The selector tables are built once per economy object (``economy_cache``): a second
    call reuses them, and a copy with other labels has its own."""
    from stresstest.economy import economy_cache

    select_regions(eco, "coastal")
    tables = economy_cache(eco)
    assert "selectors:region" in tables
    hit = tables["selectors:region"]
    assert select_regions(eco, ["Tianjin", "-Tianjin", "Sichuan"]) == ["Sichuan"]
    assert economy_cache(eco)["selectors:region"] is hit
    renamed = eco.assign_coords(region=[f"P{i}" for i in range(eco.sizes["region"])])
    assert economy_cache(renamed) is not tables
    assert select_regions(renamed, "P3") == ["P3"]
    with pytest.raises(ScenarioError, match="unknown region 'P3'"):
        select_regions(eco, "P3")
