"""Day-by-day propagation kernel (ARIO-style, Hallegatte 2008/2014; Pichler et al. 2022 JEDC).

Pure numerics: numpy/scipy arrays in, arrays out. All flows are **daily** (annual / 365) on the
stacked industry axis ``industry = r * S + s`` (``n = R * S``); products ``P = S``.
The equations are in ``docs/dynamic.md``. One simulated day costs a fixed number of passes
over the links of ``A``: dense ``(S, R, n)`` link arrays for tables up to
:data:`DENSE_LIMIT` industries, sparse link vectors (``np.bincount`` over the nonzeros of
``A``) above that.

The production recipe (:mod:`stresstest.recipe`) enters through :class:`Params`: which inputs
bind (``crit``, ``half``), input inventories in days of use (``cover``), which buyers a short
product serves first (``first``), overproduction toward spare capacity (``overprod_max``) and
the re-sourcing bounds in :class:`Backups`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from . import dynamic_fused as fused

#: Largest table (industries) held as dense ``(S, R, n)`` link arrays.
DENSE_LIMIT = 4000
#: Codes of the binding constraint (same as :data:`stresstest.result.BINDING`).
NONE, DEMAND, CAPACITY, INPUT, IMPORT, ROUTE = 0, 1, 2, 3, 4, 5
FINAL_RULES = ("proportional", "essential_first", "mixed")
#: Overproduction rules: ``ramp`` (the recipe's spare capacity: while demand is unmet the
#: factor moves toward the ceiling with time constant ``overprod_tau``, otherwise back toward
#: what demand needs) and ``ario`` (Hallegatte's: toward the ceiling at a speed proportional
#: to the share of demand left unmet, otherwise back toward 1).
OVERPROD_RULES = ("ramp", "ario")
#: Capacity shares below ``1 - KAPPA_TOL`` count as hit by an event.
KAPPA_TOL = 1e-12


@dataclass(eq=False)
class Table:
    """The baseline economy in daily flows.

    ``x0`` (n) output; ``A`` (n, n) CSC technical coefficients; ``a`` (P, n) product
    requirements; ``AM`` (P, n) import coefficients; ``tau0`` (n, n) CSC sourcing shares;
    ``Y`` (n, R, U) domestic final use by destination; ``exports`` (n); ``MY`` (P, R, U)
    imported final use; ``cons`` (U) bool consumption uses; ``essential_share`` (P);
    ``pools`` optional ``(G, col_row)`` of :func:`stresstest.kernels.iomath.pooled_rows` for
    ``tau0`` (buyers with identical sourcing shares share a row of ``G``).
    """

    n_region: int
    n_sector: int
    x0: np.ndarray
    A: sp.csc_matrix
    a: np.ndarray
    AM: np.ndarray
    tau0: sp.csc_matrix
    Y: np.ndarray
    exports: np.ndarray
    MY: np.ndarray
    cons: np.ndarray
    essential_share: np.ndarray
    pools: tuple | None = None

    @property
    def n(self) -> int:
        return self.n_region * self.n_sector


@dataclass(eq=False)
class Params:
    """Behavioural parameters (the wrapper: ``stresstest.modes.dynamic``).

    ``cover`` (P, n) target inventory of input ``p`` held by buyer ``j``, days of its baseline
    use (domestic and imported units pooled; 0: not storable); ``crit``, ``half`` (P, n)
    inputs that bind as Leontief and as Pichler's "important" input
    (``½ availability + ½ capacity``); the others never bind; ``first`` (P, n) or None: a
    supplier serves the orders of buyers for which its product binds first (the recipe's
    ``critical_first``); ``restock_tau`` days to close an inventory gap; ``overprod_max``
    (n, or a number) ceiling of the overproduction factor, approached with time constant
    ``overprod_tau`` days by ``overprod_rule`` (:data:`OVERPROD_RULES`);
    ``overprod_when_hit``: an industry whose capacity an event cuts overproduces too (ARIO)
    instead of having no spare capacity (the recipe's rule); ``final_rule``;
    ``resourcing_tau`` days, time constant of re-sourcing (exponential; 0: at once);
    ``stock_refill_days`` days to refill an empty stockpile after the shock window;
    ``stock_trigger``: industries draw on stockpiles when their holdings of a binding input
    (stock plus arrivals) fall below a day of planned use plus ``stock_trigger`` times the
    target inventory; ``inventory_psi`` (BoARIO's ψ): production is throttled once
    inventory falls below ``ψ`` times its target,
    ``x^in = (S + arr) / ((a + AM) max(1, ψ cover))`` (0: only physical shortage).
    """

    cover: np.ndarray
    crit: np.ndarray
    half: np.ndarray
    first: np.ndarray | None = None
    restock_tau: float = 10.0
    overprod_max: np.ndarray | float = 1.0
    overprod_tau: float = 15.0
    overprod_rule: str = "ramp"
    overprod_when_hit: bool = False
    final_rule: str = "proportional"
    resourcing_tau: float = 15.0
    stock_refill_days: float = 365.0
    stock_trigger: float = 0.5
    inventory_psi: float = 0.0


@dataclass(eq=False)
class Path:
    """Time-varying inputs, leading axis ``T`` days (money daily).

    ``kappa`` (T, n); ``standby`` (T, n) or None; ``alpha_M`` (T, P); ``rho`` (T, R, R, P) or
    None; ``delta`` (T, R, P, U) or None; ``epsilon`` (T, n) remaining foreign demand for each
    industry's exports or None.
    """

    kappa: np.ndarray
    alpha_M: np.ndarray
    standby: np.ndarray | None = None
    rho: np.ndarray | None = None
    delta: np.ndarray | None = None
    epsilon: np.ndarray | None = None

    @property
    def days(self) -> int:
        return self.kappa.shape[0]


@dataclass(eq=False)
class Backups:
    """Plan and recipe arrays: ``corridor`` (R, R) extra route share; ``stock`` and
    ``max_release`` (R + 1, P) (last row national; release per day); ``headroom``,
    ``new_links``, ``imports`` (P) re-sourcing bounds (the recipe's plus the plan's);
    ``window_end`` first day after the shock window; ``friction`` (P) or None: cost of
    substituted flows, share of their value, charged to the buyer's value added."""

    corridor: np.ndarray
    stock: np.ndarray
    max_release: np.ndarray
    headroom: np.ndarray
    new_links: np.ndarray
    imports: np.ndarray
    window_end: int = 0
    friction: np.ndarray | None = None

    @classmethod
    def empty(cls, R: int, P: int) -> "Backups":
        z = np.zeros(P)
        return cls(np.zeros((R, R)), np.zeros((R + 1, P)), np.zeros((R + 1, P)), z, z.copy(),
                   z.copy())


@dataclass(eq=False)
class Trace:
    """Per-day outputs (daily money), trailing axis ``T``.

    ``x, capacity, exports, binding, binding_product, standby`` (n, T); ``f`` (R, P, 3, T)
    domestic / imported / stock final deliveries; ``essential`` (R, P, T); ``stock``
    (R + 1, P, T) end of day; ``inventory_days`` (R, P, T) days of baseline use held (end of
    day); ``overprod`` (n, T); ``cost`` (n, T) friction on substituted flows or None;
    optional ``S`` (start of day), ``arrivals`` (domestic,
    imported and stockpile units), ``arrivals_M`` (the imported part), ``use`` (P, n, T)
    when recorded: ``S(t+1) = S(t) + arrivals(t) - use(t)``.
    """

    x: np.ndarray
    capacity: np.ndarray
    exports: np.ndarray
    f: np.ndarray
    essential: np.ndarray
    binding: np.ndarray
    binding_product: np.ndarray
    stock: np.ndarray
    inventory_days: np.ndarray
    overprod: np.ndarray
    standby: np.ndarray | None = None
    cost: np.ndarray | None = None
    flows: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- links


class _DenseLinks:
    """Links as dense ``(S, R, n)`` arrays ``L[s, o, k]`` (supplier ``o*S+s`` -> buyer ``k``);
    the per-product contractions are batched matrix products (several right-hand sides at
    once: the cost is reading the link array).

    Sourcing shares are ``tau = tau0 + Δ``: ``tau0`` is fixed and the re-sourcing deviation
    ``Δ`` lives only on the buyer-products allowed to re-source (:meth:`setup_resourcing`;
    with the recipe's ``critical_first``, the binding inputs: about a fifth of them), stored
    once per pooled row of them ``(ngroups, R)``, so that re-sourcing costs a fraction of a
    pass over the links. Where buyers share pooled sourcing rows (``Table.pools``, at most
    :attr:`POOLED_MAX_FILL` of the link array), the contractions go through them instead.
    """

    #: Pooled rows replace the dense contractions when ``G`` has at most this share of the
    #: link array's entries.
    POOLED_MAX_FILL = 0.25

    def __init__(self, t: Table):
        R, S, n = t.n_region, t.n_sector, t.n
        self.R, self.S, self.n = R, S, n
        self.tau0 = np.ascontiguousarray(t.tau0.toarray().reshape(R, S, n).transpose(1, 0, 2))
        self._pool = self._col_row = None
        if t.pools is not None:
            G, col_row = t.pools
            self._col_row = col_row
        if t.pools is not None and G.nnz <= self.POOLED_MAX_FILL * self.tau0.size:
            U = G.shape[0]
            where = np.flatnonzero(col_row.ravel() >= 0)
            # orders of the buyer-products that share a row, summed: (U, P n)
            Hsum = sp.csr_matrix((np.ones(where.size), (col_row.ravel()[where], where)),
                                 shape=(U, S * n))
            # each buyer-product's row, or U (a row of zeros) where it buys none at home
            row_of = np.where(col_row.ravel() >= 0, col_row.ravel(), U).astype(np.int32)
            self._pool = (sp.csr_matrix(G.T), sp.csr_matrix(G), Hsum, row_of)
        self._z0 = None
        self._t = t
        self._cap_key = self._cap = None
        self.delta = None       # (ngroups, R) deviation from tau0, or None while at tau0
        self.pair_s = self.pair_k = self.pair_g = None

    def _ind(self, so):
        """(S, R, k) -> industry vectors (k, n), region-major."""
        return so.transpose(2, 1, 0).reshape(so.shape[2], self.n)

    def _so(self, v):
        """industry vectors (k, n) -> (S, k, R)."""
        return v.reshape(v.shape[0], self.R, self.S).transpose(2, 0, 1)

    def z0(self):
        if self._z0 is None:
            z = (self._t.A.toarray() * self._t.x0[None, :]).reshape(self.R, self.S, self.n)
            self._z0 = np.ascontiguousarray(z.transpose(1, 0, 2))
        return self._z0

    # ---- re-sourcing deviation on pairs, stored once per group of pairs with equal shares
    def setup_resourcing(self, mask):
        """Buyer-products ``mask`` (P, n) that may re-source. Pairs in one pooled row have the
        same sourcing shares, hence the same re-sourcing targets and deviation from the
        start: the deviation is stored once per group (a pooled row; each pair its own group
        without pooled rows)."""
        s, k = np.nonzero(mask)
        if self._col_row is not None:
            _, rep, g = np.unique(self._col_row[s, k], return_index=True, return_inverse=True)
        else:
            rep, g = np.arange(s.size), np.arange(s.size)
        g = g.reshape(-1)
        self.pair_s, self.pair_k, self.pair_g = s, k, g
        self.group_s = s[rep]
        self.t0p = np.ascontiguousarray(self.tau0[s[rep], :, k[rep]])  # (ngroups, R)
        self.newmask = self.t0p == 0
        # the groups of each product: group_s is sorted (groups follow the pooled rows, which
        # are product-major, or the pairs, which are)
        self.group_ptr = np.searchsorted(self.group_s, np.arange(self.S + 1))
        self._state = {"u": None, "c": None, "full": None, "target": None}
        self._dmax = 0.0

    def _pair_demand(self, Os):
        """Extra orders on suppliers (S, k, R) from the deviation:
        ``Σ_k Δ[o, (s, k)] O[s, k]`` for each of ``Os`` (:func:`.dynamic_fused.pair_demand`)."""
        out = np.empty((self.S, len(Os), self.R))
        for j, O in enumerate(Os):
            fused.pair_demand(O, self.pair_s, self.pair_k, self.pair_g, self.group_ptr,
                              self.delta, out, j)
        return out

    def _add_pair_ratios(self, ratio, r):
        """The deviation's part of the pooled ratios ``r`` (n) added to the pairs of
        ``ratio`` (P, n) (:func:`.dynamic_fused.add_pair_ratios`)."""
        fused.add_pair_ratios(ratio, r, self.pair_s, self.pair_k, self.pair_g, self.group_s,
                              self.delta, self.S)

    def order_rows(self):
        """The pooled row of each buyer-product (P, n), ``U`` where it buys none at home, or
        None without pooled contractions (for :func:`.dynamic_fused.settle`)."""
        return None if self._pool is None else self._pool[3].reshape(self.S, self.n)

    def demand(self, Os, alias=None, row_orders=None):
        """Orders on each supplier ``Σ_k tau[i, k] O[p(i), k]`` (k, n) for a list of order
        arrays ``O`` (P, n); ``alias`` ``{j: i}``: ``Os[j]`` equals ``Os[i]`` on the
        re-sourcing pairs (saves recomputing the deviation's part); ``row_orders`` (U + 1,
        k): the ``Os`` already summed per pooled row (:meth:`order_rows`)."""
        if self._pool is not None:  # Σ_u G[u, i] Σ_(k in row u) O[p(i), k]
            GT, _, Hsum, _ = self._pool
            if row_orders is None:
                row_orders = np.stack([Hsum @ O.ravel() for O in Os], axis=1)  # (U, k)
            dd = np.empty((len(Os), self.n))
            fused.csr_columns(GT.indptr, GT.indices, GT.data, row_orders.T[:len(Os)],
                              np.ones(len(Os), dtype=bool), dd)
        else:
            dd = self._ind(np.matmul(self.tau0, np.stack(Os, axis=2)))  # (k, n)
        if self.delta is not None:
            alias = alias or {}
            own = [j for j in range(len(Os)) if j not in alias]
            part = self._pair_demand([Os[j] for j in own])  # (S, k, R)
            where = {j: m for m, j in enumerate(own)}
            for j in range(len(Os)):
                dd[j] += part[:, where[alias.get(j, j)], :].T.reshape(-1)
        return dd

    def pooled(self, rs, pair_rows=None):
        """``r̃[p, k] = Σ_{i∈p} tau[i, k] r_i`` (k, P, n) for ratios ``rs`` (k, n) through the
        link array (pooled rows: :meth:`delivery_ratios`); a row of ones gives ones
        (``Σ_i tau[i, k] = 1``). ``pair_rows``: the rows whose values on the re-sourcing pairs
        are used (default all)."""
        k = rs.shape[0]
        out = np.empty((k, self.S, self.n))
        live = [j for j in range(k) if rs[j].min() < 1.0]
        for j in range(k):
            if j not in live:
                out[j] = 1.0
        if live:
            out[live] = np.matmul(self._so(rs[live]), self.tau0).transpose(1, 0, 2)
            if self.delta is not None:
                for j in live:
                    if pair_rows is None or j in pair_rows:
                        self._add_pair_ratios(out[j], rs[j])
        return out

    def delivery_ratios(self, rows, first, ones):
        """Delivery ratios of buyers' current-needs and restocking orders (P, n) each from
        the suppliers' ratios ``rows`` (``[r_i]``, or ``[r_i, r_b, r_r]`` with ``first``:
        binding buyers' current needs at ``r_b``); ``ones`` without tiers."""
        if self._pool is None:
            return _tier_ratios(self.pooled(np.stack(rows), pair_rows=_pair_rows(first)),
                                first, ones)
        rs = np.stack(rows)
        _, G, _, row_of = self._pool
        live = [j for j in range(len(rows)) if rs[j].min() < 1.0]
        per_row = np.ones((len(rows), G.shape[0] + 1))  # a row of ones gives ones
        if live:
            per_row[live, -1] = 0.0  # buys none at home
            fused.csr_columns(G.indptr, G.indices, G.data, rs,
                              np.array([j in live for j in range(len(rows))]), per_row)
        ratio_f = np.empty((self.S, self.n))
        ratio_r = ones if first is None else np.empty((self.S, self.n))
        fused.pooled_ratios(per_row, row_of.reshape(self.S, self.n),
                            _NO_MASK if first is None else first, first is not None,
                            ratio_f, ratio_r)
        if self.delta is not None:
            for j in _pair_rows(first):
                if j in live:  # the re-sourcing pairs lie in ``first`` when it is given
                    self._add_pair_ratios(ratio_f if j < 2 else ratio_r, rs[j])
        return ratio_f, ratio_r

    def shifted_cost(self, O, friction, per_unit):
        """Per buyer (n): ``Σ_p friction_p Σ_i max(0, Δ[i, k]) O[p, k] per_unit[p, k]``, the
        friction on the part of the inputs used that re-sourcing moved to other suppliers
        (``per_unit``: use per unit ordered)."""
        if self.delta is None:
            return np.zeros(self.n)
        pos = np.maximum(self.delta, 0.0, out=self._buf) @ np.ones(self.R)
        return fused.pair_cost(friction, pos, O, per_unit, self.pair_s, self.pair_k,
                               self.pair_g, self.n)

    def capped_orders(self, O, eff, region_of):
        """Link orders ``tau O`` capped at ``eff * baseline link flow`` where ``eff < 1``.

        ``eff`` (R, R, P) route share (from, to, product)."""
        key = eff.tobytes()
        if self._cap_key != key:
            e = np.ascontiguousarray(eff[:, region_of, :].transpose(2, 0, 1))  # (S, R, n)
            self._cap = np.where(e < 1.0, e * self.z0(), np.inf)
            self._cap_key = key
        lo = self.tau0 * O[:, None, :]
        if self.delta is not None:
            lo[self.pair_s, :, self.pair_k] += (self.delta[self.pair_g]
                                                * O[self.pair_s, self.pair_k][:, None])
        return np.minimum(lo, self._cap, out=lo)

    def link_demand(self, lo, weights):
        """Orders on each supplier from link orders ``lo`` (k, n), each weighted by one of
        ``weights`` (P, n) (the share of a buyer-product's orders in a tier)."""
        return self._ind(np.matmul(lo, np.stack(weights, axis=2)))

    def link_arrivals(self, lo, rs):
        return np.matmul(self._so(rs), lo).transpose(1, 0, 2)

    def resource(self, u, c, headroom, new_links, rate):
        """Move the sourcing shares of the re-sourcing pairs a step ``rate`` toward their
        target (see :func:`simulate`). The target is recomputed only when ``u`` or ``c``
        change; once every supplier is back at full capacity the deviation decays and is
        dropped when below 1e-12."""
        st = self._state
        uS, cS = self._so(u[None])[:, 0, :], self._so(c[None])[:, 0, :]  # (S, R)
        full = bool(np.all(uS >= 1.0))
        if full and self.delta is None:
            return
        if (st["u"] is None or not np.array_equal(st["u"], uS)
                or not np.array_equal(st["c"], cS)):
            st["u"], st["c"] = uS, cS
            if full:
                st["target"] = None
            else:
                s = self.group_s
                t0 = self.t0p
                lost = t0 * (1.0 - uS[s])
                L = lost.sum(axis=1)
                want = L[:, None] * cS[s]
                ext = np.minimum(want, headroom[s, None] * t0)
                if np.any(new_links > 0):
                    ext += self.newmask * np.minimum(want, new_links[s, None] * cS[s])
                unplaced = L - ext.sum(axis=1)
                frac = np.divide(unplaced, L, out=np.zeros_like(L), where=L > 0)
                st["target"] = ext - lost * (1.0 - frac[:, None])
        if self.delta is None:
            self.delta = np.zeros_like(self.t0p)
            self._dmax = 0.0
        if getattr(self, "_buf", None) is None:
            self._buf = np.empty_like(self.t0p)
        if st["target"] is None:
            # a decay by a constant factor: max |Δ| follows exactly (rounding is monotone)
            self.delta *= 1.0 - rate
            self._dmax *= 1.0 - rate
            if self._dmax < 1e-12:
                self.delta = None
        else:
            step = np.subtract(st["target"], self.delta, out=self._buf)
            step *= rate
            self.delta += step
            self._dmax = float(np.abs(self.delta).max(initial=0.0))


class _SparseLinks:
    """Links as vectors over the nonzeros of ``tau0`` (CSC order)."""

    def __init__(self, t: Table, product_of, region_of):
        tau = t.tau0.tocoo()
        self.n, self.P, self.R = t.n, t.n_sector, t.n_region
        self.row, self.col = tau.row, tau.col
        self.key = product_of[self.row] * self.n + self.col
        self.tau0 = tau.data.copy()
        self.tau = tau.data.copy()
        self._t = t
        self._z0 = None
        self.route_key = ((region_of[self.row] * self.R + region_of[self.col]) * self.P
                          + product_of[self.row])
        self.corr_key = region_of[self.row] * self.R + region_of[self.col]
        self._at_base, self._key, self._target = True, None, None
        self._cap_key = self._cap = None

    def z0(self):
        if self._z0 is None:
            A = self._t.A.tocsr()
            self._z0 = np.asarray(A[self.row, self.col]).ravel() * self._t.x0[self.col]
        return self._z0

    def order_rows(self):
        return None

    def demand(self, Os, alias=None, row_orders=None):
        return np.stack([np.bincount(self.row, weights=self.tau * O.ravel()[self.key],
                                     minlength=self.n) for O in Os])

    def pooled(self, rs, pair_rows=None):
        return np.stack([np.bincount(self.key, weights=self.tau * r[self.row],
                                     minlength=self.P * self.n).reshape(self.P, self.n)
                         for r in rs])

    def delivery_ratios(self, rows, first, ones):
        return _tier_ratios(self.pooled(np.stack(rows)), first, ones)

    def capped_orders(self, O, eff, region_of):
        key = eff.tobytes()
        if self._cap_key != key:
            e = eff.ravel()[self.route_key]
            self._cap = np.where(e < 1.0, e * self.z0(), np.inf)
            self._cap_key = key
        lo = self.tau * O.ravel()[self.key]
        return np.minimum(lo, self._cap, out=lo)

    def link_demand(self, lo, weights):
        return np.stack([np.bincount(self.row, weights=lo * w.ravel()[self.key],
                                     minlength=self.n) for w in weights])

    def shifted_cost(self, O, friction, per_unit):
        w = (np.maximum(self.tau - self.tau0, 0.0)
             * (O.ravel()[self.key] * per_unit.ravel()[self.key])
             * friction[self.key // self.n])
        return np.bincount(self.col, weights=w, minlength=self.n)

    def link_arrivals(self, lo, rs):
        return np.stack([np.bincount(self.key, weights=lo * r[self.row],
                                     minlength=self.P * self.n).reshape(self.P, self.n)
                         for r in rs])

    def setup_resourcing(self, mask):
        """Buyer-products ``mask`` (P, n) that may re-source."""
        self._mask = mask.ravel()[self.key]

    def resource(self, u, c, headroom, new_links, rate):
        if np.any(new_links > 0):
            raise ValueError("new supply links need a table of at most "
                             f"{DENSE_LIMIT} industries (this one has {self.n})")
        if self._at_base and np.all(u >= 1.0):
            return
        key = (u.tobytes(), c.tobytes())
        if self._key != key:
            t0 = self.tau0
            lost = t0 * (1.0 - u[self.row]) * self._mask
            L = np.bincount(self.key, weights=lost, minlength=self.P * self.n)
            ext = np.minimum(L[self.key] * c[self.row], headroom[self.key // self.n] * t0)
            ext = ext * self._mask
            unplaced = L - np.bincount(self.key, weights=ext, minlength=self.P * self.n)
            frac = np.divide(unplaced, L, out=np.zeros_like(L), where=L > 0)
            self._target = t0 - lost + ext + lost * frac[self.key]
            self._key = key
        self.tau += (self._target - self.tau) * rate
        self._at_base = bool(np.all(u >= 1.0) and np.abs(self.tau - self.tau0).max() < 1e-12)
        if self._at_base:
            self.tau[:] = self.tau0


# --------------------------------------------------------------------------- simulation


#: Stands for ``first`` in the fused passes when there are no order tiers (never read then).
_NO_MASK = np.zeros((0, 0), dtype=bool)
_NO_FRICTION = np.zeros(0)


def _pair_rows(first):
    """The rows of the delivery ratios read on the re-sourcing pairs (which lie in
    ``first`` when it is given): the binding buyers' and the restocking tier, else all."""
    return (0,) if first is None else (1, 2)


def _tier_ratios(got, first, ones):
    """``(ratio_f, ratio_r)`` from the pooled ratios ``got`` (k, P, n) of the tiers."""
    if first is None:
        return got[0], ones
    return np.where(first, got[1], got[0]), got[2]


def links_moved(links) -> bool:
    """Whether re-sourcing has moved any sourcing share away from baseline."""
    if isinstance(links, _DenseLinks):
        return links.delta is not None
    return not links._at_base


def _fill(x, D):
    """Serve demand ``D`` from ``x``: ratio ``min(1, x / D)`` (1 where ``D <= 0``) and what
    is left."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(D > 0, np.minimum(1.0, x / np.where(D > 0, D, 1.0)), 1.0)
    return r, np.maximum(x - r * np.maximum(D, 0.0), 0.0)


def _ratios(rule, x, d, d_int, d1, fd, ess, e_ind):
    """Delivery ratios of each supplier for its current-needs orders ``d`` (intermediate
    ``d_int``, of which ``d1`` from buyers for which the product binds, None without
    critical_first; final ``fd``): to binding buyers, to other industries, to consumption
    (the essential part at the essential ratio) and to other final users; and the output
    left over (for restocking orders). See :func:`simulate`."""
    if rule == "proportional":
        if d1 is None:
            r, left = _fill(x, d)
            return r, r, r, r, left
        r_b, left = _fill(x, d1)
        r_o, left = _fill(left, d - d1)
        return r_b, r_o, r_o, r_o, left
    if rule == "mixed":
        if d1 is None:
            r_i, left = _fill(x, d_int)
            r_f, left = _fill(left, fd)
            return r_i, r_i, r_f, r_f, left
        r_b, left = _fill(x, d1)
        r_i, left = _fill(left, d_int - d1)
        r_f, left = _fill(left, fd)
        return r_b, r_i, r_f, r_f, left
    # essential_first
    first = ess if d1 is None else d1 + ess
    r_e, left = _fill(x, first)
    r_o, left = _fill(left, d - first)
    r_fc = e_ind * r_e + (1.0 - e_ind) * r_o
    return (r_o if d1 is None else r_e), r_o, r_fc, r_o, left


def simulate(t: Table, prm: Params, path: Path, backups: Backups | None = None,
             record_flows: bool = False, dense: bool | None = None) -> Trace:
    """Run the daily model for ``path.days`` days from the baseline steady state
    (``docs/dynamic.md``, "One day").

    State: one inventory ``S[p, j]`` per input product and buyer, domestic and imported
    units pooled, fed by yesterday's shipments ``arr`` (domestic) and ``arrM`` (imports); its
    imported units' order account ``Sm``. Each day: capacity ``x̄ = κ x0 α + standby``
    (``α = 1`` for an industry an event hits, unless ``overprod_when_hit``); demand
    ``d = Σ_k tau (O + E) + f^d`` plus restocking orders ``Σ_k tau Or``; input-feasible output
    ``x^in_j = min(min_{p crit} v[p, j], min_{p half} ½ v[p, j] + ½ x̄_j)`` with
    ``v = (S + arr + arrM) / ((a + AM) max(1, ψ cover))``; ``x = min(x̄, x^in, d + restock)``;
    deliveries rationed by ``final_rule`` (with ``first``: the current-needs orders of buyers
    for which the product binds first, the other current needs by ``final_rule``, restocking
    orders last; without it ARIO's proportional rationing of all orders); imports capped at
    ``alpha_M`` times baseline (unbounded when ``alpha_M >= 1``), current needs first with
    ``first``; ``use = min((a + AM) x, S + arr + arrM)``, ``S(t+1) = S + arr + arrM - use``;
    orders for current needs ``a x^opt`` (domestic) and ``AM x^opt`` (imports) with
    ``x^opt = min(d + restock, x̄)``, and restocking ``(S* - S)/restock_tau`` of which the
    domestic line takes at most its own account's gap ``(S* - Sm*) - (S - Sm)`` (same sign)
    and imports the rest; stockpiles top up essential final use, then the binding inputs of
    industries short of them; overproduction ``α`` (:data:`OVERPROD_RULES`).
    Re-sourcing (where ``headroom`` or ``new_links`` > 0): with ``u_i = min(1, x̂_i / x0_i)``,
    ``x̂ = κ x0 + standby``, and capacity weights ``c_i = spare_i / Σ_{i'∈p} spare_i'``
    (``spare = max(0, κ x0 α_max + standby - x0)``, ``α_max = 1`` for a hit industry unless
    ``overprod_when_hit``), buyer ``k`` loses ``L[p, k] = Σ_{i∈p} tau0[i, k] (1 - u_i)`` of
    its suppliers (only binding inputs with ``first``); ``min(L c_i, h_p tau0[i, k])`` moves
    to existing links and ``min(L c_i, new_p c_i)`` to new ones; the rest stays with the
    constrained suppliers; ``tau`` moves toward that target with time constant
    ``resourcing_tau``. Import substitution: buyers order ``imports_p`` times their lost
    imports from domestic suppliers (same time constant; the arrivals count as imported
    units in the order accounts); they rise toward their target at that rate and fall to it
    at once. ``friction`` is charged on the re-sourced and substituting part of the inputs
    used, that part pro rata to the orders being filled (``Trace.cost``). Returns a
    :class:`Trace` in daily money.
    """
    R, S, n, P = t.n_region, t.n_sector, t.n, t.n_sector
    T = path.days
    H = R + 1
    b = backups if backups is not None else Backups.empty(R, P)
    region_of = np.repeat(np.arange(R), S)
    product_of = np.tile(np.arange(S), R)
    if prm.final_rule not in FINAL_RULES:
        raise ValueError(f"final_rule must be one of {FINAL_RULES}, got {prm.final_rule!r}")
    if prm.overprod_rule not in OVERPROD_RULES:
        raise ValueError(f"overprod_rule must be one of {OVERPROD_RULES}, got "
                         f"{prm.overprod_rule!r}")
    use_dense = (n <= DENSE_LIMIT) if dense is None else dense
    links = _DenseLinks(t) if use_dense else _SparseLinks(t, product_of, region_of)

    x0, a, AM = t.x0, t.a, t.AM
    share = a + AM
    with np.errstate(divide="ignore", invalid="ignore"):
        wa = np.where(share > 0, a / np.where(share > 0, share, 1.0), 0.0)
    wm = np.where(share > 0, 1.0 - wa, 0.0)
    cover = np.broadcast_to(np.asarray(prm.cover, dtype=float), (P, n))
    crit = np.asarray(prm.crit, dtype=bool) & (share > 0)
    half = np.asarray(prm.half, dtype=bool) & (share > 0) & ~crit
    binds = crit | half
    any_half = bool(half.any())
    first = None
    if prm.first is not None and np.any(prm.first):
        first = np.asarray(prm.first, dtype=bool) & (share > 0)
    use0 = share * x0[None]
    Sstar = cover * use0
    trig = prm.stock_trigger * Sstar
    throttle = np.maximum(1.0, prm.inventory_psi * cover)
    inv = np.divide(1.0, share * throttle, out=np.zeros_like(share), where=binds)
    amax = np.broadcast_to(np.asarray(prm.overprod_max, dtype=float), (n,))
    orate = 1.0 / max(prm.overprod_tau, 1.0)
    irt = 1.0 / prm.restock_tau
    e_prod = np.asarray(t.essential_share, dtype=float)
    e_ind = e_prod[product_of]
    cons = np.asarray(t.cons, dtype=bool)
    M0tot = t.MY.sum(axis=(1, 2)) + (AM * x0[None]).sum(axis=1)
    base_use_rp = use0.reshape(P, R, S).sum(axis=2).T  # (R, P)
    essential_rule = "essential_first" if prm.final_rule == "essential_first" else "proportional"
    resourcing = bool(np.any(b.headroom > 0) or np.any(b.new_links > 0))
    res_rate = 1.0 / max(prm.resourcing_tau, 1.0)
    if resourcing:
        rmask = (a > 0) & ((b.headroom > 0) | (b.new_links > 0))[:, None]
        links.setup_resourcing(rmask if first is None else rmask & first)
    substituting = bool(np.any(b.imports > 0))
    imf = b.imports[:, None] * (np.ones((P, n)) if first is None else first)
    E_on = False
    fric = None if b.friction is None or not np.any(b.friction > 0) else (
        np.asarray(b.friction, dtype=float))
    idx = np.arange(n)

    def split_final(Y, MY):
        """Final use by (industry, destination): consumption, other positive, negative
        (inventory draw-downs); imported final use by (product, region): consumption, other."""
        other = Y[:, :, ~cons]
        return (Y[:, :, cons].sum(axis=2), np.maximum(other, 0).sum(axis=2),
                np.minimum(other, 0).sum(axis=2), MY[:, :, cons].sum(axis=2),
                MY[:, :, ~cons].sum(axis=2))

    Yc0, Yo0, Yn0, MYc0, MYo0 = split_final(t.Y, t.MY)

    def final_totals(Yc, Yo, Yn, MYc, MYo):
        """Final use by industry: consumption, other positive, negative (n each); imported
        final use by product (P); consumption desired by (region, product)."""
        return (Yc.sum(axis=1), Yo.sum(axis=1), Yn.sum(axis=1),
                MYc.sum(axis=1) + MYo.sum(axis=1), Yc.reshape(R, S, R).sum(axis=0).T + MYc.T)

    totals0 = final_totals(Yc0, Yo0, Yn0, MYc0, MYo0)  # the days without a demand or route cut

    # state: the pooled inventory S, with its imported units' order account Sm (what the
    # import line has to restock; the domestic account is S - Sm; Sm goes negative when
    # domestic units stood in for missing imports)
    S_ = Sstar.copy()
    Sm_star = wm * Sstar
    Sm = Sm_star.copy()
    arrE = np.zeros((P, n))
    arr, arrM = a * x0[None], AM * x0[None]
    # orders placed yesterday: for current needs (O, OM) and, with ``first``, for restocking
    # (Or, OMr, served after every current need); E: domestic orders replacing lost imports
    O, OM, E = arr.copy(), arrM.copy(), np.zeros((P, n))
    Or = OMr = None if first is None else np.zeros((P, n))
    alpha = np.ones(n)
    stock = np.array(b.stock, dtype=float, copy=True)
    stock0 = np.array(b.stock, dtype=float, copy=True)
    rM = np.ones(P)

    # day-major buffers seen through time-last views: a day's record is one contiguous write
    out = Trace(
        x=np.empty((T, n)).T, capacity=np.empty((T, n)).T, exports=np.empty((T, n)).T,
        f=np.zeros((T, 3, R, P)).transpose(2, 3, 1, 0),
        essential=np.empty((T, R, P)).transpose(1, 2, 0),
        binding=np.zeros((T, n), dtype=np.int8).T,
        binding_product=np.full((T, n), -1, np.int16).T,
        stock=np.empty((T, H, P)).transpose(1, 2, 0),
        inventory_days=np.empty((T, R, P)).transpose(1, 2, 0), overprod=np.empty((T, n)).T,
        standby=None if path.standby is None else np.asarray(path.standby).T.copy(),
        cost=None if fric is None or not (resourcing or substituting) else np.zeros((T, n)).T,
    )
    if record_flows:
        for k in ("S", "arrivals", "arrivals_M", "use"):
            out.flows[k] = np.empty((T, P, n)).transpose(1, 2, 0)

    # the fused passes' arrays, C-ordered (one compiled signature)
    ones, zeros = np.ones((P, n)), np.zeros((P, n))
    a, AM, inv, Sstar = (np.ascontiguousarray(v, dtype=float) for v in (a, AM, inv, Sstar))
    rated_p, rated_j = np.nonzero(crit | half)  # row-major: p ascending within a buyer
    rated_half = half[rated_p, rated_j]
    rated = crit.astype(np.int8) + 2 * half.astype(np.int8)
    minima = row_orders = None
    # current-needs orders (and the binding buyers' part): fused.settle leaves tomorrow's
    Of = O + E
    Off = None if first is None else Of * first
    rows_of = links.order_rows()
    n_rows = 0 if rows_of is None else int(rows_of.max()) + 1
    no_rows = np.zeros((0, 0), dtype=np.int32)
    no_substitutes = np.zeros((P, n))  # tomorrow's substituting arrivals without substitution
    r_any = False
    imf = np.ascontiguousarray(imf, dtype=float)
    # the friction's use per unit ordered and its import-substituting part (fused.settle)
    per_unit = np.zeros((P, n) if out.cost is not None else (0, 0))
    cost_e = np.zeros(n if out.cost is not None else 0)
    for day in range(T):
        # ---- capacity and final demand
        kappa = path.kappa[day]
        cap0 = kappa * x0
        elig = np.ones(n, bool) if prm.overprod_when_hit else kappa >= 1.0 - KAPPA_TOL
        a_eff = np.where(elig, alpha, 1.0)
        cap = cap0 * a_eff
        sb = 0.0 if path.standby is None else path.standby[day]
        if path.standby is not None:
            cap = cap + sb
        if path.delta is not None:
            dl = path.delta[day]  # (R, P, U)
            Yc, Yo, Yn, MYc, MYo = split_final(t.Y * dl[:, product_of, :].transpose(1, 0, 2),
                                               t.MY * dl.transpose(1, 0, 2))
        else:
            Yc, Yo, Yn, MYc, MYo = Yc0, Yo0, Yn0, MYc0, MYo0
        eff = None
        if path.rho is not None:
            eff = path.rho[day] + b.corridor[:, :, None]
            if np.all(eff >= 1.0):
                eff = None
        if eff is not None:
            ey = eff[region_of, :, product_of]  # (n, R_to)
            Yc = np.where(ey < 1.0, np.minimum(Yc, ey * Yc0), Yc)
            Yo = np.where(ey < 1.0, np.minimum(Yo, ey * Yo0), Yo)
        Yfc, Yo_tot, Yn_tot, MYtot, C_des = (
            totals0 if Yc is Yc0 and Yo is Yo0 and Yn is Yn0 and MYc is MYc0 and MYo is MYo0
            else final_totals(Yc, Yo, Yn, MYc, MYo))
        exports = t.exports if path.epsilon is None else t.exports * path.epsilon[day]
        fd = Yfc + Yo_tot + Yn_tot + exports

        # ---- intermediate demand: current needs (with ``first``: of which the binding
        # buyers'), then restocking
        restock = first is not None and r_any
        if first is None:
            Os, alias = [Of], None
        else:
            Os, alias = [Of, Off] + ([Or] if restock else []), {1: 0}
        if eff is not None:
            Otot = Of if first is None else Of + Or
            lo = links.capped_orders(Otot, eff, region_of)
            if first is None:
                wts = [np.ones((P, n))]
            else:
                wf = np.divide(Of, Otot, out=np.ones((P, n)), where=Otot > 0)
                wts = [wf, wf * first] + ([1.0 - wf] if restock else [])
            dd = links.link_demand(lo, wts)
        else:
            lo = None
            dd = links.demand(Os, alias, row_orders)
        d_int = dd[0]
        d1 = None if first is None else dd[1]
        d_rest = None if first is None else (dd[2] if len(dd) > 2 else np.zeros(n))
        d = d_int + fd

        # ---- input-feasible output: rated inputs only, domestic and imported units pooled
        if minima is None:  # else left by yesterday's fused.settle
            minima = fused.rated_minima(S_, arr, arrM, inv, rated_p, rated_j, rated_half)
        xin, bp = fused.feasible_output(*minima, cap, any_half)
        d_all = d if first is None else d + d_rest
        x = np.minimum(np.minimum(cap, xin), np.maximum(d_all, 0.0))

        # ---- binding constraint
        bind = np.full(n, DEMAND, dtype=np.int8)
        cap_b = cap <= np.minimum(xin, d_all)
        in_b = ~cap_b & (xin <= d_all)
        bind[cap_b] = CAPACITY
        imp_b = (rM[bp] < 1.0) & (AM[bp, idx] > 0)
        bind[in_b] = np.where(imp_b[in_b], IMPORT, INPUT)
        bprod = np.where(in_b, bp, -1)
        ok = x >= x0 * (1.0 - 1e-9)
        bind[ok] = NONE
        bprod[ok] = -1

        # ---- distribution of output: current needs by final_rule, then restocking orders
        # inventory drawdowns (negative final use) are supply from users' stocks: they add
        # to output in the rationing and are delivered in full, as in the baseline
        ess = e_ind * Yfc
        W = -Yn_tot
        fd_pos = fd + W
        r_b, r_i, r_fc, r_fo, left = _ratios(prm.final_rule, x + W, d + W, d_int, d1, fd_pos,
                                             ess, e_ind)
        r_r = None if first is None else _fill(left, d_rest)[0]
        f_dom, c_dom = np.empty((R, P)), np.empty((R, P))  # delivered final use, consumption
        fused.final_deliveries(Yc, Yo, Yn, r_fc, r_fo, R, f_dom, c_dom)
        exp_del = exports * r_fo

        # ---- imports: one pool per product; current needs (with final use) first
        am = path.alpha_M[day]
        capM = np.where(am < 1.0, am * M0tot, np.inf)
        rMf, leftM = _fill(capM, OM.sum(axis=1) + MYtot)
        if first is None:
            rM = rMr = rMf
        else:
            rMr = _fill(leftM, OMr.sum(axis=1))[0]
            rM = np.minimum(rMf, rMr)
        MYdel_c = MYc * rMf[:, None]
        MYdel = MYdel_c + MYo * rMf[:, None]

        # ---- deliveries to industries (arrive tomorrow)
        rows = [r_i] if first is None else [r_i, r_b, r_r]
        if lo is None and all(r.min() >= 1.0 for r in rows):
            ratio_f = ratio_r = ones  # nobody rationed: Σ_i tau[i, k] = 1
        elif lo is None:
            ratio_f, ratio_r = links.delivery_ratios(rows, first, ones)
        else:  # capped link orders: ratios of each tier's orders delivered
            got = links.link_arrivals(lo, np.stack(rows))
            with np.errstate(divide="ignore", invalid="ignore"):
                pos = Otot > 0
                ratio_f = np.where(pos, (got[0] if first is None else np.where(
                    first, got[1], got[0])) / np.where(pos, Otot, 1.0), 0.0)
                ratio_r = ones if first is None else np.where(
                    pos, got[2] / np.where(pos, Otot, 1.0), 0.0)

        # ---- arrivals tomorrow (arrE: counted as imported units, substituting orders and,
        # below, stock releases), use and inventories today, orders for tomorrow: one pass
        xopt = np.minimum(d_all, cap)
        arr_next, arrM_next, use, S_next, Sm_next, O_next, OM_next = (
            np.empty((P, n)) for _ in range(7))
        # without import substitution the substituting arrivals are zeros (a stock release
        # below adds to them in a new array): not rewritten every day
        arrE_next = np.empty((P, n)) if substituting else no_substitutes
        Or_next, OMr_next = (zeros, zeros) if first is None else (np.empty((P, n)),
                                                                  np.empty((P, n)))
        minima = (np.empty(n), np.empty(n, np.int64), np.empty(n), np.empty(n, np.int64))
        # import substitution: orders replacing lost imports move toward imf OM (1 - r^M)
        update_E = substituting and (E_on or bool(np.any(rMf < 1.0)))
        E_next = np.empty((P, n)) if update_E else E
        Of_next = np.empty((P, n))
        # the binding buyers' orders are read through their pooled-row sums where rows pool
        # (links.demand), else from the array
        store_first = first is not None and rows_of is None
        Off_next = np.empty((P, n)) if store_first else None
        row_orders_next = np.empty((n_rows, 3))
        e_any, r_any = fused.settle(
            Of, ratio_f, zeros if first is None else Or, ratio_r, first is not None,
            _NO_MASK if first is None else first, store_first, E, substituting, update_E, imf,
            res_rate,
            OM, rMf, zeros if first is None else OMr, rMr, S_, arr, x, Sm, arrM, arrE, a, AM,
            xopt, Sstar, irt, inv, rated, arr_next, arrM_next, arrE_next, use, S_next, Sm_next,
            O_next, OM_next, Or_next, OMr_next, E_next, Of_next,
            zeros if Off_next is None else Off_next, *minima,
            no_rows if rows_of is None else rows_of, row_orders_next,
            _NO_FRICTION if out.cost is None else fric, per_unit, cost_e)
        row_orders = None if rows_of is None else row_orders_next
        if update_E:
            E_on = bool(np.any(rMf < 1.0)) or e_any

        # ---- final deliveries and stockpiles
        C_del = c_dom + MYdel_c.T
        wanted = e_prod[None, :] * C_des
        if essential_rule == "proportional":
            base = e_prod[None, :] * C_del
        else:
            base = np.minimum(wanted, C_del)
        short = wanted - base
        short = np.where(short > 1e-9 * wanted, short, 0.0)
        rel_f = np.zeros((R, P))
        used = np.zeros((H, P))
        release_any = bool(np.any(stock > 0))
        if release_any:
            room = np.minimum(b.max_release, stock)
            rel_f = np.minimum(short, room[:R])
            short2 = short - rel_f
            tot2 = short2.sum(axis=0)
            nat = np.minimum(tot2, room[R])
            frac = np.divide(nat, tot2, out=np.zeros(P), where=tot2 > 0)
            rel_nat = short2 * frac[None]
            rel_f = rel_f + rel_nat
            used = np.vstack([rel_f - rel_nat, nat[None]])
            room = room - used
            # industries short of a binding input: holdings below a day of planned use plus
            # stock_trigger x target
            gap = np.maximum(trig + share * xopt[None] - (S_next + arr_next + arrM_next), 0.0)
            gap = np.where(binds, gap, 0.0)
            gap_rp = gap.reshape(P, R, S).sum(axis=2).T
            q_reg = np.minimum(room[:R], gap_rp)
            gap2 = gap_rp - q_reg
            tot3 = gap2.sum(axis=0)
            natq = np.minimum(tot3, room[R])
            q = q_reg + gap2 * np.divide(natq, tot3, out=np.zeros(P), where=tot3 > 0)[None]
            fr = np.divide(q, gap_rp, out=np.zeros((R, P)), where=gap_rp > 0)
            rel = gap * fr.T[:, region_of]
            if np.any(rel > 0):  # credited to the accounts short of units, pro rata
                dm_ = np.maximum(Sm_star - Sm_next, 0.0)
                dd_ = np.maximum((Sstar - S_next) - (Sm_star - Sm_next), 0.0)
                tot_ = dd_ + dm_
                to_m = np.divide(dm_, tot_, out=np.full((P, n), wm), where=tot_ > 0)
                arr_next = arr_next + rel
                minima = None  # tomorrow's availability changed
                arrE_next = arrE_next + rel * to_m
            used = used + np.vstack([q_reg, natq[None]])
            stock = np.maximum(stock - used, 0.0)
        if day >= b.window_end and np.any(stock0 > 0):
            refill = np.minimum(stock + stock0 / prm.stock_refill_days, stock0)
            stock = np.where(used > 0, stock, refill) if release_any else refill
        essential = np.minimum(base + rel_f, np.maximum(wanted, base))

        # ---- overproduction, re-sourcing (orders and import substitution: above, by
        # fused.settle; the pool's gap is restocked from the domestic line up to the domestic
        # account's own gap and from imports for the rest: domestic units refill what
        # domestic suppliers failed to deliver, not what imports did)
        if first is not None:
            Or, OMr = Or_next, OMr_next
        if prm.overprod_rule == "ario":
            scarcity = np.where(d_all > 0, (d_all - x) / np.where(d_all > 0, d_all, 1.0), 0.0)
            up = np.where(scarcity > 0, alpha + (amax - alpha) * scarcity * orate,
                          alpha + (1.0 - alpha) * orate)
        else:  # "ramp": toward the ceiling while demand is unmet, else back to what it needs
            with np.errstate(divide="ignore", invalid="ignore"):
                want = np.where(cap0 > 0, (d_all - sb) / np.where(cap0 > 0, cap0, 1.0), 1.0)
            goal = np.where(d_all > cap * (1.0 + 1e-9), amax, np.clip(want, 1.0, amax))
            up = alpha + (goal - alpha) * orate
        alpha = np.where(elig, up, alpha + (1.0 - alpha) * orate)
        if resourcing:
            base_cap = cap0 + sb
            u = np.minimum(np.divide(base_cap, x0, out=np.ones(n), where=x0 > 0), 1.0)
            spare = np.maximum(cap0 * np.where(elig, amax, 1.0) + sb - x0, 0.0)
            sp_tot = spare.reshape(R, S).sum(axis=0)
            c = spare / np.where(sp_tot > 0, sp_tot, 1.0)[product_of]
            links.resource(u, c, b.headroom, b.new_links, res_rate)

        # ---- record
        if out.cost is not None and (cost_e.any() or (resourcing and links_moved(links))):
            # friction on the substituted part of the inputs used today, that part taken
            # pro rata to the orders being filled: ``use × (shifted O + E) / all orders``
            # (the import-substituting part summed by fused.settle)
            cost = links.shifted_cost(O, fric, per_unit) if resourcing else np.zeros(n)
            out.cost[:, day] = cost + cost_e
        out.x[:, day] = x
        out.capacity[:, day] = cap
        out.exports[:, day] = exp_del
        out.f[:, :, 0, day] = f_dom
        out.f[:, :, 1, day] = MYdel.T
        out.f[:, :, 2, day] = rel_f
        out.essential[:, :, day] = essential
        out.binding[:, day] = bind
        out.binding_product[:, day] = bprod
        out.stock[:, :, day] = stock
        out.overprod[:, day] = a_eff
        held = S_next.reshape(P, R, S).sum(axis=2).T
        out.inventory_days[:, :, day] = np.divide(held, base_use_rp,
                                                  out=np.full((R, P), np.nan),
                                                  where=base_use_rp > 0)
        if record_flows:
            out.flows["S"][:, :, day] = S_
            out.flows["arrivals"][:, :, day] = arr + arrM
            out.flows["arrivals_M"][:, :, day] = arrM
            out.flows["use"][:, :, day] = use

        S_, Sm, arr, arrM, arrE = S_next, Sm_next, arr_next, arrM_next, arrE_next
        O, OM, E, Of, Off = O_next, OM_next, E_next, Of_next, Off_next
    return out
