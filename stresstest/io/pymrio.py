"""pymrio ``IOSystem`` -> economy (EXIOBASE, OECD ICIO, WIOD, Eora, GLORIA via pymrio).

Mapping (see ``docs/formats.md``): ``Z`` -> ``Z``; ``Y`` (columns region x category) -> ``Y``
with ``use`` = category; ``x`` from the system, else ``x = ΣZ + ΣY``; value added so that the
column identity is exact: ``V["value_added"] = x − ΣZ``, or, when a ``factor_inputs``
extension sums to that within ``rtol``, its rows plus a signed ``residual``. pymrio systems
have no rest-of-world import row (RoW is a region), so ``exports``, ``M`` and ``MY`` are zero.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..economy import make_economy, validate_economy
from ..errors import EconomyError, InputError
from ._common import check_finite

#: Final-demand categories whose entries may be negative (stock changes).
INVENTORY_PATTERN = re.compile(r"inventor|stock|valuable", re.IGNORECASE)
#: Final-demand categories counted as consumption (households, NPISH, government).
CONSUMPTION_PATTERN = re.compile(r"household|government|npish|consumption", re.IGNORECASE)


def _label(v) -> str:
    return " / ".join(map(str, v)) if isinstance(v, tuple) else str(v)


def _factor_inputs(iosystem):
    """The ``F`` table of a factor-inputs extension, or None."""
    try:
        names = list(iosystem.get_extensions(data=False))
    except Exception:  # noqa: BLE001 - systems without extensions
        return None
    for name in names:
        ext = getattr(iosystem, name, None)
        ext_name = str(getattr(ext, "name", name))
        if "factor" in name.lower() or "factor" in ext_name.lower():
            F = getattr(ext, "F", None)
            if isinstance(F, pd.DataFrame) and F.shape[0] > 0:
                return F
    return None


def from_pymrio(iosystem, *, rtol: float = 1e-6):
    """Build an economy from a pymrio ``IOSystem`` (symmetric: one sector set for all regions).

    Uses ``Z``, ``Y`` and ``x`` when present; a coefficient-only system (``A`` without ``Z``)
    gets ``Z = A diag(x)`` with ``x`` given or solved from ``(I − A) x = ΣY`` (sparse LU; never
    ``calc_all``). Units are the system's monetary unit. Raises :class:`InputError` for an
    object that is not an IOSystem or a non-symmetric table, :class:`EconomyError` when the
    table fails validation (``rtol`` relative).
    """
    Zdf = getattr(iosystem, "Z", None)
    Ydf = getattr(iosystem, "Y", None)
    Adf = getattr(iosystem, "A", None)
    if not (hasattr(iosystem, "get_regions") and isinstance(Ydf, pd.DataFrame)
            and (isinstance(Zdf, pd.DataFrame) or isinstance(Adf, pd.DataFrame))):
        raise InputError(f"from_pymrio: expected a pymrio IOSystem with Z (or A) and Y, got "
                         f"{type(iosystem).__name__}")
    name = str(getattr(iosystem, "name", None) or "IOSystem")
    source = f"pymrio IOSystem {name!r}"
    base = Zdf if isinstance(Zdf, pd.DataFrame) else Adf
    if base.index.nlevels != 2 or Ydf.columns.nlevels != 2:
        raise InputError(f"{source}: Z/A rows and Y columns must be (region, sector) and "
                         "(region, category) MultiIndexes")
    regions = list(dict.fromkeys(base.index.get_level_values(0)))
    sectors = list(dict.fromkeys(base.index.get_level_values(1)))
    cats = list(dict.fromkeys(Ydf.columns.get_level_values(1)))
    R, S, U = len(regions), len(sectors), len(cats)
    idx = pd.MultiIndex.from_product([regions, sectors])
    if len(base.index) != R * S or not base.index.isin(idx).all() or base.index.duplicated().any():
        per = base.index.to_frame(index=False).groupby(base.index.names[0] or 0, sort=False).size()
        raise InputError(f"{source}: the table is not symmetric (every region must have the same "
                         f"{S} sectors once); sectors per region: "
                         f"{dict(list(per.astype(int).items())[:6])}")
    ycols = pd.MultiIndex.from_product([regions, cats])
    if not Ydf.columns.isin(ycols).all() or Ydf.columns.duplicated().any():
        raise InputError(f"{source}: Y columns must be (region, category) with the Z regions")

    Y = Ydf.reindex(index=idx, columns=ycols, fill_value=0.0).to_numpy(dtype=np.float64)
    xdf = getattr(iosystem, "x", None)
    x = None
    if isinstance(xdf, (pd.DataFrame, pd.Series)):
        x = np.asarray(xdf.reindex(idx), dtype=np.float64).reshape(-1)
    if isinstance(Zdf, pd.DataFrame):
        Z = Zdf.reindex(index=idx, columns=idx).to_numpy(dtype=np.float64)
    else:
        A = Adf.reindex(index=idx, columns=idx).to_numpy(dtype=np.float64)
        if x is None:
            import scipy.sparse as sp
            import scipy.sparse.linalg as spla
            lhs = sp.csc_matrix(sp.identity(R * S) - sp.csr_matrix(np.nan_to_num(A)))
            x = spla.splu(lhs).solve(Y.sum(axis=1))
        Z = A * x[None, :]

    def ind(i):
        return f"{regions[i // S]}/{sectors[i % S]}"

    check_finite(Z, lambda t: f"Z[{ind(t[0])} -> {ind(t[1])}]", "Z", source)
    check_finite(Y, lambda t: f"Y[{ind(t[0])} -> {_label(ycols[t[1]])}]", "Y", source)
    if x is None:
        x = Z.sum(axis=1) + Y.sum(axis=1)
    check_finite(x, lambda t: f"x[{ind(t[0])}]", "x", source)

    va = x - Z.sum(axis=0)
    attrs = {"source": source, "reader": "stresstest.io.from_pymrio",
             "note": "pymrio systems have no rest-of-world import row: M, MY and exports are 0"}
    F = _factor_inputs(iosystem)
    comp_labels, V, signed = ["value_added"], va[None, :], []
    if F is not None:
        Fv = F.reindex(columns=idx).to_numpy(dtype=np.float64)
        resid = va - np.nan_to_num(Fv).sum(axis=0)
        ok = np.isfinite(Fv).all() and (
            np.abs(resid) <= rtol * np.abs(x) + 1e-12 * np.abs(x).sum()).all()
        if ok:
            comp_labels = [_label(v) for v in F.index] + ["residual"]
            V = np.vstack([Fv, resid[None, :]])
            signed = [c for c, row in zip(comp_labels, V) if (row < 0).any()] + ["residual"]
            attrs["value_added"] = "factor_inputs rows plus signed residual = x - sum(Z) - sum(F)"
        else:
            worst = float(np.nanmax(np.abs(resid) / np.maximum(np.abs(x), 1e-300)))
            attrs["value_added"] = (f"x - sum(Z); factor_inputs not used (differs from it by up "
                                    f"to {worst:.3g} relative, rtol={rtol:g})")
    else:
        attrs["value_added"] = "x - sum(Z) (no factor_inputs extension)"
    if len(comp_labels) == 1 and (va < 0).any():
        signed = ["value_added"]
    if len(set(comp_labels)) != len(comp_labels):
        raise EconomyError(f"{source}: duplicate factor input labels in {comp_labels}")

    units = "currency"
    unit = getattr(iosystem, "unit", None)
    if isinstance(unit, pd.DataFrame) and "unit" in unit.columns and unit["unit"].nunique() == 1:
        units = str(unit["unit"].iloc[0])
    uses = [str(c) for c in cats]
    inventory = [u for u in uses if INVENTORY_PATTERN.search(u)]
    consumption = [u for u in uses if CONSUMPTION_PATTERN.search(u) and u not in inventory]
    eco = make_economy(
        Z.reshape(R, S, R, S), Y.reshape(R, S, R, U), np.zeros((R, S)),
        np.zeros((S, R, S)), np.zeros((S, R, U)), V.reshape(len(comp_labels), R, S),
        x=x.reshape(R, S), regions=regions, sectors=sectors, uses=uses, components=comp_labels,
        units=units, consumption_uses=consumption, inventory_uses=inventory,
        signed_components=signed, attrs=attrs, validate=False)
    eco.attrs["title"] = name
    return validate_economy(eco, rtol=rtol, source=source)
