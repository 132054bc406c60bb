"""Propagation modes. Each module exposes ``run_<mode>(economy, shock, plan, **options)``
taking a validated economy, a compiled shock and a compiled plan (:mod:`stresstest.compiled`)
and returning a Result (:mod:`stresstest.result`)."""

from __future__ import annotations

import importlib

MODES = ("leontief", "rationing", "optimal", "dynamic")


def get_mode(name: str):
    """The ``run_<name>`` function of a propagation mode."""
    if name not in MODES:
        from ..errors import InputError

        raise InputError(f"mode {name!r} is not one of {', '.join(MODES)}")
    module = importlib.import_module(f"{__name__}.{name}")
    return getattr(module, f"run_{name}")
