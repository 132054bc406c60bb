"""Day-by-day propagation kernel (ARIO-style, Hallegatte 2008/2014; Pichler et al. 2022 JEDC).

Pure numerics: numpy/scipy arrays in, arrays out. All flows are **daily** (annual / 365) on the
stacked industry axis ``industry = r * S + s`` (``n = R * S``); products ``P = S``.
The equations are in ``docs/dynamic.md``. One simulated day costs a fixed number of passes
over the links of ``A``: dense ``(S, R, n)`` link arrays for tables up to
:data:`DENSE_LIMIT` industries, sparse link vectors (``np.bincount`` over the nonzeros of
``A``) above that.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

#: Largest table (industries) held as dense ``(S, R, n)`` link arrays.
DENSE_LIMIT = 4000
#: Codes of the binding constraint (same as :data:`stresstest.result.BINDING`).
NONE, DEMAND, CAPACITY, INPUT, IMPORT, ROUTE = 0, 1, 2, 3, 4, 5
FINAL_RULES = ("proportional", "essential_first", "mixed")


@dataclass(eq=False)
class Table:
    """The baseline economy in daily flows.

    ``x0`` (n) output; ``A`` (n, n) CSC technical coefficients; ``a`` (P, n) product
    requirements; ``AM`` (P, n) import coefficients; ``tau0`` (n, n) CSC sourcing shares;
    ``Y`` (n, R, U) domestic final use by destination; ``exports`` (n); ``MY`` (P, R, U)
    imported final use; ``cons`` (U) bool consumption uses; ``essential_share`` (P).
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

    @property
    def n(self) -> int:
        return self.n_region * self.n_sector


@dataclass(eq=False)
class Params:
    """Behavioural parameters (see ``stresstest.modes.dynamic.DEFAULTS``).

    ``cover`` (P) target inventory in days of baseline use; ``restock_tau`` days to close an
    inventory gap; ``overprod_max`` ceiling of the overproduction factor, reached with time
    constant ``overprod_tau`` days; ``critical_threshold`` minimum input coefficient
    (domestic + imported requirement per unit output) that constrains production;
    ``final_rule``; ``resourcing_tau`` days for sourcing shares to move toward their target;
    ``stock_refill_days`` days to refill an empty stockpile after the shock window;
    industries draw on stockpiles while their inventory is below ``stock_trigger`` times target;
    ``inventory_psi`` (BoARIO's ψ): production is throttled once inventory falls below ``ψ``
    times its target, ``x^in = (S + arr) / (a max(1, ψ cover))`` (0: only physical shortage).
    """

    cover: np.ndarray
    restock_tau: float = 10.0
    overprod_max: float = 1.25
    overprod_tau: float = 365.0
    critical_threshold: float = 0.02
    final_rule: str = "proportional"
    resourcing_tau: float = 7.0
    stock_refill_days: float = 365.0
    stock_trigger: float = 0.5
    inventory_psi: float = 0.0


@dataclass(eq=False)
class Path:
    """Time-varying inputs, leading axis ``T`` days (money daily).

    ``kappa`` (T, n); ``standby`` (T, n) or None; ``alpha_M`` (T, P); ``rho`` (T, R, R, P) or
    None; ``delta`` (T, R, P, U) or None.
    """

    kappa: np.ndarray
    alpha_M: np.ndarray
    standby: np.ndarray | None = None
    rho: np.ndarray | None = None
    delta: np.ndarray | None = None

    @property
    def days(self) -> int:
        return self.kappa.shape[0]


@dataclass(eq=False)
class Backups:
    """Plan arrays: ``corridor`` (R, R) extra route share; ``stock`` and ``max_release``
    (R + 1, P) (last row national; release per day); ``headroom``, ``new_links``,
    ``imports`` (P) substitution bounds; ``window_end`` first day after the shock window."""

    corridor: np.ndarray
    stock: np.ndarray
    max_release: np.ndarray
    headroom: np.ndarray
    new_links: np.ndarray
    imports: np.ndarray
    window_end: int = 0

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
    (R + 1, P, T) end of day; ``inventory_days`` (R, P, T) days of baseline use held
    (domestic + imported pools, end of day); ``overprod`` (n, T); optional ``S``, ``SM``,
    ``arrivals``, ``use`` (P, n, T) when recorded (for tests).
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
    flows: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- links


class _DenseLinks:
    """Links as dense ``(S, R, n)`` arrays ``L[s, o, k]`` (supplier ``o*S+s`` -> buyer ``k``);
    the per-product contractions are batched matrix-vector products."""

    def __init__(self, t: Table):
        R, S, n = t.n_region, t.n_sector, t.n
        self.R, self.S, self.n = R, S, n
        self.tau0 = np.ascontiguousarray(t.tau0.toarray().reshape(R, S, n).transpose(1, 0, 2))
        self.tau = self.tau0.copy()
        self._z0 = None
        self._t = t
        self.newmask = None
        self._state = None
        self._cap_key = self._cap = None

    def _ind(self, so):
        """(S, R) -> industry vector (n), region-major."""
        return so.T.reshape(self.n)

    def _so(self, v):
        """industry vector (n) -> (S, R)."""
        return v.reshape(self.R, self.S).T

    def z0(self):
        if self._z0 is None:
            z = (self._t.A.toarray() * self._t.x0[None, :]).reshape(self.R, self.S, self.n)
            self._z0 = np.ascontiguousarray(z.transpose(1, 0, 2))
        return self._z0

    def demand(self, O):
        """Orders on each supplier ``Σ_k tau[i, k] O[p(i), k]`` (n)."""
        return self._ind(np.matmul(self.tau, O[:, :, None])[:, :, 0])

    def pooled(self, r):
        """``r̃[p, k] = Σ_{i∈p} tau[i, k] r_i`` (P, n)."""
        return np.matmul(self._so(r)[:, None, :], self.tau)[:, 0, :]

    def capped_orders(self, O, eff, region_of):
        """Link orders ``tau O`` capped at ``eff * baseline link flow`` where ``eff < 1``.

        ``eff`` (R, R, P) route share (from, to, product)."""
        key = eff.tobytes()
        if self._cap_key != key:
            e = np.ascontiguousarray(eff[:, region_of, :].transpose(2, 0, 1))  # (S, R, n)
            self._cap = np.where(e < 1.0, e * self.z0(), np.inf)
            self._cap_key = key
        lo = self.tau * O[:, None, :]
        return np.minimum(lo, self._cap, out=lo)

    def link_demand(self, lo):
        return self._ind(lo.sum(axis=2))

    def link_arrivals(self, lo, r):
        return np.matmul(self._so(r)[:, None, :], lo)[:, 0, :]

    def resource(self, u, c, headroom, new_links, a, rate):
        """Move ``tau`` a step ``rate`` toward the re-sourcing target (see :func:`simulate`).

        Only products with headroom or new links are touched; the target is recomputed only
        when ``u`` or ``c`` change, and a product whose suppliers all have full capacity
        snaps back to ``tau0`` once within 1e-12."""
        act = np.flatnonzero((headroom > 0) | (new_links > 0))
        if act.size == 0:
            return
        uS, cS = self._so(u)[act], self._so(c)[act]
        if self._state is None:
            self._state = {"at_base": np.ones(self.S, bool), "key": None, "target": None}
        st = self._state
        if st["at_base"][act].all() and np.all(uS >= 1.0):
            return
        key = (uS.tobytes(), cS.tobytes())
        if st["key"] != key:
            t0 = self.tau0[act]
            u3, c3 = uS[:, :, None], cS[:, :, None]
            lost = t0 * (1.0 - u3)
            L = lost.sum(axis=1)[:, None, :]
            want = L * c3
            ext = np.minimum(want, headroom[act, None, None] * t0)
            if np.any(new_links[act] > 0):
                if self.newmask is None:
                    self.newmask = (self.tau0 == 0) & (a[:, None, :] > 0)
                ext = ext + self.newmask[act] * np.minimum(want, new_links[act, None, None] * c3)
            unplaced = L - ext.sum(axis=1)[:, None, :]
            back = lost * np.divide(unplaced, L, out=np.zeros_like(L), where=L > 0)
            st["target"] = t0 * u3 + ext + back
            st["key"] = key
        tau = self.tau[act]
        tau += (st["target"] - tau) * rate
        if np.all(uS >= 1.0) and np.abs(tau - self.tau0[act]).max() < 1e-12:
            tau = self.tau0[act]
            st["at_base"][act] = True
        else:
            st["at_base"][act] = False
        self.tau[act] = tau


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

    def demand(self, O):
        return np.bincount(self.row, weights=self.tau * O.ravel()[self.key], minlength=self.n)

    def pooled(self, r):
        return np.bincount(self.key, weights=self.tau * r[self.row],
                           minlength=self.P * self.n).reshape(self.P, self.n)

    def capped_orders(self, O, eff, region_of):
        key = eff.tobytes()
        if self._cap_key != key:
            e = eff.ravel()[self.route_key]
            self._cap = np.where(e < 1.0, e * self.z0(), np.inf)
            self._cap_key = key
        lo = self.tau * O.ravel()[self.key]
        return np.minimum(lo, self._cap, out=lo)

    def link_demand(self, lo):
        return np.bincount(self.row, weights=lo, minlength=self.n)

    def link_arrivals(self, lo, r):
        return np.bincount(self.key, weights=lo * r[self.row],
                           minlength=self.P * self.n).reshape(self.P, self.n)

    def resource(self, u, c, headroom, new_links, a, rate):
        if np.any(new_links > 0):
            raise ValueError("new supply links need a table of at most "
                             f"{DENSE_LIMIT} industries (this one has {self.n})")
        if self._at_base and np.all(u >= 1.0):
            return
        key = (u.tobytes(), c.tobytes())
        if self._key != key:
            t0 = self.tau0
            lost = t0 * (1.0 - u[self.row])
            L = np.bincount(self.key, weights=lost, minlength=self.P * self.n)
            ext = np.minimum(L[self.key] * c[self.row], headroom[self.key // self.n] * t0)
            unplaced = L - np.bincount(self.key, weights=ext, minlength=self.P * self.n)
            frac = np.divide(unplaced, L, out=np.zeros_like(L), where=L > 0)
            self._target = t0 * u[self.row] + ext + lost * frac[self.key]
            self._key = key
        self.tau += (self._target - self.tau) * rate
        self._at_base = bool(np.all(u >= 1.0) and np.abs(self.tau - self.tau0).max() < 1e-12)
        if self._at_base:
            self.tau[:] = self.tau0


# --------------------------------------------------------------------------- simulation


def simulate(t: Table, prm: Params, path: Path, backups: Backups | None = None,
             record_flows: bool = False, dense: bool | None = None) -> Trace:
    """Run the daily model for ``path.days`` days from the baseline steady state.

    Each day ``t``: capacity ``x̄ = κ x0 α + standby``; demand ``d = Σ_k tau O + f^d``;
    input-feasible output ``x^in_j = min_{p critical} (S + arr)[p, j] / (a[p, j] max(1, ψ
    cover_p))`` (domestic and imported pools alike); ``x = min(x̄, x^in, d)``; deliveries
    rationed by ``final_rule``; imports capped at ``alpha_M`` times baseline (unbounded when ``alpha_M
    >= 1``); inventories ``S(t+1) = S(t) + arr(t) - use(t)``; orders ``O = a x^opt + (S* -
    S)/restock_tau`` with ``x^opt = min(d, x̄)``; stockpiles top up essential final use, then
    industries' inventory gaps; overproduction ``α`` moves toward ``overprod_max`` while demand
    is unmet (ARIO). Re-sourcing (only when the plan allows it): with ``u_i = min(1, x̂_i /
    x0_i)``, ``x̂ = κ x0 + standby`` (capacity without overproduction) and capacity weights
    ``c_i = spare_i / Σ_{i'∈p} spare_i'`` (``spare = max(0, x̂ - x0)``), buyer ``k`` loses ``L[p, k] = Σ_{i∈p} tau0[i, k] (1 - u_i)`` of its suppliers;
    ``min(L c_i, h_p tau0[i, k])`` moves to existing links and ``min(L c_i, new_p c_i)`` to new
    ones; the rest stays with the constrained suppliers; ``tau`` moves toward that target by
    ``1/resourcing_tau`` per day. Returns a :class:`Trace` in daily money.
    """
    R, S, n, P = t.n_region, t.n_sector, t.n, t.n_sector
    T = path.days
    H = R + 1
    b = backups if backups is not None else Backups.empty(R, P)
    region_of = np.repeat(np.arange(R), S)
    product_of = np.tile(np.arange(S), R)
    if prm.final_rule not in FINAL_RULES:
        raise ValueError(f"final_rule must be one of {FINAL_RULES}, got {prm.final_rule!r}")
    use_dense = (n <= DENSE_LIMIT) if dense is None else dense
    links = _DenseLinks(t) if use_dense else _SparseLinks(t, product_of, region_of)

    x0, a, AM = t.x0, t.a, t.AM
    cover = np.asarray(prm.cover, dtype=float).reshape(P, 1)
    use0, useM0 = a * x0[None], AM * x0[None]
    Sstar, SMstar = cover * use0, cover * useM0
    trigD, trigM = prm.stock_trigger * Sstar, prm.stock_trigger * SMstar
    total_req = a + AM
    crit = total_req >= prm.critical_threshold
    crit_d = crit & (a > 0)
    crit_m = crit & (AM > 0)
    throttle = np.maximum(1.0, prm.inventory_psi * cover)  # (P, 1)
    inv_a = np.divide(1.0, a * throttle, out=np.zeros_like(a), where=crit_d)
    inv_am = np.divide(1.0, AM * throttle, out=np.zeros_like(AM), where=crit_m)
    e_prod = np.asarray(t.essential_share, dtype=float)
    e_ind = e_prod[product_of]
    cons = np.asarray(t.cons, dtype=bool)
    M0tot = t.MY.sum(axis=(1, 2)) + useM0.sum(axis=1)
    base_use_rp = (use0 + useM0).reshape(P, R, S).sum(axis=2).T  # (R, P)
    essential_rule = "essential_first" if prm.final_rule == "essential_first" else "proportional"
    resourcing = bool(np.any(b.headroom > 0) or np.any(b.new_links > 0))
    res_rate = 1.0 / max(prm.resourcing_tau, 1.0)

    def split_final(Y, MY):
        """Final use by (industry, destination): consumption, other positive, negative
        (inventory draw-downs); imported final use by (product, region): consumption, other."""
        other = Y[:, :, ~cons]
        return (Y[:, :, cons].sum(axis=2), np.maximum(other, 0).sum(axis=2),
                np.minimum(other, 0).sum(axis=2), MY[:, :, cons].sum(axis=2),
                MY[:, :, ~cons].sum(axis=2))

    Yc0, Yo0, Yn0, MYc0, MYo0 = split_final(t.Y, t.MY)

    # state
    Sd, SM = Sstar.copy(), SMstar.copy()
    arr, arrM = use0.copy(), useM0.copy()
    O, OM, E = use0.copy(), useM0.copy(), np.zeros((P, n))
    alpha = np.ones(n)
    stock = np.array(b.stock, dtype=float, copy=True)
    stock0 = np.array(b.stock, dtype=float, copy=True)
    rM = np.ones(P)

    out = Trace(
        x=np.empty((n, T)), capacity=np.empty((n, T)), exports=np.empty((n, T)),
        f=np.zeros((R, P, 3, T)), essential=np.empty((R, P, T)),
        binding=np.zeros((n, T), dtype=np.int8), binding_product=np.full((n, T), -1, np.int16),
        stock=np.empty((H, P, T)), inventory_days=np.empty((R, P, T)), overprod=np.empty((n, T)),
        standby=None if path.standby is None else np.asarray(path.standby).T.copy(),
    )
    if record_flows:
        for k in ("S", "SM", "arrivals", "arrivals_M", "use", "use_M"):
            out.flows[k] = np.empty((P, n, T))

    for day in range(T):
        # ---- capacity and final demand
        cap0 = path.kappa[day] * x0
        cap = cap0 * alpha
        if path.standby is not None:
            cap = cap + path.standby[day]
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
        Yfc = Yc.sum(axis=1)
        fd = Yfc + Yo.sum(axis=1) + Yn.sum(axis=1) + t.exports

        # ---- intermediate demand
        Otot = O + E
        if eff is not None:
            lo = links.capped_orders(Otot, eff, region_of)
            d_int = links.link_demand(lo)
        else:
            lo = None
            d_int = links.demand(Otot)
        d = d_int + fd

        # ---- input-feasible output
        avail, availM = Sd + arr, SM + arrM
        ratio_d = np.where(crit_d, avail * inv_a, np.inf)
        ratio_m = np.where(crit_m, availM * inv_am, np.inf)
        pd_ = np.argmin(ratio_d, axis=0)
        pm_ = np.argmin(ratio_m, axis=0)
        xin_d = ratio_d[pd_, np.arange(n)]
        xin_m = ratio_m[pm_, np.arange(n)]
        xin = np.minimum(xin_d, xin_m)
        x = np.minimum(np.minimum(cap, xin), np.maximum(d, 0.0))

        # ---- binding constraint
        bind = np.full(n, DEMAND, dtype=np.int8)
        cap_b = cap <= np.minimum(xin, d)
        in_b = ~cap_b & (xin <= d)
        bind[cap_b] = CAPACITY
        bind[in_b] = np.where(xin_d[in_b] <= xin_m[in_b], INPUT, IMPORT)
        bprod = np.where(in_b, np.where(xin_d <= xin_m, pd_, pm_), -1)
        ok = x >= x0 * (1.0 - 1e-9)
        bind[ok] = NONE
        bprod[ok] = -1

        # ---- distribution of output
        with np.errstate(divide="ignore", invalid="ignore"):
            if prm.final_rule == "proportional":
                r = np.where(d > 0, x / d, 1.0)
                r_int = r_fc = r_fo = r
            elif prm.final_rule == "mixed":
                r_int = np.where(d_int > 0, np.minimum(1.0, x / d_int), 1.0)
                rest = np.maximum(x - r_int * d_int, 0.0)
                r_fc = r_fo = np.where(fd > 0, np.minimum(1.0, rest / fd), 1.0)
            else:
                ess = e_ind * Yfc
                r_e = np.where(ess > 0, np.minimum(1.0, x / ess), 1.0)
                rest = np.maximum(x - r_e * ess, 0.0)
                other = d - ess
                r_o = np.where(other > 0, np.minimum(1.0, rest / other), 1.0)
                r_int = r_fo = r_o
                r_fc = e_ind * r_e + (1.0 - e_ind) * r_o
        Ydel_c = Yc * r_fc[:, None]
        Ydel = Ydel_c + (Yo + Yn) * r_fo[:, None]
        exp_del = t.exports * r_fo

        # ---- imports
        OMtot = OM.sum(axis=1) + MYc.sum(axis=1) + MYo.sum(axis=1)
        am = path.alpha_M[day]
        capM = np.where(am < 1.0, am * M0tot, np.inf)
        rM = np.where(OMtot > capM, capM / np.where(OMtot > 0, OMtot, 1.0), 1.0)
        arrM_next = OM * rM[:, None]
        MYdel_c = MYc * rM[:, None]
        MYdel = MYdel_c + MYo * rM[:, None]

        # ---- deliveries to industries (arrive tomorrow)
        if lo is None:
            arr_tot = Otot * links.pooled(r_int)
        else:
            arr_tot = links.link_arrivals(lo, r_int)
        if np.any(E > 0):
            share_E = np.divide(E, Otot, out=np.zeros_like(E), where=Otot > 0)
            arr_E = arr_tot * share_E
            arr_next = arr_tot - arr_E
            arrM_next = arrM_next + arr_E
        else:
            arr_next = arr_tot

        # ---- use and inventories
        use = np.minimum(a * x[None], avail)
        useM = np.minimum(AM * x[None], availM)
        Sd_next = avail - use
        SM_next = availM - useM

        # ---- final deliveries and stockpiles
        C_des = Yc.reshape(R, S, R).sum(axis=0).T + MYc.T  # (R, P)
        C_del = Ydel_c.reshape(R, S, R).sum(axis=0).T + MYdel_c.T
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
            # industries short of the product
            gapD = np.maximum(trigD - Sd_next, 0.0)
            gapM = np.maximum(trigM - SM_next, 0.0)
            gap = gapD + gapM
            gap_rp = gap.reshape(P, R, S).sum(axis=2).T
            q_reg = np.minimum(room[:R], gap_rp)
            gap2 = gap_rp - q_reg
            tot3 = gap2.sum(axis=0)
            natq = np.minimum(tot3, room[R])
            q = q_reg + gap2 * np.divide(natq, tot3, out=np.zeros(P), where=tot3 > 0)[None]
            fr = np.divide(q, gap_rp, out=np.zeros((R, P)), where=gap_rp > 0)
            frj = fr.T[:, region_of]  # (P, n)
            arr_next = arr_next + gapD * frj
            arrM_next = arrM_next + gapM * frj
            used = used + np.vstack([q_reg, natq[None]])
            stock = np.maximum(stock - used, 0.0)
        if day >= b.window_end and np.any(stock0 > 0):
            refill = np.minimum(stock + stock0 / prm.stock_refill_days, stock0)
            stock = np.where(used > 0, stock, refill) if release_any else refill
        essential = np.minimum(base + rel_f, np.maximum(wanted, base))

        # ---- orders for tomorrow, overproduction, re-sourcing
        xopt = np.minimum(d, cap)
        O_next = np.maximum(a * xopt[None] + (Sstar - Sd_next) / prm.restock_tau, 0.0)
        OM_next = np.maximum(AM * xopt[None] + (SMstar - SM_next) / prm.restock_tau, 0.0)
        if np.any(b.imports > 0):
            E_next = b.imports[:, None] * OM * (1.0 - rM)[:, None]
        else:
            E_next = E
        scarcity = np.where(d > 0, (d - x) / np.where(d > 0, d, 1.0), 0.0)
        alpha = np.where(scarcity > 0,
                         alpha + (prm.overprod_max - alpha) * scarcity / prm.overprod_tau,
                         alpha + (1.0 - alpha) / prm.overprod_tau)
        if resourcing:
            base_cap = cap0 if path.standby is None else cap0 + path.standby[day]
            u = np.minimum(np.divide(base_cap, x0, out=np.ones(n), where=x0 > 0), 1.0)
            spare = np.maximum(base_cap - x0, 0.0)
            sp_tot = spare.reshape(R, S).sum(axis=0)
            c = spare / np.where(sp_tot > 0, sp_tot, 1.0)[product_of]
            links.resource(u, c, b.headroom, b.new_links, a, res_rate)

        # ---- record
        out.x[:, day] = x
        out.capacity[:, day] = cap
        out.exports[:, day] = exp_del
        out.f[:, :, 0, day] = Ydel.reshape(R, S, R).sum(axis=0).T
        out.f[:, :, 1, day] = MYdel.T
        out.f[:, :, 2, day] = rel_f
        out.essential[:, :, day] = essential
        out.binding[:, day] = bind
        out.binding_product[:, day] = bprod
        out.stock[:, :, day] = stock
        out.overprod[:, day] = alpha
        held = (Sd_next + SM_next).reshape(P, R, S).sum(axis=2).T
        out.inventory_days[:, :, day] = np.divide(held, base_use_rp,
                                                  out=np.full((R, P), np.nan),
                                                  where=base_use_rp > 0)
        if record_flows:
            out.flows["S"][:, :, day] = Sd
            out.flows["SM"][:, :, day] = SM
            out.flows["arrivals"][:, :, day] = arr
            out.flows["arrivals_M"][:, :, day] = arrM
            out.flows["use"][:, :, day] = use
            out.flows["use_M"][:, :, day] = useM

        Sd, SM, arr, arrM = Sd_next, SM_next, arr_next, arrM_next
        O, OM, E = O_next, OM_next, E_next
    return out
