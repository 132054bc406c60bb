"""Benchmarks of the static modes (a script, not collected by pytest).

    python tests/benchmarks/bench_static.py [--runs N] [--only NAME ...]

Prints one row per case: median and min wall time of N runs and the peak memory, measured
as the growth of the process's maximum resident set size (``resource.getrusage`` maxrss,
kB on Linux) over the case — a lower bound on the case's own peak. Cases are registered in
``CASES`` with :func:`case`; other modes append their own (e.g. an ``optimal`` section).
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import time

import numpy as np

CASES: dict = {}


def case(name: str, target: str = "", runs: int | None = None, peer: str | None = None):
    """Register ``fn() -> None`` as a timed case; ``peer``: the case it is compared with (its
    median ratio to the peer's, measured in the same run, is printed)."""
    def deco(fn):
        CASES[name] = {"fn": fn, "target": target, "runs": runs, "peer": peer}
        return fn
    return deco


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --------------------------------------------------------------------------- economies


def default_economy():
    """china31 if built, else the 31 x 42 random stand-in."""
    from stresstest.economy import builtin_economies, load_economy
    from stresstest.testing import random_economy

    if "china31" in builtin_economies():
        return load_economy("china31"), "china31"
    return random_economy(31, 42, seed=0, density=0.6), "random 31x42"


def sparse_economy(R=49, S=200, seed=0, products_per_column=30, origins_per_product=5):
    """An EXIOBASE-sized economy built from a sparse A (each column uses
    ``products_per_column`` products from the home region and ``origins_per_product - 1``
    others); the Dataset itself is dense, as the schema requires."""
    import scipy.sparse as sp
    from stresstest.economy import make_economy

    rng = np.random.default_rng(seed)
    n = R * S
    cols = np.arange(n)
    rows, cs, vals = [], [], []
    for k in range(products_per_column):
        p = rng.integers(0, S, n)
        for m in range(origins_per_product):
            o = np.where(m == 0, cols // S, rng.integers(0, R, n))
            rows.append(o * S + p)
            cs.append(cols)
            vals.append(rng.uniform(0.2, 1.0, n) * (3.0 if m == 0 else 1.0))
    A = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cs))),
                      shape=(n, n))
    A = A @ sp.diags(0.5 / np.asarray(A.sum(axis=0)).ravel())
    f = rng.uniform(20.0, 60.0, n)
    x, term = f.copy(), f  # Neumann series (SuperLU fill-in on this random pattern takes ~90 s)
    while np.abs(term).max() > 1e-14 * np.abs(f).max():
        term = A @ term
        x += term
    Z = (A @ sp.diags(x)).toarray()
    U = 2
    Y = np.zeros((n, R, U))
    Y[cols, cols // S, 0] = 0.9 * f
    exports = 0.1 * f
    M = np.zeros((S, n))
    M[rng.integers(0, S, n), cols] = 0.1 * x
    V = (x - Z.sum(axis=0) - M.sum(axis=0))[None, :]
    MY = np.zeros((S, R, U))
    return make_economy(Z.reshape(R, S, R, S), Y.reshape(R, S, R, U), exports.reshape(R, S),
                        M.reshape(S, R, S), MY, V.reshape(1, R, S), x=x.reshape(R, S),
                        regions=[f"R{r}" for r in range(R)],
                        sectors=[f"S{s}" for s in range(S)], uses=["households", "investment"],
                        components=["va"], consumption_uses=["households"],
                        region_coords={"coastal": np.arange(R) % 2 == 0})


def coastal_cut(eco, remaining=0.7, horizon=30):
    from stresstest.compiled import no_shock

    sh = no_shock(eco, horizon)
    sh["kappa"].loc[dict(region=eco["region"].values[eco["coastal"].values])] = remaining
    return sh


# --------------------------------------------------------------------------- cases

STATE: dict = {}


def _one(name, shock_of):
    from stresstest.modes.rationing import run_rationing

    if "eco" not in STATE:
        STATE["eco"], STATE["eco_name"] = default_economy()
    key = f"shock_{name}"
    if key not in STATE:
        STATE[key] = shock_of(STATE["eco"])
        run_rationing(STATE["eco"], STATE[key])  # factorisation and structure cached
    res = run_rationing(STATE["eco"], STATE[key])
    STATE[f"note_{name}"] = (f"{STATE['eco_name']}, {name}: {res.attrs['substitution_rounds']} "
                             f"order rounds, {res.attrs['iterations']} delivery-ratio steps")


def _library_shock(name):
    def make(eco):
        from stresstest.api import resolve_scenario

        return resolve_scenario(name, eco)
    return make


@case("central estimate: one scenario, coastal capacity 70%", target="<= 0.1 s, <= 0.5x peer",
      peer="pymrio calc_all on the default economy")
def bench_rationing_one():
    _one("coastal70", coastal_cut)


@case("central estimate: coastal-blockade", target="<= 0.1 s, <= 0.5x peer",
      peer="pymrio calc_all on the default economy")
def bench_rationing_blockade():
    _one("coastal-blockade", _library_shock("coastal-blockade"))


@case("central estimate: chip-import-cutoff", target="<= 0.1 s, <= 0.5x peer",
      peer="pymrio calc_all on the default economy")
def bench_rationing_chip():
    _one("chip-import-cutoff", _library_shock("chip-import-cutoff"))


def to_pymrio(eco):
    """A pymrio IOSystem of an economy (Z and domestic final use by region and use)."""
    import pandas as pd
    import pymrio

    R, S = eco.sizes["region"], eco.sizes["sector"]
    idx = pd.MultiIndex.from_product([eco["region"].values, eco["sector"].values],
                                     names=["region", "sector"])
    n = R * S
    Z = eco["Z"].transpose("origin", "product", "region", "sector").values.reshape(n, n)
    Y = eco["Y"].transpose("origin", "product", "region", "use").values.reshape(n, -1)
    cols = pd.MultiIndex.from_product([eco["region"].values, eco["use"].values],
                                      names=["region", "category"])
    return pymrio.IOSystem(Z=pd.DataFrame(Z, index=idx, columns=idx),
                           Y=pd.DataFrame(Y, index=idx, columns=cols))


def calc_all_seconds(eco) -> float:
    """Seconds of one pymrio ``calc_all`` on ``eco`` (building the frames is not timed: pymrio
    users do not time it either)."""
    import warnings

    io = to_pymrio(eco)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        io.calc_all()
    return time.perf_counter() - t0


@case("pymrio calc_all on the default economy", target="peer (Leontief inverse and accounts)")
def bench_pymrio_default():
    if "eco" not in STATE:
        STATE["eco"], STATE["eco_name"] = default_economy()
    STATE.setdefault("pymrio_times", []).append(calc_all_seconds(STATE["eco"]))


@case("band: coastal-blockade (central + strict + optimal)", target="(no target)")
def bench_band():
    from stresstest.band import run_band

    if "eco" not in STATE:
        STATE["eco"], STATE["eco_name"] = default_economy()
    band = run_band(STATE["eco"], "coastal-blockade")
    share = (band["x"].sum(["region", "sector"]) / band["x_baseline"].sum()).values
    STATE["note_band"] = ("coastal-blockade output share (central, low, high): "
                          + ", ".join(f"{v:.4f}" for v in share))


def _ensemble(scheduler, threads=None, processes=None):
    from stresstest.ensemble import random_shocks, run_ensemble

    if "eco" not in STATE:
        STATE["eco"], STATE["eco_name"] = default_economy()
    if "ens_warm" not in STATE:  # structures, factorisation, compiled kernels (as _one does)
        STATE["ens_warm"] = run_ensemble(STATE["eco"], random_shocks(STATE["eco"], 2, seed=1))
    t0 = time.perf_counter()
    shocks = random_shocks(STATE["eco"], ENSEMBLE_SIZE, seed=0)
    res = run_ensemble(STATE["eco"], shocks, scheduler=scheduler, threads=threads,
                       processes=processes)
    elapsed = time.perf_counter() - t0
    rounds = res["rounds"].values[res["converged"].values]
    STATE[f"note_ens_{scheduler}_{threads}_{processes}"] = (
        f"{ENSEMBLE_SIZE} scenarios, {res.attrs['scheduler']}: {res.attrs['not_converged']} not "
        f"converged, order rounds median {np.median(rounds):.0f}, mean {rounds.mean():.1f}, "
        f"max {rounds.max()}; {elapsed / res['rounds'].values.sum() * 1e3:.2f} ms per "
        f"scenario-round, {elapsed / ENSEMBLE_SIZE * 1e3:.1f} ms per scenario")


ENSEMBLE_SIZE = 1000


@case("central estimate: 1,000 random scenarios, in process", target="<= 15 s", runs=1)
def bench_rationing_ensemble():
    _ensemble(None)


@case("central estimate: 1,000 random scenarios, in process, threads", target="<= 15 s",
      runs=1)
def bench_rationing_ensemble_threads():
    _ensemble(None, processes=False)


@case("central estimate: 1,000 random scenarios, in process, one thread", target="<= 15 s",
      runs=1)
def bench_rationing_ensemble_one_thread():
    _ensemble(None, threads=1)


@case("central estimate: 1,000 random scenarios, dask LocalCluster (2 workers)",
      target="<= 15 s", runs=1)
def bench_rationing_ensemble_dask():
    _ensemble("local")


@case("central estimate: 9,800 industries build/validate + one scenario",
      target="<= 30 s, <= 3 GiB", runs=1, peer="pymrio calc_all on the same 9,800-industry table")
def bench_rationing_large():
    from stresstest.modes.rationing import run_rationing

    eco = sparse_economy()
    run_rationing(eco, coastal_cut(eco))
    STATE["large"] = eco


@case("pymrio calc_all on the same 9,800-industry table", target="peer", runs=1)
def bench_pymrio_large():
    import pandas as pd
    import pymrio

    eco = STATE.pop("large", None)
    if eco is None:
        eco = sparse_economy()
    R, S = eco.sizes["region"], eco.sizes["sector"]
    idx = pd.MultiIndex.from_product([eco["region"].values, eco["sector"].values],
                                     names=["region", "sector"])
    n = R * S
    Z = pd.DataFrame(eco["Z"].transpose("origin", "product", "region", "sector").values
                     .reshape(n, n), index=idx, columns=idx)
    del eco
    gc.collect()
    Y = pd.DataFrame(np.asarray(Z.sum(axis=1)) * 0 + 1.0, index=idx,
                     columns=pd.MultiIndex.from_tuples([("R0", "final")],
                                                       names=["region", "category"]))
    io = pymrio.IOSystem(Z=Z, Y=Y)
    io.calc_all()


# --------------------------------------------------------------------------- driver


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", nargs="*", help="substrings of case names to run")
    ap.add_argument("--ensemble", type=int, default=ENSEMBLE_SIZE,
                    help="scenarios in the ensemble cases (the target is for 1,000)")
    args = ap.parse_args(argv)
    globals()["ENSEMBLE_SIZE"] = args.ensemble
    rows = []
    for name, c in CASES.items():
        if args.only and not any(s in name for s in args.only):
            continue
        runs = c["runs"] or args.runs
        times = []
        gc.collect()
        rss0 = _maxrss_mib()
        for _ in range(runs):
            t0 = time.perf_counter()
            c["fn"]()
            times.append(time.perf_counter() - t0)
        peak = _maxrss_mib() - rss0
        rows.append((name, statistics.median(times), min(times), peak, c["target"]))
        print(f"{name:<72} median {statistics.median(times):8.3f} s  min {min(times):8.3f} s  "
              f"maxrss +{peak:8.1f} MiB  [{c['target']}]", flush=True)
    print()
    peer_name = "pymrio calc_all on the default economy"
    if STATE.get("pymrio_times"):  # pymrio's own calc_all time, without building its frames
        own = STATE["pymrio_times"]
        rows = [(name, statistics.median(own), min(own), *rest) if name == peer_name
                else (name, med, mn, *rest) for name, med, mn, *rest in rows]
    medians = {name: med for name, med, *_ in rows}
    print(f"{'case':<72} {'median s':>9} {'min s':>9} {'maxrss+ MiB':>12} {'x peer':>7}  target")
    for name, med, mn, peak, target in rows:
        peer = CASES[name]["peer"]
        ratio = f"{med / medians[peer]:7.2f}" if peer in medians else " " * 7
        print(f"{name:<72} {med:9.3f} {mn:9.3f} {peak:12.1f} {ratio}  {target}")
    for k in sorted(STATE):
        if k.startswith("note"):
            print(f"  {k}: {STATE[k]}")


if __name__ == "__main__":
    main()
