r"""The production recipe in numbers: which inputs bind, input inventories over a window,
spare capacity and ramps (pure numpy; the parameters and their sources are in
:mod:`stresstest.recipe`).

Industries ``j`` on the stacked ``(region, sector)`` axis, products ``p``.
"""

from __future__ import annotations

import numpy as np


def threshold_classes(share, critical_threshold, half_critical_threshold):
    """Critical and half-critical input masks (P, n) from input shares of output ``a + AM``:
    critical from ``critical_threshold``, half-critical from ``half_critical_threshold`` below
    it; an input not used (share 0) is neither. The *strict* recipe's rule."""
    used = share > 0
    crit = used & (share >= critical_threshold)
    return crit, used & (share >= half_critical_threshold) & ~crit


def rated_classes(rating, share, sector_of, materiality):
    """Critical and half-critical ("important") input masks (P, n) from ratings.

    ``rating[p, s]`` in {0, 0.5, 1} for input product ``p`` and using sector ``s`` (1:
    production stops without it; 0.5: important, binds as ``(1 + availability) / 2``; 0:
    not needed in the short run); ``share`` (P, n) input shares of output ``a + AM``;
    ``sector_of`` (n) sector of each industry. An input below ``materiality`` of output never
    binds (a rating of an aggregate input is about its bulk, not about a trace of it)."""
    r = np.asarray(rating, dtype=float)[:, np.asarray(sector_of)]
    material = share >= materiality
    material &= share > 0
    return material & (r >= 1.0), material & (r == 0.5)


def ramp_average(ramp_days, window_days):
    """Average availability over a window of ``window_days`` of something that ramps up
    linearly from 0 on day 0 to full on day ``ramp_days``:
    ``1 - L / (2T)`` when ``L <= T``, else ``T / (2L)``; 1 when ``L = 0``. Broadcasts."""
    L = np.asarray(ramp_days, dtype=float)
    T = np.maximum(np.asarray(window_days, dtype=float), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(L <= T, 1.0 - L / (2.0 * T), T / (2.0 * np.where(L > 0, L, 1.0)))
    return np.where(L > 0, out, 1.0)


def window_inventory_cover(inventory_days, window_days):
    """Share of a window's input need that an input stock of ``inventory_days`` of use covers
    on average: a stock of ``n`` days drawn to fill a daily shortfall ``1 - s`` lasts
    ``n / (1 - s)`` days, so over ``T`` days the average availability is
    ``min(1, s + n / T)``; this returns ``n / T`` (to add to ``s``). Broadcasts."""
    return np.asarray(inventory_days, dtype=float) / np.maximum(
        np.asarray(window_days, dtype=float), 1.0)


def capacity_with_spare(x0, kappa, spare, standby=0.0, tol=1e-12):
    """Capacity ``x̄`` (n, ...) of the average day: an industry whose capacity no event cuts
    (``kappa >= 1``) can raise output by its spare capacity ``spare`` (share of baseline output,
    already ramp-averaged); one hit by an event makes at most ``kappa x0`` (an event says how
    much of its baseline output it can still make; its idle capacity is lost with it).
    Standby capacity (a plan's) adds on top."""
    x0 = np.asarray(x0, dtype=float)
    kappa = np.asarray(kappa, dtype=float)
    x0b = x0.reshape(x0.shape + (1,) * (kappa.ndim - x0.ndim))
    spare = np.asarray(spare, dtype=float)
    spare = spare.reshape(spare.shape + (1,) * (kappa.ndim - spare.ndim))
    cap = np.where(kappa >= 1.0 - tol, x0b * (np.maximum(kappa, 1.0) + spare), kappa * x0b)
    return cap + standby


def spare_share(utilisation):
    """Spare capacity as a share of output, ``1 / u - 1``, from capacity utilisation ``u``."""
    u = np.asarray(utilisation, dtype=float)
    return np.where(u > 0, 1.0 / np.where(u > 0, u, 1.0) - 1.0, 0.0)
