"""Helpers shared by the economy readers (file checks, label checks, balancing)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import EconomyError, InputError


def existing_file(path, what: str) -> Path:
    """``Path(path)`` or :class:`InputError` naming the file when it is missing."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such {what} file")
    if not p.is_file():
        raise InputError(f"{p}: not a file (expected a {what} file)")
    return p


def check_unique(labels, what: str, source: str) -> None:
    """Raise :class:`EconomyError` when ``labels`` repeat."""
    labels = [str(v) for v in labels]
    uniq, counts = np.unique(labels, return_counts=True)
    if (counts > 1).any():
        raise EconomyError(f"{source}: duplicate {what} labels: "
                           f"{', '.join(map(str, uniq[counts > 1][:5]))}")


def check_finite(arr: np.ndarray, labels, what: str, source: str) -> None:
    """Raise :class:`EconomyError` naming the first cells of ``arr`` that are NaN/inf.

    ``labels`` is a callable mapping a tuple index of ``arr`` to a text.
    """
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = np.argwhere(bad)[:3]
        cells = "; ".join(labels(tuple(i)) for i in idx)
        raise EconomyError(f"{source}: {what} has {int(bad.sum())} NaN/empty or infinite "
                           f"cell(s), first at {cells}")


def check_nonnegative(arr: np.ndarray, labels, what: str, source: str) -> None:
    """Raise :class:`EconomyError` naming the most negative cells of ``arr``."""
    neg = arr < 0
    if neg.any():
        idx = np.argwhere(neg)
        order = np.argsort(arr[neg], kind="stable")[:3]
        cells = "; ".join(f"{labels(tuple(idx[k]))} = {arr[tuple(idx[k])]:.6g}" for k in order)
        raise EconomyError(f"{source}: {what} has {int(neg.sum())} negative cell(s): {cells}")


def check_residual(resid: np.ndarray, x: np.ndarray, rtol: float, labels, what: str,
                   source: str) -> None:
    """Raise :class:`EconomyError` where ``|resid| > rtol * |x| + 1e-12 * Σ|x|``."""
    scale = rtol * np.abs(x) + 1e-12 * float(np.abs(x).sum())
    bad = np.abs(resid) > scale
    if bad.any():
        rel = np.abs(resid) / np.maximum(np.abs(x), 1e-300)
        idx = np.flatnonzero(bad.reshape(-1))
        idx = idx[np.argsort(-rel.reshape(-1)[idx], kind="stable")][:3]
        cells = "; ".join(
            f"{labels(np.unravel_index(i, resid.shape))}: residual {resid.reshape(-1)[i]:.6g} "
            f"of {x.reshape(-1)[i]:.6g}" for i in idx)
        raise EconomyError(f"{source}: {what} misses by more than rtol={rtol:g} at "
                           f"{int(bad.sum())} industr{'y' if bad.sum() == 1 else 'ies'}: {cells}")


def zero_rounding_noise(arr: np.ndarray, x_rows: np.ndarray, rtol: float):
    """Set negatives no larger than ``rtol * 1e-6`` of the row's output to zero.

    ``arr`` is ``(n, ...)`` and ``x_rows`` ``(n,)``. Returns ``(array, count)``; larger
    negatives are left for the caller to reject.
    """
    bound = (rtol * 1e-6 * np.abs(x_rows)).reshape((-1,) + (1,) * (arr.ndim - 1))
    noise = (arr < 0) & (arr >= -bound)
    if noise.any():
        arr = np.where(noise, 0.0, arr)
    return arr, int(noise.sum())
