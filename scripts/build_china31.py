"""Build the default economy ``china31`` (31 provinces x 42 sectors, 2017, 1e8 yuan).

Reads the official statistics in ``../shared/data/china2017/`` (relative to the repository
root; ``--source`` overrides) and writes ``data/china31.nc`` with
:func:`stresstest.save_economy`. Method, parameters and sources: ``docs/china31.md``.

    python scripts/build_china31.py [--source DIR] [--output FILE] [--gamma G]
                                    [--home-share H] [--internal-factor F] [--fit]

The gravity parameters default to the calibrated values :data:`FITTED`; ``--fit`` redoes the
calibration (targets :data:`TARGETS`, objective :func:`objective`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from stresstest.economy import make_economy, save_economy
from stresstest.recipe_data import attach_recipe
from stresstest.errors import InputError, StresstestError
from stresstest.regionalize import (interprovincial_trade, ipf, reweight_trade, supply_pool,
                                    trade_summary)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "china2017"
DEFAULT_OUTPUT = ROOT / "data" / "china31.nc"

UNIT_FACTOR = 1e-4  # national table: 10,000 yuan -> 1e8 yuan

FILES = {
    "national": "china_2017_42.csv",
    "output": "provincial_gross_output_2017_42x31.csv",
    "macro": "provincial_macro_accounts_1997_2017_long.csv",
    "expenditure": "reslt_expd.csv",
    "provinces": "provinces_31_summary_2017.csv",
    "sectors": "sector_names_42_nbs2017.csv",
}

SECTORS = (
    "agriculture coal oil_gas metal_ores nonmetal_ores food textiles apparel timber_furniture "
    "paper_printing refined_petroleum chemicals nonmetal_minerals metals metal_products "
    "general_machinery special_machinery transport_equipment electrical_equipment electronics "
    "instruments other_manufacturing repair electricity gas water construction trade transport "
    "hospitality it_services finance real_estate business_services research technical_services "
    "public_facilities household_services education health culture public_administration"
).split()

REGION_CODE = {
    "Beijing": "11", "Tianjin": "12", "Hebei": "13", "Shanxi": "14", "InnerMongolia": "15",
    "Liaoning": "21", "Jilin": "22", "Heilongjiang": "23", "Shanghai": "31", "Jiangsu": "32",
    "Zhejiang": "33", "Anhui": "34", "Fujian": "35", "Jiangxi": "36", "Shandong": "37",
    "Henan": "41", "Hubei": "42", "Hunan": "43", "Guangdong": "44", "Guangxi": "45",
    "Hainan": "46", "Chongqing": "50", "Sichuan": "51", "Guizhou": "52", "Yunnan": "53",
    "Tibet": "54", "Shaanxi": "61", "Gansu": "62", "Qinghai": "63", "Ningxia": "64",
    "Xinjiang": "65",
}
#: Land area of each province (km^2) as reported by the national or provincial governments,
#: from Wikipedia, "List of Chinese administrative divisions by area" (checked for issue 15;
#: docs/china31.md). Used for the internal distance only, and stored as the region coordinate
#: ``area_km2`` so that :func:`stresstest.regionalize.reweight_trade` can redo the trade.
AREA_KM2 = {
    "Beijing": 16411, "Tianjin": 11917, "Hebei": 188800, "Shanxi": 156700,
    "InnerMongolia": 1183000, "Liaoning": 148400, "Jilin": 187400, "Heilongjiang": 454800,
    "Shanghai": 6340.5, "Jiangsu": 102600, "Zhejiang": 101800, "Anhui": 139400,
    "Fujian": 123900, "Jiangxi": 166900, "Shandong": 157100, "Henan": 167000,
    "Hubei": 185900, "Hunan": 211800, "Guangdong": 179700, "Guangxi": 237600,
    "Hainan": 35354, "Chongqing": 82400, "Sichuan": 486100, "Guizhou": 176200,
    "Yunnan": 394100, "Tibet": 1228400, "Shaanxi": 205800, "Gansu": 425800,
    "Qinghai": 722300, "Ningxia": 66400, "Xinjiang": 1664900,
}
ZONE = {
    **dict.fromkeys("Beijing Tianjin Hebei Shanghai Jiangsu Zhejiang Fujian Shandong Guangdong "
                    "Hainan".split(), "east"),
    **dict.fromkeys("Shanxi Anhui Jiangxi Henan Hubei Hunan".split(), "central"),
    **dict.fromkeys("InnerMongolia Guangxi Chongqing Sichuan Guizhou Yunnan Tibet Shaanxi Gansu "
                    "Qinghai Ningxia Xinjiang".split(), "west"),
    **dict.fromkeys("Liaoning Jilin Heilongjiang".split(), "northeast"),
}
COASTAL = set("Liaoning Hebei Tianjin Shandong Jiangsu Shanghai Zhejiang Fujian Guangdong "
              "Guangxi Hainan".split())

#: Share of households' + government final use counted essential (docs/china31.md, section 5).
ESSENTIAL_SHARE = {
    "agriculture": 0.7, "food": 0.6, "coal": 0.9, "oil_gas": 1.0, "refined_petroleum": 0.5,
    "chemicals": 0.5, "electronics": 0.3, "electricity": 0.9, "gas": 0.9, "water": 1.0,
    "health": 0.8,
}
#: (sea, land, air) share of foreign supply by route (docs/china31.md, section 6).
_SERVICE_ROUTE = (0.0, 0.5, 0.5)
IMPORT_ROUTE = {
    "agriculture": (0.93, 0.06, 0.01), "coal": (0.80, 0.20, 0.0), "oil_gas": (0.86, 0.14, 0.0),
    "metal_ores": (0.93, 0.07, 0.0), "nonmetal_ores": (0.90, 0.10, 0.0),
    "food": (0.85, 0.10, 0.05), "textiles": (0.80, 0.10, 0.10), "apparel": (0.70, 0.10, 0.20),
    "timber_furniture": (0.75, 0.25, 0.0), "paper_printing": (0.90, 0.05, 0.05),
    "refined_petroleum": (0.90, 0.10, 0.0), "chemicals": (0.75, 0.05, 0.20),
    "nonmetal_minerals": (0.85, 0.05, 0.10), "metals": (0.75, 0.10, 0.15),
    "metal_products": (0.80, 0.10, 0.10), "general_machinery": (0.70, 0.10, 0.20),
    "special_machinery": (0.65, 0.10, 0.25), "transport_equipment": (0.60, 0.10, 0.30),
    "electrical_equipment": (0.60, 0.10, 0.30), "electronics": (0.25, 0.15, 0.60),
    "instruments": (0.30, 0.10, 0.60), "other_manufacturing": (0.60, 0.10, 0.30),
    "repair": (0.50, 0.20, 0.30), "electricity": (0.0, 1.0, 0.0), "gas": (0.0, 1.0, 0.0),
    "water": (0.0, 1.0, 0.0), "construction": (0.0, 1.0, 0.0), "trade": (0.0, 0.5, 0.5),
    "transport": (0.50, 0.10, 0.40), "hospitality": (0.0, 0.2, 0.8),
}
USES = ("rural_households", "urban_households", "government", "fixed_capital", "inventory")
EXPENDITURE_ITEM = {"rural_households": "hsh_rural", "urban_households": "hsh_urban",
                    "government": "gov", "fixed_capital": "fixed_capital",
                    "inventory": "inventory"}
COMPONENTS = ("compensation", "net_taxes", "depreciation", "operating_surplus")
VA_ROWS = ("VA001", "VA002", "VA003", "VA004")
N_TRADABLE = 23  # goods 01..23 are tradable

# --------------------------------------------------------------------------- calibration
# Interprovincial trade is calibrated (docs/china31.md, "Calibration") to published magnitudes:
# the distance elasticity gamma, the home share of non-tradables and the internal distance
# factor minimise
#     J = sum_k ((ln built_k - ln target_k) / sigma_k)^2
#         + (ln gamma / ln 3)^2 + ((factor - 2/3) / 0.25)^2 + ((home_share - 0.9) / 0.1)^2
# (log deviations from the targets in units of their stated tolerance sigma_k, plus weak priors
# at reference values: gamma 1 within a factor 3, Head & Mayer's 2/3, the old default 0.9).

#: Source of the 2017 value-added decomposition target.
LU_2022 = ("Lu Jiangyuan (陆江源) 2022, 地方参与国内国际循环水平测度研究, "
           "当代经济管理 2022(5):8-13, 2017 interregional IO table of 31 provinces x 42 sectors")
#: Source of the 2007 trade magnitudes.
IO_2007 = ("study of China's interprovincial trade 1987-2007 from the 30 provincial IO tables "
           "(abstract: interprovincial trade 2x international trade in 2007, dependence 3x)")
TARGET_YEAR_2007 = "2007"
#: Targets: key of :func:`stresstest.regionalize.trade_summary` -> (value or None when derived
#: from the sources, tolerance sigma (log), source). The 2007 values are derived in
#: :func:`calibration_targets` from the published ratios and 2007 foreign trade and GDP.
TARGETS = {
    "va_share_other_regions_mean": (0.334, 0.10, LU_2022),
    "interprovincial_trade_to_va": (None, 0.35, IO_2007),
    "interprovincial_dependence_mean": (None, 0.35, IO_2007),
}
#: Published numbers reported next to the built ones but not fitted (nearly independent of the
#: parameters, or the complement of a fitted one).
CHECKS = {
    "va_share_own_region_mean": (0.551, LU_2022),
    "va_share_foreign_mean": (0.115, LU_2022),
}
#: Result of ``python scripts/build_china31.py --fit`` (rounded to 3 significant digits): the
#: parameters of the committed data/china31.nc.
FITTED = {"gamma": 3.51, "home_share": 0.914, "internal_factor": 0.522}
#: Plausible range of gamma (result of ``--fit``): where the objective is 1 above its minimum,
#: the home share and internal factor held at :data:`FITTED` (about one standard deviation).
GAMMA_RANGE = (2.72, 4.91)
#: Plausible range of the home share, by the same rule (gamma and factor held): the objective
#: is 1 above its minimum at 0.818; upwards it rises by only 0.64 up to the bound 0.99, which is
#: therefore the upper end.
HOME_SHARE_RANGE = (0.818, 0.99)
PRIOR = {"gamma": (1.0, np.log(3.0)), "home_share": (0.9, 0.1), "internal_factor": (2 / 3, 0.25)}
BOUNDS = {"gamma": (0.2, 6.0), "home_share": (0.0, 0.99), "internal_factor": (0.1, 1.5)}


# --------------------------------------------------------------------------- reading


def _read(source: Path, key: str, **kw) -> pd.DataFrame:
    path = source / FILES[key]
    if not path.exists():
        raise InputError(f"{path}: source file not found (use --source DIR)")
    try:
        return pd.read_csv(path, **kw)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file
        raise InputError(f"{path}: cannot read CSV ({exc})") from None


def _need(df: pd.DataFrame, cols, path) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing columns {missing}")


def read_sources(source: Path) -> dict:
    """Read and check the six source files; return numpy arrays in 1e8 yuan."""
    nat = _read(source, "national", dtype={"Code": str})
    npath = source / FILES["national"]
    codes = [f"{i:02d}" for i in range(1, 43)]
    _need(nat, ["Code", "Origin", *codes, "TC", "FU201", "FU202", "EX", "GO"], npath)
    dom = nat[nat["Origin"] == "Domestic"].set_index("Code")
    imp = nat[nat["Origin"] == "Imports"].set_index("Code")
    tot = nat.set_index("Code")
    if list(dom.index) != codes or list(imp.index) != codes:
        raise InputError(f"{npath}: expected 42 Domestic and 42 Imports rows coded 01..42")
    for row in VA_ROWS:
        if row not in tot.index:
            raise InputError(f"{npath}: value-added row {row} missing")
    f = UNIT_FACTOR
    d = {
        "Zd": dom[codes].to_numpy(float) * f, "Zm": imp[codes].to_numpy(float) * f,
        "VA": tot.loc[list(VA_ROWS), codes].to_numpy(float) * f,
        "fd_dom": dom[["TC", "FU201", "FU202"]].to_numpy(float) * f,
        "fd_imp": imp[["TC", "FU201", "FU202"]].to_numpy(float) * f,
        "EX": dom["EX"].to_numpy(float) * f, "reexports": imp["EX"].to_numpy(float) * f,
        "GO": dom["GO"].to_numpy(float) * f,
    }
    for k, v in d.items():
        if not np.isfinite(v).all():
            raise InputError(f"{npath}: non-numeric or missing values in {k}")

    names = _read(source, "sectors", dtype={"Code": str})
    _need(names, ["Code", "Description", "DescriptionInChinese"], source / FILES["sectors"])
    if list(names["Code"]) != codes:
        raise InputError(f"{source / FILES['sectors']}: expected codes 01..42 in order")

    prov = _read(source, "provinces")
    ppath = source / FILES["provinces"]
    _need(prov, ["province", "province_zh", "capital", "capital_lon", "capital_lat",
                 "gdp_2017_100m_yuan"], ppath)
    regions = [str(r) for r in prov["province"]]
    unknown = [r for r in regions if r not in REGION_CODE]
    if unknown or len(regions) != 31:
        raise InputError(f"{ppath}: expected the 31 provinces, unknown {unknown}")

    out = _read(source, "output", index_col=0)
    opath = source / FILES["output"]
    _need(out, regions, opath)
    if len(out) != 42:
        raise InputError(f"{opath}: expected 42 sector rows, got {len(out)}")
    x_raw = out[regions].to_numpy(float).T  # (R, S)
    if not np.isfinite(x_raw).all() or (x_raw < 0).any():
        raise InputError(f"{opath}: gross output must be finite and non-negative")

    exp = _read(source, "expenditure")
    epath = source / FILES["expenditure"]
    _need(exp, ["region", "item", "year", "value"], epath)
    exp = exp[exp["year"].astype(str) == "yr2017"].pivot(index="region", columns="item",
                                                            values="value")
    items = [*EXPENDITURE_ITEM.values(), "export_s", "import_d", "net_provflow"]
    missing = [r for r in regions if r not in exp.index] + [i for i in items if i not in exp]
    if missing:
        raise InputError(f"{epath}: year yr2017 lacks {missing}")
    exp = exp.loc[regions, items]

    macro = _read(source, "macro")
    mpath = source / FILES["macro"]
    _need(macro, ["region", "item", "year", "value"], mpath)
    by_year = {}
    for year in ("2017", TARGET_YEAR_2007):
        m = macro[macro["year"].astype(str) == year].pivot(index="region", columns="item",
                                                             values="value")
        _need(m, ["net_flow", "export_s", "import_d", "gdp"], mpath)
        missing = [r for r in regions if r not in m.index]
        if missing:
            raise InputError(f"{mpath}: year {year} lacks {missing}")
        by_year[year] = m.loc[regions]
    mac = by_year["2017"]

    d.update(
        regions=regions, region_zh=[str(s) for s in prov["province_zh"]],
        capital=[str(s) for s in prov["capital"]],
        lon=prov["capital_lon"].to_numpy(float), lat=prov["capital_lat"].to_numpy(float),
        gdp=prov["gdp_2017_100m_yuan"].to_numpy(float),
        sector_name=[str(s) for s in names["Description"]],
        sector_name_zh=[str(s) for s in names["DescriptionInChinese"]],
        x_raw=x_raw, exp=exp, mac=mac, mac2007=by_year[TARGET_YEAR_2007],
    )
    return d


# --------------------------------------------------------------------------- building


def build(src: dict, gamma: float = FITTED["gamma"], home_share: float = FITTED["home_share"],
          internal_factor: float = FITTED["internal_factor"]):
    """Regionalise the national table; return the economy Dataset (validated to 1e-9)."""
    regions = src["regions"]
    R, S = len(regions), len(SECTORS)
    Zd, Zm, GO = src["Zd"], src["Zm"], src["GO"]
    stats: dict = {}

    # 1. provincial output rescaled to national output per sector
    x_raw = src["x_raw"]
    colsum = x_raw.sum(axis=0)
    if (colsum <= 0).any():
        raise InputError(f"provincial gross output is zero for sector {SECTORS[int(np.argmin(colsum))]}")
    factor = GO / colsum
    x = x_raw * factor
    stats["output_rescale_min"] = float(factor.min())
    stats["output_rescale_max"] = float(factor.max())
    stats["output_rescale_total"] = float(GO.sum() / colsum.sum())

    inv_go = np.divide(1.0, GO, out=np.zeros_like(GO), where=GO > 0)
    A_tot = (Zd + Zm) * inv_go  # national total input coefficients (P, S)

    # 2. provincial final-use totals: expenditure shares applied to national table totals
    exp = src["exp"]
    fd_tot = src["fd_dom"] + src["fd_imp"]  # (P, 3): TC, FU201, FU202 incl. imports
    w = np.zeros((R, len(USES)))
    cons = [EXPENDITURE_ITEM[u] for u in USES[:3]]
    cons_vals = exp[cons].to_numpy(float)
    w[:, :3] = cons_vals / cons_vals.sum()
    for k, u in enumerate(USES[3:], start=3):
        v = exp[EXPENDITURE_ITEM[u]].to_numpy(float)
        w[:, k] = v / v.sum()
    use_col = np.array([0, 0, 0, 1, 2])  # national column of each use
    national_use = fd_tot.sum(axis=0)[use_col]
    stats["final_use_scale_consumption"] = float(national_use[0] / cons_vals.sum())
    stats["final_use_scale_fixed_capital"] = float(
        national_use[3] / exp[EXPENDITURE_ITEM["fixed_capital"]].sum())
    stats["final_use_scale_inventory"] = float(
        national_use[4] / exp[EXPENDITURE_ITEM["inventory"]].sum())
    # total (domestic + imported) final use per product, province, use
    F_tot = fd_tot[:, use_col][:, None, :] * w[None, :, :]  # (P, R, U)
    F_imp_inv = src["fd_imp"][:, 2][:, None] * w[None, :, 4]  # (P, R) imported inventory change

    # 3. imports: one bounded RAS over (province) x (product, using column), upper = total use
    U_int = A_tot[:, None, :] * x[None, :, :]  # (P, R, S) total intermediate use
    U_cons = F_tot[:, :, :3].sum(axis=2)  # (P, R)
    U_fc = F_tot[:, :, 3]
    # a negative domestic inventory change must stay covered by domestic use in the province:
    # imports may take at most a share 1 - c of each use, c = min(1, 2 * drawdown / total use)
    Yd_inv = src["fd_dom"][:, 2][:, None] * w[None, :, 4]  # (P, R)
    use_sum = U_int.sum(axis=2) + U_cons + U_fc
    drawdown = np.maximum(-Yd_inv, 0.0)
    if (drawdown >= use_sum).any():
        p_, r_ = np.unravel_index(int(np.argmax(drawdown - use_sum)), drawdown.shape)
        raise InputError(f"inventory drawdown of {SECTORS[p_]} in {regions[r_]} exceeds its use")
    keep = np.minimum(1.0, np.divide(2 * drawdown, use_sum, out=np.zeros_like(use_sum),
                                     where=use_sum > 0))
    stats["import_cap_cells_for_inventory"] = int((keep > 0).sum())
    cap = 1.0 - keep  # (P, R)
    upper = np.concatenate([(U_int * cap[:, :, None]).transpose(1, 0, 2).reshape(R, S * S),
                            (U_cons * cap).T, (U_fc * cap).T], axis=1)
    full = np.concatenate([U_int.transpose(1, 0, 2).reshape(R, S * S), U_cons.T, U_fc.T], axis=1)
    tot_int = Zd + Zm
    share_int = np.divide(Zm, tot_int, out=np.zeros_like(Zm), where=tot_int > 0)
    share_cons = np.divide(src["fd_imp"][:, 0], fd_tot[:, 0], out=np.zeros(S), where=fd_tot[:, 0] > 0)
    share_fc = np.divide(src["fd_imp"][:, 1], fd_tot[:, 1], out=np.zeros(S), where=fd_tot[:, 1] > 0)
    seed_share = np.concatenate([share_int.reshape(-1), share_cons, share_fc])
    col_target = np.concatenate([Zm.reshape(-1), src["fd_imp"][:, 0], src["fd_imp"][:, 1]])
    imports_total = float(col_target.sum() + src["fd_imp"][:, 2].sum())
    imp_d = -exp["import_d"].to_numpy(float) if (exp["import_d"] < 0).all() else exp["import_d"].to_numpy(float)
    if (imp_d < 0).any():
        raise InputError("reslt_expd.csv: import_d has mixed signs")
    row_target = imp_d / imp_d.sum() * imports_total - F_imp_inv.sum(axis=0)
    if (row_target < 0).any():
        raise InputError(f"imports of {regions[int(np.argmin(row_target))]} are smaller than its "
                         "imported inventory change")
    Mfit = ipf(seed_share[None, :] * full, row_target, col_target, upper=upper)
    M = Mfit[:, : S * S].reshape(R, S, S).transpose(1, 0, 2)  # (P, R, S)
    MY_cons = Mfit[:, S * S: S * S + S].T  # (P, R)
    MY_fc = Mfit[:, S * S + S:].T
    at_bound = np.isclose(Mfit, upper, rtol=1e-12) & (upper > 0)
    stats["import_cells_at_bound"] = int(at_bound.sum())
    base = (seed_share[None, :] * full).sum(axis=1)
    propensity = np.divide(Mfit.sum(axis=1), base, out=np.zeros(R), where=base > 0)
    stats["import_propensity_min"] = float(propensity.min())
    stats["import_propensity_max"] = float(propensity.max())
    stats["reexports_dropped"] = float(src["reexports"].sum())

    cons_split = np.divide(w[:, :3], w[:, :3].sum(axis=1, keepdims=True))  # (R, 3)
    MY = np.zeros((S, R, len(USES)))
    MY[:, :, :3] = MY_cons[:, :, None] * cons_split[None, :, :]
    MY[:, :, 3] = MY_fc
    MY[:, :, 4] = F_imp_inv
    # domestic use = total use - imports (>= 0 exactly: the fit keeps M <= upper)
    Zin = U_int - M  # (P, R, S)
    Yd = np.zeros_like(MY)  # (P, R, U)
    Yd[:, :, :3] = (U_cons - MY_cons)[:, :, None] * cons_split[None, :, :]
    Yd[:, :, 3] = U_fc - MY_fc
    Yd[:, :, 4] = Yd_inv

    # 4. value added: national VA coefficient (total technology is national)
    va_tot = x - (Zin + M).sum(axis=0)  # (R, S)
    VA = src["VA"]
    tva = VA.sum(axis=0)
    comp_share = np.divide(VA, tva, out=np.full_like(VA, 0.25), where=tva != 0)
    V = comp_share[:, None, :] * va_tot[None, :, :]

    # 5. exports: bounded RAS, provinces follow export_s shares, products national EX
    EX = src["EX"]
    exp_s = exp["export_s"].to_numpy(float)
    ex_rows = exp_s / exp_s.sum() * EX.sum()
    ex_seed = EX[None, :] * x * inv_go[None, :]
    exports = ipf(ex_seed, ex_rows, EX, upper=x)
    stats["export_cells_at_bound"] = int((np.isclose(exports, x, rtol=1e-12) & (x > 0)).sum())

    # 6. interprovincial trade: gravity on supply and demand pools per product
    supply = supply_pool(x, exports)  # (P, R)
    demand = Zin.sum(axis=2) + Yd.sum(axis=2)  # (P, R)
    if (demand < 0).any():
        p, r = np.unravel_index(int(np.argmin(demand)), demand.shape)
        raise InputError(f"negative domestic demand pool for {SECTORS[p]} in {regions[r]} "
                         f"({demand[p, r]:g}); inventory change exceeds other uses")
    gap = np.abs(supply.sum(1) - demand.sum(1)) / np.maximum(supply.sum(1), 1e-300)
    stats["pool_mismatch_max_rel"] = float(gap.max())
    area = np.array([AREA_KM2[r] for r in regions], dtype=float)
    tradable = np.arange(S) < N_TRADABLE
    T, Z, Y = interprovincial_trade(supply, demand, Zin, Yd, src["lon"], src["lat"], area,
                                    tradable, gamma, home_share, internal_factor)

    # net positions vs the accounts (independent of the gravity parameters)
    net_inter = (T.sum(axis=2) - T.sum(axis=1)).sum(axis=0)  # outflow - inflow per province
    mac = src["mac"]
    official = (mac["net_flow"] - (mac["export_s"] - mac["import_d"])).to_numpy(float)
    stats["net_position_corr_macro"] = float(np.corrcoef(net_inter, official)[0, 1])
    stats["net_position_corr_net_provflow"] = float(
        np.corrcoef(net_inter, exp["net_provflow"].to_numpy(float))[0, 1])
    va_r = V.sum(axis=(0, 2))
    gap_raw = va_r / src["gdp"] - 1
    gap_scaled = va_r / (src["gdp"] / src["gdp"].sum() * va_r.sum()) - 1
    k = int(np.argmax(np.abs(gap_raw)))
    stats["va_gdp_gap_max_rel"] = float(gap_raw[k])
    stats["va_gdp_gap_max_region"] = regions[k]
    k2 = int(np.argmax(np.abs(gap_scaled)))
    stats["va_gdp_share_gap_max_rel"] = float(gap_scaled[k2])
    stats["va_gdp_share_gap_max_region"] = regions[k2]
    stats["va_total_vs_gdp_total"] = float(va_r.sum() / src["gdp"].sum())

    essential = np.array([ESSENTIAL_SHARE.get(s, 0.0) for s in SECTORS])
    routes = np.array([IMPORT_ROUTE.get(s, _SERVICE_ROUTE) for s in SECTORS], float)
    region_coords = {
        "region_name_zh": src["region_zh"], "lon": src["lon"], "lat": src["lat"],
        "zone": [ZONE[r] for r in regions], "coastal": np.array([r in COASTAL for r in regions]),
        "region_code": [REGION_CODE[r] for r in regions], "capital": src["capital"],
        "area_km2": area,
    }
    sector_coords = {
        "sector_name": src["sector_name"], "sector_name_zh": src["sector_name_zh"],
        "tradable": tradable, "critical": essential > 0, "essential_share": essential,
        "sector_code": [f"{i:02d}" for i in range(1, S + 1)],
    }
    attrs = {
        "title": "china31",
        "description": ("China 2017, 31 provinces x 42 sectors: a constructed MRIO calibrated to "
                        "official national and provincial totals (not an official MRIO)"),
        "source_files": ", ".join(FILES.values()),
        "sources": ("NBS 2017 input-output table (42 products); provincial accounts and gross "
                    "output from the interprovincial IO database of 'An interprovincial "
                    "input-output database distinguishing firm ownership in China from 1997 to "
                    "2017'; capital coordinates from the pyecharts city list"),
        "year": 2017,
        "gamma": float(gamma), "nontradable_home_share": float(home_share),
        "internal_distance_rule": f"{internal_factor:.6g} * sqrt(area_km2 / pi)",
        "internal_distance_factor": float(internal_factor),
        "method": "docs/china31.md",
        **stats,
    }
    ds = make_economy(
        Z, Y, exports, M, MY, V, regions=regions, sectors=SECTORS, uses=USES,
        components=COMPONENTS, x=x, units="1e8 yuan", region_coords=region_coords,
        sector_coords=sector_coords, consumption_uses=USES[:3], inventory_uses=("inventory",),
        signed_components=("net_taxes",), import_route_share=routes, attrs=attrs, rtol=1e-9,
    )
    ds.attrs.update(trade_summary(ds))
    ds.attrs.update(fit_attrs(ds.attrs, calibration_targets(src)))
    # the central production recipe of the NBS 42 sectors (docs/recipe-data.md)
    return attach_recipe(ds)


# --------------------------------------------------------------------------- calibration


def calibration_targets(src: dict) -> dict:
    """``{key: (target, sigma, source)}`` of :data:`TARGETS` with the 2007 values derived.

    The 2007 study reports interprovincial trade (outflows + inflows, counted like exports +
    imports) at 2x international trade and the mean provincial interprovincial trade dependence
    at 3x the mean foreign trade dependence. With 2007 foreign trade (``export_s``, ``import_d``)
    and GDP of the macro accounts this gives the single-counted interprovincial trade as a share
    of GDP, ``(X + M) / GDP``, and the mean dependence ``3 * mean((X + M) / GDP)``; the fit
    assumes both kept their 2007 level relative to GDP (foreign trade did not: 62% of GDP in
    2007, 33% in 2017).
    """
    m = src["mac2007"]
    foreign = m["export_s"].to_numpy(float) + np.abs(m["import_d"].to_numpy(float))
    gdp = m["gdp"].to_numpy(float)
    derived = {"interprovincial_trade_to_va": float(foreign.sum() / gdp.sum()),
               "interprovincial_dependence_mean": float(3.0 * np.mean(foreign / gdp))}
    return {k: (derived[k] if v is None else v, sigma, source)
            for k, (v, sigma, source) in TARGETS.items()}


def objective(built: dict, targets: dict, gamma: float, home_share: float,
              internal_factor: float) -> float:
    """The fit's objective ``J`` (see :data:`TARGETS`): squared log deviations in units of the
    targets' tolerances plus the priors of :data:`PRIOR`."""
    j = sum(((np.log(built[k]) - np.log(t)) / sigma) ** 2 for k, (t, sigma, _) in targets.items())
    g0, gs = PRIOR["gamma"]
    h0, hs = PRIOR["home_share"]
    f0, fs = PRIOR["internal_factor"]
    return float(j + (np.log(gamma / g0) / gs) ** 2 + ((home_share - h0) / hs) ** 2
                 + ((internal_factor - f0) / fs) ** 2)


def fit(ds, targets: dict, start=(1.0, 0.9, 2.0 / 3.0), verbose: bool = False):
    """Minimise :func:`objective` over (gamma, home share, internal factor) by Nelder-Mead,
    re-deriving the trade of the built economy ``ds`` with
    :func:`stresstest.regionalize.reweight_trade` (deterministic; a few minutes)."""
    from scipy.optimize import minimize

    names = ("gamma", "home_share", "internal_factor")
    cache: dict = {}

    def J(theta):
        params = dict(zip(names, map(float, theta)))
        if any(not BOUNDS[k][0] <= v <= BOUNDS[k][1] for k, v in params.items()):
            return 1e6
        key = tuple(round(v, 9) for v in theta)
        if key not in cache:
            eco = reweight_trade(ds, params["gamma"], params["home_share"],
                                 params["internal_factor"], validate=False)
            cache[key] = objective(eco.attrs, targets, **params)
            if verbose:
                print(f"  J={cache[key]:.5f} at " + ", ".join(f"{k}={v:.4f}"
                                                             for k, v in params.items()))
        return cache[key]

    res = minimize(J, np.asarray(start, float), method="Nelder-Mead",
                   options={"xatol": 1e-3, "fatol": 1e-4, "maxiter": 400})
    best = dict(zip(names, map(float, res.x)))
    return best, float(res.fun), int(res.nfev)


def profile_range(ds, targets: dict, params: dict, name: str = "gamma",
                  rise: float = 1.0) -> tuple:
    """The interval of parameter ``name`` where :func:`objective` is at most ``rise`` above its
    value at ``params`` (the other two parameters held), by root finding on each side (to
    0.005 of gamma, 0.0005 of the home share or factor); a side where the objective stays
    within ``rise`` up to the bound of :data:`BOUNDS` ends at the bound."""
    from scipy.optimize import brentq

    names = ("gamma", "home_share", "internal_factor")

    def J(v):
        p = {**params, name: v}
        eco = reweight_trade(ds, *(p[k] for k in names), validate=False)
        return objective(eco.attrs, targets, *(p[k] for k in names))

    j0, v0 = J(params[name]), params[name]
    xtol = 5e-3 if name == "gamma" else 5e-4
    ends = []
    for bound in BOUNDS[name]:
        if J(bound) - j0 < rise:
            ends.append(bound)
        else:
            a, b = sorted((bound, v0))
            ends.append(brentq(lambda v: J(v) - j0 - rise, a, b, xtol=xtol))
    return tuple(ends)


def fit_attrs(attrs: dict, targets: dict) -> dict:
    """Readable calibration summary for ``attrs`` (shown by ``stresstest info``)."""
    def pct(s):
        return f"{100 * s:.0f}% (log)"

    out = {"calibration_objective": (
        "min sum((ln built - ln target)/tol)^2 + (ln gamma/ln 3)^2 + ((factor - 2/3)/0.25)^2 "
        "+ ((home_share - 0.9)/0.1)^2 (Nelder-Mead; docs/china31.md)")}
    labels = {"va_share_other_regions_mean": "VA from other provinces' final demand, mean",
              "interprovincial_trade_to_va": "interprovincial trade (outflows) / GDP",
              "interprovincial_dependence_mean": "(outflow + inflow) / GDP, mean of provinces",
              "va_share_own_region_mean": "VA from own final demand, mean",
              "va_share_foreign_mean": "VA from exports, mean"}
    for k, (t, sigma, source) in targets.items():
        year = "2007-based" if source == IO_2007 else "2017"
        src = "Lu 2022" if source == LU_2022 else "provincial IO tables 1987-2007 study"
        out[f"fit_{k}"] = (f"{labels[k]}: target {t:.3g} +/- {pct(sigma)} ({src}, {year}), "
                           f"built {attrs[k]:#.3g}")
    for k, (t, source) in CHECKS.items():
        out[f"check_{k}"] = f"{labels[k]}: published {t:.3g} (Lu 2022, 2017), built {attrs[k]:#.3g}"
    out["calibration_gamma_range"] = (
        f"{GAMMA_RANGE[0]:g} to {GAMMA_RANGE[1]:g} (objective within +1 of its minimum at the "
        f"fitted home share and factor); reweight_trade redoes the trade for any gamma")
    out["calibration_home_share_range"] = (
        f"{HOME_SHARE_RANGE[0]:g} to {HOME_SHARE_RANGE[1]:g} (objective within +1 of its "
        f"minimum at the fitted gamma and factor; the upper end is the bound)")
    # numeric twins read by the sampled band (stresstest.sampling.trade_inputs)
    out["calibration_range_gamma"] = [float(v) for v in GAMMA_RANGE]
    out["calibration_range_home_share"] = [float(v) for v in HOME_SHARE_RANGE]
    out["objective_value"] = float(objective(
        attrs, targets, attrs["gamma"], attrs["nontradable_home_share"],
        attrs["internal_distance_factor"]))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                   help="folder with the china2017 CSV files (default ../shared/data/china2017)")
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="netCDF file to write")
    p.add_argument("--gamma", type=float, default=FITTED["gamma"],
                   help=f"distance decay exponent (default: fitted, {FITTED['gamma']})")
    p.add_argument("--home-share", type=float, default=FITTED["home_share"],
                   help="share of min(supply, demand) of non-tradables served in-province "
                        f"(default: fitted, {FITTED['home_share']})")
    p.add_argument("--internal-factor", type=float, default=FITTED["internal_factor"],
                   help="internal distance = factor * sqrt(area/pi) "
                        f"(default: fitted, {FITTED['internal_factor']})")
    p.add_argument("--fit", action="store_true",
                   help="redo the calibration fit (a few minutes), print it and build with the "
                        "fitted parameters rounded to 3 significant digits")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    try:
        src = read_sources(args.source)
        params = (args.gamma, args.home_share, args.internal_factor)
        if args.fit:
            targets = calibration_targets(src)
            best, jmin, nfev = fit(build(src, *params), targets)
            params = tuple(float(f"{best[k]:.3g}") for k in ("gamma", "home_share",
                                                              "internal_factor"))
            print(f"fit: J = {jmin:.4f} after {nfev} evaluations at "
                  + ", ".join(f"{k} = {v:.5g}" for k, v in best.items())
                  + f"; building with {params}")
        ds = build(src, *params)
        if args.fit:
            fitted = dict(zip(("gamma", "home_share", "internal_factor"), params))
            for name in ("gamma", "home_share"):
                lo, hi = profile_range(ds, targets, fitted, name)
                print(f"  {name} range (objective +1): {lo:.3g} to {hi:.3g}")
        save_economy(ds, args.output)
    except StresstestError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    if args.fit:
        for k in TARGETS:
            print(f"  {ds.attrs['fit_' + k]}")
        for k in CHECKS:
            print(f"  {ds.attrs['check_' + k]}")
    print(f"wrote {args.output} in {time.perf_counter() - t0:.2f} s "
          f"({args.output.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
