"""The CJK font the reports embed, so that Chinese renders on a viewer without Chinese fonts.

``NotoSansSC-Regular-subset.otf`` (built by ``scripts/build_cjk_font.py``; SIL Open Font
License 1.1, ``OFL.txt``) holds the GB 2312 hanzi, Latin and punctuation. A report embeds only
the characters it uses (:func:`font_face_css`), as a WOFF file in a ``data:`` URL; matplotlib
measures chart labels with the same font (:func:`font_path`), so Chinese labels get their real
widths.
"""

from __future__ import annotations

import base64
import functools
import io
from pathlib import Path

FAMILY = "stresstest CJK"
FONT = Path(__file__).with_name("NotoSansSC-Regular-subset.otf")


def font_path() -> Path | None:
    """The shipped font file, or ``None`` when it is missing from this installation."""
    return FONT if FONT.is_file() else None


def needs_cjk(text: str) -> bool:
    """Whether ``text`` has characters outside Latin-1 and general punctuation that the
    embedded font draws (hanzi, CJK punctuation, full-width forms)."""
    return any(ord(c) >= 0x2E80 for c in text)


@functools.lru_cache(maxsize=8)
def _subset_woff(chars: str) -> bytes:
    from fontTools import subset
    from fontTools.ttLib import TTFont

    font = TTFont(str(FONT), lazy=False, recalcTimestamp=False)  # byte-reproducible
    opts = subset.Options()
    opts.flavor = "woff"
    opts.layout_features = ["*"]
    opts.notdef_outline = True
    opts.hinting = False
    opts.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]
    sub = subset.Subsetter(opts)
    sub.populate(text=chars)
    sub.subset(font)
    font.flavor = "woff"
    buf = io.BytesIO()
    font.save(buf)
    return buf.getvalue()


def font_face_css(text: str) -> str:
    """An ``@font-face`` rule for family :data:`FAMILY` with the characters of ``text`` that
    need it (empty when there are none or the font is missing)."""
    if font_path() is None:
        return ""
    chars = "".join(sorted({c for c in text if ord(c) >= 0x2E80} | set(
        "0123456789%.,:;()[]–-—·/ ")))
    if not needs_cjk(chars):
        return ""
    data = base64.b64encode(_subset_woff(chars)).decode("ascii")
    ranges = "U+2E80-FFFF"
    return (f"@font-face {{ font-family: \"{FAMILY}\"; src: url(data:font/woff;base64,{data}) "
            f"format(\"woff\"); font-weight: 100 900; unicode-range: {ranges}; }}")
