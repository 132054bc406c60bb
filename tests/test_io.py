"""Economy readers and writers (stresstest.io)."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from stresstest.economy import load_economy, save_economy
from stresstest.errors import EconomyError, InputError
from stresstest.io import (from_pymrio, read_ceads, read_csv, read_netcdf, read_wiod,
                           write_csv, write_netcdf)
from stresstest.testing import random_economy
from tests.conftest import shared_file


def roundtrip_nc(eco, tmp_path):
    path = tmp_path / "eco.nc"
    write_netcdf(eco, path)
    back = read_netcdf(path)
    xr.testing.assert_identical(eco, back)
    return back


# --------------------------------------------------------------------------- pymrio

pymrio = pytest.importorskip("pymrio")


@pytest.fixture(scope="module")
def pymrio_test():
    return pymrio.load_test()


def test_pymrio_test_system(pymrio_test, tmp_path):
    eco = from_pymrio(pymrio_test)
    assert eco.sizes["region"] == 6 and eco.sizes["sector"] == 8
    assert list(eco.region.values) == list(pymrio_test.get_regions())
    x_ref = pymrio.calc_x(pymrio_test.Z, pymrio_test.Y)
    np.testing.assert_allclose(eco.x.values.reshape(-1), x_ref.to_numpy().reshape(-1),
                               rtol=1e-12)
    z = eco.Z.sel(origin="reg2", product="mining", region="reg3", sector="food")
    assert float(z) == pymrio_test.Z.loc[("reg2", "mining"), ("reg3", "food")]
    inv = dict(zip(eco.use.values, eco.inventory.values))
    assert inv["Changes in inventories"] and not inv["Gross fixed capital formation"]
    cons = dict(zip(eco.use.values, eco.consumption.values))
    assert cons["Final consumption expenditure by households"]
    assert cons["Final consumption expenditure by government"]
    assert not cons["Export"] and not cons["Changes in inventories"]
    assert float(abs(eco.M).sum()) == 0 and float(abs(eco.exports).sum()) == 0
    # test system's factor inputs do not add up to x - sum(Z): a single value-added component
    assert list(eco.component.values) == ["value_added"]
    roundtrip_nc(eco, tmp_path)


def test_pymrio_consistent_factor_inputs(pymrio_test):
    io = pymrio_test.copy()
    x = pymrio.calc_x(io.Z, io.Y).to_numpy().reshape(-1)
    va = x - io.Z.to_numpy().sum(axis=0)
    F = pd.DataFrame(np.vstack([0.6 * va, 0.4 * va * (1 + 1e-9)]), columns=io.Z.columns,
                     index=pd.Index(["Compensation", "Taxes"], name="inputtype"))
    io.factor_inputs.F = F
    eco = from_pymrio(io)
    assert list(eco.component.values) == ["Compensation", "Taxes", "residual"]
    assert bool(eco.signed.sel(component="residual"))
    np.testing.assert_allclose(eco.V.sel(component="residual").values.ravel(),
                               (-0.4e-9 * va).reshape(6, 8).ravel(), rtol=1e-6, atol=1e-9)


def test_pymrio_errors(pymrio_test):
    with pytest.raises(InputError, match="IOSystem"):
        from_pymrio(object())
    io = pymrio_test.copy()
    io.Z = io.Z.drop(index=("reg1", "food"), columns=("reg1", "food"))
    io.Y = io.Y.drop(index=("reg1", "food"))
    io.x = None
    with pytest.raises(InputError, match="not symmetric"):
        from_pymrio(io)
    io = pymrio_test.copy()
    io.Z.iloc[3, 5] = -1.0
    with pytest.raises(EconomyError, match="negative"):
        from_pymrio(io)


# --------------------------------------------------------------------------- WIOD

USES_W = ("xCONS_h", "xCONS_g", "xGFCF", "xINV")


def make_wiod(path, *, seed=0, row_error=1e-4, negative=None):
    """A balanced 3-region (AAA, BBB, xROW) x 2-industry WIOD-layout CSV; returns the arrays."""
    rng = np.random.default_rng(seed)
    cty, ind = ["AAA", "BBB", "xROW"], ["I1", "I2"]
    n = 6
    x = rng.uniform(100, 200, n)
    Z = rng.uniform(0, 1, (n, n)) * x[None, :] * 0.06
    F = rng.uniform(0.1, 1, (n, 12))
    F[:, 3::4] -= 0.3  # inventories may be negative
    F = F / F.sum(axis=1, keepdims=True) * (x - Z.sum(axis=1))[:, None]
    F[0, 0] += row_error
    marg = 0.01 * x
    va = x - Z.sum(axis=0) - marg
    cols = [f"{c}_{i}" for c in cty for i in ind] + [f"{c}_{u}" for c in cty for u in USES_W]
    body = np.hstack([Z, F])
    if negative is not None:
        body[negative] = -5.0
    rows = pd.DataFrame(body, columns=cols)
    rows.insert(0, "Year", 2000)
    rows.insert(0, "Country", [c for c in cty for _ in ind])
    rows.insert(0, "IndustryDescription", ["Ind one", "Ind two"] * 3)
    rows.insert(0, "IndustryCode_isic3", ind * 3)
    rows["xTOT_xX"] = 1.0
    rows["xTOT_xM"] = -1.0
    rows["xTOT_xMRG_int"] = 0.0
    rows["xTOT_xGO"] = x
    codes = ["xII", "xVA", "xTXSP", "xMRG_int", "xGO"]
    tot = np.zeros((5, len(cols)))
    tot[0, :n] = Z.sum(axis=0)
    tot[1, :n] = va
    tot[2, n:] = 0.5  # taxes on final products: not carried
    tot[3, :n] = marg
    tot[4, :n] = x
    trows = pd.DataFrame(tot, columns=cols)
    trows.insert(0, "Year", 2000)
    trows.insert(0, "Country", "xTOT")
    trows.insert(0, "IndustryDescription", codes)
    trows.insert(0, "IndustryCode_isic3", codes)
    for c in ("xTOT_xX", "xTOT_xM", "xTOT_xMRG_int", "xTOT_xGO"):
        trows[c] = 0.0
    trows.loc[4, "xTOT_xGO"] = x.sum()
    pd.concat([rows, trows], ignore_index=True).to_csv(path, index=False)
    return Z, F, x


def test_wiod_synthetic(tmp_path):
    path = tmp_path / "w.csv"
    Z, F, x = make_wiod(path)
    eco = read_wiod(path)
    assert list(eco.region.values) == ["AAA", "BBB", "ROW"]
    assert list(eco.sector.values) == ["I1", "I2"]
    assert list(eco.use.values) == ["households", "government", "fixed_capital", "inventory"]
    np.testing.assert_array_equal(eco.x.values.ravel(), x)
    assert float(eco.Z.sel(origin="BBB", product="I2", region="ROW", sector="I1")) == Z[3, 4]
    assert float(eco.Y.sel(origin="AAA", product="I1", region="AAA", use="households")) == F[0, 0]
    # row rounding goes to the producing region's own inventory use
    inv = eco.Y.sel(origin="AAA", product="I1", region="AAA", use="inventory")
    assert abs(float(inv) - (F[0, 3] - 1e-4)) < 1e-12
    assert eco.attrs["row_rounding_max"] == pytest.approx(1e-4, rel=1e-6)
    assert "international_transport_margins" in eco.component.values
    assert '"xTXSP": 6.0' in eco.attrs["final_demand_primary_inputs_not_carried"]
    assert float(abs(eco.V.sel(component="residual")).max()) < 1e-9
    gz = tmp_path / "w.csv.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    xr.testing.assert_equal(read_wiod(gz), eco)


def test_wiod_errors(tmp_path):
    with pytest.raises(InputError, match="nope.csv"):
        read_wiod(tmp_path / "nope.csv")
    bad = tmp_path / "unbalanced.csv"
    make_wiod(bad, row_error=1.0)
    with pytest.raises(EconomyError, match=r"unbalanced.csv: row identity .* at 1 industry: row AAA/I1: residual -1 "):
        read_wiod(bad)
    neg = tmp_path / "neg.csv"
    make_wiod(neg, negative=(1, 2))
    with pytest.raises(EconomyError, match=r"intermediate use.*AAA/I2 -> BBB/I1"):
        read_wiod(neg)
    p = tmp_path / "text.csv"
    make_wiod(p)
    df = pd.read_csv(p)
    df["AAA_I2"] = df["AAA_I2"].astype(object)
    df.loc[2, "AAA_I2"] = "abc"
    df.to_csv(p, index=False)
    with pytest.raises(InputError, match=r"'abc' in column 'AAA_I2'"):
        read_wiod(p)
    df.drop(columns=["AAA_I2"]).to_csv(p, index=False)
    with pytest.raises(InputError, match="missing column.*AAA_I2"):
        read_wiod(p)


def test_wiod_real(tmp_path):
    path = shared_file("wiod", "WIODlr_WIOT_2000.csv.gz")
    eco = read_wiod(path)
    assert eco.sizes["region"] == 26 and eco.sizes["sector"] == 23
    assert "ROW" in eco.region.values and "CHN" in eco.region.values
    raw = pd.read_csv(path)
    go = raw.loc[raw["Country"] != "xTOT", "xTOT_xGO"].sum()
    assert float(eco.x.sum()) == pytest.approx(go, rel=1e-12)
    assert eco.attrs["row_rounding_max"] < 1e-3
    assert eco.attrs["negative_noise_zeroed"] == 3
    roundtrip_nc(eco, tmp_path)


# --------------------------------------------------------------------------- CEADs

openpyxl = pytest.importorskip("openpyxl")

FU_ZH = ["农村居民消费", "城镇居民消费", "政府消费", "资本形成总额", "存货增加"]
TRAIL_ZH = {"exports": "出口", "tfu": "最终使用合计", "other": "其他", "output": "总产出"}


def make_ceads(path, *, provinces=("北京", "内蒙古"), header_variant="内蒙", seed=3,
               trailing=("tfu", "other", "output", "exports"), sheet="Table_2017",
               extra_sheet=True, edit=None):
    """A balanced 2-province x 3-sector CEADs-layout workbook (merged province cells)."""
    eco = random_economy(2, 3, seed=seed)
    R, S, N = 2, 3, 6
    Z = eco.Z.values.reshape(N, N)
    Y = eco.Y.values.reshape(N, R, 4)
    E = eco.exports.values.reshape(N)
    x = eco.x.values.reshape(N)
    O = np.where(np.arange(N) % 2 == 0, 0.5, -0.25)
    fu = np.stack([0.3 * Y[..., 0], 0.7 * Y[..., 0], Y[..., 1], Y[..., 2], Y[..., 3]], axis=2)
    fu[np.arange(N), np.arange(N) // S, 4] -= O
    imp = eco.M.values.sum(axis=0).reshape(N)
    my = eco.MY.values.sum(axis=0)  # (R, 4)
    imp_fu = np.stack([0.3 * my[:, 0], 0.7 * my[:, 0], my[:, 1], my[:, 2], my[:, 3]], axis=1)
    V = eco.V.values.reshape(4, N)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    if extra_sheet:
        wb.create_sheet("Notes")
    put = lambda r, c, v: ws.cell(row=r + 1, column=c + 1, value=v)  # noqa: E731
    put(0, 0, "2017年中国31省区市投入产出表（单位：万元）")
    codes = ["01", "02", "03"]
    names = ["农林牧渔产品和服务", "煤炭采选产品", "通信设备、计算机和其他电子设备"]
    head = [provinces[0], header_variant or provinces[1]]
    for r in range(R):
        put(1, 3 + r * S, head[r])
        ws.merge_cells(start_row=2, start_column=4 + r * S, end_row=2, end_column=3 + (r + 1) * S)
        for s in range(S):
            put(2, 3 + r * S + s, names[s])
            put(3, 3 + r * S + s, codes[s])
        put(4 + r * S, 0, provinces[r] if r == 0 else (header_variant or provinces[r]))
        ws.merge_cells(start_row=5 + r * S, start_column=1, end_row=4 + (r + 1) * S, end_column=1)
        for s in range(S):
            put(4 + r * S + s, 1, names[s])
            put(4 + r * S + s, 2, codes[s])
    c0 = 3 + N
    for r in range(R):
        put(1, c0 + 5 * r, provinces[r])
        ws.merge_cells(start_row=2, start_column=c0 + 5 * r + 1, end_row=2,
                       end_column=c0 + 5 * r + 5)
        for k in range(5):
            put(2, c0 + 5 * r + k, FU_ZH[k])
    tcol = {role: c0 + 5 * R + k for k, role in enumerate(trailing)}
    for role, c in tcol.items():
        put(2, c, TRAIL_ZH[role])
    tfu = fu.sum(axis=(1, 2)) + E
    for i in range(N):
        for j in range(N):
            put(4 + i, 3 + j, float(Z[i, j]))
        for r in range(R):
            for k in range(5):
                put(4 + i, c0 + 5 * r + k, float(fu[i, r, k]))
        vals = {"exports": E[i], "tfu": tfu[i], "other": O[i], "output": x[i]}
        for role, c in tcol.items():
            put(4 + i, c, float(vals[role]))
    rows = [("进口", imp), ("中间投入合计", Z.sum(axis=0) + imp), ("劳动者报酬", V[0]),
            ("生产税净额", V[1]), ("固定资产折旧", V[2]), ("营业盈余", V[3]),
            ("增加值合计", V.sum(axis=0)), ("总投入", x)]
    for k, (label, vals) in enumerate(rows):
        put(4 + N + k, 0, label)
        for j in range(N):
            put(4 + N + k, 3 + j, float(vals[j]))
    for r in range(R):
        for k in range(5):
            put(4 + N, c0 + 5 * r + k, float(imp_fu[r, k]))
    if edit:
        edit(put)
    wb.save(path)
    return eco, O, imp


def test_ceads_workbook(tmp_path):
    path = tmp_path / "ceads.xlsx"
    src, O, imp = make_ceads(path)
    eco = read_ceads(path)
    assert list(eco.region.values) == ["Beijing", "InnerMongolia"]
    assert list(eco.region_name_zh.values) == ["北京", "内蒙古"]
    assert eco.lon.values[0] == pytest.approx(116.41) and eco.zone.values[1] == "west"
    assert list(eco.sector.values) == ["01", "02", "03"]
    assert eco.sector_name_zh.values[2] == "通信设备、计算机和其他电子设备"
    assert list(eco.use.values) == ["rural_households", "urban_households", "government",
                                    "fixed_capital", "inventory", "other"]
    assert list(eco.consumption.values) == [True, True, True, False, False, False]
    assert bool(eco.inventory.sel(use="other"))
    np.testing.assert_allclose(eco.x.values, src.x.values, rtol=1e-15)
    np.testing.assert_allclose(eco.exports.values, src.exports.values, rtol=1e-15)
    other = eco.Y.sel(use="other").values.reshape(6, 2)
    np.testing.assert_allclose(other[np.arange(6), np.arange(6) // 3], O, atol=1e-9)
    assert float(np.abs(other[np.arange(6), 1 - np.arange(6) // 3]).max()) == 0
    np.testing.assert_allclose(eco.V.sel(component="imports").values.ravel(), imp, rtol=1e-15)
    assert eco.units == "10,000 yuan"
    assert eco.attrs["final_use_imports_not_carried"] == pytest.approx(
        float(src.MY.sum()), rel=1e-12)
    roundtrip_nc(eco, tmp_path)


def test_ceads_options(tmp_path):
    path = tmp_path / "c.xlsx"
    src, _, imp = make_ceads(path, provinces=("P1", "P2"), header_variant=None,
                             trailing=("output", "exports", "other", "tfu"), extra_sheet=False)
    share = np.array([0.5, 0.3, 0.2])
    eco = read_ceads(path, import_split=share, final_import_split=[1, 1, 2])
    assert list(eco.region.values) == ["P1", "P2"]
    assert np.isnan(eco.lon.values).all()
    np.testing.assert_allclose(eco.M.sum("product").values.ravel(), imp, rtol=1e-12)
    np.testing.assert_allclose(eco.M.sel(product="02").values.ravel(), 0.3 * imp, rtol=1e-12)
    assert "imports" not in eco.component.values
    np.testing.assert_allclose(float(eco.MY.sel(product="03").sum()), 0.5 * float(src.MY.sum()))


def test_ceads_errors(tmp_path):
    with pytest.raises(InputError, match="missing.xlsx"):
        read_ceads(tmp_path / "missing.xlsx")
    good = tmp_path / "good.xlsx"
    make_ceads(good)
    with pytest.raises(InputError, match="no sheet 'Sheet9'; available sheets: Table_2017, Notes"):
        read_ceads(good, sheet="Sheet9")
    p = tmp_path / "unbalanced.xlsx"
    make_ceads(p, edit=lambda put: put(5, 9, 1e6))
    with pytest.raises(EconomyError, match=r"row 北京/02 \(row 6\)"):
        read_ceads(p)
    p = tmp_path / "negative.xlsx"
    make_ceads(p, edit=lambda put: put(6, 4, -3.0))
    with pytest.raises(EconomyError, match=r"negative.*E7 \[北京/03"):
        read_ceads(p)
    p = tmp_path / "dup.xlsx"
    make_ceads(p, edit=lambda put: put(8, 2, "01"))
    with pytest.raises(EconomyError, match="duplicate province-sector labels: 内蒙古/01"):
        read_ceads(p)
    p = tmp_path / "text.xlsx"
    make_ceads(p, edit=lambda put: put(5, 5, "n/a"))
    with pytest.raises(EconomyError, match="'n/a' at F6"):
        read_ceads(p)


# --------------------------------------------------------------------------- long CSV


def test_long_csv_roundtrip(tiny, tmp_path):
    for name in ("e.csv", "e.csv.gz"):
        path = write_csv(tiny, tmp_path / name)
        xr.testing.assert_identical(read_csv(path), tiny)
    eco = tiny.assign_coords(region_code=("region", ["11", "true", "x"]))
    eco.attrs["year"] = 2017
    eco.attrs["weights"] = [0.1, 1 / 3]
    xr.testing.assert_identical(read_csv(write_csv(eco, tmp_path / "f.csv")), eco)


def test_economy_without_uses_or_components_saves_and_loads(tmp_path):
    """A long CSV with region and sector labels only reads as an economy with empty ``use``
    and ``component`` dims; saving it wrote zero-length HDF5 chunks and failed with an
    unexpected error (found by the CLI fuzz test)."""
    src = tmp_path / "labels.csv"
    src.write_text("variable,origin,product,region,sector,use,component,route,value\n"
                   "coord:coastal,,,R0,,,,,true\ncoord:coastal,,,R1,,,,,false\n"
                   "coord:tradable,,,,S0,,,,true\n")
    eco = read_csv(src)
    assert eco.sizes["use"] == 0 and eco.sizes["component"] == 0
    xr.testing.assert_identical(load_economy(save_economy(eco, tmp_path / "e.nc")), eco)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(0, 10_000),
       st.floats(0.3, 1.0), st.floats(1e-6, 1e9))
def test_long_csv_roundtrip_property(tmp_path_factory, R, S, seed, density, scale):
    eco = random_economy(R, S, seed=seed, density=density)
    money = ["Z", "Y", "exports", "M", "MY", "V", "x"]
    eco = eco.assign({v: eco[v] * scale for v in money})
    path = tmp_path_factory.mktemp("csv") / "e.csv"
    xr.testing.assert_identical(read_csv(write_csv(eco, path)), eco)


HAND = """variable,origin,product,region,sector,use,component,value
Z,A,s,B,s,,,10
Z,B,s,A,s,,,5
Y,A,s,A,,hh,,30
Y,B,s,B,,hh,,40
V,,,A,s,,wages,35
V,,,B,s,,wages,35
"""


def test_long_csv_hand_written(tmp_path):
    p = tmp_path / "hand.csv"
    p.write_text(HAND)
    eco = read_csv(p)
    assert list(eco.region.values) == ["A", "B"] and list(eco.use.values) == ["hh"]
    np.testing.assert_array_equal(eco.x.values.ravel(), [40.0, 45.0])
    assert bool(eco.consumption.values[0]) and not bool(eco.coastal.values[0])


@pytest.mark.parametrize("edit, match", [
    (lambda t: t.replace(",value\n", ",amount\n"), r"missing column\(s\) value"),
    (lambda t: t + "Q,A,s,B,s,,,1\n", r"line 8: unknown variable 'Q'"),
    (lambda t: t.replace("B,s,,,10", "B,s,,,ten"), r"line 2: field 'value': 'ten' is not a number"),
    (lambda t: t.replace("B,s,,,10", "B,s,,,nan"), r"line 2: field 'value': 'nan' is not a finite"),
    (lambda t: t + "Z,A,s,B,s,,,1\n", r"duplicate cell .* lines 2 and 8"),
    (lambda t: t.replace("Z,B,s,A,s,,,5", "Z,B,s,A,s,hh,,5"),
     r"line 3: field 'use' must be empty for variable Z \(value 'hh'"),
    (lambda t: t.replace("V,,,A,s,,wages", "V,,,A,,,wages"), r"line 6: field 'sector' is empty"),
    (lambda t: t + "coord:coastal,,,A,,,,maybe\n", r"line 8: field 'value': 'maybe' is not true"),
])
def test_long_csv_errors(tmp_path, edit, match):
    p = tmp_path / "bad.csv"
    p.write_text(edit(HAND))
    with pytest.raises(InputError, match=r"bad\.csv: " + match):
        read_csv(p)


def test_long_csv_unbalanced(tmp_path):
    p = tmp_path / "unb.csv"
    p.write_text(HAND + "x,,,A,s,,,41\n")
    with pytest.raises(EconomyError, match="unb.csv.*row identity"):
        read_csv(p)
    with pytest.raises(InputError, match="nothere.csv"):
        read_csv(tmp_path / "nothere.csv")


# --------------------------------------------------------------------------- netCDF


def test_netcdf(tiny, tmp_path):
    back = roundtrip_nc(tiny, tmp_path)
    xr.testing.assert_identical(back, load_economy(save_economy(tiny, tmp_path / "b.nc")))
    with pytest.raises(InputError, match="absent.nc"):
        read_netcdf(tmp_path / "absent.nc")
