"""The screening report: host regions ranked on the hinterland criteria (HTML + Markdown).

:func:`screen_context` turns a :func:`stresstest.screen.screen` Dataset into a context (numbers
formatted, a map of the total score as inline SVG); :func:`write_screen_report` writes
``NAME.html`` and ``NAME.md`` atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from .._version import __version__
from ..errors import InputError
from ..screen import INDICATORS
from .tilemap import region_map_svg


def screen_context(ds: xr.Dataset, economy: xr.Dataset, *, command: str = "") -> dict:
    """The report context of a screening Dataset."""
    from . import region_names

    names = region_names(economy)
    idx = {str(r): i for i, r in enumerate(economy["region"].values)}
    order = np.argsort(ds["rank"].values, kind="stable")
    criteria = [str(c) for c in ds["criterion"].values]
    rows = []
    for i in order:
        r = str(ds["region"].values[i])
        rows.append([str(int(ds["rank"].values[i])), names[idx[r]],
                     f"{float(ds['score'].values[i]):.3f}",
                     *[f"{float(v):.2f}" for v in ds["criterion_score"].values[i]],
                     f"{ds['rank_p05'].values[i]:.0f}–{ds['rank_p95'].values[i]:.0f}",
                     f"{100 * float(ds['top_probability'].values[i]):.0f}%"])
    headers = ["rank", "region", "score", *criteria, "rank range (5–95%)", "P(top 5)"]
    indicators = [str(k) for k in ds["indicator"].values]
    ind_rows = []
    for i in order:
        r = str(ds["region"].values[i])
        ind_rows.append([names[idx[r]], *[_fmt(ds["value"].values[i, k])
                                          for k in range(len(indicators))]])
    score = ds["score"].values
    svg = region_map_svg(economy, score, names, title="Host score (1 = best on every "
                         "criterion)", vmin=float(np.floor(10 * score.min()) / 10),
                         vmax=float(np.ceil(10 * score.max()) / 10), legend="score")
    formulas = [[k, INDICATORS[k].criterion, "higher" if INDICATORS[k].higher_is_better
                 else "lower", INDICATORS[k].formula] for k in indicators]
    top = [names[idx[str(ds["region"].values[i])]] for i in order[:3]]
    return {"title": "Hinterland host screening", "economy": str(ds.attrs.get("economy", "")),
            "scenarios": ds.attrs.get("scenarios", "") or "none (no exposure criterion)",
            "weights": ds.attrs.get("weights", ""), "samples": ds.attrs.get("samples", ""),
            "lead": f"Best hosts under these weights: {', '.join(top)}.",
            "ranking": {"headers": headers, "rows": rows},
            "indicators": {"headers": ["region", *indicators], "rows": ind_rows},
            "formulas": {"headers": ["indicator", "criterion", "better", "formula"],
                         "rows": formulas},
            "map": svg, "version": __version__, "command": command}


def _fmt(v) -> str:
    v = float(v)
    if not np.isfinite(v):
        return "—"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"


def write_screen_report(path, ctx: dict) -> tuple[Path, Path]:
    """Write the screening report ``path`` (.html) and its Markdown twin, atomically."""
    from .render import _env, write_pair

    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"report output {str(path)!r} must end in .html")
    return write_pair(path, _env().get_template("screen.html.j2").render(**ctx),
                      _env().get_template("screen.md.j2").render(**ctx))
