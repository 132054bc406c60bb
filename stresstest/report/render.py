"""Render a report context (:func:`stresstest.report.build_report`) with jinja2 templates into a
self-contained HTML page (inline CSS and SVG, no external references) and a Markdown twin."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jinja2

from ..economy import write_atomic
from ..errors import InputError

_ENV = None


def _env() -> jinja2.Environment:
    global _ENV
    if _ENV is None:
        _ENV = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(Path(__file__).with_name("templates"))),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",),
                                                default_for_string=False),
            undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
            keep_trailing_newline=True)
        _ENV.filters["mdcell"] = _md_cell
        _ENV.filters["tojson_compact"] = lambda v: json.dumps(v, ensure_ascii=False,
                                                              sort_keys=True)
    return _ENV


def _md_cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_html(ctx: dict) -> str:
    """The report as one self-contained HTML document; the characters of its Chinese text
    come with it in an embedded font (:mod:`stresstest.report.fonts`), so it renders on a
    viewer without Chinese fonts."""
    from .fonts import font_face_css

    html = _env().get_template("report.html.j2").render(**ctx)
    return html.replace("/*FONTFACE*/", font_face_css(html), 1)


def render_markdown(ctx: dict) -> str:
    """The report's Markdown twin (tables and texts; charts only in the HTML)."""
    return _env().get_template("report.md.j2").render(**ctx)


def _write(tmp, text: str) -> None:
    Path(tmp).write_text(text, encoding="utf-8")
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o666 & ~mask)


def write_report(path, ctx: dict) -> tuple[Path, Path]:
    """Write ``path`` (``.html``) and the Markdown twin next to it (``.md``), each atomically.

    Both documents are rendered before anything is written, so a rendering error leaves no
    file behind.
    """
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"report output {str(path)!r} must end in .html")
    return write_pair(path, render_html(ctx), render_markdown(ctx))


def write_pair(path: Path, html: str, md: str):
    """Write the rendered ``html`` to ``path`` and ``md`` next to it (``.md``), each atomically;
    if the second fails the first is removed. Returns both paths."""
    md_path = path.with_suffix(".md")
    write_atomic(path, lambda tmp: _write(tmp, html))
    try:
        write_atomic(md_path, lambda tmp: _write(tmp, md))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, md_path
