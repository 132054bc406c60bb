"""Checks of whether the inputs of a run can take effect, and a rough run-time estimate.

A file can be valid and still do nothing in a given run: a plan given to a mode that ignores
plans, standby capacity nobody may buy from, an event cut by a shorter ``--horizon``. These
functions return such findings as one line each (``file: location: message``); the CLI prints
them as ``warning: ...`` on stderr, or as errors (exit 2) with ``--strict``. Each rule lives in
one function so the owners of the modes can extend it:

* :func:`plan_warnings` (plan x economy x mode x options),
* :func:`scenario_warnings` (scenario x horizon),
* :func:`estimate_seconds` (how long a batch of runs takes, roughly).
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

#: Modes that take no effect from backup plans, and why (for the warning).
MODES_IGNORING_PLANS = {
    "leontief": "the demand-driven model does not use backup plans for output or value added "
                "(only stockpiles reach critical supply)",
}

#: Modes that use plans with the buyers' re-sourcing recipe (``--option recipe=...``).
RECIPE_MODES = ("rationing", "optimal", "dynamic")

#: The recipe of a run when ``recipe`` is not given: ``central`` lets buyers re-source toward
#: spare and standby capacity without a plan element; ``strict`` only as far as a substitution
#: element of the plan allows.
DEFAULT_RECIPE = "central"


def _compiled_plan(plan, economy):
    if plan is None or isinstance(plan, xr.Dataset):
        return plan
    from .plan import compile_plan

    return compile_plan(plan, economy)


def _list(items) -> str:
    items = [str(i) for i in items]
    return ", ".join(items) if len(items) <= 6 else ", ".join(items[:5]) + f" and {len(items) - 5} more"


def plan_warnings(plan, economy: xr.Dataset, mode: str, options: dict | None = None) -> list[str]:
    """Plan elements that cannot take effect in a run of ``mode`` with ``options``.

    ``plan``: a compiled plan, a :class:`~stresstest.plan.Plan`, a name or a path (``None``
    or the empty plan: nothing to say). Rules:

    * a mode in :data:`MODES_IGNORING_PLANS` ignores the plan;
    * with ``recipe = "strict"``, standby capacity in a sector (product) that no substitution
      element opens (``headroom`` or ``new_links`` > 0) cannot be bought from. The default
      recipe (:data:`DEFAULT_RECIPE`) re-sources toward standby capacity without a plan
      element, so then there is nothing to say.
    """
    options = options or {}
    compiled = _compiled_plan(plan, economy)
    if compiled is None:
        return []
    from .compiled import plan_is_empty

    if plan_is_empty(compiled):
        return []
    name = str(compiled.attrs.get("plan", "plan"))
    src = str(compiled.attrs.get("source", name))
    out = []
    if mode in MODES_IGNORING_PLANS:
        out.append(f"{src}: plan {name!r} has no effect in mode {mode}: "
                   f"{MODES_IGNORING_PLANS[mode]}; compare plans with --mode rationing, optimal "
                   "or dynamic")
        return out
    recipe = str(options.get("recipe", DEFAULT_RECIPE))
    if mode in RECIPE_MODES and recipe == "strict":
        open_ = ((compiled["substitution_headroom"] > 0)
                 | (compiled["substitution_new_links"] > 0))
        opened = {str(p) for p, o in zip(compiled["product"].values, open_.values) if o}
        for el in json.loads(compiled.attrs.get("elements", "[]") or "[]"):
            if el.get("kind") != "standby" or not el.get("capacity", 0) > 0:
                continue
            closed = [s for s, cap in zip(el["sectors"], _per_sector(el)) if s not in opened
                      and cap > 0]
            if closed:
                out.append(
                    f"{src}: standby[{el['index']}]: standby capacity for {_list(closed)} in "
                    f"{_list(el['regions'])} cannot take effect with recipe=strict: no "
                    f"substitution element opens {'it' if len(closed) == 1 else 'them'} "
                    "(headroom or new_links > 0), so buyers cannot switch to the standby "
                    "supplier; add a [[substitution]] element for "
                    f"{'it' if len(closed) == 1 else 'them'}")
    return out


def _per_sector(el: dict) -> list[float]:
    """Standby capacity of an element's log record by sector (cells are sector-major)."""
    cells = el.get("capacity_by_cell") or []
    n_r = max(len(el.get("regions", [])), 1)
    return [float(np.sum(cells[k * n_r:(k + 1) * n_r])) for k in range(len(el["sectors"]))] \
        if cells else [float(el.get("capacity", 0.0))] * len(el["sectors"])


def _events(scenario):
    """``(source, horizon, [(index, kind, start, end, recovered)])`` of a scenario, a name or
    path, or a compiled shock."""
    if isinstance(scenario, xr.Dataset):
        recs = json.loads(scenario.attrs.get("events", "[]") or "[]")
        evs = [(r["index"], r["kind"], r["start"], r["end"], r.get("recovered", r["end"]))
               for r in recs]
        return str(scenario.attrs.get("source", "scenario")), int(scenario.attrs["horizon"]), evs
    from .scenario import load_scenario

    scenario = load_scenario(scenario)
    numbers = scenario.event_numbers or range(len(scenario.events))
    evs = [(k, e.kind, e.start, e.end, e.recovered) for k, e in zip(numbers, scenario.events)]
    return scenario.source, scenario.horizon, evs


def scenario_warnings(scenario, horizon: int | None = None) -> list[str]:
    """Events that the run's horizon cuts: an event that starts on or after the horizon (not
    simulated at all), one whose shocked days run past it, and a capacity event whose
    recovery runs past it. ``horizon``: the run's (``--horizon``); default the scenario's own.

    ``scenario``: a :class:`~stresstest.scenario.Scenario`, a name or path, or a compiled shock
    (whose horizon is the run's, so ``horizon`` is then ignored).
    """
    src, own, events = _events(scenario)
    H = int(horizon) if horizon is not None and not isinstance(scenario, xr.Dataset) else own
    why = f" (--horizon {H}; the scenario has {own} days)" if H != own else ""
    out = []
    for k, kind, start, end, recovered in events:
        at = f"{src}: events[{k}]"
        if start >= H:
            out.append(f"{at}: the {kind} event starts on day {start}, after the last day "
                       f"({H - 1}) of the {H}-day horizon{why}; it is not simulated")
        elif end > H:
            out.append(f"{at}: the {kind} event lasts until day {end - 1} but the {H}-day "
                       f"horizon ends on day {H - 1}{why}: its last {end - H} days are cut")
        elif recovered > H:
            out.append(f"{at}: the {kind} event recovers until day {recovered - 1} but the "
                       f"{H}-day horizon ends on day {H - 1}{why}: the last {recovered - H} "
                       "days of its recovery are cut")
    return out


#: Rough seconds per run on china31 (31 x 42 = 1,302 industries, 2 cores); ``dynamic`` per
#: 365 simulated days. ``optimal`` with ``final_share_cap=true`` is about 11 s.
SECONDS_CHINA31 = {"leontief": 0.5, "rationing": 1.0, "optimal": 30.0, "dynamic": 2.0}
_CHINA31_INDUSTRIES = 1302


def estimate_seconds(economy: xr.Dataset, mode: str, n_runs: int = 1, horizon: int | None = None,
                     options: dict | None = None) -> float:
    """A rough wall-clock estimate of ``n_runs`` runs of ``mode`` on ``economy`` (scaled from
    :data:`SECONDS_CHINA31` by industries^1.5 and, for ``dynamic``, by days/365)."""
    options = options or {}
    n = int(economy.sizes.get("region", 1)) * int(economy.sizes.get("sector", 1))
    per = SECONDS_CHINA31.get(mode, 1.0)
    if mode == "optimal" and options.get("final_share_cap") in (True, "true", 1):
        per = 11.0
    if mode == "dynamic":
        per *= max(int(horizon or 365), 1) / 365.0
    return float(n_runs) * per * (n / _CHINA31_INDUSTRIES) ** 1.5


def fmt_seconds(seconds: float) -> str:
    """``"45 s"``, ``"2.5 min"``, ``"1.2 h"``."""
    if seconds < 90:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


__all__ = ["plan_warnings", "scenario_warnings", "estimate_seconds", "fmt_seconds",
           "MODES_IGNORING_PLANS", "RECIPE_MODES", "DEFAULT_RECIPE", "SECONDS_CHINA31"]
