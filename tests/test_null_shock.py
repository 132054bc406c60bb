"""A null shock (and a plan with nothing in it) reproduces the baseline in every mode and
recipe, on every table: x, value added, final deliveries and critical supply to 1e-9 relative
(DESIGN.md section 8, issue 11). Tables: china31, the WIOD 2000 table, pymrio's test system,
and random valid economies with inventory drawdowns (negative final use), negative net taxes
and industries with no output.

A deviation is measured relative to each cell's baseline, with a floor of 1e-6 of the
variable's largest value: a cell a million times smaller than the largest is judged on the
variable's scale (the LP's tolerances are relative to the problem's scale; on china31 a final
use of -0.0098 next to 19,648 is off by 1e-11 in mode optimal).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stresstest.compiled import no_plan, no_shock
from stresstest.errors import ConvergenceError

from .conftest import shared_file

RTOL = 1e-9
#: (mode, options): every mode, both recipes where a mode has them.
RUNS = [("rationing", {}), ("rationing", {"recipe": "strict"}), ("optimal", {}),
        ("optimal", {"recipe": "strict"}), ("leontief", {}), ("dynamic", {}),
        ("dynamic", {"recipe": "strict"})]


def _dev(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    floor = 1e-6 * max(float(np.nanmax(np.abs(b))), 1e-300)
    return float(np.nanmax(np.abs(a - b) / np.maximum(np.abs(b), floor)))


def deviations(res) -> dict:
    """Largest relative deviation from the baseline of x, va, f, essential (and csr)."""
    t = (lambda v: v.broadcast_like(res["x"])) if "time" in res["x"].dims else (lambda v: v)
    tf = (lambda v: v.broadcast_like(res["essential"])) if "time" in res["x"].dims else (
        lambda v: v)
    out = {"x": _dev(res["x"], t(res["x_baseline"])),
           "va": _dev(res["va"], t(res["va_baseline"])),
           "f": _dev(res["f"].sum("source"), tf(res["f_baseline"])),
           "essential": _dev(res["essential"], tf(res["essential_baseline"]))}
    csr = res["csr"].values
    out["csr"] = float(np.nanmax(np.abs(csr - 1.0))) if np.isfinite(csr).any() else 0.0
    return out


def _run(eco, mode, opts, plan=None):
    from stresstest.api import run

    kw = dict(opts)
    if mode == "dynamic":
        kw["horizon"] = 10
    return run(eco, no_shock(eco, 10), plan, mode=mode, **kw)


def _check(eco, mode, opts, label):
    res = _run(eco, mode, opts)
    dev = deviations(res)
    print(f"\n{label} {mode} {opts.get('recipe', 'default')}: " +
          ", ".join(f"{k} {v:.1e}" for k, v in dev.items()))
    assert max(dev.values()) <= RTOL, (label, mode, opts, dev)
    empty = _run(eco, mode, opts, no_plan(eco))
    for v in ("x", "va", "f", "essential"):
        np.testing.assert_array_equal(empty[v].values, res[v].values, err_msg=f"{label} {v}")


@pytest.mark.parametrize("mode, opts", RUNS)
def test_china31(china31, mode, opts):
    _check(china31, mode, opts, "china31")


@pytest.fixture(scope="module")
def wiod2000():
    from stresstest.io.wiod import read_wiod

    return read_wiod(shared_file("wiod", "WIODlr_WIOT_2000.csv.gz"))


@pytest.mark.parametrize("mode, opts", RUNS)
def test_wiod2000(wiod2000, mode, opts):
    _check(wiod2000, mode, opts, "wiod2000")


@pytest.fixture(scope="module")
def pymrio_test():
    pymrio = pytest.importorskip("pymrio")
    from stresstest.io.pymrio import from_pymrio

    return from_pymrio(pymrio.load_test())


@pytest.mark.parametrize("mode, opts", RUNS)
def test_pymrio_test_system(pymrio_test, mode, opts):
    _check(pymrio_test, mode, opts, "pymrio-test")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(R=st.integers(1, 3), S=st.integers(2, 5), seed=st.integers(0, 10_000),
       drawdowns=st.sampled_from([0.0, 0.3, 0.8]), taxes=st.sampled_from([0.0, 0.5]),
       empty=st.integers(0, 2), run=st.sampled_from(RUNS))
def test_random_awkward_economies(R, S, seed, drawdowns, taxes, empty, run):
    from stresstest.testing import random_economy

    eco = random_economy(R, S, seed=seed, density=0.7, drawdowns=drawdowns,
                         negative_taxes=taxes, empty_industries=min(empty, R * S - 1))
    mode, opts = run
    try:
        _check(eco, mode, opts, f"random {R}x{S}/{seed}")
    except ConvergenceError as exc:  # a null shock must always converge
        raise AssertionError(f"null shock did not converge: {exc}") from None
