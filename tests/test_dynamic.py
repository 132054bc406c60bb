"""Tests of the day-by-day mode ``dynamic`` (hand-built shocks on small synthetic economies;
one check on china31). Tests about ARIO mechanics run the strict recipe with explicit
inventories; the others the central recipe (the default)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from hypothesis import example, given, settings
from hypothesis import strategies as st

import stresstest.kernels.dynamic as kd
from stresstest.compiled import NATIONAL, no_plan, no_shock
from stresstest.errors import InputError
from stresstest.economy import derive
from stresstest.modes.dynamic import build_inputs, resolve_parameters, run_dynamic
from stresstest.recipe import resolve_recipe
from stresstest.testing import random_economy
from stresstest.units import DAYS_PER_YEAR

ECONOMY_VARS = ("x", "va", "capacity", "f", "exports", "essential", "binding",
                "binding_product", "stock", "inventory_days")


def shock_of(eco, days, *, kappa=None, alpha_M=None, rho=None, delta=None, window=None):
    """A compiled shock on ``days`` days from ``[(index, value), ...]`` edits."""
    sh = no_shock(eco, days, name="test")
    for idx, v in kappa or ():
        sh["kappa"][idx] = v
    for idx, v in alpha_M or ():
        sh["alpha_M"][idx] = v
    if rho is not None:
        sh["rho"] = (("region_from", "region_to", "product", "time"), rho)
        sh = sh.assign_coords(region_from=eco["region"].values, region_to=eco["region"].values)
    if delta is not None:
        sh["delta"] = (("region", "product", "use", "time"), delta)
    if window is not None:
        sh.attrs["window_start"], sh.attrs["window_end"] = window
    return sh


def total_loss(res):
    """Cumulative output shortfall below baseline, share of baseline output over the horizon."""
    x0 = res["x_baseline"].values[..., None]
    short = np.maximum(x0 - res["x"].values, 0.0).sum()
    return short / (x0.sum() * res.sizes["time"])


def national_csr(res, product):
    ess = res["essential"].sel(product=product).sum("region")
    base = res["essential_baseline"].sel(product=product).sum("region")
    return (ess / base).values


@pytest.fixture(scope="module")
def eco():
    return random_economy(3, 4, seed=1)


# ----------------------------------------------------------------------------- baseline


def _assert_baseline(res, eco, rtol=1e-9):
    for v in ("x", "va", "capacity", "exports"):
        base = {"x": res["x_baseline"], "va": res["va_baseline"],
                "capacity": res["x_baseline"], "exports": eco["exports"]}[v]
        np.testing.assert_allclose(res[v].values, np.broadcast_to(
            base.values[..., None], res[v].shape), rtol=rtol, atol=0, err_msg=v)
    f = res["f"].sum("source")
    np.testing.assert_allclose(f.values, np.broadcast_to(res["f_baseline"].values[..., None],
                                                         f.shape), rtol=rtol, err_msg="f")
    csr = res["csr"].values
    np.testing.assert_allclose(csr[np.isfinite(csr)], 1.0, rtol=rtol)
    assert (res["binding"].values == 0).all()
    assert (res["f"].sel(source="stock").values == 0).all()


def expected_inventory_days(eco, min_cover_days=1.0, **params):
    """Days of baseline use held per (region, product) in the steady state of a recipe (at
    least ``min_cover_days`` of every binding input)."""
    d = derive(eco)
    rec = resolve_recipe(eco, params)
    use = (d.a_prod + d.AM) * d.x[None]
    R, S = d.n_region, d.n_sector
    cover = np.where(rec.crit | rec.half, np.maximum(rec.inventory, min_cover_days),
                     rec.inventory)
    held = (cover * use).reshape(S, R, S).sum(axis=2).T
    base = use.reshape(S, R, S).sum(axis=2).T
    return np.divide(held, base, out=np.full((R, S), np.nan), where=base > 0)


@pytest.mark.parametrize("params", [{}, {"recipe": "strict"}, {"inventory_days": 0},
                                    {"recipe": "strict", "min_cover_days": 0},
                                    {"inventory_days": 0, "min_cover_days": 0},
                                    {"recipe": "strict", "inventory_days": 30}])
def test_no_shock_reproduces_baseline_every_day(eco, params):
    res = run_dynamic(eco, no_shock(eco, 120), **params)
    assert res.sizes["time"] == 120
    _assert_baseline(res, eco)
    exp = expected_inventory_days(eco, **params)
    np.testing.assert_allclose(res["inventory_days"].values,
                               np.broadcast_to(exp[..., None], res["inventory_days"].shape),
                               rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(res["overproduction"].values, 1.0, rtol=0, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(R=st.integers(1, 4), S=st.integers(1, 5), seed=st.integers(0, 10_000),
       density=st.floats(0.2, 1.0), rule=st.sampled_from(kd.FINAL_RULES),
       psi=st.sampled_from([0.0, 0.8, 1.0]), cover=st.sampled_from([None, 0.0, 1.0, 45.0]),
       recipe=st.sampled_from(["central", "strict"]), floor=st.sampled_from([0.0, 1.0]))
def test_no_shock_baseline_random(R, S, seed, density, rule, psi, cover, recipe, floor):
    e = random_economy(R, S, seed=seed, density=density)
    res = run_dynamic(e, no_shock(e, 30), final_rule=rule, inventory_psi=psi,
                      inventory_days=cover, recipe=recipe, min_cover_days=floor)
    _assert_baseline(res, e)


# ----------------------------------------------------------------------------- invariants


def _random_shock(e, draw_seed, days):
    rng = np.random.default_rng(draw_seed)
    R, S = e.sizes["region"], e.sizes["sector"]
    kappa = []
    for _ in range(rng.integers(0, 3)):
        start = int(rng.integers(0, days - 1))
        kappa.append(((int(rng.integers(R)), int(rng.integers(S)),
                       slice(start, start + int(rng.integers(1, days)))), float(rng.uniform(0, 1))))
    alpha = [((int(rng.integers(S)), slice(int(rng.integers(0, days // 2)), days)),
              float(rng.uniform(0, 1)))]
    rho = delta = None
    if rng.uniform() < 0.5:
        rho = np.ones((R, R, S, days))
        rho[int(rng.integers(R)), int(rng.integers(R)), :, 3:] = rng.uniform(0, 1)
    if rng.uniform() < 0.5:
        delta = np.ones((R, S, e.sizes["use"], days))
        delta[int(rng.integers(R)), int(rng.integers(S)), :, 2:] = rng.uniform(0.3, 2.0)
    return shock_of(e, days, kappa=kappa, alpha_M=alpha, rho=rho, delta=delta,
                    window=(0, days // 2))


@settings(max_examples=25, deadline=None)
@given(R=st.integers(1, 3), S=st.integers(2, 5), seed=st.integers(0, 10_000),
       rule=st.sampled_from(kd.FINAL_RULES), cover=st.sampled_from([0.0, 2.0, 30.0]),
       recipe=st.sampled_from(["central", "strict"]), floor=st.sampled_from([0.0, 1.0]))
# a buyer whose capacity falls to 0.01% while imports are cut: its substitution friction
# was charged on substitute orders that decayed slowly, and its value added went negative
@example(R=1, S=2, seed=690, rule="proportional", cover=0.0, recipe="central", floor=0.0)
def test_invariants_under_random_shocks(R, S, seed, rule, cover, recipe, floor):
    """Output <= effective capacity, nothing negative, deliveries <= demand, the pooled
    inventory's stock-flow identity S(t+1) = S(t) + arrivals(t) - use(t) every day, and the
    substitution friction at most ``friction`` times the inputs a buyer used that day."""
    e = random_economy(R, S, seed=seed, density=0.7)
    sh = _random_shock(e, seed, 40)
    plan = no_plan(e)
    plan["stock_amount"].loc[{"holder": NATIONAL}] = 5.0
    plan["stock_max_release"].loc[{"holder": NATIONAL}] = 0.5
    res = run_dynamic(e, sh, plan, final_rule=rule, inventory_days=cover, recipe=recipe,
                      min_cover_days=floor, record_flows=True)
    x, cap = res["x"].values, res["capacity"].values
    assert (x <= cap * (1 + 1e-12) + 1e-12).all()
    for v in ("x", "va", "f", "exports", "essential", "stock", "S", "arrivals", "arrivals_M",
              "use"):
        vals = res[v].values
        if v == "va":
            vals = vals[res["va_baseline"].values > 0]
        assert np.nanmin(vals) >= -1e-12, v
    assert (res["exports"].values <= e["exports"].values[..., None] * (1 + 1e-12) + 1e-12).all()
    ess_cap = np.maximum(res["essential_baseline"].values, 0)
    # essential demand may rise with a demand event (delta <= 2)
    assert (res["essential"].values <= 2 * ess_cap[..., None] * (1 + 1e-9) + 1e-12).all()
    S_, A_, U_ = res["S"].values, res["arrivals"].values, res["use"].values
    lhs = S_[..., 1:]
    rhs = S_[..., :-1] + A_[..., :-1] - U_[..., :-1]
    scale = np.abs(S_).max() + np.abs(A_).max() + 1e-300
    assert np.abs(lhs - rhs).max() <= 1e-12 * scale
    assert (res["arrivals_M"].values <= A_ * (1 + 1e-12) + 1e-12 * scale).all()
    assert (res["stock"].values <= 5.0 + 1e-12).all()
    if "substitution_cost" in res:
        fric = json.loads(res.attrs["parameters"])["resourcing_friction"]
        used = U_.sum(axis=0).reshape(res["substitution_cost"].shape)  # daily
        daily_cost = res["substitution_cost"].values / DAYS_PER_YEAR
        assert (daily_cost <= fric * used * (1 + 1e-9) + 1e-12).all()


@pytest.mark.parametrize("params", [{}, {"recipe": "strict", "inventory_days": 30},
                                    {"final_rule": "mixed", "resourcing_imports": 0.5},
                                    {"critical_first": False}])
def test_dense_and_sparse_backends_agree(eco, params):
    R, S, U = 3, 4, eco.sizes["use"]
    rho = np.ones((R, R, S, 60))
    rho[0, 1, :, 10:40] = 0.3
    delta = np.ones((R, S, U, 60))
    delta[1, 2, 0, 20:30] = 1.5
    sh = shock_of(eco, 60, kappa=[((0, 0, slice(5, 35)), 0.5)],
                  alpha_M=[((1, slice(10, 50)), 0.2)], rho=rho, delta=delta, window=(0, 50))
    plan = no_plan(eco)
    plan["stock_amount"][3, 0] = 20.0
    plan["stock_max_release"][3, 0] = 1.0
    plan["substitution_headroom"][:] = 0.3
    prm_, rec = resolve_parameters(eco, sh, params)
    table, prm, path, backups, _ = build_inputs(eco, sh, plan, None, prm_, rec)
    a = kd.simulate(table, prm, path, backups, dense=True)
    b = kd.simulate(table, prm, path, backups, dense=False)
    for k in ("x", "capacity", "exports", "f", "essential", "stock", "inventory_days"):
        np.testing.assert_allclose(getattr(a, k), getattr(b, k), rtol=1e-10, atol=1e-12,
                                   err_msg=k)
    assert (a.binding == b.binding).all()


def _traces_agree(a, b, rtol=1e-9):
    for k in ("x", "capacity", "exports", "f", "essential", "stock", "inventory_days",
              "overprod"):
        np.testing.assert_allclose(getattr(a, k), getattr(b, k), rtol=rtol,
                                   atol=rtol * np.abs(getattr(b, k)).max(), err_msg=k)
    assert (a.binding == b.binding).mean() > 0.999


def test_pooled_rows_path_equals_the_link_array_path_on_random_tables(eco, monkeypatch):
    """The pooled-row contractions (forced on a table whose buyers do not share rows) give
    the dense link array's answer: orders on suppliers, pooled delivery ratios and the
    re-sourcing deviation's parts."""
    sh = shock_of(eco, 60, kappa=[((0, 0, slice(5, 35)), 0.5)],
                  alpha_M=[((1, slice(10, 50)), 0.2)], window=(0, 50))
    plan = no_plan(eco)
    plan["substitution_headroom"][:] = 0.3
    plan["substitution_imports"][:] = 0.5
    for params in ({}, {"recipe": "strict"}):
        prm_, rec = resolve_parameters(eco, sh, params)
        table, prm, path, backups, _ = build_inputs(eco, sh, plan, None, prm_, rec)
        monkeypatch.setattr(kd._DenseLinks, "POOLED_MAX_FILL", np.inf)
        pooled = kd.simulate(table, prm, path, backups, dense=True)
        assert kd._DenseLinks(table)._pool is not None
        monkeypatch.setattr(kd._DenseLinks, "POOLED_MAX_FILL", -1.0)
        plain = kd.simulate(table, prm, path, backups, dense=True)
        assert kd._DenseLinks(table)._pool is None
        _traces_agree(pooled, plain, rtol=1e-10)


@pytest.mark.parametrize("scenario,plan", [("coastal-blockade", None),
                                           ("energy-import-cutoff", "western-energy-reserve"),
                                           ("chip-import-cutoff", "sichuan-chongqing-electronics"),
                                           ("combined-worst-case", "three-tasks-balanced")])
def test_pooled_rows_path_equals_the_link_array_path_on_china31(china31, scenario, plan):
    """China31's buyers in one region share their sourcing shares: the dynamic mode contracts
    with one pooled row per (product, region) instead of the (S, R, n) link array. Same days
    as the link array path, 120 days of shipped scenarios, with and without a plan."""
    from stresstest.api import resolve_plan
    from stresstest.scenario import compile_scenario, load_scenario

    sh = compile_scenario(load_scenario(scenario), china31, horizon=120)
    pl = resolve_plan(plan, china31)
    prm_, rec = resolve_parameters(china31, sh, {})
    table, prm, path, backups, _ = build_inputs(china31, sh, pl, None, prm_, rec)
    assert kd._DenseLinks(table)._pool is not None
    pooled = kd.simulate(table, prm, path, backups)
    table.pools = None
    plain = kd.simulate(table, prm, path, backups)
    _traces_agree(pooled, plain)


# ----------------------------------------------------------------------------- behaviour


#: ARIO mechanics: the strict cascade (threshold classes, proportional rationing) with 30 days
#: of every input in stock.
ARIO = dict(recipe="strict", inventory_days=30)


def test_short_import_cut_costs_nothing_long_cut_cascades(eco):
    """All imports stop. For 20 days: the stocks bridge it (output loss < 1e-9 of baseline
    output; restocking afterwards only raises output). For good: the pooled stocks (30 days
    of each input, of which imports are a part) last about two months, then the cut
    cascades and imports bind."""
    days = 150
    short = run_dynamic(eco, shock_of(eco, days, alpha_M=[((slice(None), slice(0, 20)), 0.0)]),
                        **ARIO)
    assert total_loss(short) < 1e-9
    long = run_dynamic(eco, shock_of(eco, days, alpha_M=[((slice(None), slice(0, days)), 0.0)]),
                       **ARIO)
    assert total_loss(long) > 0.02
    x = long["x"].sum(["region", "sector"]).values / long["x_baseline"].sum().item()
    assert x[:60].min() > 1 - 1e-9
    assert x[100] < 0.9
    assert (long["binding"].isel(time=100) == 4).any()  # binding: import


def test_loss_grows_with_duration(eco):
    """Aggregate output loss is non-decreasing in the length of a capacity cut (tolerance
    1e-6 of baseline output; crowding-out makes per-industry monotonicity fail)."""
    losses = []
    for dur in (5, 15, 30, 45, 60, 90):
        sh = shock_of(eco, 150, kappa=[((slice(None), 0, slice(0, dur)), 0.6)],
                      alpha_M=[((1, slice(0, dur)), 0.3)])
        losses.append(total_loss(run_dynamic(eco, sh, **ARIO)))
    assert losses[0] > 0
    assert all(b >= a - 1e-6 for a, b in zip(losses, losses[1:])), losses


def test_standby_helps_only_after_lead_time(eco):
    sh = shock_of(eco, 80, kappa=[((0, 0, slice(0, 60)), 0.4)], window=(0, 60))
    base = run_dynamic(eco, sh)
    plan = no_plan(eco, name="standby")
    x00 = float(eco["x"].values[0, 0])
    plan = plan.drop_dims("standby").assign(
        standby_capacity=("standby", [0.3 * x00]), standby_region=("standby", ["R0"]),
        standby_sector=("standby", ["S0"]), standby_lead_time=("standby", [20.0]),
        standby_ramp=("standby", [5.0]), standby_cost=("standby", [1.0]))
    res = run_dynamic(eco, sh, plan)
    xb, xp = base["x"].values, res["x"].values
    assert np.array_equal(xb[..., :21], xp[..., :21])  # share 0 through day lead
    assert xp[0, 0, 30] > xb[0, 0, 30] * 1.2
    assert total_loss(res) < total_loss(base)
    assert "standby_active" in res
    np.testing.assert_allclose(res["standby_active"].values[0, 0, [19, 22, 25, 40]],
                               [0.0, 0.3 * x00 * 2 / 5, 0.3 * x00, 0.3 * x00])


def test_stockpile_covers_n_days_of_import_cut(eco):
    """A national stock of N days of the essential imported final use of product S0 keeps
    the national critical supply ratio at 1 for N days of a total import cut, then it falls."""
    N, days = 10, 30
    e_share = float(eco["essential_share"].sel(sector="S0"))
    my_cons = float(eco["MY"].sel(product="S0").where(eco["consumption"], 0).sum())
    daily = e_share * my_cons / 365.0
    plan = no_plan(eco, name="grain")
    plan["stock_amount"].loc[{"holder": NATIONAL, "product": "S0"}] = N * daily
    plan["stock_max_release"].loc[{"holder": NATIONAL, "product": "S0"}] = 10 * daily
    sh = shock_of(eco, days, alpha_M=[((0, slice(0, days)), 0.0)])
    res = run_dynamic(eco, sh, plan, **ARIO)
    csr = national_csr(res, "S0")
    none = national_csr(run_dynamic(eco, sh, **ARIO), "S0")
    assert none[0] < 0.99  # without a stock the cut shows at once
    assert csr[:N].min() > 1 - 1e-9
    assert csr[N + 1:].max() < 0.99
    np.testing.assert_allclose(csr[N + 1:], none[N + 1:], rtol=1e-9)
    stock = res["stock"].sel(holder=NATIONAL, product="S0").values
    np.testing.assert_allclose(stock[N - 1:], 0.0, atol=1e-9 * N * daily)


def test_stockpile_refills_after_window(eco):
    sh = shock_of(eco, 60, alpha_M=[((0, slice(0, 10)), 0.0)], window=(0, 10))
    plan = no_plan(eco)
    plan["stock_amount"].loc[{"holder": NATIONAL, "product": "S0"}] = 50.0
    plan["stock_max_release"].loc[{"holder": NATIONAL, "product": "S0"}] = 50.0
    res = run_dynamic(eco, sh, plan, stock_refill_days=20)
    stock = res["stock"].sel(holder=NATIONAL, product="S0").values
    assert stock[9] < 50.0
    assert stock[-1] == pytest.approx(50.0)
    assert (np.diff(stock[12:]) >= -1e-12).all()


def test_zero_plan_bit_identical_to_none(eco):
    sh = shock_of(eco, 50, kappa=[((1, 2, slice(0, 30)), 0.3)], alpha_M=[((0, slice(5, 40)), 0.1)])
    plan = no_plan(eco, name="zero").drop_dims("standby").assign(
        standby_capacity=("standby", [0.0]), standby_region=("standby", ["R1"]),
        standby_sector=("standby", ["S2"]), standby_lead_time=("standby", [0.0]),
        standby_ramp=("standby", [0.0]), standby_cost=("standby", [0.0]))
    a, b = run_dynamic(eco, sh, None), run_dynamic(eco, sh, plan)
    assert set(a.data_vars) == set(b.data_vars)
    for v in a.data_vars:
        assert np.array_equal(a[v].values, b[v].values, equal_nan=True), v


def net_loss(res):
    """Aggregate output loss (baseline minus actual, summed over industries and days), share."""
    x0 = res["x_baseline"].values[..., None]
    return (x0 - res["x"].values).sum() / (x0.sum() * res.sizes["time"])


def test_substitution_moves_demand_to_standby(eco):
    """Standby in another region helps little on its own (only through buyers' extra restock
    orders); when a plan lets buyers re-source toward it, it takes over part of the lost
    supply (strict recipe: no re-sourcing without a plan)."""
    sh = shock_of(eco, 90, kappa=[((0, 0, slice(0, 90)), 0.3)])
    x00 = float(eco["x"].values[0, 0])
    plan = no_plan(eco, name="sb").drop_dims("standby").assign(
        standby_capacity=("standby", [0.5 * x00]), standby_region=("standby", ["R1"]),
        standby_sector=("standby", ["S0"]), standby_lead_time=("standby", [0.0]),
        standby_ramp=("standby", [0.0]), standby_cost=("standby", [1.0]))
    none = run_dynamic(eco, sh, **ARIO)
    only = run_dynamic(eco, sh, plan, **ARIO)
    sub = plan.copy(deep=True)
    sub["substitution_headroom"].loc[{"product": "S0"}] = 1.0
    with_sub = run_dynamic(eco, sh, sub, **ARIO)
    assert net_loss(only) <= net_loss(none)
    assert net_loss(with_sub) < 0.8 * net_loss(only)
    x1 = float(eco["x"].sel(region="R1", sector="S0"))
    assert float(with_sub["x"].sel(region="R1", sector="S0").isel(time=-1)) > 1.3 * x1
    assert float(only["x"].sel(region="R1", sector="S0").isel(time=-1)) < 1.2 * x1


def test_essential_first_protects_essential_supply(eco):
    sh = shock_of(eco, 40, kappa=[((slice(None), 0, slice(0, 40)), 0.5)])
    prop = run_dynamic(eco, sh, final_rule="proportional")
    first = run_dynamic(eco, sh, final_rule="essential_first")
    assert national_csr(first, "S0")[20] > national_csr(prop, "S0")[20] + 0.01


def test_scaling_money_scales_results(eco):
    c = 1000.0
    scaled = eco.copy(deep=True)
    for v in ("Z", "Y", "exports", "M", "MY", "V", "x"):
        scaled[v] = eco[v] * c
    sh = shock_of(eco, 60, kappa=[((0, 1, slice(0, 30)), 0.2)], alpha_M=[((2, slice(0, 50)), 0.0)])
    a, b = run_dynamic(eco, sh), run_dynamic(scaled, sh)
    atol = 1e-9 * c * float(a["x"].max())
    np.testing.assert_allclose(b["x"].values, c * a["x"].values, rtol=1e-9, atol=atol)
    np.testing.assert_allclose(b["csr"].values, a["csr"].values, rtol=1e-9, atol=1e-9)


def test_horizon_option_extends_last_day(eco):
    sh = shock_of(eco, 10, kappa=[((0, 0, slice(0, 10)), 0.5)])
    res = run_dynamic(eco, sh, horizon=25)
    assert res.sizes["time"] == 25
    assert float(res["capacity"].isel(region=0, sector=0, time=24)) < float(
        res["x_baseline"].isel(region=0, sector=0))


# ----------------------------------------------------------------------------- options


def test_parameters_from_scenario_and_call(eco):
    """The scenario's [parameters] set dynamic options and recipe parameters; call options
    win; keys of other modes are left alone. The Result records both and the recipe."""
    sh = no_shock(eco, 5)
    sh.attrs["parameters"] = json.dumps({"restock_tau": 4, "iterations": 7,
                                         "inventory_days": 7, "recipe": "strict"})
    res = run_dynamic(eco, sh)
    got = json.loads(res.attrs["parameters"])
    assert got["restock_tau"] == 4 and got["inventory_days"] == 7 and got["recipe"] == "strict"
    assert res.attrs["recipe"] == "strict" and res.attrs["recipe_classes"] == "thresholds"
    res = run_dynamic(eco, sh, restock_tau=6, inventory_days={"S1": 3}, recipe="central")
    got = json.loads(res.attrs["parameters"])
    assert got["restock_tau"] == 6 and got["inventory_days"] == {"S1": 3}
    assert res.attrs["recipe"] == "central"
    _, rec = resolve_parameters(eco, sh, {"inventory_days": {"S1": 3}, "recipe": "central"})
    S = eco.sizes["sector"]
    cover = rec.inventory.reshape(S, -1, S)  # (product, region, using sector)
    assert np.all(cover[:, :, 1][cover[:, :, 1] > 0] == 3)
    assert np.all(cover[:, :, 0][cover[:, :, 0] > 0] == 30)  # fallback for the others


def test_kernel_params_follow_the_recipe(eco):
    """Inventories, binding classes and the critical-first tier come from the recipe; the
    overproduction ceiling is 1 + spare capacity with time constant spare_ramp_days / 2 unless
    overridden; re-sourcing's time constant is resourcing_ramp_days / 2."""
    from stresstest.modes.dynamic import kernel_params

    params, rec = resolve_parameters(eco, None, {"utilisation": 0.8, "spare_ramp_days": 40,
                                                 "resourcing_ramp_days": 20})
    prm = kernel_params(rec, params)
    binds = rec.crit | rec.half
    np.testing.assert_array_equal(prm.cover[~binds], rec.inventory[~binds])
    np.testing.assert_array_equal(prm.cover[binds], np.maximum(rec.inventory[binds], 1.0))
    np.testing.assert_array_equal(prm.crit, rec.crit)
    np.testing.assert_array_equal(prm.first, rec.crit | rec.half)
    np.testing.assert_allclose(prm.overprod_max, 1.25)
    assert prm.overprod_tau == 20.0 and prm.resourcing_tau == 10.0
    params, rec = resolve_parameters(eco, None, {"recipe": "strict", "overprod_max": 1.25,
                                                 "overprod_tau": 365})
    prm = kernel_params(rec, params)
    assert prm.first is None and not rec.inventory.any()
    assert set(np.unique(prm.cover)) <= {0.0, 1.0}
    np.testing.assert_allclose(prm.overprod_max, 1.25)
    assert prm.overprod_tau == 365.0


@pytest.mark.parametrize("opts, word", [
    ({"restock_tau": 0}, "restock_tau"),
    ({"overprod_max": 0.5}, "overprod_max"),
    ({"overprod_tau": -1}, "overprod_tau"),
    ({"overprod_rule": "magic"}, "overprod_rule"),
    ({"overprod_when_hit": "yes"}, "overprod_when_hit"),
    ({"final_rule": "lottery"}, "final_rule"),
    ({"inventory_days": {"nope": 3}}, "nope"),
    ({"inventory_days": -1}, "inventory_days"),
    ({"critical_threshold": 1.5}, "critical_threshold"),
    ({"recipe": "lavish"}, "recipe"),
    ({"horizon": 0}, "horizon"),
])
def test_bad_options_raise_input_error(eco, opts, word):
    with pytest.raises(InputError, match=word):
        run_dynamic(eco, no_shock(eco, 3), **opts)


def test_unknown_option_raises(eco):
    with pytest.raises(InputError, match="bogus"):
        resolve_parameters(eco, None, {"bogus": 1})
    with pytest.raises(InputError, match="bogus"):
        run_dynamic(eco, no_shock(eco, 3), bogus=1)
    for removed in ("critical_threshold_x", "inventory_days_goods", "resourcing_tau"):
        with pytest.raises(InputError, match=removed):
            run_dynamic(eco, no_shock(eco, 3), **{removed: 1})


def test_mismatched_labels_raise(eco):
    other = random_economy(3, 4, seed=2).assign_coords(region=["A", "B", "C"])
    with pytest.raises(InputError, match="region"):
        run_dynamic(eco, no_shock(other, 3))


def test_result_schema(eco):
    res = run_dynamic(eco, no_shock(eco, 4))
    assert res.attrs["mode"] == "dynamic"
    assert res.attrs["recipe"] == "central" and "recipe_notes" in res.attrs
    assert res["x"].dims == ("region", "sector", "time")
    assert res["inventory_days"].dims == ("region", "product", "time")
    assert res["stock"].dims == ("holder", "product", "time")
    assert isinstance(res, xr.Dataset)


@pytest.mark.parametrize("params", [dict(recipe="strict", inventory_days=1.0),
                                    dict(recipe="strict", inventory_days=3.0),
                                    dict(), dict(inventory_days=0.0)])
def test_economy_recovers_after_the_shock(eco, params):
    """Short cover makes the cut cascade, but output returns to baseline (1%) once capacity
    and imports are back: no lock-in at low output."""
    sh = shock_of(eco, 250, kappa=[((slice(None), 0, slice(0, 40)), 0.5)],
                  alpha_M=[((slice(None), slice(0, 40)), 0.5)], window=(0, 40))
    res = run_dynamic(eco, sh, **params)
    x = res["x"].sum(["region", "sector"]).values / float(res["x_baseline"].sum())
    assert x[30] < 0.9
    assert abs(x[-1] - 1) < 0.01


# ----------------------------------------------------------------------------- recipe


def with_tiny_imports(eco, p, share=1e-4):
    """A copy of ``eco`` whose every buyer imports product ``p`` at ``share`` of its domestic
    purchases of ``p`` (value added takes up the difference: the table stays balanced)."""
    e = eco.copy(deep=True)
    prod = e["sector"].values[p]
    dom = e["Z"].sel(product=prod).sum("origin")
    old = e["M"].sel(product=prod)
    e["M"].loc[{"product": prod}] = share * dom
    e["V"][dict(component=0)] = e["V"].isel(component=0) + (old - share * dom)
    return e


def rated(eco, ratings, **variables):
    """``eco`` with ``input_rating[product, sector]`` 0 except ``ratings`` ``{(p, s): r}``,
    plus other economy variables (e.g. ``storable=("product", [...])``)."""
    S = eco.sizes["sector"]
    rating = np.zeros((S, S))
    for (p, s), r in ratings.items():
        rating[p, s] = r
    return eco.assign(input_rating=(("product", "sector"), rating), **variables)


def test_pooling_an_almost_domestic_input_survives_an_import_cut(eco):
    """Every buyer gets 99.99% of product S2 at home. A full, lasting cut of S2's imports
    takes 0.01% of the input, not the buyer: with no stocks at all (central recipe) every
    industry keeps >= 99.9% of its output, and with 30 days of stocks (strict) nothing is
    lost. (The old separate import inventories stopped every buyer once its 30 days of the
    tiny imported part were gone: a Leontief input of its own.)"""
    e = with_tiny_imports(eco, 2)
    sh = shock_of(e, 90, alpha_M=[((2, slice(0, 90)), 0.0)])
    res = run_dynamic(e, sh, inventory_days=0)
    assert (res["x"] / res["x_baseline"]).min() > 0.999
    res = run_dynamic(e, sh, **ARIO)
    assert (res["x"] / res["x_baseline"]).min() > 1 - 1e-9


@pytest.mark.parametrize("rating, share", [(0.0, None), (0.5, 0.5), (1.0, 0.0)])
def test_rated_classes(rating, share):
    """Product S1 disappears (no domestic capacity, no imports, no stocks). For sector S2 it
    is rated ``rating`` (every other input 0): not critical — S2 is never input-bound by it;
    important — S2 makes half its capacity (½ availability + ½ capacity); critical — S2
    stops."""
    e = rated(random_economy(2, 3, seed=3), {(1, 2): rating})
    sh = shock_of(e, 30, kappa=[((slice(None), 1, slice(5, 30)), 0.0)],
                  alpha_M=[((1, slice(5, 30)), 0.0)])
    res = run_dynamic(e, sh, inventory_days=0, utilisation=1.0, min_cover_days=0)
    assert res.attrs["recipe_classes"] == "ratings"
    x = (res["x"] / res["x_baseline"]).isel(sector=2).values
    np.testing.assert_allclose(x[:, :6], 1.0, rtol=1e-9)  # one day in transit
    bound = res["binding"].isel(sector=2).values[:, 6:]
    if share is None:
        assert not np.isin(bound, (3, 4)).any()
        assert x[:, 6:].min() > 0.5
    else:
        np.testing.assert_allclose(x[:, 6:], share, atol=1e-9)
        assert np.isin(bound, (3, 4)).all()
        assert (res["binding_product"].isel(sector=2).values[:, 6:] == 1).all()


@pytest.mark.parametrize("storable, min_cover, bridged", [(True, 1.0, 12), (False, 0.0, 0),
                                                         (False, 1.0, 1)])
def test_stocks_of_storable_inputs_bridge_a_cut(storable, min_cover, bridged):
    """S2 holds 12 days of its (critical) input S1, which disappears from day 10. Stored, it
    bridges the cut for about 12 days (S2 then works at about 80%, its demand being lower,
    so the stock lasts a bit longer). Not storable (a service, electricity), it bridges
    nothing beyond yesterday's deliveries with ``min_cover_days=0``: S2 stops on day 11; by
    default a binding input keeps a working stock of one day, which bridges one more day."""
    N = 12
    e = rated(random_economy(2, 3, seed=3), {(1, 2): 1.0},
              storable=("product", [True, storable, True]))
    sh = shock_of(e, 40, kappa=[((slice(None), 1, slice(10, 40)), 0.0)],
                  alpha_M=[((1, slice(10, 40)), 0.0)])
    res = run_dynamic(e, sh, inventory_days={"S2": N}, utilisation=1.0,
                      min_cover_days=min_cover)
    bound = np.isin(res["binding"].isel(sector=2).values, (3, 4))  # input or import
    x = (res["x"] / res["x_baseline"]).isel(sector=2).values
    assert not bound[:, :11].any() and x[:, :11].min() > 1 - 1e-9
    if storable:
        assert not bound[:, :10 + N].any() and x[:, 10 + N].min() > 0.7
        assert bound[:, 10 + N + 5:].all() and x[:, 10 + N + 5:].max() < 1e-9
    else:
        assert not bound[:, :11 + bridged].any() and x[:, 10 + bridged].min() > 0.7
        assert bound[:, 11 + bridged:].all() and x[:, 12 + bridged:].max() < 1e-9


def test_spare_capacity_and_resourcing_replace_a_shocked_supplier():
    """R0's S1 loses half its capacity for good. R1's S1 runs at 70% of capacity; buyers may
    re-source any amount on existing links. The unshocked supplier takes over part of the
    lost output, about half of what it will reach by the 30-day ramp and nearly all of it by
    two ramps; without spare capacity (utilisation 1) it takes over nothing. The shocked
    industry has no spare capacity (capacity stays at half, no overproduction) unless
    ``overprod_when_hit`` (ARIO)."""
    e = random_economy(2, 3, seed=3)
    sh = shock_of(e, 120, kappa=[((0, 1, slice(0, 120)), 0.5)])
    x0 = e["x"].values

    def replaced(res):
        x = res["x"].values
        return (x[1, 1] - x0[1, 1]) / (x0[0, 1] - x[0, 1])

    res = run_dynamic(e, sh, utilisation=0.7, resourcing_headroom=10.0)
    rep = replaced(res)
    assert rep[-1] > 0.3
    assert rep[3] < 0.5 * rep[-1]
    assert rep[30] > 0.5 * rep[-1] and rep[60] > 0.9 * rep[-1]
    np.testing.assert_allclose(res["capacity"].values[0, 1], 0.5 * x0[0, 1], rtol=1e-12)
    np.testing.assert_array_equal(res["overproduction"].values[0, 1], 1.0)
    none = run_dynamic(e, sh, utilisation=1.0, resourcing_headroom=10.0)
    assert replaced(none).max() < 0.01
    slow = replaced(run_dynamic(e, sh, utilisation=0.7, resourcing_headroom=10.0,
                                spare_ramp_days=60, resourcing_ramp_days=60))
    assert slow[30] < rep[30]
    ario = run_dynamic(e, sh, utilisation=0.7, resourcing_headroom=10.0,
                       overprod_when_hit=True)
    assert ario["capacity"].values[0, 1, 60] > 0.55 * x0[0, 1]


def test_grain_import_cutoff_matches_the_static_central(china31):
    """China31, grain-import-cutoff: the dynamic mode's national output averaged over the
    shock window is within 2 percentage points of the static central estimate (rationing,
    the average day of the window)."""
    import stresstest

    static = stresstest.run(china31, "grain-import-cutoff")
    share_static = float(static["x"].sum() / static["x_baseline"].sum())
    dyn = stresstest.run(china31, "grain-import-cutoff", mode="dynamic")
    ws, we = dyn.attrs["window_start"], dyn.attrs["window_end"]
    daily = (dyn["x"].sum(["region", "sector"]) / dyn["x_baseline"].sum()).values
    assert abs(daily[ws:we].mean() - share_static) < 0.02
    assert dyn.attrs["recipe"] == "central" and dyn.attrs["recipe_classes"] == "ratings"


def test_working_stock_prevents_lock_in(china31):
    """Strict cascade with 50 days of every storable input and none of the services: after
    the chip cut (180 days) every industry is bound by a service input it holds no stock of,
    delivered yesterday by suppliers bound the same way, and output stays at its lowest level
    (88.5% of baseline) for good with ``min_cover_days=0``. One day of working stock of the
    binding inputs (the default) lets output return to baseline."""
    import stresstest

    res = stresstest.run(china31, "chip-import-cutoff", mode="dynamic", recipe="strict",
                         inventory_days=50)
    daily = (res["x"].sum(["region", "sector"]) / res["x_baseline"].sum()).values
    assert abs(daily[-1] - 1) < 0.005


def test_stock_releases_to_industries_are_counted_once_without_substitution(eco):
    """A stockpile's release to industries short of an input is credited to their order
    accounts on the day it arrives, once. Without import substitution the credit was carried
    into every later day (the substitution arrivals were not reset), so a run without
    substitution differed from one with a negligible substitution share."""
    sh = shock_of(eco, 60, kappa=[((0, slice(None), slice(0, 20)), 0.5)],
                  alpha_M=[((slice(None), slice(0, 30)), 0.2)], window=(0, 30))
    plan = no_plan(eco)
    plan["stock_amount"].loc[{"holder": NATIONAL}] = 20.0
    plan["stock_max_release"].loc[{"holder": NATIONAL}] = 2.0
    kw = dict(recipe="strict", inventory_days=5, record_flows=True)
    none = run_dynamic(eco, sh, plan, resourcing_imports=0.0, **kw)
    tiny = run_dynamic(eco, sh, plan, resourcing_imports=1e-13, **kw)
    assert float(none["arrivals"].sum()) > 0
    for v in ("x", "S", "arrivals_M"):
        np.testing.assert_allclose(none[v].values, tiny[v].values, rtol=1e-9, atol=1e-9)
