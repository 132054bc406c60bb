"""Benchmark of mode ``dynamic``: 365 days on the default economy (china31, or a random 31 x 42
economy when it has not been built), one scenario: coastal capacity cut 30% for 90 days plus
a 50% cut of all imports for 90 days. Prints the first (cold) run's time and the median of
the next 7 (target: <= 1 s and >= 15x BoARIO, DESIGN.md section 9) and, when boario is
installed, BoARIO's time on the same table and horizon. The first run in a process loads the
compiled kernels from numba's cache and builds the table's pooled rows (BoARIO's setup is
likewise timed apart from its loop); this host's speed moves by a fifth within minutes, hence
seven runs.

    python tests/benchmarks/bench_dynamic.py [--runs 7] [--days 365] [--no-boario]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np

from stresstest.compiled import no_shock
from stresstest.economy import builtin_economies, derive, load_economy
from stresstest.modes.dynamic import run_dynamic
from stresstest.testing import random_economy


def economy():
    if "china31" in builtin_economies():
        return "china31", load_economy("china31")
    return "random 31x42 (density 0.6)", random_economy(31, 42, seed=0, density=0.6)


def scenario(eco, days):
    sh = no_shock(eco, days, name="coastal-30pct-90d+imports-50pct")
    coastal = eco["coastal"].values.astype(bool)
    sh["kappa"][coastal, :, :90] = 0.7
    sh["alpha_M"][:, :90] = 0.5
    sh.attrs["window_end"] = 90
    return sh


def to_pymrio(eco):
    """A pymrio IOSystem of the same table (exports as a final-demand column of the producing
    region; imports folded into value added, since ARIO tables have no import row)."""
    import pandas as pd
    import pymrio

    R, S = eco.sizes["region"], eco.sizes["sector"]
    regions = [str(r) for r in eco["region"].values]
    sectors = [str(s) for s in eco["sector"].values]
    idx = pd.MultiIndex.from_product([regions, sectors], names=["region", "sector"])
    n = R * S
    Z = eco["Z"].transpose("origin", "product", "region", "sector").values.reshape(n, n)
    uses = [str(u) for u in eco["use"].values] + ["exports"]
    Yd = eco["Y"].transpose("origin", "product", "region", "use").values.reshape(n, R, -1)
    exp = eco["exports"].transpose("region", "sector").values.reshape(n)
    Y = np.concatenate([Yd, np.zeros((n, R, 1))], axis=2)
    Y[np.arange(n), np.repeat(np.arange(R), S), -1] = exp
    Y = np.maximum(Y, 0.0)  # BoARIO rejects negative final demand (inventory draw-downs)
    cols = pd.MultiIndex.from_product([regions, uses], names=["region", "category"])
    x = Z.sum(axis=1) + Y.reshape(n, -1).sum(axis=1)
    va = pd.DataFrame((x - Z.sum(axis=0))[None, :], index=["value added"], columns=idx)
    io = pymrio.IOSystem(Z=pd.DataFrame(Z, index=idx, columns=idx),
                         Y=pd.DataFrame(Y.reshape(n, -1), index=idx, columns=cols),
                         x=pd.DataFrame(x, index=idx, columns=["indout"]))
    io.factor_inputs = pymrio.Extension("factor_inputs", F=va)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        io.calc_system()
    return io


def bench_boario(eco, days):
    import pandas as pd
    from boario.event import from_series
    from boario.extended_models import ARIOPsiModel
    from boario.simulation import Simulation

    io = to_pymrio(eco)
    coastal = [str(r) for r, c in zip(eco["region"].values, eco["coastal"].values) if c]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        model = ARIOPsiModel(io, alpha_max=1.25, alpha_tau=365, main_inv_dur=30,
                             inventory_restoration_tau=10, monetary_factor=1)
        sim = Simulation(model, n_temporal_units_to_sim=days)
        impact = pd.Series(0.3, index=pd.MultiIndex.from_tuples(
            [(r, s) for r in coastal for s in map(str, eco["sector"].values)]))
        sim.add_event(from_series(impact, event_type="arbitrary", occurrence=1, duration=90,
                                  recovery_tau=1))
        t1 = time.perf_counter()
        sim.loop()
        t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--no-boario", action="store_true")
    args = ap.parse_args(argv)
    name, eco = economy()
    n = eco.sizes["region"] * eco.sizes["sector"]
    t = time.perf_counter()
    d = derive(eco)
    print(f"economy: {name}, {n} industries, nnz(A) = {d.A.nnz:,}; "
          f"derive {time.perf_counter() - t:.2f} s")
    sh = scenario(eco, args.days)
    t = time.perf_counter()
    run_dynamic(eco, sh)
    print(f"first (cold) run: {time.perf_counter() - t:.2f} s")
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        res = run_dynamic(eco, sh)
        times.append(time.perf_counter() - t)
    x = res["x"].sum(["region", "sector"]).values / float(res["x_baseline"].sum())
    loss = 1 - x.mean()
    print(f"stresstest dynamic, {args.days} days: median {statistics.median(times):.2f} s over "
          f"{args.runs} runs ({', '.join(f'{s:.2f}' for s in times)}); "
          "target <= 1 s, >= 15x BoARIO")
    print(f"  output loss over the horizon {loss:.4%}; trough {1 - x.min():.2%} on day "
          f"{int(x.argmin())}")
    if not args.no_boario:
        try:
            import boario  # noqa: F401
        except ImportError:
            print("boario not installed: skipped")
            return
        setup, loop = bench_boario(eco, args.days)
        print(f"BoARIO (ARIOPsiModel, capacity cut only), {args.days} days: setup {setup:.2f} s, "
              f"loop {loop:.2f} s")


if __name__ == "__main__":
    main()
