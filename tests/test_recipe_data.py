"""The NBS 42 production recipe: shipped files, loader, attach_recipe and regeneration."""

from __future__ import annotations

import csv
import importlib.util
import shutil

import numpy as np
import pytest

from stresstest.errors import InputError
from stresstest.recipe_data import (PARAMETERS_FILE, RATINGS_FILE, RECIPE, attach_recipe,
                                    load_recipe_table, recipe_dir)
from stresstest.testing import random_economy

from .conftest import ROOT, SHARED_DATA

LABELS = (
    "agriculture coal oil_gas metal_ores nonmetal_ores food textiles apparel timber_furniture "
    "paper_printing refined_petroleum chemicals nonmetal_minerals metals metal_products "
    "general_machinery special_machinery transport_equipment electrical_equipment electronics "
    "instruments other_manufacturing repair electricity gas water construction trade transport "
    "hospitality it_services finance real_estate business_services research technical_services "
    "public_facilities household_services education health culture public_administration"
).split()
MANUFACTURING = LABELS[LABELS.index("food"):LABELS.index("other_manufacturing") + 1]
SERVICES = LABELS[LABELS.index("trade"):]
CONCORDANCE = ROOT / "data" / "recipe" / "wiod55_nbs42.csv"


@pytest.fixture(scope="module")
def table():
    return load_recipe_table()


def _build_module():
    spec = importlib.util.spec_from_file_location("build_recipe_nbs42",
                                                  ROOT / "scripts" / "build_recipe_nbs42.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# --------------------------------------------------------------------------- shipped table


def test_labels_and_shapes(table):
    assert table["input_rating"].dims == ("product", "sector")
    assert table["input_rating"].shape == (42, 42)
    assert list(table["sector"].values) == LABELS
    assert list(table["product"].values) == LABELS
    for name in ("inventory_days", "utilisation"):
        assert table[name].dims == ("sector",)
    assert table["storable"].dims == ("product",)
    assert table["storable"].dtype == bool
    assert table.attrs["recipe"] == RECIPE
    assert "Pichler" in table.attrs["recipe_sources"]


def test_values_valid(table):
    r = table["input_rating"].values
    assert np.isin(r, [0.0, 0.5, 1.0]).all()
    assert (table["inventory_days"] >= 0).all()
    u = table["utilisation"].values
    assert ((u > 0) & (u <= 1)).all()
    # every class occurs, and most cells are not critical (a Leontief recipe would be all 1)
    counts = {v: int((r == v).sum()) for v in (0.0, 0.5, 1.0)}
    assert min(counts.values()) > 0
    assert counts[0.0] > counts[0.5] + counts[1.0]


def test_orientation(table):
    r = table["input_rating"]
    # row = input product, column = using sector
    critical_users = [s for s in MANUFACTURING if r.sel(product="electricity", sector=s) == 1]
    assert len(MANUFACTURING) == 17
    assert len(critical_users) >= 12, critical_users
    assert r.sel(product="hospitality", sector="metals") < 1
    assert r.sel(product="agriculture", sector="food") == 1
    # asymmetric pairs: the transposed reading would fail these
    for supplier, user in (("metal_ores", "metals"), ("textiles", "apparel"),
                           ("agriculture", "hospitality")):
        assert r.sel(product=supplier, sector=user) == 1
        assert r.sel(product=user, sector=supplier) == 0
    assert r.sel(product="coal", sector="electricity") == 1
    assert r.sel(product="metal_ores", sector="metals") == 1


def test_split_rule_keeps_material_suppliers_only(table):
    r = table["input_rating"]
    # WIOD B (mining) is critical for C24 metals; only coal and metal ores supply metals
    assert r.sel(product="coal", sector="metals") == 1
    assert r.sel(product="nonmetal_ores", sector="metals") == 0
    assert r.sel(product="oil_gas", sector="refined_petroleum") == 1
    assert r.sel(product="metal_ores", sector="refined_petroleum") == 0
    # WIOD D35 is critical for food; in China food buys electricity, not piped gas
    assert r.sel(product="electricity", sector="food") == 1
    assert r.sel(product="gas", sector="food") == 0


def test_storable(table):
    s = table["storable"].to_series()
    assert s[["agriculture", "coal", "refined_petroleum", "chemicals", "electronics"]].all()
    assert not s[["electricity", "gas", "water", "construction", "repair", *SERVICES]].any()


def test_inventory_days_plausible(table):
    d = table["inventory_days"].to_series()
    services = d[[s for s in SERVICES if s != "trade"]]  # trade: goods held for resale
    assert d[MANUFACTURING].min() > services.max()
    assert d[MANUFACTURING].median() > 5 * services.median()
    assert 1 < services.median() < 15
    assert 20 < d[MANUFACTURING].median() < 120
    assert (d[["electricity", "gas", "water"]] < 7).all()


def test_utilisation_figures(table):
    u = table["utilisation"].to_series()
    assert u["agriculture"] == 1.0
    assert u["coal"] == pytest.approx(0.682)
    assert u["oil_gas"] == pytest.approx(0.884)
    assert u["metals"] == pytest.approx((0.758 + 0.785) / 2)
    assert u["apparel"] == pytest.approx(0.775)
    assert u["electricity"] == pytest.approx(0.728)
    assert (u[SERVICES] == 0.9).all()


def test_concordance_covers_all_sectors():
    with open(CONCORDANCE, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["sector", "wiod_code", "weight", "note"]
    weights: dict[str, float] = {}
    for row in rows:
        assert row["sector"] in LABELS
        weights[row["sector"]] = weights.get(row["sector"], 0.0) + float(row["weight"])
    assert sorted(weights) == sorted(LABELS)
    for sector, total in weights.items():
        assert total == pytest.approx(1.0, abs=1e-5), sector
    pairs = [(r["sector"], r["wiod_code"]) for r in rows]
    assert len(pairs) == len(set(pairs))


def test_concordance_codes_exist_in_pichler():
    path = SHARED_DATA / "pichler" / "IHS_Markit_results_compact.csv"
    if not path.exists():
        pytest.skip("shared data not available: pichler")
    with open(path, newline="") as f:
        rated = set(next(csv.reader(f))[1:])
    with open(CONCORDANCE, newline="", encoding="utf-8") as f:
        used = {r["wiod_code"] for r in csv.DictReader(f)}
    assert used <= rated


# --------------------------------------------------------------------------- loader errors


def _copy_table(tmp_path):
    for name in (RATINGS_FILE, PARAMETERS_FILE):
        shutil.copy(recipe_dir() / name, tmp_path / name)
    return tmp_path


def _edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize("file, old, new, words", [
    (RATINGS_FILE, "\nagriculture,0.5,", "\nagriculture,0.3,", ["input_rating", "0.3"]),
    (RATINGS_FILE, "\nagriculture,0.5,", "\nagriculture,nan,", ["input_rating", "nan"]),
    (PARAMETERS_FILE, "coal,2.5,", "coal,-2.5,", ["inventory_days", "-2.5", "coal"]),
    (PARAMETERS_FILE, "coal,2.5,1,0.6820", "coal,2.5,1,1.6820", ["utilisation", "1.6820"]),
    (PARAMETERS_FILE, "coal,2.5,1,0.6820", "coal,2.5,1,0", ["utilisation", "coal"]),
    (PARAMETERS_FILE, "coal,2.5,1,", "coal,2.5,yes,", ["storable", "yes"]),
    (PARAMETERS_FILE, "\ncoal,", "\nkohle,", ["sector labels", "kohle"]),
])
def test_load_rejects_bad_values(tmp_path, file, old, new, words):
    _copy_table(tmp_path)
    _edit(tmp_path / file, old, new)
    with pytest.raises(InputError) as err:
        load_recipe_table(tmp_path)
    msg = str(err.value)
    assert "\n" not in msg
    assert file in msg
    for w in words:
        assert w in msg


def test_load_missing_folder(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_recipe_table(tmp_path / "nowhere")


# --------------------------------------------------------------------------- attach_recipe


def test_attach_recipe_china31(china31, table):
    """The built economy carries the recipe (scripts/build_china31.py attaches it); attaching
    again to the bare table gives the same variables and leaves the flows alone."""
    for name in ("input_rating", "inventory_days", "storable", "utilisation"):
        np.testing.assert_array_equal(china31[name].values, table[name].values)
    bare = china31.drop_vars(["input_rating", "inventory_days", "storable", "utilisation"])
    out = attach_recipe(bare)
    assert out is not bare and "input_rating" not in bare
    assert out.attrs["recipe"] == RECIPE
    assert "Pichler" in out.attrs["recipe_sources"]
    assert out["input_rating"].dims == ("product", "sector")
    assert out["inventory_days"].dims == ("sector",)
    assert out["storable"].dims == ("product",)
    assert out["utilisation"].dims == ("sector",)
    np.testing.assert_array_equal(out["input_rating"].values, table["input_rating"].values)
    assert float(out["input_rating"].sel(product="electricity", sector="metals")) == 1.0
    for name in ("Z", "x", "Y"):
        assert out[name].identical(bare[name])


def test_attach_recipe_aligns_order(tmp_path, table):
    eco = random_economy(2, 3, seed=0)
    labels = [str(s) for s in eco["sector"].values]
    sub = table.isel(product=[0, 1, 2], sector=[0, 1, 2])
    sub = sub.assign_coords(product=labels[::-1], sector=labels[::-1])
    out = attach_recipe(eco, sub)
    for s in labels:
        assert float(out["inventory_days"].sel(sector=s)) == float(
            sub["inventory_days"].sel(sector=s))
        for p in labels:
            assert float(out["input_rating"].sel(product=p, sector=s)) == float(
                sub["input_rating"].sel(product=p, sector=s))


def test_attach_recipe_rejects_other_labels():
    eco = random_economy(2, 3, seed=0)
    with pytest.raises(InputError) as err:
        attach_recipe(eco)
    msg = str(err.value)
    assert "\n" not in msg
    assert "S0" in msg and "agriculture" in msg


# --------------------------------------------------------------------------- regeneration


def test_build_script_regenerates_committed_files(tmp_path):
    pichler = SHARED_DATA / "pichler"
    china = SHARED_DATA / "china2017"
    if not pichler.exists() or not china.exists():
        pytest.skip("shared data not available: ../shared/data/pichler or china2017")
    build = _build_module()
    args = ["--pichler", str(pichler), "--china", str(china), "--quiet"]
    assert build.main([*args, "--output", str(tmp_path / "a")]) == 0
    assert build.main([*args, "--output", str(tmp_path / "b")]) == 0
    names = [build.RATINGS_FILE, build.PARAMETERS_FILE, build.CHANGES_FILE]
    for name in names:
        fresh = (tmp_path / "a" / name).read_bytes()
        assert fresh == (tmp_path / "b" / name).read_bytes(), f"{name} is not deterministic"
        assert fresh == (ROOT / "data" / "recipe" / name).read_bytes(), f"{name} is stale"


def test_build_split_threshold_matters(tmp_path):
    """The split rule is live: without it mining would be critical for every mining user."""
    pichler = SHARED_DATA / "pichler"
    china = SHARED_DATA / "china2017"
    if not pichler.exists() or not china.exists():
        pytest.skip("shared data not available: ../shared/data/pichler or china2017")
    build = _build_module()
    result = build.build(pichler, china)
    i = build.SECTORS.index
    assert result["mapped"][i("gas"), i("food")] == 1
    assert result["ratings"][i("gas"), i("food")] == 0
    changed = {(build.SECTORS[p], build.SECTORS[u]) for p, u, *_ in result["changes"]}
    assert ("oil_gas", "metals") in changed


def test_recipe_doc_lists_every_parameter():
    """docs/recipe.md carries stresstest.recipe.PARAMETERS as they are (defaults, sources)."""
    from pathlib import Path

    from stresstest.recipe import parameters_markdown

    doc = (Path(__file__).resolve().parents[1] / "docs" / "recipe.md").read_text(encoding="utf-8")
    table = doc.split("<!-- parameters:begin -->", 1)[1].split("<!-- parameters:end -->", 1)[0]
    assert table.strip() == parameters_markdown().strip(), (
        "docs/recipe.md is out of date: paste stresstest.recipe.parameters_markdown()")
