"""Shared fixtures. Tests that need ../shared/data skip cleanly when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from stresstest.testing import random_economy

# Property tests draw new examples on every run (HYPOTHESIS_PROFILE unset: hypothesis'
# default), so a developer's runs keep exploring; CI (.ci/run) sets HYPOTHESIS_PROFILE=ci:
# the same examples every run, so that a landing never hangs on the draw of the day (a bug
# a random run finds becomes a fixed @example).
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def shared_file(*parts: str) -> Path:
    """Path of a file under ../shared/data, or skip the test when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not available: {'/'.join(parts)}")
    return path


@pytest.fixture
def tiny():
    """A 3-region x 4-sector balanced random economy."""
    return random_economy(3, 4, seed=1)


@pytest.fixture(scope="session")
def china31():
    """The built-in China economy (skips if it has not been built yet)."""
    from stresstest.economy import builtin_economies, load_economy

    if "china31" not in builtin_economies():
        pytest.skip("china31 has not been built")
    return load_economy("china31")


_SUMMARY = pytest.StashKey[list]()


@pytest.fixture(scope="session")
def summary_line(request):
    """``summary_line(text)`` adds a line shown after the test run (fuzz counts, interrupt
    latencies), also without ``-s``."""
    lines = request.config.stash.setdefault(_SUMMARY, [])
    return lines.append


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    for line in config.stash.get(_SUMMARY, []):
        terminalreporter.write_line(line)
