"""Hypothesis: a valid scenario or plan broken in one way always gives ScenarioError/PlanError
(never another exception) whose message names the file and the field."""

from __future__ import annotations

import copy
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stresstest.errors import PlanError, ScenarioError
from stresstest.plan import ELEMENT_KEYS, ELEMENT_REQUIRED, compile_plan, load_plan
from stresstest.scenario import EVENT_KEYS, EVENT_REQUIRED, compile_scenario, load_scenario
from stresstest.testing import random_economy

TEXT = st.characters(exclude_categories=("Cs",))
SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
ECONOMY = random_economy(3, 4, seed=2)

SCENARIO = {
    "name": "bad", "description": "a test scenario", "horizon": 60,
    "events": [
        {"kind": "capacity", "regions": "coastal", "sectors": ["tradable", "-S3"],
         "remaining": 0.7, "start": 0, "duration": 20, "recovery": "linear",
         "recovery_days": 10},
        {"kind": "imports", "products": "all", "via": "sea", "remaining": 0.1, "start": 5,
         "duration": 30},
        {"kind": "route", "from": "R0", "to": "inland", "products": "critical",
         "remaining": 0.5, "start": 0, "duration": 10, "both_ways": False},
        {"kind": "demand", "regions": "all", "products": "S0", "uses": "consumption",
         "factor": 1.3, "start": 0, "duration": 15},
    ],
}
PLAN = {
    "name": "bad", "description": "a test plan",
    "standby": [{"region": "R1", "sector": "S0", "capacity_share": 0.05, "lead_time": 10,
                 "ramp": 20, "annual_cost_share": 0.08}],
    "stockpile": [{"product": "S0", "region": "national", "days_of_cover": 30,
                   "basis": "essential", "max_release": 1.0, "annual_cost_share": 0.03}],
    "substitution": [{"products": "S0", "headroom": 0.3, "new_links": 0.1, "friction": 0.05,
                      "imports": 0.2}],
    "corridor": [{"from": "inland", "to": "coastal", "extra": 0.2, "both_ways": True}],
}
SHARES = {"remaining", "capacity_share", "annual_cost_share", "new_links", "friction",
          "imports"}
DAYS = {"start", "duration", "recovery_days", "horizon", "lead_time", "ramp"}
SELECTORS = {"regions", "sectors", "products", "uses", "from", "to", "region", "sector",
             "product"}


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + "".join(f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F or c in '"\\'
                             else c for c in v) + '"'
    return "[" + ", ".join(_value(x) for x in v) + "]"


def to_toml(data: dict) -> str:
    """A minimal TOML writer: scalars, lists of scalars and arrays of tables."""
    lines = [f"{k} = {_value(v)}" for k, v in data.items()
             if not (isinstance(v, list) and v and isinstance(v[0], dict))]
    for k, v in data.items():
        if isinstance(v, list) and v and isinstance(v[0], dict):
            for table in v:
                lines.append(f"\n[[{k}]]")
                lines += [f"{kk} = {_value(vv)}" for kk, vv in table.items()]
    return "\n".join(lines) + "\n"


def tables(data):
    """``(location, table, allowed keys, required keys)`` of every table in ``data``."""
    if "horizon" in data:
        yield "", data, None, ("name", "description", "horizon")
        for i, e in enumerate(data["events"]):
            yield f"events[{i}]", e, EVENT_KEYS[e["kind"]], EVENT_REQUIRED[e["kind"]] + ("kind",)
    else:
        yield "", data, None, ("name", "description")
        for kind in ("standby", "stockpile", "substitution", "corridor"):
            for i, e in enumerate(data.get(kind, [])):
                yield f"{kind}[{i}]", e, ELEMENT_KEYS[kind], ELEMENT_REQUIRED[kind]


@st.composite
def broken(draw, base):
    """``(broken dict or garbage text, location, field)``."""
    data = copy.deepcopy(base)
    locs = list(tables(data))
    loc, table, allowed, required = draw(st.sampled_from(locs))
    how = draw(st.sampled_from(["drop", "unknown", "share", "days", "type", "selector"]))
    keys = list(table)
    if how == "drop":
        key = draw(st.sampled_from(list(required)))
        del table[key]
        return data, loc, key
    if how == "unknown":
        key = draw(st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True))
        known = set(allowed or ()) | {"name", "description", "horizon", "window", "events",
                                      "parameters", "standby", "stockpile", "substitution",
                                      "corridor"}
        if key in known:
            key = key + "_x"
        table[key] = draw(st.one_of(st.integers(), st.text(TEXT, max_size=5), st.booleans()))
        return data, loc, key
    if how == "share" and SHARES & set(keys):
        key = draw(st.sampled_from(sorted(SHARES & set(keys))))
        table[key] = draw(st.one_of(
            st.floats(min_value=1.0001, max_value=1e6), st.floats(max_value=-1e-6, min_value=-1e6),
            st.text(TEXT, max_size=4), st.just(float("nan")), st.just(float("inf"))))
        return data, loc, key
    if how in ("days", "share") and DAYS & set(keys):
        key = draw(st.sampled_from(sorted(DAYS & set(keys))))
        table[key] = draw(st.one_of(
            st.integers(max_value=-1, min_value=-10**6),
            st.floats(min_value=0.01, max_value=1e4).filter(lambda v: not v.is_integer()),
            st.text(TEXT, max_size=3), st.booleans()))
        return data, loc, key
    if how == "selector" and SELECTORS & set(keys):
        key = draw(st.sampled_from(sorted(SELECTORS & set(keys))))
        table[key] = draw(st.one_of(st.sampled_from(["Atlantis", "R9", "S7", "zz", ""]),
                                    st.builds(list), st.integers(), st.lists(st.integers(),
                                                                         min_size=1, max_size=2)))
        return data, loc, key
    key = draw(st.sampled_from(keys))
    if key == "kind":
        table[key] = draw(st.sampled_from(["capacitty", "blockade", 3]))
    else:
        table[key] = {"nested": 1}
    return data, loc, key


garbage = st.one_of(
    st.text(TEXT, min_size=1, max_size=60),
    st.sampled_from(['name = "x', "[[events]\n", "horizon = = 3", "a = 1\na = 2",
                     'name = "x"\n[[events]]\nkind = "capacity"\nstart = 0x']))


def check(exc_info, path, loc, key):
    msg = str(exc_info.value)
    assert "\n" not in msg
    assert str(path) in msg or path.name in msg, msg
    if loc:
        assert loc in msg, msg
    assert key in msg, msg


@SETTINGS
@given(case=broken(SCENARIO))
def test_broken_scenario(tmp_path, case):
    data, loc, key = case
    path = tmp_path / "bad.toml"
    path.write_text(to_toml(data), encoding="utf-8")
    with pytest.raises(ScenarioError) as e:
        compile_scenario(load_scenario(path), ECONOMY)
    check(e, path, loc, key)


@SETTINGS
@given(case=broken(PLAN))
def test_broken_plan(tmp_path, case):
    data, loc, key = case
    path = tmp_path / "bad.toml"
    path.write_text(to_toml(data), encoding="utf-8")
    with pytest.raises(PlanError) as e:
        compile_plan(load_plan(path), ECONOMY)
    check(e, path, loc, key)


@SETTINGS
@given(text=garbage)
def test_garbage(tmp_path, text):
    for loader, compiler, error in ((load_scenario, compile_scenario, ScenarioError),
                                    (load_plan, compile_plan, PlanError)):
        path = tmp_path / "bad.toml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(error) as e:
            compiler(loader(path), ECONOMY)
        assert "bad.toml" in str(e.value)


def test_valid_bases_compile(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(to_toml(SCENARIO))
    assert compile_scenario(load_scenario(path), ECONOMY).sizes["time"] == 60
    path.write_text(to_toml(PLAN))
    assert compile_plan(load_plan(path), ECONOMY).attrs["annual_cost"] > 0


def test_examples_of_messages(tmp_path):
    d = copy.deepcopy(SCENARIO)
    d["events"][2]["remaining"] = 1.4
    path = tmp_path / "x.toml"
    d["name"] = "x"
    path.write_text(to_toml(d))
    with pytest.raises(ScenarioError) as e:
        load_scenario(path)
    assert str(e.value) == f"{path}: events[2].remaining: 1.4 is outside [0, 1]"
    d = copy.deepcopy(SCENARIO)
    d["name"] = "x"
    d["events"][0]["remainig"] = 0.5
    path.write_text(to_toml(d))
    with pytest.raises(ScenarioError, match=r"events\[0\]\.remainig: unknown field; did you "
                                            r"mean 'remaining'"):
        load_scenario(path)
    path.write_text('name = "x"\ndescription = "d"\nhorizon = 10\n[[events]]\nkind = capacity')
    with pytest.raises(ScenarioError, match=r"TOML syntax error: .*line 5"):
        load_scenario(path)
