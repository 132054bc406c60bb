"""Benchmark of the backup siting optimiser (issue 14's "done when") on china31.

1. For each shipped plan: the optimiser's portfolio at that plan's annual cost against the
   plan itself, by the optimiser's objective (value added saved plus essential supply
   secured, central estimate, equal weights over the scenarios).
2. ``--random N`` random portfolios of the same cost (default 200): the share the optimiser
   beats.
3. Runtime of ``site`` with 3 scenarios at three-tasks-balanced's cost (median of ``--runs``).

    python tests/benchmarks/bench_site.py [--random 200] [--runs 1] [--scenarios all|a,b,c]
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import time

import numpy as np

from stresstest.api import resolve_plan
from stresstest.economy import load_economy
from stresstest.metrics import plan_cost
from stresstest.plan import list_plans
from stresstest.scenario import builtin_scenarios

S = importlib.import_module("stresstest.site")  # the module (st.site is the function)

RUNTIME_SCENARIOS = ("coastal-blockade", "energy-import-cutoff", "sichuan-earthquake")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--random", type=int, default=200)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--scenarios", default="all")
    ap.add_argument("--plans", default="all")
    args = ap.parse_args(argv)
    eco = load_economy("china31")
    scenarios = (sorted(builtin_scenarios()) if args.scenarios == "all"
                 else args.scenarios.split(","))
    plans = [p["name"] for p in list_plans() if p["name"] != "none"]
    if args.plans != "all":
        plans = args.plans.split(",")
    cands = S.default_candidates(eco)
    unit_cost = {c: plan_cost(S._compile(eco, "unit", {c: 1})[0]) for c in cands}
    print(f"scenarios ({len(scenarios)}): {', '.join(scenarios)}; {len(cands)} candidates")
    rows = []
    for name in plans:
        budget = plan_cost(resolve_plan(name, eco))
        J_plan, _ = S.portfolio_objective(eco, scenarios, name)
        t = time.perf_counter()
        got = S.site(eco, scenarios, budget)
        t_site = time.perf_counter() - t
        randoms = []
        t = time.perf_counter()
        for seed in range(args.random):
            units = S.random_portfolio(cands, unit_cost, budget, seed)
            randoms.append(S.portfolio_objective(eco, scenarios, units)[0] if units else 0.0)
        t_rand = time.perf_counter() - t
        randoms = np.array(randoms)
        beats = float((got.objective >= randoms).mean()) if randoms.size else float("nan")
        rows.append((name, budget, J_plan, got.objective, got.cost, len(got.steps), t_site,
                     beats, float(np.median(randoms)) if randoms.size else float("nan"),
                     float(randoms.max()) if randoms.size else float("nan"), t_rand))
        print(f"  {name}: done ({t_site:.0f} s site, {t_rand:.0f} s random)", flush=True)
    print()
    print("| shipped plan | annual cost | objective of the plan | optimiser at that cost "
          "(cost spent, picks) | optimiser / plan | beats random portfolios | random median "
          "/ best | site time |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for (name, budget, Jp, Jo, spent, picks, ts, beats, med, best, tr) in rows:
        print(f"| {name} | {budget:,.1f} | {Jp:,.1f} | {Jo:,.1f} ({spent:,.1f}, {picks}) | "
              f"{Jo / Jp if Jp > 0 else float('nan'):.2f} | {100 * beats:.1f}% of "
              f"{args.random} | {med:,.1f} / {best:,.1f} | {ts:.0f} s |")
    budget = plan_cost(resolve_plan("three-tasks-balanced", eco))
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        S.site(eco, list(RUNTIME_SCENARIOS), budget)
        times.append(time.perf_counter() - t)
    print(f"\nsite, 3 scenarios ({', '.join(RUNTIME_SCENARIOS)}), budget {budget:,.1f} "
          f"(three-tasks-balanced): median {statistics.median(times):.1f} s of {args.runs}")


if __name__ == "__main__":
    main()
