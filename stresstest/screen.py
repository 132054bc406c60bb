r"""Where should the hinterland be? Host-region screening on the policy's criteria.

China's "national strategic hinterland" policy asks host regions for (a) an endowment in
resources, energy, grain and water, (b) a hub location with transport capacity, (c) an
industrial gradient against the coast (cheaper to produce in, room for transferred industry)
and (d) a broad industrial base related to the industries to be backed up; the screening adds
(e) **exposure**: how much of the region's own output and critical supply survives the
chosen scenarios (a hinterland that collapses with the coast is no hinterland).

Every indicator is computed from the economy (and, for exposure, from central estimates of the
scenarios) by a formula in :data:`INDICATORS`; each is normalised across regions to [0, 1]
(min-max, flipped where lower is better), a criterion's score is the mean of its indicators,
the total score the weighted mean of the criteria, and the rank orders the totals.
:func:`rank_sensitivity` redraws the weights (Dirichlet around the given ones) to say how firm
each rank is. Notation: ``x[r, s]`` output, ``LQ_r(G) = (Σ_{s∈G} x[r,s] / Σ_s x[r,s]) /
(Σ_{r,s∈G} x / Σ x)`` the location quotient of a sector group ``G``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from .errors import InputError

CRITERIA = ("endowment", "hub", "gradient", "base", "exposure")

#: Sector groups of the NBS 42 classification (``china31``); other economies pass ``groups``.
NBS42_GROUPS = {
    "agriculture": ("agriculture",),
    "energy": ("coal", "oil_gas", "electricity", "gas"),
    "minerals": ("metal_ores", "nonmetal_ores"),
    "water": ("water",),
    "manufacturing": ("food", "textiles", "apparel", "timber_furniture", "paper_printing",
                      "refined_petroleum", "chemicals", "nonmetal_minerals", "metals",
                      "metal_products", "general_machinery", "special_machinery",
                      "transport_equipment", "electrical_equipment", "electronics",
                      "instruments", "other_manufacturing"),
}


@dataclass(frozen=True)
class Indicator:
    criterion: str
    higher_is_better: bool
    formula: str
    source: str = "the economy (china31: docs/china31.md)"


#: Every indicator: its criterion, direction and formula (docs/screening.md prints this).
INDICATORS = {
    "lq_agriculture": Indicator("endowment", True, "LQ of agriculture"),
    "lq_energy": Indicator("endowment", True, "LQ of coal, oil and gas, electricity, gas"),
    "lq_minerals": Indicator("endowment", True, "LQ of metal and non-metal ores"),
    "lq_water": Indicator("endowment", True, "LQ of water supply (a proxy: no hydrology "
                          "data in an IO table)"),
    "energy_self_supply": Indicator(
        "endowment", True, "output of energy products over the region's own use of them "
        "(intermediate and final, from every origin and imports): > 1 supplies others"),
    "trade_centrality": Indicator(
        "hub", True, "the region's interregional trade (outflows plus inflows, intermediate "
        "and final) over the mean region's"),
    "coast_distance": Indicator(
        "hub", True, "km from the region's capital to the nearest coastal region's capital "
        "(0 for a coastal region): strategic depth"),
    "land_import_share": Indicator(
        "hub", True, "share of the region's imports that arrive by land or air "
        "(import_route_share weighted by its imports), i.e. not through sea ports"),
    "unit_labour_cost": Indicator(
        "gradient", False, "compensation of employees per unit of output, over the coastal "
        "regions' average (lower: cheaper to produce in)"),
    "industry_room": Indicator(
        "gradient", True, "coastal regions' manufacturing share of output minus the region's "
        "(room to take transferred industry)"),
    "diversity": Indicator(
        "base", True, "effective number of sectors, exp(entropy of output shares), over the "
        "number of sectors"),
    "lq_critical": Indicator("base", True, "LQ of the critical sectors (critical flag)"),
    "critical_relatedness": Indicator(
        "base", True, "Σ_s output share of s × share of s in the input needs of the critical "
        "sectors nationally, over the national value: how much of what critical industries "
        "buy is made here"),
    "output_surviving": Indicator(
        "exposure", True, "share of the region's output that survives, mean over the "
        "scenarios (central estimate)", "central estimates of the scenarios"),
    "critical_supply_worst": Indicator(
        "exposure", True, "the region's lowest critical supply ratio over critical products, "
        "mean over the scenarios (central estimate)", "central estimates of the scenarios"),
}


def _groups(economy, groups):
    sectors = [str(s) for s in economy["sector"].values]
    groups = dict(NBS42_GROUPS if groups is None else groups)
    missing = {g: [s for s in members if s not in sectors] for g, members in groups.items()}
    missing = {g: m for g, m in missing.items() if m}
    if missing:
        raise InputError(f"screen: sector groups name sectors the economy does not have "
                         f"({missing}); pass groups={{group: [sectors]}} for this economy "
                         f"(groups: {', '.join(NBS42_GROUPS)})")
    return {g: [sectors.index(s) for s in members] for g, members in groups.items()}


def _haversine_km(lon1, lat1, lon2, lat2):
    lon1, lat1, lon2, lat2 = map(np.radians, (lon1, lat1, lon2, lat2))
    a = (np.sin((lat2 - lat1) / 2) ** 2
         + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2)
    return 6371.0 * 2 * np.arcsin(np.sqrt(np.minimum(1.0, a)))


def location_quotient(x: np.ndarray, idx) -> np.ndarray:
    """``LQ_r(G) = (Σ_{s∈G} x[r, s] / Σ_s x[r, s]) / (Σ_{r,s∈G} x / Σ x)`` per region of the
    sector group ``idx`` (column indices of ``x``, output by region and sector (R, S)); a
    region without output has share 0 (NaN when the group has no output anywhere)."""
    xr_tot = x.sum(axis=1)
    share = x[:, idx].sum(axis=1) / np.where(xr_tot > 0, xr_tot, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return share / (x[:, idx].sum() / x.sum())


def structural_indicators(economy: xr.Dataset, groups: dict | None = None) -> dict:
    """The indicators of criteria (a)-(d) (numpy arrays over regions, see
    :data:`INDICATORS`)."""
    from .economy import derive

    d = derive(economy)
    R, S = d.n_region, d.n_sector
    g = _groups(economy, groups)
    x = d.x.reshape(R, S)
    xr_tot = x.sum(axis=1)
    X = x.sum()
    out = {f"lq_{group}": location_quotient(x, g[group])
           for group in ("agriculture", "energy", "minerals", "water")}
    Z = economy["Z"].transpose("origin", "product", "region", "sector").values
    Y = economy["Y"].transpose("origin", "product", "region", "use").values
    M = economy["M"].transpose("product", "region", "sector").values
    MY = economy["MY"].transpose("product", "region", "use").values
    e = g["energy"]
    use_e = (Z[:, e].sum(axis=(0, 1, 3)) + np.maximum(Y[:, e], 0).sum(axis=(0, 1, 3))
             + M[e].sum(axis=(0, 2)) + np.maximum(MY[e], 0).sum(axis=(0, 2)))
    out["energy_self_supply"] = x[:, e].sum(axis=1) / np.where(use_e > 0, use_e, 1.0)
    flows = Z.sum(axis=(1, 3)) + np.maximum(Y, 0).sum(axis=(1, 3))  # (origin, region)
    np.fill_diagonal(flows, 0.0)
    trade = flows.sum(axis=0) + flows.sum(axis=1)
    out["trade_centrality"] = trade / max(trade.mean(), 1e-300)
    coastal = economy["coastal"].values.astype(bool)
    lon, lat = economy["lon"].values.astype(float), economy["lat"].values.astype(float)
    if coastal.any() and np.isfinite(lon).all() and np.isfinite(lat).all():
        dist = _haversine_km(lon[:, None], lat[:, None], lon[None, coastal], lat[None, coastal])
        out["coast_distance"] = np.where(coastal, 0.0, dist.min(axis=1))
    else:
        out["coast_distance"] = np.full(R, np.nan)
    share = economy["import_route_share"].transpose("sector", "route")
    not_sea = 1.0 - share.sel(route="sea").values
    imports_rp = M.sum(axis=2).T + np.maximum(MY, 0).sum(axis=2).T  # (region, product)
    tot = imports_rp.sum(axis=1)
    out["land_import_share"] = (imports_rp * not_sea[None, :]).sum(axis=1) / np.where(
        tot > 0, tot, 1.0)
    comp = economy["V"].sel(component=[c for c in economy["component"].values
                                       if "comp" in str(c).lower()]).sum("component")
    ulc = comp.transpose("region", "sector").values.sum(axis=1) / np.where(xr_tot > 0, xr_tot,
                                                                           1.0)
    coast_mean = ulc[coastal].mean() if coastal.any() else ulc.mean()
    out["unit_labour_cost"] = ulc / coast_mean
    manu = x[:, g["manufacturing"]].sum(axis=1) / np.where(xr_tot > 0, xr_tot, 1.0)
    out["industry_room"] = (manu[coastal].mean() if coastal.any() else manu.mean()) - manu
    shares = x / np.where(xr_tot > 0, xr_tot, 1.0)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(shares > 0, shares * np.log(shares), 0.0).sum(axis=1)
    out["diversity"] = np.exp(ent) / S
    crit = economy["critical"].values.astype(bool)
    out["lq_critical"] = location_quotient(x, list(np.flatnonzero(crit)))
    # input needs of the critical sectors, nationally, by supplying product
    crit_ind = np.tile(crit, R)
    need = (d.a_prod[:, crit_ind] * d.x[crit_ind][None, :]).sum(axis=1)  # (P,)
    w = need / max(need.sum(), 1e-300)
    rel = shares @ w
    national = (x.sum(axis=0) / X) @ w
    out["critical_relatedness"] = rel / max(national, 1e-300)
    return out


def exposure_indicators(economy: xr.Dataset, scenarios, plan=None, **options) -> dict:
    """Criterion (e): regional surviving output and lowest critical supply, mean over the
    scenarios' central estimates (:func:`stresstest.api.run`, mode rationing)."""
    from . import metrics
    from .api import run

    outs, worst = [], []
    for sc in scenarios:
        res = run(economy, sc, plan, mode="rationing", **options)
        outs.append(metrics.surviving_share(res, "x", by="region").values)
        cs = metrics.critical_supply(res)["by_region"]
        worst.append(np.nan_to_num(cs.min("product", skipna=True).values, nan=1.0))
    return {"output_surviving": np.mean(outs, axis=0),
            "critical_supply_worst": np.mean(worst, axis=0)}


def _normalise(values: np.ndarray, higher_is_better: bool) -> np.ndarray:
    v = np.asarray(values, float)
    lo, hi = np.nanmin(v), np.nanmax(v)
    if not np.isfinite(lo) or hi - lo <= 1e-12 * max(abs(hi), 1.0):
        return np.full_like(v, 0.5)
    z = (v - lo) / (hi - lo)
    return z if higher_is_better else 1.0 - z


def _check_weights(weights, criteria):
    w = {c: 1.0 for c in criteria}
    if weights:
        unknown = sorted(set(weights) - set(CRITERIA))
        if unknown:
            raise InputError(f"screen: unknown criteria {unknown} in weights (known: "
                             f"{', '.join(CRITERIA)})")
        for c, v in weights.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) \
                    or v < 0:
                raise InputError(f"screen: weight of {c!r} must be a number >= 0, got {v!r}")
            if c in w:
                w[c] = float(v)
    if sum(w.values()) <= 0:
        raise InputError("screen: the weights sum to 0")
    return w


def score(values: dict, weights: dict | None = None) -> dict:
    """Normalised indicator scores, criterion scores, total score and rank (1 = best)."""
    criteria = [c for c in CRITERIA if any(INDICATORS[k].criterion == c for k in values)]
    w = _check_weights(weights, criteria)
    ind = {k: _normalise(v, INDICATORS[k].higher_is_better) for k, v in values.items()}
    crit = {c: np.nanmean([ind[k] for k in values if INDICATORS[k].criterion == c], axis=0)
            for c in criteria}
    W = np.array([w[c] for c in criteria])
    C = np.stack([crit[c] for c in criteria])  # (criteria, R)
    total = (W[:, None] * C).sum(axis=0) / W.sum()
    return {"indicator_scores": ind, "criterion_scores": crit, "criteria": criteria,
            "weights": w, "total": total, "rank": _rank(total)}


def _rank(total: np.ndarray) -> np.ndarray:
    order = np.argsort(-total, kind="stable")
    rank = np.empty(total.size, dtype=int)
    rank[order] = np.arange(1, total.size + 1)
    return rank


def rank_sensitivity(criterion_scores: np.ndarray, weights: np.ndarray, n: int = 2000,
                     concentration: float = 10.0, seed: int = 0, top: int = 5) -> dict:
    """How firm the ranks are: weights drawn from a Dirichlet with mean ``weights`` (normalised)
    and total concentration ``concentration`` per criterion (10: a weight of 1/5 varies by
    about ±0.06), ``n`` draws, seeded. Returns the 5th/50th/95th percentile rank and the
    probability of a top-``top`` place per region; ``criterion_scores`` is (criteria, R)."""
    rng = np.random.default_rng(seed)
    w = np.asarray(weights, float) / np.sum(weights)
    alpha = np.maximum(w * concentration * len(w), 1e-3)
    draws = rng.dirichlet(alpha, size=n)  # (n, criteria)
    totals = draws @ criterion_scores  # (n, R)
    ranks = np.argsort(np.argsort(-totals, axis=1, kind="stable"), axis=1) + 1
    return {"rank_p05": np.percentile(ranks, 5, axis=0),
            "rank_median": np.median(ranks, axis=0),
            "rank_p95": np.percentile(ranks, 95, axis=0),
            "top_probability": (ranks <= top).mean(axis=0)}


def screen(economy, scenarios=(), *, weights: dict | None = None, plan=None,
           groups: dict | None = None, samples: int = 2000, seed: int = 0,
           **options) -> xr.Dataset:
    """Screen the regions of ``economy`` as hinterland hosts (see the module doc).

    ``scenarios``: names, paths or compiled shocks for the exposure criterion (none: the
    exposure criterion is left out); ``weights``: ``{criterion: weight}`` (default 1 each);
    ``groups``: sector groups for economies that are not NBS 42; ``options``: options of the
    central estimate. Returns a Dataset over ``region`` (and ``indicator``, ``criterion``):
    ``value`` and ``indicator_score`` (region, indicator), ``criterion_score`` (region,
    criterion), ``score``, ``rank`` and the rank sensitivity; formulas in the ``indicator``
    coordinate's attributes and :data:`INDICATORS`.
    """
    from .api import resolve_economy

    eco = resolve_economy(economy)
    values = structural_indicators(eco, groups)
    if scenarios:
        values.update(exposure_indicators(eco, list(scenarios), plan, **options))
    names = list(values)
    sc = score(values, weights)
    criteria = sc["criteria"]
    C = np.stack([sc["criterion_scores"][c] for c in criteria])
    sens = rank_sensitivity(C, [sc["weights"][c] for c in criteria], n=samples, seed=seed)
    regions = eco["region"].values
    ds = xr.Dataset(
        {"value": (("region", "indicator"), np.stack([values[k] for k in names], axis=1)),
         "indicator_score": (("region", "indicator"),
                             np.stack([sc["indicator_scores"][k] for k in names], axis=1)),
         "criterion_score": (("region", "criterion"), C.T),
         "score": ("region", sc["total"]), "rank": ("region", sc["rank"]),
         **{k: ("region", v) for k, v in sens.items()}},
        coords={"region": regions, "indicator": names, "criterion": criteria,
                "indicator_criterion": ("indicator", [INDICATORS[k].criterion for k in names]),
                "higher_is_better": ("indicator", [INDICATORS[k].higher_is_better
                                                   for k in names]),
                "weight": ("criterion", [sc["weights"][c] for c in criteria])})
    for k in ("region_name_zh", "zone", "coastal"):
        if k in eco.coords:
            ds = ds.assign_coords({k: ("region", eco[k].values)})
    ds["value"].attrs["long_name"] = "indicator value (units in docs/screening.md)"
    ds["indicator_score"].attrs["long_name"] = "indicator normalised to [0, 1], 1 = best"
    ds["criterion_score"].attrs["long_name"] = "mean of the criterion's indicator scores"
    ds["score"].attrs["long_name"] = "weighted mean of the criterion scores"
    ds["rank"].attrs["long_name"] = "rank by score (1 = best host)"
    ds["top_probability"].attrs["long_name"] = "share of weight draws ranking the region top 5"
    ds.attrs.update({"economy": str(eco.attrs.get("title", "")),
                     "scenarios": ", ".join(str(getattr(s, "attrs", {}).get("scenario", s))
                                            for s in scenarios),
                     "weights": ", ".join(f"{c}={sc['weights'][c]:g}" for c in criteria),
                     "samples": int(samples), "seed": int(seed)})
    return ds
