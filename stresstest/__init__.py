"""stresstest: resilience stress tests for regional economies on multi-regional IO tables.

Public API::

    import stresstest as st
    eco = st.load_economy("china31")
    res = st.run(eco, "coastal-blockade", plan="three-tasks-balanced", mode="rationing")
    band = st.run_band(eco, "coastal-blockade")  # central estimate [strict cascade - optimum]
"""

from __future__ import annotations

import importlib

from ._version import __version__
from .economy import load_economy, save_economy, validate_economy
from .errors import (ConvergenceError, EconomyError, InputError, PlanError, ScenarioError,
                     SolverError, StresstestError)

_LAZY = {
    "load_scenario": "stresstest.scenario",
    "compile_scenario": "stresstest.scenario",
    "load_plan": "stresstest.plan",
    "compile_plan": "stresstest.plan",
    "run": "stresstest.api",
    "compare": "stresstest.api",
    "run_band": "stresstest.band",
    "metrics": "stresstest.metrics",
    "analysis": "stresstest.analysis",
    "io": "stresstest.io",
}

__all__ = ["__version__", "load_economy", "save_economy", "validate_economy", *_LAZY,
           "StresstestError", "InputError", "EconomyError", "ScenarioError", "PlanError",
           "ConvergenceError", "SolverError"]


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        return module if module.__name__.endswith(name) else getattr(module, name)
    raise AttributeError(f"module 'stresstest' has no attribute {name!r}")
