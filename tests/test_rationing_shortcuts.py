"""Every shortcut of the rationing engine against its plain path, on the shipped library.

The engine iterates the order rounds on the order state with Anderson mixing, sends orders to
suppliers through the pooled rows instead of the dense ``A``, finds the delivery ratios by
policy iteration warm-started from the last round, starts the order rounds from a related
run's equilibrium (``warm_orders``), computes the mixed orders ``D`` with
Anderson mixing, re-sources only on the pairs and products that can carry flows, keeps its
Anderson histories in ring buffers, and reduces a shock with a ``scenario`` dim in one pass.
Each test runs the shortcut and a plain formulation on the same inputs (the warm start
against the cold one is in ``test_library_guards.py``).
"""

from __future__ import annotations

import numpy as np
import pytest

import stresstest.kernels.rationing as kr
from stresstest.economy import derive, net_of_own_use
from stresstest.errors import InputError
from stresstest.modes.rationing import run_rationing, run_rationing_batch, structure
from stresstest.recipe import resolve_recipe
from stresstest.scenario import compile_scenario, list_scenarios, load_scenario

RECIPES = ("central", "strict")


@pytest.fixture(scope="module")
def library(china31):
    return [compile_scenario(load_scenario(s["name"]), china31) for s in list_scenarios()]


def _capture(monkeypatch, name, limit=None):
    """Record the arguments of kernel function ``name`` (up to ``limit`` calls)."""
    calls = []
    orig = getattr(kr, name)

    def wrapper(*args, **kwargs):
        if limit is None or len(calls) < limit:
            calls.append((args, kwargs))
        return orig(*args, **kwargs)

    monkeypatch.setattr(kr, name, wrapper)
    return calls, orig


def _assert_same(a, b, what, rtol=1e-7):
    scale = float(np.nanmax(np.abs(b)))
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale, err_msg=what)


# --------------------------------------------------------------------------- order rounds


@pytest.mark.parametrize("recipe", RECIPES)
def test_mixed_rounds_match_plain_rounds(china31, library, recipe):
    """Anderson mixing of the order rounds reaches the plain iteration's equilibrium wherever
    the plain iteration has one. On the calibrated china31 the plain rounds of the strict
    cascade cycle on sichuan-earthquake (residual 0.05 after 3,000 rounds: the buyers' best
    response jumps between binding inputs) while the mixed rounds settle in 36; that is the
    only scenario allowed to miss."""
    mixed = run_rationing_batch(china31, library, recipe=recipe)
    plain = run_rationing_batch(china31, library, recipe=recipe, anderson_depth=0,
                                max_outer=3000)
    assert bool(mixed["converged"].all())
    names = [str(s) for s in plain["scenario"].values]
    missed = [n for n, ok in zip(names, plain["converged"].values) if not ok]
    assert missed in ([], ["sichuan-earthquake"] if recipe == "strict" else []), missed
    ok = plain["converged"].values
    for var in ("x", "va", "essential"):
        _assert_same(mixed[var].values[..., ok], plain[var].values[..., ok],
                     f"{recipe}: {var}")
    assert mixed["rounds"].values[ok].sum() < plain["rounds"].values[ok].sum()


@pytest.mark.parametrize("plan", ["central-grain-reserve", "western-energy-reserve"])
def test_stockpile_run_started_from_the_run_without_stocks_matches_a_cold_start(
        china31, library, plan):
    """With a plan's stockpiles the rounds run twice (without the stocks, then with them);
    the second run starts from the first one's equilibrium (option ``warm_orders``). Same
    answer as starting it from full orders, on every shipped scenario, in fewer rounds."""
    from stresstest.api import resolve_plan

    pl = resolve_plan(plan, china31)
    assert float(pl["stock_amount"].sum()) > 0
    warm = run_rationing_batch(china31, library, pl)
    cold = run_rationing_batch(china31, library, pl, warm_orders=False)
    assert bool(warm["converged"].all()) and bool(cold["converged"].all())
    for var in ("x", "va", "essential", "f"):
        _assert_same(warm[var].values, cold[var].values, f"{plan}: {var}")
    assert warm["rounds"].values.sum() < cold["rounds"].values.sum()


@pytest.mark.parametrize("plan", ["central-grain-reserve", "three-tasks-balanced",
                                  "sichuan-chongqing-electronics", "western-energy-reserve"])
def test_stockpile_allocation_at_start_tol_matches_the_plain_path(china31, library, plan,
                                                                  monkeypatch):
    """The run without a plan's stockpiles, which only allocates them, stops at ``start_tol``
    (1e-3) instead of ``orders_tol``; the run with them converges to ``orders_tol`` as
    before. Same answer as the plain path (``start_tol=0``) on every shipped scenario under
    every shipped plan (all hold stockpiles), in fewer rounds over the two runs."""
    from stresstest.api import resolve_plan

    pl = resolve_plan(plan, china31)
    rounds = []
    orig = kr.solve_rationing

    def counted(pb, **kw):
        out = orig(pb, **kw)
        rounds[-1] += int(np.sum(out["rounds"]))
        return out

    monkeypatch.setattr("stresstest.modes.rationing.solve_rationing", counted)
    runs = []
    for kw in ({}, {"start_tol": 0.0}):
        rounds.append(0)
        runs.append(run_rationing_batch(china31, library, pl, **kw))
    quick, plain = runs
    assert bool(quick["converged"].all()) and bool(plain["converged"].all())
    for var in ("x", "va", "essential", "f"):
        _assert_same(quick[var].values, plain[var].values, f"{plan}: {var}")
    # stock used is a shortfall the stock fills, a difference of two equilibrium flows
    # (measured: 5e-7 relative on one product, central-grain-reserve)
    _assert_same(quick["stock_release"].values, plain["stock_release"].values,
                 f"{plan}: stock_release", rtol=2e-6)
    assert rounds[0] < rounds[1], rounds


def test_stockpile_run_reuses_the_orders_of_the_run_without_stocks(china31, library,
                                                                  monkeypatch):
    """The run with a plan's stockpiles takes the orders ``D`` of the run without them (the
    stocks change neither capacities nor final orders): bit for bit the answer of solving for
    them again, on every shipped scenario."""
    from stresstest.api import resolve_plan

    pl = resolve_plan("western-energy-reserve", china31)
    reused = run_rationing_batch(china31, library, pl)
    calls = []
    orig = kr.solve_rationing

    def plain(pb, *args, orders=None, **kw):
        calls.append(orders is not None)
        return orig(pb, *args, **kw)

    monkeypatch.setattr("stresstest.modes.rationing.solve_rationing", plain)
    solved = run_rationing_batch(china31, library, pl)
    assert any(calls) and not all(calls)
    for var in ("x", "va", "essential", "f", "stock_release"):
        assert np.array_equal(reused[var].values, solved[var].values), var


@pytest.mark.parametrize("plan", [None, "western-energy-reserve"])
def test_component_solve_matches_superlu_on_library(china31, library, monkeypatch, plan):
    """The policy systems solved by their strongly connected components give the answers of
    SuperLU on every shipped scenario (with and without a plan): the same rounds, outputs
    equal to rounding."""
    from stresstest.api import resolve_plan

    pl = resolve_plan(plan, china31) if plan else None
    calls = []
    orig = kr.fused.solve_by_components

    def counted(*args):
        out = orig(*args)
        calls.append(out[1])
        return out

    monkeypatch.setattr(kr.fused, "solve_by_components", counted)
    by_components = run_rationing_batch(china31, library, pl)
    assert calls and set(calls) == {0}  # every system solved by components
    monkeypatch.setattr(kr, "MAX_COMPONENT", 0)  # every system to SuperLU
    calls.clear()
    superlu = run_rationing_batch(china31, library, pl)
    assert calls and set(calls) <= {0, 2} and 2 in calls
    assert np.array_equal(by_components["rounds"].values, superlu["rounds"].values)
    for var in ("x", "va", "essential", "f"):
        _assert_same(by_components[var].values, superlu[var].values, var, rtol=1e-12)


def test_rounds_started_from_a_related_equilibrium_match_a_cold_start(china31, library):
    """Order rounds started from another run's final state (``batch_with_states(start=)``:
    the sampled band starts each plan from the no-plan equilibrium of the same draw) reach
    the cold start's equilibrium: every shipped scenario started from the no-plan states of
    the library under a plan, and from another scenario's state (the coastal blockade's)."""
    from stresstest.api import resolve_plan
    from stresstest.modes.rationing import batch_with_states

    _, states = batch_with_states(china31, library)
    blockade = [s.attrs["scenario"] for s in library].index("coastal-blockade")
    for plan, start in (("three-tasks-balanced", states),
                        (None, [states[blockade]] * len(library))):
        pl = resolve_plan(plan, china31)
        warm, _ = batch_with_states(china31, library, pl, start=start)
        cold = run_rationing_batch(china31, library, pl, warm_orders=False)
        for var in ("x", "va", "essential"):
            _assert_same(warm[var].values, cold[var].values, f"{plan}: {var}")
    with pytest.raises(InputError, match="one state per shock"):
        batch_with_states(china31, library, start=states[:2])


def test_batch_matches_single_runs_on_library(china31, library):
    batch = run_rationing_batch(china31, library)
    for k, sh in enumerate(library):
        one = run_rationing(china31, sh)
        _assert_same(batch["x"].isel(scenario=k).values, one["x"].values,
                     sh.attrs["scenario"], rtol=1e-9)


def test_plans_side_by_side_match_one_batch_per_plan_on_library(china31, library):
    """``batch_plans`` (the sampled band's plans in one batch over (plan, shock), in blocks
    that mix plans, each plan started from the no-plan states) gives each plan's own batch:
    every shipped scenario under the shipped plans (all hold stockpiles), and under no plan
    next to a shipped plan stripped of its stockpiles; plans with and without stock releases
    in one call (two batches), each Result in its place."""
    from stresstest.api import resolve_plan
    from stresstest.modes.rationing import batch_plans, batch_with_states
    from stresstest.plan import list_plans

    _, states = batch_with_states(china31, library)
    compiled = {p["name"]: resolve_plan(p["name"], china31) for p in list_plans()
                if p["name"] != "none"}
    assert all(float(pl["stock_amount"].sum()) > 0 for pl in compiled.values())
    stripped = compiled["sichuan-chongqing-electronics"].copy(deep=True)
    stripped["stock_amount"][:] = 0.0
    for plans in (list(compiled.values()), [None, stripped]):
        together = batch_plans(china31, library, plans, start=states, batch_size=16)
        assert len(together) == len(plans)
        for plan, res in zip(plans, together):
            alone, _ = batch_with_states(china31, library, plan, start=states)
            name = alone.attrs["plan"]
            assert res.attrs["plan"] == name
            assert bool(res["converged"].all())
            for var in ("x", "va", "essential", "f", "stock_release", "substitution_cost"):
                _assert_same(res[var].values, alone[var].values, f"{name}: {var}", rtol=1e-9)
    # plans with and without stock releases in one call run as two batches, in the order
    # given; a stockpile that may release nothing takes no stockpile stage, as alone
    unreleased = compiled["central-grain-reserve"].copy(deep=True)
    unreleased["stock_max_release"][:] = 0.0
    mixed = [stripped, compiled["western-energy-reserve"], None, unreleased]
    for plan, res in zip(mixed, batch_plans(china31, library[:2], mixed, start=states[:2])):
        alone, _ = batch_with_states(china31, library[:2], plan, start=states[:2])
        assert res.attrs["plan"] == alone.attrs["plan"]
        _assert_same(res["x"].values, alone["x"].values, alone.attrs["plan"], rtol=1e-9)
    with pytest.raises(InputError, match="one state per shock"):
        batch_plans(china31, library, [stripped], start=states[:2])


def test_orders_through_pooled_rows_equal_dense_orders(china31):
    """Suppliers' orders ``Gᵀ O_a`` (and ``A v = Gt (Ha v)``) equal the sums over the dense
    ``A``: ``Σ_j A[i, j] y[p(i), j]`` for order bases ``y`` (P, n)."""
    d = net_of_own_use(derive(china31))  # the table the rationing runs on
    rec = resolve_recipe(china31, {})
    st = structure(china31, rec)
    first = rec.crit | rec.half
    maps = kr.order_maps(st, d.a_prod, d.AM, first)
    P, n, R = d.n_sector, d.n, d.n_region
    A = d.A.toarray()
    rng = np.random.default_rng(0)
    y = rng.uniform(0.5, 2.0, (P, n, 3))
    dense = np.einsum("ij,ijk->ik", A, y[d.product_of])
    state = maps.H @ y.reshape(P * n, 3)
    _assert_same(maps.Gt @ state[:maps.n_a], dense, "orders", rtol=1e-12)
    dense_first = np.einsum("ij,ijk->ik", A, (y * first[:, :, None])[d.product_of])
    _assert_same(maps.Gt @ state[maps.n_a:maps.n_a + maps.n_f], dense_first, "first tier",
                 rtol=1e-12)
    by_dest = np.stack([np.einsum("ij,ijk->ik", A[:, d.region_of == r],
                                  y[d.product_of][:, d.region_of == r]) for r in range(R)],
                       axis=1)
    _assert_same((maps.Gx @ state[:maps.n_a]).reshape(n, R, 3), by_dest, "by destination",
                 rtol=1e-12)
    imports = np.einsum("pj,pjk->pk", d.AM, y)
    _assert_same(state[maps.n_a + maps.n_f:].reshape(P, R, 3).sum(axis=1), imports,
                 "imports", rtol=1e-12)
    v = rng.uniform(size=(n, 2))
    _assert_same(maps.Gt @ (maps.Ha @ v), A @ v, "A v", rtol=1e-12)


# --------------------------------------------------------------------------- mixed orders


@pytest.mark.parametrize("recipe", RECIPES)
def test_mixed_orders_match_plain_dense_iteration(china31, library, monkeypatch, recipe):
    """``D = A min(x̄, D) + f`` by Anderson mixing through the pooled rows equals the plain
    iteration with the dense ``A`` (to the 1e-12 tolerance of both)."""
    calls, orig = _capture(monkeypatch, "mixed_orders")
    run_rationing_batch(china31, library, recipe=recipe)
    d = net_of_own_use(derive(china31))
    A = d.A.toarray()
    (_, fd, xbar, solve), kw = calls[0]
    D, _ = orig(*calls[0][0], **kw)
    ref = np.maximum(solve(fd), fd)
    for _ in range(10_000):
        new = A @ np.minimum(xbar, ref) + fd
        done = np.abs(new - ref).max() < 1e-13 * np.abs(ref).max()
        ref = new
        if done:
            break
    _assert_same(D, ref, "mixed orders", rtol=1e-10)


# --------------------------------------------------------------------------- delivery ratios


@pytest.mark.parametrize("recipe", RECIPES)
def test_policy_iteration_matches_plain_iteration(china31, library, monkeypatch, recipe):
    """Delivery ratios of warm-started policy iteration equal plain iterations of the map
    from ``r = 1`` (the greatest fixed point) in eight rounds across the library; policy
    iteration needs a few steps per round (no fallback to plain sweeps)."""
    calls, orig = _capture(monkeypatch, "_delivery_fixed_point")
    run_rationing_batch(china31, library, recipe=recipe)
    checked = 0
    for (args, kw) in calls[::max(1, len(calls) // 5)]:
        st, r0 = args[0], args[1]
        maps_args = args[2:9]
        r, *_, it, resid, _ = orig(*args, **kw)
        assert it <= 10, it
        plain = np.ones_like(r0)
        for _ in range(200_000):
            new = kr._phi(st, plain, *maps_args)[0]
            done = np.abs(new - plain).max() < 1e-14
            plain = new
            if done:
                break
        np.testing.assert_allclose(r, plain, atol=1e-8)
        checked += 1
    assert checked >= 4


# --------------------------------------------------------------------------- re-sourcing


def _substitution_reference(pb, st, plan, rt, alpha_t, s, x):
    """Re-sourcing over every (product, buyer) pair and every product (the plain formula)."""
    sub = pb.subst
    R, P, n = st.n_region, st.n_product, st.n
    S, K = n // R, plan.shape[1]
    enabled = (sub["headroom"] > 0) | (sub["new_links"] > 0) | (sub["imports"] > 0)
    a, m = pb.a_prod[:, :, None], pb.AM[:, :, None]
    short = 1.0 - rt[st.col_row]
    short = np.where(short > 1e-12, short, 0.0)
    lost = 1.0 - alpha_t[:, None, :]
    lost = np.where(lost > 1e-12, lost, 0.0)
    gap_dom, gap_imp = a * plan[None] * short, m * plan[None] * lost
    if pb.first is not None:
        gap_dom, gap_imp = gap_dom * pb.first[:, :, None], gap_imp * pb.first[:, :, None]
    left = 1.0
    if pb.inventory is not None:
        cover = (a + m) * plan[None] * (pb.inventory[:, :, None] / pb.window[None, None, :])
        total = gap_dom + gap_imp
        with np.errstate(divide="ignore", invalid="ignore"):
            left = np.where(total > 0, np.maximum(0.0, total - cover) / total, 0.0)
    by_region = lambda v: v.reshape(P, R, S, K).sum(axis=2)  # noqa: E731
    dom_total, dom_short = by_region(gap_dom), by_region(gap_dom * left)
    imp_total = by_region(gap_imp)
    imp_short = by_region(gap_imp * left) * sub["imports"][:, None, :]
    dom_need = by_region(a * plan[None])
    on = enabled[:, None, :]
    spare = np.maximum(0.0, s * pb.xbar - x).reshape(R, P, K).transpose(1, 0, 2) * on
    T0 = sub["T0int"].transpose(2, 0, 1)
    exist = T0 > 0
    n_new = np.maximum((~exist).sum(axis=1), 1)
    cap = np.where(exist[..., None], sub["headroom"][:, None, None, :] * T0[..., None],
                   sub["new_links"][:, None, None, :] * dom_need[:, None, :, :]
                   / n_new[:, None, :, None])

    def allocate(demand, spare, cap):
        tot_d, tot_s = demand.sum(axis=1), spare.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            fd = np.where(tot_d[:, None] > 0, demand / tot_d[:, None], 0.0)
            fs = np.where(tot_s[:, None] > 0, spare / tot_s[:, None], 0.0)
        F = np.minimum(tot_d, tot_s)[:, None, None, :] * fs[:, :, None, :] * fd[:, None, :, :]
        return F if cap is None else np.minimum(F, cap)

    F_dom = allocate(dom_short * on, spare, cap)
    F_imp = allocate(imp_short * on, np.maximum(spare - F_dom.sum(axis=2), 0.0), None)
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = np.where(dom_total > 0, np.minimum(1.0, F_dom.sum(axis=1) / dom_total), 0.0)
        theta_imp = np.where(imp_total > 0, np.minimum(1.0, F_imp.sum(axis=1) / imp_total),
                             0.0)
    flows = (F_dom.sum(axis=2) + F_imp.sum(axis=2)).transpose(1, 0, 2).reshape(n, K)
    return theta, theta_imp, flows


@pytest.mark.parametrize("options", [{}, {"resourcing_new_links": 0.2,
                                          "inventory_scale": 0.0}])
def test_resourcing_matches_full_formula(china31, library, monkeypatch, options):
    calls, orig = _capture(monkeypatch, "substitution_shares")
    run_rationing_batch(china31, library, **options)
    assert calls
    for args, kw in calls[::7]:
        got = orig(*args, **kw)
        ref = _substitution_reference(*args[:7])
        for g, r, what in zip(got, ref, ("theta", "theta_imp", "flows")):
            _assert_same(g, r, what, rtol=1e-12)
        # the stocks the rounds gather once are those gathered on each call
        for g, r in zip(got, orig(*args[:7])):
            assert np.array_equal(g, r)


# --------------------------------------------------------------------------- Anderson


class _ListAnderson:
    """The plain Anderson mixing: histories as lists, Gram matrices recomputed each step."""

    def __init__(self, depth):
        self.depth, self.f_prev, self.dF, self.dG, self.valid = depth, None, [], [], None

    def reset(self, cols):
        if self.valid is not None:
            self.valid[cols] = -1

    def step(self, y, gy):
        K = y.shape[-1]
        g, f = gy.T.copy(), (gy - y).T
        if self.f_prev is None:
            self.valid = np.full(K, -1)
        else:
            self.dF.append(f - self.f_prev)
            self.dG.append(g - self.g_prev)
            if len(self.dF) > self.depth:
                self.dF.pop(0)
                self.dG.pop(0)
        self.valid = np.minimum(self.valid + 1, len(self.dF))
        self.f_prev, self.g_prev = f, g
        if not self.dF or not self.valid.any():
            return gy
        m = len(self.dF)
        live = (np.arange(m)[None, :] >= m - self.valid[:, None]).astype(float)
        dF = np.stack(self.dF, axis=1) * live[:, :, None]
        gram = dF @ dF.transpose(0, 2, 1)
        trace = np.trace(gram, axis1=1, axis2=2)
        scale = np.where(trace > 1e-24, trace, 1.0)[:, None, None]
        gamma = np.linalg.solve(gram + 1e-10 * scale * np.eye(m), dF @ f[:, :, None])[..., 0]
        gamma = np.where((trace > 1e-24)[:, None], gamma * live, 0.0)
        return (g - (gamma[:, None, :] @ np.stack(self.dG, axis=1))[:, 0, :]).T


def test_ring_buffer_anderson_matches_list_anderson():
    rng = np.random.default_rng(3)
    N, K = 40, 3
    M = rng.uniform(-1, 1, (K, N, N)) * 0.08
    b = rng.uniform(size=(N, K))

    def G(y):
        return np.einsum("kij,jk->ik", M, y) + b + 0.01 * np.sin(y)

    ring, plain = kr.Anderson(depth=4), _ListAnderson(depth=4)
    y1 = y2 = np.zeros((N, K))
    for it in range(25):
        if it in (7, 12):
            cols = np.array([True, False, it == 12])
            ring.reset(cols)
            plain.reset(cols)
        y1 = ring.step(y1, G(y1), upper=None, lower=None)
        y2 = plain.step(y2, G(y2))
        np.testing.assert_allclose(y1, y2, rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------- inputs


def test_stacked_shock_equals_list_of_shocks(china31):
    from stresstest.ensemble import random_shocks

    shocks = random_shocks(china31, 5, seed=4)
    a = run_rationing_batch(china31, shocks)
    b = run_rationing_batch(china31, [shocks.isel(scenario=k) for k in range(5)])
    for var in ("x", "va", "essential", "capacity"):
        np.testing.assert_allclose(a[var].values, b[var].values, rtol=1e-12)


def _pooled_rows_reference(tau, product_of, region_of, n_product, decimals=12):
    """One pooled row at a time (the plain construction)."""
    import scipy.sparse as sp

    tau = sp.csr_matrix(tau)
    n = tau.shape[0]
    col_row = np.full((n_product, n), -1, dtype=np.int64)
    rows_i, rows_v, row_p, row_r = [], [], [], []
    for p in range(n_product):
        origins = np.flatnonzero(product_of == p)
        block = tau[origins].toarray()
        used = np.flatnonzero(block.sum(axis=0) > 0)
        if not used.size:
            continue
        keys = np.concatenate([np.round(block[:, used].T, decimals),
                               region_of[used, None].astype(float)], axis=1)
        uniq, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        col_row[p, used] = len(row_p) + inverse.reshape(-1)
        for k in range(uniq.shape[0]):
            rep = used[first[k]]
            nz = np.flatnonzero(block[:, rep])
            rows_i.append(origins[nz])
            rows_v.append(block[nz, rep])
            row_p.append(p)
            row_r.append(region_of[rep])
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows_i])])
    G = sp.csr_matrix((np.concatenate(rows_v), np.concatenate(rows_i), indptr),
                      shape=(len(row_p), n))
    return G, np.array(row_p), np.array(row_r), col_row


@pytest.mark.parametrize("which", ["china31", "random"])
def test_pooled_rows_equal_row_by_row_construction(china31, which):
    from stresstest.testing import random_economy

    eco = china31 if which == "china31" else random_economy(5, 7, seed=2, density=0.4)
    d = derive(eco)
    got = kr.pooled_rows(d.tau0, d.product_of, d.region_of, d.n_sector)
    ref = _pooled_rows_reference(d.tau0, d.product_of, d.region_of, d.n_sector)
    assert (got[0] != ref[0]).nnz == 0
    for g, r in zip(got[1:], ref[1:]):
        np.testing.assert_array_equal(g, r)


def test_productivity_bound_from_column_sums(china31):
    """``validate_economy`` takes the spectral-radius bound from the column sums of ``Z``: the
    same number :func:`spectral_radius_bound` computes from ``A``."""
    from stresstest.economy import spectral_radius_bound

    d = derive(china31)
    x = d.x
    zcol = china31["Z"].sum(["origin", "product"]).transpose("region", "sector").values
    bound = float(np.max(np.divide(zcol.reshape(-1), x, out=np.zeros_like(x), where=x > 0)))
    assert bound == pytest.approx(spectral_radius_bound(china31), rel=1e-12)
