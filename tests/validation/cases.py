"""Validation cases: observed outcomes of past disruptions, for comparison with the engine.

Pure data (no engine calls). Each case is a dict:

``id``
    unique name of the observed quantity.
``scenario``
    name of the shock scenario in ``shocks/`` that reproduces the event's direct inputs.
``window``
    ``(start, end)`` in scenario days, end exclusive, over which the modelled quantity is averaged.
    It may differ from the scenario file's own ``window`` (e.g. Q2 GDP on the April scenario).
``region``
    ``"national"``, one region label, a zone (``"east"``, ``"central"``, ``"west"``,
    ``"northeast"``) or a list of region labels (summed).
``measure``
    ``"va"`` (GDP / total value added), ``"x"`` (gross output), or ``"<va|x>:<group>"`` where
    ``<group>`` is a sector label (e.g. ``"x:transport_equipment"``) or one of the groups in
    ``SECTOR_GROUPS`` (NBS three-industry split and "industry").
``yoy``
    observed year-on-year growth as a fraction (-0.068 = -6.8%).
``trend``
    counterfactual growth used to turn the y/y figure into a shortfall (see ``shortfall``).
``shortfall``
    ``(1 + yoy) / (1 + trend) - 1``: the loss versus the no-shock trend, comparable with a model
    that has no trend growth (modelled shortfall = window-mean modelled value / baseline - 1).
``verified``
    True when the number was found in a source cited in ``source`` (possibly a secondary copy
    of an official release); False when it is from memory or derived from an unverified figure.
``source``
    publisher, title or date and URL (full list in docs/validation.md).
``tolerance_note``
    what limits the comparison (coverage, units, prices, inputs not encoded).

Cases never include quantities that were used as scenario inputs (catering and retail sales,
passenger traffic, port throughput, resumption rates).
"""

from __future__ import annotations

# NBS three-industry split mapped to the 42 china31 sectors (codes in docs/china31.md).
SECTOR_GROUPS = {
    "primary": ["agriculture"],
    # mining 02-05, manufacturing 06-23 (incl. repair), utilities 24-26; NBS "industry"
    "industry": ["coal", "oil_gas", "metal_ores", "nonmetal_ores", "food", "textiles", "apparel",
                 "timber_furniture", "paper_printing", "refined_petroleum", "chemicals",
                 "nonmetal_minerals", "metals", "metal_products", "general_machinery",
                 "special_machinery", "transport_equipment", "electrical_equipment",
                 "electronics", "instruments", "other_manufacturing", "repair", "electricity",
                 "gas", "water"],
    # industry + construction
    "secondary": None,  # filled below
    # services 28-42
    "tertiary": ["trade", "transport", "hospitality", "it_services", "finance", "real_estate",
                 "business_services", "research", "technical_services", "public_facilities",
                 "household_services", "education", "health", "culture",
                 "public_administration"],
}
SECTOR_GROUPS["secondary"] = SECTOR_GROUPS["industry"] + ["construction"]

# Counterfactual trend growth (y/y) used for the shortfall.
TREND_2020 = 0.060  # China GDP 2019 Q4 y/y (NBS, 17 Apr 2020; CNBC-TV18 / dpa-AFX)
TREND_2022 = 0.048  # China GDP 2022 Q1 y/y (NBS, 15 Jul 2022; Xinhua / People's Daily)

WINDOWS_2020 = {"jan-feb": (0, 60), "march": (60, 91), "q1": (0, 91)}
WINDOWS_2022 = {"april": (0, 30), "may": (30, 61), "q2": (0, 91)}


def shortfall(yoy: float, trend: float) -> float:
    """Loss versus trend implied by an observed y/y growth: ``(1 + yoy) / (1 + trend) - 1``."""
    return (1.0 + yoy) / (1.0 + trend) - 1.0


def _case(id, scenario, window, region, measure, yoy, trend, source, tolerance_note,
          verified=True):
    return {"id": id, "scenario": scenario, "window": tuple(window), "region": region,
            "measure": measure, "yoy": yoy, "trend": trend,
            "shortfall": round(shortfall(yoy, trend), 4), "verified": verified,
            "source": source, "tolerance_note": tolerance_note}


H20 = "hubei-lockdown-2020q1"
S22 = "shanghai-lockdown-2022"
Q1 = WINDOWS_2020["q1"]
JF = WINDOWS_2020["jan-feb"]
MAR = WINDOWS_2020["march"]
APR = WINDOWS_2022["april"]
MAY = WINDOWS_2022["may"]
Q2 = WINDOWS_2022["q2"]

SRC_NBS_Q1_2020 = ("NBS preliminary Q1 2020 GDP, 17 Apr 2020, via China Internet Watch "
                   "https://www.chinainternetwatch.com/30465/gdp-q1-2020/")
SRC_NBS_IVA_JF_2020 = ("NBS industrial production Jan-Feb 2020, 16 Mar 2020, via Guancha "
                       "https://observersnews.com/economy/2020_03_16_541906.shtml")
SRC_HUBEI_Q1_2020 = ("Hubei Provincial Bureau of Statistics, 21 Apr 2020, via Xinhua / "
                     "tellerreport https://www.tellerreport.com/business/2020-04-22-in-hubei-province"
                     "--gdp-fell-by-nearly-40%25-year-on-year-in-the-first-quarter--what-should-we-say-"
                     ".SJze1uS0OU.html and Global Times https://www.globaltimes.cn/content/1186344.shtml")
SRC_PROV_Q1_2020 = ("China News Service, 29 Apr 2020, via tellerreport https://www.tellerreport.com/"
                    "business/2020-04-29-china-s-economic-war-%22epidemic%22-record--gdp-data-of-31-"
                    "provinces-in-the-first-quarter-revealed-that-all-regions-withstood-the-pressure-"
                    "and-rebounded.Hkxuw8WDYL.html")
SRC_NBS_APR_2022 = ("NBS industrial production April 2022, 16 May 2022, via mirror "
                    "http://kbm75.com/xw/tjsj/1290412.html and China Economic Net "
                    "http://www.chinaautotrends.com/chanyeMes.aspx?c=7&id=7130&t=7")

PROVINCE_NOTE = ("trend = national 2019 Q4 growth (6.0%); the province's own 2019 growth would be "
                 "better (not collected); china31 provincial VA differs from official GDP "
                 "(docs/china31.md)")

CASES = [
    # ------------------------------------------------------------------ 2020 Q1, national
    _case("cn-gdp-2020q1", H20, Q1, "national", "va", -0.068, TREND_2020, SRC_NBS_Q1_2020,
          "real GDP y/y; demand-side falls (exports, investment, goods consumption) are only "
          "partly encoded, so a supply-driven model should fall short of the loss"),
    _case("cn-primary-2020q1", H20, Q1, "national", "va:primary", -0.032, TREND_2020,
          SRC_NBS_Q1_2020, "no agricultural input is encoded; livestock and transport frictions "
          "are not in the scenario"),
    _case("cn-secondary-2020q1", H20, Q1, "national", "va:secondary", -0.096, TREND_2020,
          SRC_NBS_Q1_2020, "industry + construction"),
    _case("cn-tertiary-2020q1", H20, Q1, "national", "va:tertiary", -0.052, TREND_2020,
          SRC_NBS_Q1_2020, "includes finance, IT and public services that are not shocked; "
          "consumer services are inputs (demand events)"),
    _case("cn-iva-2020m1m2", H20, JF, "national", "va:industry", -0.135, TREND_2020,
          SRC_NBS_IVA_JF_2020, "value added of industrial firms above designated size (revenue "
          ">= 20 m yuan), not all industry; industrial trend growth differs from GDP trend; "
          "normal Spring Festival dip in both years"),
    _case("cn-iva-2020m3", H20, MAR, "national", "va:industry", -0.011, TREND_2020,
          SRC_NBS_Q1_2020, "above designated size; March alone"),
    _case("cn-iva-2020q1", H20, Q1, "national", "va:industry", -0.084, TREND_2020,
          SRC_NBS_Q1_2020, "above designated size"),
    _case("east-iva-2020m1m2", H20, JF, "east", "va:industry", -0.169, TREND_2020,
          SRC_NBS_IVA_JF_2020, "NBS zone east (10 provinces), above designated size"),
    _case("central-iva-2020m1m2", H20, JF, "central", "va:industry", -0.167, TREND_2020,
          SRC_NBS_IVA_JF_2020, "zone central (6 provinces incl. Hubei), above designated size"),
    _case("west-iva-2020m1m2", H20, JF, "west", "va:industry", -0.076, TREND_2020,
          SRC_NBS_IVA_JF_2020, "zone west (12 provinces); several resumed on 3 Feb, which the "
          "scenario does not distinguish (it uses one profile outside Hubei)"),
    _case("northeast-iva-2020m1m2", H20, JF, "northeast", "va:industry", -0.115, TREND_2020,
          SRC_NBS_IVA_JF_2020, "zone northeast (3 provinces), above designated size"),
    _case("cn-autos-units-2020m1m2", H20, JF, "national", "x:transport_equipment", -0.458,
          TREND_2020, SRC_NBS_IVA_JF_2020, "vehicle units (2.005 m), not the value of the whole "
          "transport-equipment sector (rail, ships, aircraft, parts inside it); car demand fall "
          "not encoded"),
    _case("cn-autos-va-2020m1m2", H20, JF, "national", "va:transport_equipment", -0.318,
          TREND_2020, SRC_NBS_IVA_JF_2020, "value added of automobile manufacturing above "
          "designated size (rail/ship/aerospace: -28.2%)"),
    # ------------------------------------------------------------------ 2020 Q1, Hubei
    _case("hubei-gdp-2020q1", H20, Q1, "Hubei", "va", -0.392, TREND_2020, SRC_HUBEI_Q1_2020,
          PROVINCE_NOTE),
    _case("hubei-primary-2020q1", H20, Q1, "Hubei", "va:primary", -0.253, TREND_2020,
          SRC_HUBEI_Q1_2020, "agriculture is not shocked in the scenario; its fall is indirect "
          "(inputs, sales) or not represented"),
    _case("hubei-secondary-2020q1", H20, Q1, "Hubei", "va:secondary", -0.482, TREND_2020,
          SRC_HUBEI_Q1_2020, PROVINCE_NOTE),
    _case("hubei-tertiary-2020q1", H20, Q1, "Hubei", "va:tertiary", -0.333, TREND_2020,
          SRC_HUBEI_Q1_2020, "only consumer services are shocked in Hubei; finance, public "
          "administration etc. are not"),
    _case("hubei-iva-2020q1", H20, Q1, "Hubei", "va:industry", -0.458, TREND_2020,
          "Hubei statistics bureau via Global Times, 21 Apr 2020 "
          "https://www.globaltimes.cn/content/1186344.shtml", "above designated size"),
    # ------------------------------------------------------------------ 2020 Q1, other provinces
    _case("guangdong-gdp-2020q1", H20, Q1, "Guangdong", "va", -0.067, TREND_2020,
          "Guangdong Statistics Bureau Q1 2020 release (copy) http://ladyspots.com/zwgk/sjfb/sjkx/"
          "content/post_2980769.html; also https://h5.cyyz.com/article/detail/1092", PROVINCE_NOTE),
    _case("guangdong-secondary-2020q1", H20, Q1, "Guangdong", "va:secondary", -0.141,
          TREND_2020, "Guangdong Statistics Bureau (copy), as above", PROVINCE_NOTE),
    _case("guangdong-tertiary-2020q1", H20, Q1, "Guangdong", "va:tertiary", -0.015, TREND_2020,
          "Guangdong Statistics Bureau (copy), as above", PROVINCE_NOTE),
    _case("jiangsu-gdp-2020q1", H20, Q1, "Jiangsu", "va", -0.050, TREND_2020,
          "UNVERIFIED (from memory; only the level 2,100.28 bn yuan was found: askci "
          "https://s.askci.com/news/hongguan/20200428/0921081159738.shtml)", PROVINCE_NOTE,
          verified=False),
    _case("zhejiang-gdp-2020q1", H20, Q1, "Zhejiang", "va", -0.056, TREND_2020,
          "China Daily (Huzhou), 6 May 2020 http://regional.chinadaily.com.cn/huzhou/2020-05/06/"
          "c_485614.htm", PROVINCE_NOTE),
    _case("shandong-gdp-2020q1", H20, Q1, "Shandong", "va", -0.058, TREND_2020,
          "DERIVED: 2021 Q1 +18.0% y/y and +11.1% vs 2019 Q1 => 1.111/1.18 - 1 (China Daily "
          "Shandong, 22 Apr 2021 http://shandong.chinadaily.com.cn/2021-04/22/c_613310.htm)",
          PROVINCE_NOTE + "; derived from revised data"),
    _case("henan-gdp-2020q1", H20, Q1, "Henan", "va", -0.067, TREND_2020,
          "Henan H1 2020 plan implementation report, dahe.cn 29 Jul 2020 "
          "https://dhh.dahe.cn/con/211625", PROVINCE_NOTE),
    _case("sichuan-gdp-2020q1", H20, Q1, "Sichuan", "va", -0.030, TREND_2020,
          "Sichuan provincial press conference 20 Apr 2020, via ifeng "
          "https://ishare.ifeng.com/c/s/v002pNGJOO4PtsWx7OwOD3T8R5jlQ9J8uMAXGwMhIeblzJg__",
          PROVINCE_NOTE),
    _case("beijing-gdp-2020q1", H20, Q1, "Beijing", "va", -0.066, TREND_2020,
          "Global Times https://globaltimes.cn/content/1187315.shtml", PROVINCE_NOTE),
    _case("shanghai-gdp-2020q1", H20, Q1, "Shanghai", "va", -0.067, TREND_2020,
          "Global Times https://globaltimes.cn/content/1187315.shtml", PROVINCE_NOTE),
    _case("tianjin-gdp-2020q1", H20, Q1, "Tianjin", "va", -0.095, TREND_2020, SRC_PROV_Q1_2020,
          PROVINCE_NOTE),
    _case("heilongjiang-gdp-2020q1", H20, Q1, "Heilongjiang", "va", -0.083, TREND_2020,
          SRC_PROV_Q1_2020, PROVINCE_NOTE),
    _case("liaoning-gdp-2020q1", H20, Q1, "Liaoning", "va", -0.077, TREND_2020,
          "askci (China Commercial Industry Research Institute), 28 Apr 2020 "
          "https://s.askci.com/news/hongguan/20200428/0921081159738.shtml", PROVINCE_NOTE),
    _case("hunan-gdp-2020q1", H20, Q1, "Hunan", "va", -0.019, TREND_2020, SRC_PROV_Q1_2020,
          PROVINCE_NOTE),
    _case("guizhou-gdp-2020q1", H20, Q1, "Guizhou", "va", -0.019, TREND_2020, SRC_PROV_Q1_2020,
          PROVINCE_NOTE),
    _case("jiangxi-gdp-2020q1", H20, Q1, "Jiangxi", "va", -0.038, TREND_2020,
          "Jiangxi Provincial Bureau of Statistics via China News Service, 21 Apr 2020 "
          "https://www.tellerreport.com/business/2020-04-21-the-economic-operation-of-jiangxi-in-"
          "the-first-quarter--industrial-production-resumed-to-accelerate-the-growth-of-foreign-"
          "trade-against-the-trend.r1fZi4I2O8.html", PROVINCE_NOTE),
    _case("xinjiang-gdp-2020q1", H20, Q1, "Xinjiang", "va", -0.002, TREND_2020,
          SRC_PROV_Q1_2020, PROVINCE_NOTE),
    _case("tibet-gdp-2020q1", H20, Q1, "Tibet", "va", 0.010, TREND_2020, SRC_PROV_Q1_2020,
          PROVINCE_NOTE + "; Tibet's trend growth is well above the national one"),
    # ------------------------------------------------------------------ 2022, Shanghai
    _case("shanghai-industry-output-2022m4", S22, APR, "Shanghai", "x:industry", -0.615,
          TREND_2022, "Shanghai Municipal Bureau of Statistics, 20 May 2022, via CNA "
          "https://cna.com.tw/news/acn/202205200110.aspx and Reuters (Daily Mail wire) "
          "https://www.dailymail.co.uk/wires/reuters/article-10836047/Shanghai-April-industrial-"
          "output-plunges-61-5-y-y--local-stats-bureau.html",
          "gross output value of firms above designated size, at current prices (1,286.17 "
          "100-million yuan); trend = national Q1 2022 GDP growth (Shanghai's own Q1 was already "
          "hit in March)"),
    _case("shanghai-autos-output-2022m4", S22, APR, "Shanghai", "x:transport_equipment",
          -0.709, TREND_2022, "Shanghai statistics bureau via CNA, as above",
          "automobile manufacturing only; 'railway, ship, aerospace and other transport "
          "equipment' fell 88.9% in the same release; current prices"),
    _case("shanghai-iva-2022m5", S22, MAY, "Shanghai", "va:industry", -0.309, TREND_2022,
          "Shanghai statistics bureau via Eastday (secondary copy) "
          "http://lvyou.cjsjw.cn/zixun/54683.html",
          "above designated size; secondary copy of the official figure"),
    _case("shanghai-gdp-2022q2", S22, Q2, "Shanghai", "va", -0.137, TREND_2022,
          "NBS provincial data, 15 Jul 2022, via Reuters (Business Recorder) "
          "https://www.brecorder.com/news/40186085/shanghai-economy-contracts-137-in-second-quarter",
          "window is Q2 = days 0-90, not the scenario's April window; June recovery (industrial "
          "output +15.8%) depends on the recovery assumptions"),
    # ------------------------------------------------------------------ 2022, national / regions
    _case("cn-autos-units-2022m4", S22, APR, "national", "x:transport_equipment", -0.435,
          TREND_2022, SRC_NBS_APR_2022, "vehicle units (1.282 m); NEVs +42.2% inside it; Jilin "
          "(FAW) is only a context event and other cities' curbs are not encoded; car demand "
          "fall (auto retail -31.6%) not encoded"),
    _case("cn-autos-va-2022m4", S22, APR, "national", "va:transport_equipment", -0.318,
          TREND_2022, SRC_NBS_APR_2022, "value added of automobile manufacturing (above "
          "designated size); rail/ship/aerospace -6.0%"),
    _case("cn-autos-units-2022m5", S22, MAY, "national", "x:transport_equipment", -0.048,
          TREND_2022, "NBS industrial production May 2022 (mirror) "
          "http://www.manchestergamesfestival.com/news/detail/7655.html", "vehicle units (1.993 m)"),
    _case("cn-iva-2022m4", S22, APR, "national", "va:industry", -0.029, TREND_2022,
          SRC_NBS_APR_2022, "above designated size; other outbreaks (Jilin, Kunshan/Suzhou, "
          "Beijing, Shenzhen) and weak demand are mostly not encoded; the scenario's trend "
          "reference (4.8%) is GDP, industrial Q1 2022 growth was 6.5%"),
    _case("cn-iva-2022m5", S22, MAY, "national", "va:industry", 0.007, TREND_2022,
          "NBS May 2022 (mirror) http://www.manchestergamesfestival.com/news/detail/7655.html",
          "above designated size"),
    _case("yrd-iva-2022m4", S22, APR, ["Shanghai", "Jiangsu", "Zhejiang", "Anhui"],
          "va:industry", -0.141, TREND_2022, SRC_NBS_APR_2022,
          "Yangtze River Delta as NBS reports it (assumed = these four provinces); Kunshan and "
          "Suzhou factory halts not encoded"),
    _case("northeast-iva-2022m4", S22, APR, "northeast", "va:industry", -0.169, TREND_2022,
          SRC_NBS_APR_2022, "Jilin (Changchun) lockdown is encoded only for transport "
          "equipment; expect the model to miss most of this"),
    _case("cn-gdp-2022q2", S22, Q2, "national", "va", 0.004, TREND_2022,
          "NBS, 15 Jul 2022, via Xinhua / People's Daily "
          "http://en.people.cn/n3/2022/0715/c90000-10123766.html",
          "Q2 window; includes curbs elsewhere and the property slump, not encoded"),
    _case("jiangsu-gdp-2022q2", S22, Q2, "Jiangsu", "va", -0.011, TREND_2022,
          "NBS via Reuters (yuantalks) https://www.yuantalks.com/shanghais-economy-contracted-"
          "13-7-on-year-in-q2/", "Jiangsu's own outbreaks (Suzhou, Kunshan) not encoded"),
]

_ids = [c["id"] for c in CASES]
assert len(_ids) == len(set(_ids)), "duplicate case id"
