"""Guards on the shipped library (every scenario x every plan on china31).

- Solver shortcuts reproduce the plain path: warm-started order rounds give the cold answer.
- No plan drives a product's national critical supply to 0 where no plan keeps it above 0,
  and no plan lowers national value added or a national critical supply by more than 0.5 pp
  (DESIGN.md section 6a, issue 10).
"""

from __future__ import annotations

import numpy as np
import pytest

from stresstest import metrics
from stresstest.modes.rationing import run_rationing_batch
from stresstest.plan import compile_plan, list_plans, load_plan
from stresstest.scenario import compile_scenario, list_scenarios, load_scenario

#: Largest loss a plan may cause on a national aggregate (share of baseline), for rationing's
#: crowding out (DESIGN.md section 8: not exactly monotone, within a stated tolerance).
PLAN_HARM_TOL = 0.005
#: Agreement of warm and cold solves (relative): order rounds stop at orders_tol = 1e-8.
WARM_COLD_RTOL = 1e-6


def _library(china31):
    shocks = [compile_scenario(load_scenario(s["name"]), china31) for s in list_scenarios()]
    plans = {p["name"]: compile_plan(load_plan(p["name"]), china31) for p in list_plans()}
    return shocks, plans


@pytest.fixture(scope="module")
def library_runs(china31):
    """``{(plan, warm_start): batch Result over every shipped scenario}``."""
    shocks, plans = _library(china31)
    out = {}
    for name, plan in plans.items():
        for warm in (True, False):
            out[name, warm] = run_rationing_batch(china31, shocks, plan, warm_start=warm)
    return out


def _national(res):
    cs = metrics.critical_supply(res)["national"]
    return {"va": (res["va"].sum(["region", "sector"])
                   / res["va_baseline"].sum(["region", "sector"])).values,
            "csr": cs.transpose("scenario", "product").values,
            "products": [str(p) for p in cs["product"].values]}


def test_library_converges(library_runs):
    for (plan, warm), res in library_runs.items():
        assert bool(res["converged"].all()), (plan, warm, res["converged"].values)


def test_warm_start_matches_cold_start(library_runs):
    plans = sorted({p for p, _ in library_runs})
    for plan in plans:
        warm, cold = library_runs[plan, True], library_runs[plan, False]
        for var in ("x", "va", "essential"):
            np.testing.assert_allclose(warm[var].values, cold[var].values,
                                       rtol=WARM_COLD_RTOL, atol=1e-9 * float(
                                           cold[f"{var}_baseline"].max()),
                                       err_msg=f"{plan}: {var} warm vs cold")


def test_no_plan_zeroes_a_critical_supply(library_runs):
    base = _national(library_runs["none", False])
    for (plan, warm), res in library_runs.items():
        got = _national(res)
        kept = base["csr"] > 1e-6
        zeroed = kept & (got["csr"] <= 1e-6)
        assert not zeroed.any(), (
            f"plan {plan} (warm={warm}) zeroes critical supply of "
            f"{[(str(res['scenario'].values[i]), base['products'][j]) for i, j in zip(*np.nonzero(zeroed))]}")


#: Known crowding out beyond PLAN_HARM_TOL under the central recipe, {(plan, scenario, what):
#: largest accepted drop}. Empty since the calibrated china31 (issue 15): the one earlier case,
#: western-energy-reserve under sichuan-earthquake lowering national gas supply by 0.8 pp, fell
#: under 0.5 pp once interprovincial trade was fitted. A new case fails.
KNOWN_HARM: dict[tuple[str, str, str], float] = {}


def test_no_plan_does_harm_beyond_tolerance(library_runs):
    """Central recipe (the default): a plan never lowers national value added or a product's
    national critical supply by more than 0.5 pp, except the documented KNOWN_HARM cases."""
    base = _national(library_runs["none", False])
    found = []
    for (plan, warm), res in library_runs.items():
        if warm:
            continue
        got = _national(res)
        scen = [str(s) for s in res["scenario"].values]
        for i, drop in enumerate(base["va"] - got["va"]):
            if drop > PLAN_HARM_TOL:
                found.append((plan, scen[i], "value added", float(drop)))
        drops = base["csr"] - got["csr"]
        for i, j in zip(*np.nonzero(drops > PLAN_HARM_TOL)):
            found.append((plan, scen[i], got["products"][j], float(drops[i, j])))
    print("\nplan harm beyond 0.5 pp:", found)
    for plan, scen, what, drop in found:
        limit = KNOWN_HARM.get((plan, scen, what))
        assert limit is not None and drop <= limit, (plan, scen, what, round(drop, 4))


def test_band_orders_low_central_high(china31):
    """On every shipped scenario (no plan): strict cascade <= central <= coordinated optimum
    for national output and value added (the band brackets its centre)."""
    from stresstest.band import run_band

    for s in list_scenarios():
        band = run_band(china31, s["name"])
        for var in ("x", "va"):
            share = (band[var].sum(["region", "sector"])
                     / band[f"{var}_baseline"].sum()).to_series()
            assert share["low"] <= share["central"] + 1e-9, (s["name"], var, share.to_dict())
            assert share["central"] <= share["high"] + 1e-6, (s["name"], var, share.to_dict())
