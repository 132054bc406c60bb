r"""The coordinated-optimum linear programme over regional product markets (pure numpy/scipy).

In the spirit of MRIA (Koks & Thissen 2016, *Economic Systems Research* 28(3)). ``R`` regions,
``P`` products (= sectors), ``n = R P`` industries ``j = (r, s)`` in region-major order; every
money quantity is an annual rate. Notation of :class:`LPInputs`.

Variables (all ``>= 0``)
    ``x_j``          output, ``x_j <= xbar_j`` (capacity: ``kappa x0 + standby``)
    ``T[o, r, p]``   shipments of ``p`` from ``o`` to ``r`` on links with ``T0 > 0``
                     (the *free* part, ``T <= min(T0, cap)`` when friction applies,
                     ``T <= cap`` otherwise), ``cap = T0 rho_eff (1 + h_p)``
    ``Te[o, r, p]``  flow above baseline on a link, ``Te <= cap - T0`` (only where
                     ``cap > T0`` and ``phi_p > 0``), charged the friction ``phi_p Te``
    ``N[o, r, p]``   flow on a link absent at baseline (only if ``nl_p > 0``),
                     ``N <= nl_p need[r, p] min(rho_eff, 1)``, charged ``phi_p N``
    ``ex_j``         exports, ``ex_j <= ex0_j``
    ``w_j``          drawdown of domestic inventories (negative inventory use), ``w_j <= W_j``
    ``m[r, p]``      foreign imports used;  ``u[r, p]`` domestic product replacing imports,
                     ``u <= sigma_p (1 - alpha_p) m0[r, p]``
    ``fd, fm, fs [r, p]``  final deliveries: domestic, imported, from stocks (``fs <= E[r, p]``)
    ``zr[r, p] <= zbar[r, p]``, ``zn[r, p]`` (``sum_r zn <= zbar_nat[p]``) stock release by
                     regional and national holders; ``sd, sm [r, p]`` stock used by industries
                     in place of domestic / imported inputs
    ``e[r, p]``      essential deliveries, ``e <= E[r, p] = es_p C_des[r, p]`` (critical pairs)
    ``du, iu [r, p]`` (``technology="pooled"``) domestic and imported product used by the
                     region's industries, ``du <= sum_s a[p, (r,s)] xbar``,
                     ``iu <= sum_s AM[p, (r,s)] xbar`` (each at most its coefficient at capacity)

Constraints
    origin    ``sum_r (T + Te + N)[o, r, p] + ex_(o,p) - x_(o,p) - w_(o,p) = 0``
              (output is sold: no free disposal, so upstream output follows demand)
    market    ``sum_o (T + Te + N)[o, r, p] + sd - sum_s a[p, (r,s)] x_(r,s) - fd - u = 0``
              (origins of a product are perfect substitutes in the buyer's market)
    imports   ``m + u + sm - sum_s AM[p, (r,s)] x_(r,s) - fm = 0``
    pooled    (``technology="pooled"``, the default) the market and import rows take ``du``
              and ``iu`` in place of ``a x`` and ``AM x``, and a region's industries need
              ``sum_s w (a + AM) x - sum_(s half) (a + AM) xbar <= du + iu
              <= sum_s (a + AM) x`` with ``w`` 1 for a critical input, 2 for a half-critical
              one, 0 for an input that does not bind (the recipe's classes), less the
              buyers' input stocks ``sum_s cover (a + AM) xbar`` over binding inputs:
              mode ``rationing``'s technology
              (domestic and imported supply of a product pool at the buyer, up to each one's
              coefficient at capacity; immaterial inputs never bind; half-critical ones bind as
              ``(1 + s) / 2`` with the plan at most ``xbar``), aggregated over the region's
              buyers, so every rationing outcome is feasible here and the optimum bounds it.
              The upper side keeps "no free disposal": inputs are not absorbed beyond use.
    pool      ``sum_r m[r, p] <= alpha_p M0_p + WM_p``  (national pool; ``WM`` drawdown of
              imported inventories)
    stock     ``fs + sd + sm - zr - zn = 0``;  ``sum_r zn[r, p] <= zbar_nat[p]``
    essential ``e - (fd + fm) - fs <= 0`` (``final_rule="essential_first"``, the default, as
              in mode ``rationing``: consumption is served before other final uses and its
              essential part first) or ``e - es_p (fd + fm) - fs <= 0`` (``"proportional"``);
              stock release tops up essential use only
    new links ``sum_o N[o, r, p] <= nl_p need[r, p]``
    final share (``final_share_cap``, off by default) ``fd <= (Dd / S0) (sum_o (T + Te + N)
              + sd)`` and ``fm <= (Dm / m0) (m + u + sm)``, ``S0 = sum_o T0``: final users take
              at most their baseline share of a market (no queue-jumping ahead of industries).
              Off, the LP bounds rationing (whose final users get what industries leave, which
              may exceed that share). It was on by default with the fixed technology and the
              proportional essential row, under which stage 1 diverted critical products from
              industries and value added collapsed (china31, coastal capacity 70%: VA 15% of
              baseline without the cap). With the pooled technology and essential-first row the
              same scenario gives VA 80.0% and mean critical supply 0.9999 without the cap,
              76.9% and 0.963 with it (and ~25 s against ~12 s).

Objective, lexicographic
    stage 1   ``max sum_(r,p) omega[r, p] e[r, p]`` (``omega = 1/E0`` on critical pairs: each
              region-product's critical supply ratio counts equally; or ``1`` money-weighted)
    stage 2   on the optimal face of stage 1. First tried directly with ``e = E`` fixed (full
              essential supply, the stage-1 upper bound; HiGHS presolve rejects it in < 1 s
              when infeasible, and no attempt without presolve follows, which on china31 took
              ~5 s to end in numerical trouble: the stages below are exact either way): if it
              solves, stage 1 is skipped and the answer is exact (no shock on
              china31: ~2 s, ``x = x0`` to 1e-9; crossover on the degenerate stage 1 took 70 s).
              Otherwise one HiGHS instance (``highspy``, for warm starts) solves (a) the
              weighted LP ``c2 + lam c1`` (IPM with crossover: a vertex near the lexicographic
              optimum), (b) stage 1 by primal simplex from that basis (its exact optimum
              ``z1*``), (c) stage 2 with the row ``c1 z <= z1* + stage_tol |z1*|`` added, primal
              simplex from the stage-1 basis (duals free of ``lam``); a step that fails is
              retried with dual simplex, then default tolerances, and the result is accepted
              only if ``c1 z <= z1* + stage_tol |z1*| + 1e-7 |c1 . ub|``, else
              :class:`SolverError` (no approximate answer is returned). Stage 2 objective:
              ``max sum_j (v'_j + eps g(x0)_j) (x_j - xe_j) - eps xe_j - sum phi_p (Te + N)
              + eps (g(Dd) fd + g(Dm) fm + g(ex0) ex + 2 fs + w) - 2.5 eps (zr + zn)
              - eps/2 (sd + sm)`` (``eps w``: inventory drawdowns are used before the buyers'
              own stocks, so a null shock reproduces the baseline's final use) with ``xe_j >= x_j - x0_j`` (``0 <= xe``) the output
              above baseline where spare capacity allows it: the optimum keeps value added,
              it does not grow the economy (without this, idle capacity would replace
              imports and inventory drawdowns at no shock, and an import cut could raise
              value added); reported value added is ``v x`` all the same;
              ``v'_j = max(v_j, eps)`` so no industry is shut for accounting reasons. The
              ``eps`` terms (``1e-6`` of the mean VA coefficient) pick one vertex among equals:
              deliver rather than dispose, keep stocks unless they help, report stock reaching
              final users as ``fs``, and, through the generic weights
              ``g(a) = 1 + a / (a + mean a)`` in ``[1, 2)``, make ``x``, ``f`` and exports unique
              (VA alone ties often: e.g. which region's final users get a product), invariant
              to money units and to relabelling regions. Stage 2 is first run with HiGHS
              tolerances tightened to ``1e-10`` so that these weights are resolved, on LPs of
              up to ``TIGHT_STAGE2_MAX_VARIABLES`` variables; larger ones start with the
              default tolerances (HiGHS' simplex does not reach 1e-10 there). Shocked
              china31 (``tests/benchmarks/bench_optimal.py``, medians on a 2-core machine):
              ``coastal-blockade`` 4.0 s with the central recipe (97k variables, full-supply
              path), 2.5 s strict (58k); a strict 30% coastal capacity cut 2.2 s and coastal
              70% with five imports at 30% 3.4 s (stage-1 row path); nearly all of it HiGHS'
              interior point (~60 iterations) and crossover. Tried and not taken: dual simplex
              from the no-shock optimal basis (same structure, bounds changed) needs 37,500
              iterations on ``coastal-blockade`` (22 s against 4 s); dual simplex from scratch
              35 s; IPM without crossover 10% faster but not a vertex (outputs off by 1e-6,
              other duals); default instead of 1e-10 tolerances and 2 threads change nothing.

With no shock and no plan ``x = x0`` is feasible (every row holds with equality at baseline,
``T = T0``) and, since ``x <= x0`` and ``v' > 0``, optimal and unique. Duals of stage 2:
``capacity_value_j = -d obj / d xbar_j`` (value added per unit of capacity) and link values
from the upper-bound marginals of the top piece of each link.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.optimize import OptimizeWarning, linprog

from ..errors import SolverError

#: Tie-break weight in stage 2, relative to the mean value-added coefficient.
EPS = 1e-6
#: Largest LP (variables) whose stage 2 is first tried with tight (1e-10) tolerances.
TIGHT_STAGE2_MAX_VARIABLES = 20_000

_STATUS = {0: "optimal", 1: "iteration or time limit reached", 2: "infeasible",
           3: "unbounded", 4: "numerical difficulties"}


@dataclass(eq=False)
class LPInputs:
    """Numpy inputs of the LP (``n = R P``; money per year).

    ``xbar, x0, v, ex0, W`` (n); ``a, AM`` (P, n) domestic product and import requirements per unit
    of output; ``T0, rho_eff`` (R, R, P) baseline link flows ``[origin, destination, product]``
    and remaining link capacity share; ``headroom, new_links, friction, subst_imports, alpha``
    (P); ``Dd, Dm`` (R, P) desired domestic and imported final use; ``m0`` (R, P) baseline
    imports used; ``pool`` (P) import pool ``alpha M0 + WM``; ``E`` (R, P) essential demand
    ``es C_des``; ``es`` (P); ``omega`` (R, P) stage-1 weights (0 where not counted);
    ``zbar`` (R, P) and ``zbar_nat`` (P) stock release rates; ``technology``: ``"pooled"``
    (the buyers' technology of mode ``rationing``) or ``"fixed"`` (every input at its domestic
    and imported coefficient); ``input_weight`` (P, n) for ``"pooled"``: 1 critical, 2
    half-critical, 0 immaterial input (None: every used input critical); ``inventory_cover``
    (P, n) for ``"pooled"``: share of a binding input's window need that the buyer's stock
    covers (the recipe's inventories; None: none); ``final_rule``:
    ``"essential_first"`` (essential use is served first within delivered final use, as in
    mode ``rationing``) or ``"proportional"`` (an ``es`` share of delivered final use is
    essential); ``final_share_cap``: the final-share rows of the module docstring.
    """

    xbar: np.ndarray
    x0: np.ndarray
    v: np.ndarray
    a: np.ndarray
    AM: np.ndarray
    T0: np.ndarray
    rho_eff: np.ndarray
    headroom: np.ndarray
    new_links: np.ndarray
    friction: np.ndarray
    subst_imports: np.ndarray
    alpha: np.ndarray
    ex0: np.ndarray
    W: np.ndarray
    Dd: np.ndarray
    Dm: np.ndarray
    m0: np.ndarray
    pool: np.ndarray
    E: np.ndarray
    es: np.ndarray
    omega: np.ndarray
    zbar: np.ndarray
    zbar_nat: np.ndarray
    technology: str = "pooled"
    input_weight: np.ndarray | None = None
    inventory_cover: np.ndarray | None = None
    final_rule: str = "essential_first"
    final_share_cap: bool = False

    @property
    def R(self) -> int:
        return self.T0.shape[0]

    @property
    def P(self) -> int:
        return self.T0.shape[2]


@dataclass(eq=False)
class LPSolution:
    """Solution arrays. ``x, exports, w, capacity_value`` (n); ``T`` (R, R, P) total link flows;
    ``m, u, fd, fm, fs, sd, sm, zr, zn, essential`` (R, P); ``route_value`` (R, R, P) marginal
    value of link capacity (per money unit of flow); ``link_at_cap`` (R, R, P) bool;
    ``pool_used`` (P); ``friction_cost``; stage objectives (maximisation sense; stage 1
    evaluated on the final solution, ``sum omega * essential``)."""

    x: np.ndarray
    exports: np.ndarray
    w: np.ndarray
    T: np.ndarray
    m: np.ndarray
    u: np.ndarray
    fd: np.ndarray
    fm: np.ndarray
    fs: np.ndarray
    sd: np.ndarray
    sm: np.ndarray
    zr: np.ndarray
    zn: np.ndarray
    essential: np.ndarray
    capacity_value: np.ndarray
    route_value: np.ndarray
    link_at_cap: np.ndarray
    pool_used: np.ndarray
    friction_cost: float
    stage1_objective: float
    stage2_objective: float
    status: str
    info: dict = field(default_factory=dict)


class _Layout:
    """Column blocks of the LP: name -> slice."""

    def __init__(self):
        self.blocks: dict[str, slice] = {}
        self.size = 0

    def add(self, name: str, k: int) -> slice:
        s = slice(self.size, self.size + int(k))
        self.blocks[name] = s
        self.size += int(k)
        return s

    def __getitem__(self, name: str) -> slice:
        return self.blocks[name]


def _idx(s: slice) -> np.ndarray:
    return np.arange(s.start, s.stop)


def _generic(a: np.ndarray) -> np.ndarray:
    """Tie-break weights in ``[1, 2)`` from baseline sizes: ``1 + a / (a + mean(a))``
    (invariant to money units and to relabelling)."""
    a = np.maximum(np.asarray(a, float), 0.0)
    pos = a[a > 0]
    if not pos.size:
        return np.ones_like(a)
    return 1.0 + a / (a + pos.mean())


def build_lp(inp: LPInputs):
    """Assemble the sparse LP. Returns ``(layout, bounds_ub, A_eq, b_eq, A_ub, b_ub, c1, c2,
    meta)`` with both objectives in minimisation form."""
    R, P = inp.R, inp.P
    n = R * P
    T0 = np.asarray(inp.T0, float)
    cap = T0 * inp.rho_eff * (1.0 + inp.headroom)[None, None, :]
    exist = T0 > 0
    lo, lr, lp = np.nonzero(exist)
    T0l, capl = T0[lo, lr, lp], np.maximum(cap[lo, lr, lp], 0.0)
    phi_l = inp.friction[lp]
    split = (phi_l > 0) & (capl > T0l)
    ub_T = np.where(split, np.minimum(capl, T0l), capl)
    ub_Te = (capl - T0l)[split]

    need = T0.sum(axis=0)  # (R, P) baseline domestic supply to each market
    new_ok = (~exist) & (inp.new_links[None, None, :] > 0) & (inp.rho_eff > 0) \
        & (need[None, :, :] > 0)
    no, nr, npp = np.nonzero(new_ok)
    ub_N = inp.new_links[npp] * need[nr, npp] * np.minimum(inp.rho_eff[no, nr, npp], 1.0)

    lay = _Layout()
    bx = lay.add("x", n)
    bT = lay.add("T", lo.size)
    bTe = lay.add("Te", int(split.sum()))
    bN = lay.add("N", no.size)
    bex = lay.add("ex", n)
    bw = lay.add("w", n)
    rp = R * P
    bm, bu, bfd, bfm, bfs = (lay.add(k, rp) for k in ("m", "u", "fd", "fm", "fs"))
    bzr, bzn, bsd, bsm = (lay.add(k, rp) for k in ("zr", "zn", "sd", "sm"))
    pooled = inp.technology == "pooled"
    region_of = np.repeat(np.arange(R), P)
    if pooled:  # domestic and imported product used by each region's industries
        bdu, biu = lay.add("du", rp), lay.add("iu", rp)
        agg = sp.csr_matrix((np.ones(n), (region_of, np.arange(n))), shape=(R, n))
    ess_pairs = np.flatnonzero((inp.omega.reshape(-1) > 0) & (inp.E.reshape(-1) > 0))
    be = lay.add("e", ess_pairs.size)
    # industries that may exceed baseline output (not the negligible ones: their spare
    # capacity is immaterial and would only blur the baseline at LP tolerances)
    above = np.flatnonzero((inp.xbar > inp.x0) & (inp.x0 > 1e-12 * float(np.abs(inp.x0).sum())))
    bxe = lay.add("xe", above.size)
    nv = lay.size

    ub = np.empty(nv)
    tiny = inp.x0 <= 1e-12 * float(np.abs(inp.x0).sum())
    ub[bx] = np.where(tiny, np.minimum(inp.xbar, inp.x0), inp.xbar)
    ub[bT] = ub_T
    ub[bTe] = ub_Te
    ub[bN] = ub_N
    ub[bex] = inp.ex0
    ub[bw] = inp.W
    ub[bm] = np.inf
    ub[bu] = np.maximum((inp.subst_imports * (1.0 - inp.alpha))[None, :] * inp.m0, 0.0).reshape(-1)
    ub[bfd] = inp.Dd.reshape(-1)
    ub[bfm] = inp.Dm.reshape(-1)
    ub[bfs] = inp.E.reshape(-1)
    ub[bzr] = inp.zbar.reshape(-1)
    ub[bzn] = np.inf
    ub[bsd] = np.inf
    ub[bsm] = np.inf
    ub[be] = inp.E.reshape(-1)[ess_pairs]
    ub[bxe] = (inp.xbar - inp.x0)[above]
    if pooled:
        ub[bdu] = (agg @ (inp.a * inp.xbar).T).reshape(-1)
        ub[biu] = (agg @ (inp.AM * inp.xbar).T).reshape(-1)

    rows, cols, vals = [], [], []

    def put(r, c, v):
        rows.append(np.asarray(r, dtype=np.int64))
        cols.append(np.asarray(c, dtype=np.int64))
        vals.append(np.broadcast_to(np.asarray(v, float), np.shape(r)).astype(float))

    # equality rows: origin [0, n), market [n, n + rp), imports [n + rp, n + 2rp),
    # stock [n + 2rp, n + 3rp)
    r_org, r_mkt, r_imp, r_stk = 0, n, n + rp, n + 2 * rp
    ar = np.arange(rp)
    # links
    for blk, oo, rr, pp in ((bT, lo, lr, lp), (bTe, lo[split], lr[split], lp[split]),
                            (bN, no, nr, npp)):
        cidx = _idx(blk)
        put(r_org + oo * P + pp, cidx, 1.0)
        put(r_mkt + rr * P + pp, cidx, 1.0)
    # origin: + ex - x - w
    put(r_org + np.arange(n), _idx(bex), 1.0)
    put(r_org + np.arange(n), _idx(bx), -1.0)
    put(r_org + np.arange(n), _idx(bw), -1.0)
    # market: + sd - a x - fd - u ; imports: + m + u + sm - AM x - fm (pooled: - du, - iu)
    if pooled:
        put(r_mkt + ar, _idx(bdu), -1.0)
        put(r_imp + ar, _idx(biu), -1.0)
    else:
        for mat, base in ((inp.a, r_mkt), (inp.AM, r_imp)):
            pp, jj = np.nonzero(mat)
            put(base + region_of[jj] * P + pp, bx.start + jj, -mat[pp, jj])
    put(r_mkt + ar, _idx(bsd), 1.0)
    put(r_mkt + ar, _idx(bfd), -1.0)
    put(r_mkt + ar, _idx(bu), -1.0)
    put(r_imp + ar, _idx(bm), 1.0)
    put(r_imp + ar, _idx(bu), 1.0)
    put(r_imp + ar, _idx(bsm), 1.0)
    put(r_imp + ar, _idx(bfm), -1.0)
    # stock: fs + sd + sm - zr - zn = 0
    for blk, sgn in ((bfs, 1.0), (bsd, 1.0), (bsm, 1.0), (bzr, -1.0), (bzn, -1.0)):
        put(r_stk + ar, _idx(blk), sgn)
    n_eq = n + 3 * rp
    A_eq = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(n_eq, nv))
    b_eq = np.zeros(n_eq)

    # inequality rows: pool [0, P), national stock [P, 2P), essential, new-link totals
    rows, cols, vals = [], [], []
    prod_of_rp = np.tile(np.arange(P), R)
    put(prod_of_rp, _idx(bm), 1.0)
    put(P + prod_of_rp, _idx(bzn), 1.0)
    r_ess = 2 * P
    k = np.arange(ess_pairs.size)
    put(r_ess + k, _idx(be), 1.0)
    es_pair = (inp.es[prod_of_rp[ess_pairs]] if inp.final_rule == "proportional"
               else np.ones(ess_pairs.size))
    put(r_ess + k, bfd.start + ess_pairs, -es_pair)
    put(r_ess + k, bfm.start + ess_pairs, -es_pair)
    put(r_ess + k, bfs.start + ess_pairs, -1.0)
    r_new = r_ess + ess_pairs.size
    new_rp = np.unique(nr * P + npp)
    pos = np.searchsorted(new_rp, nr * P + npp)
    put(r_new + pos, _idx(bN), 1.0)
    r_share = r_new + new_rp.size
    n_share = 0
    if inp.final_share_cap:
        # fd <= (Dd / S0) (sum_o T + sd),  fm <= (Dm / m0) (m + u + sm)
        S0 = need.reshape(-1)
        Dd, Dm, m0 = inp.Dd.reshape(-1), inp.Dm.reshape(-1), np.asarray(inp.m0, float).reshape(-1)
        kd = np.flatnonzero((Dd > 0) & (S0 > 0))
        km = np.flatnonzero((Dm > 0) & (m0 > 0))
        shd = np.minimum(Dd[kd] / S0[kd], 1.0)
        shm = np.minimum(Dm[km] / m0[km], 1.0)
        rowd = r_share + np.arange(kd.size)
        pos_d = np.full(rp, -1)
        pos_d[kd] = rowd
        put(rowd, bfd.start + kd, 1.0)
        put(rowd, bsd.start + kd, -shd)
        for blk, rr, pp in ((bT, lr, lp), (bTe, lr[split], lp[split]), (bN, nr, npp)):
            mk = rr * P + pp
            ok = pos_d[mk] >= 0
            put(pos_d[mk[ok]], _idx(blk)[ok], -shd[np.searchsorted(kd, mk[ok])])
        rowm = r_share + kd.size + np.arange(km.size)
        put(rowm, bfm.start + km, 1.0)
        for blk in (bm, bu, bsm):
            put(rowm, blk.start + km, -shm)
        n_share = kd.size + km.size
    r_use = r_share + n_share
    n_use = 0
    b_use = np.zeros(0)
    if pooled:
        # du + iu >= sum_s w (a + AM) x_s - sum_(half s) (a + AM) xbar_s  (need, lower rows)
        # du + iu <= sum_s (a + AM) x_s                                   (use, upper rows)
        share = inp.a + inp.AM
        w = np.where(share > 0, 1.0, 0.0) if inp.input_weight is None else inp.input_weight
        pp, jj = np.nonzero(share)
        mk = region_of[jj] * P + pp
        put(r_use + mk, bx.start + jj, (w * share)[pp, jj])
        put(r_use + rp + mk, bx.start + jj, -share[pp, jj])
        for blk in (bdu, biu):
            put(r_use + ar, _idx(blk), -1.0)
            put(r_use + rp + ar, _idx(blk), 1.0)
        n_use = 2 * rp
        half_need = (agg @ np.where(w == 2, share * inp.xbar, 0.0).T).reshape(-1)
        if inp.inventory_cover is not None:
            # the buyers' input stocks cover this much of a binding input's need
            half_need = half_need + (agg @ np.where(
                w > 0, inp.inventory_cover * share * inp.xbar, 0.0).T).reshape(-1)
        b_use = np.concatenate([half_need, np.zeros(rp)])
    # x_j - xe_j <= x0_j: output above baseline (spare capacity) is counted apart, so that
    # the objective values output kept, not growth beyond the baseline
    r_above = r_use + n_use
    put(r_above + np.arange(above.size), bx.start + above, 1.0)
    put(r_above + np.arange(above.size), _idx(bxe), -1.0)
    n_ub = r_above + above.size
    A_ub = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(n_ub, nv))
    b_ub = np.concatenate([np.asarray(inp.pool, float), np.asarray(inp.zbar_nat, float),
                           np.zeros(ess_pairs.size),
                           inp.new_links[new_rp % P] * need.reshape(-1)[new_rp],
                           np.zeros(n_share), b_use, inp.x0[above]])

    c1 = np.zeros(nv)
    c1[be] = -inp.omega.reshape(-1)[ess_pairs]
    c2 = np.zeros(nv)
    vpos = inp.v[inp.v > 0]
    eps = EPS * (float(vpos.mean()) if vpos.size else 1.0)
    c2[bx] = -(np.maximum(inp.v, eps) + eps * _generic(inp.x0))
    c2[bxe] = -c2[bx][above] + eps  # output above baseline: no value in itself, a tiny cost
    c2[bTe] = inp.friction[lp[split]]
    c2[bN] = inp.friction[npp]
    c2[bfd] = -eps * _generic(inp.Dd.reshape(-1))
    c2[bfm] = -eps * _generic(inp.Dm.reshape(-1))
    c2[bex] = -eps * _generic(inp.ex0)
    c2[bfs] = -2 * eps
    c2[bw] = -eps  # use inventory drawdowns before buyers' own stocks (tie-break)
    c2[bzr] = c2[bzn] = 2.5 * eps
    c2[bsd] = c2[bsm] = eps / 2
    meta = {"links": (lo, lr, lp), "split": split, "new": (no, nr, npp),
            "ess_pairs": ess_pairs, "n_eq": n_eq, "n_ub": n_ub}
    return lay, ub, A_eq, b_eq, A_ub, b_ub, c1, c2, meta


_TIGHT = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}
_SOLVER = {"highs-ipm": {"solver": "ipm"}, "highs-ds": {"solver": "simplex", "simplex_strategy": 1},
           "highs": {"solver": "choose"}}
_PRIMAL = {"solver": "simplex", "simplex_strategy": 4}
_LOOSE = {"primal_feasibility_tolerance": 1e-7, "dual_feasibility_tolerance": 1e-7}


def solve_lp(c, A_ub, b_ub, A_eq, b_eq, ub, *, lb=None, method: str = "highs-ipm",
             time_limit: float | None = None, stage: str = "LP", tight: bool = False,
             last_resort: bool = True):
    """``linprog`` with HiGHS on ``0 <= z <= ub`` (the full-supply and no-essential stages);
    falls back to dual simplex when IPM stops on
    a limit or on numerical trouble, and raises :class:`SolverError` naming the stage and status
    otherwise; ``tight`` tolerances (1e-10) are dropped, and at last presolve too
    (``last_resort``), before giving up (HiGHS may call a problem with tiny bounds infeasible
    under them). Returns the ``OptimizeResult``."""
    bounds = np.column_stack([np.zeros_like(ub) if lb is None else lb, ub])
    tried = []
    attempts = [(method, tight, True), ("highs-ds", tight, True)]
    if tight:
        attempts.append((method, False, True))
    if last_resort:
        attempts.append(("highs-ds", False, False))
    for meth, tgt, pre in dict.fromkeys(attempts):
        opts = {"presolve": pre}
        if time_limit is not None:
            opts["time_limit"] = float(time_limit)
        if tgt:
            opts.update(_TIGHT, ipm_optimality_tolerance=1e-10)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Unrecognized options",
                                    category=OptimizeWarning)
            res = linprog(c, A_ub=A_ub if A_ub is not None and A_ub.shape[0] else None,
                          b_ub=b_ub if A_ub is not None and A_ub.shape[0] else None,
                          A_eq=A_eq, b_eq=b_eq, bounds=bounds, method=meth, options=opts)
        tried.append(f"{meth}{' (tight)' if tgt else ''}{'' if pre else ' (no presolve)'}: "
                     f"status {res.status} "
                     f"({_STATUS.get(res.status, '?')})")
        if res.status == 0:
            res.method_used = meth + (" (tight)" if tgt else "") + ("" if pre else " (no presolve)")
            return res
        if res.status == 1 and time_limit is not None:
            break
    raise SolverError(f"optimal: {stage} failed ({'; '.join(tried)}): {res.message}")


def _atol1(c1, ub) -> float:
    """Absolute slack on the stage-1 optimum: ``1e-7`` (HiGHS' default primal feasibility
    tolerance) of full essential supply ``|c1 . ub|``
    (``c1`` is nonzero on the bounded ``e`` only), so a near-zero optimum is not held to
    solver noise."""
    return 1e-7 * abs(float(c1[c1 != 0] @ ub[c1 != 0])) + 1e-12


def _quiet_highs():
    """``highspy.Highs()`` without the banner its first instance writes to the process's
    standard output (file descriptor 1, which ``output_flag`` and Python's redirections do
    not reach)."""
    import os
    import sys

    import highspy

    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no usable descriptor 1: nothing to protect
        return highspy.Highs()
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            return highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _highs(c, A_ub, b_ub, A_eq, b_eq, ub, time_limit):
    """A silent ``highspy.Highs`` holding ``min c z, A_eq z = b_eq, A_ub z <= b_ub, 0 <= z <= ub``
    (each :func:`_run` sets its tolerances)."""
    import highspy

    A = sp.vstack([A_eq, A_ub], format="csc")
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = A.shape[1], A.shape[0]
    lp.col_cost_ = np.asarray(c, float)
    lp.col_lower_ = np.zeros(A.shape[1])
    lp.col_upper_ = np.where(np.isfinite(ub), ub, inf)
    lp.row_lower_ = np.concatenate([b_eq, np.full(A_ub.shape[0], -inf)])
    lp.row_upper_ = np.concatenate([b_eq, b_ub])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = A.shape[1], A.shape[0]
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = A.indptr, A.indices, A.data
    h = _quiet_highs()
    h.setOptionValue("output_flag", False)
    if time_limit is not None:
        h.setOptionValue("time_limit", float(time_limit))
    h.passModel(lp)
    return h


def _run(h, stage: str, opts: dict, tried: list):
    """Solve ``h`` with solver options ``opts`` (from its current basis, if any); returns
    whether HiGHS reports an optimum, recording the attempt in ``tried``."""
    import highspy

    for k, v in {**_TIGHT, "presolve": "choose", **opts}.items():
        h.setOptionValue(k, v)
    h.run()
    st = h.getModelStatus()
    loose = " (loose)" if "primal_feasibility_tolerance" in opts else ""
    tried.append(f"{stage} {opts.get('solver')}{loose}: {h.modelStatusToString(st)} "
                 f"(cumulative {h.getRunTime():.2f} s)")
    return st == highspy.HighsModelStatus.kOptimal


def _solve_stages(c1, c2, A_ub, b_ub, A_eq, b_eq, ub, inp, method, stage_tol, time_limit,
                  info):
    """Lexicographic stages 1 and 2 on one HiGHS instance, each warm-started from the basis of
    the one before. (a) ``min c2 + lam c1``, ``lam = 1e3 / min omega`` (``method``; IPM with
    crossover by default): a vertex close to the lexicographic optimum. (b) ``min c1``, primal
    simplex from that basis: the stage-1 optimum ``z1``. (c) the row ``c1 z <= z1 + stage_tol |z1|``
    added, ``min c2``, primal simplex: stage 2 on the stage-1 optimal face, with duals free of
    ``lam``. A step that does not reach an optimum is retried with dual simplex (from scratch
    for (a)); :class:`SolverError` if that fails too. Returns ``(z, upper marginals, z1)``."""
    import highspy

    nv = c1.size
    cols = np.arange(nv, dtype=np.int32)
    scale1 = float(np.abs(c1).max())
    lam = 1e3 / float(inp.omega[inp.omega > 0].min())
    h = _highs(c2 + lam * c1, A_ub, b_ub, A_eq, b_eq, ub, time_limit)
    tried: list = []

    def step(stage, *attempts):
        if not any(_run(h, stage, opts, tried) for opts in attempts):
            raise SolverError(f"optimal: {stage} failed ({'; '.join(tried)})")
        inf = h.getInfo()
        return inf.ipm_iteration_count + inf.crossover_iteration_count \
            + inf.simplex_iteration_count

    t = time.perf_counter()
    it = step("weighted stages 1-2", _SOLVER[method], {**_SOLVER["highs-ds"], "presolve": "off"})
    info["weighted_seconds"] = round(time.perf_counter() - t, 4)
    info["weighted_iterations"] = int(it)
    h.changeColsCost(nv, cols, c1 / scale1)
    retry = (_SOLVER["highs-ds"], {**_PRIMAL, **_LOOSE})
    info["stage1_iterations"] = int(step("stage 1 (essential supply)", _PRIMAL, *retry))
    z1 = float(h.getInfo().objective_function_value) * scale1
    nz = np.flatnonzero(c1).astype(np.int32)
    h.addRow(-highspy.kHighsInf, (z1 + stage_tol * abs(z1) + 1e-12) / scale1,
             nz.size, nz, c1[nz] / scale1)
    h.changeColsCost(nv, cols, c2)
    # tight tolerances resolve the 1e-6 tie-break weights of stage 2; on large LPs HiGHS'
    # simplex does not reach them (china31: "Unknown" after ~3 s, then the default
    # tolerances answer), so it starts there
    stage2 = (_PRIMAL, *retry) if nv <= TIGHT_STAGE2_MAX_VARIABLES else retry[::-1]
    info["stage2_iterations"] = int(step("stage 2 (value added)", *stage2))
    sol = h.getSolution()
    z = np.asarray(sol.col_value, float)
    marg = np.minimum(np.asarray(sol.col_dual, float), 0.0)  # < 0 only at the upper bound
    gap = float(c1 @ z) - z1
    info["stage1_gap"] = gap / max(abs(z1), 1e-300)
    if gap > stage_tol * abs(z1) + _atol1(c1, ub):
        raise SolverError(f"optimal: stage 2 misses the stage-1 optimum by "
                          f"{info['stage1_gap']:.3g} relative (> stage_tol {stage_tol:g})")
    info["lexicographic"] = "stage-1 row, warm-started from the weighted vertex"
    info["solver_steps"] = "; ".join(tried)
    return z, marg, z1


def solve_optimal(inp: LPInputs, *, method: str = "highs-ipm", stage_tol: float = 1e-9,
                  time_limit: float | None = None) -> LPSolution:
    """Build and solve the two-stage LP of the module docstring."""
    t0 = time.perf_counter()
    lay, ub, A_eq, b_eq, A_ub, b_ub, c1, c2, meta = build_lp(inp)
    t_build = time.perf_counter() - t0
    R, P = inp.R, inp.P
    info = {"n_variables": int(lay.size), "n_equalities": int(meta["n_eq"]),
            "n_inequalities": int(meta["n_ub"]), "nnz": int(A_eq.nnz + A_ub.nnz),
            "build_seconds": round(t_build, 4)}
    z1 = 0.0
    res2 = None
    if np.any(c1 != 0):
        be = lay["e"]
        z1_max = float(c1[be] @ ub[be])
        lo_full = np.zeros_like(ub)
        lo_full[be] = ub[be]
        try:
            res2 = solve_lp(c2, A_ub, b_ub, A_eq, b_eq, ub, lb=lo_full, method=method, tight=True,
                            time_limit=time_limit, stage="stage 2 (value added, full supply)",
                            last_resort=False)
        except SolverError as err:
            if "infeasible" not in str(err):
                raise
            info["full_supply"] = False
        if res2 is not None:
            z1 = z1_max
            info["full_supply"] = True
            info["lexicographic"] = "full essential supply (e = E fixed)"
            info["stage1_gap"] = 0.0
    if res2 is None and np.any(c1 != 0):
        z, marg, z1 = _solve_stages(c1, c2, A_ub, b_ub, A_eq, b_eq, ub, inp, method, stage_tol,
                                    time_limit, info)
        fun2 = float(c2 @ z)
        info["stage_tol"] = stage_tol
    else:
        if res2 is None:
            res2 = solve_lp(c2, A_ub, b_ub, A_eq, b_eq, ub, method=method, tight=True,
                            time_limit=time_limit, stage="stage 2 (value added)")
        info["stage2_method"] = res2.method_used
        info["stage2_iterations"] = int(res2.nit)
        z, marg, fun2 = res2.x, np.asarray(res2.upper.marginals), float(res2.fun)
    info["solve_seconds"] = round(time.perf_counter() - t0 - t_build, 4)
    z = np.minimum(np.maximum(z, 0.0), ub)
    marg = -marg

    lo, lr, lp = meta["links"]
    split = meta["split"]
    no, nr, npp = meta["new"]
    T = np.zeros((R, R, P))
    np.add.at(T, (lo, lr, lp), z[lay["T"]])
    np.add.at(T, (lo[split], lr[split], lp[split]), z[lay["Te"]])
    np.add.at(T, (no, nr, npp), z[lay["N"]])
    route_value = np.zeros((R, R, P))
    top = marg[lay["T"]].copy()
    top[split] = marg[lay["Te"]]
    route_value[lo, lr, lp] = top
    route_value[no, nr, npp] = marg[lay["N"]]
    at_cap = np.zeros((R, R, P), bool)
    tot_ub = ub[lay["T"]].copy()
    tot_ub[split] += ub[lay["Te"]]
    tot_l = T[lo, lr, lp]
    at_cap[lo, lr, lp] = tot_l >= tot_ub - 1e-9 * np.maximum(tot_ub, 1.0)

    def rpv(name):
        return z[lay[name]].reshape(R, P)

    fd, fm, fs = rpv("fd"), rpv("fm"), rpv("fs")
    E = inp.E
    share = inp.es[None, :] if inp.final_rule == "proportional" else 1.0
    essential = np.minimum(share * (fd + fm) + fs, E)
    friction_cost = float(c2[lay["Te"]] @ z[lay["Te"]] + c2[lay["N"]] @ z[lay["N"]])
    va = float(np.asarray(inp.v) @ z[lay["x"]])
    return LPSolution(
        x=z[lay["x"]], exports=z[lay["ex"]], w=z[lay["w"]], T=T, m=rpv("m"), u=rpv("u"),
        fd=fd, fm=fm, fs=fs, sd=rpv("sd"), sm=rpv("sm"), zr=rpv("zr"), zn=rpv("zn"),
        essential=essential, capacity_value=marg[lay["x"]], route_value=route_value,
        link_at_cap=at_cap, pool_used=rpv("m").sum(axis=0), friction_cost=friction_cost,
        stage1_objective=float(np.sum(inp.omega * essential)),
        stage2_objective=-fun2, status="optimal",
        info={**info, "value_added": va, "stage1_lp_objective": -z1},
    )
