r"""Supply-constrained rationing on an MRIO: pure numerics (numpy/scipy in, numpy out).

The model (after Pichler & Farmer 2022, *Economic Systems Research* 34(3), adapted to
multi-regional tables with pooled suppliers). Industries ``i, j`` on the stacked
``(region, sector)`` axis; products ``p``; every array may carry a trailing scenario axis ``K``.
The mode passes the table net of each industry's use of its own output
(:func:`stresstest.economy.net_of_own_use`): a supplier serves its own use first, and that
own share ``o`` of its product's pool is always available (:class:`Structure`'s ``pair_o``).

1. **Orders.** Final users order their desired final demand ``f^d``. Industries order input
   ``p`` on an *order basis* ``y[p, j]``: at first their demand-driven plan ``P = min(x̄, D)``
   (never output beyond capacity), with ``D = A min(x̄, D) + f^d`` iterated down from
   ``L f^d`` (one block solve). In outer rounds each buyer then orders only what it can use,
   grossed up for the rationing it expects: ``y[p, j] = min(P_j, x_j / avail[p, j])`` — the
   binding input keeps the whole plan, the others shrink — and suppliers' plans follow their
   remaining orders ``P = min(x̄, D̂)``. The rounds are a fixed-point iteration accelerated by
   Anderson mixing (per scenario), converged to ``orders_tol``.
2. **Route caps.** Orders from supplier ``i`` to region ``r`` are capped at ``ρ_eff[o, r, p] ·
   T0[i, r]`` (the baseline flow): ``c[i, r] = min(1, cap / orders)``; the diagonal is never
   capped. Effective demand ``D̂_i = Σ_r c[i, r] O[i, r] + exports_i``.
3. **Import pool.** ``α̃_p = min(1, α_p M0_p / (Σ_j AM[p, j] P_j + MY^d_p))``: foreign supply
   is a volume, shared pro rata by all import orders.
4. **Delivery ratios** ``r`` solve the fixed point (isotone; iterated down from ``r = 1``)

   .. math::
      \tilde r_{pj} = \sum_{i \in p} \tau_{ij}\, c_{i, reg(j)}\, r_i, \qquad
      s_{pj} = \min\!\Big(1, \frac{o_{pj} + a_{pj} \tilde r_{pj} + AM_{pj} \tilde\alpha_p}
               {o_{pj} + a_{pj} + AM_{pj}} + \sigma_{p, reg(j)}\Big), \\
      s_j = \min\big(1, \min_{p \in crit(j)} s_{pj}, \min_{p \in half(j)} (1 + s_{pj})/2\big),
      \qquad x_j = \min(s_j P_j, \hat D_j), \qquad r_j = x_j / \hat D_j

   (``rule="mixed"``, the default, as Pichler & Farmer recommend: ``r_j = min(1, x_j / ID̂_j)``
   with ``ID̂`` the intermediate orders — industries are served first, final users get the
   rest — with essential final use (``prio``) in the first tier when essentials go first;
   ``rule="proportional"`` serves everyone alike and cascades much harder). The greatest
   fixed point is found by policy iteration from ``r = 1`` (or from the previous round's
   policy): for the minimising piece of every industry the map is affine, so one sparse
   solve ``(I − B) r = b`` per policy gives the exact fixed point (loops of near-unit weight
   make plain iteration geometric and slow). Suppliers of one product pool by
   sourcing share, so two regions making the same product are substitutes (averaged), not
   complements (min). Inputs are critical when ``a + AM ≥ critical_threshold``, half-critical
   down to ``half_critical_threshold``; smaller inputs never bind. ``σ`` is stock released to
   intermediate users, as a share of the region's orders of the product.
5. **Substitution** (only for products where the plan allows it): buyers' unmet orders
   (domestic shortfall, and a share ``imports`` of the import shortfall) go to suppliers of the
   product with spare capacity ``s_i x̄_i − x_i`` (activated standby included), at most
   ``headroom`` times the baseline flow on existing links and ``new_links`` times the need over
   links absent at baseline, allocated pro rata; the filled share ``θ`` lifts ``r̃`` and ``α̃``
   and adds the flows to the suppliers' orders. Outer iterations damp ``θ``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp

from .iomath import compressed_axis_index, pooled_rows
from . import rationing_fused as fused


# safeguard of the order rounds: a step this many times the previous one restarts the
# scenario's Anderson history; after this many restarts its rounds are damped, halving the
# step down to a floor. Measured on 4 x 64 random china31 scenarios, both recipes: comparing
# with the previous step (growth 3) instead of the smallest step so far (growth 1.5) avoids
# restarting every round once one lucky small step was seen (a scenario then crawled for
# hundreds of rounds, relaxed), cuts the total rounds by 10-50% and leaves no scenario
# without an equilibrium in 500 rounds (4 of 512 before).
_RESTART_GROWTH = 3.0
#: Largest strongly connected block of a policy system solved densely
#: (:func:`.rationing_fused.solve_by_components`); a system with a larger one goes to SuperLU.
MAX_COMPONENT = 128
_RELAX_AFTER = 8
_RELAX_MIN = 0.25


class NotConverged(RuntimeError):
    """Raised with ``iterations`` and ``residual`` when a loop misses its tolerance."""

    def __init__(self, what, iterations, residual):
        super().__init__(f"{what}: no convergence after {iterations} iterations "
                         f"(residual {residual:.3g})")
        self.what, self.iterations, self.residual = what, iterations, residual


# --------------------------------------------------------------------------- structure


@dataclass(eq=False)
class Structure:
    """Per-economy (and threshold) structure, computed once.

    ``G`` (U x n, CSR): pooled sourcing rows — ``G[u, i] = τ[i, j]`` for every buyer ``j``
    whose sourcing column for product ``row_p[u]`` equals row ``u``'s (buyers in one region
    with identical shares share a row); ``row_r[u]`` the buyers' region. Binding pairs
    ``(pair_p, pair_j)`` sorted by ``j`` with coefficients ``pair_a`` (domestic) and
    ``pair_m`` (imported), ``pair_o`` the buyer's own output (an industry's input of its own
    product from itself, served first: always available; 0 for other pairs), ``pair_row``
    their pooled row, ``pair_half`` half-critical flags;
    ``pair_start`` the reduceat offsets of the industries ``pair_js`` that have pairs;
    ``pair_pr`` the flat ``(product, buyer region)`` index of each pair.
    """

    n: int
    n_region: int
    n_product: int
    region_of: np.ndarray
    product_of: np.ndarray
    G: sp.csr_matrix
    row_p: np.ndarray
    row_r: np.ndarray
    pair_p: np.ndarray
    pair_j: np.ndarray
    pair_row: np.ndarray
    pair_a: np.ndarray
    pair_m: np.ndarray
    pair_half: np.ndarray
    pair_start: np.ndarray
    pair_js: np.ndarray
    col_row: np.ndarray = field(repr=False)
    G_rows_of_nz: np.ndarray = field(repr=False)
    pair_pr: np.ndarray = field(repr=False)
    pair_o: np.ndarray | None = field(default=None, repr=False)
    cache: dict = field(default_factory=dict, repr=False)


def build_structure(tau0, a_prod, AM, product_of, region_of, n_region, crit, half,
                    own=None, pools=None) -> Structure:
    """Pooled rows and binding input pairs of an economy (see :class:`Structure`) for the
    critical and half-critical input masks ``crit``, ``half`` (P, n) of a recipe
    (:mod:`stresstest.kernels.recipe`). ``own`` (n): each industry's use of its own output
    per unit of the table's output when the table is net of it
    (:func:`stresstest.economy.net_of_own_use`; ``tau0``, ``a_prod`` and ``AM`` then exclude
    it), counted in the pool of its product as always available. ``pools``: the
    :func:`pooled_rows` of ``tau0`` when already computed (they do not depend on the recipe).
    """
    P, n = a_prod.shape
    G, row_p, row_r, col_row = (pooled_rows(tau0, product_of, region_of, P) if pools is None
                                else pools)
    # a last, empty row stands for "buys none of p at home": r̃ = 0 there, and a = 0
    U = G.shape[0]
    G = sp.csr_matrix((G.data, G.indices, np.append(G.indptr, G.indptr[-1])), shape=(U + 1, n))
    row_p, row_r = np.append(row_p, 0), np.append(row_r, 0)
    col_row = np.where(col_row >= 0, col_row, U)
    # an input the buyer no longer takes (its own output, netted out) cannot bind
    pp, jj = np.nonzero((crit | half) & (a_prod + AM > 0))
    order = np.lexsort((pp, jj))
    pp, jj = pp[order], jj[order]
    js, start = np.unique(jj, return_index=True)
    rows = col_row[pp, jj]
    rows_of_nz = compressed_axis_index(G)
    pair_o = None
    if own is not None and np.any(own > 0):
        pair_o = np.where(pp == np.asarray(product_of)[jj], np.asarray(own)[jj], 0.0)
    return Structure(n, n_region, P, np.asarray(region_of), np.asarray(product_of), G, row_p,
                     row_r, pp, jj, rows, a_prod[pp, jj], AM[pp, jj], half[pp, jj], start, js,
                     col_row, rows_of_nz, pp * n_region + np.asarray(region_of)[jj], pair_o)


# --------------------------------------------------------------------------- pieces


def mixed_orders(A, fd, xbar, solve, tol=1e-12, max_iter=10_000, depth=5):
    """Orders ``D = A min(x̄, D) + f^d`` (n, K), iterated down from ``D = L f^d`` (one block
    solve; scenarios with ``D <= x̄`` are done; ``A`` a matrix or a callable ``v -> A v``), Anderson-accelerated column by column (the map
    is piecewise linear: once the capped set settles the iteration is linear and mixing
    converges like GMRES instead of geometrically at the spectral radius of ``A``; a column
    whose step grows restarts its history). Returns ``(D, iterations)``."""
    D = solve(fd)
    D = np.maximum(D, fd)
    scale = np.maximum(np.abs(D).max(axis=0), 1e-300)
    todo = np.flatnonzero((D > xbar).any(axis=0))
    if not todo.size:
        return D, 0
    accel = Anderson(depth=depth)
    Dk = D[:, todo]
    best = np.full(todo.size, np.inf)
    resid = np.inf
    for it in range(1, max_iter + 1):
        capped = np.minimum(xbar[:, todo], Dk)
        new = (A(capped) if callable(A) else A @ capped) + fd[:, todo]
        res = (np.abs(new - Dk) / scale[todo]).max(axis=0)
        resid = float(res.max())
        fin = res < tol
        D[:, todo[fin]] = new[:, fin]
        if fin.all():
            return D, it
        accel.reset(res > 1.5 * best)
        best = np.minimum(best, res)
        Dk = accel.step(Dk, new, upper=None, lower=None)
        keep = ~fin
        if fin.any():
            accel.keep(keep)
            Dk, todo, best = Dk[:, keep], todo[keep], best[keep]
    raise NotConverged("orders", max_iter, resid)


def pooled_availability(st: Structure, r, c_rn=None):
    """``r̃`` per pooled row (U, K): ``Σ_i G[u, i] c[i, row_r[u]] r_i``, with the route
    factors by destination region ``c_rn`` (R, n, K) (:func:`.rationing_fused.pooled_routes`)."""
    if c_rn is None:
        return st.G @ r
    G = st.G
    return fused.pooled_routes(G.indptr, G.indices, G.data, st.row_r, c_rn, r)


def pair_coefficients(st: Structure, alpha_reg, sigma, theta_dom, inventory=None):
    """Availability of every binding pair ``k = (p, j)`` as an affine function of its pooled
    row's raw availability: ``eff_k = min(1, α_k + β_k r̃_raw[row_k])`` (npairs, K) each.

    ``s_pj = (o + a (θ + (1 − θ) r̃_raw) + AM α̃) / (o + a + AM) + σ`` gives
    ``β = a (1 − θ) / (o + a + AM)`` and ``α = (o + a θ + AM α̃) / (o + a + AM) + σ`` (``o``
    the buyer's own output, :class:`Structure`'s ``pair_o``); a half-critical
    pair binds as ``(1 + s) / 2``: ``α ← (1 + α) / 2``, ``β ← β / 2`` (``θ`` is the filled
    share of the buyer region's domestic shortfall, ``α̃`` its import availability).
    ``inventory`` (npairs, K): the buyer's input stock, as the share of the window's need it
    covers, adds to ``α``.
    """
    K = alpha_reg.shape[-1]
    c = st.cache.get("pair_weights")
    if c is None:
        a, m = st.pair_a, st.pair_m
        o = 0.0 if st.pair_o is None else st.pair_o
        half = st.pair_half
        c = st.cache["pair_weights"] = {
            "wa": a / (a + m + o), "wm": m / (a + m + o),
            "wo": None if st.pair_o is None else o / (a + m + o),
            "h": np.where(half, 0.5, 1.0), "h0": np.where(half, 0.5, 0.0),
            "any_half": bool(half.any())}
    def flat(v):
        return fused.NONE_2D if v is None else np.ascontiguousarray(v).reshape(-1, K)

    return fused.pair_coefficients(
        flat(alpha_reg), st.pair_pr, c["wm"], c["wa"],
        fused.NONE_1D if c["wo"] is None else c["wo"],
        flat(sigma), flat(theta_dom), flat(inventory), c["h"], c["h0"], c["any_half"])


def input_ratio(st: Structure, rt_raw, alpha, beta):
    """Bottleneck ``s`` (n, K) and the availability ``eff`` of every binding pair, from the
    raw pooled availability ``rt_raw`` (U, K) and :func:`pair_coefficients`."""
    return fused.input_ratio(np.ascontiguousarray(rt_raw), st.pair_row, alpha, beta,
                             st.pair_start, st.pair_js, st.n)


def binding_pair(st: Structure, eff, s):
    """Index into the pair arrays of each industry's binding input (n, K): its first pair
    within 1e-12 (relative) of the bottleneck ``s``; -1 if none."""
    return fused.binding_pair(np.ascontiguousarray(eff), np.ascontiguousarray(s), st.pair_j,
                              st.pair_start, st.pair_js, st.n)


# --------------------------------------------------------------------------- fixed point


@dataclass(eq=False)
class Problem:
    """One batch of K scenarios on one economy (money per year).

    ``A`` (n x n, dense or sparse; the rounds reach it through the pooled rows of ``st``),
    ``solve`` (block ``(I - A)^-1``), ``xbar`` (n, K) capacity,
    ``fd`` (n, K) final orders incl. exports; ``imports0`` (P,) baseline imports, ``MYd``
    (P, K) desired imported final use, ``alpha`` (P, K); ``route`` optional callable
    ``(io, io_first, cols, prio) -> (c (n, R, K), capped intermediate orders (n, K), capped
    final orders (n, K), capped first-tier orders (n, K) or None, capped ``prio`` summed over
    destinations (n, K) or None)`` for the intermediate orders by destination ``io``
    (n, R, K) of the batch's scenarios ``cols`` (None: all) and essential final orders
    ``prio`` (n, R, K0) (None: none; read at ``cols``);
    ``stock_int`` (R, P, K) stock for intermediate users or None; ``subst`` optional dict of
    substitution arrays (headroom, new_links, friction, imports (P, K), T0int (R, R, P)
    baseline intermediate flows); ``prio_dest`` (n, R, K) essential final orders served with industries;
    ``inventory`` (P, n) days of use of input ``p`` held by buyer ``j`` and ``window`` (K)
    days of each scenario's window: the stock adds ``inventory / window`` to the input's
    availability (:func:`stresstest.kernels.recipe.window_inventory_cover`); ``first`` (P, n)
    bool: with rule ``"mixed"``, suppliers serve the buyers for which their product binds
    (``True``) in the first tier and the others with final users (None: every industry in the
    first tier); ``drawdown`` (n, K) inventory drawdowns (negative final use, as a positive
    amount; ``fd`` is then the gross positive final orders): supply from users' stocks that
    offsets orders and is rationed with output, so that a null shock reproduces the baseline.
    ``need``: return the inputs each region orders at the answer (``need`` (P, R, K); None
    otherwise, which spares forming the answer's order bases).
    """

    st: Structure
    A: object
    AM: np.ndarray
    a_prod: np.ndarray
    solve: object
    xbar: np.ndarray
    fd: np.ndarray
    imports0: np.ndarray
    MYd: np.ndarray
    alpha: np.ndarray
    route: object = None
    stock_int: np.ndarray | None = None
    subst: dict | None = None
    prio_dest: np.ndarray | None = None
    inventory: np.ndarray | None = None
    window: np.ndarray | None = None
    first: np.ndarray | None = None
    drawdown: np.ndarray | None = None
    need: bool = True


def _phi(st, r, plan, Dhat, denom, c_rn, alpha, beta, W=None):
    """One application of the isotone map: returns ``(new r, r̃ raw, s, eff, x)``;
    ``c_rn`` the route factors by destination region (R, n, K) or None; ``alpha, beta`` from
    :func:`pair_coefficients`; ``W`` (n, K) inventory drawdowns (negative final use) that add
    to the supply rationed among the orders ``denom``."""
    rt_raw = pooled_availability(st, r, c_rn)
    s, eff = input_ratio(st, rt_raw, alpha, beta)
    x = np.minimum(s * plan, Dhat)
    supply = x if W is None else x + W
    with np.errstate(divide="ignore", invalid="ignore"):
        new = np.where(denom > 0, np.minimum(1.0, supply / np.where(denom > 0, denom, 1.0)),
                       1.0)
    return new, rt_raw, s, eff, x


def _policy_system_solve(st, policy, g, const, alpha, beta, c_rn, w):
    """Solve one policy's linear system for a batch (columns = scenarios).

    With ``k = policy[j]`` the binding pair of industry ``j`` (-1: ``r_j = const_j``),
    ``r_j = b_j + d_j z_{u(k)}`` with ``b = g α_k``, ``d = g β_k`` and ``z_u = Σ_i G[u, i]
    c[i, reg u] r_i`` the pooled availability of row ``u``. Substituting ``r`` gives a system
    in the pooled rows the policy reads only, ``(I − M) z = h`` with ``M[u, u(i)] = G[u, i]
    c d_i`` and ``h_u = Σ_i G[u, i] c b_i`` — a few hundred unknowns per scenario instead of
    one per industry (``c_rn``: ``c`` by destination region, (R, n, K)) — block diagonal over
    scenarios, and nearly triangular: solved by its strongly connected components
    (:func:`.rationing_fused.solve_by_components`, SuperLU when one has more than
    :data:`MAX_COMPONENT` unknowns). Returns ``r`` (n, K) or None when the system is singular
    or the solution not finite.
    """
    G = st.G
    data, indices, indptr, h, b, d, wid = fused.policy_system(
        policy, g, const, w, alpha, beta, fused.NONE_3D if c_rn is None else c_rn, G.indptr,
        G.indices, G.data, st.pair_row, st.row_r, G.shape[0])
    W = h.size
    z, status = fused.solve_by_components(data, indices, indptr, h, MAX_COMPONENT)
    if status == 1:  # singular
        return None
    if status == 2:  # a large strongly connected block: a general sparse factorisation
        import scipy.sparse.linalg as spla

        try:
            z = spla.spsolve(sp.csr_matrix((data, indices, indptr), shape=(W, W)), h)
        except Exception:  # noqa: BLE001 - singular policy system
            return None
        z = np.atleast_1d(np.asarray(z, dtype=float))
    if not np.all(np.isfinite(z)):
        return None
    on = wid >= 0
    r = b
    r[on] = b[on] + d[on] * z[wid[on]]
    return r


def _policy_coefficients(plan, Dhat, denom, W=None):
    """``g = plan / denom``, ``w = W / denom`` and the constant piece
    ``min(1, (D̂ + W) / denom, g + w)`` of the map ``r = min(const, g s + w)``. Where no
    orders are rationed (``denom = 0``) the map is ``r = 1``: ``g = 0, w = 1`` make every
    affine piece equal to the constant one, so no policy picks them (with ``w = 0`` a policy
    picked the piece ``r = 0`` there, whose system solution is no fixed point: policy
    iteration then declared a cycle and fell back to plain iteration)."""
    W = 0.0 if W is None else W
    with np.errstate(divide="ignore", invalid="ignore"):
        safe = np.where(denom > 0, denom, 1.0)
        g = np.where(denom > 0, plan / safe, 0.0)
        w = np.where(denom > 0, W / safe, 1.0)
        const = np.where(denom > 0, np.minimum(1.0, np.minimum((Dhat + W) / safe, g + w)), 1.0)
    return g, const, w


def _minimising_policy(st, g, const, w, eff, s):
    """The minimising piece of the map per industry and scenario: the index of its binding
    pair, or -1 where the constant piece is the smallest."""
    k = binding_pair(st, eff, s)
    if not eff.shape[0]:
        return k
    pair_val = np.where(k >= 0, g * np.take_along_axis(eff, np.maximum(k, 0), axis=0) + w,
                        np.inf)
    return np.where((k >= 0) & (pair_val < const), k, -1)


def _policy_upper_start(st, policy, g, const, w, args, tol):
    """An upper start for policy iteration from a previous round's ``policy``: the solution
    ``r1`` of that policy's linear system is at or above the greatest fixed point of *this*
    round's map (``r* <= affine_π(r*)`` for every policy ``π``, so ``r* <= (I − B_π)^-1 b_π``
    while that inverse is nonnegative), whatever ``r*`` is. Returns ``(r1, usable, phi(r1))``;
    a column is usable when its system solved to a nonnegative point with ``F(r1) <= r1 +
    tol`` (a super-solution; the caller starts the other columns from ``r = 1``). A solution
    above 1 is clipped to 1: ``min(1, r1)`` is still an upper bound and a super-solution.

    Warm-starting from the previous round's *ratios* instead is wrong: they may lie below this
    round's greatest fixed point, and policy iteration from below can settle on a smaller
    fixed point (an industry bound by its own output settles at 0 — the gas and water supply
    collapse of issue 10)."""
    alpha, beta, c_rn = args[4], args[5], args[3]
    sol = _policy_system_solve(st, policy, g, const, alpha, beta, c_rn, w)
    if sol is None:
        return None, np.zeros(policy.shape[1], dtype=bool), None
    r1 = np.clip(sol, 0.0, 1.0)
    ph = _phi(st, r1, *args)
    usable = (sol >= -tol).all(axis=0) & (ph[0] <= r1 + tol).all(axis=0)
    return r1, usable, ph


def _delivery_fixed_point(st, r, plan, Dhat, denom, c_rn, alpha, beta, W, tol, max_iter,
                          warm=None, max_policy=60):
    """Greatest fixed point of the isotone map ``r ↦ min(1, x(r) / denom)`` of a batch by
    policy iteration (no loop over scenarios), then plain iterations (which converge from any
    start between the answer and 1) for the scenarios where it failed, up to ``max_iter``
    iterations in all.

    The map is ``r_j = min(const_j, g_j (α_k + β_k Σ_i G[row_k, i] c[i, reg j] r_i) + w_j)``
    over the binding pairs ``k`` of ``j`` (``α, β`` from :func:`pair_coefficients`; ``c_rn`` the
    route factors ``c`` by destination region, (R, n, K)): each
    policy (the minimising piece per industry and scenario) is a sparse linear system
    (:func:`_policy_system_solve`); iterate until each scenario's policy reproduces itself.
    From a start ``r0 >= r*`` with ``F(r0) <= r0`` every iterate stays at or above the
    greatest fixed point ``r*`` and the iterates fall monotonically to it; a scenario whose
    policy cycles or whose system is singular takes the plain iterations from ``r = 1``.
    Policy iteration starts from ``r = 1`` or, with ``warm`` (the previous outer round's
    policy, (n, K)), from the solution of that policy's system (:func:`_policy_upper_start`;
    warm and cold starts reach the same point). Returns ``(r, r̃ raw, s, eff, x, iterations,
    residual, policy)`` with ``policy`` the minimising piece at the answer (the next round's
    warm start)."""
    args = (plan, Dhat, denom, c_rn, alpha, beta, W)
    n, K = plan.shape
    g, const, w = _policy_coefficients(plan, Dhat, denom, W)

    def take(v, cols):  # every scenario (cols is a sorted subset of them): no copy
        return v if v is None or cols.size == K else v[..., cols]

    def sub(cols):
        return tuple(take(v, cols) for v in args)

    r = np.ones((n, K))
    pre = None
    warm_exact = False  # every scenario already at the fixed point of the warm policy
    if warm is not None:
        r1, usable, ph = _policy_upper_start(st, warm, g, const, w, args, tol)
        if usable.any():
            r[:, usable] = r1[:, usable]
        if usable.all():
            pre = ph
            warm_exact = bool((np.abs(ph[0] - r1) < tol).all())
    out = [None] * 5  # (r, r̃ raw, s, eff, x) at the answer, filled column by column

    def store(cols, ph, keep):
        if cols.size == K and out[0] is None:  # every scenario at once: no copies
            out[:] = [v if keep is None else v[..., keep] for v in ph]
            return
        for i, v in enumerate(ph):
            if out[i] is None:
                out[i] = np.empty(v.shape[:-1] + (K,), dtype=v.dtype)
            out[i][..., cols] = v if keep is None else v[..., keep]

    todo = np.arange(K)  # scenarios still iterating
    fallback = np.zeros(K, dtype=bool)
    last = None
    it = 0
    resid = 0.0
    for _ in range(min(max_policy, max_iter)):
        it += 1
        ph = pre if pre is not None else _phi(st, r[:, todo], *sub(todo))
        pre = None
        col = np.abs(ph[0] - r[:, todo]).max(axis=0, initial=0.0)
        moving = col >= tol
        if (~moving).any():
            store(todo[~moving], ph, None if not moving.any() else ~moving)
            resid = max(resid, float(col[~moving].max()))
        if last is not None:
            last = last[:, moving]
        todo = todo[moving]
        if not todo.size:
            break
        s_, eff_ = ph[2][:, moving], ph[3][:, moving]
        policy = _minimising_policy(st, take(g, todo), take(const, todo), take(w, todo), eff_,
                                    s_)
        if last is not None:
            cycled = (policy == last).all(axis=0)
            fallback[todo[cycled]] = True
            policy, todo = policy[:, ~cycled], todo[~cycled]
            if not todo.size:
                break
        last = policy
        sol = _policy_system_solve(st, policy, take(g, todo), take(const, todo),
                                   take(alpha, todo), take(beta, todo), take(c_rn, todo),
                                   take(w, todo))
        if sol is None:
            fallback[todo] = True
            todo = todo[:0]
            break
        r[:, todo] = np.clip(sol, 0.0, 1.0)
    fallback[todo] = True  # out of policy steps
    bad = np.flatnonzero(fallback)
    if bad.size:  # plain iterations from r = 1, which fall to the greatest fixed point
        rb = np.ones((n, bad.size))
        col = np.full(bad.size, np.inf)
        for it2 in range(1, max_iter - it + 1):
            ph = _phi(st, rb, *sub(bad))
            col = np.abs(ph[0] - rb).max(axis=0, initial=0.0)
            rb = ph[0]
            if col.max(initial=0.0) < tol:
                store(bad, ph, None)
                resid = max(resid, float(col.max(initial=0.0)))
                it += it2
                break
        else:
            raise NotConverged("delivery ratios", max_iter, float(col.max(initial=0.0)))
    r, rt_raw, s, eff, x = out
    # at the fixed point of the warm policy's system that policy attains the minimum: it is
    # a minimising policy at the answer (the next round's warm start)
    policy = warm if warm_exact else _minimising_policy(st, g, const, w, eff, s)
    return r, rt_raw, s, eff, x, it, resid, policy


def _delivery_by_column(st, args, tol, max_iter, warm):
    """:func:`_delivery_fixed_point` scenario by scenario, for a batch where it failed: its
    outputs plus ``broken`` (K,), True where a scenario did not converge (its columns are NaN,
    its policy -1)."""
    K = args[0].shape[1]
    cols, broken, its, resids = [], np.zeros(K, dtype=bool), [], []
    for k in range(K):
        one = tuple(None if a is None else a[..., k:k + 1] for a in args)
        try:
            out = _delivery_fixed_point(st, np.ones((st.n, 1)), *one, tol, max_iter,
                                        warm=None if warm is None else warm[:, k:k + 1])
            its.append(out[5])
            resids.append(out[6])
            out = (*out[:5], out[7])
        except NotConverged:
            broken[k] = True
            out = _phi(st, np.ones((st.n, 1)), *one)
            out = (*(np.full_like(a, np.nan) for a in out[:5]),
                   np.full((st.n, 1), -1, dtype=np.int64))
        cols.append(out)
    stacked = [np.concatenate([c[i] for c in cols], axis=1) for i in range(6)]
    return (*stacked[:5], max(its, default=0), max(resids, default=0.0), stacked[5], broken)


class Anderson:
    """Anderson acceleration (type II) of a fixed-point map ``y ↦ G(y)``, column by column
    (each scenario on the trailing axis has its own history and its own restarts, so results
    do not depend on how scenarios are batched): the next iterate is ``G(y_k) − ΔG γ`` with
    ``γ`` minimising ``‖f_k − ΔF γ‖``, ``f = G(y) − y``; projected onto ``[lower, upper]``.
    ``depth = 0`` is plain iteration. Convergence is judged on the plain step ``‖G(y) − y‖``;
    the caller restarts a column's history when its step grows (safeguarded Anderson).

    The last ``depth`` differences live in ring buffers (depth, N, K) (a scenario that leaves
    the batch leaves its column behind) with their Gram matrix
    (K, depth, depth), updated by one row per step: a step is two fused passes over the
    state (:func:`.rationing_fused.anderson_update`, :func:`.rationing_fused.anderson_mix`),
    whose sums run over the state in a fixed order, so a column's iterates do not depend on
    the batch or on the BLAS library's threads."""

    def __init__(self, depth=5):
        self.depth = depth
        self.f_prev = self.g_prev = None  # (N, K0): K0 the batch at the first step
        self.cols = None
        self.dF = self.dG = self.gram = None
        self.age = None  # per column: how many of the latest differences belong to it
        self.pos = 0  # slot of the next difference
        self.filled = 0

    def reset(self, cols):
        """Restart the histories of the columns ``cols`` (a boolean mask)."""
        if self.age is not None:
            self.age[cols] = -1  # the next difference still spans the restart

    def keep(self, mask):
        """Drop the histories of scenarios where ``mask`` is False (their buffer columns
        stay allocated, unread: no copies)."""
        if self.f_prev is not None:
            self.cols, self.gram, self.age = self.cols[mask], self.gram[mask], self.age[mask]

    def step(self, y, gy, upper=None, lower=0.0):
        """The next iterate from ``y`` and its image ``gy`` (…, K), clipped to
        ``[lower, upper]`` (None: unbounded; ``upper`` one bound per row of the state
        flattened to (N, K), for every scenario)."""
        if self.depth <= 0:
            return gy
        K = y.shape[-1]
        d = self.depth
        g = np.ascontiguousarray(gy).reshape(-1, K)
        N = g.shape[0]
        has_prev = self.f_prev is not None
        if not has_prev:
            self.f_prev, self.g_prev = np.empty((N, K)), np.empty((N, K))
            self.dF, self.dG = np.zeros((d, N, K)), np.zeros((d, N, K))
            self.gram = np.zeros((K, d, d))
            self.age = np.full(K, -1)
            self.cols = np.arange(K)  # each scenario's column of the buffers
        p = self.pos
        dots, rhs = fused.anderson_update(np.ascontiguousarray(y).reshape(-1, K), g,
                                          self.f_prev, self.g_prev, self.dF, self.dG, p,
                                          has_prev, self.cols)
        if has_prev:
            self.gram[:, p, :] = dots
            self.gram[:, :, p] = dots
            self.pos = (p + 1) % d
            self.filled = min(self.filled + 1, d)
        self.age = np.minimum(self.age + 1, self.filled)
        if not self.filled or not (self.age > 0).any():  # nothing to mix: G(y), clipped
            return gy if lower is None and upper is None else np.clip(
                g, lower, None if upper is None else upper[:, None]).reshape(gy.shape)
        rank = (self.pos - 1 - np.arange(d)) % d  # 0: the newest slot
        live = ((rank[None, :] < self.age[:, None]) & (rank[None, :] < self.filled)).astype(float)
        gram = self.gram * live[:, :, None] * live[:, None, :]
        rhs = rhs * live
        trace = np.trace(gram, axis1=1, axis2=2)
        usable = trace > 1e-24  # a column whose iterates no longer move mixes nothing
        scale = np.where(usable, trace, 1.0)[:, None, None]
        with np.errstate(all="ignore"):
            gamma = np.linalg.solve(gram + 1e-10 * scale * np.eye(d), rhs[..., None])[..., 0]
        gamma = gamma * live
        gamma = np.where(usable[:, None] & np.isfinite(gamma).all(axis=1, keepdims=True),
                         gamma, 0.0)
        out = fused.anderson_mix(
            g, self.dG, np.ascontiguousarray(gamma), -np.inf if lower is None else float(lower),
            fused.NONE_1D if upper is None else np.ascontiguousarray(upper, dtype=float),
            self.cols)
        return out.reshape(gy.shape)


@dataclass(eq=False)
class OrderMaps:
    """Sparse maps of the order rounds on one structure (built once, cached on it).

    The rounds never need the order bases ``y`` (P, n) themselves, only three of their
    linear functionals (the *order state*, rows of ``H`` applied to ``y`` flattened as
    ``p n + j``): domestic orders per pooled row ``O_a[u] = Σ_(p,j)∈u a[p, j] y[p, j]``,
    first-tier orders ``O_f`` (the same over the pairs of ``first``; absent without tiers)
    and imported orders per product and buyer region ``O_m[p, r] = Σ_(j∈r) AM[p, j] y[p, j]``.
    Suppliers' intermediate orders are ``Gᵀ O_a`` (``Gt``; ``A[i, j] = G[u, i] a[p, j]``
    for buyer ``j`` in row ``u``, exact to the 1e-12 rounding of the shares that
    :func:`pooled_rows` groups by), by destination region ``Gx O_a`` (n R, K).
    ``Hn`` is ``H`` applied to ``y[p, j] = v_j`` (the state of full orders ``v``);
    ``omega = a / (a + AM)`` the domestic share of each input; ``Upr`` (P R, U1) sums
    pooled rows into (product, region); ``Ha`` the rows of ``Hn`` giving ``O_a`` (so that
    ``A v = Gt (Ha v)``); ``HnT`` the transpose of ``Hn``; ``columns`` ``H`` by columns for
    :func:`.rationing_fused.order_state`.
    """

    H: sp.csr_matrix
    Hn: sp.csr_matrix
    n_a: int
    n_f: int
    Gt: sp.csr_matrix
    Gx: sp.csr_matrix
    Upr: sp.csr_matrix
    omega: np.ndarray
    HnT: sp.csr_matrix
    Ha: sp.csr_matrix
    columns: tuple = ()


def order_maps(st: Structure, a_prod, AM, first=None) -> OrderMaps:
    """The :class:`OrderMaps` of a structure for a first tier ``first`` (P, n) or None;
    cached on ``st``."""
    key = ("order_maps", None if first is None else first.tobytes())
    if key in st.cache:
        return st.cache[key]
    P, n, R = st.n_product, st.n, st.n_region
    U1 = st.G.shape[0]
    pa, ja = np.nonzero(a_prod > 0)
    rows_a, cols_a, vals_a = st.col_row[pa, ja], pa * n + ja, a_prod[pa, ja]
    blocks = [(rows_a, cols_a, vals_a)]
    n_f = 0
    if first is not None:
        m = first[pa, ja]
        blocks.append((U1 + rows_a[m], cols_a[m], vals_a[m]))
        n_f = U1
    pm, jm = np.nonzero(AM > 0)
    blocks.append((U1 + n_f + pm * R + st.region_of[jm], pm * n + jm, AM[pm, jm]))
    rows = np.concatenate([b[0] for b in blocks])
    cols = np.concatenate([b[1] for b in blocks])
    vals = np.concatenate([b[2] for b in blocks])
    shape_rows = U1 + n_f + P * R
    H = sp.csr_matrix((vals, (rows, cols)), shape=(shape_rows, P * n))
    Hn = sp.csr_matrix((vals, (rows, cols % n)), shape=(shape_rows, n))
    Gt = sp.csr_matrix(st.G.T)
    G = st.G.tocoo()
    Gx = sp.csr_matrix((G.data, (G.col * R + st.row_r[G.row], G.row)), shape=(n * R, U1))
    Upr = sp.csr_matrix((np.ones(U1 - 1), (st.row_p[:-1] * R + st.row_r[:-1],
                                            np.arange(U1 - 1))), shape=(P * R, U1))
    share = a_prod + AM
    with np.errstate(divide="ignore", invalid="ignore"):
        omega = np.where(share > 0, a_prod / np.where(share > 0, share, 1.0), 0.0)
    out = OrderMaps(H, Hn, U1, n_f, Gt, Gx, Upr, omega,
                    sp.csr_matrix(Hn.T), sp.csr_matrix(Hn[:U1]),
                    columns=fused.order_state_columns(H, n, R, st.region_of, st.col_row, omega))
    st.cache[key] = out
    return out


def solve_rationing(pb: Problem, rule="mixed", tol=1e-10, max_iter=5000, damping=0.5,
                    max_outer=500, orders_tol=1e-9, anderson_depth=5, warm_start=True,
                    flag_not_converged=False, start=None, orders=None):
    """Solve the rationing equilibrium for a batch; returns a dict of (.., K) arrays:
    ``x`` output, ``r`` supplier delivery ratio (to industries), ``r_final`` ratio served to
    final users and exports, ``s`` input bottleneck, ``plan``, ``alpha_t`` import availability,
    ``c`` route factors, ``binding_pair``, ``converged`` and ``rounds`` per scenario,
    iterations and residual.

    Outer loop (orders): buyers order each input for the output they can make,
    ``y[p, j] = min(P_j, x_j / avail[p, j])`` (the binding input is ordered for the whole plan,
    others only for what is used, grossed up for the expected rationing), starting from full
    orders ``y = P``; suppliers' plans follow their remaining orders ``P = min(x̄, D̂)``. The
    inner loop is the delivery-ratio fixed point. Substitution shares ``θ`` follow in the
    same rounds, damped. The rounds iterate on the *round state*: the order state of
    :class:`OrderMaps` (a few thousand numbers per scenario instead of the ``P n`` order
    bases, which are formed once per round and contracted at once), ``θ`` and the
    re-sourced orders, all accelerated together by Anderson mixing with one history per
    scenario (restarted when a scenario's step grows, relaxed when it keeps growing). A
    scenario's step is the largest relative change of its state (orders relative to full
    orders at the round's plan, ``θ`` absolute, re-sourced orders relative to the plan); it
    leaves the batch in the round its step falls below ``orders_tol`` (its outputs are those
    of that round); after ``max_outer`` rounds the rest are returned with ``converged`` False
    (a batch of one raises :class:`NotConverged` unless ``flag_not_converged``).
    ``warm_start``: each round's delivery-ratio solve starts from the previous round's policy
    (:func:`_delivery_fixed_point`);
    the answer is the same as from a cold start (tested on the shipped library), only faster.
    ``start``: one final ``state`` per scenario (returned in ``state``, the round state of the
    last round) of runs on the same structure, to start the rounds from instead of full
    orders (:func:`_start_state`). ``orders``: the orders ``D`` (n, K) a run of the same
    capacities and final orders returned (``D``), instead of solving for them again.
    """
    st = pb.st
    R, n, P = st.n_region, st.n, st.n_product
    K = pb.xbar.shape[1]
    fd_net = pb.fd if pb.drawdown is None else pb.fd - pb.drawdown
    maps = order_maps(st, pb.a_prod, pb.AM, pb.first)
    # A v = Gᵀ (a v pooled by row): ~n P + nnz(G) products instead of n², the same sums as
    # the orders of the rounds
    if orders is None:
        D_all, total_it = mixed_orders(lambda v: maps.Gt @ (maps.Ha @ v), fd_net, pb.xbar,
                                       pb.solve, tol=min(tol, 1e-12))
    else:
        D_all, total_it = orders, 0
    share = pb.a_prod + pb.AM
    U1, nf = maps.n_a, maps.n_f
    subst = pb.subst is not None
    inv_pair = None  # the buyers' stock cover of each pair (npairs, K), live columns
    if pb.inventory is not None:
        inv_pair = pb.inventory[st.pair_p, st.pair_j][:, None] / pb.window[None, :]
    inv_subst = substitution_inventory(pb, st) if subst else None  # fixed over the rounds
    live = np.arange(K)  # scenarios still iterating; finished ones leave the batch
    # essential final orders served with industries: the rounds need only their sums over
    # destinations, fixed without route caps and summed by the route caps' pass with them
    # (no copies per round)
    with_prio = pb.prio_dest is not None and rule == "mixed"
    prio_dest = prio_fixed = None
    if with_prio and pb.route is not None:
        prio_dest = pb.prio_dest
    elif with_prio:
        prio_fixed = pb.prio_dest.sum(axis=1)
    if pb.prio_dest is not None:
        pb = replace(pb, prio_dest=None)
    q = pb
    D = D_all
    plan0 = np.minimum(q.xbar, D)
    # the round state, normalised: orders by their value at full orders (y = plan0), theta,
    # re-sourced orders by plan0
    full0 = maps.Hn @ plan0
    scale_o = np.maximum(full0, 1e-9 * full0.max(axis=0, initial=0.0) + 1e-300)
    scale_e = np.maximum(plan0, 1e-9 * plan0.max(axis=0, initial=0.0) + 1e-300)
    n_o, n_t = scale_o.shape[0], (P * R if subst else 0)
    # the mixing bounds the state below by 0 and the substitution shares above by 1; orders
    # have no upper bound: those at full orders (a binding input ordered for the whole plan)
    # sit on it, and clipping the mixed step there breaks the mixing's secant model (the
    # shipped library under every shipped plan, central and strict: 1,176 -> 1,086 rounds,
    # the same answers)
    upper = None if not subst else np.concatenate([np.full(n_o, np.inf), np.ones(2 * n_t),
                                                   np.full(n, np.inf)])
    state = np.concatenate([full0 / scale_o, np.zeros((2 * n_t + (n if subst else 0), K))])
    if start is not None:
        state = _start_state(start, state, n_o, subst)
    accel = Anderson(depth=anderson_depth)
    prev_step = np.full(K, np.inf)
    relax = np.ones(K)
    growths = np.zeros(K, dtype=int)
    policy_prev = None  # the delivery ratios' policy of the last round (warm start)
    outer = 0
    resid_max = 0.0
    full: dict = {}
    while True:
        Kl = live.size
        W = q.drawdown  # inventory drawdowns: supply from users' stocks, offsetting orders
        orders = state[:n_o] * scale_o
        Oa, Of, Om = orders[:U1], orders[U1:U1 + nf], orders[U1 + nf:].reshape(P, R, Kl)
        if subst:
            theta_dom = state[n_o:n_o + n_t].reshape(P, R, Kl)
            theta_imp = state[n_o + n_t:n_o + 2 * n_t].reshape(P, R, Kl)
            extra = state[n_o + 2 * n_t:] * scale_e
        else:
            theta_dom = theta_imp = None
            extra = None
        imp_orders = Om.sum(axis=1) + q.MYd
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha_t = np.where(imp_orders > 0, np.minimum(
                1.0, q.alpha * q.imports0[:, None] / np.where(imp_orders > 0, imp_orders, 1.0)),
                1.0)
        if q.route is not None:
            io = (maps.Gx @ Oa).reshape(n, R, Kl)
            io_first = None if not nf else (maps.Gx @ Of).reshape(n, R, Kl)
            c, Dhat_int, Dhat_fin, ID_first, prio_c = q.route(io, io_first, prio=prio_dest)
        else:
            c, Dhat_int, Dhat_fin = None, maps.Gt @ Oa, q.fd
            ID_first = None if not nf else maps.Gt @ Of
        if extra is not None:
            Dhat_int = Dhat_int + extra
        # the first tier of intermediate orders: all of them, or (critical_first) the orders of
        # buyers for which the product binds (re-sourced orders included)
        first = Dhat_int if ID_first is None else (
            ID_first if extra is None else ID_first + extra)
        # drawdowns offset orders (net demand), never make them < 0
        Dhat = np.maximum(Dhat_int + Dhat_fin - (0.0 if W is None else W), 0.0)
        plan = np.minimum(q.xbar, Dhat)
        prio = None
        if with_prio:
            prio = prio_fixed[:, live] if c is None else prio_c
        gross = Dhat_int + Dhat_fin  # orders before drawdowns
        denom = (first if prio is None else first + prio) if rule == "mixed" else gross
        sigma = None
        if q.stock_int is not None:
            need = (maps.Upr @ Oa).reshape(P, R, Kl) + Om
            with np.errstate(divide="ignore", invalid="ignore"):
                sigma = np.where(need > 0, np.minimum(1.0, q.stock_int.transpose(1, 0, 2)
                                                      / np.where(need > 0, need, 1.0)), 0.0)
        alpha_reg = np.broadcast_to(alpha_t[:, None, :], (P, R, Kl))
        if theta_imp is not None:
            alpha_reg = alpha_reg + (1.0 - alpha_reg) * theta_imp
        # the delivery ratios read each destination's route factors contiguously (the route
        # caps store them so: no copy)
        c_rn = None if c is None else np.ascontiguousarray(c.transpose(1, 0, 2))
        args = (plan, Dhat, denom, c_rn, *pair_coefficients(st, alpha_reg, sigma, theta_dom,
                                                         inv_pair), W)
        try:
            r, rt_raw, s, eff, x, it, resid, policy = _delivery_fixed_point(
                st, np.ones((n, Kl)), *args, tol, max_iter, warm=policy_prev)
            broken = np.zeros(Kl, dtype=bool)
        except NotConverged:
            if K == 1:
                raise
            # rare: solve the scenarios one by one and drop those that fail from the batch
            r, rt_raw, s, eff, x, it, resid, policy, broken = _delivery_by_column(
                st, args, tol, max_iter, policy_prev)
        policy_prev = policy if warm_start else None
        total_it += it
        resid_max = max(resid_max, resid)
        # availability of every input (p, j): domestic pool and imports, as the buyer sees it.
        # Stocks (the buyer's inventory, a plan's release) fill a shortfall of deliveries;
        # they never replace orders, so the buyer orders its need grossed up for rationing
        rt = rt_raw if theta_dom is None else (
            rt_raw + (1.0 - rt_raw) * theta_dom[st.row_p, st.row_r])
        # the order state of the best-response orders and of full orders at this plan
        new_o, full_o = fused.order_state(
            *maps.columns, np.ascontiguousarray(rt), np.ascontiguousarray(alpha_reg).reshape(
                P * R, Kl), np.ascontiguousarray(x), plan, maps.H.shape[0])
        col_step, new_o = fused.order_step(new_o, full_o, orders, scale_o)
        new = [new_o]  # normalised by the state's scale
        if subst:
            th_d, th_i, flows = substitution_shares(q, st, plan, rt_raw, alpha_t, s, x,
                                                    inv_subst)
            scale = np.maximum(plan, 1e-12 * plan.max(axis=0, initial=0.0))
            with np.errstate(divide="ignore", invalid="ignore"):
                flow_step = np.where(scale > 0, np.abs(flows - extra) / np.where(
                    scale > 0, scale, 1.0), 0.0)
            col_step = np.maximum.reduce([
                col_step, np.abs(th_d - theta_dom).reshape(-1, Kl).max(axis=0),
                np.abs(th_i - theta_imp).reshape(-1, Kl).max(axis=0),
                flow_step.max(axis=0, initial=0.0)])
            new += [(theta_dom + damping * (th_d - theta_dom)).reshape(-1, Kl),
                    (theta_imp + damping * (th_i - theta_imp)).reshape(-1, Kl),
                    (extra + damping * (flows - extra)) / scale_e]
        new = np.concatenate(new) if len(new) > 1 else new[0]
        grew = col_step > _RESTART_GROWTH * prev_step
        # safeguard, column by column: restart the mixing history of a column whose step
        # grew; relax columns that keep growing (oscillation), recover while they do not
        accel.reset(grew)
        growths = growths + grew
        relax = np.where(grew, np.where(growths > _RELAX_AFTER,
                                        np.maximum(relax * 0.5, _RELAX_MIN), relax),
                         np.minimum(1.0, relax * 1.25))
        prev_step = col_step
        mixed = accel.step(state, new, upper=upper)
        state = mixed if (relax >= 1.0).all() else np.where(
            relax >= 1.0, mixed, state + relax * (new - state))
        outer += 1
        col_step = np.where(broken, np.inf, col_step)
        done = (col_step < orders_tol) | broken
        if outer >= max_outer and not done.all():
            if K == 1 and not flag_not_converged:
                raise NotConverged("orders", outer, float(col_step.max()))
            done[:] = True  # a batch reports its non-converged scenarios in ``converged``
        if not done.any():
            continue
        dn = np.flatnonzero(done)
        out = _finish(q, st, rule, dn, x, r, s, eff, D, plan, Dhat, Dhat_int, Dhat_fin, first,
                      prio, W, alpha_t, alpha_reg, c, maps, rt_raw, rt, sigma, theta_dom,
                      theta_imp, extra, share)
        out.update(converged=col_step[dn] < orders_tol, step=col_step[dn],
                   rounds=np.full(dn.size, outer), state=state[:, dn])
        for key, val in out.items():
            if val is None:
                full[key] = None
                continue
            if key not in full:
                full[key] = np.zeros(val.shape[:-1] + (K,), dtype=val.dtype)
            full[key][..., live[dn]] = val
        if done.all():
            break
        keep = ~done
        live = live[keep]
        q = _take_columns(pb, live)
        D = D_all[:, live]
        state, scale_o, scale_e = state[:, keep], scale_o[:, keep], scale_e[:, keep]
        if inv_pair is not None:
            inv_pair = inv_pair[:, keep]
        if policy_prev is not None:
            policy_prev = policy_prev[:, keep]
        prev_step, relax, growths = prev_step[keep], relax[keep], growths[keep]
        accel.keep(keep)
    step = full.pop("step")
    full.update(iterations=total_it, outer=outer, residual=max(resid_max, float(step.max())))
    return full


def _start_state(start, cold, n_o, subst):
    """The round state to start from: ``start``, one final ``state`` of
    :func:`solve_rationing` per scenario (vectors, from runs on the same structure), where its
    parts fit ``cold``'s layout — the order state always, ``θ`` and the re-sourced orders
    when both runs have substitution — and ``cold``'s elsewhere."""
    if len(start) != cold.shape[1]:
        raise ValueError(f"{len(start)} start states for {cold.shape[1]} scenarios")
    out = cold.copy()
    for k, vec in enumerate(start):
        vec = np.asarray(vec, dtype=float)
        if vec.ndim != 1 or vec.size < n_o:
            raise ValueError(f"start state {k} of shape {vec.shape} does not fit the order "
                             f"state ({n_o} numbers)")
        out[:n_o, k] = vec[:n_o]
        if subst and vec.size == cold.shape[0]:
            out[n_o:, k] = vec[n_o:]
    return out


def _finish(q, st, rule, dn, x, r, s, eff, D, plan, Dhat, Dhat_int, Dhat_fin, first, prio, W,
            alpha_t, alpha_reg, c, maps, rt_raw, rt, sigma, theta_dom, theta_imp, extra, share):
    """Outputs of the scenarios ``dn`` of a round (see :func:`solve_rationing`)."""
    R, n = st.n_region, st.n

    def sub(arr):
        return None if arr is None else np.asarray(arr)[..., dn]

    x, r, s, eff, D, plan, Dhat = map(sub, (x, r, s, eff, D, plan, Dhat))
    Dhat_int, Dhat_fin, first, prio = map(sub, (Dhat_int, Dhat_fin, first, prio))
    Wd = sub(W)
    Kd = dn.size
    if rule == "mixed":
        served = first if prio is None else first + prio
        rest = (Dhat_fin if prio is None else np.maximum(Dhat_fin - prio, 0.0)) + (
            Dhat_int - first)
        left = np.maximum(0.0, x + (0.0 if Wd is None else Wd) - r * served)
        with np.errstate(divide="ignore", invalid="ignore"):
            r_final = np.where(rest > 0, np.minimum(
                1.0, left / np.where(rest > 0, rest, 1.0)), 1.0)
    else:
        r_final = r
    rt, alpha_reg, sigma = sub(rt), sub(alpha_reg), sub(sigma)
    stock_used = need = None
    if sigma is not None or q.need:  # from the answer's order bases, never formed
        stock_used, need = fused.stock_use(
            plan, x, np.ascontiguousarray(rt), alpha_reg, fused.NONE_3D if sigma is None else
            sigma, maps.omega, st.col_row, q.a_prod, q.AM, share,
            fused.NONE_2D if q.inventory is None else q.inventory,
            fused.NONE_1D if q.inventory is None else np.asarray(q.window[dn], dtype=float),
            R, sigma is None)
        stock_used = None if sigma is None else stock_used
        need = need if q.need else None
    return {"x": x, "r": r, "r_final": r_final, "r_prio": r if prio is not None else None,
            "s": s, "D": D, "plan": plan, "Dhat": Dhat, "alpha_t": sub(alpha_t),
            "alpha_reg": alpha_reg, "c": sub(c), "need": need, "rt_raw": sub(rt_raw),
            "binding_pair": binding_pair(st, eff, s),
            "theta_dom": sub(theta_dom), "theta_imp": sub(theta_imp),
            "extra_demand": np.zeros((n, Kd)) if extra is None else sub(extra),
            "sigma": sigma, "stock_used": stock_used}


def _take_columns(pb: Problem, cols) -> Problem:
    """The scenarios ``cols`` of a batch (arrays with a trailing scenario axis sliced)."""
    def take(arr):
        return None if arr is None else arr[..., cols]

    route = None if pb.route is None else (
        lambda io, io_first=None, prio=None: pb.route(io, io_first, cols, prio))
    subst = None if pb.subst is None else {
        k: (v if k == "T0int" else v[..., cols]) for k, v in pb.subst.items()}
    return replace(pb, subst=subst, drawdown=take(pb.drawdown), xbar=take(pb.xbar),
                   fd=take(pb.fd), MYd=take(pb.MYd),
                   alpha=take(pb.alpha), route=route, stock_int=take(pb.stock_int),
                   prio_dest=take(pb.prio_dest), window=take(pb.window))


def substitution_shares(pb: Problem, st: Structure, plan, rt, alpha_t, s, x,
                        inventory_pairs=None):
    """Pro-rata re-sourcing of unmet orders to suppliers with spare capacity.

    Demand of region ``d`` for product ``p``: its industries' domestic shortfall
    ``Σ_j a[p, j] P_j (1 − r̃[p, j])`` plus ``imports[p]`` times their import shortfall
    ``Σ_j AM[p, j] P_j (1 − α̃_p)``, each net of what the buyers' input stocks cover over the
    window (``inventory / window`` of the need, taken from both in proportion: a buyer whose
    stock bridges the window does not re-source); supply: spare capacity ``s_i x̄_i − x_i``
    of the product's suppliers. Flows ``F[o, d] = min(cap[o, d], V · spare_o/Σspare ·
    demand_d/Σdemand)`` with ``V`` the smaller total and ``cap`` the link limit: ``headroom``
    times the baseline intermediate flow on existing links, ``new_links`` times the need spread
    over links absent at baseline. Shortfalls below ``1e-12`` of the need are noise and
    ignored. Returns ``θ`` (P, R, K), the filled share of each region's domestic shortfall,
    the filled share of its lost imports (P, R, K), and the suppliers' extra orders (n, K).
    ``inventory_pairs``: :func:`substitution_inventory` of ``pb`` (the rounds gather it once).
    """
    sub = pb.subst
    R, P = st.n_region, st.n_product
    K = plan.shape[1]
    sm = _substitution_maps(st, pb)
    pl, jl = sm["p"], sm["j"]
    enabled = ((sub["headroom"] > 0) | (sub["new_links"] > 0) | (sub["imports"] > 0))  # (P, K)
    # only the pairs that can be re-sourced (every used input, or the binding ones when only
    # inputs that bind are worth re-sourcing), summed per (product, buyer region)
    dom_total, imp_total, dom_short, imp_short = fused.resourcing_gaps(
        np.ascontiguousarray(rt), np.ascontiguousarray(alpha_t), plan, pl, jl, sm["row"],
        sm["pr"], sm["a"], sm["m"],
        substitution_inventory(pb, st) if inventory_pairs is None else inventory_pairs,
        fused.NONE_1D if pb.window is None else np.asarray(pb.window, dtype=float), P * R)
    dom_total, dom_short, imp_total, imp_short = (v.reshape(P, R, K) for v in (
        dom_total, dom_short, imp_total, imp_short))
    dom_need = ((sm["Na"] @ plan).reshape(P, R, K) if np.any(sub["new_links"] > 0)
                else fused.NONE_3D)
    return fused.resourcing_flows(dom_total, imp_total, dom_short, imp_short, sub["imports"],
                                  enabled, s, pb.xbar, x, sm["T0"], sub["headroom"],
                                  sub["new_links"], dom_need, sm["n_new"])


def substitution_inventory(pb: Problem, st: Structure) -> np.ndarray:
    """The buyers' input stocks on the pairs :func:`substitution_shares` may re-source (empty
    without inventories)."""
    if pb.inventory is None:
        return fused.NONE_1D
    sm = _substitution_maps(st, pb)
    return pb.inventory[sm["p"], sm["j"]]


def _substitution_maps(st: Structure, pb: Problem) -> dict:
    """Index arrays of :func:`substitution_shares` (cached on ``st`` per first tier): the
    pairs ``(p, j)`` that may be re-sourced with their pooled row, coefficients and flat
    (product, buyer region) index ``pr``, ``Na`` (P R, n) the domestic
    need ``Σ_(j∈r) a[p, j] v_j`` of a per-buyer vector, ``T0`` (P, R_o, R_d) baseline
    intermediate flows."""
    key = ("substitution", None if pb.first is None else pb.first.tobytes())
    if key in st.cache:
        return st.cache[key]
    P, R, n = st.n_product, st.n_region, st.n
    used = (pb.a_prod > 0) | (pb.AM > 0)
    if pb.first is not None:
        used &= pb.first
    pl, jl = np.nonzero(used)
    pr = pl * R + st.region_of[jl]
    pa, ja = np.nonzero(pb.a_prod > 0)
    Na = sp.csr_matrix((pb.a_prod[pa, ja], (pa * R + st.region_of[ja], ja)), shape=(P * R, n))
    out = {"p": pl, "j": jl, "row": st.col_row[pl, jl], "a": pb.a_prod[pl, jl],
           "m": pb.AM[pl, jl], "pr": pr, "Na": Na,
           "T0": np.ascontiguousarray(pb.subst["T0int"].transpose(2, 0, 1))}
    out["n_new"] = np.maximum((out["T0"] == 0).sum(axis=1), 1).astype(float)  # (P, R_d)
    st.cache[key] = out
    return out


def substitution_cost(pb: Problem, st: Structure, res) -> np.ndarray:
    """Friction on substituted inputs charged to each buyer (n, K), money per year:
    ``Σ_p friction_p (θ_dom a[p, j] (1 − r̃[p, j]) + θ_imp AM[p, j] (1 − α̃_p)) x_j`` — the
    friction per pooled row and per (product, region) spread to buyers by :class:`OrderMaps`'
    ``Hn``."""
    n, K = st.n, res["x"].shape[1]
    if pb.subst is None or res["theta_dom"] is None or not np.any(pb.subst["friction"] > 0):
        return np.zeros((n, K))
    maps = order_maps(st, pb.a_prod, pb.AM, pb.first)
    fr = pb.subst["friction"]  # (P, K)
    P, R = st.n_product, st.n_region
    v = (1.0 - res["rt_raw"]) * fr[st.row_p] * res["theta_dom"][st.row_p, st.row_r]
    w = ((1.0 - res["alpha_t"]) * fr)[:, None, :] * res["theta_imp"]  # (P, R, K)
    lifted = np.concatenate([v, np.zeros((maps.n_f, K)), w.reshape(P * R, K)])
    return (maps.HnT @ lifted) * res["x"]
