"""Benchmark of mode ``optimal`` (DESIGN.md section 9; target <= 5 s per scenario).

Cases on china31 (or ``random_economy(31, 42, density=0.6)`` when it is not built):
``coastal-blockade`` with the central and the strict recipe, a strict 30% cut of all coastal
capacity, and coastal capacity down to 70% with foreign supply of the five first products
down to 30% (central recipe). Prints the median wall and CPU time of N runs per case (caches
of the economy warmed outside the timing), the LP size and which path solved it.

    python tests/benchmarks/bench_optimal.py [--runs 3] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from stresstest.compiled import no_shock
from stresstest.economy import builtin_economies, load_economy
from stresstest.modes.optimal import run_optimal
from stresstest.testing import random_economy


def cases(eco):
    from stresstest.api import resolve_scenario

    coastal = eco["coastal"].values[:, None, None]
    cut = no_shock(eco, 30, name="coastal capacity 70%")
    cut["kappa"][:] = np.where(coastal, 0.7, 1.0)
    mixed = no_shock(eco, name="coastal capacity 70% + import cut 30%")
    mixed["kappa"][:] = np.where(coastal, 0.7, 1.0)
    mixed["alpha_M"][:5] = 0.3
    out = {"coastal capacity 70% + 5 imports at 30% (central)": (mixed, {}),
           "coastal capacity 70% (strict)": (cut, {"recipe": "strict"})}
    blockade = resolve_scenario("coastal-blockade", eco)
    out["coastal-blockade (central)"] = (blockade, {})
    out["coastal-blockade (strict)"] = (blockade, {"recipe": "strict"})
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", nargs="*", help="substrings of case names to run")
    args = ap.parse_args(argv)
    if "china31" in builtin_economies():
        eco, name = load_economy("china31"), "china31"
    else:
        eco, name = random_economy(31, 42, seed=1, density=0.6), "random 31x42"
    run_optimal(eco, no_shock(eco))  # warm caches (derive, LU) outside the timing
    print(f"optimal on {name} ({eco.sizes['region'] * eco.sizes['sector']} industries); "
          f"target 5 s")
    for label, (sh, opts) in cases(eco).items():
        if args.only and not any(s in label for s in args.only):
            continue
        wall, cpu = [], []
        for _ in range(args.runs):
            t, c = time.perf_counter(), time.process_time()
            res = run_optimal(eco, sh, **opts)
            wall.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        va = float(res.va.sum()) / float(res.va_baseline.sum())
        print(f"  {label:<52} median wall {statistics.median(wall):6.2f} s (min "
              f"{min(wall):.2f}), cpu {statistics.median(cpu):6.2f} s; "
              f"{res.attrs['n_variables']} variables, {res.attrs['nnz']} nonzeros; "
              f"{res.attrs.get('lexicographic', '')}; VA share {va:.4f}, "
              f"stage 1 {res.attrs['stage1_objective']:.6f}", flush=True)


if __name__ == "__main__":
    main()
