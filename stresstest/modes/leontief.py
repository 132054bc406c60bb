"""Mode ``leontief``: the demand-driven linear model on the average day of the shock window.

What the numbers mean (read before using them):

- **Demand events** (``delta``) change final demand ``y`` (domestic final use by destination
  and use; foreign exports times the scenario's ``epsilon``); output follows ``x = L y``.
- **Capacity** (``kappa x0`` + standby) enters through the *mixed exogenous/endogenous* model
  ``x = min(capacity, A x + y)``: industries whose capacity binds produce at capacity (code
  ``capacity`` in ``binding``) and their final deliveries become the residual
  ``f_X = x̄_X - (A x)_X``; all others are demand-driven (code ``demand``). This propagates the
  *backward* effect of a capacity loss (less demand for its inputs) but **not** the forward
  effect (its customers keep producing as if they received their inputs): ``x`` respects
  capacity but is *not* a feasible supply-constrained outcome — use ``rationing`` for that.
  Where the binding industries cannot even cover the others' intermediate demand, ``f_X`` is
  negative; deliveries are reported as ``max(f_X, 0)`` and the gap as ``intermediate_gap``.
- **Infeasibility report**: ``excess_demand = max(0, L y - capacity)`` (variable and attrs
  ``excess_demand`` total, ``infeasible_industries`` labels) — what the demand-driven model
  would need beyond capacity.
- **Imports**: required imports are coefficient-driven, ``A^M x`` plus imported final use;
  available ``alpha_M`` times the baseline. Attrs ``imports_required``/``imports_available``
  (per product, JSON); imported final deliveries are scaled by ``min(1, available/required)``;
  industries using a short import are coded ``import`` (output is *not* reduced).
- **Routes** (``rho``): not propagated; the required interregional flows beyond the route caps
  are reported in attrs ``route_shortfall`` (money per year).
- **Stockpiles** top up essential final use up to its demand; standby raises capacity.

Every money value is an annual rate in the economy's units.
"""

from __future__ import annotations

import json

import numpy as np
import scipy.sparse as sp
import xarray as xr

from ..analysis import block_solver
from ..compiled import NATIONAL
from ..errors import InputError
from ..kernels.iomath import mixed_output
from ..result import BINDING, essential_delivered, make_result
from ._static import static_inputs

OPTIONS = {"final_use_rule": "proportional", "max_iter": 200}


def _release_stocks(short: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """Stock release (R, P) toward the essential shortfall ``short`` (R, P): regional stocks
    first, then national stocks shared in proportion to the remaining shortfall."""
    R = short.shape[0]
    regional = np.minimum(rate[:R], short)
    rest = short - regional
    tot = rest.sum(axis=0)
    share = np.divide(rest, tot, out=np.zeros_like(rest), where=tot > 0)
    national = np.minimum(rate[R][None, :] * share, rest)
    return regional + national


def run_leontief(economy: xr.Dataset, shock: xr.Dataset, plan: xr.Dataset | None = None, *,
                 final_use_rule: str = "proportional", max_iter: int = 200) -> xr.Dataset:
    """Run the demand-driven mixed Leontief model (module docstring) and return a Result.

    Options: ``final_use_rule`` (``proportional`` | ``essential_first``) how short consumption
    is split between essential and other use; ``max_iter`` policy-iteration limit.
    """
    if final_use_rule not in ("proportional", "essential_first"):
        raise InputError(f"leontief option final_use_rule={final_use_rule!r} must be "
                         "'proportional' or 'essential_first'")
    if int(max_iter) < 1:
        raise InputError(f"leontief option max_iter={max_iter!r} must be >= 1")
    si = static_inputs(economy, shock, plan)
    d = si.derived
    R, S, n = d.n_region, d.n_sector, d.n
    prod = d.product_of

    # final demand (domestic by destination and use; imported final use)
    Ydest, MY = d.Ydest, d.MY
    if si.delta is not None:
        Ynew = Ydest * si.delta[:, prod, :].transpose(1, 0, 2)
        MYnew = MY * si.delta.transpose(1, 0, 2)
    else:
        Ynew, MYnew = Ydest, MY
    y0 = d.fd
    y = (Ynew.sum(axis=(1, 2)) + si.exports if si.delta is not None or si.epsilon is not None
         else y0)

    cap = si.capacity
    bs = block_solver(d)
    x, f_ind, X, iters = mixed_output(bs.solve, d.x, y0, y, cap, max_iter=int(max_iter))
    xd = d.x + bs.solve(y - y0) if np.any(y != y0) else d.x
    excess = np.maximum(0.0, xd - cap)
    gap = np.maximum(0.0, -f_ind)
    f_pos = np.maximum(f_ind, 0.0)
    ratio = np.divide(f_pos, y, out=np.ones_like(y), where=y > 0)
    ratio = np.minimum(ratio, 1.0)
    if not X.any():
        ratio = np.ones(n)

    # imports: coefficient-driven requirement vs availability
    cons = economy["consumption"].values
    base_imports = d.AM @ d.x + MY.sum(axis=(1, 2))
    required = d.AM @ x + MYnew.sum(axis=(1, 2))
    available = si.alpha_M * base_imports
    imp_ratio = np.divide(available, required, out=np.ones(S), where=required > 0)
    imp_ratio = np.minimum(imp_ratio, 1.0)

    # deliveries
    dom = (Ynew * ratio[:, None, None]).reshape(R, S, R, -1).sum(axis=0)  # (P, R, U)
    imp = MYnew * imp_ratio[:, None, None]  # (P, R, U)
    exports = si.exports * ratio
    C_des = ((Ynew.reshape(R, S, R, -1).sum(axis=0) + MYnew)[:, :, cons]).sum(axis=2).T  # (R, P)
    C_del = ((dom + imp)[:, :, cons]).sum(axis=2).T
    e = economy["essential_share"].values.astype(float)[None, :]
    base = essential_delivered(e, C_des, C_del, 0.0, rule=final_use_rule)
    short = np.maximum(e * C_des - base, 0.0)
    release = _release_stocks(short, si.stock_rate)
    essential = essential_delivered(e, C_des, C_del, release, rule=final_use_rule)
    f = np.stack([dom.sum(axis=2).T, imp.sum(axis=2).T, release], axis=-1)

    binding = np.full(n, BINDING["demand"], dtype=np.int8)
    bprod = np.full(n, -1, dtype=np.int16)
    uses_short = (d.AM > 0) & (imp_ratio[:, None] < 1.0)
    if uses_short.any():
        worst = np.where(uses_short, imp_ratio[:, None], np.inf)
        has = uses_short.any(axis=0)
        binding[has] = BINDING["import"]
        bprod[has] = np.argmin(worst, axis=0)[has]
    binding[X] = BINDING["capacity"]
    bprod[X] = -1

    route_short = 0.0
    if si.rho is not None:
        route_short = _route_shortfall(d, si, x, Ynew)

    labels = [f"{r}/{s}" for r in map(str, economy["region"].values)
              for s in map(str, economy["sector"].values)]
    infeasible = [labels[i] for i in np.flatnonzero(excess > 0)]
    prods = list(map(str, economy["sector"].values))
    diagnostics = {
        "iterations": int(iters),
        "converged": 1,
        "residual": 0.0,
        "solver_status": "mixed exogenous/endogenous Leontief model",
        "excess_demand": float(excess.sum()),
        "infeasible_industries": json.dumps(infeasible),
        "intermediate_gap": float(gap.sum()),
        "imports_required": json.dumps(dict(zip(prods, map(float, required)))),
        "imports_available": json.dumps(dict(zip(prods, map(float, available)))),
        "import_shortfall": float(np.maximum(required - available, 0.0).sum()),
        "route_shortfall": float(route_short),
        "output_meaning": "mixed model: capacity-bound industries at capacity, others "
                          "demand-driven; forward (input-shortage) effects not propagated",
    }
    unit = f"{economy.attrs.get('units', '')} per year"
    extra = {
        "excess_demand": (("region", "sector"), excess.reshape(R, S)),
        "demand_driven_x": (("region", "sector"), xd.reshape(R, S)),
    }
    res = make_result(
        economy, mode="leontief", shock=shock, plan=plan, x=x, capacity=cap, f=f,
        exports=exports, essential=essential, binding=binding, binding_product=bprod,
        parameters={"final_use_rule": final_use_rule, "max_iter": int(max_iter)},
        diagnostics=diagnostics, extra=extra, derived=d, kappa=si.kappa,
        imports_remaining=si.alpha_M, exports_remaining=si.epsilon)
    for name in extra:
        res[name].attrs["units"] = unit
    return res


def _route_shortfall(d, si, x, Ynew) -> float:
    """Σ max(0, required - available) over interregional (origin, destination, product) flows:
    required = intermediate use ``A x`` plus final use shipped, available = baseline times
    ``rho + corridor``."""
    R, S = d.n_region, d.n_sector
    to_region = sp.csr_matrix((np.ones(d.n), (np.arange(d.n), d.region_of)), shape=(d.n, R))

    def flows(xv, Yd):
        z = np.asarray((d.A @ sp.diags(xv) @ to_region).todense()).reshape(R, S, R)
        return z + Yd.reshape(R, S, R, -1).sum(axis=3)  # origin, product, destination

    need = flows(x, Ynew)
    base = flows(d.x, d.Ydest)
    limit = si.rho.transpose(0, 2, 1) + si.corridor[:, None, :]  # (from, product, to)
    avail = base * limit
    off = ~np.eye(R, dtype=bool)[:, None, :]
    return float((np.maximum(need - avail, 0.0) * off).sum())


__all__ = ["run_leontief", "OPTIONS", "NATIONAL"]
