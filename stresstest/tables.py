"""Tables of plan comparisons as people read them and as files: one formatting for the CLI
(text, Markdown), the report (HTML, Markdown) and the exports (CSV, JSON, xlsx).

The numbers come from :func:`stresstest.metrics.plan_table` (money already in the output's
unit); this module only formats and writes them, so every output shows the same numbers:
:func:`economics_rows` and :func:`outcome_rows` give the displayed text, :func:`export_frame`
the numbers with their units in the column headers, :func:`write_xlsx` one sheet per table and
a ``notes`` sheet (units, definitions, ranking criterion, run details).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError

#: Output formats and the file extensions each writes.
EXTENSIONS = {"table": (".txt",), "markdown": (".md", ".markdown"), "csv": (".csv",),
              "json": (".json",), "xlsx": (".xlsx",), "netcdf": (".nc", ".nc4")}

HEAD = {
    "en": {"plan": "Plan", "rank": "Rank", "benefit": "VA saved over the event",
           "essential": "critical supply secured", "person": "person-days secured",
           "cost": "annual cost", "pstar": "break-even p*", "bc": "B/C at {p}",
           "output": "output", "va": "VA", "worst": "worst-region critical supply",
           "harm": "worse than none", "strict": "strict", "optimum": "optimum",
           "days": "days", "none": "none (no backups)", "per_year": "/yr",
           "output_w": "output, window avg", "va_w": "VA, window avg",
           "trough": "output trough (day)", "recovery": "recovery day",
           "output_h": "output, horizon avg"},
    "zh": {"plan": "方案", "rank": "排名", "benefit": "事件期间挽回的增加值",
           "essential": "关键供给保障", "person": "保障人·天", "cost": "年成本",
           "pstar": "盈亏平衡概率 p*", "bc": "概率{p}时效益/成本", "output": "产出",
           "va": "增加值", "worst": "最差地区关键供给", "harm": "劣于无方案",
           "strict": "严格连锁", "optimum": "协调最优", "days": "天",
           "none": "无（无备份）", "per_year": "/年", "output_w": "产出（窗口平均）",
           "va_w": "增加值（窗口平均）", "trough": "产出谷底（天）", "recovery": "恢复日",
           "output_h": "产出（全期平均）"},
}


def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _alts(row, key, fmt, lang):
    """``central (strict X; optimum Y)`` for a band, else ``central``."""
    from .report import fmt_alternatives

    h = {k: row.get(k) for k in (key, f"{key}_low", f"{key}_high") if k in row}
    H = HEAD.get(lang, HEAD["en"])
    return fmt_alternatives(h, key, fmt, (H["strict"], H["optimum"]))


def harm_zh(text: str, names: dict | None = None) -> str:
    """:func:`stresstest.metrics.plan_harm` findings in Chinese (``names``: label -> Chinese
    name of products and regions)."""
    import re

    names = names or {}
    text = re.sub(r"(of )(\S+)( -)", lambda m: m.group(1) + names.get(m.group(2), m.group(2))
                  + m.group(3), text)
    text = re.sub(r"critical supply of (\S+) -([\d.]+) pp", r"\1关键供给 -\2个百分点", text)
    text = re.sub(r"output of (\S+) -([\d.]+) pp", r"\1产出 -\2个百分点", text)
    return re.sub(r"national value added -([\d.]+) pp", r"全国增加值 -\1个百分点", text)


def plan_label(p: str, lang: str = "en") -> str:
    return HEAD.get(lang, HEAD["en"])["none"] if p == "none" else str(p)


def economics_headers(df: pd.DataFrame, lang: str = "en") -> list[str]:
    H = HEAD.get(lang, HEAD["en"])
    unit = df.attrs.get("unit", "")
    heads = [H["rank"], H["plan"], f'{H["benefit"]} [{unit}]',
             f'{H["essential"]} [{H["days"]}]']
    if _has_person_days(df):
        heads.append(H["person"])
    heads += [f'{H["cost"]} [{unit}{H["per_year"]}]', H["pstar"]]
    heads += [H["bc"].format(p=f"{100 * p:g}%") for p in df.attrs.get("probabilities", ())]
    return heads


def _has_person_days(df) -> bool:
    return "person_days" in df and bool(np.isfinite(pd.to_numeric(
        df["person_days"], errors="coerce")).any())


def economics_rows(df: pd.DataFrame, lang: str = "en", names: dict | None = None
                   ) -> list[list[str]]:
    """The plan-economics table as displayed (ranked): rank, plan, benefit, critical supply
    secured, cost, p*, expected B/C at each probability; band alternatives in brackets."""
    from .metrics import prob_key
    from .report import fmt_amount, fmt_days, fmt_prob, fmt_ratio

    H = HEAD.get(lang, HEAD["en"])
    rows = []
    for p, r in df.iterrows():
        row = r.to_dict()
        rank = "" if pd.isna(row.get("rank")) else str(int(row["rank"]))
        money = lambda v: fmt_amount(v, "").strip()  # noqa: E731
        if p == "none":
            blanks = ["—"] * (2 + _has_person_days(df))
            bcs = ["—"] * len(df.attrs.get("probabilities", ()))
            rows.append([rank, plan_label(p, lang), *blanks, money(row.get("cost", 0.0)),
                         "—", *bcs])
            continue
        out = [rank, plan_label(p, lang), _alts(row, "benefit", money, lang),
               _alts(row, "essential_days", fmt_days, lang)]
        if _has_person_days(df):
            out.append(_alts(row, "person_days", fmt_days, lang))
        out += [money(row.get("cost")),
                _alts(row, "breakeven_p", lambda v: fmt_prob(v, lang), lang)]
        harm = str(row.get("harm", "") or "")
        if lang == "zh":
            harm = harm_zh(harm, names)
        for q in df.attrs.get("probabilities", ()):
            out.append(fmt_ratio(_num(row.get(prob_key(q)))))
        if harm:
            out[-1] = f'{out[-1]} ({H["harm"]}: {harm})'
        rows.append(out)
    return rows


def outcome_headers(df, names: dict, lang: str = "en", dynamic: bool = False) -> list[str]:
    H = HEAD.get(lang, HEAD["en"])
    heads = [H["plan"], H["output_w"] if dynamic else H["output"],
             H["va_w"] if dynamic else H["va"]]
    heads += [f"CS {names.get(c[4:], c[4:])}" if lang == "en" else
              f"关键供给 {names.get(c[4:], c[4:])}" for c in _csr_cols(df)]
    heads.append(H["worst"])
    if dynamic:
        heads += [H["output_h"], H["trough"], H["recovery"]]
    return heads


def _csr_cols(df):
    return [c for c in df.columns if c.startswith("csr:") and not c.endswith(("_low", "_high"))]


def outcome_rows(df, sector_names: dict, region_names: dict, lang: str = "en",
                 dynamic: bool = False) -> list[list[str]]:
    """Surviving shares per plan as displayed: ``central [low – high]``."""
    from .report import fmt_band, fmt_pct

    rows = []
    for p, r in df.iterrows():
        h = r.to_dict()
        worst = (f"{fmt_pct(_num(h.get('worst_csr')))} "
                 f"{region_names.get(str(h.get('worst_region')), '')} "
                 f"{sector_names.get(str(h.get('worst_product')), '')}").strip()
        row = [plan_label(p, lang), fmt_band(h, "output_share"), fmt_band(h, "va_share"),
               *[fmt_band(h, c) for c in _csr_cols(df)], worst]
        if dynamic:
            day = h.get("output_trough_day")
            rec = _num(h.get("recovery_day"))
            row += [fmt_pct(_num(h.get("output_share_horizon"))),
                    f"{fmt_pct(_num(h.get('output_trough')))} ({int(day)})"
                    if day is not None and not pd.isna(day) else "—",
                    "—" if not np.isfinite(rec) else str(int(rec))]
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- files


def export_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The plan table with its units in the column headers (``benefit [bn yuan]``), plans as
    a ``plan`` column; shares stay shares (``[1 (share)]``)."""
    units = df.attrs.get("units", {})
    out = df.reset_index()
    out.columns = ["plan"] + [f"{c} [{units[c]}]" if c in units else c for c in df.columns]
    if "rank" in out:
        out["rank"] = out["rank"].astype("object").where(out["rank"].notna(), None)
    return out


def notes_rows(df: pd.DataFrame, extra: dict | None = None) -> list[tuple[str, str]]:
    """``(item, text)`` rows of the notes sheet: money unit, criterion, definitions, each
    column's unit, and ``extra`` (scenario, mode, economy, version, command)."""
    rows = [("money unit", df.attrs.get("unit", "")),
            ("ranking", df.attrs.get("criterion", "")),
            ("annual probabilities", ", ".join(f"{100 * p:g}%" for p in
                                               df.attrs.get("probabilities", ())))]
    rows += [(f"note {i + 1}", n) for i, n in enumerate(df.attrs.get("notes", []))]
    rows += [(k, str(v)) for k, v in (extra or {}).items()]
    rows += [(f"unit of {c}", u) for c, u in df.attrs.get("units", {}).items()]
    return rows


def to_csv(df: pd.DataFrame) -> str:
    return export_frame(df).to_csv(index=False)


def to_json(df: pd.DataFrame, extra: dict | None = None) -> str:
    """``{"unit", "units", "criterion", "notes", ..., "plans": [records]}``."""
    records = json.loads(df.reset_index().to_json(orient="records", force_ascii=False))
    doc = {"unit": df.attrs.get("unit", ""), "units": df.attrs.get("units", {}),
           "criterion": df.attrs.get("criterion", ""),
           "probabilities": df.attrs.get("probabilities", []),
           "notes": df.attrs.get("notes", []), **(extra or {}), "plans": records}
    return json.dumps(doc, indent=2, ensure_ascii=False)


def _sheet_name(name: str) -> str:
    bad = '[]:*?/\\'
    return "".join("_" if c in bad else c for c in name)[:31]


def write_xlsx(path, sheets: dict, notes: list[tuple[str, str]]) -> Path:
    """An xlsx workbook, atomically: one sheet per ``{name: DataFrame}`` (numbers as numbers,
    header row bold and frozen) and a ``notes`` sheet of ``(item, text)`` rows."""
    try:
        from openpyxl import Workbook
        from openpyxl.styles import Font
    except ImportError:  # pragma: no cover - openpyxl is a dependency
        raise InputError("writing .xlsx needs openpyxl (pip install openpyxl)") from None
    from .economy import write_atomic

    wb = Workbook()
    wb.remove(wb.active)
    bold = Font(bold=True)
    for name, frame in sheets.items():
        ws = wb.create_sheet(_sheet_name(name))
        ws.append([str(c) for c in frame.columns])
        for cell in ws[1]:
            cell.font = bold
        for row in frame.itertuples(index=False):
            ws.append([_cell(v) for v in row])
        ws.freeze_panes = "B2"
        for k, col in enumerate(frame.columns, 1):
            width = min(60, max(10, len(str(col)) + 2))
            ws.column_dimensions[ws.cell(row=1, column=k).column_letter].width = width
    ws = wb.create_sheet("notes")
    ws.append(["item", "text"])
    for cell in ws[1]:
        cell.font = bold
    for k, v in notes:
        ws.append([str(k), str(v)])
    ws.column_dimensions["A"].width = 32
    ws.column_dimensions["B"].width = 120

    def writer(tmp):
        wb.save(tmp)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)

    return write_atomic(Path(path), writer)


def _cell(v):
    if v is None:
        return None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if np.isnan(v):
            return None
        if np.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if v is pd.NA:
        return None
    return v if isinstance(v, (int, str)) else str(v)


def output_format(path, fmt: str | None, allowed: tuple, command: str) -> str:
    """The format to write ``path`` in: ``fmt`` if given (its extension must match), else
    from the extension. Raises :class:`InputError` (exit 2) for an extension the command
    does not write."""
    ext = Path(str(path)).suffix.lower()
    if fmt is not None and fmt not in allowed:
        raise InputError(f"{command}: cannot write format {fmt!r} (formats: "
                         f"{', '.join(allowed)})")
    by_ext = {e: f for f in allowed for e in EXTENSIONS.get(f, ())}
    if fmt is None:
        if ext not in by_ext:
            raise InputError(f"{command}: cannot write {str(path)!r}: the extension must be "
                             f"one of {', '.join(sorted(by_ext))}")
        return by_ext[ext]
    if ext not in EXTENSIONS.get(fmt, ()):
        raise InputError(f"{command}: {str(path)!r} does not end in "
                         f"{' or '.join(EXTENSIONS[fmt])}, the extension of --format {fmt}")
    return fmt
