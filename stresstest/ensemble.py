"""Ensembles: many shock scenarios against one economy and plan, locally or on dask.distributed.

Scenarios are solved in chunks; each chunk is one call of the batched ``rationing`` kernel
(right-hand-side blocks of the economy's single factorisation of ``I − A``). With
``scheduler=None`` the chunks run in this process, on ``threads`` threads
(:func:`run_in_process`: the solver's kernels release the GIL); with a dask.distributed
scheduler address (``"tcp://host:8786"``), ``"local"`` (a :class:`distributed.LocalCluster`
on this machine) or a ``distributed.Client``, the economy is scattered once to the workers
and the chunks run there.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, ThreadPoolExecutor, wait

import numpy as np
import xarray as xr

from .errors import InputError


def available_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def check_threads(threads, where: str = "threads") -> int:
    """``threads`` as a whole number >= 1; None: :func:`available_cores`."""
    if threads is None:
        return available_cores()
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise InputError(f"{where} must be a whole number >= 1, got {threads!r}")
    return int(threads)


def fork_context():
    """The ``fork`` start method of :mod:`multiprocessing` on Linux, else None: forked
    workers inherit the parent's inputs and caches (economies, factorisations, compiled
    kernels) without copying them."""
    import multiprocessing as mp

    if sys.platform != "linux" or "fork" not in mp.get_all_start_methods():
        return None
    return mp.get_context("fork")


#: ``(fn, jobs)`` of the forked run in progress: its workers inherit it at the fork.
_FORKED: tuple | None = None
_FORK_LOCK = threading.Lock()
#: True in a forked worker: a nested parallel run there runs its jobs in turn.
_IN_WORKER = False


def _worker_start():
    """A forked worker ignores Ctrl-C (the parent stops it) and forks no workers itself."""
    global _IN_WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _IN_WORKER = True


def _forked_job(k):
    fn, jobs = _FORKED
    return fn(*jobs[k])


def _wait_all(futures, done=None) -> list:
    """The futures' results in order; short waits, so that Ctrl-C reaches this thread. The
    first error (or Ctrl-C) is raised at once. ``done(k, result)`` is called in this thread
    as the ``k``-th future finishes."""
    from .interrupt import cancelled

    index = {f: k for k, f in enumerate(futures)}
    pending = futures
    while pending:
        if cancelled():
            raise KeyboardInterrupt
        finished, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
        if any(f.exception() is not None for f in finished):
            break
        if done is not None:
            for f in sorted(finished, key=index.get):
                done(index[f], f.result())
    return [f.result() for f in futures]


def _release_result_reader(pool) -> None:
    """Close this process's write end of ``pool``'s result pipe after its workers were
    stopped.

    A worker stopped in the middle of sending a result leaves the pool's manager thread
    blocked in ``recv`` on the half-sent message, and ``concurrent.futures`` joins that thread
    without a timeout when the interpreter exits: the process would hang after Ctrl-C. With
    every write end closed the ``recv`` ends (EOF), the manager marks the pool broken and
    returns."""
    writer = getattr(getattr(pool, "_result_queue", None), "_writer", None)
    if writer is not None:
        try:
            writer.close()
        except OSError:  # pragma: no cover - already closed
            pass


def _run_forked(ctx, fn, jobs, workers, done=None) -> list:
    """``[fn(*job) for job in jobs]`` on ``workers`` forked processes (:func:`fork_context`);
    on an error or Ctrl-C the workers are stopped at once."""
    import multiprocessing as mp
    import warnings

    global _FORKED
    before = set(mp.active_children())
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_start)
    try:
        with _FORK_LOCK, warnings.catch_warnings():
            # Python >= 3.12 warns that forking a process with threads may deadlock the
            # child; the threads here are idle (BLAS pools) or this package's (a waiting
            # main thread), and the child runs only this package's numerical code
            warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*fork")
            _FORKED = (fn, jobs)
            try:
                futures = [pool.submit(_forked_job, k) for k in range(len(jobs))]
            finally:
                _FORKED = None
        out = _wait_all(futures, done)
    except BaseException:
        ours = set(mp.active_children()) - before
        for proc in ours:
            proc.terminate()
        for proc in ours:
            proc.join(1.0)
        _release_result_reader(pool)
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return out


def _fork_for(processes):
    """The fork context :func:`run_in_process` runs its workers in for ``processes`` (None:
    where the platform forks), or None for threads."""
    ctx = fork_context() if processes is None or processes else None
    if processes and ctx is None:
        raise InputError("processes=True needs the 'fork' start method (Linux); use threads")
    return ctx


def _worker_kind(threads: int, processes) -> str:
    """How :func:`run_in_process` runs: ``"2 processes"``, ``"2 threads"``."""
    forked = threads > 1 and _fork_for(processes) is not None
    return f"{threads} {'processes' if forked else 'threads'}"


def run_in_process(fn, jobs, threads=None, warm=None, processes=None, done=None) -> list:
    """``[fn(*job) for job in jobs]`` on ``threads`` parallel workers (None: every available
    core), without a scheduler.

    The workers are forked processes where :func:`fork_context` allows it (Linux) unless
    ``processes`` is False, else threads of this process. Processes scale where threads do
    not: the order rounds' Python-level bookkeeping holds the GIL (a 200-draw band on two
    cores: 1.2-1.6x faster than one on two threads, 1.9x on two processes). Forked workers
    inherit the inputs and caches, so nothing is copied to them; they return results by
    pickling.

    The answers are the same for any ``threads`` and either kind of worker (tests check it;
    the dense LU solves, whose last bits vary when two threads are in OpenBLAS at once, run
    one at a time: :data:`stresstest.economy._LAPACK_SOLVE`). Before threads start, ``warm``
    (arguments of a small job whose result is discarded, e.g. one scenario) or else the
    first job runs alone: it fills the per-economy caches (derived table, factorisation,
    pooled rows, compiled kernels) the threads share; ``warm=False``: none (jobs that fill no
    shared cache). Worker processes start at once and
    fill their own (a band's warm-up draw took 1.7 s on its own before them). After Ctrl-C
    (:mod:`stresstest.interrupt`) jobs that have not started raise ``KeyboardInterrupt``
    (threads) or the worker processes are stopped; on an error, jobs not yet started are
    dropped. ``done(k, result)`` is called in the calling thread as job ``k`` finishes (e.g. to
    show progress)."""
    from .interrupt import cancelled

    def job(args):
        if cancelled():
            raise KeyboardInterrupt
        return fn(*args)

    def in_turn(k, args):
        out = job(args)
        if done is not None:
            done(k, out)
        return out

    threads = check_threads(threads)
    jobs = list(jobs)
    if threads == 1 or len(jobs) <= 1 or _IN_WORKER:
        return [in_turn(k, j) for k, j in enumerate(jobs)]
    ctx = _fork_for(processes)
    if ctx is not None:  # each worker fills its own caches, in parallel
        return _run_forked(ctx, fn, jobs, min(threads, len(jobs)), done)
    if warm is None:
        out, rest = [in_turn(0, jobs[0])], jobs[1:]
    else:
        if warm is not False:
            job(warm)
        out, rest = [], jobs
    pool = ThreadPoolExecutor(min(threads, len(rest)))
    try:
        return out + _wait_all([pool.submit(job, j) for j in rest], None if done is None else
                               lambda k, r: done(k + len(out), r))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def random_shocks(economy: xr.Dataset, n: int, seed: int = 0, capacity_prob: float = 0.1,
                  max_capacity_cut: float = 0.5, import_prob: float = 0.2,
                  max_import_cut: float = 0.5) -> xr.Dataset:
    """``n`` seeded random scenarios as one compiled shock with a ``scenario`` dim (one day).

    Each region-sector loses a uniform ``[0, max_capacity_cut]`` share of capacity with
    probability ``capacity_prob``; each product's foreign supply falls by a uniform
    ``[0, max_import_cut]`` share with probability ``import_prob``.
    """
    from .compiled import no_shock

    if n < 1:
        raise InputError(f"random_shocks: n must be >= 1, got {n}")
    for name, val in (("capacity_prob", capacity_prob), ("max_capacity_cut", max_capacity_cut),
                      ("import_prob", import_prob), ("max_import_cut", max_import_cut)):
        if not 0 <= val <= 1:
            raise InputError(f"random_shocks: {name}={val} is outside [0, 1]")
    rng = np.random.default_rng(seed)
    R, S = economy.sizes["region"], economy.sizes["sector"]
    kappa = 1 - rng.uniform(0, max_capacity_cut, (R, S, 1, n)) * (
        rng.uniform(size=(R, S, 1, n)) < capacity_prob)
    alpha = 1 - rng.uniform(0, max_import_cut, (S, 1, n)) * (
        rng.uniform(size=(S, 1, n)) < import_prob)
    base = no_shock(economy, 1, name=f"random-{seed}")
    ens = base.expand_dims(scenario=np.arange(n)).transpose(..., "scenario").copy()
    ens["kappa"] = (("region", "sector", "time", "scenario"), kappa)
    ens["alpha_M"] = (("product", "time", "scenario"), alpha)
    ens["alpha_route"] = ens["alpha_route"] * ens["alpha_M"].expand_dims(
        route=ens["route"].values).transpose("product", "route", "time", "scenario")
    ens.attrs["seed"] = seed
    return ens


def _chunks(shocks, size):
    if isinstance(shocks, xr.Dataset) and "scenario" in shocks.dims:
        n = shocks.sizes["scenario"]
        return [shocks.isel(scenario=slice(lo, lo + size)) for lo in range(0, n, size)]
    shocks = list(shocks)
    return [shocks[lo:lo + size] for lo in range(0, len(shocks), size)]


def _first(chunk):
    """The first scenario of a chunk, as a chunk."""
    if isinstance(chunk, xr.Dataset):
        return chunk.isel(scenario=slice(0, 1))
    return chunk[:1]


def _run_chunk(economy, chunk, plan, options):
    from .modes.rationing import run_rationing_batch

    return run_rationing_batch(economy, chunk, plan, **options)


def _client(scheduler):
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - optional dependency
        raise InputError("scheduler given but dask.distributed is not installed "
                         "(pip install 'stresstest[scale]')") from None
    if hasattr(scheduler, "submit"):
        return scheduler, False
    if scheduler == "local":
        return Client(local_cluster()), True
    return Client(str(scheduler)), True


#: Environment variables dask's nanny sets in the workers it starts that stresstest's clusters
#: leave unset: ``MALLOC_TRIM_THRESHOLD_=65536`` makes glibc return freed memory at once (and
#: fixes its mmap threshold), so every large temporary array of the order rounds is mapped
#: afresh; the rounds ran at half speed (256 random china31 scenarios: 18.3 s instead of 10.0 s
#: in one process with the variable set).
UNSET_WORKER_ENVIRON = ("MALLOC_TRIM_THRESHOLD_",)


def local_cluster(**kwargs):
    """A :class:`distributed.LocalCluster` of one-thread worker processes whose environment
    keeps glibc's default memory reuse (:data:`UNSET_WORKER_ENVIRON`). A cluster started
    elsewhere should leave it out of ``distributed.nanny.pre-spawn-environ`` too."""
    import dask
    from distributed import LocalCluster

    key = "distributed.nanny.pre-spawn-environ"
    environ = {k: v for k, v in (dask.config.get(key, None) or {}).items()
               if k not in UNSET_WORKER_ENVIRON}
    with dask.config.set({key: environ}):
        return LocalCluster(**{"processes": True, "threads_per_worker": 1, **kwargs})


def run_ensemble(economy: xr.Dataset, shocks, plan: xr.Dataset | None = None, *,
                 scheduler=None, chunk_size: int = 64, threads=None, processes=None,
                 **options) -> xr.Dataset:
    """Run the ``rationing`` mode on many scenarios; a Result with a ``scenario`` dim.

    ``shocks``: a compiled shock with a ``scenario`` dim (e.g. :func:`random_shocks`) or a list
    of compiled shocks; ``plan``: a compiled plan or None; ``options``: rationing options;
    ``threads``: parallel workers without a scheduler (``scheduler=None``; None: every
    available core), forked processes on Linux unless ``processes`` is False, else threads
    (:func:`run_in_process`).
    """
    if chunk_size < 1:
        raise InputError(f"run_ensemble: chunk_size must be >= 1, got {chunk_size}")
    threads = check_threads(threads, "run_ensemble: threads")
    chunks = _chunks(shocks, chunk_size)
    if not chunks:
        raise InputError("run_ensemble: no scenarios")
    if scheduler is None:
        parts = run_in_process(_run_chunk, [(economy, c, plan, options) for c in chunks],
                               threads, warm=(economy, _first(chunks[0]), plan, options),
                               processes=processes)
    else:
        client, own = _client(scheduler)
        try:
            eco_f = client.scatter(economy, broadcast=True, hash=False)
            plan_f = client.scatter(plan, broadcast=True, hash=False) if plan is not None else None
            futures = [client.submit(_run_chunk, eco_f, c, plan_f, options, pure=False)
                       for c in chunks]
            parts = client.gather(futures)
        finally:
            if own:
                client.close()
    names = np.concatenate([p["scenario"].values for p in parts])
    out = xr.concat(parts, dim="scenario", data_vars="minimal", coords="minimal",
                    compat="override", join="override")
    out = out.assign_coords(scenario=np.arange(names.size) if isinstance(
        shocks, xr.Dataset) else names)
    out.attrs.update(parts[0].attrs)
    out.attrs["iterations"] = int(max(p.attrs["iterations"] for p in parts))
    if "converged" in out:
        out.attrs["not_converged"] = int((~out["converged"].values.astype(bool)).sum())
    out.attrs["chunks"] = len(parts)
    out.attrs["scheduler"] = f"in-process ({_worker_kind(threads, processes)})" if (
        scheduler is None) else str(
        getattr(scheduler, "scheduler", scheduler))
    return out
