"""Public entry points: :func:`run` one scenario, :func:`compare` backup plans.

Arguments are resolved the same way everywhere:

- ``economy``: an economy Dataset or a built-in name / netCDF path
  (:func:`stresstest.economy.load_economy`);
- ``scenario``: a compiled shock Dataset (has ``kappa``), a ``Scenario`` object, or a name / TOML
  path (:func:`stresstest.scenario.load_scenario` then ``compile_scenario(scenario, economy,
  horizon=options["horizon"])``);
- ``plan``: ``None`` (no backups), a compiled plan Dataset (has ``standby_capacity``), a ``Plan``
  object, or a name / TOML path (:func:`stresstest.plan.load_plan` then ``compile_plan``).

``horizon`` is used to compile the scenario (and passed on to a mode that declares it); every
other option goes to the mode, which must declare it as a
keyword argument of ``run_<mode>`` (unknown options raise :class:`InputError` listing the valid
ones).
"""

from __future__ import annotations

import inspect
import json

import numpy as np
import xarray as xr

from . import metrics
from .compiled import check_labels
from .economy import load_economy
from .errors import InputError
from .modes import MODES, get_mode
from .relocate import relocated

API_OPTIONS = ("horizon",)


def resolve_economy(economy) -> xr.Dataset:
    """An economy Dataset from a Dataset, a built-in name or a netCDF path."""
    if isinstance(economy, xr.Dataset):
        return economy
    if isinstance(economy, (str, bytes)) or hasattr(economy, "__fspath__"):
        return load_economy(economy)
    raise InputError(f"economy must be a Dataset, a built-in name or a path, got "
                     f"{type(economy).__name__}")


def resolve_scenario(scenario, economy: xr.Dataset, horizon=None) -> xr.Dataset:
    """A compiled shock Dataset from a compiled shock, a ``Scenario`` or a name/path."""
    if isinstance(scenario, xr.Dataset):
        if "kappa" not in scenario:
            raise InputError("scenario Dataset is not a compiled shock (no 'kappa' variable)")
        check_labels(scenario, economy, "scenario")
        return scenario
    if scenario is None:
        raise InputError("a scenario is required (a name, a TOML path or a compiled shock)")
    try:
        from .scenario import compile_scenario, load_scenario
    except ImportError as exc:  # pragma: no cover - until the scenario module lands
        raise InputError(f"scenario files are not supported in this build ({exc})") from None
    if isinstance(scenario, (str, bytes)) or hasattr(scenario, "__fspath__"):
        scenario = load_scenario(scenario)
    return compile_scenario(scenario, economy, horizon=horizon)


def resolve_plan(plan, economy: xr.Dataset):
    """A compiled plan Dataset, or ``None`` for no backups."""
    if plan is None:
        return None
    if isinstance(plan, xr.Dataset):
        if "standby_capacity" not in plan:
            raise InputError("plan Dataset is not a compiled plan (no 'standby_capacity')")
        return plan
    try:
        from .plan import compile_plan, load_plan
    except ImportError as exc:  # pragma: no cover - until the plan module lands
        raise InputError(f"plan files are not supported in this build ({exc})") from None
    if isinstance(plan, (str, bytes)) or hasattr(plan, "__fspath__"):
        plan = load_plan(plan)
    return compile_plan(plan, economy)


def mode_options(mode: str) -> dict:
    """Keyword options accepted by a mode, with defaults."""
    fn = get_mode(mode)
    params = list(inspect.signature(fn).parameters.values())[3:]
    return {p.name: (None if p.default is inspect.Parameter.empty else p.default)
            for p in params if p.kind in (inspect.Parameter.KEYWORD_ONLY,
                                          inspect.Parameter.POSITIONAL_OR_KEYWORD)}


def _mode_function(mode: str, options: dict):
    if mode not in MODES:
        raise InputError(f"unknown mode {mode!r}; valid modes: {', '.join(MODES)}")
    try:
        fn = get_mode(mode)
    except (ImportError, AttributeError):
        raise InputError(f"mode {mode!r} is not available in this build") from None
    params = inspect.signature(fn).parameters
    if any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return fn
    valid = sorted(set(mode_options(mode)) | set(API_OPTIONS))
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise InputError(f"mode {mode!r} does not accept option(s) {', '.join(unknown)}; "
                         f"valid options: {', '.join(valid) or 'none'}")
    return fn


def run(economy, scenario, plan=None, mode: str = "rationing", **options) -> xr.Dataset:
    """Run one scenario with one plan in ``mode`` and return the Result Dataset.

    The Result's attrs carry ``plan_annual_cost`` (economy units per year; 0 without a plan).
    """
    fn = _mode_function(mode, options)
    eco = resolve_economy(economy)
    shock = resolve_scenario(scenario, eco, horizon=options.get("horizon"))
    compiled_plan = resolve_plan(plan, eco)
    declared = mode_options(mode)
    mode_opts = {k: v for k, v in options.items() if k not in API_OPTIONS or k in declared}
    # a plan that builds new industries runs on the economy with that output moved
    res = fn(relocated(eco, compiled_plan), shock, compiled_plan, **mode_opts)
    res.attrs["plan_annual_cost"] = metrics.plan_cost(compiled_plan)
    if compiled_plan is None:
        res.attrs["plan"] = "none"
    return res


def compare(economy, scenario, plans, mode: str = "rationing", *, probabilities=None,
            unit: str | None = None, **options):
    """Run one scenario under several plans; return ``(results, table)``.

    ``results``: the Results concatenated along a new ``plan`` dim (labels = plan names);
    ``table``: :func:`stresstest.metrics.plan_table` — a pandas DataFrame **indexed by plan**
    of :func:`stresstest.metrics.headline` per plan relative to the no-backup run (``none`` is
    run as the reference when it is not among ``plans``), ranked by lowest break-even annual
    probability ``p*`` (column ``rank``), money in ``unit`` (default bn yuan for yuan
    economies; ``table.attrs["units"]`` gives every column's unit, ``table.attrs["notes"]``
    the definitions), expected benefit/cost at ``probabilities`` (default
    :data:`stresstest.metrics.PROBABILITIES`). The same table the CLI's ``compare`` and the
    report show.
    """
    if isinstance(plans, (str, xr.Dataset)) or plans is None:
        plans = [plans]
    plans = list(plans)
    if not plans:
        raise InputError("compare needs at least one plan")
    _mode_function(mode, options)  # validates mode and options before any work
    eco = resolve_economy(economy)
    from .units import factor

    factor(str(eco.attrs.get("units", "")), unit)  # a bad unit fails before any work
    shock = resolve_scenario(scenario, eco, horizon=options.get("horizon"))
    compiled = [resolve_plan(p, eco) for p in plans]
    names = [("none" if c is None else str(c.attrs.get("plan", f"plan{i}")))
             for i, c in enumerate(compiled)]
    if len(set(names)) != len(names):
        names = [f"{n}#{i}" if names.count(n) > 1 else n for i, n in enumerate(names)]
    results = [run(eco, shock, c, mode=mode, **options) for c in compiled]
    by_name = dict(zip(names, results))
    if "none" not in by_name:
        by_name = {"none": run(eco, shock, None, mode=mode, **options), **by_name}
    costs = {n: metrics.plan_cost(c) for n, c in zip(names, compiled)}
    table = metrics.plan_table(by_name, costs, probabilities=probabilities, unit=unit)
    if "none" not in names:
        table = table.drop(index="none")
    aligned = []
    for name, res in zip(names, results):
        r = res.copy()
        r.attrs = {}
        aligned.append(r)
    varying = [v for v in aligned[0].data_vars if not str(v).endswith("_baseline")]
    combined = xr.concat(aligned, dim=xr.DataArray(np.array(names, dtype=str), dims="plan",
                                                   name="plan"),
                         data_vars=varying, coords="minimal", compat="override",
                         combine_attrs="override")
    attrs = dict(results[0].attrs)
    attrs["plan"] = json.dumps(names)
    attrs["plan_annual_cost"] = json.dumps([r.attrs.get("plan_annual_cost", np.nan)
                                            for r in results])
    combined.attrs = attrs
    return combined, table
