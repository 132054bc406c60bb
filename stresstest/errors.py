"""Exceptions with one-line messages for users.

Every user-facing failure raises a subclass of :class:`StresstestError`. The CLI prints
``str(err)`` on one line and exits with ``err.exit_code``: 2 for bad input (files, options,
arguments), 1 for a run that failed (e.g. no convergence).
"""

from __future__ import annotations


class StresstestError(Exception):
    """Base class; ``exit_code`` is what the CLI returns."""

    exit_code = 1


class InputError(StresstestError, ValueError):
    """Bad user input: a file, a field or an argument. Message names file, field and value."""

    exit_code = 2


class EconomyError(InputError):
    """An economy fails validation (identities, signs, labels, productivity)."""


class ScenarioError(InputError):
    """A shock scenario file or selector is invalid."""


class PlanError(InputError):
    """A backup plan file or selector is invalid."""


class ConvergenceError(StresstestError, RuntimeError):
    """An iterative solver did not reach its tolerance."""


class SolverError(StresstestError, RuntimeError):
    """The LP solver failed."""
