"""CEADs China provincial MRIO workbook (.xlsx) -> economy.

Layout (``read_excel(header=None)``, 0-based): row 0 title (units), row 1 province names
(merged, forward-filled), row 2 sector / final-use category names, row 3 sector codes, data from
row 4. Col 0 province (forward-filled; ``内蒙`` = ``内蒙古``), col 1 sector name, col 2 code; the
``N = regions x sectors`` producing rows are followed by the import row, total intermediate
input, the value-added rows, total value added and total input. Columns: ``Z`` (N), the
final-use block (per destination province: rural/urban households, government, fixed capital,
inventory), then — located by header text, in any order — exports, total final use (TFU, not
summed), others / balance error and total output. Mapping: ``docs/formats.md``.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..economy import make_economy, validate_economy
from ..errors import InputError
from ._common import (check_nonnegative, check_residual, check_unique,
                      existing_file)

#: The 31 provinces: Chinese short name, English label (as in china31), capital lon/lat
#: (degrees; capital-city coordinates, rounded), NBS zone, coastal.
PROVINCES = [
    ("北京", "Beijing", 116.41, 39.90, "east", False),
    ("天津", "Tianjin", 117.20, 39.08, "east", True),
    ("河北", "Hebei", 114.48, 38.03, "east", True),
    ("山西", "Shanxi", 112.53, 37.87, "central", False),
    ("内蒙古", "InnerMongolia", 111.65, 40.82, "west", False),
    ("辽宁", "Liaoning", 123.38, 41.80, "northeast", True),
    ("吉林", "Jilin", 125.35, 43.88, "northeast", False),
    ("黑龙江", "Heilongjiang", 126.63, 45.75, "northeast", False),
    ("上海", "Shanghai", 121.47, 31.23, "east", True),
    ("江苏", "Jiangsu", 118.78, 32.04, "east", True),
    ("浙江", "Zhejiang", 120.19, 30.26, "east", True),
    ("安徽", "Anhui", 117.27, 31.86, "central", False),
    ("福建", "Fujian", 119.30, 26.08, "east", True),
    ("江西", "Jiangxi", 115.89, 28.68, "central", False),
    ("山东", "Shandong", 117.00, 36.65, "east", True),
    ("河南", "Henan", 113.65, 34.76, "central", False),
    ("湖北", "Hubei", 114.31, 30.52, "central", False),
    ("湖南", "Hunan", 113.00, 28.21, "central", False),
    ("广东", "Guangdong", 113.23, 23.16, "east", True),
    ("广西", "Guangxi", 108.33, 22.84, "west", True),
    ("海南", "Hainan", 110.35, 20.02, "east", True),
    ("重庆", "Chongqing", 106.55, 29.56, "west", False),
    ("四川", "Sichuan", 104.06, 30.67, "west", False),
    ("贵州", "Guizhou", 106.71, 26.57, "west", False),
    ("云南", "Yunnan", 102.73, 25.04, "west", False),
    ("西藏", "Tibet", 91.11, 29.97, "west", False),
    ("陕西", "Shaanxi", 108.95, 34.27, "west", False),
    ("甘肃", "Gansu", 103.73, 36.03, "west", False),
    ("青海", "Qinghai", 101.74, 36.56, "west", False),
    ("宁夏", "Ningxia", 106.27, 38.47, "west", False),
    ("新疆", "Xinjiang", 87.68, 43.77, "west", False),
]
_ALIASES = {"内蒙": "内蒙古"}

#: Final-use category keywords (checked in order) -> use label.
USE_KEYS = [(("农村", "rural"), "rural_households"), (("城镇", "urban"), "urban_households"),
            (("政府", "government"), "government"), (("存货", "inventor"), "inventory"),
            (("固定资本", "资本形成", "capital"), "fixed_capital")]
#: Trailing column keywords (checked in order) -> role.
TRAIL_KEYS = [(("最终使用合计", "total final use", "tfu"), "tfu"),
              (("总产出", "total output"), "output"),
              (("出口", "export"), "exports"),
              (("其他", "误差", "other", "balance", "error"), "other")]
#: Row keywords after the producing rows (checked in order) -> role.
ROW_KEYS = [(("增加值合计", "total value added", "tva"), "tva"),
            (("总投入", "total input"), "total_input"),
            (("中间投入合计", "total intermediate", "tii"), "tii"),
            (("进口", "import"), "imports"),
            (("劳动者报酬", "compensation"), "compensation"),
            (("生产税净额", "net tax"), "net_taxes"),
            (("固定资产折旧", "depreciation"), "depreciation"),
            (("营业盈余", "surplus"), "operating_surplus")]
VA_COMPONENTS = ("compensation", "net_taxes", "depreciation", "operating_surplus")
SIGNED_COMPONENTS = ("net_taxes", "operating_surplus", "residual")
CONSUMPTION_USES = ("rural_households", "urban_households", "government")


def _text(v) -> str:
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip()


def _match(text: str, table):
    low = text.lower()
    for keys, role in table:
        if any((k in low) if not k.isascii() or len(k) > 3 else
               re.search(rf"\b{k}\b", low) for k in keys):
            return role
    return None


def _cell(r: int, c: int) -> str:
    from openpyxl.utils import get_column_letter
    return f"{get_column_letter(c + 1)}{r + 1}"


def _province(name: str):
    """Index of a Chinese (or English) province name in :data:`PROVINCES`, or None."""
    name = _ALIASES.get(name, name)
    for i, (zh, en, *_rest) in enumerate(PROVINCES):
        if name.startswith(zh) or name.lower() == en.lower():
            return i
    return None


def _code(v) -> str:
    if isinstance(v, (int, np.integer)) or (isinstance(v, float) and float(v).is_integer()):
        return f"{int(v):02d}"
    return _text(v)


def _pick_sheet(path, sheet) -> str:
    try:
        names = pd.ExcelFile(path, engine="openpyxl").sheet_names
    except Exception as exc:  # noqa: BLE001 - not a workbook
        raise InputError(f"{path}: cannot open as an .xlsx workbook ({exc})") from None
    if sheet is not None:
        if sheet not in names:
            raise InputError(f"{path}: no sheet {sheet!r}; available sheets: {', '.join(names)}")
        return sheet
    if len(names) == 1:
        return names[0]
    tables = [s for s in names if s.lower().startswith("table")]
    if len(tables) == 1:
        return tables[0]
    raise InputError(f"{path}: several sheets, pass sheet=...; available sheets: "
                     f"{', '.join(names)}")


def _numbers(raw: pd.DataFrame, rows, cols, source: str) -> np.ndarray:
    """The block ``raw.iloc[rows, cols]`` as float64; text or empty cells raise naming the cell."""
    block = raw.iloc[rows, cols]
    num = block.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(num)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        val = block.iat[i, j]
        what = "empty cell" if _text(val) == "" else f"non-numeric or NaN value {val!r}"
        from ..errors import EconomyError
        raise EconomyError(f"{source}: {what} at {_cell(rows[i], cols[j])} "
                           f"({int(bad.sum())} bad cell(s) in this block)")
    return np.array(num, copy=True)


def read_ceads(path, sheet=None, *, rtol: float = 1e-6, import_split=None,
               final_import_split=None):
    """Read a CEADs provincial MRIO workbook into an economy (units from the title row).

    ``sheet=None`` picks the only sheet or the one named ``Table*``. Row identity
    ``X = ΣZ + Σ final use + E + O``: the others / balance-error column ``O`` becomes the signed
    (inventory-like) use ``other`` of the producing province, together with any rounding within
    ``rtol``; larger misses raise :class:`EconomyError` naming the row. Column identity
    ``X = ΣZ + imports + ΣVA``: a signed ``residual`` component (checked against ``rtol``).

    The import row has no product detail. By default intermediate imports become the value-added
    component ``imports`` (a primary input; ``M`` stays 0) and final-use imports are reported in
    ``attrs`` only. ``import_split`` — product shares ``(sector,)`` or ``(product, sector)``
    (columns normalised to 1) — splits intermediate imports into ``M[product, region, sector]``;
    ``final_import_split`` ``(product,)`` splits final-use imports into ``MY``.
    """
    p = existing_file(path, "CEADs workbook")
    source = str(p)
    sheet = _pick_sheet(p, sheet)
    source = f"{p} [sheet {sheet}]"
    try:
        raw = pd.read_excel(p, sheet_name=sheet, header=None, engine="openpyxl",
                            keep_default_na=False, na_values=[])
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{source}: cannot read ({exc})") from None
    raw = raw.astype(object)
    if raw.shape[0] < 6 or raw.shape[1] < 5:
        raise InputError(f"{source}: too small for the CEADs layout ({raw.shape[0]} rows x "
                         f"{raw.shape[1]} columns)")
    title = " ".join(_text(v) for v in raw.iloc[0])
    units = ("100 million yuan" if "亿元" in title else "10,000 yuan")

    # producing rows: from row 4 while the sector code (col 2) is filled and col 0/1 is no total
    col0 = raw.iloc[4:, 0].map(_text)
    col1 = raw.iloc[4:, 1].map(_text)
    col2 = raw.iloc[4:, 2].map(_text)
    labels = (col0 + " " + col1).map(lambda t: _match(t, ROW_KEYS))
    is_prod = (col2 != "") & labels.isna()
    stop = np.flatnonzero(~is_prod.to_numpy())
    N = int(stop[0]) if len(stop) else int(is_prod.size)
    if N == 0:
        raise InputError(f"{source}: no producing rows (sector codes in column C from row 5)")
    prow = np.arange(4, 4 + N)
    prov_rows = raw.iloc[prow, 0].map(_text).replace("", np.nan).ffill()
    if prov_rows.isna().any():
        raise InputError(f"{source}: no province name at {_cell(4, 0)}")
    prov_rows = prov_rows.map(lambda s: _ALIASES.get(s, s)).tolist()
    codes_rows = [_code(v) for v in raw.iloc[prow, 2]]
    names_rows = [_text(v) for v in raw.iloc[prow, 1]]
    check_unique([f"{a}/{b}" for a, b in zip(prov_rows, codes_rows)], "province-sector", source)
    provinces = list(dict.fromkeys(prov_rows))
    sectors = list(dict.fromkeys(codes_rows))
    R, S = len(provinces), len(sectors)
    expected = [(pv, s) for pv in provinces for s in sectors]
    if list(zip(prov_rows, codes_rows)) != expected:
        raise InputError(f"{source}: producing rows must be {R} province blocks of the same "
                         f"{S} sector codes in the same order (rows 5..{4 + N})")
    if raw.shape[1] < 3 + N:
        raise InputError(f"{source}: {N} producing rows but only {raw.shape[1] - 3} "
                         "intermediate-use columns")

    # column headers
    hdr1 = raw.iloc[1].map(_text)
    head_text = [" ".join(_text(raw.iat[r, c]) for r in (1, 2, 3)).strip()
                 for c in range(raw.shape[1])]
    zcols = np.arange(3, 3 + N)
    zprov = hdr1.iloc[zcols].replace("", np.nan).ffill().map(
        lambda s: _ALIASES.get(s, s) if isinstance(s, str) else s).tolist()
    zcode = [_code(v) for v in raw.iloc[3, zcols]]
    for k, (pv, s) in enumerate(expected):
        if zprov[k] != pv or zcode[k] != s:
            raise InputError(f"{source}: intermediate-use column {_cell(3, zcols[k])} is "
                             f"{zprov[k]}/{zcode[k]}, expected {pv}/{s} (same order as the rows)")

    trailing: dict[str, int] = {}
    fu_cols = []
    for c in range(3 + N, raw.shape[1]):
        if head_text[c] == "" and raw.iloc[prow, c].map(_text).eq("").all():
            continue
        role = _match(head_text[c], TRAIL_KEYS)
        if role is not None:
            if role in trailing:
                raise InputError(f"{source}: two {role} columns ({_cell(1, trailing[role])} and "
                                 f"{_cell(1, c)})")
            trailing[role] = c
        else:
            fu_cols.append(c)
    if "output" not in trailing:
        raise InputError(f"{source}: no total-output column (header containing 总产出 or "
                         "'total output') after the final-use block")
    fu_cols = np.array(fu_cols, dtype=int)
    fu_prov = hdr1.iloc[fu_cols].replace("", np.nan).ffill().tolist() if len(fu_cols) else []
    fu_use = []
    for c, pv in zip(fu_cols, fu_prov):
        if not isinstance(pv, str):
            raise InputError(f"{source}: final-use column {_cell(1, c)} has no province name")
        cat = _text(raw.iat[2, c]) or _text(raw.iat[3, c])
        fu_use.append(_match(cat, USE_KEYS) or cat)
    fu_prov = [_ALIASES.get(v, v) for v in fu_prov]
    uses = list(dict.fromkeys(fu_use))
    pos = {}
    for c, pv, u in zip(fu_cols, fu_prov, fu_use):
        if pv not in provinces:
            raise InputError(f"{source}: final-use column {_cell(1, c)} names province {pv!r}, "
                             f"not one of the {R} producing provinces")
        if (pv, u) in pos:
            raise InputError(f"{source}: duplicate final-use column {pv}/{u} at "
                             f"{_cell(1, pos[pv, u])} and {_cell(1, c)}")
        pos[pv, u] = c
    missing = [f"{pv}/{u}" for pv in provinces for u in uses if (pv, u) not in pos]
    if missing:
        raise InputError(f"{source}: final-use columns missing for {', '.join(missing[:5])}")

    # numeric blocks
    Z = _numbers(raw, prow, zcols, source)
    order = [pos[pv, u] for pv in provinces for u in uses]
    F = _numbers(raw, prow, order, source).reshape(N, R, len(uses))
    x = _numbers(raw, prow, [trailing["output"]], source)[:, 0]
    E = (_numbers(raw, prow, [trailing["exports"]], source)[:, 0] if "exports" in trailing
         else np.zeros(N))
    O = (_numbers(raw, prow, [trailing["other"]], source)[:, 0] if "other" in trailing
         else np.zeros(N))

    def ind(i):
        return f"{provinces[i // S]}/{sectors[i % S]} (row {4 + i + 1})"

    check_nonnegative(Z, lambda t: f"{_cell(prow[t[0]], zcols[t[1]])} [{ind(t[0])}]",
                      "intermediate use", source)
    inv = [k for k, u in enumerate(uses) if u == "inventory"]
    nonneg_uses = [k for k in range(len(uses)) if k not in inv]
    check_nonnegative(F[:, :, nonneg_uses],
                      lambda t: f"[{ind(t[0])} -> {provinces[t[1]]}/{uses[nonneg_uses[t[2]]]}]",
                      "final use", source)
    check_nonnegative(E, lambda t: f"exports [{ind(t[0])}]", "exports", source)
    check_nonnegative(x, lambda t: f"total output [{ind(t[0])}]", "total output", source)

    resid_row = x - Z.sum(axis=1) - F.sum(axis=(1, 2)) - E - O
    check_residual(resid_row, x, rtol, lambda t: f"row {ind(t[0])}",
                   "row identity X = sum(Z) + sum(final use) + exports + others", source)
    other = np.zeros((N, R))
    other[np.arange(N), np.arange(N) // S] = O + resid_row
    F = np.concatenate([F, other[:, :, None]], axis=2)
    uses = uses + ["other"]

    # rows after the producing rows
    after: dict[str, int] = {}
    for r in range(4 + N, raw.shape[0]):
        text = " ".join(_text(raw.iat[r, c]) for c in (0, 1, 2)).strip()
        has_data = raw.iloc[r, zcols].map(_text).ne("").any()
        if not has_data:
            continue
        role = _match(text, ROW_KEYS)
        if role is None:
            raise InputError(f"{source}: unrecognised row {r + 1} ({text!r}) after the "
                             "producing rows")
        if role in after:
            raise InputError(f"{source}: two {role} rows ({after[role] + 1} and {r + 1})")
        after[role] = r

    def row_vals(role, cols):
        return _numbers(raw, [after[role]], list(cols), source)[0]

    imp = row_vals("imports", zcols) if "imports" in after else np.zeros(N)
    check_nonnegative(imp, lambda t: f"imports -> {ind(t[0])}", "import row", source)
    comps = [c for c in VA_COMPONENTS if c in after]
    if comps:
        V = np.vstack([row_vals(c, zcols) for c in comps])
        if "tva" in after:
            tva = row_vals("tva", zcols)
            check_residual(tva - V.sum(axis=0), tva, rtol, lambda t: f"column {ind(t[0])}",
                           "total value added = sum of value-added rows", source)
    elif "tva" in after:
        comps, V = ["value_added"], row_vals("tva", zcols)[None, :]
    else:
        raise InputError(f"{source}: no value-added rows (劳动者报酬 ... or 增加值合计)")
    for k, c in enumerate(comps):
        if c not in SIGNED_COMPONENTS:
            check_nonnegative(V[k], lambda t: f"{c} -> {ind(t[0])}", f"value added {c}", source)
    if "total_input" in after:
        xt = row_vals("total_input", zcols)
        check_residual(xt - x, x, rtol, lambda t: f"column {ind(t[0])}",
                       "total input = total output", source)

    M = np.zeros((S, R, S))
    MY = np.zeros((S, R, len(uses)))
    attrs = {"source": p.name, "sheet": sheet, "reader": "stresstest.io.read_ceads",
             "title": title or "CEADs provincial MRIO",
             "other_use_note": "use 'other' = others/balance-error column plus row rounding "
                               "(signed, inventory-like), in the producing province",
             "row_rounding_max": float(np.abs(resid_row).max())}
    fimp = None
    if "imports" in after:
        fimp = np.zeros((R, len(uses)))
        fimp[:, :-1] = _numbers(raw, [after["imports"]], order, source)[0].reshape(R, -1)
    if import_split is None:
        comps, V = comps + ["imports"], np.vstack([V, imp[None, :]])
        attrs["imports_note"] = ("intermediate imports have no product detail: value-added "
                                 "component 'imports'; pass import_split to fill M")
    else:
        share = _shares(import_split, S, source, "import_split")
        M = share.reshape(S, 1, S) * imp.reshape(1, R, S) if share.ndim == 2 else \
            share[:, None, None] * imp.reshape(1, R, S)
    if fimp is not None:
        if final_import_split is None:
            attrs["final_use_imports_not_carried"] = float(fimp.sum())
        else:
            fs = _shares(final_import_split, S, source, "final_import_split")
            if fs.ndim != 1:
                raise InputError(f"{source}: final_import_split must have shape ({S},)")
            MY = fs[:, None, None] * fimp[None, :, :]
    resid_col = x - Z.sum(axis=0) - M.sum(axis=0).reshape(N) - V.sum(axis=0)
    check_residual(resid_col, x, rtol, lambda t: f"column {ind(t[0])}",
                   "column identity X = sum(Z) + imports + value added", source)
    V = np.vstack([V, resid_col[None, :]])
    comps = comps + ["residual"]

    idx = [_province(pv) for pv in provinces]
    region_coords = {"region_name_zh": provinces}
    regions = provinces
    if all(i is not None for i in idx) and len(set(idx)) == R:
        regions = [PROVINCES[i][1] for i in idx]
        region_coords = {"region_name_zh": [PROVINCES[i][0] for i in idx],
                         "lon": np.array([PROVINCES[i][2] for i in idx]),
                         "lat": np.array([PROVINCES[i][3] for i in idx]),
                         "zone": [PROVINCES[i][4] for i in idx],
                         "coastal": np.array([PROVINCES[i][5] for i in idx])}
    sector_names = names_rows[:S]
    eco = make_economy(
        Z.reshape(R, S, R, S), F.reshape(R, S, R, len(uses)), E.reshape(R, S), M,
        MY, V.reshape(len(comps), R, S), x=x.reshape(R, S), regions=regions, sectors=sectors,
        uses=uses, components=comps, units=units, region_coords=region_coords,
        sector_coords={"sector_name": sector_names, "sector_name_zh": sector_names},
        consumption_uses=[u for u in uses if u in CONSUMPTION_USES],
        inventory_uses=[u for u in uses if u in ("inventory", "other")],
        signed_components=[c for c in comps if c in SIGNED_COMPONENTS], attrs=attrs,
        validate=False)
    return validate_economy(eco, rtol=rtol, source=source)


def _shares(split, S: int, source: str, name: str) -> np.ndarray:
    a = np.asarray(split, dtype=np.float64)
    if a.shape not in ((S,), (S, S)) or not np.isfinite(a).all() or (a < 0).any():
        raise InputError(f"{source}: {name} must be non-negative finite shares of shape ({S},) "
                         f"or ({S}, {S}); got shape {a.shape}")
    tot = a.sum(axis=0)
    if (tot <= 0).any():
        raise InputError(f"{source}: {name} has a column summing to 0")
    return a / tot
