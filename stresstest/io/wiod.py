"""WIOD long-run wide CSV (``WIODlr_WIOT_<year>.csv[.gz]``) -> economy.

Layout: columns ``IndustryCode_isic3, IndustryDescription, Country, Year``, then intermediate
use ``<CTY>_<ind>``, final demand ``<CTY>_xCONS_h|xCONS_g|xGFCF|xINV`` and memo columns
``xTOT_xX, xTOT_xM, xTOT_xMRG_int, xTOT_xGO``. Rows: producing country-industries, then
``Country == "xTOT"`` rows ``xII, xVA, xTXSP, xSD, xPURNR, xPURR, xMRG_int, xGO``. The rest of
the world (``xROW``) is a region labelled ``ROW``; all trade is inside the table, so
``exports``, ``M`` and ``MY`` are zero. The mapping and the balancing rules are in
``docs/formats.md``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ..economy import make_economy, validate_economy
from ..errors import InputError
from ._common import (check_finite, check_nonnegative, check_residual, check_unique,
                      existing_file, zero_rounding_noise)

ID_COLUMNS = ("IndustryCode_isic3", "IndustryDescription", "Country")
#: WIOD final-demand column suffix -> use label.
USES = {"xCONS_h": "households", "xCONS_g": "government", "xGFCF": "fixed_capital",
        "xINV": "inventory"}
#: ``xTOT`` row code -> value-added component label (other codes keep their code without "x").
COMPONENTS = {"xVA": "value_added", "xTXSP": "taxes_less_subsidies",
              "xPURNR": "purchases_by_nonresidents", "xPURR": "purchases_abroad_by_residents",
              "xMRG_int": "international_transport_margins"}
TOTAL_COUNTRY = "xTOT"
MEMO_COLUMNS = ("xTOT_xX", "xTOT_xM", "xTOT_xMRG_int")
GO_COLUMN = "xTOT_xGO"


def _region_label(country: str) -> str:
    return country[1:] if country.startswith("x") and country[1:].isupper() else country


def _numeric(df: pd.DataFrame, source: str, rows_desc) -> np.ndarray:
    """Columns of ``df`` as float64; non-numeric text raises InputError naming the cell."""
    out = df.apply(pd.to_numeric, errors="coerce")
    bad = out.isna() & df.notna()
    if bad.to_numpy().any():
        r, c = np.argwhere(bad.to_numpy())[0]
        raise InputError(f"{source}: non-numeric value {df.iat[r, c]!r} in column "
                         f"{df.columns[c]!r}, row {rows_desc(r)}")
    return np.array(out.to_numpy(dtype=np.float64), copy=True)


def read_wiod(path, *, rtol: float = 1e-5):
    """Read a WIOD long-run wide CSV (``.csv`` or ``.csv.gz``) into an economy.

    ``x`` is ``xTOT_xGO``. Row identity: ``x = ΣZ + ΣY``; the source misses it by rounding
    (~5e-4 absolute); a row missing it by more than ``rtol·x`` raises :class:`EconomyError`
    naming the row, smaller misses are added to the producing region's own ``inventory`` use
    (``attrs["row_rounding_max"]``). Non-inventory final-demand entries below
    ``-1e-6·rtol·x`` are errors; negative rounding noise above that is set to 0 and counted
    (``attrs["negative_noise_zeroed"]``). Column identity: ``V`` = the ``xTOT`` rows other
    than ``xII``/``xGO`` plus a signed ``residual`` (checked against ``rtol``). Units: million
    US dollars.
    """
    p = existing_file(path, "WIOD CSV")
    source = str(p)
    try:
        df = pd.read_csv(p, low_memory=False)
    except Exception as exc:  # noqa: BLE001 - any parser failure is a bad file
        raise InputError(f"{source}: cannot read as a WIOD CSV ({exc})") from None
    missing = [c for c in (*ID_COLUMNS, GO_COLUMN) if c not in df.columns]
    if missing:
        raise InputError(f"{source}: missing column(s) {', '.join(missing)} (not a WIOD wide CSV)")
    country = df["Country"].astype(str).str.strip()
    code = df["IndustryCode_isic3"].astype(str).str.strip()
    is_tot = (country == TOTAL_COUNTRY).to_numpy()
    prod = df.loc[~is_tot]
    countries = list(dict.fromkeys(country[~is_tot]))
    codes = list(dict.fromkeys(code[~is_tot]))
    R, S = len(countries), len(codes)
    if R == 0 or S == 0:
        raise InputError(f"{source}: no producing rows (Country other than {TOTAL_COUNTRY})")
    keys = country[~is_tot] + "_" + code[~is_tot]
    check_unique(keys, "country-industry row", source)
    wanted = pd.Index([f"{c}_{s}" for c in countries for s in codes])
    if len(keys) != R * S or not pd.Index(keys).isin(wanted).all():
        raise InputError(f"{source}: not a symmetric table: {len(keys)} producing rows, "
                         f"expected {R} countries x {S} industries")
    pos = pd.Index(keys).get_indexer(wanted)
    prod = prod.iloc[pos]
    regions = [_region_label(c) for c in countries]
    check_unique(regions, "region", source)

    fd_cols = [f"{c}_{u}" for c in countries for u in USES]
    known = set(ID_COLUMNS) | {"Year", GO_COLUMN, *MEMO_COLUMNS} | set(wanted) | set(fd_cols)
    absent = [c for c in [*wanted, *fd_cols] if c not in df.columns]
    if absent:
        raise InputError(f"{source}: missing column(s) {', '.join(absent[:5])}"
                         f"{' ...' if len(absent) > 5 else ''}")
    unknown = [c for c in df.columns if c not in known]
    if unknown:
        raise InputError(f"{source}: unexpected column(s) {', '.join(map(str, unknown[:5]))}")

    def rowname(i):
        return f"{countries[i // S]}/{codes[i % S]}"

    n = R * S
    ind = lambda t: f"{regions[t[0] // S]}/{codes[t[0] % S]}"  # noqa: E731
    Z = _numeric(prod[list(wanted)], source, rowname)
    F = _numeric(prod[fd_cols], source, rowname).reshape(n, R, len(USES))
    x = _numeric(prod[[GO_COLUMN]], source, rowname)[:, 0]
    check_finite(x, lambda t: f"{GO_COLUMN}[{ind(t)}]", "gross output", source)
    check_finite(Z, lambda t: f"[{ind(t)} -> {ind(t[1:])}]", "intermediate use", source)
    check_finite(F, lambda t: f"[{ind(t)} -> {regions[t[1]]}_{list(USES)[t[2]]}]",
                 "final demand", source)
    check_nonnegative(x, lambda t: f"{GO_COLUMN}[{ind(t)}]", "gross output", source)
    check_nonnegative(Z, lambda t: f"[{ind(t)} -> {ind(t[1:])}]", "intermediate use", source)
    inv = list(USES.values()).index("inventory")
    noninv = np.ones(len(USES), bool)
    noninv[inv] = False
    Fn, n_noise = zero_rounding_noise(F[:, :, noninv], x, rtol)
    F[:, :, noninv] = Fn
    check_nonnegative(F[:, :, noninv],
                      lambda t: f"[{ind(t)} -> {regions[t[1]]}_"
                                f"{np.array(list(USES))[noninv][t[2]]}]",
                      "non-inventory final demand", source)

    resid_row = x - Z.sum(axis=1) - F.sum(axis=(1, 2))
    check_residual(resid_row, x, rtol, lambda t: f"row {ind(t)}",
                   "row identity xGO = sum(Z) + sum(final demand)", source)
    F[np.arange(n), np.arange(n) // S, inv] += resid_row

    tot = df.loc[is_tot]
    tcodes = code[is_tot].tolist()
    check_unique(tcodes, f"{TOTAL_COUNTRY} row", source)
    tot_num = _numeric(tot[list(wanted)], source, lambda r: f"{TOTAL_COUNTRY}/{tcodes[r]}")
    check_finite(tot_num, lambda t: f"{TOTAL_COUNTRY}/{tcodes[t[0]]} column {wanted[t[1]]}",
                 f"{TOTAL_COUNTRY} rows", source)
    if "xGO" in tcodes:
        go_col = tot_num[tcodes.index("xGO")]
        check_residual(go_col - x, x, rtol, lambda t: f"column {ind(t)}",
                       "total input xTOT/xGO = output xTOT_xGO", source)
    vcodes = [c for c in tcodes if c not in ("xII", "xGO")]
    comp = [COMPONENTS.get(c, c[1:] if c.startswith("x") else c) for c in vcodes]
    check_unique(comp, "value-added component", source)
    V = tot_num[[tcodes.index(c) for c in vcodes]] if vcodes else np.zeros((0, n))
    resid_col = x - Z.sum(axis=0) - V.sum(axis=0)
    check_residual(resid_col, x, rtol, lambda t: f"column {ind(t)}",
                   "column identity xGO = sum(Z) + sum(xTOT value-added rows)", source)
    V = np.vstack([V, resid_col[None, :]])
    comp = comp + ["residual"]
    signed = [c for c, row in zip(comp, V) if (row < 0).any()] + ["residual"]

    fd_primary = _numeric(tot[fd_cols], source, lambda r: f"{TOTAL_COUNTRY}/{tcodes[r]}")
    not_carried = {c: float(v) for c, v in zip(tcodes, np.nan_to_num(fd_primary).sum(axis=1))
                   if c not in ("xII", "xGO") and v != 0}
    year = None
    if "Year" in df.columns:
        yrs = pd.to_numeric(df["Year"], errors="coerce").dropna().unique()
        year = int(yrs[0]) if len(yrs) == 1 else None
    desc = prod["IndustryDescription"].astype(str).to_numpy()[:S]
    attrs = {
        "source": p.name, "reader": "stresstest.io.read_wiod",
        "title": f"WIOD long-run {year}" if year else "WIOD long-run",
        "row_rounding_max": float(np.abs(resid_row).max()),
        "row_rounding_note": "row rounding (xGO - sum(Z) - sum(final demand)) added to the "
                             "producing region's own inventory use",
        "negative_noise_zeroed": n_noise,
        "final_demand_primary_inputs_not_carried": json.dumps(not_carried),
        "note": "ROW is a region; all trade is inside the table: exports, M and MY are 0",
    }
    if year:
        attrs["year"] = year
    Y = F.reshape(R, S, R, len(USES))
    eco = make_economy(
        Z.reshape(R, S, R, S), Y, np.zeros((R, S)), np.zeros((S, R, S)),
        np.zeros((S, R, len(USES))), V.reshape(len(comp), R, S), x=x.reshape(R, S),
        regions=regions, sectors=codes, uses=list(USES.values()), components=comp,
        units="million USD", sector_coords={"sector_name": desc},
        consumption_uses=["households", "government"], inventory_uses=["inventory"],
        signed_components=signed, attrs=attrs, validate=False)
    return validate_economy(eco, rtol=rtol, source=source)
