"""Build the central production recipe for the 42 NBS sectors of ``china31``.

Reads the concordance ``data/recipe/wiod55_nbs42.csv`` (WIOD 55 -> NBS 42, hand-made), the
Pichler et al. (2022) files (``--pichler``, default ``../shared/data/pichler`` relative to the
repository root), the NBS 2017 national input-output table (``--china``, default
``../shared/data/china2017``) and the hand-entered NBS capacity utilisation table
``data/recipe/nbs_capacity_utilisation_2017.csv``, and writes to ``--output`` (default
``data/recipe``):

* ``nbs42_input_ratings.csv``   42 x 42 criticality of input (row) for user (column): 0, 0.5, 1
* ``nbs42_sector_parameters.csv``  inventory days, storable, capacity utilisation per sector
* ``nbs42_rating_changes.csv``  every cell the split rule or a hand edit moved, with the reason

Method and sources: ``docs/recipe-data.md``. Deterministic (same inputs, same bytes).

    python scripts/build_recipe_nbs42.py [--pichler DIR] [--china DIR] [--output DIR]
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RECIPE_DIR = ROOT / "data" / "recipe"
DEFAULT_PICHLER = ROOT.parent / "shared" / "data" / "pichler"
DEFAULT_CHINA = ROOT.parent / "shared" / "data" / "china2017"

SECTORS = (
    "agriculture coal oil_gas metal_ores nonmetal_ores food textiles apparel timber_furniture "
    "paper_printing refined_petroleum chemicals nonmetal_minerals metals metal_products "
    "general_machinery special_machinery transport_equipment electrical_equipment electronics "
    "instruments other_manufacturing repair electricity gas water construction trade transport "
    "hospitality it_services finance real_estate business_services research technical_services "
    "public_facilities household_services education health culture public_administration"
).split()
#: A word of each sector's English name in ``sector_names_42_nbs2017.csv`` (order check).
NAME_KEYWORDS = (
    "agriculture", "coal", "petroleum and natural gas", "metal ores", "nonmetal", "foods",
    "textiles", "apparel", "timber", "paper", "coking", "chemical", "non-metallic", "metals",
    "metal products", "general purpose", "special purpose", "transport equipment", "electrical",
    "electronic", "instruments", "other manufacturing", "repair", "electric power", "gas",
    "water", "construction", "retail", "transport", "accommodation", "information", "finance",
    "real estate", "leasing", "research", "technical", "water conservancy", "resident",
    "education", "health", "culture", "public administration")

#: A sub-sector of a split WIOD input keeps the WIOD rating for a user only if it supplies at
#: least this share of the user's purchases from all NBS sectors the WIOD industry maps to.
MATERIAL_SHARE = 0.10
#: Rating classes; a weighted mean is rounded to the nearest, ties (0.25, 0.75) upwards.
CLASSES = (0.0, 0.5, 1.0)
#: Weighted means are rounded to this many decimals before classifying (weights carry 6).
MEAN_DECIMALS = 6
DAYS_PER_MONTH = 365.0 / 12.0

#: Hand edits of mapped ratings (input, user, new value, reason). Short and conservative.
EDITS = (
    ("electricity", "textiles", 1.0,
     "spinning and weaving run on electric machinery; IHS rates D35 critical for 14 of 19 "
     "WIOD manufacturing industries but 0 for C13-C15; China's 2021 power curbs stopped "
     "textile and dyeing mills"),
    ("electricity", "apparel", 1.0,
     "garment and footwear lines run on electric sewing and cutting machines; same WIOD cell "
     "C13-C15 as textiles"),
    ("electricity", "general_machinery", 1.0,
     "machine tools and assembly lines are electric; IHS rates D35 critical for the "
     "neighbouring C25 C27 C29 C30 but 0 for C28"),
    ("electricity", "special_machinery", 1.0,
     "same WIOD cell C28 as general machinery"),
    ("hospitality", "transport", 0.0,
     "follows pyIEEM's edit: land and air transport do not need accommodation and catering "
     "to operate"),
    ("hospitality", "transport_equipment", 0.0,
     "follows pyIEEM's edit: motor vehicle production does not need accommodation and "
     "catering"),
    ("refined_petroleum", "electricity", 0.0,
     "China's power comes from coal, hydro, wind, nuclear and gas; oil-fired generation is "
     "about 0.1% (CEC 2017); NBS 11 sold to power plants is start-up fuel oil, coke and "
     "nuclear fuel, whose reactor cores last 12-18 months: no two-month dependence"),
    ("gas", "transport", 0.5,
     "piped and compressed gas runs city buses and taxis (the split rule keeps the D35 "
     "rating for gas); rail, trucks, ships and aircraft run on electricity, diesel and "
     "kerosene: important, not critical"),
)

#: Inventory days set by hand, with the reason (Pichler et al.'s ratio for wholesale and retail
#: counts goods held for resale, 5-8 months; in an IO table those are not inputs of the trade
#: sector, whose output is the margin: its input stocks are those of a service sector).
INVENTORY_EDITS = {
    "trade": ("services", "goods for resale are not inputs of trade: median of the service "
              "sectors"),
}
#: Buyers can hold stocks of these products as inputs (goods); utilities (electricity and
#: heat, piped gas, water), construction and services cannot.
STORABLE = set(SECTORS[:SECTORS.index("other_manufacturing") + 1])

#: Capacity utilisation: sector -> industries (``industry_en`` of the NBS table, mean of
#: several) or a float assumption with its basis.
UTILISATION_AGRICULTURE = 1.0
UTILISATION_NO_SERIES = 0.90
_MANU = ("manufacturing",)
UTILISATION_MAP = {
    "agriculture": (UTILISATION_AGRICULTURE,
                    "assumption 1.0: harvests are fixed within a season (no spare output)"),
    "coal": ("coal mining and washing",),
    "oil_gas": ("oil and gas extraction",),
    "metal_ores": ("mining",),
    "nonmetal_ores": ("mining",),
    "food": ("food manufacturing",),
    "textiles": ("textiles",),
    "apparel": _MANU,
    "timber_furniture": _MANU,
    "paper_printing": _MANU,
    "refined_petroleum": _MANU,
    "chemicals": ("chemical raw materials and chemical products",),
    "nonmetal_minerals": ("non-metallic mineral products",),
    "metals": ("ferrous metal smelting and rolling", "non-ferrous metal smelting and rolling"),
    "metal_products": _MANU,
    "general_machinery": ("general equipment",),
    "special_machinery": ("special equipment",),
    "transport_equipment": ("automobiles",),
    "electrical_equipment": ("electrical machinery and equipment",),
    "electronics": ("computers, communication and other electronic equipment",),
    "instruments": _MANU,
    "other_manufacturing": _MANU,
    "repair": _MANU,
    "electricity": ("electricity, heat, gas and water",),
    "gas": ("electricity, heat, gas and water",),
    "water": ("electricity, heat, gas and water",),
}
for _s in SECTORS[SECTORS.index("construction"):]:
    UTILISATION_MAP[_s] = (UTILISATION_NO_SERIES,
                           "assumption 0.90: no official series for construction and services")

RATINGS_FILE = "nbs42_input_ratings.csv"
PARAMETERS_FILE = "nbs42_sector_parameters.csv"
CHANGES_FILE = "nbs42_rating_changes.csv"


class BuildError(ValueError):
    """A source file is missing or malformed (message names file, field and value)."""


# --------------------------------------------------------------------------- reading


def _read_csv(path: Path, **kw) -> pd.DataFrame:
    if not path.exists():
        raise BuildError(f"{path}: no such file")
    return pd.read_csv(path, **kw)


def read_concordance(path: Path) -> dict[str, dict[str, float]]:
    """``{sector: {wiod_code: weight}}`` in SECTORS order; weights normalised to sum 1."""
    df = _read_csv(path, dtype=str, keep_default_na=False)
    if list(df.columns) != ["sector", "wiod_code", "weight", "note"]:
        raise BuildError(f"{path}: columns must be sector,wiod_code,weight,note, "
                         f"got {','.join(df.columns)}")
    out: dict[str, dict[str, float]] = {}
    for row in df.itertuples(index=False):
        if row.sector not in SECTORS:
            raise BuildError(f"{path}: field 'sector': unknown label {row.sector!r}")
        try:
            w = float(row.weight)
        except ValueError:
            raise BuildError(f"{path}: field 'weight' of {row.sector}/{row.wiod_code}: "
                             f"{row.weight!r} is not a number") from None
        if not 0 < w <= 1:
            raise BuildError(f"{path}: field 'weight' of {row.sector}/{row.wiod_code}: "
                             f"{w} must lie in (0, 1]")
        codes = out.setdefault(row.sector, {})
        if row.wiod_code in codes:
            raise BuildError(f"{path}: duplicate pair {row.sector}/{row.wiod_code}")
        codes[row.wiod_code] = w
    missing = [s for s in SECTORS if s not in out]
    if missing:
        raise BuildError(f"{path}: sectors without a WIOD code: {', '.join(missing)}")
    for s, codes in out.items():
        total = sum(codes.values())
        if abs(total - 1.0) > 1e-5:
            raise BuildError(f"{path}: field 'weight' of sector {s}: weights sum to {total:.6f}, "
                             "not 1")
        out[s] = {c: w / total for c, w in codes.items()}
    return {s: out[s] for s in SECTORS}


def read_ratings(pichler: Path) -> pd.DataFrame:
    """IHS Markit ratings, rows input and columns user (WIOD 55). Unrated cells (NaN) -> 0."""
    path = pichler / "IHS_Markit_results_compact.csv"
    df = _read_csv(path, index_col=0).astype(float)
    bad = ~(df.isin(CLASSES) | df.isna())
    if bad.to_numpy().any():
        i, j = np.argwhere(bad.to_numpy())[0]
        raise BuildError(f"{path}: rating {df.index[i]}->{df.columns[j]} = {df.iat[i, j]} "
                         "is not 0, 0.5 or 1")
    return df.fillna(0.0)


def read_inventory_ratios(pichler: Path) -> pd.Series:
    """``ratio_input_inv_go_monthly`` per WIOD 55 code (months of output held as inputs)."""
    path = pichler / "table_ratio_inv_go.csv"
    df = _read_csv(path)
    return df.set_index("wiod_code")["ratio_input_inv_go_monthly"].astype(float)


def read_national_use(china: Path) -> np.ndarray:
    """42 x 42 intermediate use (domestic + imported rows), product by using sector."""
    path = china / "china_2017_42.csv"
    df = _read_csv(path, dtype={"Code": str})
    cols = [f"{i:02d}" for i in range(1, 43)]
    names = _read_csv(china / "sector_names_42_nbs2017.csv", dtype={"Code": str})
    if list(names["Code"]) != cols:
        raise BuildError(f"{china / 'sector_names_42_nbs2017.csv'}: codes are not 01..42")
    for code, (label, word) in enumerate(zip(SECTORS, NAME_KEYWORDS), start=1):
        name = names["Description"].iloc[code - 1]
        if word not in name.lower():
            raise BuildError(f"sector_names_42_nbs2017.csv: code {code:02d} is {name!r}, "
                             f"which does not look like {label!r}")
    use = np.zeros((42, 42))
    for origin in ("Domestic", "Imports"):
        part = df[df["Origin"] == origin]
        if list(part["Code"]) != cols:
            raise BuildError(f"{path}: {origin} rows are not codes 01..42 in order")
        use += part[cols].to_numpy(float)
    if not np.isfinite(use).all() or (use < 0).any():
        raise BuildError(f"{path}: intermediate use has negative or non-finite values")
    return use


def read_utilisation(path: Path) -> dict[str, float]:
    """``industry_en -> share`` from the hand-entered NBS table (percent in the file)."""
    df = _read_csv(path, dtype={"utilisation_2017": float})
    if list(df.columns) != ["industry_en", "industry_zh", "utilisation_2017", "source"]:
        raise BuildError(f"{path}: columns must be industry_en,industry_zh,utilisation_2017,source")
    out = {}
    for row in df.itertuples(index=False):
        if not 0 < row.utilisation_2017 <= 100:
            raise BuildError(f"{path}: field 'utilisation_2017' of {row.industry_en!r}: "
                             f"{row.utilisation_2017} is not a percentage in (0, 100]")
        out[row.industry_en] = row.utilisation_2017 / 100.0
    return out


# --------------------------------------------------------------------------- ratings


def classify(mean: np.ndarray) -> np.ndarray:
    """Nearest of 0, 0.5, 1; ties (0.25, 0.75) go up, to the more critical class."""
    return np.floor(np.round(2.0 * np.asarray(mean, float), MEAN_DECIMALS) + 0.5) / 2.0


def combine_ratings(conc, ratings: pd.DataFrame, use: np.ndarray):
    """Map the WIOD ratings to NBS 42 with the concordance weights and the split rule.

    The rating of input sector p for user s is the weighted mean over WIOD pairs (i in p,
    j in s) with weights w_pi * w_sj of R[i, j], where R[i, j] is set to 0 for this (p, s)
    when WIOD industry i maps to several NBS sectors G(i) and p supplies less than
    MATERIAL_SHARE of s's purchases from G(i) (split rule; not applied on the diagonal).
    Returns (mean without split, mean with split), both 42 x 42.
    """
    for s, codes in conc.items():
        for c in codes:
            if c not in ratings.index or c not in ratings.columns:
                raise BuildError(f"concordance: WIOD code {c!r} of {s} is not rated in "
                                 "IHS_Markit_results_compact.csv (row and column needed)")
    groups: dict[str, list[int]] = {}
    for p, s in enumerate(SECTORS):
        for c in conc[s]:
            groups.setdefault(c, []).append(p)
    n = len(SECTORS)
    plain = np.zeros((n, n))
    split = np.zeros((n, n))
    for p, sp in enumerate(SECTORS):
        for u, su in enumerate(SECTORS):
            for ci, wi in conc[sp].items():
                members = groups[ci]
                keep = True
                if len(members) > 1 and p != u:
                    total = use[members, u].sum()
                    keep = total > 0 and use[p, u] / total >= MATERIAL_SHARE
                for cj, wj in conc[su].items():
                    r = wi * wj * ratings.at[ci, cj]
                    plain[p, u] += r
                    split[p, u] += r if keep else 0.0
    return plain, split


def apply_edits(matrix: np.ndarray):
    """Apply EDITS to a classified matrix; returns (edited copy, [(p, u, before, after, why)])."""
    out = matrix.copy()
    log = []
    for inp, user, value, why in EDITS:
        p, u = SECTORS.index(inp), SECTORS.index(user)
        if value not in CLASSES:
            raise BuildError(f"edit {inp}->{user}: {value} is not 0, 0.5 or 1")
        if out[p, u] == value:
            raise BuildError(f"edit {inp}->{user}: the mapped rating is already {value}; "
                             "drop the edit")
        log.append((p, u, out[p, u], value, why))
        out[p, u] = value
    return out, log


# --------------------------------------------------------------------------- parameters


def sector_parameters(conc, ratios: pd.Series, util: dict[str, float]) -> list[tuple]:
    """Rows (sector, inventory_days, storable, utilisation, basis) in SECTORS order."""
    rows = []
    for s in SECTORS:
        codes = conc[s]
        missing = [c for c in codes if c not in ratios.index or not np.isfinite(ratios[c])]
        if missing:
            raise BuildError(f"table_ratio_inv_go.csv: no ratio_input_inv_go_monthly for "
                             f"{', '.join(missing)} (sector {s})")
        months = sum(w * ratios[c] for c, w in codes.items())
        days = round(months * DAYS_PER_MONTH, 1)
        spec = UTILISATION_MAP[s]
        if isinstance(spec[0], float):
            value, basis = spec
        else:
            absent = [k for k in spec if k not in util]
            if absent:
                raise BuildError(f"nbs_capacity_utilisation_2017.csv: no row {absent[0]!r} "
                                 f"(needed for {s})")
            value = float(np.mean([util[k] for k in spec]))
            figures = " and ".join(f"{k} {100 * util[k]:.1f}%" for k in spec)
            basis = f"NBS 2017 {'mean of ' if len(spec) > 1 else ''}{figures}"
        rows.append([s, days, int(s in STORABLE), value, basis])
    services = [r[1] for r in rows if r[0] not in STORABLE and r[0] not in INVENTORY_EDITS
                and r[0] not in ("electricity", "gas", "water", "construction", "repair")]
    for r in rows:
        if r[0] in INVENTORY_EDITS:
            r[1] = round(float(np.median(services)), 1)
    return [tuple(r) for r in rows]


# --------------------------------------------------------------------------- writing


def _fmt_rating(v: float) -> str:
    return {0.0: "0", 0.5: "0.5", 1.0: "1"}[float(v)]


def _csv_text(header, rows) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def render(final, param_rows, changes) -> dict[str, str]:
    """The output files as text, keyed by file name."""
    ratings = _csv_text(["input", *SECTORS],
                        [[s, *map(_fmt_rating, final[p])] for p, s in enumerate(SECTORS)])
    params = _csv_text(["sector", "inventory_days", "storable", "utilisation",
                        "utilisation_basis"],
                       [[s, f"{d:.1f}", st, f"{u:.4f}", b] for s, d, st, u, b in param_rows])
    log = _csv_text(["input", "user", "mean_rating", "mapped", "final", "rule"],
                    [[SECTORS[p], SECTORS[u], f"{m:.3f}", _fmt_rating(a), _fmt_rating(b), why]
                     for p, u, m, a, b, why in changes])
    return {RATINGS_FILE: ratings, PARAMETERS_FILE: params, CHANGES_FILE: log}


def build(pichler: Path, china: Path, recipe_dir: Path = RECIPE_DIR) -> dict:
    """Everything derived: ``{"files": {name: text}, "ratings": 42x42, ...}``."""
    conc = read_concordance(recipe_dir / "wiod55_nbs42.csv")
    ratings = read_ratings(pichler)
    use = read_national_use(china)
    plain, split = combine_ratings(conc, ratings, use)
    mapped, with_split = classify(plain), classify(split)
    final, edits = apply_edits(with_split)
    changes = [(p, u, plain[p, u], mapped[p, u], with_split[p, u],
                f"split: {SECTORS[p]} supplies < {MATERIAL_SHARE:.0%} of {SECTORS[u]}'s "
                "purchases of its WIOD aggregate")
               for p, u in np.argwhere(mapped != with_split)]
    changes += [(p, u, split[p, u], before, after, f"edit: {why}")
                for p, u, before, after, why in edits]
    params = sector_parameters(conc, read_inventory_ratios(pichler),
                               read_utilisation(recipe_dir / "nbs_capacity_utilisation_2017.csv"))
    return {"files": render(final, params, changes), "ratings": final, "mapped": mapped,
            "split": with_split, "changes": changes, "parameters": params}


def summary(result: dict) -> str:
    """Counts per rating class, inventory-day quantiles and the changed cells."""
    r = result["ratings"]
    days = np.array([row[1] for row in result["parameters"]])
    lines = [f"critical {int((r == 1).sum())}, important {int((r == 0.5).sum())}, "
             f"not critical {int((r == 0).sum())} of {r.size} cells",
             f"inventory days min {days.min():g} median {np.median(days):g} "
             f"max {days.max():g}",
             f"{len(result['changes'])} cells changed by the split rule or edits"]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pichler", type=Path, default=DEFAULT_PICHLER,
                   help="folder with the Pichler et al. CSV files (default ../shared/data/pichler)")
    p.add_argument("--china", type=Path, default=DEFAULT_CHINA,
                   help="folder with china_2017_42.csv (default ../shared/data/china2017)")
    p.add_argument("--output", type=Path, default=RECIPE_DIR,
                   help="folder to write the derived files to (default data/recipe)")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    args = p.parse_args(argv)
    try:
        result = build(args.pichler, args.china)
    except BuildError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    args.output.mkdir(parents=True, exist_ok=True)
    for name, text in result["files"].items():
        (args.output / name).write_text(text, encoding="utf-8", newline="")
    if not args.quiet:
        print(summary(result))
        print(f"wrote {', '.join(result['files'])} to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
