"""Synthetic economies for tests, examples and benchmarks (seeded)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .economy import ROUTES, make_economy

USES = ("households", "government", "investment", "inventory")
COMPONENTS = ("compensation", "net_taxes", "depreciation", "surplus")


def random_economy(
    n_region: int = 3,
    n_sector: int = 4,
    seed: int = 0,
    density: float = 1.0,
    intermediate_share: float = 0.5,
    import_share: float = 0.1,
    home_bias: float = 3.0,
    validate: bool = True,
    drawdowns: float = 0.0,
    negative_taxes: float = 0.0,
    empty_industries: int = 0,
) -> xr.Dataset:
    """A balanced random MRIO (every identity exact) with coordinates filled in.

    Awkward but valid tables, for invariants: ``drawdowns`` is the share of (origin,
    destination) cells whose inventory use is negative (a drawdown, offset by households' use so
    the row identity holds); ``negative_taxes`` the share of industries whose net taxes are
    negative (offset by their surplus); ``empty_industries`` industries with no output, no
    sales and no purchases (their buyers' inputs move to surplus, their suppliers' sales to
    households).

    ``density`` is the share of non-zero product-by-sector technical coefficients (the
    interregional pattern repeats the product pattern, as in real MRIOs). Columns spend
    ``intermediate_share`` on domestic inputs and ``import_share`` on imports, the rest is value
    added, so ``A`` is productive. Sector 0 is critical with ``essential_share`` 0.5; even
    regions are coastal.
    """
    rng = np.random.default_rng(seed)
    R, S = n_region, n_sector
    n = R * S
    tech = rng.uniform(0.2, 1.0, (S, S)) * (rng.uniform(size=(S, S)) < density)
    tech[np.arange(S), np.arange(S)] = np.maximum(tech[np.arange(S), np.arange(S)], 0.1)
    trade = rng.uniform(0.2, 1.0, (R, R)) + home_bias * np.eye(R)
    trade /= trade.sum(axis=0, keepdims=True)
    # A[(o,p),(r,s)] = trade[o,r] * tech[p,s] scaled so column sums equal intermediate_share
    A = np.einsum("or,ps->oprs", trade, tech)
    colsum = A.sum(axis=(0, 1), keepdims=True)
    A = A / np.where(colsum > 0, colsum, 1) * intermediate_share
    A = A.reshape(n, n)
    x = rng.uniform(50.0, 150.0, n)
    Z = A * x[None, :]
    intermediate_sales = Z.sum(axis=1)
    final = x - intermediate_sales
    if (final <= 0).any():  # raise output until every industry sells to final demand
        L = np.linalg.inv(np.eye(n) - A)
        f = rng.uniform(20.0, 60.0, n)
        x = L @ f
        Z = A * x[None, :]
        final = f
    U = len(USES)
    dest = rng.uniform(0.2, 1.0, (n, R)) + home_bias * (np.arange(R)[None, :] == np.repeat(np.arange(R), S)[:, None])
    dest /= dest.sum(axis=1, keepdims=True)
    use_split = np.array([0.55, 0.15, 0.25, 0.05])
    export_share = 0.1
    Y = (final * (1 - export_share))[:, None, None] * dest[:, :, None] * use_split[None, None, :]
    exports = final * export_share
    M_tot = import_share * x
    msplit = rng.uniform(0.1, 1.0, (S, n))
    M = msplit / msplit.sum(axis=0) * M_tot
    va = x - Z.sum(axis=0) - M_tot
    vsplit = np.array([0.5, 0.1, 0.15, 0.25])
    V = vsplit[:, None] * va[None, :]
    MY = rng.uniform(0.0, 2.0, (S, R, U)) * use_split[None, None, :]
    MY[:, :, 3] = 0.0
    if drawdowns > 0:
        Y = Y.reshape(n, R, U).copy()
        hit = rng.uniform(size=(n, R)) < drawdowns
        d = np.where(hit, rng.uniform(0.05, 0.5, (n, R)) * Y[:, :, 0], 0.0)
        Y[:, :, 3] -= d  # inventory use (last) negative
        Y[:, :, 0] += d  # households absorb it: row sums unchanged
    if negative_taxes > 0:
        hit = rng.uniform(size=n) < negative_taxes
        t = np.where(hit, 0.3 * va, 0.0)
        V = V.copy()
        V[1] = np.where(hit, -t, V[1])
        V[3] = V[3] + np.where(hit, t + vsplit[1] * va, 0.0)
    if empty_industries:
        gone = rng.choice(n, size=min(int(empty_industries), n - 1), replace=False)
        Y = Y.reshape(n, R, U).copy()
        V = V.copy()
        # suppliers' sales to the empty industries go to households instead
        Y[:, :, 0] += (Z[:, gone].sum(axis=1) / R)[:, None]
        # buyers' purchases from the empty industries become surplus
        V[3] += Z[gone, :].sum(axis=0)
        Z = Z.copy()
        Z[gone, :] = 0.0
        Z[:, gone] = 0.0
        Y[gone] = 0.0
        exports = exports.copy()
        exports[gone] = 0.0
        M = M.copy()
        M[:, gone] = 0.0
        V[:, gone] = 0.0
        x = x.copy()
        x[gone] = 0.0
        # households' extra purchases above were spread over destinations equally
        Y[gone] = 0.0
    zones = np.array(["east", "central", "west", "northeast"])
    routes = rng.dirichlet(np.ones(len(ROUTES)), S)
    return make_economy(
        Z.reshape(R, S, R, S), Y.reshape(R, S, R, U), exports.reshape(R, S),
        M.reshape(S, R, S), MY, V.reshape(len(COMPONENTS), R, S),
        x=x.reshape(R, S),
        regions=[f"R{r}" for r in range(R)], sectors=[f"S{s}" for s in range(S)],
        uses=USES, components=COMPONENTS, units="million currency",
        region_coords={"zone": zones[np.arange(R) % 4], "coastal": np.arange(R) % 2 == 0,
                       "lon": np.linspace(100, 120, R), "lat": np.linspace(20, 45, R)},
        sector_coords={"critical": np.arange(S) == 0,
                       "essential_share": np.where(np.arange(S) == 0, 0.5, 0.0)},
        consumption_uses=("households", "government"), inventory_uses=("inventory",),
        signed_components=("net_taxes",), import_route_share=routes,
        attrs={"title": f"random economy {R}x{S} seed {seed}"}, validate=validate,
    )
