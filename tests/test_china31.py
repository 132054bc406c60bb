"""The default economy china31: schema, identities, national totals, reproducibility."""

import importlib.util
from pathlib import Path

import numpy as np
import xarray as xr
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


def _writer(path) -> bytes:
    """The library versions that wrote a netCDF file (its ``_NCProperties``)."""
    import h5py

    with h5py.File(path, "r") as f:
        return bytes(f.attrs.get("_NCProperties", b""))


def test_rebuild_reproduces_committed_file(china31, tmp_path):
    source = shared_file("china2017", "china_2017_42.csv").parent
    mod = _script()
    ds = mod.build(mod.read_sources(source))
    # the default build writes the committed file: byte for byte with the libraries that wrote
    # it, the same contents with other releases
    from stresstest.economy import builtin_economies, save_economy

    out = save_economy(ds, tmp_path / "china31.nc")
    committed = builtin_economies()["china31"]
    if _writer(out) == _writer(committed):
        assert out.read_bytes() == committed.read_bytes()
    else:  # another h5netcdf / HDF5 / h5py release writes other bytes (its name among them)
        with xr.open_dataset(out, engine="h5netcdf") as a, \
                xr.open_dataset(committed, engine="h5netcdf") as b:
            xr.testing.assert_identical(a.load(), b.load())
    for name in ("Z", "Y", "exports", "M", "MY", "V", "x", "import_route_share"):
        a, b = ds[name].values, china31[name].values
        assert np.allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max()), name
    for key, val in ds.attrs.items():
        if isinstance(val, float):
            assert china31.attrs[key] == pytest.approx(val, rel=1e-12), key
        elif isinstance(val, list):
            np.testing.assert_array_equal(china31.attrs[key], val, err_msg=key)
        else:
            assert str(china31.attrs[key]) == str(val), key


def test_build_script_rejects_missing_source(tmp_path):
    from stresstest.errors import InputError

    mod = _script()
    with pytest.raises(InputError, match="source file not found"):
        mod.read_sources(tmp_path)
    assert mod.main(["--source", str(tmp_path), "--output", str(tmp_path / "x.nc")]) == 2


# --------------------------------------------------------------------------- calibration


def test_trade_attrs_are_those_of_the_table(china31):
    from stresstest.regionalize import trade_summary

    summary = trade_summary(china31)
    for key, val in summary.items():
        assert china31.attrs[key] == pytest.approx(val, rel=1e-9), key
    for key in ("gamma", "nontradable_home_share", "internal_distance_factor"):
        assert isinstance(china31.attrs[key], float)
    fitted = _script().FITTED
    assert china31.attrs["gamma"] == fitted["gamma"]
    assert china31.attrs["nontradable_home_share"] == fitted["home_share"]
    assert china31.attrs["internal_distance_factor"] == fitted["internal_factor"]


def test_calibrated_totals_within_tolerance(china31):
    """Every fitted total is within its stated tolerance (|ln built - ln target| <= sigma) and
    the published checks within 10%; 2007-based targets need the sources (else skipped)."""
    mod = _script()
    for key, (target, sigma, _) in mod.TARGETS.items():
        assert f"fit_{key}" in china31.attrs
        if target is not None:
            assert abs(np.log(china31.attrs[key] / target)) <= sigma, key
    for key, (published, _) in mod.CHECKS.items():
        assert f"check_{key}" in china31.attrs
        assert abs(np.log(china31.attrs[key] / published)) <= 0.10, key
    source = shared_file("china2017", "provincial_macro_accounts_1997_2017_long.csv").parent
    targets = mod.calibration_targets(mod.read_sources(source))
    assert targets["interprovincial_trade_to_va"][0] == pytest.approx(0.616, abs=5e-4)
    assert targets["interprovincial_dependence_mean"][0] == pytest.approx(1.18, abs=5e-3)
    for key, (target, sigma, _) in targets.items():
        assert abs(np.log(china31.attrs[key] / target)) <= sigma, key
    assert china31.attrs["objective_value"] == pytest.approx(mod.objective(
        china31.attrs, targets, china31.attrs["gamma"], china31.attrs["nontradable_home_share"],
        china31.attrs["internal_distance_factor"]), rel=1e-9)


def test_fitted_parameters_are_a_minimum_of_the_objective(china31):
    """Moving any fitted parameter by 5% either way does not lower the objective (a cheap
    check that FITTED is the result of ``build_china31.py --fit``, not hand-picked)."""
    from stresstest.regionalize import reweight_trade

    mod = _script()
    source = shared_file("china2017", "provincial_macro_accounts_1997_2017_long.csv").parent
    targets = mod.calibration_targets(mod.read_sources(source))
    best = dict(mod.FITTED)
    j0 = mod.objective(china31.attrs, targets, **best)
    for name in best:
        for step in (0.95, 1.05):
            p = {**best, name: best[name] * step}
            eco = reweight_trade(china31, p["gamma"], p["home_share"], p["internal_factor"],
                                 validate=False)
            assert mod.objective(eco.attrs, targets, **p) >= j0 - 1e-9, (name, step)


def test_province_areas_are_official(china31):
    area = dict(zip(china31.region.values, china31.area_km2.values))
    assert len(area) == 31 and (china31.area_km2.values > 0).all()
    # government figures (Wikipedia, "List of Chinese administrative divisions by area")
    assert area["Xinjiang"] == 1664900 and area["Zhejiang"] == 101800
    assert area["Shanghai"] == 6340.5 and area["Hainan"] == 35354
    assert sum(area.values()) == pytest.approx(9.6e6, rel=0.01)


# --------------------------------------------------------------------------- reweight_trade


def test_reweight_with_built_parameters_reproduces_the_table(china31):
    from stresstest.regionalize import reweight_trade

    again = reweight_trade(china31)
    for name in ("Z", "Y"):
        a, b = again[name].values, china31[name].values
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12 * np.abs(b).max())
    for name in ("x", "exports", "M", "MY", "V"):
        assert np.array_equal(again[name].values, china31[name].values), name
    from stresstest.regionalize import CALIBRATION_ATTRS

    for key, val in china31.attrs.items():
        if key.startswith(CALIBRATION_ATTRS):
            assert key not in again.attrs  # the build's report does not describe a reweighting
        elif isinstance(val, float):
            assert again.attrs[key] == pytest.approx(val, rel=1e-9, abs=1e-12), key


@pytest.mark.parametrize("params", [dict(gamma=1.0), dict(gamma=6.0, home_share=0.0),
                                    dict(gamma=0.0, internal_factor=1.5),
                                    dict(home_share=0.99, internal_factor=0.2)])
def test_reweight_keeps_identities_and_national_totals(china31, params):
    from stresstest.regionalize import reweight_trade

    eco = reweight_trade(china31, **params)  # validates to 1e-9
    validate_economy(eco, rtol=1e-9)
    x = eco.x.values
    rows = (eco.Z.sum(["region", "sector"]) + eco.Y.sum(["region", "use"])).values + \
        eco.exports.values
    cols = (eco.Z.sum(["origin", "product"]) + eco.M.sum("product") + eco.V.sum("component"))
    scale = 1e-12 * x.sum()
    assert (np.abs(rows - x) <= 1e-9 * x + scale).all()
    assert (np.abs(cols.values - x) <= 1e-9 * x + scale).all()
    for name, dims in (("Z", ["origin", "region"]), ("Y", ["origin", "region"])):
        np.testing.assert_allclose(eco[name].sum(dims).values, china31[name].sum(dims).values,
                                   rtol=1e-12, atol=1e-9)
    # each destination's use of each product is unchanged, only its origins move
    np.testing.assert_allclose(eco.Z.sum("origin").values, china31.Z.sum("origin").values,
                               rtol=1e-12, atol=1e-12)
    for key, val in params.items():
        attr = {"home_share": "nontradable_home_share",
                "internal_factor": "internal_distance_factor"}.get(key, key)
        assert eco.attrs[attr] == val


def test_reweight_distance_decay_moves_trade_home(china31):
    from stresstest.regionalize import reweight_trade

    ratios = [reweight_trade(china31, gamma=g, validate=False).attrs[
        "interprovincial_to_international"] for g in (1.0, 2.0, 4.0)]
    assert ratios[0] > ratios[1] > ratios[2]


def test_reweight_is_fast(china31):
    import time

    from stresstest.regionalize import reweight_trade

    reweight_trade(china31, gamma=2.0, summary=False, validate=False)
    t0 = time.perf_counter()
    reweight_trade(china31, gamma=2.0)
    assert time.perf_counter() - t0 < 10.0  # about a second; generous for a loaded machine


def test_reweight_rejects_bad_input(china31):
    from stresstest.errors import InputError
    from stresstest.regionalize import reweight_trade

    with pytest.raises(InputError, match="area_km2"):
        reweight_trade(china31.drop_vars("area_km2"))
    eco = reweight_trade(china31.drop_vars("area_km2"), area_km2=china31.area_km2.values,
                         summary=False)
    assert "area_km2" in eco.coords
    with pytest.raises(InputError, match="home_share"):
        reweight_trade(china31, home_share=1.0)
    with pytest.raises(InputError, match="gamma"):
        reweight_trade(china31, gamma=-1.0)
    with pytest.raises(InputError, match="one value per region"):
        reweight_trade(china31, area_km2=[1.0, 2.0])
    bare = china31.copy()
    bare.attrs = {k: v for k, v in china31.attrs.items() if k != "gamma"}
    with pytest.raises(InputError, match="gamma"):
        reweight_trade(bare)


def test_gamma_range_is_where_the_objective_rises_by_one(china31):
    from stresstest.regionalize import reweight_trade

    mod = _script()
    source = shared_file("china2017", "provincial_macro_accounts_1997_2017_long.csv").parent
    targets = mod.calibration_targets(mod.read_sources(source))
    h, f = mod.FITTED["home_share"], mod.FITTED["internal_factor"]
    j0 = china31.attrs["objective_value"]
    for g in mod.GAMMA_RANGE:
        eco = reweight_trade(china31, g, h, f, validate=False)
        assert mod.objective(eco.attrs, targets, g, h, f) - j0 == pytest.approx(1.0, abs=0.05)
    assert "calibration_gamma_range" in china31.attrs


def test_home_share_range_is_where_the_objective_rises_by_one(china31):
    """Low end: the objective is 1 above its minimum; high end: the parameter's bound, where it
    is still less than 1 above. The numeric ranges the sampled band draws are stored."""
    from stresstest.regionalize import reweight_trade

    mod = _script()
    source = shared_file("china2017", "provincial_macro_accounts_1997_2017_long.csv").parent
    targets = mod.calibration_targets(mod.read_sources(source))
    g, f = mod.FITTED["gamma"], mod.FITTED["internal_factor"]
    j0 = china31.attrs["objective_value"]
    lo, hi = mod.HOME_SHARE_RANGE

    def rise(h):
        eco = reweight_trade(china31, g, h, f, validate=False)
        return mod.objective(eco.attrs, targets, g, h, f) - j0

    assert rise(lo) == pytest.approx(1.0, abs=0.05)
    assert hi == mod.BOUNDS["home_share"][1] and 0 < rise(hi) < 1.0
    np.testing.assert_array_equal(china31.attrs["calibration_range_gamma"], mod.GAMMA_RANGE)
    np.testing.assert_array_equal(china31.attrs["calibration_range_home_share"],
                                  mod.HOME_SHARE_RANGE)
