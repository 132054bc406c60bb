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
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

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


def run_in_process(fn, jobs, threads=None, warm=None) -> list:
    """``[fn(*job) for job in jobs]``, on ``threads`` threads of this process (None: every
    available core; the solver's compiled kernels and most numpy and scipy calls release the
    GIL).

    The answers are the same for any ``threads`` and from run to run (a test checks it; the
    dense LU solves, whose last bits vary when two threads are in OpenBLAS at once, run one
    at a time: :data:`stresstest.economy._LAPACK_SOLVE`). Before the threads start, ``warm``
    (arguments of a small job whose result is discarded, e.g. one scenario) or else the first
    job runs alone: it fills the per-economy caches (derived table, factorisation, pooled
    rows, compiled kernels) the others read. After Ctrl-C (:mod:`stresstest.interrupt`) jobs
    that have not started raise ``KeyboardInterrupt``; on an error, jobs not yet started are
    dropped."""
    from .interrupt import cancelled

    def job(args):
        if cancelled():
            raise KeyboardInterrupt
        return fn(*args)

    threads = check_threads(threads)
    jobs = list(jobs)
    if threads == 1 or len(jobs) <= 1:
        return [job(j) for j in jobs]
    if warm is not None:
        job(warm)
        out, rest = [], jobs
    else:
        out, rest = [job(jobs[0])], jobs[1:]
    pool = ThreadPoolExecutor(min(threads, len(rest)))
    try:
        futures = [pool.submit(job, j) for j in rest]
        pending = futures
        while pending:  # short waits, so that Ctrl-C reaches this thread
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
            if any(f.exception() is not None for f in done):
                break
        return out + [f.result() for f in futures]
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
                 scheduler=None, chunk_size: int = 64, threads=None, **options) -> xr.Dataset:
    """Run the ``rationing`` mode on many scenarios; a Result with a ``scenario`` dim.

    ``shocks``: a compiled shock with a ``scenario`` dim (e.g. :func:`random_shocks`) or a list
    of compiled shocks; ``plan``: a compiled plan or None; ``options``: rationing options;
    ``threads``: threads in process (``scheduler=None``; None: every available core).
    """
    if chunk_size < 1:
        raise InputError(f"run_ensemble: chunk_size must be >= 1, got {chunk_size}")
    threads = check_threads(threads, "run_ensemble: threads")
    chunks = _chunks(shocks, chunk_size)
    if not chunks:
        raise InputError("run_ensemble: no scenarios")
    if scheduler is None:
        parts = run_in_process(_run_chunk, [(economy, c, plan, options) for c in chunks],
                               threads, warm=(economy, _first(chunks[0]), plan, options))
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
    out.attrs["scheduler"] = f"in-process ({threads} threads)" if scheduler is None else str(
        getattr(scheduler, "scheduler", scheduler))
    return out
