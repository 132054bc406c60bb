"""The resilience report: numbers, tile map, self-contained HTML, Markdown twin, atomic writes."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from stresstest import metrics
from stresstest.compiled import no_plan, no_shock
from stresstest.economy import derive
from stresstest.metrics import critical_supply, dynamic_summary, surviving_share
from stresstest.report import (_share_by_region, build_report, fmt_amplification, fmt_money,
                               fmt_pct, money_scale, va_saved)
from stresstest.report import render
from stresstest.report.tilemap import CHINA_TILES, china_tile_keys, region_map_svg
from stresstest.result import essential_baseline, make_result
from stresstest.testing import random_economy

NBS = ["Beijing", "Tianjin", "Hebei", "Shanxi", "InnerMongolia", "Liaoning", "Jilin",
       "Heilongjiang", "Shanghai", "Jiangsu", "Zhejiang", "Anhui", "Fujian", "Jiangxi",
       "Shandong", "Henan", "Hubei", "Hunan", "Guangdong", "Guangxi", "Hainan", "Chongqing",
       "Sichuan", "Guizhou", "Yunnan", "Tibet", "Shaanxi", "Gansu", "Qinghai", "Ningxia",
       "Xinjiang"]


def china_like(n_sector=5, seed=3):
    eco = random_economy(31, n_sector, seed=seed)
    keys = [k.lower() for k in NBS]
    eco = eco.assign_coords(region=NBS, origin=NBS,
                            region_name_zh=("region", [CHINA_TILES[k][4] for k in keys]),
                            region_code=("region", [CHINA_TILES[k][3] for k in keys]))
    eco.attrs.update(title="china-like", units="1e8 yuan", source="synthetic test economy")
    return eco


def scaled_result(eco, share, ess_share=None, plan="none", days=None):
    """Output and essential delivery at ``share`` of baseline everywhere (hand-solvable)."""
    d = derive(eco)
    R, S = d.n_region, d.n_sector
    ts = () if days is None else (days,)
    x = np.broadcast_to((d.x * share).reshape((-1,) + (1,) * len(ts)), (d.n,) + ts)
    eb = essential_baseline(eco).values.reshape((R, S) + (1,) * len(ts))
    ess = eb * (share if ess_share is None else ess_share)
    f = np.zeros((R, S, 3) + ts)
    return make_result(eco, mode="rationing" if days is None else "dynamic",
                       shock=no_shock(eco, 30, name="test-shock"), plan=no_plan(eco, plan),
                       x=x, capacity=x, f=f, exports=np.zeros((d.n,) + ts),
                       essential=np.broadcast_to(ess, (R, S) + ts),
                       binding=np.zeros((d.n,) + ts, int),
                       time=None if days is None else np.arange(days),
                       parameters={"threshold": 0.1})


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.tags, self.attrs = set(), [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.append((tag, dict(attrs)))
        for k, v in attrs:
            if k == "id":
                self.ids.add(v)


# --------------------------------------------------------------------------- numbers


def test_money_scale_and_formatting():
    assert money_scale("1e8 yuan") == (0.1, "bn yuan")
    assert money_scale("亿元")[0] == 0.1
    assert money_scale("10,000 yuan")[0] == pytest.approx(1e-5)
    assert money_scale("million USD") == (1.0, "million USD")
    assert fmt_money(12345.0, "1e8 yuan") == "1,234.5 bn yuan"
    assert fmt_pct(0.8766) == "87.7%"
    assert fmt_pct(float("nan")) == "—"
    # an amount or ratio that rounds to 0 at the digits shown is 0, never "-0.000"
    assert fmt_money(-1e-6, "1e8 yuan") == "0 bn yuan"
    assert fmt_money(-0.04, "1e8 yuan") == "-0.004 bn yuan"
    assert fmt_amplification(-1e-4) == "0.00" and fmt_amplification(-0.19) == "-0.19"


def test_hand_solvable_shares_and_backup_value(tiny):
    none = scaled_result(tiny, 0.5, ess_share=0.4)
    plan = scaled_result(tiny, 0.75, ess_share=0.9, plan="p")
    assert surviving_share(none, "x") == pytest.approx(0.5)
    assert surviving_share(plan, "va") == pytest.approx(0.75)
    np.testing.assert_allclose(_share_by_region(none, 0, 30), 0.5)
    cs = critical_supply(none, worst_day=True)
    np.testing.assert_allclose(cs["national"].values, 0.4)
    np.testing.assert_allclose(cs["worst"].values, 0.4)
    va0 = float(none["va_baseline"].sum())
    assert va_saved(plan, none) == pytest.approx(0.25 * va0 * 30 / 365)


def test_dynamic_shares_use_whole_horizon_and_worst_day(tiny):
    res = scaled_result(tiny, 0.8, ess_share=0.6, days=5)
    assert dynamic_summary(res)["horizon"] == pytest.approx(0.8)
    np.testing.assert_allclose(_share_by_region(res, 1, 3), 0.8)
    nat = critical_supply(res, worst_day=True)["national"]
    assert nat.dims == ("product",)
    np.testing.assert_allclose(nat.values, 0.6)


def test_lowest_national_supply_is_the_product_the_row_shows(tiny):
    """A dynamic Result: product S0 is short on one day only (worst day 40%, window mean 85%),
    S1 at 60% every day. The headline row names the product with the lowest number it
    prints (S1, 60%), not the one lowest on its worst day."""
    eco = tiny.assign_coords(critical=("sector", [True, True, False, False]),
                             essential_share=("sector", [0.5, 0.5, 0.0, 0.0]))
    days = 4
    share = np.ones((3, 4, days))
    share[:, 0, 3] = 0.4
    share[:, 1, :] = 0.6
    res = scaled_result(eco, 0.9, ess_share=share, days=days)
    res.attrs.update(window_start=0, window_end=days)
    h = metrics.headline(res)
    assert h["csr:S0"] == pytest.approx(0.85) and h["csr:S1"] == pytest.approx(0.6)
    ctx = build_report(eco, {"none": res}, scenario_name="s")
    row = ctx["headline"]["rows"][0]
    assert "60.0%" in row[3] and "S1" in row[3], row


# --------------------------------------------------------------------------- tile map


def test_tile_grid_is_a_plausible_map():
    pos = {k: (v[0], v[1]) for k, v in CHINA_TILES.items()}
    assert len(pos) == 31 and len(set(pos.values())) == 31
    assert len({v[3] for v in CHINA_TILES.values()}) == 31
    col = {k: c for k, (r, c) in pos.items()}
    row = {k: r for k, (r, c) in pos.items()}
    assert col["xinjiang"] < col["sichuan"] < col["hubei"] < col["shanghai"]
    assert row["heilongjiang"] < row["beijing"] < row["henan"] < row["guangdong"] < row["hainan"]
    assert abs(col["sichuan"] - col["chongqing"]) + abs(row["sichuan"] - row["chongqing"]) == 1


def test_tile_keys_match_labels_codes_and_chinese_names():
    eco = china_like()
    assert china_tile_keys(eco) == [k.lower() for k in NBS]
    by_code = eco.assign_coords(region=[f"P{i}" for i in range(31)],
                                origin=[f"P{i}" for i in range(31)])
    assert china_tile_keys(by_code) == [k.lower() for k in NBS]
    assert china_tile_keys(random_economy(3, 2)) is None


def test_map_falls_back_to_lon_lat_scatter(tiny):
    svg = region_map_svg(tiny, [0.5, 0.7, 0.9], ["a", "b", "c"], title="t")
    assert svg.startswith("<svg") and svg.count("<circle") == 3
    eco = china_like()
    svg = region_map_svg(eco, np.linspace(0.5, 1, 31), NBS, title="t")
    assert svg.count("<rect") >= 31 and ">GD<" in svg and ">SC<" in svg


# --------------------------------------------------------------------------- documents


SECTIONS = {"summary", "headline", "map", "regions", "heatmap", "critical", "chokepoints",
            "assumptions", "sources", "reproduce"}


@pytest.fixture(scope="module")
def china_ctx():
    eco = china_like()
    results = {"none": scaled_result(eco, 0.6, 0.5),
               "grain": scaled_result(eco, 0.7, 0.8, plan="grain"),
               "chips": scaled_result(eco, 0.65, 0.6, plan="chips")}
    ctx = build_report(eco, results, scenario_name="test-shock", scenario_text="Ports close.",
                       plan_texts={"grain": "A grain reserve | in Henan."},
                       plan_costs={"grain": 10.0, "chips": 1000.0},
                       chokepoints={"unavailable": "not computed in this test"},
                       command="stresstest report test-shock --plan grain")
    return eco, ctx


def _no_external_refs(html: str):
    p = _Collector()
    p.feed(html)
    for tag, attrs in p.attrs:
        assert tag not in ("script", "link", "img", "iframe"), tag
        for key in ("src", "href", "xlink:href"):
            val = attrs.get(key) or ""
            assert not re.match(r"\s*(https?:)?//", val), (tag, key, val)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", html)
    assert "@import" not in html
    return p


def test_html_report_is_self_contained_with_sections(china_ctx, tmp_path):
    _, ctx = china_ctx
    html_path, md_path = render.write_report(tmp_path / "r.html", ctx)
    html = html_path.read_text(encoding="utf-8")
    p = _no_external_refs(html)
    assert SECTIONS <= p.ids
    assert "timepaths" not in p.ids
    assert p.tags.count("svg") >= 4 and p.tags.count("table") >= 4
    assert "<?xml" not in html and "DOCTYPE svg" not in html
    # best plan first, by value added saved; none last; numbers formatted
    heads = re.findall(r"<td class=\"left\">([^<]+)</td>", html)
    assert heads[:3] == ["grain", "chips", "none (no backups)"]
    assert "70.0%" in html and "Guangdong 广东" in html and "bn yuan" in html
    md = md_path.read_text(encoding="utf-8")
    assert md.startswith("# Resilience report: test-shock")
    assert "| grain | 70.0% |" in md and "A grain reserve \\| in Henan." not in md.split("|---")[0]
    assert "<svg" not in md


def test_chinese_report_uses_chinese_labels(tmp_path):
    eco = china_like()
    ctx = build_report(eco, {"none": scaled_result(eco, 0.6)}, scenario_name="s", lang="zh")
    html, md = render.write_report(tmp_path / "zh.html", ctx)
    text = html.read_text(encoding="utf-8")
    assert 'lang="zh-Hans"' in text and "主要指标" in text and ">粤<" in text
    assert "各省产出保留率" in md.read_text(encoding="utf-8")


def test_same_results_give_the_same_report_bytes(tmp_path, monkeypatch):
    """Reports are reproducible: the same results, reported twice (a day apart by the
    font library's clock), give byte-identical HTML and markdown."""
    import fontTools.ttLib.tables._h_e_a_d as head

    from stresstest.report import fonts

    eco = china_like()
    results = {"none": scaled_result(eco, 0.6, 0.5), "p": scaled_result(eco, 0.7, 0.8, plan="p")}
    out = []
    for k, now in enumerate((3_000_000_000, 3_000_086_400)):
        monkeypatch.setattr(head, "timestampNow", lambda now=now: now)
        fonts._subset_woff.cache_clear()
        ctx = build_report(eco, results, scenario_name="s", lang="zh")
        html, md = render.write_report(tmp_path / f"r{k}.html", ctx)
        out.append((html.read_bytes(), md.read_bytes()))
    fonts._subset_woff.cache_clear()
    assert b"@font-face" in out[0][0]
    assert out[0] == out[1]


def test_dynamic_report_has_time_paths_with_lead_times(tmp_path):
    eco = china_like(n_sector=3)
    results = {"none": scaled_result(eco, 0.6, days=12),
               "p": scaled_result(eco, 0.7, plan="p", days=12)}
    ctx = build_report(eco, results, scenario_name="s", plan_leads={"p": [5.0]})
    html, _ = render.write_report(tmp_path / "d.html", ctx)
    p = _no_external_refs(html.read_text(encoding="utf-8"))
    assert "timepaths" in p.ids
    assert "standby from day 5" in html.read_text(encoding="utf-8")


def test_report_on_other_economy_uses_scatter_map(tiny, tmp_path):
    ctx = build_report(tiny, {"none": scaled_result(tiny, 0.9)}, scenario_name="s")
    html, _ = render.write_report(tmp_path / "t.html", ctx)
    assert "<circle" in html.read_text(encoding="utf-8")


def test_write_is_atomic_when_a_writer_fails_midway(china_ctx, tmp_path, monkeypatch):
    _, ctx = china_ctx

    def broken(tmp, text):
        Path(tmp).write_text(text[:100], encoding="utf-8")
        raise OSError("disk full")

    monkeypatch.setattr(render, "_write", broken)
    with pytest.raises(OSError):
        render.write_report(tmp_path / "r.html", ctx)
    assert list(tmp_path.iterdir()) == []


def test_markdown_failure_leaves_no_html(china_ctx, tmp_path, monkeypatch):
    _, ctx = china_ctx
    calls = []
    real = render._write

    def second_fails(tmp, text):
        calls.append(tmp)
        if len(calls) == 2:
            raise OSError("disk full")
        real(tmp, text)

    monkeypatch.setattr(render, "_write", second_fails)
    with pytest.raises(OSError):
        render.write_report(tmp_path / "r.html", ctx)
    assert list(tmp_path.iterdir()) == []


def test_output_must_be_html(china_ctx, tmp_path):
    from stresstest.errors import InputError

    with pytest.raises(InputError, match="must end in .html"):
        render.write_report(tmp_path / "r.pdf", china_ctx[1])


CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists()
                                         else None)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_headless_browser_screenshot(china_ctx, tmp_path):
    html, _ = render.write_report(tmp_path / "r.html", china_ctx[1])
    png = tmp_path / "shot.png"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}",
           "--window-size=1280,2000", html.resolve().as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert png.exists() and png.stat().st_size > 30_000
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    im = np.asarray(Image.open(png).convert("L"), dtype=float)
    assert im.shape == (2000, 1280) and im.std() > 10  # not blank
