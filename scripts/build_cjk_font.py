"""Build the CJK font subset the reports embed (``stresstest/report/fonts/``).

The Chinese report embeds a font so that it renders on a viewer without Chinese fonts. The
shipped file is a subset of **Noto Sans CJK SC Regular** (SIL Open Font License 1.1, see
``stresstest/report/fonts/OFL.txt``) holding the 6,763 hanzi of GB 2312 (levels 1 and 2:
every character of common modern Chinese), ASCII, Latin-1, general and CJK punctuation,
full-width forms and a few symbols the reports use. Each report embeds only the characters it
uses (``stresstest.report.fonts``), about 100-300 kB.

Usage (the source font is Debian's ``fonts-noto-cjk``; give its path)::

    python scripts/build_cjk_font.py NotoSansCJK-Regular.ttc [--index 2]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection, TTFont

OUT = Path(__file__).resolve().parents[1] / "stresstest" / "report" / "fonts" / \
    "NotoSansSC-Regular-subset.otf"


def gb2312_hanzi() -> list[str]:
    """The 6,763 hanzi of GB 2312 (rows 16-87)."""
    out = []
    for row in range(0xB0, 0xF8):
        for col in range(0xA1, 0xFF):
            try:
                out.append(bytes([row, col]).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    return out


def characters() -> str:
    ranges = [(0x20, 0x7E), (0xA0, 0xFF), (0x2010, 0x206F), (0x2190, 0x21FF),
              (0x2212, 0x2212), (0x2264, 0x2265), (0x2500, 0x257F), (0x2581, 0x2588),
              (0x3000, 0x303F), (0xFF00, 0xFFEF), (0x00D7, 0x00D7), (0x2248, 0x2248)]
    chars = [chr(c) for lo, hi in ranges for c in range(lo, hi + 1)]
    return "".join(chars) + "".join(gb2312_hanzi())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", help="NotoSansCJK-Regular.ttc (or an .otf of Noto Sans CJK SC)")
    ap.add_argument("--index", type=int, default=2, help="font in the collection (2 = SC)")
    ap.add_argument("-o", "--output", default=str(OUT))
    args = ap.parse_args()
    if args.source.lower().endswith(".ttc"):
        font = TTCollection(args.source).fonts[args.index]
    else:
        font = TTFont(args.source)
    opts = subset.Options()
    opts.layout_features = ["*"]
    opts.name_IDs = ["*"]
    opts.name_languages = ["*"]
    opts.notdef_outline = True
    opts.hinting = False
    opts.desubroutinize = False
    sub = subset.Subsetter(opts)
    sub.populate(text=characters())
    sub.subset(font)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    font.save(args.output)
    print(f"wrote {args.output}: {Path(args.output).stat().st_size / 1e6:.2f} MB, "
          f"{len(font.getBestCmap())} characters")


if __name__ == "__main__":
    main()
