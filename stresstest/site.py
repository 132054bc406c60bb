r"""Backup siting: what should each host region hold, and how much, for a given budget?

Candidates are units of backup (:class:`Candidate`): standby capacity of a sector in a region
(1% of the sector's national output; for a sector bound to land or deposits only where the
region already has it, :data:`RESOURCE_SECTORS`), a national stockpile of a product (10 days of its
baseline imports or essential use) and extra corridor capacity between region groups (5% of
the baseline flow), each with the annual cost the plan format gives it (``docs/scenarios.md``,
plan cost assumptions) and a maximum number of units. The objective of a portfolio, over a
set of scenarios ``k`` with weights ``w_k`` (annual probabilities or any relative weights),
under the central estimate:

.. math::
    J = \sum_k w_k \left( \Delta VA_k + \lambda\, \Delta E_k \right)

with ``ΔVA_k`` the value added saved over the scenario's window (:func:`stresstest.metrics.
benefit`) and ``ΔE_k`` the essential final use secured over the window (money), ``λ`` =
``critical_weight`` (default 1: a yuan of essential supply secured counts like a yuan of value
added saved, on top of it).

Algorithm (greedy with re-solve): the coordinated optimum's duals (mode ``optimal``: value of
capacity per region-sector, of route capacity per region pair) and the central runs' product
shortfalls price every candidate once; each round the best-priced candidates per unit of
annual cost that still fit the budget (``shortlist``) are re-evaluated exactly with the
central engine (one batched run over the scenarios each), the one with the largest gain per
yuan is added, and the rounds stop when the budget is spent or no candidate gains. The duals
are those of the empty portfolio (a documented approximation: they only choose the shortlist;
every pick is evaluated exactly). The result is a plan file that ``compare`` and ``report``
accept, with each element's marginal value per yuan in its note.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .errors import InputError
from .units import DAYS_PER_YEAR

#: Default unit sizes and cost rates (as the shipped plans: idle standby 8% of its capacity
#: value a year, stocks 3% of their value a year, corridors 2% of the extra capacity value).
DEFAULTS = {
    "standby_share": 0.01, "standby_cost_share": 0.08, "standby_lead_time": 30,
    "standby_ramp": 30, "standby_max_units": 5,
    "stock_days": 10, "stock_cost_share": 0.03, "stock_max_units": 6,
    "corridor_extra": 0.05, "corridor_cost_share": 0.02, "corridor_max_units": 4,
    "resource_min_lq": 1.0,
}
#: Sectors bound to land or deposits (NBS 42 labels; those the economy has): standby capacity
#: of one is offered only in regions whose location quotient of it is at least
#: ``resource_min_lq`` (a backup mine or farm needs the deposit or the land).
RESOURCE_SECTORS = ("agriculture", "coal", "oil_gas", "metal_ores", "nonmetal_ores")


@dataclass(frozen=True)
class Candidate:
    """One unit of a backup: ``kind`` (standby, stockpile, corridor), where and what, and the
    plan element of one unit (``element``: TOML fields; sizes multiply by the units)."""

    kind: str
    label: str
    element: tuple  # sorted (key, value) pairs of one unit's plan element
    size_key: str
    max_units: int = 5

    def fields(self, units: int) -> dict:
        f = dict(self.element)
        f[self.size_key] = f[self.size_key] * units
        return f


@dataclass
class SiteResult:
    """The chosen portfolio: ``units`` per candidate, the plan ``toml`` text, ``steps`` (one
    dict per pick: candidate, gain, cost, gain per yuan, objective), ``objective`` and
    ``cost`` (annual), ``seconds``."""

    units: dict
    toml: str
    steps: list = field(default_factory=list)
    objective: float = 0.0
    cost: float = 0.0
    seconds: float = 0.0


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(float(v)) if isinstance(v, float) else str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def plan_toml(name: str, description: str, units: dict, notes: dict | None = None) -> str:
    """The plan file text of a portfolio ``{Candidate: units}``."""
    lines = [f"name = {_toml_value(name)}", f'description = """\n{description}"""', ""]
    for cand, n in units.items():
        if n <= 0:
            continue
        lines.append(f"[[{cand.kind}]]")
        for k, v in cand.fields(n).items():
            lines.append(f"{k} = {_toml_value(v)}")
        if notes and cand in notes:
            lines.append(f"note = {_toml_value(notes[cand])}")
        lines.append("")
    return "\n".join(lines)


def _compile(economy, name, units, notes=None):
    from .plan import compile_plan, parse_plan

    text = plan_toml(name, "siting candidate portfolio", units, notes)
    return compile_plan(parse_plan(text, f"<{name}>"), economy), text


def default_candidates(economy, sectors=None, products=None, regions=None,
                       groups=(("west", "coastal"), ("central", "coastal")),
                       resource_sectors=None, **sizes) -> list[Candidate]:
    """Default candidates: standby of ``sectors`` (default: the critical sectors that are
    tradable) in ``regions`` (default: the inland regions), national stockpiles of ``products``
    (default: critical storable products; basis imports where the product is imported, else
    essential use) and corridors between the region ``groups``; unit sizes and cost rates from
    :data:`DEFAULTS` (override with keyword arguments). Standby of a ``resource_sectors``
    sector (default: :data:`RESOURCE_SECTORS` the economy has) only where its location
    quotient ``LQ[r, s] = (x[r, s] / x[r]) / (x[s] / x)`` is at least ``resource_min_lq``."""
    p = {**DEFAULTS, **sizes}
    unknown = sorted(set(sizes) - set(DEFAULTS))
    if unknown:
        raise InputError(f"site: unknown candidate size(s) {', '.join(unknown)}")
    crit = economy["critical"].values.astype(bool)
    tradable = economy["tradable"].values.astype(bool)
    labels = [str(s) for s in economy["sector"].values]
    if sectors is None:
        sectors = [s for s, c, t in zip(labels, crit, tradable) if c and t]
    if regions is None:
        regions = [str(r) for r, c in zip(economy["region"].values,
                                          economy["coastal"].values) if not c]
    storable = (economy["storable"].values.astype(bool) if "storable" in economy
                else tradable)
    if products is None:
        products = [s for s, c, st in zip(labels, crit, storable) if c and st]
    imports = (economy["M"].sum(["region", "sector"]) + economy["MY"].sum(["region", "use"]))
    if resource_sectors is None:
        resource_sectors = [s for s in RESOURCE_SECTORS if s in labels]
    unknown = sorted(set(resource_sectors) - set(labels))
    if unknown:
        raise InputError(f"site: resource_sectors names unknown sector(s) {', '.join(unknown)}")
    from .screen import location_quotient

    x = economy["x"].transpose("region", "sector").values
    region_labels = [str(r) for r in economy["region"].values]
    lq = {s: dict(zip(region_labels, location_quotient(x, [labels.index(s)])))
          for s in resource_sectors}
    out = []
    for s in sectors:
        for r in regions:
            if s in lq and not lq[s][r] >= p["resource_min_lq"]:
                continue
            out.append(Candidate(
                "standby", f"standby {s} in {r}",
                tuple(sorted({"region": r, "sector": s, "capacity_share": p["standby_share"],
                              "lead_time": p["standby_lead_time"], "ramp": p["standby_ramp"],
                              "annual_cost_share": p["standby_cost_share"]}.items())),
                "capacity_share", int(p["standby_max_units"])))
    for prod in products:
        basis = "imports" if float(imports.sel(product=prod)) > 0 else "essential"
        out.append(Candidate(
            "stockpile", f"national stock of {prod}",
            tuple(sorted({"product": prod, "region": "national", "basis": basis,
                          "days_of_cover": float(p["stock_days"]), "max_release": 1.0,
                          "annual_cost_share": p["stock_cost_share"]}.items())),
            "days_of_cover", int(p["stock_max_units"])))
    for a, b in groups:
        out.append(Candidate(
            "corridor", f"corridor {a} <-> {b}",
            tuple(sorted({"from": a, "to": b, "extra": p["corridor_extra"],
                          "both_ways": True,
                          "annual_cost_share": p["corridor_cost_share"]}.items())),
            "extra", int(p["corridor_max_units"])))
    return out


def load_candidates(path, economy) -> list[Candidate]:
    """Candidates from a TOML file: arrays ``[[standby]]``, ``[[stockpile]]``, ``[[corridor]]``
    with the fields of one unit (as in a plan file) plus ``max_units`` (default 5); regions
    and sectors must each name one label (a candidate is one place)."""
    import tomllib
    from pathlib import Path

    from .plan import compile_plan, parse_plan

    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a TOML file ({exc})") from None
    size = {"standby": "capacity_share", "stockpile": "days_of_cover", "corridor": "extra"}
    unknown = sorted(set(data) - set(size))
    if unknown:
        raise InputError(f"{path}: unknown table(s) {', '.join(unknown)} (candidates are "
                         "[[standby]], [[stockpile]], [[corridor]])")
    out = []
    for kind, key in size.items():
        for i, t in enumerate(data.get(kind, [])):
            t = dict(t)
            max_units = t.pop("max_units", 5)
            if isinstance(max_units, bool) or not isinstance(max_units, int) or max_units < 1:
                raise InputError(f"{path}: {kind}[{i}].max_units: {max_units!r} must be a "
                                 "whole number >= 1")
            if key not in t:
                raise InputError(f"{path}: {kind}[{i}].{key}: required (the size of one unit)")
            label = f"{kind} " + " ".join(str(t.get(k, "")) for k in ("sector", "product",
                                                                        "region", "from", "to")
                                          if k in t)
            cand = Candidate(kind, label.strip(), tuple(sorted(t.items())), key, max_units)
            text = plan_toml("check", "candidate", {cand: 1})
            try:
                compile_plan(parse_plan(text, f"{path}: {kind}[{i}]"), economy)
            except InputError as exc:
                raise InputError(f"{path}: {kind}[{i}]: {exc}") from None
            out.append(cand)
    if not out:
        raise InputError(f"{path}: no candidates")
    return out


def _window(shock) -> int:
    return max(1, int(shock.attrs["window_end"]) - int(shock.attrs["window_start"]))


def _evaluate(economy, shocks, plan, weights, lam, base=None, **options):
    """Objective ``J`` of a compiled plan against ``base`` (the no-plan batch; 0 without it)
    and the batch Result over the scenarios."""
    from .modes.rationing import run_rationing_batch

    res = run_rationing_batch(economy, shocks, plan, **options)
    if base is None:
        return 0.0, res
    J = 0.0
    for k, w in enumerate(weights):
        a, b = res.isel(scenario=k), base.isel(scenario=k)
        years = _window(shocks[k]) / DAYS_PER_YEAR
        dva = float((a["va"] - b["va"]).sum()) * years
        dess = float((a["essential"] - b["essential"]).sum()) * years
        J += w * (dva + lam * dess)
    return J, res


def _prices(economy, shocks, base, cands, weights):
    """First-order value per unit of each candidate (for the shortlist only)."""
    from .api import run

    R = economy.sizes["region"]
    regions = [str(r) for r in economy["region"].values]
    cap_val = np.zeros((R, economy.sizes["sector"]))
    route_val = np.zeros((R, R))
    for k, (sh, w) in enumerate(zip(shocks, weights)):
        opt = run(economy, sh, None, mode="optimal")
        cap_val += w * opt["capacity_value"].values * _window(sh) / DAYS_PER_YEAR
        route_val += w * opt["route_value"].values * _window(sh) / DAYS_PER_YEAR
    x_nat = economy["x"].sum("region")
    zones = {str(z): [i for i, zz in enumerate(economy["zone"].values) if zz == z]
             for z in np.unique(economy["zone"].values)}
    coastal = [i for i, c in enumerate(economy["coastal"].values) if c]

    def members(g):
        if g == "coastal":
            return coastal
        if g == "inland":
            return [i for i in range(R) if i not in coastal]
        return zones.get(g, [regions.index(g)] if g in regions else [])

    # shortfall of each product over the scenarios (lost imports + essential shortfall)
    short = np.zeros(economy.sizes["sector"])
    for k, w in enumerate(weights):
        res = base.isel(scenario=k)
        lost = (1.0 - res["import_availability"].values) * res["imports_baseline"].values
        ess = (res["essential_baseline"] - res["essential"]).sum("region").values
        short += (w * (np.maximum(lost, 0) + np.maximum(ess, 0)) * _window(shocks[k])
                  / DAYS_PER_YEAR)
    prices = {}
    for c in cands:
        f = dict(c.element)
        if c.kind == "standby":
            r, s = regions.index(f["region"]), list(map(str, economy["sector"].values)).index(
                f["sector"])
            prices[c] = cap_val[r, s] * f["capacity_share"] * float(x_nat.isel(sector=s))
        elif c.kind == "stockpile":
            s = list(map(str, economy["sector"].values)).index(f["product"])
            prices[c] = min(short[s], float(x_nat.isel(sector=s)) * f["days_of_cover"]
                            / DAYS_PER_YEAR)
        else:
            a, b = members(f["from"]), members(f["to"])
            v = route_val[np.ix_(a, b)].sum() + route_val[np.ix_(b, a)].sum()
            prices[c] = v * f["extra"]
    return prices


def site(economy, scenarios, budget: float, *, candidates=None, weights=None,
         critical_weight: float = 1.0, shortlist: int = 8, max_steps: int = 100,
         name: str = "sited-plan", progress=None, **options) -> SiteResult:
    """Choose a backup portfolio within ``budget`` (economy units a year) for ``scenarios``
    (names, paths or compiled shocks) under the central estimate (see the module doc).

    ``candidates``: a list of :class:`Candidate` (default :func:`default_candidates`) or a
    TOML path (:func:`load_candidates`); ``weights``: one per scenario (default 1 each);
    ``critical_weight``: ``λ``; ``shortlist``: candidates evaluated exactly per round;
    ``options``: options of the central estimate; ``progress``: a callable taking one line of
    text per round.
    """
    from .api import resolve_economy, resolve_scenario
    from .metrics import plan_cost

    t0 = time.perf_counter()
    eco = resolve_economy(economy)
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not np.isfinite(
            budget) or budget <= 0:
        raise InputError(f"site: budget={budget!r} must be a positive number (economy units "
                         "a year)")
    scenarios = list(scenarios)
    if not scenarios:
        raise InputError("site: at least one scenario is needed")
    shocks = [resolve_scenario(s, eco) for s in scenarios]
    w = np.ones(len(shocks)) if weights is None else np.asarray(weights, float)
    if w.shape != (len(shocks),) or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise InputError(f"site: weights must be one number >= 0 per scenario, got {weights!r}")
    if candidates is None:
        cands = default_candidates(eco)
    elif isinstance(candidates, (str, bytes)) or hasattr(candidates, "__fspath__"):
        cands = load_candidates(candidates, eco)
    else:
        cands = list(candidates)
    unit_cost = {}
    for c in cands:
        plan, _ = _compile(eco, "unit", {c: 1})
        unit_cost[c] = plan_cost(plan)
    _, base = _evaluate(eco, shocks, None, w, critical_weight, **options)
    prices = _prices(eco, shocks, base, cands, w)
    units: dict = {}
    steps = []
    J, spent = 0.0, 0.0
    for step in range(max_steps):
        room = budget - spent
        fits = [c for c in cands if unit_cost[c] <= room + 1e-9 and unit_cost[c] > 0
                and units.get(c, 0) < c.max_units]
        if not fits:
            break
        fits.sort(key=lambda c: -prices[c] / unit_cost[c])
        best = None
        for c in fits[:shortlist]:
            trial = dict(units)
            trial[c] = trial.get(c, 0) + 1
            plan, _ = _compile(eco, "trial", trial)
            Jc, _ = _evaluate(eco, shocks, plan, w, critical_weight, base=base, **options)
            gain = Jc - J
            rate = gain / unit_cost[c]
            if best is None or rate > best[1]:
                best = (c, rate, gain, Jc)
        if best is None or best[2] <= 0:
            break
        c, rate, gain, Jc = best
        units[c] = units.get(c, 0) + 1
        spent += unit_cost[c]
        J = Jc
        steps.append({"step": step + 1, "candidate": c.label, "gain": gain,
                      "cost": unit_cost[c], "gain_per_yuan": rate, "objective": J,
                      "spent": spent})
        if progress is not None:
            progress(f"[{step + 1}] {c.label}: +{gain:,.1f} ({rate:.2f} per unit of annual "
                     f"cost), spent {spent:,.1f} of {budget:,.1f}")
    rates = {}
    for s in steps:
        rates.setdefault(s["candidate"], []).append(s["gain_per_yuan"])
    notes = {c: (f"{n} unit(s); marginal value per unit of annual cost "
                 + ", ".join(f"{v:.2f}" for v in rates.get(c.label, [])))
             for c, n in units.items()}
    names = [str(getattr(s, "attrs", {}).get("scenario", s)) for s in shocks]
    desc = (f"Portfolio chosen by stresstest site for scenarios {', '.join(names)} (weights "
            f"{', '.join(f'{v:g}' for v in w)}) within an annual budget of {budget:,.1f} "
            f"{eco.attrs.get('units', '')}: greedy by value added saved plus "
            f"{critical_weight:g} x essential supply secured per unit of annual cost, each "
            f"pick evaluated with the central estimate. Objective {J:,.1f}; annual cost "
            f"{spent:,.1f}.")
    text = plan_toml(name, desc, units, notes)
    return SiteResult(units, text, steps, J, spent, time.perf_counter() - t0)


def portfolio_objective(economy, scenarios, units: dict, *, weights=None,
                        critical_weight: float = 1.0, **options) -> tuple[float, float]:
    """``(objective, annual cost)`` of a portfolio ``{Candidate: units}`` (or of a compiled
    plan or plan name given as ``units``), for comparisons with shipped or random plans."""
    from .api import resolve_economy, resolve_plan, resolve_scenario
    from .metrics import plan_cost

    eco = resolve_economy(economy)
    shocks = [resolve_scenario(s, eco) for s in scenarios]
    w = np.ones(len(shocks)) if weights is None else np.asarray(weights, float)
    if isinstance(units, dict):
        plan, _ = _compile(eco, "portfolio", units)
    else:
        plan = resolve_plan(units, eco)
    _, base = _evaluate(eco, shocks, None, w, critical_weight, **options)
    J, _ = _evaluate(eco, shocks, plan, w, critical_weight, base=base, **options)
    return J, plan_cost(plan)


def random_portfolio(cands, unit_costs: dict, budget: float, seed: int) -> dict:
    """A random portfolio of about ``budget`` (units added at random until nothing fits)."""
    rng = np.random.default_rng(seed)
    units: dict = {}
    spent = 0.0
    order = list(cands)
    while True:
        fits = [c for c in order if unit_costs[c] <= budget - spent + 1e-9 and unit_costs[c] > 0
                and units.get(c, 0) < c.max_units]
        if not fits:
            return units
        c = fits[int(rng.integers(len(fits)))]
        units[c] = units.get(c, 0) + 1
        spent += unit_costs[c]


__all__ = ["Candidate", "SiteResult", "DEFAULTS", "default_candidates", "load_candidates",
           "plan_toml", "site", "portfolio_objective", "random_portfolio"]
