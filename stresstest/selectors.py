"""Region, sector and use selectors of scenario and plan files.

A selector is a string or a list of strings. Each item is a label, a name or a group; matching
ignores case, spaces, hyphens and underscores (``"Inner Mongolia" == "InnerMongolia"``).

* regions: labels, ``region_name_zh``, ``region_code`` (if present); groups ``all``,
  ``coastal``, ``inland`` and every ``zone`` value;
* sectors (and products): labels, ``sector_name`` (full English name), ``sector_name_zh``,
  ``sector_code`` (if present); groups ``all``, ``critical``, ``tradable``, ``nontradable``;
* uses: labels; groups ``all``, ``consumption`` (households and government), ``inventory``.

An item with a leading ``-`` or ``!`` excludes; a selector that starts with an exclusion starts
from ``all`` (``["-Tibet"]`` is every region but Tibet). A string that is not a name as a whole
is split on commas (``"coastal, -Hainan"``). Items apply in order. The result is in economy
order without duplicates; an unknown item or an empty result raises the given error class.
"""

from __future__ import annotations

import re

import numpy as np
import xarray as xr

from ._toml import closest, suggestions
from .economy import cached
from .errors import ScenarioError

_STRIP = re.compile(r"[\s\-_]+")


def normalize(name: str) -> str:
    """Case-folded name without spaces, hyphens or underscores."""
    return _STRIP.sub("", str(name)).casefold()


def _coord(economy: xr.Dataset, name: str, dim: str):
    if name in economy.coords and economy[name].dims == (dim,):
        return economy[name].values
    return None


def _names(economy: xr.Dataset, dim: str, coords) -> tuple[list[str], dict[str, list[int]]]:
    labels = [str(v) for v in economy[dim].values]
    table: dict[str, list[int]] = {}
    for c in coords:
        values = _coord(economy, c, dim)
        if values is None:
            continue
        for i, v in enumerate(values):
            table.setdefault(normalize(v), [i])
    for i, v in enumerate(labels):
        table[normalize(v)] = [i]
    return labels, table


def _lookup(labels, table, groups) -> tuple[list[str], dict, dict]:
    """``(labels, lookup, groups)``: ``lookup`` maps every normalised name and group to
    positions (a name wins over a group of the same name)."""
    lookup = dict(table)
    for g, idx in groups.items():
        lookup.setdefault(g, idx)
    return labels, lookup, groups


def _region_table(economy):
    return cached(economy, "selectors:region", lambda: _make_region_table(economy)) + ("region",)


def _make_region_table(economy):
    labels, table = _names(economy, "region", ("region_code", "region_name_zh"))
    n = len(labels)
    groups = {"all": list(range(n))}
    coastal = _coord(economy, "coastal", "region")
    if coastal is not None:
        coastal = np.asarray(coastal).astype(bool)
        groups["coastal"] = list(np.flatnonzero(coastal))
        groups["inland"] = list(np.flatnonzero(~coastal))
    zone = _coord(economy, "zone", "region")
    if zone is not None:
        for z in dict.fromkeys(map(str, zone)):
            groups.setdefault(normalize(z), [i for i in range(n) if str(zone[i]) == z])
    return _lookup(labels, table, groups)


def _sector_table(economy, kind="sector"):
    return cached(economy, "selectors:sector", lambda: _make_sector_table(economy)) + (kind,)


def _make_sector_table(economy):
    labels, table = _names(economy, "sector",
                           ("sector_code", "sector_name", "sector_name_zh"))
    n = len(labels)
    groups = {"all": list(range(n))}
    for flag in ("critical", "tradable"):
        values = _coord(economy, flag, "sector")
        if values is not None:
            groups[flag] = list(np.flatnonzero(np.asarray(values).astype(bool)))
    tradable = _coord(economy, "tradable", "sector")
    if tradable is not None:
        groups["nontradable"] = list(np.flatnonzero(~np.asarray(tradable).astype(bool)))
    return _lookup(labels, table, groups)


def _use_table(economy):
    return cached(economy, "selectors:use", lambda: _make_use_table(economy)) + ("use",)


def _make_use_table(economy):
    labels, table = _names(economy, "use", ())
    n = len(labels)
    groups = {"all": list(range(n))}
    for flag in ("consumption", "inventory"):
        values = _coord(economy, flag, "use")
        if values is not None:
            groups.setdefault(flag, list(np.flatnonzero(np.asarray(values).astype(bool))))
    return _lookup(labels, table, groups)


def _items(spec, where, error):
    if isinstance(spec, str):
        return [spec]
    if isinstance(spec, (list, tuple)) and spec and all(isinstance(s, str) for s in spec):
        return list(spec)
    raise error(f"{where}: {spec!r} must be a name or a list of names")


def _resolve(spec, info, where, error) -> list[str]:
    labels, lookup, groups, kind = info
    where = where or "selector"

    def find(token: str):
        return lookup.get(normalize(token))

    def unknown(token: str):
        candidates = list(labels) + list(groups)
        hint = closest(token, candidates)
        if not hint:
            normal = {normalize(c): c for c in candidates}
            hits = [normal[h] for h in _close(normalize(token), normal)]
            hint = ("; did you mean " + ", ".join(map(repr, hits)) + "?") if hits else ""
        raise error(f"{where}: unknown {kind} {token!r}{hint} (groups: {', '.join(groups)})")

    def split_sign(text: str):
        text = text.strip()
        if text[:1] in "-!" and len(text) > 1:
            return "-", text[1:].strip()
        return "", text

    tokens: list[tuple[str, list[int]]] = []
    for item in _items(spec, where, error):
        sign, body = split_sign(item)
        idx = find(body)
        if idx is not None:
            tokens.append((sign, idx))
            continue
        if "," not in body:
            unknown(body)
        for part in filter(None, (p.strip() for p in item.split(","))):
            psign, pbody = split_sign(part)
            pidx = find(pbody)
            if pidx is None:
                unknown(pbody)
            tokens.append((psign, pidx))
    chosen = np.zeros(len(labels), bool)
    if tokens and tokens[0][0] == "-":
        chosen[:] = True
    for sign, idx in tokens:
        chosen[list(idx)] = sign != "-"
    if not chosen.any():
        raise error(f"{where}: {spec!r} selects no {kind}")
    return [labels[i] for i in np.flatnonzero(chosen)]


def _close(word, candidates):
    return suggestions(word, list(candidates), n=3)


def select_regions(economy: xr.Dataset, spec, *, where: str = "", error=ScenarioError) -> list[str]:
    """Region labels selected by ``spec`` (string or list of strings), in economy order."""
    return _resolve(spec, _region_table(economy), where, error)


def select_sectors(economy: xr.Dataset, spec, *, where: str = "", error=ScenarioError,
                   kind: str = "sector") -> list[str]:
    """Sector (= product) labels selected by ``spec``, in economy order."""
    return _resolve(spec, _sector_table(economy, kind), where, error)


def select_products(economy: xr.Dataset, spec, *, where: str = "", error=ScenarioError) -> list[str]:
    """Product labels (the sector selector, errors say 'product')."""
    return select_sectors(economy, spec, where=where, error=error, kind="product")


def select_uses(economy: xr.Dataset, spec, *, where: str = "", error=ScenarioError) -> list[str]:
    """Final-use labels selected by ``spec``, in economy order."""
    return _resolve(spec, _use_table(economy), where, error)


def indices(economy: xr.Dataset, dim: str, labels) -> np.ndarray:
    """Positions of ``labels`` along ``dim``."""
    pos = cached(economy, f"positions:{dim}",
                 lambda: {str(v): i for i, v in enumerate(economy[dim].values)})
    return np.array([pos[str(label)] for label in labels], dtype=np.intp)


__all__ = ["select_regions", "select_sectors", "select_products", "select_uses", "normalize",
           "indices"]
