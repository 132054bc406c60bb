"""The report as a person sees it: screenshots (English and Chinese) in headless Chromium on a
machine without Chinese fonts; skipped when Chromium is not installed.

Set ``STRESSTEST_SCREENSHOTS=DIR`` to keep the PNGs (``report-en.png``, ``report-zh.png``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from stresstest.report import build_report, render

from .test_report import china_like, scaled_result

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"),
                             "/usr/bin/chromium") if p and Path(p).exists()), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")


def _fontconfig_without_cjk(tmp_path: Path) -> Path:
    """A fontconfig file whose only fonts are matplotlib's DejaVu (no CJK glyphs)."""
    import matplotlib

    fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    conf = tmp_path / "fonts.conf"
    conf.write_text(f"""<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig><dir>{fonts}</dir><cachedir>{tmp_path / 'fc-cache'}</cachedir>
<config></config></fontconfig>
""", encoding="utf-8")
    return conf


def _shoot(html: Path, png: Path, tmp_path: Path, height: int = 2400) -> np.ndarray:
    env = {**os.environ, "FONTCONFIG_FILE": str(_fontconfig_without_cjk(tmp_path))}
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / ('profile-' + png.stem)}", "--hide-scrollbars",
           f"--screenshot={png}", f"--window-size=1280,{height}", html.resolve().as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=180, check=False, env=env)
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    return np.asarray(Image.open(png).convert("L"), dtype=float)


def _keep(png: Path):
    keep = os.environ.get("STRESSTEST_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(keep) / png.name)


def _context(lang):
    eco = china_like(n_sector=6)
    results = {"none": scaled_result(eco, 0.6, 0.5),
               "grain": scaled_result(eco, 0.7, 0.8, plan="grain"),
               "chips": scaled_result(eco, 0.65, 0.6, plan="chips")}
    return build_report(eco, results, scenario_name="test-shock",
                        scenario_text="港口关闭。" if lang == "zh" else "Ports close.",
                        plan_texts={"grain": "粮食储备" if lang == "zh" else "A grain reserve."},
                        plan_costs={"grain": 10.0, "chips": 1000.0},
                        chokepoints={"unavailable": "test"}, lang=lang)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_screenshot_in_headless_chromium_without_cjk_fonts(lang, tmp_path):
    html, _ = render.write_report(tmp_path / f"report-{lang}.html", _context(lang))
    im = _shoot(html, tmp_path / f"report-{lang}.png", tmp_path)
    assert im.shape == (2400, 1280) and im.std() > 10  # not blank
    _keep(tmp_path / f"report-{lang}.png")


def test_embedded_font_draws_chinese_without_system_fonts(tmp_path):
    """The same Chinese page with and without the embedded font: without it Chinese falls back
    to empty boxes (tofu), with it the glyphs are drawn — the two screenshots differ."""
    text = "韧性评估报告：各省产出保留率，关键供给，方案经济性"
    page = ("<!DOCTYPE html><html lang='zh-Hans'><head><meta charset='utf-8'><style>"
            "/*FONTFACE*/ body { font: 48px 'stresstest CJK', sans-serif; margin: 20px; }"
            f"</style></head><body><p>{text}</p></body></html>")
    from stresstest.report.fonts import font_face_css

    with_font = tmp_path / "with.html"
    without = tmp_path / "without.html"
    with_font.write_text(page.replace("/*FONTFACE*/", font_face_css(text)), encoding="utf-8")
    without.write_text(page, encoding="utf-8")
    a = _shoot(with_font, tmp_path / "with.png", tmp_path, height=300)
    b = _shoot(without, tmp_path / "without.png", tmp_path, height=300)
    assert a.std() > 5 and np.abs(a - b).mean() > 1.0
