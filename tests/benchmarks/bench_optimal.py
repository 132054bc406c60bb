"""Benchmark of mode ``optimal`` (DESIGN.md section 9; target <= 5 s per scenario).

One scenario on china31 (or ``random_economy(31, 42, density=0.6)`` when it is not built):
coastal capacity down to 70% and foreign supply of the five first products down to 30%.
Prints the median wall and CPU time of 5 runs. Run: ``python tests/benchmarks/bench_optimal.py``.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from stresstest.compiled import no_shock
from stresstest.economy import builtin_economies, load_economy
from stresstest.modes.optimal import run_optimal
from stresstest.testing import random_economy


def main(runs: int = 5) -> None:
    if "china31" in builtin_economies():
        eco, name = load_economy("china31"), "china31"
    else:
        eco, name = random_economy(31, 42, seed=1, density=0.6), "random 31x42"
    sh = no_shock(eco, name="coastal capacity 70% + import cut 30%")
    sh["kappa"][:] = np.where(eco["coastal"].values[:, None, None], 0.7, 1.0)
    sh["alpha_M"][:5] = 0.3
    run_optimal(eco, no_shock(eco))  # warm caches (derive, LU) outside the timing
    wall, cpu = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        res = run_optimal(eco, sh)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    va = float(res.va.sum()) / float(res.va_baseline.sum())
    print(f"optimal on {name} ({eco.sizes['region'] * eco.sizes['sector']} industries, "
          f"{res.attrs['n_variables']} variables, {res.attrs['nnz']} nonzeros): "
          f"median wall {statistics.median(wall):.2f} s, cpu {statistics.median(cpu):.2f} s "
          f"(target 5 s); VA share {va:.4f}, stage 1 {res.attrs['stage1_objective']:.6f}")


if __name__ == "__main__":
    main()
