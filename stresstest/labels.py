"""Labels of an economy for people: what its regions are called (province, country, region),
and the tables of region, sector and use labels and groups behind ``stresstest labels``.

The groups are those of :mod:`stresstest.selectors` (the names a scenario or plan file may
use), so the listing is exactly what the files accept.
"""

from __future__ import annotations

import re

import numpy as np
import xarray as xr

from .selectors import _region_table, _sector_table, _use_table

#: ``attrs["region_kind"]`` values understood as-is; any other non-empty value is used too.
KNOWN_KINDS = ("province", "country", "region", "state", "county", "city", "prefecture")

_ISO = re.compile(r"[A-Z]{2,3}")
_ROW = {"ROW", "RoW", "WA", "WE", "WF", "WL", "WM"}  # rest of the world (WIOD, EXIOBASE)


def _norm(s) -> str:
    return re.sub(r"[^a-z]", "", str(s).lower())


def _province_names() -> set[str]:
    try:
        from .io.ceads import PROVINCES
    except Exception:  # noqa: BLE001 - optional readers not installed
        return set()
    return {_norm(p[1]) for p in PROVINCES} | {p[0] for p in PROVINCES}


def region_word(economy: xr.Dataset) -> str:
    """What a region of ``economy`` is called: ``attrs["region_kind"]`` if set; else
    ``"province"`` when (nearly) all regions are Chinese provinces (English label or Chinese
    name), ``"country"`` when they are ISO country codes (``DEU``, ``CN``; ``ROW`` allowed),
    else ``"region"``."""
    kind = str(economy.attrs.get("region_kind", "") or "").strip().lower()
    if kind:
        return kind
    labels = [str(r) for r in economy["region"].values]
    if not labels:
        return "region"
    need = max(1, int(np.ceil(0.8 * len(labels))))
    provinces = _province_names()
    zh = (list(map(str, economy["region_name_zh"].values))
          if "region_name_zh" in economy.coords else [""] * len(labels))
    hits = sum(1 for r, z in zip(labels, zh)
               if _norm(r) in provinces or (z and z in provinces) or z[:2] in provinces)
    if provinces and hits >= need:
        return "province"
    iso = sum(1 for r in labels if _ISO.fullmatch(r) or r in _ROW)
    if iso >= need:
        return "country"
    return "region"


def plural(word: str) -> str:
    """``province`` -> ``provinces``, ``country`` -> ``countries``."""
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def region_words(economy: xr.Dataset) -> str:
    """The plural of :func:`region_word`."""
    return plural(region_word(economy))


def _coord(economy, name, dim):
    if name in economy.coords and economy[name].dims == (dim,):
        return [str(v) for v in economy[name].values] if economy[name].dtype.kind in "OUS" \
            else economy[name].values
    return None


def _pretty(label: str) -> str:
    label = str(label)
    return label.replace("_", " ").title() if label.islower() else label


def _yes(v) -> str:
    return "yes" if bool(v) else "no"


def _informative(values, labels) -> bool:
    """A name column says something the labels do not (not a copy of them)."""
    return any(str(v) != str(label) for v, label in zip(values, labels))


def region_table(economy: xr.Dataset) -> tuple[list[str], list[list[str]]]:
    """Headers and rows: label, code, Chinese name, zone, coastal (the columns present; names
    that only repeat the labels are left out)."""
    labels = [str(r) for r in economy["region"].values]
    cols = [("label", labels)]
    for name, head in (("region_code", "code"), ("region_name_zh", "Chinese"),
                       ("zone", "zone"), ("coastal", "coastal")):
        v = _coord(economy, name, "region")
        if v is None or (name in ("region_code", "region_name_zh")
                         and not _informative(v, labels)):
            continue
        cols.append((head, [_yes(x) for x in v] if name == "coastal" else list(v)))
    return [h for h, _ in cols], [list(r) for r in zip(*[c for _, c in cols])]


def sector_table(economy: xr.Dataset) -> tuple[list[str], list[list[str]]]:
    """Headers and rows: label, code, English and Chinese names, tradable, critical, essential
    share (the columns present)."""
    labels = [str(s) for s in economy["sector"].values]
    cols = [("label", labels)]
    for name, head in (("sector_code", "code"), ("sector_name", "name"),
                       ("sector_name_zh", "Chinese"), ("tradable", "tradable"),
                       ("critical", "critical"), ("essential_share", "essential share")):
        v = _coord(economy, name, "sector")
        if v is None or (name in ("sector_code", "sector_name", "sector_name_zh")
                         and not _informative(v, labels)):
            continue
        if name in ("tradable", "critical"):
            v = [_yes(x) for x in v]
        elif name == "essential_share":
            v = [f"{float(x):.2g}" for x in v]
        cols.append((head, list(v)))
    return [h for h, _ in cols], [list(r) for r in zip(*[c for _, c in cols])]


def use_table(economy: xr.Dataset) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the final uses: label, consumption, inventory."""
    labels = [str(u) for u in economy["use"].values]
    cols = [("label", labels)]
    for name in ("consumption", "inventory"):
        v = _coord(economy, name, "use")
        if v is not None:
            cols.append((name, [_yes(x) for x in v]))
    return [h for h, _ in cols], [list(r) for r in zip(*[c for _, c in cols])]


def groups(economy: xr.Dataset) -> dict[str, dict[str, list[str]]]:
    """``{"regions": {group: [labels]}, "sectors": {...}, "uses": {...}}``: the groups the
    selectors of scenario and plan files accept, with their members in economy order."""
    out = {}
    for key, (labels, _table, grp, _kind) in (("regions", _region_table(economy)),
                                              ("sectors", _sector_table(economy)),
                                              ("uses", _use_table(economy))):
        out[key] = {g: [labels[int(i)] for i in idx] for g, idx in grp.items()}
    return out


__all__ = ["region_word", "region_words", "plural", "region_table", "sector_table",
           "use_table", "groups"]
