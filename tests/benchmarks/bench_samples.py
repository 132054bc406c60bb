"""Benchmark of sampled bands (issue 13: "200-sample band for a 5-plan report <= 30 s"):
``run_samples`` on china31 for a shipped scenario with every shipped plan (and no plan), the
batched path and, on fewer draws, the plain path (every draw its own run); time per draw and
per run, and where the time goes (compiling the draws, the batched solves).

    python tests/benchmarks/bench_samples.py [--samples 200] [--plain 20] [--scenario S]
        [--scheduler local] [--threads N] [--use-threads] [--no-peer] [--repeat 3]

The batched band is timed ``--repeat`` times (median reported, every time printed; the bands
must be identical).

The band has no peer; as a reference for the host's speed (which moves by up to 1.9x between
sessions here) the script also times pymrio's ``calc_all`` on the same table (median of
three) and states the band in units of it.
"""

from __future__ import annotations

import argparse
import statistics
import time

from stresstest.economy import load_economy
from stresstest.ensemble import _worker_kind, check_threads
from stresstest.plan import list_plans
from stresstest.cli import _markdown_section
from stresstest.report.samples import sample_section
from stresstest.sampling import run_samples, sample_table
from stresstest.scenario import compile_scenario, load_scenario


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--plain", type=int, default=20)
    ap.add_argument("--scenario", default="coastal-blockade")
    ap.add_argument("--scheduler", default=None)
    ap.add_argument("--threads", type=int, default=None,
                    help="workers in process (default: every available core)")
    ap.add_argument("--use-threads", dest="processes", action="store_const", const=False,
                    default=None, help="threads instead of forked processes")
    ap.add_argument("--no-peer", dest="peer", action="store_false",
                    help="skip the pymrio calc_all reference")
    ap.add_argument("--repeat", type=int, default=3,
                    help="batched bands to time (the median is reported; each must give the "
                         "same numbers)")
    args = ap.parse_args(argv)
    eco = load_economy("china31")
    plans = [p["name"] for p in list_plans() if p["name"] != "none"]
    runs = len(plans) + 1
    sc = load_scenario(args.scenario)
    t = time.perf_counter()
    for _ in range(10):
        compile_scenario(sc, eco)
    compile_s = (time.perf_counter() - t) / 10
    rows = []
    times, s = [], None
    for _ in range(max(args.repeat, 1)):
        t = time.perf_counter()
        band = run_samples(eco, sc, plans, samples=args.samples, seed=0,
                           scheduler=args.scheduler, threads=args.threads,
                           processes=args.processes)
        times.append(time.perf_counter() - t)
        if s is not None and not band.identical(s):
            raise SystemExit("the repeated bands differ")
        s = band
    dt = statistics.median(times)
    where = (args.scheduler if args.scheduler else
             f"in process, {_worker_kind(check_threads(args.threads), args.processes)}")
    rows.append((f"batched ({where}), median of {len(times)}", args.samples, dt))
    if args.plain:
        t = time.perf_counter()
        run_samples(eco, sc, plans, samples=args.plain, seed=0, batched=False)
        rows.append(("plain", args.plain, time.perf_counter() - t))
    print(f"{args.scenario}: {runs} runs per draw (no plan + {len(plans)} shipped plans); "
          f"compiling one draw {1000 * compile_s:.0f} ms; batched bands "
          f"{', '.join(f'{v:.1f}' for v in times)} s")
    print("| path | draws | time | per draw | per run | 200 draws at this rate |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, n, dt in rows:
        print(f"| {name} | {n} | {dt:.1f} s | {dt / n:.2f} s | {1000 * dt / n / runs:.0f} ms | "
              f"{200 * dt / n:.0f} s |")
    if args.peer:
        peer = _pymrio_calc_all(eco)
        if peer is not None:
            print(f"\nhost reference: pymrio calc_all on china31 {peer:.3f} s (median of 3); "
                  f"the batched band = {rows[0][2] / peer:.0f}x that")
    df = sample_table(s)
    print("\n" + df[["output_share_q5", "output_share_q50", "output_share_q95",
                     "p_first"]].to_string(float_format=lambda v: f"{v:.3f}"))
    print("\n".join(_markdown_section(sample_section(s, eco))))


def _pymrio_calc_all(eco, runs=3):
    """Median seconds of pymrio's ``calc_all`` on ``eco`` (None without pymrio)."""
    try:
        import pymrio  # noqa: F401  (extra ``readers``)
    except ImportError:
        return None
    from bench_static import calc_all_seconds

    return statistics.median(calc_all_seconds(eco) for _ in range(runs))


if __name__ == "__main__":
    main()
