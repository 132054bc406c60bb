"""Money units: one unit per output, chosen by the user.

An economy states its money unit in ``attrs["units"]`` (china31: ``1e8 yuan``, i.e. 亿元). A
money unit is a scale and a currency: ``1e8 yuan`` = (1e8, yuan), ``bn yuan`` = (1e9, yuan),
``亿元`` = (1e8, yuan), ``million USD`` = (1e6, USD). Outputs (tables, CSV and xlsx columns,
netCDF attributes, the report) show money in one unit, :func:`default_unit` unless the user
chooses another (``--unit``, ``unit=``): ``bn yuan`` for yuan economies (``亿元`` in the
Chinese report), else the economy's own unit. Conversion between currencies is never done: a
unit in another currency is an error.
"""

from __future__ import annotations

import re

from .errors import InputError

#: Days in the year of a table's annual flows: daily money = annual money / DAYS_PER_YEAR.
DAYS_PER_YEAR = 365.0

#: Scale words (lower case, no spaces around) -> factor.
_SCALES = {
    "": 1.0, "1": 1.0, "thousand": 1e3, "k": 1e3, "1e3": 1e3, "10^3": 1e3,
    "10,000": 1e4, "10000": 1e4, "ten thousand": 1e4, "1e4": 1e4, "10^4": 1e4,
    "million": 1e6, "mn": 1e6, "m": 1e6, "1e6": 1e6, "10^6": 1e6, "mio": 1e6,
    "100 million": 1e8, "hundred million": 1e8, "1e8": 1e8, "10^8": 1e8,
    "billion": 1e9, "bn": 1e9, "1e9": 1e9, "10^9": 1e9,
    "trillion": 1e12, "tn": 1e12, "1e12": 1e12, "10^12": 1e12,
}
#: Chinese money units (yuan).
_ZH = {"元": 1.0, "万元": 1e4, "百万元": 1e6, "亿元": 1e8, "十亿元": 1e9, "万亿元": 1e12}
_YUAN = ("yuan", "cny", "rmb")
#: Canonical labels of yuan scales (English; Chinese in :data:`_ZH`).
_YUAN_LABELS = {1.0: "yuan", 1e4: "10,000 yuan", 1e6: "million yuan", 1e8: "1e8 yuan",
                1e9: "bn yuan", 1e12: "trillion yuan"}


def parse_unit(text) -> tuple[float, str]:
    """``(scale, currency)`` of a money unit (``"1e8 yuan"`` -> ``(1e8, "yuan")``); the
    currency is ``"yuan"`` for any spelling of yuan/CNY/RMB/元. Units that do not parse are
    their own currency at scale 1."""
    raw = str(text).strip()
    if raw in _ZH:
        return _ZH[raw], "yuan"
    t = re.sub(r"\s+", " ", raw.lower().replace("_", " ")).strip()
    t = t.replace(" per year", "").replace("/yr", "").replace("/year", "").strip()
    for cur in _YUAN:
        if t == cur or t.endswith(" " + cur) or t.endswith("." + cur):
            scale = t[: len(t) - len(cur)].rstrip(" .")
            if scale in _SCALES:
                return _SCALES[scale], "yuan"
    m = re.match(r"^(.*?)[ .]?([a-z]{3})$", t)
    if m and m.group(1).strip(" .") in _SCALES and m.group(1):
        return _SCALES[m.group(1).strip(" .")], m.group(2).upper()
    return 1.0, raw


def is_yuan(units) -> bool:
    return parse_unit(units)[1] == "yuan"


def default_unit(economy_units, lang: str = "en") -> str:
    """``bn yuan`` (``亿元`` when ``lang`` is ``zh``) for a yuan economy, else its units."""
    if is_yuan(economy_units):
        return "亿元" if lang == "zh" else "bn yuan"
    return str(economy_units)


def label(unit) -> str:
    """The label a unit is shown with: Chinese units as given, yuan scales canonical
    (``billion yuan`` -> ``bn yuan``), anything else as given."""
    raw = str(unit).strip()
    if raw in _ZH:
        return raw
    scale, cur = parse_unit(raw)
    if cur == "yuan" and scale in _YUAN_LABELS:
        return _YUAN_LABELS[scale]
    return raw


def factor(economy_units, unit=None, lang: str = "en") -> tuple[float, str]:
    """``(f, label)``: money in ``economy_units`` times ``f`` is money in ``unit`` (default
    :func:`default_unit`). Raises :class:`InputError` for a unit in another currency."""
    unit = default_unit(economy_units, lang) if unit in (None, "") else unit
    s_from, c_from = parse_unit(economy_units)
    s_to, c_to = parse_unit(unit)
    if c_from != c_to:
        if str(unit).strip() == str(economy_units).strip():
            return 1.0, str(unit)
        raise InputError(f"unit {unit!r}: money in this economy is in {economy_units!r}; "
                         f"choose a unit of the same currency (e.g. "
                         f"{default_unit(economy_units)!r}); currencies are not converted")
    return s_from / s_to, label(unit)
