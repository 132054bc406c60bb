"""Charts as inline SVG strings (matplotlib, no pyplot, no network).

Text stays text (``svg.fonttype = "none"``) so the browser renders Chinese labels with its own
fonts even when no CJK font is installed for matplotlib; output is deterministic (fixed hash
salt, no date metadata).
"""

from __future__ import annotations

import io
import re
import warnings
from html import escape

import matplotlib
import numpy as np
from matplotlib.figure import Figure

CMAP = "RdYlGn"
INK = "#222222"
MUTED = "#6b6b6b"
PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3",
           "#8c8c8c", "#ccb974", "#64b5cd")

_RC = {
    "svg.fonttype": "none",
    "svg.hashsalt": "stresstest",
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.edgecolor": "#999999",
    "axes.labelcolor": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": INK,
    "ytick.color": INK,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
}


def _cjk_font() -> str | None:
    """Name of a font with CJK glyphs: the one the reports embed
    (:mod:`stresstest.report.fonts`, registered with matplotlib so that Chinese labels get
    their real widths), else an installed one, if any."""
    from matplotlib import font_manager

    from .fonts import font_path

    path = font_path()
    if path is not None:
        names = {f.fname: f.name for f in font_manager.fontManager.ttflist}
        if str(path) not in names:
            font_manager.fontManager.addfont(str(path))
            names = {f.fname: f.name for f in font_manager.fontManager.ttflist}
        if str(path) in names:
            return names[str(path)]
    for f in font_manager.fontManager.ttflist:
        if any(k in f.name for k in ("CJK", "Hei", "Song", "WenQuanYi", "Noto Sans SC",
                                     "Source Han", "YaHei", "PingFang")):
            return f.name
    return None


def new_figure(width: float, height: float) -> Figure:
    """A matplotlib Figure (Agg-free, no pyplot state) of ``width`` x ``height`` inches."""
    return Figure(figsize=(width, height), layout="constrained")


def figure_to_svg(fig: Figure) -> str:
    """Serialise a figure to an inline ``<svg>`` element: no XML prologue, DOCTYPE or metadata."""
    rc = dict(_RC)
    cjk = _cjk_font()
    if cjk:
        rc["font.sans-serif"] = [cjk, *matplotlib.rcParams["font.sans-serif"]]
    buf = io.StringIO()
    with matplotlib.rc_context(rc), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None},
                    bbox_inches="tight", pad_inches=0.3)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    return svg.strip()


DIVERGING = "RdBu"


def color_for(value, vmin: float = 0.0, vmax: float = 1.0, cmap: str = CMAP):
    """RGBA of ``value`` on a colour scale (default: red = low, green = high); None for NaN.
    With ``cmap=DIVERGING`` and a range symmetric around 0, white means no change."""
    if value is None or not np.isfinite(value):
        return None
    t = 0.5 if vmax <= vmin else (float(value) - vmin) / (vmax - vmin)
    return matplotlib.colormaps[cmap](float(np.clip(t, 0.0, 1.0)))


def colorbar_svg(x: float, y: float, width: float, vmin: float, vmax: float,
                 label: str = "", steps: int = 40, cmap: str = CMAP, fmt=None) -> str:
    """A horizontal colour bar as SVG elements, with ticks in percent (``fmt``: tick text)."""
    fmt = fmt or (lambda v: f"{100 * v:.0f}%")
    h = 10
    w = width / steps
    parts = []
    for k in range(steps):
        rgb = color_for(vmin + (vmax - vmin) * (k + 0.5) / steps, vmin, vmax, cmap)
        fill = "#%02x%02x%02x" % tuple(int(255 * c) for c in rgb[:3])
        parts.append(f'<rect x="{x + k * w:.1f}" y="{y}" width="{w + 0.5:.1f}" height="{h}" '
                     f'fill="{fill}"/>')
    for k in range(5):
        v = vmin + (vmax - vmin) * k / 4
        parts.append(f'<text x="{x + width * k / 4:.1f}" y="{y + h + 12}" text-anchor="middle" '
                     f'class="axis">{escape(fmt(v))}</text>')
    if label:
        parts.append(f'<text x="{x + width / 2:.1f}" y="{y + h + 26}" text-anchor="middle" '
                     f'class="axis">{escape(label)}</text>')
    return "".join(parts)


def bars_svg(labels, series: dict, *, title: str, xlabel: str, ref: float | None = 1.0,
             lows: dict | None = None, highs: dict | None = None, percent: bool = True,
             note: str = "") -> str:
    """Horizontal grouped bars (one group per label, one bar per series); ``lows``/``highs``
    (same keys) draw the band of each bar as an error bar from low to high. Shares in [0, 1]
    (``percent``) or plain values."""
    labels = list(labels)
    n, k = len(labels), max(len(series), 1)
    fig = new_figure(7.6, max(2.0, 0.17 * n * (1 + 0.5 * (k - 1)) + 1.1))
    ax = fig.add_subplot()
    height = 0.8 / k
    y = np.arange(n)
    scale = 100.0 if percent else 1.0
    for i, (name, vals) in enumerate(series.items()):
        pos = y - 0.4 + height * (i + 0.5)
        vals = scale * np.asarray(vals, float)
        ax.barh(pos, vals, height=height, color=PALETTE[i % len(PALETTE)], label=name)
        if lows and highs and name in lows and name in highs:
            lo = scale * np.asarray(lows[name], float)
            hi = scale * np.asarray(highs[name], float)
            a, b = np.minimum(lo, hi), np.maximum(lo, hi)
            err = np.vstack([np.maximum(vals - a, 0), np.maximum(b - vals, 0)])
            ax.errorbar(vals, pos, xerr=err, fmt="none", ecolor="#333333", elinewidth=0.8,
                        capsize=1.8, capthick=0.8)
    if ref is not None:
        ax.axvline(scale * ref, color=MUTED, lw=0.8, ls=":")
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    if percent:
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(decimals=0))
    ax.grid(axis="x", color="#e5e5e5", lw=0.6)
    ax.set_axisbelow(True)
    if len(series) > 1 or note:
        handles, names = ax.get_legend_handles_labels()
        if note:
            handles.append(matplotlib.lines.Line2D([], [], color="#333333", lw=0.8,
                                                   marker="|", markersize=6))
            names.append(note)
        fig.legend(handles, names, loc="outside upper left", frameon=False, fontsize=8,
                   ncols=min(len(names), 3))
    return figure_to_svg(fig)


def heatmap_svg(matrix, rows, cols, *, title: str, cbar_label: str, diverging: bool = False,
                vmax: float | None = None, missing=None, missing_label: str = "",
                unit: str = "%") -> str:
    """A rows x cols heat map (vector cells). ``matrix`` holds shares (shown in percent) or,
    with ``unit="pp"``, differences of shares (percentage points). ``diverging``: a
    red-white-blue scale symmetric around 0, white = no change. ``missing`` (bool, same shape)
    marks cells without a baseline (grey, ``missing_label`` in the colour bar's title)."""
    m = 100 * np.asarray(matrix, float)
    nr, nc = m.shape
    miss = np.zeros(m.shape, bool) if missing is None else np.asarray(missing, bool)
    rows, cols = [str(r) for r in rows], [str(c) for c in cols]
    longest = max((len(r) for r in rows), default=10)
    fig = new_figure(min(13.0, 2.6 + 0.055 * longest + 0.2 * nc), 1.9 + 0.19 * nr)
    ax = fig.add_subplot()
    if miss.any():
        grey = np.ma.masked_where(~miss, np.ones(m.shape))
        ax.pcolormesh(np.arange(nc + 1), np.arange(nr + 1), grey,
                      cmap=matplotlib.colors.ListedColormap(["#bdbdbd"]), vmin=0, vmax=1,
                      edgecolors="white", linewidth=0.3)
    data = np.ma.masked_where(miss | ~np.isfinite(m), m)
    if diverging:
        top = vmax if vmax is not None else max(1.0, float(np.nanmax(np.abs(data.filled(0)))))
        top = 100 * top if vmax is not None else top
        cmap, lo, hi = DIVERGING, -top, top
    else:
        top = max(1.0, float(np.nanmax(data.filled(np.nan)))) if data.count() else 1.0
        cmap, lo, hi = "Reds", 0.0, top
    mesh = ax.pcolormesh(np.arange(nc + 1), np.arange(nr + 1), data, cmap=cmap, vmin=lo,
                         vmax=hi, edgecolors="white", linewidth=0.3)
    ax.set_xticks(np.arange(nc) + 0.5, cols, rotation=90, fontsize=7)
    ax.set_yticks(np.arange(nr) + 0.5, rows, fontsize=7)
    ax.invert_yaxis()
    ax.tick_params(length=0)
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_title(title)
    cb = fig.colorbar(mesh, ax=ax, shrink=0.6, pad=0.01)
    cb.set_label(cbar_label)
    if unit == "pp":
        cb.ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(
            lambda v, _: f"{v:+.0f} pp" if v else "0"))
    else:
        cb.ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(decimals=0))
    cb.outline.set_visible(False)
    if miss.any() and missing_label:
        cb.ax.set_title(f"grey: {missing_label}" if not any(ord(c) > 0x2E80 for c in
                                                            missing_label)
                        else f"灰色：{missing_label}", fontsize=7, loc="left")
    return figure_to_svg(fig)


def timepaths_svg(time, panels: list[dict], *, title: str, xlabel: str = "day", markers=()) -> str:
    """Stacked line panels sharing the day axis.

    ``panels``: ``[{"title": str, "ylabel": str, "series": {label: values}}]`` with shares;
    ``markers``: ``[(day, label)]`` drawn as vertical dashed lines (e.g. standby lead times).
    """
    t = np.asarray(time, float)
    fig = new_figure(7.6, 2.3 * len(panels) + 0.4)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, panel in zip(axes, panels):
        for i, (name, vals) in enumerate(panel["series"].items()):
            ax.plot(t, 100 * np.asarray(vals, float), color=PALETTE[i % len(PALETTE)], lw=1.4,
                    label=name)
        for j, (day, label) in enumerate(markers):
            ax.axvline(day, color=MUTED, lw=0.8, ls="--")
            if ax is axes[0]:
                ax.annotate(label, (day, 1.0), xycoords=("data", "axes fraction"),
                            xytext=(2, -2 - 9 * (j % 3)), textcoords="offset points",
                            fontsize=7, color=MUTED, va="top")
        ax.set_title(panel["title"], fontsize=10)
        ax.set_ylabel(panel.get("ylabel", ""))
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(decimals=0))
        ax.grid(color="#e5e5e5", lw=0.6)
        ax.legend(loc="lower right", frameon=False, fontsize=7)
    axes[-1].set_xlabel(xlabel)
    fig.suptitle(title, x=0.01, ha="left", fontsize=11, fontweight="bold")
    return figure_to_svg(fig)


def fan_svg(time, fans: dict, *, title: str, ylabel: str, xlabel: str = "day") -> str:
    """Fan chart: for each series (``{label: (lo, mid, hi)}`` arrays of shares over ``time``)
    the median as a line and the band between ``lo`` and ``hi`` shaded."""
    t = np.asarray(time, float)
    fig = new_figure(7.6, 3.0)
    ax = fig.subplots()
    for i, (name, (lo, mid, hi)) in enumerate(fans.items()):
        color = PALETTE[i % len(PALETTE)]
        ax.fill_between(t, 100 * np.asarray(lo, float), 100 * np.asarray(hi, float),
                        color=color, alpha=0.18, lw=0)
        ax.plot(t, 100 * np.asarray(mid, float), color=color, lw=1.4, label=name)
    ax.set_ylabel(ylabel)
    ax.set_xlabel(xlabel)
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(decimals=0))
    ax.grid(color="#e5e5e5", lw=0.6)
    ax.legend(loc="lower right", frameon=False, fontsize=7)
    fig.suptitle(title, x=0.01, ha="left", fontsize=11, fontweight="bold")
    return figure_to_svg(fig)
