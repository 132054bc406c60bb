"""Sampled uncertainty bands (DESIGN.md section 6a): how sure is a central estimate?

The uncertain inputs of a run are

* the **shock**: every event field the scenario file gives as a range ``[low, high]``
  (``remaining``, ``factor``, ``duration``, ``recovery_days``; the file's central value is the
  midpoint), and
* the **recipe** (:data:`UNCERTAIN_PARAMETERS`): input stocks, usable idle capacity and its
  ramp-up, re-sourcing of lost imports, its friction and ramp-up, and the rating variant
  (``materiality``: below which share of output a rated input never binds), and
* the **trade calibration** of an economy built by the gravity model
  (:func:`trade_inputs`): the distance elasticity ``gamma`` and the home share of
  non-tradables, over the ranges the build's fit stores (``calibration_range_*`` attrs;
  china31: see ``docs/china31.md``), each at the midpoints of three equal strata of its
  range so that the draws share a few re-derived tables (:func:`trade_economies`).

:func:`draw` makes a seeded Latin hypercube design over them (:func:`_lhs`: every
input's range is cut into ``n`` equal strata, each hit once); each draw is a full central
estimate (mode ``rationing``, recipe ``central``) of every plan. :func:`run_samples` returns
the per-draw headline numbers (:func:`draw_numbers`, computed by
:func:`stresstest.metrics.headline`); :func:`sample_table` their 5-50-95% quantiles per plan
and the probability that each plan ranks first (lowest break-even probability ``p*``).

A parameter a run sets (an option or the scenario's ``[parameters]``) is fixed, not drawn.
What is not drawn: the rest of the economy (the national table, the provincial totals, the
internal distance factor), the input ratings themselves beyond the materiality variant, and
the plans' costs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from . import metrics
from .errors import InputError
from .scenario import event_text


@dataclass(frozen=True)
class Uncertain:
    """One uncertain input: uniform on ``[low, high]``, or one of ``choices`` with equal
    probability (then ``low``/``high`` are the extreme choices). ``event`` is the position of
    the scenario event it belongs to (``None`` for a recipe parameter)."""

    name: str
    low: float
    high: float
    unit: str
    meaning: str
    choices: tuple = ()
    event: int | None = None
    field: str = ""

    @property
    def central(self) -> float:
        if self.choices:
            return float(self.choices[len(self.choices) // 2])
        return (self.low + self.high) / 2

    def value(self, u):
        """The input at unit-cube coordinates ``u`` (array in ``[0, 1)``)."""
        u = np.asarray(u, dtype=float)
        if self.choices:
            idx = np.minimum((u * len(self.choices)).astype(int), len(self.choices) - 1)
            return np.asarray(self.choices, dtype=float)[idx]
        out = self.low + u * (self.high - self.low)
        if self.field in ("duration", "recovery_days"):
            out = np.floor(out + 0.5)
        return out


#: Recipe parameters drawn by default: ranges centred on the recipe's defaults
#: (:data:`stresstest.recipe.PARAMETERS`), with the reason for each width.
UNCERTAIN_PARAMETERS = {u.name: u for u in (
    Uncertain(
        "inventory_scale", 0.5, 1.5, "factor",
        "input stocks: Pichler et al. (2022) inventory ratios are industry medians of UK data; "
        "Chinese firms' stocks and their dispersion are not measured here (+-50%)"),
    Uncertain(
        "spare_scale", 0.5, 1.5, "factor",
        "share of the idle capacity implied by NBS utilisation 2017 that can really be run "
        "(+-50%)"),
    Uncertain(
        "spare_ramp_days", 10.0, 50.0, "days",
        "days for idle capacity to come on line (assumption: 30, from 10 to 50)"),
    Uncertain(
        "resourcing_imports", 0.10, 0.40, "share of lost imports",
        "share of lost imports domestic product may replace (assumption: 0.25, from 0.1 to "
        "0.4)"),
    Uncertain(
        "resourcing_friction", 0.0, 0.10, "share of flow value",
        "extra cost of substituted flows (assumption: 5%, from 0 to 10%)"),
    Uncertain(
        "resourcing_ramp_days", 10.0, 50.0, "days",
        "days for re-sourcing to reach its extent (assumption: 30, from 10 to 50)"),
    Uncertain(
        "materiality", 0.0025, 0.01, "share of output",
        "rating variant: a rated input binds from 0.25%, 0.5% (central) or 1% of output",
        choices=(0.0025, 0.005, 0.01)),
)}

#: Trade calibration parameters drawn when the economy stores their range
#: (``attrs["calibration_range_<name>"]``): ``{keyword of reweight_trade: (unit, meaning)}``.
TRADE_PARAMETERS = {
    "gamma": ("exponent",
              "distance elasticity of interprovincial trade (gravity model); range where the "
              "calibration objective is within +1 of its minimum"),
    "home_share": ("share",
                   "share of non-tradables served in-province; range where the calibration "
                   "objective is within +1 of its minimum (upper end: the bound 0.99)"),
}
#: Prefix of the trade calibration inputs' names (``trade_gamma``).
_TRADE = "trade_"
#: Strata per trade parameter: each is drawn at the midpoints of this many equal strata.
TRADE_LEVELS = 3

#: Quantiles of the sampled band (5-50-95%).
QUANTILES = (0.05, 0.5, 0.95)
#: Largest number of draws (each is a full run of every plan).
MAX_SAMPLES = 100_000


def trade_inputs(economy: xr.Dataset | None) -> list[Uncertain]:
    """The trade calibration inputs of ``economy`` (:data:`TRADE_PARAMETERS` whose range the
    economy stores as ``attrs["calibration_range_<name>"] = [low, high]``), uniform on the
    range discretised to the midpoints of :data:`TRADE_LEVELS` equal strata. Empty for an
    economy without stored ranges, and for one re-derived by
    :func:`stresstest.regionalize.reweight_trade` (it drops the calibration attrs: its
    parameters were chosen, not fitted)."""
    out = []
    attrs = {} if economy is None else economy.attrs
    for name, (unit, meaning) in TRADE_PARAMETERS.items():
        key = f"calibration_range_{name}"
        if key not in attrs:
            continue
        rng = np.asarray(attrs[key], float).ravel()
        if rng.shape != (2,) or not np.isfinite(rng).all() or rng[0] > rng[1]:
            raise InputError(f"economy attrs {key}={attrs[key]!r} must be a range [low, high] "
                             "of two finite numbers")
        lo, hi = float(rng[0]), float(rng[1])
        step = (hi - lo) / TRADE_LEVELS
        levels = tuple(round(lo + step * (k + 0.5), 6) for k in range(TRADE_LEVELS))
        out.append(Uncertain(f"{_TRADE}{name}", lo, hi, unit,
                             f"{meaning}; drawn at {', '.join(f'{v:g}' for v in levels)}",
                             choices=levels, field="economy"))
    return out


def uncertain_inputs(scenario, options: dict | None = None,
                     economy: xr.Dataset | None = None) -> list[Uncertain]:
    """The inputs a sampled band draws for ``scenario`` (a parsed
    :class:`~stresstest.scenario.Scenario`): its event ranges, the
    :data:`UNCERTAIN_PARAMETERS` not fixed by ``options`` or the scenario's ``[parameters]``,
    then the trade calibration of ``economy`` (:func:`trade_inputs`)."""
    out = []
    numbers = scenario.event_numbers or tuple(range(len(scenario.events)))
    for k, name, lo, hi in scenario.uncertain():
        unit = {"duration": "days", "recovery_days": "days", "factor": "factor"}.get(
            name, "share")
        out.append(Uncertain(f"events[{numbers[k]}].{name}", float(lo), float(hi), unit,
                             f"{name.replace('_', ' ')} of: {event_text(scenario.events[k])}",
                             event=k, field=name))
    fixed = set(options or {}) | set(scenario.parameters)
    if (options or {}).get("recipe", "central") != "central":
        raise InputError("sampled bands draw the central recipe; do not set recipe="
                         f"{options['recipe']!r}")
    out.extend(u for name, u in UNCERTAIN_PARAMETERS.items() if name not in fixed)
    out.extend(trade_inputs(economy))
    return out


def _lhs(d: int, n: int, seed: int) -> np.ndarray:
    """A Latin hypercube (n, d) in [0, 1): each column a random permutation of the strata
    ``1..n`` less a uniform jitter, over ``n`` — the algorithm and random stream of
    ``scipy.stats.qmc.LatinHypercube(d, rng=default_rng(seed)).random(n)`` (which draws
    from the first child of the seed's sequence; the same numbers, a test checks), without
    importing ``scipy.stats`` (0.7 s, a fifth of what a band does before it forks)."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed).spawn(1)[0]))
    jitter = rng.uniform(size=(n, d))
    strata = np.tile(np.arange(1, n + 1), (d, 1))
    for row in strata:
        rng.shuffle(row)
    return (strata.T - jitter) / n


def check_samples(n, seed) -> tuple[int, int]:
    """``(n, seed)`` validated: whole numbers, ``1 <= n <= MAX_SAMPLES``, ``seed >= 0``."""
    for name, v in (("samples", n), ("seed", seed)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise InputError(f"{name} must be a whole number, got {v!r}")
    if not 1 <= n <= MAX_SAMPLES:
        raise InputError(f"samples={n} must lie in [1, {MAX_SAMPLES}]")
    if seed < 0:
        raise InputError(f"seed={seed} must be >= 0")
    return int(n), int(seed)


def draw(inputs: list[Uncertain], n: int, seed: int = 0) -> np.ndarray:
    """``(n, len(inputs))`` values of a seeded Latin hypercube design over ``inputs``."""
    n, seed = check_samples(n, seed)
    if not inputs:
        return np.zeros((n, 0))
    u = _lhs(len(inputs), n, seed)
    return np.stack([inp.value(u[:, i]) for i, inp in enumerate(inputs)], axis=1)


def split_draw(inputs: list[Uncertain], row) -> tuple[dict, dict]:
    """One draw as ``({(event position, field): value}, {recipe parameter: value})``; the
    trade calibration is in :func:`trade_key`."""
    events, params = {}, {}
    for inp, v in zip(inputs, row):
        if inp.event is not None:
            events[(inp.event, inp.field)] = float(v)
        elif inp.field != "economy":
            params[inp.name] = float(v)
    return events, params


def trade_key(inputs: list[Uncertain], row) -> tuple:
    """The trade calibration of one draw: ``((keyword of reweight_trade, value), ...)``,
    empty when none is drawn."""
    return tuple((inp.name.removeprefix(_TRADE), float(v))
                 for inp, v in zip(inputs, row) if inp.field == "economy")


def trade_economies(economy: xr.Dataset, inputs: list[Uncertain], values, compiled: dict,
                    given: dict, threads: int = 1, mode: str | None = None) -> dict:
    """``{trade_key: (economy, {plan: compiled plan})}`` for every trade calibration in
    ``values``: ``economy`` with its interprovincial trade re-derived by
    :func:`stresstest.regionalize.reweight_trade` (the other gravity parameters at the
    economy's own) and the plans ``compiled`` on it again, unless given as compiled Datasets
    (``given``: each plan as the caller gave it); ``{(): (economy, compiled)}`` when none is
    drawn. The tables are made on ``threads`` threads (about 1.5x faster on two: the
    IPF's and the validation's array passes release the GIL), with BLAS on one thread, so
    that the tables do not depend on ``threads``. ``mode`` ``"rationing"``: each table's
    recipe-free caches are filled too (:func:`stresstest.modes.rationing.prepare`), so that
    forked workers inherit them."""
    from .api import resolve_plan
    from .economy import single_threaded_blas
    from .ensemble import run_in_process
    from .modes.rationing import prepare
    from .regionalize import reweight_trade

    def bundle(key):
        e = economy if not key else reweight_trade(economy, **dict(key), summary=False)
        if mode == "rationing":
            prepare(e)
        if not key:
            return economy, compiled
        return e, {n: c if c is None or isinstance(given[n], xr.Dataset)
                   else resolve_plan(given[n], e) for n, c in compiled.items()}

    keys = sorted({trade_key(inputs, row) for row in values})
    with single_threaded_blas():
        made = run_in_process(bundle, [(key,) for key in keys], threads, warm=False,
                              processes=False)
    return dict(zip(keys, made))


# --------------------------------------------------------------------------- metrics

#: Per-draw scalars taken from :func:`stresstest.metrics.headline` (plus ``csr:*``).
DRAW_KEYS = ("output_share", "va_share", "amplification", "va_loss_event", "benefit",
             "breakeven_p")
#: Modes a sampled band can draw.
SAMPLE_MODES = ("rationing", "dynamic")


def draw_numbers(res: xr.Dataset, res_none: xr.Dataset, cost: float) -> dict:
    """The per-draw numbers of one run against the no-plan run of the same draw:
    :data:`DRAW_KEYS` and ``csr:<product>`` from :func:`stresstest.metrics.headline` (the one
    place they are defined), and for a dynamic Result ``path``, national output by day
    (share of baseline)."""
    h = metrics.headline(res, res_none, cost=cost)
    out = {k: float(h.get(k, np.nan)) for k in DRAW_KEYS}
    out.update({k: float(v) for k, v in h.items() if k.startswith("csr:")})
    out["converged"] = True
    if "time" in res["x"].dims:
        out["path"] = np.asarray(metrics.surviving_share(res, "x").values, float)
    return out


def event_scale(shock: xr.Dataset, severity) -> float:
    """Years of a static Result's loss rate that stand for the whole event: ``W / 365 · F``
    (window days ``W`` of ``shock``, :func:`stresstest.metrics.event_factor_of` of its
    :func:`stresstest.result.severity_path` ``severity``; None: ``F = 1``), as
    :func:`stresstest.metrics.event_loss` applies it."""
    from .compiled import window_bounds

    lo, hi = window_bounds(shock)
    factor = 1.0 if severity is None else metrics.event_factor_of(severity, lo, hi)
    return (hi - lo) / metrics.DAYS_PER_YEAR * factor


# --------------------------------------------------------------------------- runs


def _compiled_draws(eco, scenario, inputs, values, horizon, reduced=False):
    """``(shocks, params, scales)``: each draw's compiled shock and recipe parameters.
    ``reduced``: each shock as its window's average day and ``scales`` each draw's
    :func:`event_scale` (:func:`stresstest.scenario.compile_average_day`: all a batch reads,
    without the daily route array, 58 MB for a route cut over 180 days); else ``scales`` is
    None (a single run's Result carries its severity path)."""
    from .scenario import compile_average_day, compile_scenario

    shocks, params, scales = [], [], []
    for row in values:
        ev, prm = split_draw(inputs, row)
        drawn = scenario.with_values(ev) if ev else scenario
        if reduced:
            shock, severity = compile_average_day(drawn, eco, horizon=horizon)
            scales.append(event_scale(shock, severity))
        else:
            shock = compile_scenario(drawn, eco, horizon=horizon)
        shocks.append(shock)
        params.append(prm)
    return shocks, params, np.array(scales) if reduced else None


def _run_draws(eco, shocks, params, plans: dict, mode: str, options: dict) -> dict:
    """``{plan: [draw_numbers per draw]}``: every draw a plain run of each plan."""
    from .api import run
    from .errors import ConvergenceError

    def attempt(plan, opts, shock):
        try:
            return run(eco, shock, plan, mode=mode, **opts)
        except ConvergenceError:
            return None

    out = {name: [] for name in plans}
    for shock, prm in zip(shocks, params):
        opts = {**options, **prm}
        none = attempt(None, opts, shock)
        for name, plan in plans.items():
            res = none if plan is None or none is None else attempt(plan, opts, shock)
            out[name].append(_failed_numbers() if res is None
                             else draw_numbers(res, none, metrics.plan_cost(plan)))
    return out


def _failed_numbers() -> dict:
    """The numbers of a draw whose runs found no equilibrium: NaN, ``converged`` False."""
    return {**{k: np.nan for k in DRAW_KEYS}, "converged": False}


def batch_numbers(res: xr.Dataset, res_none: xr.Dataset, scales, cost: float) -> list[dict]:
    """:func:`draw_numbers` of every scenario of a batch Result (``scenario`` dim) against the
    no-plan batch of the same draws, vectorised; ``scales``: each draw's
    :func:`event_scale`. Same definitions as :func:`stresstest.metrics.headline` (a test
    compares them draw by draw)."""
    share = {v: metrics.surviving_share(res, v).values for v in ("x", "va")}
    rate = {r: metrics.loss(x, "va").values for r, x in (("plan", res), ("none", res_none))}
    total, direct = metrics.loss(res, "x").values, metrics.direct_shock(res)["total"].values
    scale_x = float(res["x_baseline"].sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        amp = np.where(direct > 1e-12 * scale_x, total / direct, np.nan)
    csr = metrics.national_critical_supply(res).transpose("product", "scenario")
    event = rate["plan"] * scales
    benefit = rate["none"] * scales - event
    ok = np.ones(event.size, bool)
    for r in (res, res_none):
        if "converged" in r:
            ok &= r["converged"].values.astype(bool)
    out = []
    for k in range(event.size):
        if not ok[k]:
            out.append(_failed_numbers())
            continue
        d = {"output_share": float(share["x"][k]), "va_share": float(share["va"][k]),
             "amplification": float(amp[k]), "va_loss_event": float(event[k]),
             "benefit": float(benefit[k]), "converged": True,
             "breakeven_p": metrics.breakeven_probability(
                 benefit[k], cost, metrics.benefit_resolution(rate["none"][k] * scales[k]))}
        d.update({f"csr:{p}": float(v) for p, v in zip(csr["product"].values,
                                                       csr.values[:, k])})
        out.append(d)
    return out


def _structure_key(params: dict) -> tuple:
    """The drawn recipe parameters that change the binding structure (materiality): draws that
    differ in these cannot share a batch; the others (:data:`VARIANT_PARAMETERS`) can."""
    from .modes.rationing import VARIANT_PARAMETERS

    return tuple(sorted((n, v) for n, v in params.items() if n not in VARIANT_PARAMETERS))


def _run_draws_batched(eco, shocks, params, scales, plans: dict, options: dict) -> dict:
    """:func:`_run_draws` for mode rationing: the draws that share their binding structure
    (materiality) run as one batch per plan, each with its own recipe parameters
    (``run_rationing_batch(variants=...)``); plans that leave the economy as it is run side
    by side (:func:`stresstest.modes.rationing.batch_plans`). With option ``warm_orders``
    (the default) each such plan's order rounds start from the no-plan equilibrium of the
    same draws (a test compares the answers with cold starts and one batch per plan). The
    no-plan batch starts from full orders: started from the group's first draw, solved alone,
    it took 18.7 instead of 21.5 rounds a draw over 200 draws of coastal-blockade, but that
    solve cost more (12.6 rounds a group, alone) than the rounds it saved."""
    from .modes.rationing import VARIANT_PARAMETERS, batch_plans, batch_with_states, check_options
    from .relocate import relocated

    warm = check_options(options)["warm_orders"]
    groups: dict = {}
    for k, prm in enumerate(params):
        groups.setdefault(_structure_key(prm), []).append(k)
    out = {name: [None] * len(shocks) for name in plans}
    for key, idx in groups.items():
        batch = [shocks[k] for k in idx]
        variants = [{n: v for n, v in params[k].items() if n in VARIANT_PARAMETERS}
                    for k in idx]
        opts = {**options, **dict(key)}
        none, states = batch_with_states(eco, batch, None, variants=variants, **opts)
        results, side_by_side = {}, []
        for name, plan in plans.items():
            if plan is None:
                results[name] = none
            elif (e := relocated(eco, plan)) is eco:
                side_by_side.append(name)
            else:
                results[name] = batch_with_states(e, batch, plan, variants=variants, **opts)[0]
        if side_by_side:
            results.update(zip(side_by_side, batch_plans(
                eco, batch, [plans[n] for n in side_by_side], variants=variants,
                start=states if warm else None, **opts)))
        for name, plan in plans.items():
            for k, d in zip(idx, batch_numbers(results[name], none, scales[idx],
                                               metrics.plan_cost(plan))):
                out[name][k] = d
    return out


def _place(out: dict, idx, part: dict):
    """Put each plan's per-draw numbers of ``part`` at the rows ``idx`` of ``out``."""
    for name in out:
        for k, d in zip(idx, part[name]):
            out[name][k] = d


def _chunk_job(bundles, scenario, inputs, values, horizon, mode, options, batched=True):
    """``{plan: [draw_numbers per row of values]}``, the rows grouped by the economy (trade
    calibration) they draw; ``bundles``: ``{trade_key: (economy, {plan: compiled plan})}``."""
    groups: dict = {}
    for k, row in enumerate(values):
        groups.setdefault(trade_key(inputs, row), []).append(k)
    out = {name: [None] * len(values) for name in next(iter(bundles.values()))[1]}
    for key, idx in groups.items():
        eco, plans = bundles[key]
        fast = batched and mode == "rationing"
        shocks, params, scales = _compiled_draws(eco, scenario, inputs, values[idx], horizon,
                                                 reduced=fast)
        if fast:
            part = _run_draws_batched(eco, shocks, params, scales, plans, options)
        else:
            part = _run_draws(eco, shocks, params, plans, mode, options)
        _place(out, idx, part)
    return out


#: Most draws per chunk in process (a chunk holds draws of one trade calibration and one
#: materiality variant, which run as one batch per plan).
SAMPLES_PER_CHUNK = 64


def _chunks(inputs, values, size) -> list[np.ndarray]:
    """Row indices of ``values`` in chunks of at most ``size`` draws, each chunk within one
    group of draws that can share a batch (the same trade calibration and binding
    structure), so that chunking never splits a batch more than ``size`` requires; the
    largest chunks first, so that parallel workers finish at about the same time."""
    groups: dict = {}
    for k, row in enumerate(values):
        key = (trade_key(inputs, row), _structure_key(split_draw(inputs, row)[1]))
        groups.setdefault(key, []).append(k)
    chunks = [np.asarray(idx[lo:lo + size]) for idx in groups.values()
              for lo in range(0, len(idx), size)]
    return sorted(chunks, key=len, reverse=True)


def run_samples(economy, scenario, plans=None, *, samples: int = 200, seed: int = 0,
                mode: str = "rationing", horizon=None, scheduler=None, chunk_size=None,
                batched: bool = True, threads=None, processes=None, **options) -> xr.Dataset:
    """Sampled band of the central estimate of ``scenario`` under ``plans`` (names, files or
    compiled plans; ``None`` is no plan, always run as the reference).

    ``samples`` draws of :func:`uncertain_inputs` (seeded Latin hypercube, ``seed``), each run
    in ``mode`` (``rationing``, the central estimate, or ``dynamic``: then with national
    output paths for fan charts); ``options``: options of the mode and fixed recipe
    parameters; ``scheduler``: run chunks of at most ``chunk_size`` draws on
    dask.distributed (an address, ``"local"`` or a Client; see :mod:`stresstest.ensemble`),
    in process when ``None``, on ``threads`` workers (None: every available core; forked
    processes on Linux unless ``processes`` is False, else threads; the answers do not
    depend on them, :func:`stresstest.ensemble.run_in_process`); a chunk never
    mixes draws that cannot share a batch (trade calibration, materiality); ``chunk_size``
    None: :data:`SAMPLES_PER_CHUNK` in process, at least two chunks per worker on dask.
    ``batched`` (mode rationing): the draws of a chunk run as batches with per-draw recipe
    parameters (:func:`batch_numbers`); ``False`` runs every draw on its own (the reference path).
    Returns a Dataset over ``plan`` and ``sample`` of :func:`draw_numbers` (``csr`` over
    ``product``, ``path`` over ``time``) and the drawn inputs ``draw(sample, input)``.
    """
    from .api import _mode_function, resolve_economy, resolve_plan
    from .ensemble import _client, check_threads, run_in_process
    from .scenario import Scenario, load_scenario

    samples, seed = check_samples(samples, seed)
    threads = check_threads(threads, "run_samples: threads")
    if mode not in SAMPLE_MODES:
        raise InputError(f"run_samples: mode {mode!r} cannot be sampled (one of "
                         f"{', '.join(SAMPLE_MODES)})")
    if chunk_size is not None and (isinstance(chunk_size, bool)
                                   or not isinstance(chunk_size, (int, np.integer))
                                   or chunk_size < 1):
        raise InputError(f"chunk_size must be a whole number >= 1, got {chunk_size!r}")
    eco = resolve_economy(economy)
    if isinstance(scenario, xr.Dataset):
        raise InputError("run_samples needs a scenario file or name (its ranges), not a "
                         "compiled shock")
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    inputs = uncertain_inputs(sc, options, eco)
    _mode_function(mode, {**options, **{i.name: i.central for i in inputs
                                        if i.event is None and i.field != "economy"}})
    if plans is None or isinstance(plans, (str, xr.Dataset)):
        plans = [plans]
    compiled, given = {}, {}
    for p in [None, *plans]:
        p = None if isinstance(p, str) and p == "none" else p
        c = resolve_plan(p, eco)
        name = "none" if c is None else str(c.attrs.get("plan", f"plan{len(compiled)}"))
        if name in compiled and c is not None:
            raise InputError(f"run_samples: plan {name!r} is given twice")
        compiled[name], given[name] = c, p
    values = draw(inputs, samples, seed)
    # a drawn trade calibration changes baseline flows (corridor capacities, stock bases):
    # plans given by name or file are compiled again on each re-derived economy
    bundles = trade_economies(eco, inputs, values, compiled, given,
                              threads if scheduler is None else None,
                              mode=mode if scheduler is None else None)
    if scheduler is None:
        chunks = _chunks(inputs, values, chunk_size or SAMPLES_PER_CHUNK)
        def job(idx):
            return (bundles, sc, inputs, values[idx], horizon, mode, options, batched)

        parts = run_in_process(_chunk_job, [job(idx) for idx in chunks], threads,
                               warm=job(chunks[0][:1]),  # one draw fills the caches
                               processes=processes)
    else:
        client, own = _client(scheduler)
        try:
            if chunk_size is None:  # at least two chunks per worker: they finish together
                workers = max(1, len(client.scheduler_info().get("workers", {})))
                chunk_size = min(SAMPLES_PER_CHUNK, -(-samples // (2 * workers)))
            chunks = _chunks(inputs, values, chunk_size)
            [bundles_f] = client.scatter([bundles], broadcast=True, hash=False)  # one future
            futures = [client.submit(_chunk_job, bundles_f, sc, inputs, values[idx], horizon,
                                     mode, options, batched, pure=False) for idx in chunks]
            parts = client.gather(futures)
        finally:
            if own:
                client.close()
    per_plan = {name: [None] * samples for name in compiled}
    for idx, part in zip(chunks, parts):
        _place(per_plan, idx, part)
    return _assemble(eco, sc, inputs, values, per_plan, compiled, seed, mode, options)


def _assemble(eco, sc, inputs, values, per_plan, compiled, seed, mode, options):
    from ._version import __version__

    names = list(compiled)
    n = values.shape[0]
    # the layout (products, path length) from a draw that found its equilibrium; the numbers
    # of a draw without one (converged False) are NaN
    first = next((d for p in names for d in per_plan[p] if d.get("converged", True)),
                 per_plan[names[0]][0])
    products = [k[4:] for k in first if k.startswith("csr:")]
    data = {key: (("plan", "sample"), np.array([[d[key] for d in per_plan[p]] for p in names]))
            for key in DRAW_KEYS}
    data["csr"] = (("plan", "sample", "product"), np.array(
        [[[d.get(f"csr:{q}", np.nan) for q in products] for d in per_plan[p]]
         for p in names]).reshape(len(names), n, len(products)))
    coords = {"plan": names, "sample": np.arange(n), "input": [i.name for i in inputs],
              "product": products}
    if "path" in first:
        blank = np.full(first["path"].size, np.nan)
        data["path"] = (("plan", "sample", "time"), np.array(
            [[d.get("path", blank) for d in per_plan[p]] for p in names]))
        coords["time"] = np.arange(first["path"].size)
    data["converged"] = (("plan", "sample"), np.array(
        [[bool(d.get("converged", True)) for d in per_plan[p]] for p in names]))
    data["plan_annual_cost"] = ("plan", np.array([metrics.plan_cost(compiled[p])
                                                  for p in names]))
    data["draw"] = (("sample", "input"), values.reshape(n, len(inputs)))
    ds = xr.Dataset(data, coords=coords)
    ds["input_low"] = ("input", np.array([i.low for i in inputs], float))
    ds["input_high"] = ("input", np.array([i.high for i in inputs], float))
    ds["input_meaning"] = ("input", np.array([i.meaning for i in inputs], dtype=str))
    ds["converged"].attrs["long_name"] = (
        "the draw's runs (this plan and no plan) found an equilibrium; the numbers of a draw "
        "without one are NaN and left out of the quantiles")
    ds.attrs.update({
        "scenario": sc.name, "mode": mode, "recipe": "central",
        "design": "Latin hypercube (as scipy.stats.qmc.LatinHypercube), uniform on each range",
        "samples": n, "seed": int(seed), "parameters": json.dumps(options, default=str),
        "units": str(eco.attrs.get("units", "")), "stresstest_version": __version__,
        "economy": str(eco.attrs.get("title", eco.attrs.get("name", ""))),
    })
    return ds


# --------------------------------------------------------------------------- summaries


def rank_first(samples: xr.Dataset) -> xr.DataArray:
    """Share of draws in which each plan ranks first (lowest break-even probability ``p*``
    among the plans other than ``none``; ties to the larger benefit); NaN for ``none``.
    Draws in which no plan saves anything count for none of them."""
    plans = [p for p in map(str, samples["plan"].values) if p != "none"]
    out = xr.full_like(samples["plan_annual_cost"], np.nan, dtype=float)
    if not plans:
        return out
    p = samples["breakeven_p"].sel(plan=plans).values  # (plan, sample)
    b = samples["benefit"].sel(plan=plans).values
    key = np.where(np.isfinite(p) & (b > 0), p, np.inf)
    best = np.lexsort((-b, key), axis=0)[0]
    valid = np.isfinite(key.min(axis=0))
    shares = [(valid & (best == i)).mean() for i in range(len(plans))]
    out.loc[{"plan": plans}] = shares
    return out


def sample_table(samples: xr.Dataset, quantiles=QUANTILES) -> pd.DataFrame:
    """Per plan: the quantiles (``q5``, ``q50``, ``q95``) of ``output_share``, ``va_share``,
    ``worst_csr`` (lowest national critical supply over the products), ``benefit`` and
    ``breakeven_p``, and ``p_first`` (:func:`rank_first`). Money in economy units."""
    qs = tuple(float(q) for q in quantiles)
    if any(not 0 <= q <= 1 for q in qs):
        raise InputError(f"quantiles must lie in [0, 1], got {list(quantiles)}")
    worst = samples["csr"].min("product", skipna=True) if samples.sizes.get("product") else \
        xr.full_like(samples["output_share"], np.nan)
    cols = {"output_share": samples["output_share"], "va_share": samples["va_share"],
            "worst_csr": worst, "benefit": samples["benefit"],
            "breakeven_p": samples["breakeven_p"]}
    rows = {}
    first = rank_first(samples)
    for plan in map(str, samples["plan"].values):
        row = {}
        for name, da in cols.items():
            v = da.sel(plan=plan).values.astype(float)
            for q in qs:
                row[f"{name}_q{round(100 * q):d}"] = _quantile(v, q)
        row["p_first"] = float(first.sel(plan=plan))
        rows[plan] = row
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "plan"
    df["not_converged"] = [int((~samples["converged"].sel(plan=p).values).sum())
                           if "converged" in samples else 0 for p in df.index]
    df.attrs.update({"samples": int(samples.sizes["sample"]), "seed": samples.attrs.get("seed"),
                     "scenario": samples.attrs.get("scenario", "")})
    return df


def _quantile(v, q) -> float:
    """Quantile of the finite values, +-inf kept in order (``p*`` of a plan that saves nothing
    is inf); NaN when nothing is known."""
    v = v[~np.isnan(v)]
    if not v.size:
        return float("nan")
    return float(np.quantile(np.sort(v), q, method="linear")) if np.isfinite(v).all() else \
        float(np.sort(v)[min(v.size - 1, int(np.floor(q * (v.size - 1) + 0.5)))])
