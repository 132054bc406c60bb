"""Sampled uncertainty bands (DESIGN.md section 6a): how sure is a central estimate?

The uncertain inputs of a run are

* the **shock**: every event field the scenario file gives as a range ``[low, high]``
  (``remaining``, ``factor``, ``duration``, ``recovery_days``; the file's central value is the
  midpoint), and
* the **recipe** (:data:`UNCERTAIN_PARAMETERS`): input stocks, usable idle capacity and its
  ramp-up, re-sourcing of lost imports, its friction and ramp-up, and the rating variant
  (``materiality``: below which share of output a rated input never binds).

:func:`draw` makes a seeded Latin hypercube design over them (``scipy.stats.qmc``: every
input's range is cut into ``n`` equal strata, each hit once); each draw is a full central
estimate (mode ``rationing``, recipe ``central``) of every plan. :func:`run_samples` returns
the per-draw headline numbers (:func:`sample_metrics`, the same definitions as
:func:`stresstest.metrics.headline`); :func:`sample_table` their 5-50-95% quantiles per plan
and the probability that each plan ranks first (lowest break-even probability ``p*``).

A parameter a run sets (an option or the scenario's ``[parameters]``) is fixed, not drawn.
What is not drawn: the economy itself (the table, the trade calibration: see
``docs/china31.md`` for its gamma sensitivity), the input ratings themselves beyond the
materiality variant, and the plans' costs.
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
UNCERTAIN_PARAMETERS = {
    "inventory_scale": Uncertain(
        "inventory_scale", 0.5, 1.5, "factor",
        "input stocks: Pichler et al. (2022) inventory ratios are industry medians of US data; "
        "Chinese firms' stocks and their dispersion are not measured here (+-50%)"),
    "spare_scale": Uncertain(
        "spare_scale", 0.5, 1.5, "factor",
        "share of the idle capacity implied by NBS utilisation 2017 that can really be run "
        "(+-50%)"),
    "spare_ramp_days": Uncertain(
        "spare_ramp_days", 10.0, 50.0, "days",
        "days for idle capacity to come on line (assumption: 30, from 10 to 50)"),
    "resourcing_imports": Uncertain(
        "resourcing_imports", 0.10, 0.40, "share of lost imports",
        "share of lost imports domestic product may replace (assumption: 0.25, from 0.1 to "
        "0.4)"),
    "resourcing_friction": Uncertain(
        "resourcing_friction", 0.0, 0.10, "share of flow value",
        "extra cost of substituted flows (assumption: 5%, from 0 to 10%)"),
    "resourcing_ramp_days": Uncertain(
        "resourcing_ramp_days", 10.0, 50.0, "days",
        "days for re-sourcing to reach its extent (assumption: 30, from 10 to 50)"),
    "materiality": Uncertain(
        "materiality", 0.0025, 0.01, "share of output",
        "rating variant: a rated input binds from 0.25%, 0.5% (central) or 1% of output",
        choices=(0.0025, 0.005, 0.01)),
}

#: Quantiles of the sampled band (5-50-95%).
QUANTILES = (0.05, 0.5, 0.95)
#: Largest number of draws (each is a full run of every plan).
MAX_SAMPLES = 100_000


def uncertain_inputs(scenario, options: dict | None = None) -> list[Uncertain]:
    """The inputs a sampled band draws for ``scenario`` (a parsed
    :class:`~stresstest.scenario.Scenario`): its event ranges, then the
    :data:`UNCERTAIN_PARAMETERS` not fixed by ``options`` or the scenario's ``[parameters]``."""
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
    return out


def _lhs(d: int, n: int, seed: int) -> np.ndarray:
    from scipy.stats import qmc

    try:
        engine = qmc.LatinHypercube(d, rng=np.random.default_rng(seed))
    except TypeError:  # scipy < 1.15
        engine = qmc.LatinHypercube(d, seed=np.random.default_rng(seed))
    return engine.random(n)


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
    """One draw as ``({(event position, field): value}, {recipe parameter: value})``."""
    events, params = {}, {}
    for inp, v in zip(inputs, row):
        if inp.event is not None:
            events[(inp.event, inp.field)] = float(v)
        else:
            params[inp.name] = float(v)
    return events, params


# --------------------------------------------------------------------------- metrics


def sample_metrics(res: xr.Dataset, shock: xr.Dataset | None = None) -> dict:
    """Headline numbers of a static Result, vectorised over an extra ``scenario`` dim (a batch
    of draws): ``output_share``, ``va_share`` (surviving, average day of the window),
    ``va_loss_rate`` (money per year), ``amplification``, ``csr`` (national critical supply by
    product). The definitions of :func:`stresstest.metrics.headline`."""
    out = {"output_share": metrics.surviving_share(res, "x"),
           "va_share": metrics.surviving_share(res, "va"),
           "va_loss_rate": metrics.loss(res, "va")}
    total, direct = metrics.loss(res, "x"), metrics.direct_shock(res)["total"]
    scale = float(res["x_baseline"].sum())
    out["amplification"] = xr.where(direct > 1e-12 * scale, total / direct, np.nan) if isinstance(
        direct, xr.DataArray) else (total / direct if direct > 1e-12 * scale else np.nan)
    out["csr"] = metrics.critical_supply(res)["national"]
    return out


def event_scale(economy: xr.Dataset, shock: xr.Dataset) -> float:
    """Years of baseline loss rate a window's average day stands for over the whole event:
    ``W / 365 · F`` (:func:`stresstest.metrics.event_loss` for a static Result)."""
    from .result import severity_path

    lo, hi = int(shock.attrs["window_start"]), int(shock.attrs["window_end"])
    hi = max(hi, lo + 1)
    sev = severity_path(economy, shock)
    factor = 1.0 if sev is None else metrics.event_factor_of(sev, lo, hi)
    return (hi - lo) / metrics.DAYS_PER_YEAR * factor


# --------------------------------------------------------------------------- runs


def _compiled_draws(eco, scenario, inputs, values, horizon):
    from .scenario import compile_scenario

    shocks, params = [], []
    for row in values:
        ev, prm = split_draw(inputs, row)
        shocks.append(compile_scenario(scenario.with_values(ev) if ev else scenario, eco,
                                       horizon=horizon))
        params.append(prm)
    return shocks, params


def _run_draws(eco, shocks, params, plans: dict, options: dict) -> dict:
    """``{plan: {metric: array over draws}}``: each draw a plain central run."""
    from .api import run

    out = {}
    for name, plan in plans.items():
        rows = []
        for shock, prm in zip(shocks, params):
            res = run(eco, shock, plan, mode="rationing", **{**options, **prm})
            rows.append(sample_metrics(res))
        out[name] = {k: np.stack([np.asarray(getattr(r[k], "values", r[k]), float)
                                  for r in rows]) for k in rows[0]}
        out[name]["products"] = rows[0]["csr"]["product"].values.astype(str)
    return out


def _chunk_job(eco, scenario, inputs, values, horizon, plans, options):
    shocks, params = _compiled_draws(eco, scenario, inputs, values, horizon)
    scales = np.array([event_scale(eco, s) for s in shocks])
    return _run_draws(eco, shocks, params, plans, options), scales


def run_samples(economy, scenario, plans=None, *, samples: int = 200, seed: int = 0,
                horizon=None, scheduler=None, chunk_size: int = 16, **options) -> xr.Dataset:
    """Sampled band of the central estimate of ``scenario`` under ``plans`` (names, files or
    compiled plans; ``None`` is no plan, always run as the reference).

    ``samples`` draws of :func:`uncertain_inputs` (seeded Latin hypercube, ``seed``);
    ``options``: rationing options and fixed recipe parameters; ``scheduler``: run chunks of
    ``chunk_size`` draws on dask.distributed (an address, ``"local"`` or a Client; see
    :mod:`stresstest.ensemble`), in process when ``None``. Returns a Dataset over ``plan``
    and ``sample``: the :func:`sample_metrics` of each draw, ``va_loss_event`` and
    ``benefit`` (money over the event, as :func:`stresstest.metrics.benefit`),
    ``breakeven_p``, and the drawn inputs ``draw(sample, input)``.
    """
    from .api import resolve_economy, resolve_plan
    from .ensemble import _client
    from .scenario import Scenario, load_scenario

    samples, seed = check_samples(samples, seed)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) \
            or chunk_size < 1:
        raise InputError(f"chunk_size must be a whole number >= 1, got {chunk_size!r}")
    eco = resolve_economy(economy)
    if isinstance(scenario, xr.Dataset):
        raise InputError("run_samples needs a scenario file or name (its ranges), not a "
                         "compiled shock")
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if plans is None or isinstance(plans, (str, xr.Dataset)):
        plans = [plans]
    compiled = {}
    for p in [None, *plans]:
        c = resolve_plan(None if isinstance(p, str) and p == "none" else p, eco)
        name = "none" if c is None else str(c.attrs.get("plan", f"plan{len(compiled)}"))
        if name in compiled and c is not None:
            raise InputError(f"run_samples: plan {name!r} is given twice")
        compiled[name] = c
    inputs = uncertain_inputs(sc, options)
    values = draw(inputs, samples, seed)
    chunks = [values[lo:lo + chunk_size] for lo in range(0, samples, chunk_size)]
    if scheduler is None:
        parts = [_chunk_job(eco, sc, inputs, v, horizon, compiled, options) for v in chunks]
    else:
        client, own = _client(scheduler)
        try:
            eco_f = client.scatter(eco, broadcast=True)
            futures = [client.submit(_chunk_job, eco_f, sc, inputs, v, horizon, compiled,
                                     options, pure=False) for v in chunks]
            parts = client.gather(futures)
        finally:
            if own:
                client.close()
    scales = np.concatenate([p[1] for p in parts])
    per_plan = {name: {k: np.concatenate([p[0][name][k] for p in parts])
                       for k in parts[0][0][name] if k != "products"} for name in compiled}
    per_plan["products"] = parts[0][0]["none"]["products"]
    return _assemble(eco, sc, inputs, values, per_plan, scales, compiled, seed, options)


def _assemble(eco, sc, inputs, values, per_plan, scales, compiled, seed, options):
    from ._version import __version__

    names = list(compiled)
    n = values.shape[0]
    products = list(per_plan["products"])
    data = {}
    for key in ("output_share", "va_share", "va_loss_rate", "amplification"):
        data[key] = (("plan", "sample"), np.stack([per_plan[p][key] for p in names]))
    data["csr"] = (("plan", "sample", "product"), np.stack([per_plan[p]["csr"] for p in names]))
    loss_event = data["va_loss_rate"][1] * scales[None, :]
    data["va_loss_event"] = (("plan", "sample"), loss_event)
    benefit = loss_event[0][None, :] - loss_event
    data["benefit"] = (("plan", "sample"), benefit)
    costs = np.array([metrics.plan_cost(compiled[p]) for p in names])
    data["plan_annual_cost"] = ("plan", costs)
    data["breakeven_p"] = (("plan", "sample"), np.array(
        [[metrics.breakeven_probability(b, c) for b in row] for row, c in zip(benefit, costs)]))
    data["draw"] = (("sample", "input"), values)
    ds = xr.Dataset(data, coords={"plan": names, "sample": np.arange(n),
                                  "input": [i.name for i in inputs], "product": products})
    ds["input_low"] = ("input", np.array([i.low for i in inputs], float))
    ds["input_high"] = ("input", np.array([i.high for i in inputs], float))
    ds["input_meaning"] = ("input", np.array([i.meaning for i in inputs], dtype=str))
    ds.attrs.update({
        "scenario": sc.name, "mode": "rationing", "recipe": "central",
        "design": "Latin hypercube (scipy.stats.qmc), uniform on each range",
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
