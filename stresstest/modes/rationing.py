"""Mode ``rationing``: the supply-constrained fixed point with interregional substitution.

The numerics (and the equations) are in :mod:`stresstest.kernels.rationing`; this module turns
an economy, a compiled shock and a compiled plan into kernel arrays (the average day of the
shock window, :func:`stresstest.modes._static.static_inputs`) and the kernel's answer into a
Result (:mod:`stresstest.result`).

Final-use side (per scenario): desired domestic final use ``Ydest[i, r, u] · delta[r, p(i), u]``
plus foreign exports; imported final use ``MY[p, r, u] · delta`` is delivered at ``α_M[p]``.
Each industry's final deliveries ``f_i`` are split over destinations, uses and exports in
proportion to the desired ones. Essentials (households' + government's use times
``essential_share``): rule ``final_rule`` of :func:`stresstest.result.essential_delivered`.
Stockpiles (rate ``stock_rate`` from ``static_inputs``): first to the essential shortfall of the
holder's region (national stock: to all regions in proportion to their remaining essential
shortfall); the rest is a pool for intermediate users of the product (step 5 of the kernel).
Because the essential shortfall depends on the outcome, a run with stocks is solved twice:
once without stocks to size the essential claim, once with the remainder for intermediates;
the reported essential release is then recomputed on the final state (never above the stock).

Result extras: ``stock_release`` (holder, product), ``substitution_cost`` (region, sector; the
friction, already subtracted from ``va``), ``demand`` (region, sector; total demand ``d``) and
``input_ratio`` (region, sector; the bottleneck ``s``).
"""

from __future__ import annotations

import weakref

import numpy as np
import xarray as xr

from ..compiled import NATIONAL, window_mean
from ..economy import derive
from ..errors import ConvergenceError, InputError
from ..kernels.rationing import (DENSE_MAX, NotConverged, dense_lu_solver, Problem, binding_pairs, build_sourcing,
                                 solve_rationing)
from ..result import BINDING, SOURCES, essential_delivered, make_result
from ._static import static_inputs

#: Every option of the mode and its default (recorded in the Result's ``parameters``).
DEFAULTS = {
    "rule": "proportional",          # "proportional" | "mixed" (industries served first)
    "final_rule": "proportional",    # essentials: "proportional" | "essential_first"
    "critical_threshold": 0.02,      # input share a + AM at which an input is critical
    "half_critical_threshold": 0.005,  # below critical: binds as (s + 1) / 2; below: never
    "tol": 1e-10,                    # max |Δx| / x0 between iterations
    "max_iter": 500,
    "damping": 0.5,                  # step of the substitution updates, (0, 1]
    "batch_size": 256,               # scenarios per block solve in run_rationing_batch
}

_RULES = ("proportional", "mixed")
_FINAL_RULES = ("proportional", "essential_first")

_SOURCING: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def check_options(options: dict) -> dict:
    """Merge ``options`` into :data:`DEFAULTS`; raise :class:`InputError` on a bad one."""
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise InputError(f"rationing: unknown option(s) {', '.join(unknown)} "
                         f"(known: {', '.join(DEFAULTS)})")
    opt = dict(DEFAULTS)
    opt.update(options)
    if opt["rule"] not in _RULES:
        raise InputError(f"rationing: option rule={opt['rule']!r} must be one of {_RULES}")
    if opt["final_rule"] not in _FINAL_RULES:
        raise InputError(f"rationing: option final_rule={opt['final_rule']!r} must be one of "
                         f"{_FINAL_RULES}")
    for key in ("critical_threshold", "half_critical_threshold", "tol", "damping"):
        try:
            opt[key] = float(opt[key])
        except (TypeError, ValueError):
            raise InputError(f"rationing: option {key}={opt[key]!r} is not a number") from None
        if not np.isfinite(opt[key]) or opt[key] < 0:
            raise InputError(f"rationing: option {key}={opt[key]!r} must be finite and >= 0")
    if opt["half_critical_threshold"] > opt["critical_threshold"]:
        raise InputError(f"rationing: half_critical_threshold={opt['half_critical_threshold']} "
                         f"exceeds critical_threshold={opt['critical_threshold']}")
    if opt["tol"] <= 0:
        raise InputError(f"rationing: option tol={opt['tol']!r} must be > 0")
    if not 0 < opt["damping"] <= 1:
        raise InputError(f"rationing: option damping={opt['damping']!r} must lie in (0, 1]")
    for key in ("max_iter", "batch_size"):
        val = opt[key]
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 1:
            raise InputError(f"rationing: option {key}={val!r} must be an integer >= 1")
        opt[key] = int(val)
    return opt


def _entry(d):
    entry = _SOURCING.get(d)
    if entry is None:
        entry = {"src": build_sourcing(d.tau0, d.a_prod, d.product_of, d.region_of,
                                       d.n_region), "pairs": {}, "solve": None}
        _SOURCING[d] = entry
    return entry


def _solver(d):
    """Cached ``(I - A)^-1`` block solver: dense LU up to ``DENSE_MAX`` industries, else the
    sparse LU of ``Derived``."""
    entry = _entry(d)
    if entry["solve"] is None:
        entry["solve"] = dense_lu_solver(d.A) if d.n <= DENSE_MAX else d.solve
    return entry["solve"]


def _structure(d, opt):
    """Cached sourcing rows and binding pairs of a Derived economy."""
    entry = _entry(d)
    key = (opt["critical_threshold"], opt["half_critical_threshold"])
    if key not in entry["pairs"]:
        entry["pairs"][key] = binding_pairs(entry["src"], d.a_prod, d.AM, d.region_of, *key)
    return entry["src"], entry["pairs"][key]


# --------------------------------------------------------------------------- shock arrays


def _shock_arrays(economy, shock):
    """Average day of the window with a trailing scenario axis: kappa (n, K), alpha (P, K),
    rho (R, R, P, K) or None, delta (R, P, U, K) or None."""
    mean = window_mean(shock)
    has_k = "scenario" in mean.dims
    tail = ("scenario",) if has_k else ()

    def arr(name, dims):
        v = mean[name].transpose(*dims, *tail).values
        return v if has_k else v[..., None]

    R, S = economy.sizes["region"], economy.sizes["sector"]
    kappa = arr("kappa", ("region", "sector")).reshape(R * S, -1)
    alpha = arr("alpha_M", ("product",))
    rho = arr("rho", ("region_from", "region_to", "product")) if "rho" in mean else None
    delta = arr("delta", ("region", "product", "use")) if "delta" in mean else None
    return kappa, alpha, rho, delta


def _check_shock(economy, shock, where="shock"):
    if not isinstance(shock, xr.Dataset) or "kappa" not in shock or "alpha_M" not in shock:
        raise InputError(f"rationing: {where} must be a compiled shock Dataset with kappa and "
                         "alpha_M (see stresstest.compiled)")
    for dim, ref in (("region", "region"), ("sector", "sector")):
        if list(map(str, shock[dim].values)) != list(map(str, economy[ref].values)):
            raise InputError(f"rationing: {where} ({shock.attrs.get('source') or 'compiled'}) "
                             f"has {dim} labels that differ from the economy's")
    for name in ("kappa", "alpha_M"):
        vals = shock[name].values
        if not np.all(np.isfinite(vals)) or np.any(vals < 0):
            raise InputError(f"rationing: {where} variable {name} has negative or NaN values")


# --------------------------------------------------------------------------- core


def _solve_batch(economy, kappa, alpha, rho, delta, si, plan_arrays, opt):
    """Run the kernel for K scenarios sharing one plan; returns a dict of (.., K) outputs."""
    d = derive(economy)
    src, pairs = _structure(d, opt)
    R, P = d.n_region, d.n_sector
    n, K = kappa.shape
    U = d.Ydest.shape[2]
    Y4 = d.Ydest.reshape(R, P, R, U)
    if delta is None:
        fd = np.repeat((d.Ydest.sum(axis=(1, 2)) + d.exports)[:, None], K, axis=1)
    else:
        fd = np.einsum("oprU,rpUk->opk", Y4, delta).reshape(n, K) + d.exports[:, None]
    xbar = kappa * d.x[:, None]
    if np.any(si.standby != 0):
        xbar = xbar + si.standby[:, None]
    rho_eff = None
    if rho is not None:
        rho_eff = rho.copy()
        if np.any(si.corridor != 0):
            capped = rho_eff < 1.0
            rho_eff = np.where(capped, np.minimum(1.0, rho_eff + si.corridor[:, :, None, None]),
                               rho_eff)
        rho_eff[np.arange(R), np.arange(R)] = 1.0
    hr, nl, fr, mi = plan_arrays
    stock = si.stock_rate if np.any(si.stock_rate != 0) else None
    imp_final = d.MY.sum(axis=(1, 2))
    if delta is None:
        impf = np.repeat(imp_final[:, None], K, axis=1)
    else:
        impf = np.einsum("prU,rpUk->pk", d.MY, delta)
    imports0 = d.AM @ d.x + imp_final
    pb = Problem(solve=_solver(d), A=d.A, x0=d.x, src=src, pairs=pairs, region_of=d.region_of,
                 product_of=d.product_of, xbar=xbar, alpha=alpha, fd=fd, rho=rho_eff,
                 headroom=hr if np.any(hr > 0) else None,
                 new_links=nl if np.any(nl > 0) else None,
                 friction=fr, sub_imports=mi if np.any(mi > 0) else None, AM=d.AM,
                 imports0=imports0, imports_final=impf)
    kw = dict(rule=opt["rule"], tol=opt["tol"], max_iter=opt["max_iter"],
              damping=opt["damping"])

    def run(problem):
        try:
            return solve_rationing(problem, **kw)
        except NotConverged as exc:
            raise ConvergenceError(
                f"rationing: no fixed point after {exc.iterations} iterations (max_iter="
                f"{opt['max_iter']}); residual max|dx|/x0 = {exc.residual:.3g} > tol="
                f"{opt['tol']:g}; raise max_iter or tol") from None

    out = run(pb)
    iterations = out["iterations"]
    ess = _final_side(d, economy, out, fd, out["r_imp"], delta, None, opt)
    if stock is not None:
        stock_k = np.repeat(stock[:, :, None], K, axis=2)
        claim = ess["stock_reg"] + 0.0
        claim_nat = ess["stock_nat_total"]
        avail = stock_k.copy()
        avail[:R] -= claim
        avail[R] -= claim_nat
        pb.stock_int = np.maximum(avail, 0.0)
        out = run(pb)
        iterations += out["iterations"]
        used = out["stock_int_used"]
        left = stock_k - used
        ess = _final_side(d, economy, out, fd, out["r_imp"], delta, left, opt)
        out["stock_release"] = used + np.concatenate(
            [ess["stock_reg"], ess["stock_nat_total"][None]], axis=0)
    else:
        out["stock_release"] = np.zeros((R + 1, P, K))
    out.update(ess)
    out["iterations_total"] = iterations
    out["fd"] = fd
    out["xbar"] = xbar
    out["pairs"] = pairs
    out["src"] = src
    out["rho_eff"] = rho_eff
    out["friction"] = fr
    out["sub_imports"] = mi
    return out


def _final_side(d, economy, out, fd, alpha, delta, stock_avail, opt):
    """Final deliveries by destination, essentials and their stock release."""
    R, P = d.n_region, d.n_sector
    n, K = fd.shape
    U = d.Ydest.shape[2]
    f = out["f"]
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = np.where(fd != 0, f / fd, 1.0)
    Y4 = d.Ydest.reshape(R, P, R, U)
    dom = np.einsum("oprU,opk->rpUk", Y4, phi.reshape(R, P, K))  # (R, P, U, K)
    dom_des = np.repeat(Y4.sum(axis=0).transpose(1, 0, 2)[..., None], K, axis=3)
    imp_des = np.repeat(d.MY.transpose(1, 0, 2)[..., None], K, axis=3)  # (R, P, U, K)
    if delta is not None:
        dom = dom * delta
        dom_des = dom_des * delta
        imp_des = imp_des * delta
    imp = imp_des * alpha[None, :, None, :]
    cons = economy["consumption"].values.astype(bool)
    C_des = (dom_des + imp_des)[:, :, cons].sum(axis=2)
    C_del = (dom + imp)[:, :, cons].sum(axis=2)
    e = economy["essential_share"].values.astype(float)[None, :, None]
    wanted = e * C_des
    if opt["final_rule"] == "proportional":
        base = e * C_del
    else:
        base = np.minimum(wanted, C_del)
    short = np.maximum(wanted - base, 0.0)
    if stock_avail is None:
        reg = np.zeros((R, P, K))
        nat = np.zeros((R, P, K))
    else:
        reg = np.minimum(np.maximum(stock_avail[:R], 0.0), short)
        rem = short - reg
        rem_p = rem.sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(rem_p > 0, np.minimum(1.0, np.maximum(stock_avail[R], 0) / rem_p),
                             0.0)
        nat = rem * ratio[None]
    to_region = reg + nat
    essential = essential_delivered(e, C_des, C_del, to_region, opt["final_rule"])
    return {"phi": phi, "f_dom": dom.sum(axis=2), "f_imp": imp.sum(axis=2),
            "f_stock": to_region, "essential": essential, "exports_del": d.exports[:, None] * phi,
            "stock_reg": reg, "stock_nat_total": nat.sum(axis=0), "ess_short": short}


def _binding(d, out, tolb=1e-9):
    """Binding-constraint codes and products (n, K) for industries whose output fell below
    baseline: ``capacity`` if at capacity, else the constraint that last cut the industry's
    output below its demand during the iteration (input/import/route and its product), else
    ``demand`` (its customers' demand fell)."""
    x, xbar = out["x"], out["xbar"]
    lost = x < d.x[:, None] * (1 - tolb)
    at_cap = x >= xbar * (1 - tolb)
    code = np.zeros(x.shape, dtype=np.int8)
    prod = np.full(x.shape, -1, dtype=np.int16)
    code[lost] = BINDING["demand"]
    has = lost & ~at_cap & (out["cause"] >= BINDING["input"])
    code[has] = out["cause"][has]
    prod[has] = out["cause_p"][has]
    code[lost & at_cap] = BINDING["capacity"]
    return code, prod


def _substitution_cost(d, out):
    """Friction charged to each buyer (n, K): ``φ_p`` times the substituted flow value."""
    n, K = out["x"].shape
    cost = np.zeros((n, K))
    fr = out["friction"]
    if fr is None or not np.any(fr > 0):
        return cost
    src = out["src"]
    if out["tau_excess"] is not None:
        sigma = out["S_rows"] @ out["tau_excess"]  # (U, K) substituted share per row
        cost += out["x"] * np.asarray(src.H.T @ (sigma * fr[src.row_p][:, None]))
    mi = out["sub_imports"]
    if mi is not None and np.any(mi > 0):
        share = fr[:, None] * mi[:, None] * out["gamma"] * (1.0 - out["r_imp"])
        cost += out["x"] * np.asarray(d.AM.T @ share)
    return cost


def _plan_arrays(economy, plan):
    P = economy.sizes["sector"]
    if plan is None:
        z = np.zeros(P)
        return z, z, z, z
    names = ("substitution_headroom", "substitution_new_links", "substitution_friction",
             "substitution_imports")
    out = []
    for name in names:
        if name not in plan:
            out.append(np.zeros(P))
            continue
        v = plan[name].values.astype(float)
        if not np.all(np.isfinite(v)) or np.any(v < 0):
            raise InputError(f"rationing: plan {plan.attrs.get('plan', '')!r} variable {name} "
                             "has negative or NaN values")
        out.append(v)
    return tuple(out)


def _assemble(economy, shock, plan, out, opt, k=None, scenario_coords=None):
    d = derive(economy)
    R, P = d.n_region, d.n_sector
    sel = (slice(None), slice(k, k + 1)) if k is not None else (slice(None), slice(None))
    out = dict(out)
    out["alpha_in"] = out["alpha_M_in"]
    code, prod = _binding(d, out)
    cost = _substitution_cost(d, out)
    K = out["x"].shape[1]
    f = np.stack([out["f_dom"], out["f_imp"], out["f_stock"]], axis=2)  # (R, P, 3, K)
    holders = [str(r) for r in economy["region"].values] + [NATIONAL]
    single = scenario_coords is None
    squeeze = (lambda a: a[..., 0]) if single else (lambda a: a)
    time = None if single else np.arange(K)
    extra = {
        "stock_release": (("holder", "product") + (() if single else ("time",)),
                          squeeze(out["stock_release"])),
        "substitution_cost": (("region", "sector") + (() if single else ("time",)),
                              squeeze(cost).reshape((R, P) + (() if single else (K,)))),
        "demand": (("region", "sector") + (() if single else ("time",)),
                   squeeze(out["d"]).reshape((R, P) + (() if single else (K,)))),
        "input_ratio": (("region", "sector") + (() if single else ("time",)),
                        squeeze(out["s"]).reshape((R, P) + (() if single else (K,)))),
    }
    params = dict(opt)
    res = make_result(
        economy, mode="rationing", shock=shock, plan=plan, x=squeeze(out["x"]),
        capacity=squeeze(out["xbar"]), f=squeeze(f), exports=squeeze(out["exports_del"]),
        essential=squeeze(out["essential"]), binding=squeeze(code),
        binding_product=squeeze(prod), time=time, parameters=params,
        diagnostics={"iterations": int(out["iterations_total"]),
                     "residual": float(out["residual"]), "converged": 1,
                     "solver_status": "converged"},
        extra=extra, derived=d)
    res = res.assign_coords(holder=holders)
    if np.any(cost != 0):
        res["va"] = res["va"] - res["substitution_cost"]
    res["stock_release"].attrs["units"] = f"{economy.attrs.get('units', '')} per year"
    res["substitution_cost"].attrs["units"] = f"{economy.attrs.get('units', '')} per year"
    if not single:
        res = res.rename({"time": "scenario"}).assign_coords(scenario=scenario_coords)
    del sel
    return res


# --------------------------------------------------------------------------- public


def run_rationing(economy: xr.Dataset, shock: xr.Dataset, plan: xr.Dataset | None = None,
                  **options) -> xr.Dataset:
    """Supply-constrained fixed point for one scenario; returns a Result (see module doc).

    Options and defaults: :data:`DEFAULTS`. Raises :class:`InputError` on a bad option or
    shock, :class:`ConvergenceError` when ``max_iter`` is reached (residual in the message).
    """
    opt = check_options(options)
    _check_shock(economy, shock)
    si = static_inputs(economy, shock, plan)
    kappa = si.kappa[:, None]
    alpha = si.alpha_M[:, None]
    rho = None if si.rho is None else si.rho[..., None]
    delta = None if si.delta is None else si.delta[..., None]
    out = _solve_batch(economy, kappa, alpha, rho, delta, si, _plan_arrays(economy, plan), opt)
    out["alpha_M_in"] = alpha
    return _assemble(economy, shock, plan, out, opt)


def run_rationing_batch(economy: xr.Dataset, shocks, plan: xr.Dataset | None = None,
                        **options) -> xr.Dataset:
    """Many scenarios with one plan: a Result with a trailing ``scenario`` dim.

    ``shocks``: a compiled shock with a ``scenario`` dim (one shock window for all), or a list
    of compiled shocks (each reduced to its window's average day). Scenarios are solved
    ``batch_size`` at a time as right-hand-side blocks of one factorisation of ``I - A``.
    """
    opt = check_options(options)
    if isinstance(shocks, xr.Dataset) and "scenario" in shocks.dims:
        _check_shock(economy, shocks)
        kappa, alpha, rho, delta = _shock_arrays(economy, shocks)
        names = (shocks["scenario"].values if "scenario" in shocks.coords
                 else np.arange(shocks.sizes["scenario"]))
        si = static_inputs(economy, shocks.isel(scenario=0), plan)
        first = shocks
    else:
        shocks = list(shocks)
        if not shocks:
            raise InputError("rationing: run_rationing_batch needs at least one shock")
        parts = []
        for k, sh in enumerate(shocks):
            _check_shock(economy, sh, where=f"shock {k} ({sh.attrs.get('scenario', '')})")
            parts.append(_shock_arrays(economy, sh))
        windows = {(int(s.attrs["window_start"]), int(s.attrs["window_end"])) for s in shocks}
        if len(windows) > 1 and plan is not None:
            raise InputError("rationing: batched shocks with a plan must share one shock window "
                             f"(got {sorted(windows)})")
        kappa = np.concatenate([p[0] for p in parts], axis=1)
        alpha = np.concatenate([p[1] for p in parts], axis=1)
        R = economy.sizes["region"]
        if any(p[2] is not None for p in parts):
            P = economy.sizes["sector"]
            rho = np.concatenate([p[2] if p[2] is not None else np.ones((R, R, P, 1))
                                  for p in parts], axis=3)
        else:
            rho = None
        if any(p[3] is not None for p in parts):
            P, U = economy.sizes["sector"], economy.sizes["use"]
            delta = np.concatenate([p[3] if p[3] is not None else np.ones((R, P, U, 1))
                                    for p in parts], axis=3)
        else:
            delta = None
        names = np.array([str(s.attrs.get("scenario", k)) for k, s in enumerate(shocks)])
        si = static_inputs(economy, shocks[0], plan)
        first = shocks[0]
    K = kappa.shape[1]
    plan_arrays = _plan_arrays(economy, plan)
    outs = []
    bs = opt["batch_size"]
    for lo in range(0, K, bs):
        sl = slice(lo, min(K, lo + bs))
        o = _solve_batch(economy, kappa[:, sl], alpha[:, sl],
                         None if rho is None else rho[..., sl],
                         None if delta is None else delta[..., sl], si, plan_arrays, opt)
        o["alpha_M_in"] = alpha[:, sl]
        outs.append(_light(o))
    merged = _merge(outs)
    res = _assemble(economy, first, plan, merged, opt, scenario_coords=names)
    res.attrs["scenario"] = "batch"
    return res


_KEEP_BATCH = ("x", "d", "s", "r", "rt", "alpha_eff", "r_imp", "cause", "cause_p", "s_pair", "xbar", "f_dom", "f_imp",
               "f_stock", "essential", "exports_del", "stock_release", "gamma", "alpha_M_in")


def _light(o):
    keep = {k: o[k] for k in _KEEP_BATCH}
    for k in ("pairs", "src", "friction", "sub_imports"):
        keep[k] = o[k]
    keep["q_cap"] = None if o["q_cap"] is None else o["q_cap"]
    keep["tau"] = o["tau"] if np.ndim(o["tau"]) == 2 else o["tau"][:, None].repeat(
        o["x"].shape[1], 1)
    keep["tau_excess"] = o["tau_excess"]
    keep["ent_sup"], keep["S_rows"] = o["ent_sup"], o["S_rows"]
    keep["iterations_total"], keep["residual"] = o["iterations_total"], o["residual"]
    return keep


def _merge(outs):
    if len(outs) == 1:
        return outs[0]
    merged = {}
    for k in outs[0]:
        v0 = outs[0][k]
        if k in ("pairs", "src", "friction", "sub_imports", "ent_sup", "S_rows"):
            merged[k] = v0
        elif k == "iterations_total":
            merged[k] = max(o[k] for o in outs)
        elif k == "residual":
            merged[k] = max(o[k] for o in outs)
        elif v0 is None:
            merged[k] = None
        else:
            merged[k] = np.concatenate([o[k] for o in outs], axis=-1)
    return merged
