"""The long CSV format: one row per non-zero cell (format spec in ``docs/formats.md``).

Columns ``variable, origin, product, region, sector, use, component, route, value`` (``route``
optional). ``variable`` is a flow (``Z, Y, exports, M, MY, V, x``), ``import_route_share``,
``coord:<name>`` (a label coordinate; exactly one of ``region/sector/use/component`` filled) or
``attr:<key>`` (a dataset attribute). Fields a variable does not use stay empty. Labels are
ordered by first appearance (``origin`` before ``region``, ``product`` before ``sector`` within
a row). Floats are written shortest-repr, so ``write_csv`` -> ``read_csv`` is exact.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..economy import (DIMS, REGION_COORDS, ROUTES, SECTOR_COORDS, make_economy,
                       validate_economy, write_atomic)
from ..errors import InputError
from ._common import existing_file

FIELDS = ("origin", "product", "region", "sector", "use", "component", "route")
COLUMNS = ("variable", *FIELDS, "value")
REQUIRED = ("variable", *FIELDS[:-1], "value")
#: Fields each flow variable fills, in its dim order.
FLOW_FIELDS = {k: v for k, v in DIMS.items()}
FLOW_FIELDS["import_route_share"] = ("sector", "route")
COORD_DIM = {**{c: "region" for c in REGION_COORDS}, **{c: "sector" for c in SECTOR_COORDS},
             "consumption": "use", "inventory": "use", "signed": "component"}
FLOAT_COORDS = ("lon", "lat", "essential_share")
BOOL_COORDS = ("coastal", "tradable", "critical", "consumption", "inventory", "signed")
LABEL_DIMS = ("region", "sector", "use", "component")
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


def _line(i) -> int:
    return int(i) + 2


def _decode(text: str):
    """JSON value of ``text`` (numbers, booleans, quoted strings), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _encode(value) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            return value
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def read_csv(path, *, rtol: float = 1e-6):
    """Read a long-format CSV (``.csv`` or ``.csv.gz``) into a validated economy.

    Every bad row raises :class:`InputError` naming the file, the line, the field and the
    value: missing columns, unknown variables, wrong or missing label fields, non-numeric, NaN or
    infinite values, duplicate cells. Without ``x`` rows, ``x`` is the row sum.
    """
    p = existing_file(path, "long CSV")
    src = str(p)
    try:
        df = pd.read_csv(p, dtype=str, keep_default_na=False, na_filter=False)
    except UnicodeDecodeError as exc:
        raise InputError(f"{src}: not UTF-8 text (byte {exc.object[exc.start:exc.start + 1]!r} "
                         f"at offset {exc.start}); save the CSV as UTF-8") from None
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{src}: cannot read as CSV ({exc})") from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise InputError(f"{src}: missing column(s) {', '.join(missing)}; a long CSV needs "
                         f"{', '.join(COLUMNS)}")
    extra = [c for c in df.columns if c not in COLUMNS]
    if extra:
        raise InputError(f"{src}: unknown column(s) {', '.join(extra)}")
    if "route" not in df.columns:
        df["route"] = ""
    df = df[list(COLUMNS)].apply(lambda s: s.str.strip())
    nul = df.apply(lambda s: s.str.contains("\x00", regex=False)).to_numpy().any(axis=1)
    if nul.any():
        raise InputError(f"{src}: line {_line(np.flatnonzero(nul)[0])}: contains a NUL "
                         "character (is this a text CSV?)")
    var = df["variable"]
    kind = np.where(var.isin(list(FLOW_FIELDS)), "flow",
                    np.where(var.str.startswith("coord:"), "coord",
                             np.where(var.str.startswith("attr:"), "attr", "bad")))
    bad = np.flatnonzero(kind == "bad")
    if len(bad):
        i = bad[0]
        raise InputError(f"{src}: line {_line(i)}: unknown variable {var.iat[i]!r} (use one of "
                         f"{', '.join(FLOW_FIELDS)}, coord:<name> or attr:<key>)")
    filled = df[list(FIELDS)].ne("").to_numpy()
    for i in np.flatnonzero(kind == "coord"):  # cheap: one row per label
        name = var.iat[i][6:]
        fl = [FIELDS[k] for k in np.flatnonzero(filled[i])]
        dim = COORD_DIM.get(name)
        if len(fl) != 1 or fl[0] not in LABEL_DIMS or (dim and fl[0] != dim):
            want = dim or "one of region, sector, use, component"
            raise InputError(f"{src}: line {_line(i)}: {var.iat[i]} needs exactly field "
                             f"{want!r} filled, got {fl or 'none'}")
    for i in np.flatnonzero((kind == "attr") & filled.any(axis=1)):
        raise InputError(f"{src}: line {_line(i)}: {var.iat[i]} takes no label fields")
    for name, fields in FLOW_FIELDS.items():
        rows = np.flatnonzero(var.to_numpy() == name)
        if not len(rows):
            continue
        want = np.isin(FIELDS, fields)
        wrong = filled[rows] != want
        if wrong.any():
            r, k = np.argwhere(wrong)[0]
            i = rows[r]
            state = "must be empty" if filled[i, k] else "is empty"
            raise InputError(f"{src}: line {_line(i)}: field {FIELDS[k]!r} {state} for variable "
                             f"{name} (value {df[FIELDS[k]].iat[i]!r}; {name} uses "
                             f"{', '.join(fields)})")

    dup = df.duplicated(subset=["variable", *FIELDS], keep=False).to_numpy()
    if dup.any():
        i = np.flatnonzero(dup)[:2]
        keys = {f: df[f].iat[i[0]] for f in ("variable", *FIELDS) if df[f].iat[i[0]]}
        raise InputError(f"{src}: duplicate cell {keys} on lines {_line(i[0])} and {_line(i[1])}")

    flow = np.isin(kind, ["flow"])
    fv = df.loc[flow, "value"].to_numpy()
    try:
        values = fv.astype(np.float64) if len(fv) else np.zeros(0)
    except ValueError:
        num = pd.to_numeric(pd.Series(fv), errors="coerce").to_numpy()
        i = np.flatnonzero(flow)[np.flatnonzero(np.isnan(num) & (fv != "nan"))[0]]
        raise InputError(f"{src}: line {_line(i)}: field 'value': {df['value'].iat[i]!r} is not "
                         "a number") from None
    notfinite = ~np.isfinite(values)
    if notfinite.any():
        i = np.flatnonzero(flow)[np.flatnonzero(notfinite)[0]]
        raise InputError(f"{src}: line {_line(i)}: field 'value': {df['value'].iat[i]!r} is not "
                         "a finite number")

    def labels(*cols):
        stacked = df[list(cols)].to_numpy().reshape(-1)
        return list(pd.unique(stacked[stacked != ""]))

    lab = {"region": labels("origin", "region"), "sector": labels("product", "sector"),
           "use": labels("use"), "component": labels("component")}
    lab["origin"], lab["product"] = lab["region"], lab["sector"]
    routes = labels("route")
    unknown_routes = [r for r in routes if r not in ROUTES]
    if unknown_routes:
        i = np.flatnonzero(df["route"].isin(unknown_routes).to_numpy())[0]
        raise InputError(f"{src}: line {_line(i)}: field 'route': {df['route'].iat[i]!r} is not "
                         f"one of {', '.join(ROUTES)}")
    lab["route"] = list(ROUTES)
    for d in LABEL_DIMS:
        if d in ("region", "sector") and not lab[d]:
            raise InputError(f"{src}: no {d} labels (no rows fill {d!r})")

    arrays = {}
    fdf = df.loc[flow]
    fvar = fdf["variable"].to_numpy(dtype=object)
    fcol = {f: fdf[f].to_numpy(dtype=object) for f in FIELDS}
    for name, fields in FLOW_FIELDS.items():
        sel = fvar == name
        shape = tuple(len(lab[f]) for f in fields)
        if name == "x" and not sel.any():
            arrays[name] = None
            continue
        arr = np.zeros(shape)
        if sel.any():
            idx = tuple(pd.Index(lab[f]).get_indexer(fcol[f][sel]) for f in fields)
            arr[idx] = values[sel]
        arrays[name] = arr

    coords = {d: {} for d in LABEL_DIMS}
    for i in np.flatnonzero(kind == "coord"):
        name = var.iat[i][6:]
        d = FIELDS[int(np.flatnonzero(filled[i])[0])]
        text = df["value"].iat[i]
        label = df[d].iat[i]
        if name in FLOAT_COORDS:
            try:
                val = float(text)
            except ValueError:
                raise InputError(f"{src}: line {_line(i)}: field 'value': {text!r} is not a "
                                 f"number (coordinate {name})") from None
        elif name in BOOL_COORDS:
            if text.lower() not in _TRUE | _FALSE:
                raise InputError(f"{src}: line {_line(i)}: field 'value': {text!r} is not "
                                 f"true/false (coordinate {name})")
            val = text.lower() in _TRUE
        elif name in COORD_DIM:
            val = _decode(text) if text.startswith('"') else text
            val = str(val)
        else:
            val = _decode(text)
        coords[d].setdefault(name, {})[label] = val
    full = {}
    for d, by_name in coords.items():
        for name, mapping in by_name.items():
            lacking = [v for v in lab[d] if v not in mapping]
            if lacking:
                raise InputError(f"{src}: coord:{name} has no row for {d} {lacking[0]!r}")
            full[(d, name)] = [mapping[v] for v in lab[d]]

    attrs = {var.iat[i][5:]: _decode(df["value"].iat[i]) for i in np.flatnonzero(kind == "attr")}
    units = str(attrs.pop("units", "currency"))
    use_flag = {k: full.get(("use", k)) for k in ("consumption", "inventory")}
    inventory = [u for u, f in zip(lab["use"], use_flag["inventory"] or []) if f]
    consumption = (None if use_flag["consumption"] is None else
                   [u for u, f in zip(lab["use"], use_flag["consumption"]) if f])
    signed = [c for c, f in zip(lab["component"], full.get(("component", "signed")) or []) if f]
    eco = make_economy(
        arrays["Z"], arrays["Y"], arrays["exports"], arrays["M"], arrays["MY"], arrays["V"],
        x=arrays["x"], regions=lab["region"], sectors=lab["sector"], uses=lab["use"],
        components=lab["component"], units=units,
        region_coords={n: v for (d, n), v in full.items() if d == "region" and n in COORD_DIM},
        sector_coords={n: v for (d, n), v in full.items() if d == "sector" and n in COORD_DIM},
        consumption_uses=consumption, inventory_uses=inventory, signed_components=signed,
        import_route_share=(arrays["import_route_share"]
                            if (df["variable"] == "import_route_share").any() else None),
        attrs=attrs, validate=False)
    extra = {n: (d, np.asarray(v)) for (d, n), v in full.items() if n not in COORD_DIM}
    if extra:
        eco = eco.assign_coords(extra)
    return validate_economy(eco, rtol=rtol, source=src)


def write_csv(economy, path) -> Path:
    """Write an economy as a long CSV (``.gz`` suffix: gzip), atomically; exact round trip.

    Writes the attributes, every label coordinate for every label, the full
    ``import_route_share`` table, then the non-zero cells of each flow (``x`` included).
    """
    validate_economy(economy)
    parts = []

    def frame(variable, fields: dict, values):
        n = len(values)
        cols = {"variable": np.full(n, variable, dtype=object)}
        for f in FIELDS:
            cols[f] = np.asarray(fields[f], dtype=object) if f in fields else np.full(n, "", object)
        cols["value"] = np.asarray(values, dtype=object)
        parts.append(pd.DataFrame(cols))

    for key, val in economy.attrs.items():
        frame(f"attr:{key}", {}, [_encode(val)])
    for d in LABEL_DIMS:
        labels = economy[d].values.astype(str)
        for name in economy.coords:
            c = economy.coords[name]
            if name == d or c.dims != (d,):
                continue
            vals = c.values
            if c.dtype == bool:
                enc = np.where(vals, "true", "false")
            elif c.dtype.kind == "f":
                enc = vals.astype(str)
            elif name in COORD_DIM:
                enc = [(_encode(v) if str(v).startswith('"') else str(v)) for v in vals]
            else:
                enc = [_encode(v) for v in vals]
            frame(f"coord:{name}", {d: labels}, enc)
    irs = economy["import_route_share"].transpose("sector", "route")
    sec, rte = np.meshgrid(economy["sector"].values.astype(str),
                           economy["route"].values.astype(str), indexing="ij")
    frame("import_route_share", {"sector": sec.ravel(), "route": rte.ravel()},
          irs.values.astype(np.float64).ravel().astype(str))
    for name, dims in DIMS.items():
        arr = economy[name].transpose(*dims).values.astype(np.float64)
        nz = np.nonzero(arr)
        fields = {f: economy[f].values.astype(str)[i] for f, i in zip(dims, nz)}
        frame(name, fields, arr[nz].astype(str))
    out = pd.concat(parts, ignore_index=True)
    compression = "gzip" if str(path).endswith(".gz") else None
    return write_atomic(path, lambda tmp: out.to_csv(tmp, index=False, compression=compression))
