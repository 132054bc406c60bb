"""What the static modes share: the average day of the shock window as numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..compiled import (NATIONAL, check_labels, no_plan, standby_by_day, window_days,
                        window_mean_variables)
from ..economy import Derived, cached, derive, stack
from ..units import DAYS_PER_YEAR


@dataclass(eq=False)
class StaticInputs:
    """The shock window's average day on the stacked industry axis (money: per year).

    ``kappa`` (n) remaining capacity share; ``standby`` (n) average available standby capacity;
    ``capacity`` (n) ``kappa * x0 + standby``; ``alpha_M`` (P) remaining foreign supply;
    ``rho`` (R, R, P) remaining interregional trade or ``None``; ``corridor`` (R, R) extra route
    capacity; ``delta`` (R, P, U) final-demand multiplier or ``None``; ``stock_rate``
    (R + 1, P) stock that can be released per year on the average day (last row: national
    stocks), ``min(stock / window, max_release) * 365``; ``window`` days in the window.
    """

    derived: Derived
    kappa: np.ndarray
    standby: np.ndarray
    capacity: np.ndarray
    alpha_M: np.ndarray
    rho: np.ndarray | None
    corridor: np.ndarray
    delta: np.ndarray | None
    stock_rate: np.ndarray
    window: int
    holders: list
    epsilon: np.ndarray | None = None

    @property
    def exports(self) -> np.ndarray:
        """Foreign demand for exports on the average day (n[, K]), money per year."""
        x = self.derived.exports
        if self.epsilon is None:
            return x if self.kappa.ndim == 1 else np.repeat(x[:, None], self.kappa.shape[1], 1)
        return x.reshape(x.shape + (1,) * (self.epsilon.ndim - 1)) * self.epsilon


def _no_plan(economy: xr.Dataset) -> xr.Dataset:
    """:func:`no_plan` of an economy, made once per economy object (read only here)."""
    return cached(economy, "no_plan", lambda: no_plan(economy))


def static_inputs(economy: xr.Dataset, shock: xr.Dataset, plan: xr.Dataset | None) -> StaticInputs:
    """Reduce a compiled shock and plan to the average day of the shock window (after
    checking that they are labelled like the economy). A shock with a ``scenario`` dim (every
    scenario on one window) gives arrays with a trailing scenario axis (K) in one pass."""
    d = derive(economy)
    check_labels(shock, economy, "scenario")
    if plan is not None:
        check_labels(plan, economy, "plan")
    plan = plan if plan is not None else _no_plan(economy)
    mean = window_mean_variables(shock)  # xarray Variables: no Dataset built
    days = window_days(shock)
    kappa = stack(mean["kappa"])
    if plan.sizes.get("standby", 0):
        standby = standby_by_day(plan, economy, days).mean(axis=1)
    else:
        standby = np.zeros(d.n)
    rho, delta, eps = mean.get("rho"), mean.get("delta"), mean.get("epsilon")
    rho = None if rho is None else rho.transpose("region_from", "region_to", "product",
                                                 ...).values
    delta = None if delta is None else delta.transpose("region", "product", "use", ...).values
    eps = None if eps is None else stack(eps, sector="product")
    window = len(days)
    amount = plan["stock_amount"].values
    max_release = plan["stock_max_release"].values
    stock_rate = np.minimum(amount / window, max_release) * DAYS_PER_YEAR
    return StaticInputs(
        derived=d,
        kappa=kappa,
        standby=standby,
        capacity=(kappa * d.x.reshape(d.x.shape + (1,) * (kappa.ndim - 1))
                  + standby.reshape(standby.shape + (1,) * (kappa.ndim - 1))),
        alpha_M=mean["alpha_M"].transpose("product", ...).values,
        rho=rho,
        corridor=plan["corridor_extra"].values,
        delta=delta,
        stock_rate=stock_rate,
        window=window,
        holders=list(map(str, plan["holder"].values)),
        epsilon=eps,
    )


__all__ = ["StaticInputs", "static_inputs", "DAYS_PER_YEAR", "NATIONAL"]
