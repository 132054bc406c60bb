"""Scenario sanity on the built-in economy: the named library behaves as an analyst expects."""

import pytest

import stresstest as st
from stresstest.metrics import critical_supply


def _run(eco, scenario, plan=None, **options):
    return st.run(eco, scenario, plan=plan, mode="rationing", **options)


def _output_loss(res):
    return float(res["x_baseline"].sum() - res["x"].sum())


def test_blockade_loses_more_than_single_node(china31):
    blockade = _output_loss(_run(china31, "coastal-blockade"))
    node = _output_loss(_run(china31, "guangdong-electronics-failure"))
    assert blockade > node > 0


@pytest.mark.parametrize("scenario", ["chip-import-cutoff", "guangdong-electronics-failure"])
@pytest.mark.parametrize("recipe", ["central", "strict"])
def test_electronics_backup_raises_electronics_supply(china31, scenario, recipe):
    none = _run(china31, scenario, recipe=recipe)
    plan = _run(china31, scenario, "sichuan-chongqing-electronics", recipe=recipe)
    base_x = float(none["x"].sel(sector="electronics").sum())
    plan_x = float(plan["x"].sel(sector="electronics").sum())
    if recipe == "central" and scenario == "guangdong-electronics-failure":
        # the other provinces' idle electronics capacity (utilisation ~80%) already takes the
        # orders Guangdong's buyers re-source; the standby adds nothing, and must not harm
        assert plan_x >= base_x * (1 - 1e-9)
        assert float(plan["x"].sum()) >= float(none["x"].sum()) * (1 - 1e-9)
        return
    assert plan_x > base_x
    assert float(plan["x"].sum()) > float(none["x"].sum())


def test_grain_reserve_raises_grain_critical_supply(china31):
    # essentials cut like all final use, so the import loss reaches households
    opts = {"final_rule": "proportional"}
    none = critical_supply(_run(china31, "grain-import-cutoff", **opts))["national"]
    plan = critical_supply(_run(china31, "grain-import-cutoff", "central-grain-reserve",
                                **opts))["national"]
    for product in ("agriculture", "food"):
        assert float(plan.sel(product=product)) > float(none.sel(product=product))
    # essentials first: domestic supply already covers essential use, the reserve keeps it so
    none_ef = critical_supply(_run(china31, "grain-import-cutoff"))["national"]
    plan_ef = critical_supply(_run(china31, "grain-import-cutoff", "central-grain-reserve"))[
        "national"]
    assert float(plan_ef.sel(product="agriculture")) >= float(none_ef.sel(product="agriculture"))
