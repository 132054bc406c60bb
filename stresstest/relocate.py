r"""New industries in the hinterland: moving part of a sector's production to a host region.

A plan's ``new_industry`` element builds a production line of a sector in a host region that
takes over a share ``θ`` of the sector's output in the ``from`` regions (by default the coastal
ones): the new line sells to the same buyers and buys the same inputs from the same suppliers
as the lines it replaces, so national output, value added and every flow total stay as they
were, and only *where* the sector produces changes. For industries ``i`` (origin) and ``j``
(host) on the stacked axis, with ``T = I − θ e_i e_iᵀ + θ e_j e_iᵀ``:

.. math::
    Z' = T Z T^\top,\quad Y' = T Y,\quad e' = T e,\quad M' = M T^\top,\quad
    V' = V T^\top,\quad x' = T x

``T`` has unit column sums, so the row identity ``x = Z1 + Y1 + e`` and the column identity
``x = 1ᵀZ + 1ᵀM + 1ᵀV`` hold exactly after the move. The plan is then run on the relocated
economy (:func:`relocated`), and its benefit is measured against the original economy without
the plan: a coastal shock now hits less of the sector. This values "build the new industry
inland" against "back up the old one" (a standby line that idles until a shock).
"""

from __future__ import annotations

import json

import xarray as xr

from .errors import PlanError

_CACHE: dict = {}


def relocation_moves(plan: xr.Dataset) -> list[dict]:
    """The moves of a compiled plan: ``[{"to", "sector", "from": [...], "share"}]``."""
    if plan is None or "relocation_share" not in plan:
        return []
    return [{"to": str(t), "sector": str(s), "from": json.loads(str(f)), "share": float(q)}
            for t, s, f, q in zip(plan["relocation_to"].values, plan["relocation_sector"].values,
                                  plan["relocation_from"].values,
                                  plan["relocation_share"].values) if float(q) > 0]


def relocate(economy: xr.Dataset, moves) -> xr.Dataset:
    """A copy of ``economy`` with the ``moves`` applied (module doc); validated."""
    from .economy import DIMS, validate_economy

    R, S = economy.sizes["region"], economy.sizes["sector"]
    n = R * S
    regions = [str(r) for r in economy["region"].values]
    sectors = [str(s) for s in economy["sector"].values]
    Z = economy["Z"].transpose(*DIMS["Z"]).values.reshape(n, n).copy()
    U = economy.sizes["use"]
    Y = economy["Y"].transpose(*DIMS["Y"]).values.reshape(n, R * U).copy()
    ex = economy["exports"].transpose(*DIMS["exports"]).values.reshape(n).copy()
    M = economy["M"].transpose(*DIMS["M"]).values.reshape(S, n).copy()
    C = economy.sizes["component"]
    V = economy["V"].transpose(*DIMS["V"]).values.reshape(C, n).copy()
    x = economy["x"].transpose(*DIMS["x"]).values.reshape(n).copy()
    for mv in moves:
        s = sectors.index(mv["sector"])
        j = regions.index(mv["to"]) * S + s
        for f in mv["from"]:
            i = regions.index(f) * S + s
            if i == j:
                raise PlanError(f"new_industry: host {mv['to']!r} is also a region it takes "
                                "output from")
            q = mv["share"]
            Z[j, :] += q * Z[i, :]
            Z[i, :] *= 1.0 - q
            Z[:, j] += q * Z[:, i]
            Z[:, i] *= 1.0 - q
            for arr in (Y, ex[:, None], x[:, None]):
                arr[j] += q * arr[i]
                arr[i] *= 1.0 - q
            for arr in (M, V):
                arr[:, j] += q * arr[:, i]
                arr[:, i] *= 1.0 - q
    out = economy.copy()
    out["Z"] = (DIMS["Z"], Z.reshape(R, S, R, S))
    out["Y"] = (DIMS["Y"], Y.reshape(R, S, R, U))
    out["exports"] = (DIMS["exports"], ex.reshape(R, S))
    out["M"] = (DIMS["M"], M.reshape(S, R, S))
    out["V"] = (DIMS["V"], V.reshape(C, R, S))
    out["x"] = (DIMS["x"], x.reshape(R, S))
    for name in DIMS:
        out[name].attrs = dict(economy[name].attrs)
    out.attrs["relocations"] = json.dumps(list(moves))
    return validate_economy(out, source="relocated economy")


def relocated(economy: xr.Dataset, plan: xr.Dataset | None) -> xr.Dataset:
    """``economy`` itself when the compiled ``plan`` builds no new industry, else the
    relocated economy (cached per economy and set of moves)."""
    moves = relocation_moves(plan)
    if not moves:
        return economy
    key = (id(economy), json.dumps(moves, sort_keys=True))
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is economy:
        return hit[1]
    out = relocate(economy, moves)
    if len(_CACHE) > 16:
        _CACHE.clear()
    _CACHE[key] = (economy, out)
    return out
