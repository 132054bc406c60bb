"""stresstest: resilience stress tests for regional economies on multi-regional IO tables.

Public API::

    import stresstest as st
    eco = st.load_economy("china31")
    res = st.run(eco, "coastal-blockade", plan="three-tasks-balanced", mode="rationing")
    band = st.run_band(eco, "coastal-blockade")  # central estimate [strict cascade - optimum]
    draws = st.run_samples(eco, "coastal-blockade", ["western-energy-reserve"], samples=200)
    hosts = st.screen(eco, ["coastal-blockade"])    # hinterland host screening
    plan = st.site(eco, ["coastal-blockade"], budget=500.0)  # backup siting
"""

from __future__ import annotations

import importlib

from ._version import __version__
from .economy import load_economy, save_economy, validate_economy
from .errors import (ConvergenceError, EconomyError, InputError, PlanError, ScenarioError,
                     SolverError, StresstestError)

# imported eagerly: the functions share their modules' names, and a lazy lookup would give the
# module once ``stresstest.screen`` or ``stresstest.site`` has been imported anywhere
from .screen import screen  # noqa: E402,I001
from .site import site  # noqa: E402

_LAZY = {
    "load_scenario": "stresstest.scenario",
    "compile_scenario": "stresstest.scenario",
    "load_plan": "stresstest.plan",
    "compile_plan": "stresstest.plan",
    "run": "stresstest.api",
    "compare": "stresstest.api",
    "run_band": "stresstest.band",
    "run_samples": "stresstest.sampling",
    "sample_table": "stresstest.sampling",
    "reweight_trade": "stresstest.regionalize",
    "metrics": "stresstest.metrics",
    "analysis": "stresstest.analysis",
    "io": "stresstest.io",
}

__all__ = ["__version__", "load_economy", "save_economy", "validate_economy", "screen", "site",
           *_LAZY,
           "StresstestError", "InputError", "EconomyError", "ScenarioError", "PlanError",
           "ConvergenceError", "SolverError"]


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        return module if module.__name__.endswith(name) else getattr(module, name)
    raise AttributeError(f"module 'stresstest' has no attribute {name!r}")
