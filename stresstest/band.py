"""The central estimate and its band (DESIGN.md section 6a).

Every headline is a central estimate with a band:

==========  ======================  =========================================================
estimate    how                     what it assumes
==========  ======================  =========================================================
central     ``rationing``, recipe   industries keep producing as analysts rate their inputs
            ``central``             (critical, important, not needed for two months), draw on
                                    their input stocks, use idle capacity and re-source toward
                                    suppliers with spare capacity (Pichler et al. 2022 recipe)
low         ``rationing``, recipe   strict cascade: every input above 2% of output is
            ``strict``              indispensable, no input stocks, no idle capacity, no
                                    re-sourcing beyond what the plan provides
high        ``optimal``, recipe     coordinated optimum: the central economy with scarce
            ``central``             inputs, imports and stocks allocated by a planner to keep
                                    the most essential supply, then value added
==========  ======================  =========================================================

:func:`run_band` returns one Result with an ``estimate`` dim (``central``, ``low``,
``high``) on the variables every mode reports (:data:`BAND_VARIABLES`); the others (binding
constraints, stocks, ...) are the central run's. Select one estimate with
:func:`select_estimate`; metrics take either (:func:`stresstest.metrics.headline` adds
``_low`` / ``_high`` keys for a band).
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from .errors import InputError

ESTIMATES = ("central", "low", "high")
#: One sentence per estimate: what it assumes (docs, CLI and report print these).
MEANING = {
    "central": ("central estimate: industries keep producing as analysts rate their inputs "
                "(critical, important, not needed for two months), draw on input stocks, use "
                "idle capacity and re-source toward suppliers with spare capacity"),
    "low": ("low bound, strict cascade: every input above 2% of output is indispensable, no "
            "input stocks, no idle capacity, no re-sourcing beyond the plan's"),
    "high": ("high bound, coordinated optimum: the same economy with scarce inputs, imports "
             "and stocks allocated by a planner to keep the most essential supply, then value "
             "added"),
}
#: Result variables that carry the ``estimate`` dim in a band.
BAND_VARIABLES = ("x", "va", "capacity", "f", "exports", "csr", "essential")


def _specs(options: dict, optimal_options: dict | None) -> dict:
    """``{estimate: (mode, options)}``: solver options go to the rationing runs, recipe
    parameters to central and high, the strict thresholds also to low."""
    from .modes.rationing import DEFAULTS as RATIONING
    from .recipe import PARAMETERS

    if "recipe" in options:
        raise InputError("a band runs both recipes (central and strict); do not set 'recipe'")
    unknown = sorted(set(options) - set(RATIONING) - set(PARAMETERS))
    if unknown:
        raise InputError(f"band: unknown option(s) {', '.join(unknown)} (rationing solver "
                         f"options or recipe parameters; optimal options go in "
                         f"optimal_options)")
    solver = {k: v for k, v in options.items() if k in RATIONING}
    recipe = {k: v for k, v in options.items() if k in PARAMETERS}
    thresholds = {k: v for k, v in recipe.items()
                  if k in ("critical_threshold", "half_critical_threshold")}
    return {
        "central": ("rationing", {**solver, **recipe, "recipe": "central"}),
        "low": ("rationing", {**solver, **thresholds, "recipe": "strict"}),
        "high": ("optimal", {**dict(optimal_options or {}), **recipe, "recipe": "central"}),
    }


def run_band(economy, scenario, plan=None, *, horizon=None, optimal_options=None,
             estimates=ESTIMATES, **options) -> xr.Dataset:
    """The central estimate with its band for one scenario and plan (see the module doc).

    ``options``: rationing solver options and recipe parameters
    (:data:`stresstest.recipe.PARAMETERS`, e.g. ``inventory_scale=0.5``); ``optimal_options``:
    options of mode ``optimal`` for the high bound; ``estimates``: a subset of
    :data:`ESTIMATES` (``central`` always first).
    """
    from .api import resolve_economy, resolve_plan, resolve_scenario, run

    estimates = list(dict.fromkeys(["central", *estimates]))
    bad = [e for e in estimates if e not in ESTIMATES]
    if bad:
        raise InputError(f"band: unknown estimate(s) {bad}; valid: {', '.join(ESTIMATES)}")
    specs = _specs(options, optimal_options)
    eco = resolve_economy(economy)
    shock = resolve_scenario(scenario, eco, horizon=horizon)
    compiled = resolve_plan(plan, eco)
    results = {e: run(eco, shock, compiled, mode=specs[e][0], **specs[e][1])
               for e in estimates}
    return combine(results)


def combine(results: dict) -> xr.Dataset:
    """One band Result from ``{estimate: Result}`` (``central`` first): the
    :data:`BAND_VARIABLES` stacked on ``estimate``, everything else from ``central``."""
    names = list(results)
    if not names or names[0] != "central":
        raise InputError("band: the central estimate must come first")
    central = results["central"]
    out = central.copy()
    for v in BAND_VARIABLES:
        out[v] = xr.concat([results[e][v] for e in names], dim="estimate",
                           coords="minimal", compat="override",
                           join="override").transpose(..., "estimate")
    out = out.assign_coords(estimate=("estimate", np.array(names, dtype=str)))
    out["estimate"].attrs["long_name"] = "central estimate and the bounds of its band"
    out.attrs["estimates"] = json.dumps({
        e: {"mode": r.attrs.get("mode", ""), "recipe": r.attrs.get("recipe", ""),
            "meaning": MEANING[e], "solver_status": r.attrs.get("solver_status", ""),
            "parameters": json.loads(r.attrs.get("parameters", "{}"))}
        for e, r in results.items()}, default=str)
    return out


def is_band(res: xr.Dataset) -> bool:
    """Whether a Result carries an ``estimate`` dim."""
    return "estimate" in res.dims


def select_estimate(res: xr.Dataset, estimate: str = "central") -> xr.Dataset:
    """One estimate of a band Result as a plain Result (``res`` itself if it is no band)."""
    if not is_band(res):
        if estimate != "central":
            raise InputError(f"the Result has no band: no {estimate!r} estimate")
        return res
    if estimate not in res["estimate"].values:
        raise InputError(f"the band has no {estimate!r} estimate "
                         f"(has {', '.join(map(str, res['estimate'].values))})")
    out = res.sel(estimate=estimate, drop=True)
    info = json.loads(res.attrs.get("estimates", "{}")).get(estimate, {})
    out.attrs = {**res.attrs, **{k: info[k] for k in ("mode", "recipe") if k in info}}
    return out


def estimates_of(res: xr.Dataset) -> list[str]:
    """The estimates a Result carries (``["central"]`` for a plain Result)."""
    return list(map(str, res["estimate"].values)) if is_band(res) else ["central"]
