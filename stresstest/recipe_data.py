"""The central production recipe: which inputs each sector cannot do without, and its stocks.

Data for the 42 NBS sectors of ``china31`` (built by ``scripts/build_recipe_nbs42.py``, method
and sources in ``docs/recipe-data.md``), shipped in the package's data folder ``recipe/``:

* ``nbs42_input_ratings.csv``: criticality of input (row, ``product``) for user (column,
  ``sector``): 1 critical, 0.5 important, 0 not critical (IHS Markit ratings of Pichler et al.
  2022 mapped from WIOD 55);
* ``nbs42_sector_parameters.csv``: ``inventory_days`` (days of production the sector's input
  stocks cover), ``storable`` (buyers can stock the product), ``utilisation`` (2017 capacity
  utilisation, NBS).

:func:`load_recipe_table` reads and validates them; :func:`attach_recipe` adds them to an
economy whose sector labels match.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import xarray as xr

from .errors import InputError

RECIPE = "nbs42-pichler2022"
SOURCES = ("Pichler, Pangallo, del Rio-Chanona, Lafond & Farmer (2022), J. Econ. Dyn. Control "
           "144:104527 (IHS Markit input ratings, inventory ratios; via twallema/pyIEEM, MIT); "
           "NBS China input-output table 2017; NBS capacity utilisation release 2018-01-19")
RATINGS_FILE = "nbs42_input_ratings.csv"
PARAMETERS_FILE = "nbs42_sector_parameters.csv"
PARAMETER_COLUMNS = ["sector", "inventory_days", "storable", "utilisation", "utilisation_basis"]
RATING_VALUES = (0.0, 0.5, 1.0)
VARIABLES = {"input_rating": ("product", "sector"), "inventory_days": ("sector",),
             "storable": ("product",), "utilisation": ("sector",)}


def recipe_dir() -> Path:
    """The shipped recipe folder (``data/recipe`` of a checkout or an installed wheel)."""
    from .economy import builtin_dirs

    for root in builtin_dirs():
        folder = root / "data" / "recipe"
        if (folder / RATINGS_FILE).exists():
            return folder
    raise InputError(f"recipe data not found: no data/recipe/{RATINGS_FILE} in the package")


def _rows(path: Path) -> list[list[str]]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [r for r in csv.reader(f) if r]
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: cannot read as CSV ({exc})") from None
    if not rows:
        raise InputError(f"{path}: empty file")
    return rows


def _number(path: Path, field: str, where: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InputError(f"{path}: field {field!r} at {where}: value {text!r} is not a finite "
                         "number")
    return value


def _read_ratings(path: Path) -> tuple[list[str], np.ndarray]:
    rows = _rows(path)
    header = rows[0]
    if header[0] != "input":
        raise InputError(f"{path}: first column must be 'input', got {header[0]!r}")
    users = header[1:]
    inputs = [r[0] for r in rows[1:]]
    if inputs != users:
        first = next((f"{a}!={b}" for a, b in zip(inputs, users) if a != b),
                     f"{len(inputs)} rows vs {len(users)} columns")
        raise InputError(f"{path}: row labels (inputs) must equal the column labels (users) in "
                         f"the same order; first difference {first}")
    if len(set(users)) != len(users):
        raise InputError(f"{path}: duplicate sector labels")
    values = np.empty((len(inputs), len(users)))
    for i, row in enumerate(rows[1:]):
        if len(row) != len(header):
            raise InputError(f"{path}: row {row[0]!r} has {len(row) - 1} values, expected "
                             f"{len(users)}")
        for j, text in enumerate(row[1:]):
            where = f"input={row[0]}, sector={users[j]}"
            v = _number(path, "input_rating", where, text)
            if v not in RATING_VALUES:
                raise InputError(f"{path}: field 'input_rating' at {where}: value {text!r} must "
                                 "be 0, 0.5 or 1")
            values[i, j] = v
    return users, values


def _read_parameters(path: Path, labels: list[str]) -> dict[str, np.ndarray]:
    rows = _rows(path)
    if rows[0] != PARAMETER_COLUMNS:
        raise InputError(f"{path}: columns must be {','.join(PARAMETER_COLUMNS)}, got "
                         f"{','.join(rows[0])}")
    sectors = [r[0] for r in rows[1:]]
    if sectors != labels:
        extra = sorted(set(sectors) - set(labels))
        missing = sorted(set(labels) - set(sectors))
        raise InputError(f"{path}: sector labels must equal those of {RATINGS_FILE} in the same "
                         f"order (missing {missing or 'none'}, extra {extra or 'none'})")
    days, storable, util = [], [], []
    for row in rows[1:]:
        if len(row) != len(PARAMETER_COLUMNS):
            raise InputError(f"{path}: row {row[0]!r} has {len(row)} fields, expected "
                             f"{len(PARAMETER_COLUMNS)}")
        where = f"sector={row[0]}"
        d = _number(path, "inventory_days", where, row[1])
        if d < 0:
            raise InputError(f"{path}: field 'inventory_days' at {where}: value {row[1]!r} must "
                             "be >= 0")
        if row[2] not in ("0", "1"):
            raise InputError(f"{path}: field 'storable' at {where}: value {row[2]!r} must be 0 "
                             "or 1")
        u = _number(path, "utilisation", where, row[3])
        if not 0 < u <= 1:
            raise InputError(f"{path}: field 'utilisation' at {where}: value {row[3]!r} must lie "
                             "in (0, 1]")
        days.append(d)
        storable.append(row[2] == "1")
        util.append(u)
    return {"inventory_days": np.array(days), "storable": np.array(storable, dtype=bool),
            "utilisation": np.array(util)}


def load_recipe_table(path=None) -> xr.Dataset:
    """Read and validate the recipe files in folder ``path`` (default: the shipped data).

    Returns a Dataset with ``input_rating(product, sector)`` (row = input product, column =
    using sector; 1 critical, 0.5 important, 0 not critical), ``inventory_days(sector)``,
    ``storable(product)`` (bool) and ``utilisation(sector)``; ``product`` and ``sector`` carry
    the same labels. Raises :class:`~stresstest.errors.InputError` naming file, field and value.
    """
    folder = recipe_dir() if path is None else Path(path)
    if not folder.is_dir():
        raise InputError(f"{folder}: recipe folder not found (expected {RATINGS_FILE} and "
                         f"{PARAMETERS_FILE} in it)")
    labels, ratings = _read_ratings(folder / RATINGS_FILE)
    params = _read_parameters(folder / PARAMETERS_FILE, labels)
    return xr.Dataset(
        {
            "input_rating": (("product", "sector"), ratings, {
                "long_name": "criticality of input product for using sector",
                "values": "1 critical, 0.5 important, 0 not critical"}),
            "inventory_days": ("sector", params["inventory_days"], {
                "long_name": "days of production covered by the sector's input inventories",
                "units": "days"}),
            "storable": ("product", params["storable"], {
                "long_name": "buyers can hold inventories of the product as an input"}),
            "utilisation": ("sector", params["utilisation"], {
                "long_name": "capacity utilisation 2017", "units": "1"}),
        },
        coords={"product": labels, "sector": labels},
        attrs={"recipe": RECIPE, "recipe_sources": SOURCES},
    )


def attach_recipe(economy: xr.Dataset, table: xr.Dataset | None = None) -> xr.Dataset:
    """A copy of ``economy`` with the recipe variables added (see :func:`load_recipe_table`).

    The economy's sector labels must be the table's labels (any order; the table is aligned
    to the economy). Sets ``attrs["recipe"]`` and ``attrs["recipe_sources"]``.
    """
    if not isinstance(economy, xr.Dataset) or "sector" not in economy.dims \
            or "product" not in economy.dims:
        raise InputError("attach_recipe: the economy must be an xarray.Dataset with dims "
                         "'product' and 'sector'")
    table = load_recipe_table() if table is None else table
    for name, dims in VARIABLES.items():
        if name not in table or table[name].dims != dims:
            raise InputError(f"attach_recipe: the recipe table needs variable {name!r} on dims "
                             f"{dims}")
    have = [str(s) for s in table["sector"].values]
    sectors = [str(s) for s in economy["sector"].values]
    products = [str(s) for s in economy["product"].values]
    if set(sectors) != set(have) or set(products) != set(have):
        missing = sorted(set(sectors) - set(have))
        extra = sorted(set(have) - set(sectors))
        raise InputError(f"attach_recipe: the economy's sector labels do not match the recipe "
                         f"table's ({table.attrs.get('recipe', 'recipe')}): not in the table "
                         f"{missing[:8] or 'none'}{' ...' if len(missing) > 8 else ''}; "
                         f"not in the economy {extra[:8] or 'none'}"
                         f"{' ...' if len(extra) > 8 else ''}")
    t = table.assign_coords(product=have, sector=have)
    out = economy.copy()
    for name, dims in VARIABLES.items():
        sel = {d: (products if d == "product" else sectors) for d in dims}
        da = t[name].sel(sel)
        out[name] = (dims, da.values.copy(), dict(da.attrs))
    out.attrs["recipe"] = table.attrs.get("recipe", RECIPE)
    out.attrs["recipe_sources"] = table.attrs.get("recipe_sources", SOURCES)
    return out
