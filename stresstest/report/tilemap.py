"""Province maps as inline SVG: a tile-grid map of China's 31 provinces, or a lon/lat scatter.

The tile grid puts each province on one square of a 9 x 8 grid so that neighbours stay
neighbours (north-east at the top right, Xinjiang and Tibet to the west, Hainan at the bottom).
A region matches a tile by its label (``"Guangdong"``, ``"InnerMongolia"``, ``"Inner Mongolia"``),
its ``region_name_zh`` or its two-digit NBS ``region_code``. Economies whose regions do not all
match get a scatter on ``lon``/``lat`` instead (:func:`region_map_svg` picks).
"""

from __future__ import annotations

import math
import re
from html import escape

import numpy as np
import xarray as xr

from .charts import color_for, colorbar_svg

#: province key -> (row, col, ISO 3166-2:CN code, NBS code, Chinese name, short Chinese name)
CHINA_TILES: dict[str, tuple] = {
    "heilongjiang": (0, 8, "HL", "23", "黑龙江", "黑"),
    "innermongolia": (1, 5, "NM", "15", "内蒙古", "蒙"),
    "beijing": (1, 6, "BJ", "11", "北京", "京"),
    "liaoning": (1, 7, "LN", "21", "辽宁", "辽"),
    "jilin": (1, 8, "JL", "22", "吉林", "吉"),
    "xinjiang": (2, 1, "XJ", "65", "新疆", "新"),
    "ningxia": (2, 4, "NX", "64", "宁夏", "宁"),
    "shanxi": (2, 5, "SX", "14", "山西", "晋"),
    "hebei": (2, 6, "HE", "13", "河北", "冀"),
    "tianjin": (2, 7, "TJ", "12", "天津", "津"),
    "qinghai": (3, 2, "QH", "63", "青海", "青"),
    "gansu": (3, 3, "GS", "62", "甘肃", "甘"),
    "shaanxi": (3, 4, "SN", "61", "陕西", "陕"),
    "henan": (3, 5, "HA", "41", "河南", "豫"),
    "shandong": (3, 6, "SD", "37", "山东", "鲁"),
    "tibet": (4, 2, "XZ", "54", "西藏", "藏"),
    "sichuan": (4, 3, "SC", "51", "四川", "川"),
    "chongqing": (4, 4, "CQ", "50", "重庆", "渝"),
    "hubei": (4, 5, "HB", "42", "湖北", "鄂"),
    "anhui": (4, 6, "AH", "34", "安徽", "皖"),
    "jiangsu": (4, 7, "JS", "32", "江苏", "苏"),
    "shanghai": (4, 8, "SH", "31", "上海", "沪"),
    "yunnan": (5, 3, "YN", "53", "云南", "滇"),
    "guizhou": (5, 4, "GZ", "52", "贵州", "黔"),
    "hunan": (5, 5, "HN", "43", "湖南", "湘"),
    "jiangxi": (5, 6, "JX", "36", "江西", "赣"),
    "zhejiang": (5, 7, "ZJ", "33", "浙江", "浙"),
    "guangxi": (6, 4, "GX", "45", "广西", "桂"),
    "guangdong": (6, 5, "GD", "44", "广东", "粤"),
    "fujian": (6, 6, "FJ", "35", "福建", "闽"),
    "hainan": (7, 4, "HI", "46", "海南", "琼"),
}
_ALIASES = {"neimenggu": "innermongolia", "nei mongol": "innermongolia", "xizang": "tibet",
            "shaanxi": "shaanxi", "shensi": "shaanxi"}
_BY_CODE = {v[3]: k for k, v in CHINA_TILES.items()}
_BY_ZH = {v[4]: k for k, v in CHINA_TILES.items()}


def _norm(label: str) -> str:
    s = re.sub(r"[^a-z]", "", str(label).lower())
    return _ALIASES.get(s, s)


def china_tile_keys(economy: xr.Dataset) -> list[str] | None:
    """The tile key of every region in order, or ``None`` if they are not China's 31 provinces."""
    regions = list(map(str, economy["region"].values))
    zh = (list(map(str, economy["region_name_zh"].values))
          if "region_name_zh" in economy.coords else [""] * len(regions))
    codes = (list(map(str, economy["region_code"].values))
             if "region_code" in economy.coords else [""] * len(regions))
    keys = []
    for label, name_zh, code in zip(regions, zh, codes):
        key = _norm(label)
        if key not in CHINA_TILES:
            key = _BY_CODE.get(code[:2]) or next(
                (k for z, k in _BY_ZH.items() if name_zh.startswith(z[:2])), None)
        if key is None:
            return None
        keys.append(key)
    if len(set(keys)) != len(keys) or len(keys) != len(CHINA_TILES):
        return None
    return keys


def _text_color(rgb) -> str:
    r, g, b = rgb[:3]
    return "#111" if 0.299 * r + 0.587 * g + 0.114 * b > 0.55 else "#fff"


def _tile_pct(v) -> str:
    """A share on a tile: whole percent, but never 100% below 1 (99.6% -> ``99.6%``)."""
    text = f"{100 * v:.0f}%"
    if v < 1 and text == "100%":
        return f"{min(99.9, math.floor(1000 * v) / 10):.1f}%"
    return text


def _tile_pp(v) -> str:
    """A difference of shares on a tile, in percentage points (``+3.2``)."""
    if abs(v) < 0.0005:
        return "0"
    return f"{100 * v:+.1f}" if abs(v) < 0.1 else f"{100 * v:+.0f}"


def tile_map_svg(keys, values, names, *, title: str, lang: str = "en", vmin: float = 0.0,
                 vmax: float = 1.0, fmt=_tile_pct, tile: int = 58,
                 legend: str = "", cmap: str | None = None, tick_fmt=None,
                 tooltips=None) -> str:
    """A tile map: one square per province coloured by ``values`` (shares, NaN grey).

    ``names`` are the tooltips (full region names). Tiles show the province's short code
    (ISO ``GD`` in English, ``粤`` in Chinese) and the formatted value.
    """
    gap = 3
    pad_top = 30
    width = 9 * tile + 2 * gap + 16
    height = pad_top + 8 * tile + 46
    parts = [f'<svg class="tilemap" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="{escape(title)}">',
             f'<text x="{gap}" y="18" class="svg-title">{escape(title)}</text>']
    from .charts import CMAP

    cmap = cmap or CMAP
    tips = list(tooltips) if tooltips is not None else [None] * len(names)
    for key, val, name, tip in zip(keys, values, names, tips):
        row, col, iso, _code, _zh, short = CHINA_TILES[key]
        x, y = gap + col * tile, pad_top + row * tile
        rgb = color_for(val, vmin, vmax, cmap)
        fill = "#d9d9d9" if rgb is None else "#%02x%02x%02x" % tuple(int(255 * c) for c in rgb[:3])
        ink = "#111" if rgb is None else _text_color(rgb)
        label = short if lang == "zh" else iso
        vtxt = "n/a" if val is None or not np.isfinite(val) else fmt(val)
        parts.append(
            f'<g><title>{escape(name)}: {escape(tip or vtxt)}</title>'
            f'<rect x="{x}" y="{y}" width="{tile - gap}" height="{tile - gap}" rx="4" '
            f'fill="{fill}"/>'
            f'<text x="{x + (tile - gap) / 2:.1f}" y="{y + tile * 0.42:.1f}" fill="{ink}" '
            f'text-anchor="middle" class="tile-code">{escape(label)}</text>'
            f'<text x="{x + (tile - gap) / 2:.1f}" y="{y + tile * 0.75:.1f}" fill="{ink}" '
            f'text-anchor="middle" class="tile-value">{escape(vtxt)}</text></g>')
    parts.append(colorbar_svg(gap + 14, pad_top + 8 * tile + 8, 9 * tile - gap - 14, vmin, vmax,
                              legend, cmap=cmap, fmt=tick_fmt))
    parts.append("</svg>")
    return "".join(parts)


def scatter_map_svg(lon, lat, values, names, sizes, *, title: str, vmin: float = 0.0,
                    vmax: float = 1.0, fmt=_tile_pct, legend: str = "",
                    width: int = 520, height: int = 420, cmap: str | None = None,
                    tick_fmt=None, tooltips=None) -> str | None:
    """Regions as circles at (lon, lat) (equirectangular, cos-latitude corrected), area
    proportional to ``sizes``; ``None`` when coordinates are missing."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    if lon.size == 0 or not (np.isfinite(lon).all() and np.isfinite(lat).all()):
        return None
    pad, top = 30, 30
    coslat = math.cos(math.radians(float(np.mean(lat))))
    px, py = lon * coslat, lat
    span = max(float(np.ptp(px)), float(np.ptp(py)), 1e-9)
    w, h = width - 2 * pad, height - top - 60
    scale = min(w, h) / span
    cx = pad + (px - px.min()) * scale + (w - np.ptp(px) * scale) / 2
    cy = top + h - (py - py.min()) * scale - (h - np.ptp(py) * scale) / 2
    s = np.sqrt(np.maximum(np.asarray(sizes, float), 0))
    r = 4 + 18 * s / (s.max() if s.max() > 0 else 1)
    parts = [f'<svg class="scattermap" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="{escape(title)}">',
             f'<text x="4" y="18" class="svg-title">{escape(title)}</text>']
    from .charts import CMAP

    cmap = cmap or CMAP
    for i in np.argsort(-r):
        rgb = color_for(values[i], vmin, vmax, cmap)
        fill = "#d9d9d9" if rgb is None else "#%02x%02x%02x" % tuple(int(255 * c) for c in rgb[:3])
        vtxt = "n/a" if not np.isfinite(values[i]) else fmt(values[i])
        tip = tooltips[i] if tooltips is not None else vtxt
        parts.append(f'<g><title>{escape(names[i])}: {escape(tip)}</title>'
                     f'<circle cx="{cx[i]:.1f}" cy="{cy[i]:.1f}" r="{r[i]:.1f}" fill="{fill}" '
                     f'stroke="#555" stroke-width="0.6"/>'
                     f'<text x="{cx[i]:.1f}" y="{cy[i] - r[i] - 2:.1f}" text-anchor="middle" '
                     f'class="tile-value">{escape(names[i].split(" ")[0])}</text></g>')
    parts.append(colorbar_svg(pad, height - 46, width - 2 * pad, vmin, vmax, legend, cmap=cmap,
                              fmt=tick_fmt))
    parts.append("</svg>")
    return "".join(parts)


def region_map_svg(economy: xr.Dataset, values, names, *, title: str, lang: str = "en",
                   vmin: float = 0.0, vmax: float = 1.0, legend: str = "",
                   sizes=None, diverging: bool = False, tooltips=None) -> str | None:
    """The China tile map when the regions are the 31 provinces, else a lon/lat scatter
    (``None`` when neither is possible). ``diverging``: values are differences of shares
    (percentage points on the tiles) on a red-white-blue scale from ``vmin`` to ``vmax``
    (symmetric: white = no change)."""
    from .charts import DIVERGING

    values = np.asarray(values, float)
    extra = {}
    if diverging:
        extra = {"cmap": DIVERGING, "fmt": _tile_pp,
                 "tick_fmt": lambda v: f"{100 * v:+.0f} pp" if abs(v) > 1e-12 else "0"}
    keys = china_tile_keys(economy)
    if keys is not None:
        return tile_map_svg(keys, values, names, title=title, lang=lang, vmin=vmin, vmax=vmax,
                            legend=legend, tooltips=tooltips, **extra)
    sizes = np.ones_like(values) if sizes is None else sizes
    return scatter_map_svg(economy["lon"].values, economy["lat"].values, values, names, sizes,
                           title=title, vmin=vmin, vmax=vmax, legend=legend,
                           tooltips=tooltips, **extra)
