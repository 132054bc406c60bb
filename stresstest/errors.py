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


#: How many problems ``str()`` of a :class:`ProblemsError` shows before "... and N more".
MAX_SHOWN = 20


class ProblemsError(InputError):
    """Every problem found in one input (a file), one line each.

    ``ProblemsError("a", "b")`` carries ``problems == ["a", "b"]``; its ``str`` is the lines
    joined by newlines, at most :data:`MAX_SHOWN` of them and then ``... and N more``. One
    problem gives exactly its line.
    """

    def __init__(self, *problems):
        lines = []
        for p in problems:
            if isinstance(p, (list, tuple)):
                lines.extend(map(str, p))
            else:
                lines.append(str(p))
        self.problems = list(dict.fromkeys(lines))
        super().__init__(*self.problems)

    def lines(self, limit: int | None = MAX_SHOWN) -> list[str]:
        """The problems, cut at ``limit`` with a last ``... and N more`` line."""
        if limit is None or len(self.problems) <= limit:
            return list(self.problems)
        rest = len(self.problems) - limit
        return self.problems[:limit] + [f"... and {rest} more problem{'s' if rest > 1 else ''}"]

    def __str__(self) -> str:
        return "\n".join(self.lines())


class ScenarioError(ProblemsError):
    """A shock scenario file or selector is invalid (``problems``: every one found)."""


class PlanError(ProblemsError):
    """A backup plan file or selector is invalid (``problems``: every one found)."""


class ConvergenceError(StresstestError, RuntimeError):
    """An iterative solver did not reach its tolerance."""


class SolverError(StresstestError, RuntimeError):
    """The LP solver failed."""
