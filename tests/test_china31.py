"""The default economy china31: schema, identities, national totals, reproducibility."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stresstest.economy import validate_economy

from .conftest import shared_file

ROOT = Path(__file__).resolve().parents[1]
COASTAL = {"Liaoning", "Hebei", "Tianjin", "Shandong", "Jiangsu", "Shanghai", "Zhejiang",
           "Fujian", "Guangdong", "Guangxi", "Hainan"}
CRITICAL_AT_LEAST = {"agriculture", "food", "coal", "oil_gas", "refined_petroleum", "chemicals",
                     "electronics", "electricity", "gas", "water"}


def _script():
    spec = importlib.util.spec_from_file_location("build_china31",
                                                  ROOT / "scripts" / "build_china31.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_validates_to_1e9(china31):
    validate_economy(china31, rtol=1e-9)
    assert china31.attrs["title"] == "china31"
    assert china31.attrs["units"] == "1e8 yuan"


def test_dims_and_coordinates(china31):
    ds = china31
    assert ds.sizes["region"] == 31 and ds.sizes["sector"] == 42
    assert list(ds.use.values) == ["rural_households", "urban_households", "government",
                                   "fixed_capital", "inventory"]
    assert list(ds.consumption.values) == [True, True, True, False, False]
    assert list(ds.inventory.values) == [False, False, False, False, True]
    assert list(ds.signed.values) == [False, True, False, False]
    regions = list(ds.region.values)
    assert regions[:5] == ["Beijing", "Tianjin", "Hebei", "Shanxi", "InnerMongolia"]
    assert regions[-1] == "Xinjiang"
    codes = dict(zip(regions, ds.region_code.values))
    assert codes["Beijing"] == "11" and codes["Sichuan"] == "51" and codes["Xinjiang"] == "65"
    assert list(ds.sector_code.values) == [f"{i:02d}" for i in range(1, 43)]
    assert ds.sector.values[19] == "electronics" and ds.sector.values[41] == "public_administration"
    assert set(regions[i] for i in np.flatnonzero(ds.coastal.values)) == COASTAL
    zones = dict(zip(regions, ds.zone.values))
    counts = pd.Series(zones).value_counts().to_dict()
    assert counts == {"west": 12, "east": 10, "central": 6, "northeast": 3}
    assert zones["Sichuan"] == "west" and zones["Jilin"] == "northeast"
    assert ds.capital.sel(region="Sichuan").item() == "Chengdu"
    assert ds.tradable.values[:23].all() and not ds.tradable.values[23:].any()
    assert np.isfinite(ds.lon.values).all() and np.isfinite(ds.lat.values).all()


def test_essential_share_and_routes(china31):
    ds = china31
    es = ds.essential_share.values
    crit = ds.critical.values
    assert ((es >= 0) & (es <= 1)).all()
    assert np.array_equal(es > 0, crit)
    assert CRITICAL_AT_LEAST <= set(ds.sector.values[crit])
    routes = ds.import_route_share
    assert list(routes.route.values) == ["sea", "land", "air"]
    assert np.allclose(routes.sum("route"), 1.0, rtol=0, atol=1e-12)
    assert (routes >= 0).all()
    assert routes.sel(sector="oil_gas", route="sea") > 0.8
    assert routes.sel(sector="electronics", route="air") > 0.5


def test_interprovincial_trade_in_plausible_band(china31):
    ds = china31
    Z = ds.Z.sum(["product", "sector"]).values + ds.Y.sum(["product", "use"]).values
    off = ~np.eye(31, dtype=bool)
    inter = Z[off].sum()
    intl = float(ds.exports.sum() + ds.M.sum() + ds.MY.sum())
    ratio = inter / intl
    assert ratio == pytest.approx(ds.attrs["interprovincial_to_international"], rel=1e-9)
    # published provincial IO studies: of the order of twice international trade
    assert 1.0 < ratio < 5.0
    assert 0.2 < inter / float(Z.sum()) < 0.7


def _national(path):
    t = pd.read_csv(path, dtype={"Code": str})
    codes = [f"{i:02d}" for i in range(1, 43)]
    dom = t[t["Origin"] == "Domestic"].set_index("Code")
    imp = t[t["Origin"] == "Imports"].set_index("Code")
    va = t.set_index("Code").loc[["VA001", "VA002", "VA003", "VA004"], codes]
    return dom, imp, va, codes


def test_national_totals_match_national_table(china31):
    dom, imp, va, codes = _national(shared_file("china2017", "china_2017_42.csv"))
    ds, f = china31, 1e-4

    def close(a, b):
        a, b = np.asarray(a, float), np.asarray(b, float)
        assert np.allclose(a, b, rtol=1e-9, atol=1e-9 * np.abs(b).max())

    close(ds.x.sum("region"), dom["GO"] * f)
    close(ds.Z.sum(["origin", "region"]).transpose("product", "sector"), dom[codes] * f)
    close(ds.M.sum("region").transpose("product", "sector"), imp[codes] * f)
    close(ds.V.sum("region").transpose("component", "sector"), va * f)
    close(ds.exports.sum("region"), dom["EX"] * f)
    Y = ds.Y.sum(["origin", "region"]).transpose("product", "use")
    MY = ds.MY.sum("region").transpose("product", "use")
    for tab, arr in ((dom, Y), (imp, MY)):
        close(arr.isel(use=[0, 1, 2]).sum("use"), tab["TC"] * f)
        close(arr.sel(use="fixed_capital"), tab["FU201"] * f)
        close(arr.sel(use="inventory"), tab["FU202"] * f)


def test_provincial_shares_follow_official_data(china31):
    e = pd.read_csv(shared_file("china2017", "reslt_expd.csv"))
    e = e[e["year"] == "yr2017"].pivot(index="region", columns="item", values="value")
    e = e.loc[list(china31.region.values)]
    ex = china31.exports.sum("sector").values
    assert np.allclose(ex / ex.sum(), e["export_s"] / e["export_s"].sum(), rtol=1e-9)
    imp = (china31.M.sum(["product", "sector"]) + china31.MY.sum(["product", "use"])).values
    assert np.allclose(imp / imp.sum(), e["import_d"] / e["import_d"].sum(), rtol=1e-9)
    fc = china31.Y.sum(["origin", "product"]).sel(use="fixed_capital").values \
        + china31.MY.sum("product").sel(use="fixed_capital").values
    assert np.allclose(fc / fc.sum(), e["fixed_capital"] / e["fixed_capital"].sum(), rtol=1e-9)


def test_rebuild_reproduces_committed_file(china31, tmp_path):
    source = shared_file("china2017", "china_2017_42.csv").parent
    mod = _script()
    ds = mod.build(mod.read_sources(source))
    for name in ("Z", "Y", "exports", "M", "MY", "V", "x", "import_route_share"):
        a, b = ds[name].values, china31[name].values
        assert np.allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max()), name
    for key, val in ds.attrs.items():
        if isinstance(val, float):
            assert china31.attrs[key] == pytest.approx(val, rel=1e-12), key
        else:
            assert str(china31.attrs[key]) == str(val), key


def test_build_script_rejects_missing_source(tmp_path):
    from stresstest.errors import InputError

    mod = _script()
    with pytest.raises(InputError, match="source file not found"):
        mod.read_sources(tmp_path)
    assert mod.main(["--source", str(tmp_path), "--output", str(tmp_path / "x.nc")]) == 2
