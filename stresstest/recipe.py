"""The production recipe of the static and dynamic engines (DESIGN.md section 6a): which inputs
an industry cannot do without, how long its input stocks last, how much it can raise output,
and how far buyers re-source toward suppliers with spare capacity. Every parameter is in
:data:`PARAMETERS`, with its unit and source; all are overridable per run (mode options) and
per scenario (the scenario file's ``[parameters]`` table; run options win).

Two recipes:

``central`` (the default: the central estimate)
    **Rated inputs**: analysts' ratings of whether an industry can keep producing for two
    months without an input (IHS Markit, in Pichler et al. 2022, *JEDC* 144:104527), carried
    by the economy as ``input_rating[product, sector]`` (the china31 economy: mapped to the NBS
    42 sectors, ``docs/recipe-data.md``): critical inputs bind as Leontief, important ones as
    ``(1 + availability) / 2``, the rest never bind in the short run; inputs below
    ``materiality`` of output never bind. An economy without ratings falls back to the
    strict thresholds (and its Results say so in ``attrs["recipe_classes"]``).
    **Input inventories**: ``inventory_days[sector]`` of use (Pichler et al.'s inventory
    ratios) of every storable input (``storable[product]``: goods, not utilities or services);
    over a window of ``T`` days a stock of ``n`` days adds ``n / T`` to an input's average
    availability (:func:`stresstest.kernels.recipe.window_inventory_cover`).
    **Spare capacity**: industries run at ``utilisation[sector]`` of capacity (NBS capacity
    utilisation 2017); one that no event hits can raise output by ``1 / u - 1``, reached
    linearly over ``spare_ramp_days``.
    **Re-sourcing**: buyers move unmet orders of a product toward its suppliers with spare
    capacity, at most ``resourcing_headroom`` times the baseline flow on each existing link,
    and domestic product may replace ``resourcing_imports`` of lost imports; substituted flows
    cost ``resourcing_friction`` (a share of their value, charged to value added); all of it
    ramps up over ``resourcing_ramp_days``. A plan's substitution element adds to this.
    **Critical users first**: a short product goes first to the industries for which it binds
    (and to essential final use), then to the others and final users (``critical_first``).
``strict`` (the lower bound of the band)
    every input at or above ``critical_threshold`` of output is critical, from
    ``half_critical_threshold`` it binds as ``(1 + s) / 2``; by default (:data:`STRICT_DEFAULTS`)
    no inventories, no spare capacity, no re-sourcing beyond a plan's; each can be set.
"""

from __future__ import annotations

import json
import numbers
from dataclasses import dataclass

import numpy as np
import xarray as xr

from .errors import InputError
from .kernels.recipe import (rated_classes, ramp_average, spare_share, threshold_classes)

RECIPES = ("central", "strict")


@dataclass(frozen=True)
class Parameter:
    default: object
    unit: str
    source: str


#: Every recipe parameter: default, unit and source (docs/recipe.md prints this table).
PARAMETERS: dict[str, Parameter] = {
    "recipe": Parameter("central", "", "central estimate (default) or strict cascade (lower "
                        "bound)"),
    "critical_threshold": Parameter(
        0.02, "share of output", "strict recipe (and the fallback for economies without "
        "ratings): an input at or above this share of output is critical"),
    "half_critical_threshold": Parameter(
        0.005, "share of output", "strict recipe: from here to critical_threshold an input "
        "binds as (1 + s) / 2"),
    "materiality": Parameter(
        0.005, "share of output", "central recipe: a rated input below this share of output "
        "never binds. The ratings answer 'can X produce without Y for two months?'; a partial "
        "shortfall of an input this small is absorbed (deferred maintenance, economising). "
        "Equal to the strict recipe's half_critical_threshold, so that on small inputs the "
        "central estimate is never stricter than its lower bound"),
    "inventory_days": Parameter(
        None, "days of use", "override of the economy's inventory_days[sector]: a number for "
        "every using sector or a {sector: days} table"),
    "inventory_scale": Parameter(
        1.0, "factor", "multiplies inventory days (sensitivity; 0 switches inventories off)"),
    "fallback_inventory_days": Parameter(
        30.0, "days of use", "economies without inventory data: days of storable (tradable) "
        "inputs held by every sector (about the median of Pichler et al.'s manufacturing "
        "ratios, ratio_input_inv_go_monthly x 365/12)"),
    "utilisation": Parameter(
        None, "share of capacity", "override of the economy's utilisation[sector]: a number or "
        "a {sector: share} table"),
    "fallback_utilisation": Parameter(
        0.77, "share of capacity", "economies without utilisation data: NBS national "
        "industrial capacity utilisation 2017 (77.0%), applied to tradable sectors; "
        "non-tradable ones 0.90 (assumption)"),
    "spare_scale": Parameter(
        1.0, "factor", "multiplies spare capacity 1 / u - 1 (sensitivity: how much of the idle "
        "capacity the utilisation survey implies can really be run; 0 switches it off)"),
    "spare_ramp_days": Parameter(
        30.0, "days", "days for idle capacity to come fully on line (linear; assumption: "
        "restarting lines and hiring take about a month)"),
    "resourcing_headroom": Parameter(
        1.0, "share of baseline link flow", "extra flow an existing supply link can take "
        "(the suppliers' spare capacity is the real limit; assumption)"),
    "resourcing_new_links": Parameter(
        0.0, "share of need", "share of a buyer's need that may come over links absent at "
        "baseline (0: qualifying new suppliers takes longer than a stress window; plans add)"),
    "resourcing_imports": Parameter(
        0.25, "share of lost imports", "share of a buyer's lost imports that domestic product "
        "may replace (assumption: bulk goods more, high-tech less)"),
    "resourcing_friction": Parameter(
        0.05, "share of flow value", "extra cost of substituted flows (longer hauls, "
        "qualification), charged to the buyer's value added (assumption)"),
    "critical_first": Parameter(
        True, "", "central recipe: when a product is short, its suppliers serve the industries "
        "for which it binds (critical or important) first and the others with final users: "
        "a buyer that can do without an input for two months gives way (as a price rise "
        "would make it)"),
    "resourcing_ramp_days": Parameter(
        30.0, "days", "days for re-sourcing to reach its full extent (linear; assumption)"),
}

#: Defaults of the strict recipe where they differ from the central one (a run may still set
#: any of them, e.g. ARIO-style inventories on the strict cascade).
STRICT_DEFAULTS = {"inventory_days": 0.0, "utilisation": 1.0, "spare_ramp_days": 0.0,
                   "resourcing_headroom": 0.0, "resourcing_new_links": 0.0,
                   "resourcing_imports": 0.0, "resourcing_friction": 0.0,
                   "resourcing_ramp_days": 0.0, "critical_first": False}

#: Parameters that only the central recipe uses.
CENTRAL_ONLY = ("materiality", "critical_first", "inventory_days", "inventory_scale", "fallback_inventory_days",
                "utilisation", "fallback_utilisation", "spare_scale", "spare_ramp_days",
                "resourcing_headroom", "resourcing_new_links", "resourcing_imports",
                "resourcing_friction", "resourcing_ramp_days")
#: Optional economy variables the central recipe reads.
ECONOMY_VARIABLES = ("input_rating", "inventory_days", "storable", "utilisation")


def parameters_markdown() -> str:
    """The :data:`PARAMETERS` table in Markdown (``docs/recipe.md`` carries it; a test checks
    it is current)."""
    def show(v):
        return "—" if v is None else f"`{v}`"

    lines = ["| parameter | central | strict | unit | meaning and source |",
             "|---|---|---|---|---|"]
    for name, prm in PARAMETERS.items():
        strict = STRICT_DEFAULTS.get(name, prm.default)
        if name == "recipe":
            strict = "strict"
        lines.append(f"| `{name}` | {show(prm.default)} | {show(strict)} | {prm.unit} | "
                     f"{prm.source} |")
    return "\n".join(lines)


def defaults() -> dict:
    """``{name: default}`` of :data:`PARAMETERS`."""
    return {k: p.default for k, p in PARAMETERS.items()}


def scenario_parameters(shock) -> dict:
    """The recipe keys of a compiled shock's ``parameters`` attr (JSON), if any."""
    raw = shock.attrs.get("parameters") if shock is not None else None
    if not raw:
        return {}
    try:
        got = json.loads(raw) if isinstance(raw, str) else dict(raw)
    except (TypeError, ValueError):
        raise InputError(f"scenario {shock.attrs.get('scenario', '')!r}: [parameters] is not "
                         f"a table: {raw!r}") from None
    return {k: v for k, v in got.items() if k in PARAMETERS}


def _number(name, value, lo=0.0, hi=None, where="recipe"):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise InputError(f"{where}: parameter {name}={value!r} must be a number")
    if value < lo or (hi is not None and value > hi):
        rng = f"[{lo:g}, {hi:g}]" if hi is not None else f">= {lo:g}"
        raise InputError(f"{where}: parameter {name}={value!r} must lie in {rng}")
    return float(value)


def check_parameters(params: dict, where: str = "recipe") -> dict:
    """Merge ``params`` into the defaults and validate (one clear error per bad value)."""
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise InputError(f"{where}: unknown parameter(s) {', '.join(unknown)} "
                         f"(known: {', '.join(PARAMETERS)})")
    p = {**defaults(), **params}
    if p["recipe"] not in RECIPES:
        raise InputError(f"{where}: recipe={p['recipe']!r} must be one of {', '.join(RECIPES)}")
    for k in ("critical_threshold", "half_critical_threshold", "materiality"):
        p[k] = _number(k, p[k], 0.0, 1.0, where)
    if p["half_critical_threshold"] > p["critical_threshold"]:
        raise InputError(f"{where}: half_critical_threshold={p['half_critical_threshold']} "
                         f"exceeds critical_threshold={p['critical_threshold']}")
    for k in ("inventory_scale", "fallback_inventory_days", "spare_scale", "spare_ramp_days",
              "resourcing_headroom", "resourcing_friction", "resourcing_ramp_days"):
        p[k] = _number(k, p[k], 0.0, None, where)
    for k in ("resourcing_new_links", "resourcing_imports"):
        p[k] = _number(k, p[k], 0.0, 1.0, where)
    if not isinstance(p["critical_first"], (bool, np.bool_)):
        raise InputError(f"{where}: parameter critical_first={p['critical_first']!r} must be "
                         "true or false")
    p["critical_first"] = bool(p["critical_first"])
    p["fallback_utilisation"] = _number("fallback_utilisation", p["fallback_utilisation"],
                                        1e-3, 1.0, where)
    return p


def _table(name, value, labels, lo, hi, where):
    """A number or a ``{label: number}`` table over ``labels`` -> array (missing: NaN)."""
    out = np.full(len(labels), np.nan)
    if isinstance(value, dict):
        index = {str(s): i for i, s in enumerate(labels)}
        for key, v in value.items():
            if str(key) not in index:
                raise InputError(f"{where}: parameter {name} names unknown sector {key!r}")
            out[index[str(key)]] = _number(f"{name}[{key}]", v, lo, hi, where)
    else:
        out[:] = _number(name, value, lo, hi, where)
    return out


#: The arrays of :meth:`Recipe.substitution` (each per product).
SUBSTITUTION_KEYS = ("headroom", "new_links", "imports", "friction")


@dataclass(eq=False)
class Recipe:
    """A resolved recipe on one economy (numpy arrays on the stacked industry axis).

    ``name`` central/strict; ``crit``, ``half`` (P, n) binding input masks and ``classes``
    (``"ratings"`` or ``"thresholds"``, how they were made); ``inventory`` (P, n) days of use
    of input ``p`` held by industry ``j`` (0 for the strict recipe); ``spare`` (n) spare
    capacity, share of baseline output, before the ramp; ``spare_ramp_days``;
    ``headroom, new_links, imports, friction`` (P) re-sourcing without any plan, before the
    ramp; ``resourcing_ramp_days``; ``params`` the validated parameters; ``notes`` what fell
    back to defaults.
    """

    name: str
    crit: np.ndarray
    half: np.ndarray
    classes: str
    inventory: np.ndarray
    spare: np.ndarray
    spare_ramp_days: float
    headroom: np.ndarray
    new_links: np.ndarray
    imports: np.ndarray
    friction: np.ndarray
    resourcing_ramp_days: float
    params: dict
    notes: tuple = ()

    @property
    def critical_first(self) -> bool:
        """Whether suppliers of a short product serve the buyers it binds for first."""
        return bool(self.params["critical_first"])

    @property
    def key(self) -> tuple:
        """Hashable key of the binding-input structure (classes)."""
        if self.classes == "ratings":
            return ("ratings", self.params["materiality"])
        return ("thresholds", self.params["critical_threshold"],
                self.params["half_critical_threshold"])

    def substitution(self, window_days, plan: xr.Dataset | None = None) -> dict | None:
        """Re-sourcing arrays (P) of the average day of a window of ``window_days``: the
        recipe's, ramp-averaged, plus a plan's substitution element (not ramped: pre-qualified
        suppliers). ``None`` when nothing may be re-sourced."""
        phi = float(ramp_average(self.resourcing_ramp_days, window_days))
        out = {"headroom": self.headroom * phi, "new_links": self.new_links * phi,
               "imports": self.imports * phi, "friction": self.friction.copy()}
        if plan is not None:
            for key in ("headroom", "new_links", "imports"):
                v = plan[f"substitution_{key}"].values.astype(float)
                out[key] = out[key] + v
            pf = plan["substitution_friction"].values.astype(float)
            planned = ((plan["substitution_headroom"].values > 0)
                       | (plan["substitution_new_links"].values > 0)
                       | (plan["substitution_imports"].values > 0))
            out["friction"] = np.where(planned, pf, out["friction"])
        out["new_links"] = np.minimum(out["new_links"], 1.0)
        out["imports"] = np.minimum(out["imports"], 1.0)
        for key in SUBSTITUTION_KEYS:
            arr = out[key]
            if not np.all(np.isfinite(arr)) or np.any(arr < 0):
                raise InputError(f"plan {plan.attrs.get('plan', '') if plan is not None else ''!r}"
                                 f": substitution_{key} has negative or NaN values")
        if not any(np.any(out[k] > 0) for k in ("headroom", "new_links", "imports")):
            return None
        return out

    def spare_average(self, window_days) -> np.ndarray:
        """Spare capacity (n) on the average day of a window (ramp-averaged)."""
        return self.spare * float(ramp_average(self.spare_ramp_days, window_days))


def _recipe_tables(economy: xr.Dataset) -> dict:
    """The economy's variables a recipe reads, as numpy arrays (None where absent), read once
    per economy object; callers do not modify them."""
    from .economy import cached

    def read(name, dims, dtype):
        if name not in economy:
            return None
        da = economy[name]
        return da.transpose(*[d for d in dims if d in da.dims]).values.astype(dtype)

    return cached(economy, "recipe_tables", lambda: {
        "sectors": [str(s) for s in economy["sector"].values],
        "input_rating": read("input_rating", ("product", "sector"), float),
        "tradable": economy["tradable"].values.astype(bool),
        "storable": read("storable", ("product",), bool),
        "inventory_days": read("inventory_days", ("sector",), float),
        "utilisation": read("utilisation", ("sector",), float),
    })


def resolve_recipe(economy: xr.Dataset, params: dict | None = None,
                   where: str = "recipe") -> Recipe:
    """The :class:`Recipe` of ``economy`` for ``params`` (names of :data:`PARAMETERS`)."""
    from .economy import derive

    params = dict(params or {})
    if params.get("recipe") == "strict":
        params = {**STRICT_DEFAULTS, **params}
    p = check_parameters(params, where)
    d = derive(economy)
    P, S = d.n_sector, d.n_sector
    share = d.a_prod + d.AM
    sector_of = d.product_of  # symmetric tables: sector index of industry j
    tables = _recipe_tables(economy)
    sectors = tables["sectors"]
    notes = []
    strict = p["recipe"] == "strict"
    if not strict and tables["input_rating"] is not None:
        crit, half = rated_classes(tables["input_rating"], share, sector_of, p["materiality"])
        classes = "ratings"
    else:
        crit, half = threshold_classes(share, p["critical_threshold"],
                                       p["half_critical_threshold"])
        classes = "thresholds"
        if not strict:
            notes.append("no input ratings in the economy: critical inputs by the strict "
                         f"thresholds ({p['critical_threshold']:g} / "
                         f"{p['half_critical_threshold']:g} of output)")
    tradable = tables["tradable"]
    # inventories: days of use per using sector, of storable products only
    if tables["storable"] is not None:
        storable = tables["storable"]
    else:
        storable = tradable.copy()
        notes.append("no storable flags in the economy: tradable products are storable")
    if p["inventory_days"] is not None:
        days = _table("inventory_days", p["inventory_days"], sectors, 0.0, None, where)
        if np.isnan(days).any():
            base = (tables["inventory_days"] if tables["inventory_days"] is not None
                    else np.full(S, p["fallback_inventory_days"]))
            days = np.where(np.isnan(days), base, days)
    elif tables["inventory_days"] is not None:
        days = tables["inventory_days"]
    else:
        days = np.full(S, p["fallback_inventory_days"])
        notes.append(f"no inventory data in the economy: {p['fallback_inventory_days']:g} days "
                     "of storable inputs everywhere")
    inventory = (storable[:, None] * (days * p["inventory_scale"])[None, sector_of]
                 * (share > 0))
    # spare capacity from utilisation
    if p["utilisation"] is not None:
        util = _table("utilisation", p["utilisation"], sectors, 1e-3, 1.0, where)
        if np.isnan(util).any():
            base = (tables["utilisation"] if tables["utilisation"] is not None
                    else np.where(tradable, p["fallback_utilisation"], 0.9))
            util = np.where(np.isnan(util), base, util)
    elif tables["utilisation"] is not None:
        util = tables["utilisation"]
    else:
        util = np.where(tradable, p["fallback_utilisation"], 0.9)
        notes.append("no utilisation data in the economy: "
                     f"{p['fallback_utilisation']:g} for tradable sectors, 0.9 for others")
    spare = spare_share(util)[sector_of] * p["spare_scale"]
    full = np.ones(P)
    if strict:
        notes = []  # the strict recipe's thresholds and defaults are what it means
    return Recipe(p["recipe"], crit, half, classes, inventory, spare, p["spare_ramp_days"],
                  p["resourcing_headroom"] * full, p["resourcing_new_links"] * full,
                  p["resourcing_imports"] * full, p["resourcing_friction"] * full,
                  p["resourcing_ramp_days"], p, tuple(notes))


def recipe_attrs(recipe: Recipe) -> dict:
    """Result attrs that say which recipe made it: ``recipe``, ``recipe_classes`` (ratings or
    thresholds) and ``recipe_notes`` (what fell back to defaults; empty if nothing)."""
    return {"recipe": recipe.name, "recipe_classes": recipe.classes,
            "recipe_notes": "; ".join(recipe.notes)}
