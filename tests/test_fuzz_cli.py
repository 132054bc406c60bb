"""Fuzzing the command line: hypothesis-made scenario and plan TOML files and long CSV tables
through ``validate``, ``run`` and ``import csv`` (in process, click's CliRunner).

Every input must give exit 0 (valid) or 2 (bad input; 1 only for a run that fails on a valid
input), one ``error:`` line per problem on stderr, never a traceback or an "unexpected" error,
and a failing command must leave an existing output file alone (same bytes, same mtime) and no
temporary file. ``validate`` and ``run`` must agree on whether a file is valid. The counts
(inputs, exit codes, problems by kind, tracebacks, clobbered files) are printed after the run.
"""

from __future__ import annotations

import copy
import math
import os
import re
from collections import Counter

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stresstest.cli import _file_kind, cli, error_lines
from stresstest.economy import save_economy
from stresstest.errors import MAX_SHOWN, StresstestError
from stresstest.io import write_csv
from stresstest.plan import ELEMENT_KEYS, validate_plan_file
from stresstest.scenario import EVENT_KEYS, KINDS, validate_scenario_file
from stresstest.testing import random_economy

from .test_malformed import PLAN, SCENARIO

#: ``STRESSTEST_FUZZ_SCALE=10 pytest tests/test_fuzz_cli.py`` runs ten times the examples.
SCALE = float(os.environ.get("STRESSTEST_FUZZ_SCALE", "1"))
STATS: Counter = Counter()
OTHER: list = []
ECONOMY = random_economy(3, 4, seed=2)
TEXT = st.characters(exclude_categories=("Cs",))
SETTINGS = dict(deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
OLD = 1_000_000_000  # mtime of the output file made before each command
SENTINEL = b"an existing output file that a failing command must not touch\n"

KINDS_OF_PROBLEM = [
    ("syntax", r"TOML syntax error|cannot read|not valid UTF-8|UTF-8"),
    ("unknown field", r": unknown field"),
    ("missing field", r"required field is missing|required when"),
    ("unknown label", r": unknown (region|sector|product|use) "),
    ("empty selection", r"empty selection|selects no "),
    ("range", r"is outside|must be >=|must be <=|must be < horizon|after the horizon|"
              r"must satisfy"),
    ("type", r"must be a |must be true or false|expected a table|must be an array|"
             r"is not an event kind|is not one of|is not a route|must be \[start"),
    ("rule", r"give either|needs holder|exactly one|select no pair|is given but"),
    ("name", r"must equal the file name|must not be empty"),
    ("csv column", r"column"),
    ("csv value", r"value|number|NaN|infinite"),
    ("csv label", r"field|label|unknown variable|has no row"),
    ("csv duplicate", r"duplicate"),
    ("economy check", r"identity|negative|productive|coordinate|essential_share"),
]


def kind_of(line: str) -> str:
    for kind, pattern in KINDS_OF_PROBLEM:
        if re.search(pattern, line):
            return kind
    return "other"


# --------------------------------------------------------------------------- TOML writing


def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _str(k)


def _str(v: str) -> str:
    return '"' + "".join(f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F or c in '"\\'
                         else c for c in v) + '"'


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return _str(v)
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + "}"
    return "[" + ", ".join(_value(x) for x in v) + "]"


def _tables(v) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(t, dict) for t in v)


def to_toml(data: dict) -> str:
    lines = [f"{_key(k)} = {_value(v)}" for k, v in data.items() if not _tables(v)]
    for k, v in data.items():
        if _tables(v):
            for table in v:
                lines.append(f"\n[[{_key(k)}]]")
                lines += [f"{_key(kk)} = {_value(vv)}" for kk, vv in table.items()]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- strategies

LABELS = ["R0", "R1", "R2", "S0", "S3", "coastal", "inland", "all", "east", "critical",
          "tradable", "nontradable", "consumption", "-R1", "!S0", "r 0", "R0, -R2", "Atlantis",
          "R9", "S7", "", " ", "national", "Sichuan"]
JUNK = st.one_of(
    st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-2, 2), st.text(TEXT, max_size=8), st.booleans(),
    st.lists(st.one_of(st.integers(-3, 3), st.sampled_from(LABELS)), max_size=3),
    # fresh containers on every draw: a shared one (st.just([])) that an edit appends to
    # would carry the edit into later test cases (hypothesis: FlakyStrategyDefinition)
    st.builds(lambda: {"nested": 1}), st.builds(list), st.sampled_from(LABELS))
SHARE = st.one_of(st.floats(0, 1), st.floats(-0.5, 1.5), JUNK)
DAYS = st.one_of(st.integers(0, 120), st.integers(-5, 400), JUNK)
SELECTOR = st.one_of(st.sampled_from(LABELS), st.lists(st.sampled_from(LABELS), max_size=4),
                     JUNK)
SHARE_KEYS = {"remaining", "capacity_share", "annual_cost_share", "new_links", "friction",
              "imports", "factor", "headroom", "extra", "days_of_cover", "max_release",
              "capacity", "annual_cost"}
DAY_KEYS = {"start", "duration", "recovery_days", "horizon", "lead_time", "ramp"}
SEL_KEYS = {"regions", "sectors", "products", "uses", "from", "to", "region", "sector",
            "product"}
CHOICES = {"kind": list(KINDS) + ["blockade", "Capacity"],
           "recovery": ["none", "linear", "exponential", "quadratic"],
           "via": ["all", "sea", "land", "air", "rail", ["sea", "air"]],
           "basis": ["essential", "use", "imports", "essentail"],
           "covers": ["holders", "national", "world"]}
KEYS = sorted(set().union(*EVENT_KEYS.values(), *ELEMENT_KEYS.values(), SHARE_KEYS, DAY_KEYS,
                          {"name", "description", "window", "parameters", "both_ways", "note"}))


def value_for(key):
    if key in SHARE_KEYS:
        return SHARE
    if key in DAY_KEYS:
        return DAYS
    if key in SEL_KEYS:
        return SELECTOR
    if key in CHOICES:
        return st.one_of(st.sampled_from(CHOICES[key]), JUNK)
    if key == "window":
        return st.one_of(st.lists(st.integers(-5, 200), min_size=0, max_size=3), JUNK)
    if key == "parameters":
        return st.one_of(st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), JUNK,
                                         max_size=2), JUNK)
    return JUNK


@st.composite
def edited(draw, base: dict, arrays: tuple, stem: str):
    """``base`` (a valid file) with 0-4 random edits: set a field (valid or not), drop a
    field, add an unknown field, drop or duplicate an element, add a junk element."""
    data = copy.deepcopy(base)
    data["name"] = stem
    for _ in range(draw(st.integers(0, 4))):
        tables = [("", data)] + [(a, t) for a in arrays
                                 for t in (data.get(a) if isinstance(data.get(a), list) else [])
                                 if isinstance(t, dict)]
        where, table = draw(st.sampled_from(tables))
        op = draw(st.sampled_from(["set", "set", "set", "drop", "unknown", "drop_element",
                                   "dup_element", "new_element"]))
        if op == "set":
            key = draw(st.one_of(st.sampled_from(sorted(table)), st.sampled_from(KEYS))
                       if table else st.sampled_from(KEYS))
            table[key] = draw(value_for(key))
        elif op == "drop" and table:
            del table[draw(st.sampled_from(sorted(table)))]
        elif op == "unknown":
            table[draw(st.from_regex(r"[a-z][a-z_ ]{0,10}", fullmatch=True))] = draw(JUNK)
        elif op in ("drop_element", "dup_element", "new_element"):
            array = draw(st.sampled_from(arrays))
            items = data.get(array)
            if not isinstance(items, list):
                continue
            if op == "drop_element" and items:
                items.pop(draw(st.integers(0, len(items) - 1)))
            elif op == "dup_element" and items:
                items.append(copy.deepcopy(items[draw(st.integers(0, len(items) - 1))]))
            elif op == "new_element":
                items.append(draw(st.dictionaries(st.sampled_from(KEYS), JUNK, max_size=5)))
    return to_toml(data)


@st.composite
def garbled(draw, base: dict, stem: str):
    """The TOML text of a valid file with 1-3 character-level edits (syntax errors)."""
    data = copy.deepcopy(base)
    data["name"] = stem
    text = to_toml(data)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 8)))
        ins = draw(st.one_of(st.just(""), st.text(st.sampled_from('[]={}"\'\n#,.=x1 -'),
                                                  max_size=3), st.text(TEXT, max_size=3)))
        text = text[:i] + ins + text[j:]
    return text


def toml_inputs(base, arrays, stem):
    return st.one_of(edited(base, arrays, stem), edited(base, arrays, stem),
                     garbled(base, stem))


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def work(tmp_path_factory, summary_line):
    folder = tmp_path_factory.mktemp("fuzz")
    save_economy(ECONOMY, folder / "eco.nc")
    base = SCENARIO | {"name": "base"}
    (folder / "base.toml").write_text(to_toml(base), encoding="utf-8")
    write_csv(random_economy(2, 2, seed=3), folder / "base.csv")
    yield folder
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(STATS.items()) if k.startswith("problem "))
    summary_line(
        f"fuzz: {STATS['inputs']} inputs ({STATS['scenario']} scenario, {STATS['plan']} plan, "
        f"{STATS['csv']} csv), {STATS['commands']} commands; exit 0: {STATS['exit 0']}, "
        f"exit 1: {STATS['exit 1']}, exit 2: {STATS['exit 2']}, other: {STATS['exit other']}; "
        f"tracebacks {STATS['tracebacks']}, unexpected errors {STATS['unexpected']}, "
        f"clobbered outputs {STATS['clobbered']}, temp files left {STATS['temp files']}, "
        f"validate/run disagreements {STATS['disagree']}, files read as the other kind "
        f"{STATS['kind guessed otherwise']}; problems by kind: {kinds}")


def _fresh_output(path):
    path.write_bytes(SENTINEL)
    os.utime(path, (OLD, OLD))


def run_cli(folder, args, output=None, allow_failed_run=False):
    """Invoke the CLI; check the invariants; return (exit code, problem lines)."""
    if output is not None:
        _fresh_output(output)
    r = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=True)
    STATS["commands"] += 1
    code = r.exit_code
    STATS[f"exit {code}" if code in (0, 1, 2) else "exit other"] += 1
    text = r.output
    tb = "Traceback" in text or (r.exception is not None and not isinstance(r.exception,
                                                                            SystemExit))
    STATS["tracebacks"] += tb
    unexpected = "error: unexpected " in r.stderr
    STATS["unexpected"] += unexpected
    err = [line for line in r.stderr.splitlines() if line.strip()]
    problems = [line[len("error: "):] for line in err if line.startswith("error: ")]
    for p in problems:
        if not re.fullmatch(r"\d+ of \d+ files failed validation", p):
            STATS[f"problem {kind_of(p)}"] += 1
            if kind_of(p) == "other":
                OTHER.append(p)
    clobbered = False
    if output is not None and code != 0:
        clobbered = (not output.exists() or output.read_bytes() != SENTINEL
                     or int(output.stat().st_mtime) != OLD)
    STATS["clobbered"] += clobbered
    temps = [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]
    STATS["temp files"] += len(temps)

    assert not tb, (args, text, r.exception)
    assert not unexpected, (args, r.stderr)
    assert code in ((0, 1, 2) if allow_failed_run else (0, 2)), (args, code, text)
    assert not clobbered, (args, text)
    assert not temps, temps
    assert all(line.startswith(("error: ", "warning: ", "note: ", "[")) for line in err), err
    if code != 0:
        assert problems, (args, r.stderr)
        assert len(problems) <= MAX_SHOWN + 2, problems
    assert all("\n" not in p for p in problems)
    return code, problems


def _out(folder, validate_code) -> list:
    """``-o out.nc`` when validate failed (the run must then leave it alone); a valid input
    runs without writing (writing a Result takes most of a run's time here)."""
    return ["-o", folder / "out.nc"] if validate_code else []


def _agree(path, kind, text, v_code, r_code, v_probs):
    """validate and run agree on whether the file is valid (when validate reads the file as
    the kind run uses it as: name and description alone make a valid, empty plan)."""
    if _file_kind(path) != kind:
        return
    agree = (v_code == 2) == (r_code == 2)
    STATS["disagree"] += not agree
    assert agree, (text, v_code, r_code, v_probs)


def _check_validate_lines(code, problems, path, kind):
    """validate prints exactly the API's problems, one line each (then the count line), when
    it reads the file as the kind it was made as (a broken file can look like the other kind:
    counted as ``kind guessed otherwise``)."""
    if _file_kind(path) != kind:
        STATS["kind guessed otherwise"] += 1
        return
    try:
        (validate_scenario_file if kind == "scenario" else validate_plan_file)(path, ECONOMY)
        api = []
    except StresstestError as exc:
        api = error_lines(exc)
    if code == 2:
        assert problems[-1].endswith("files failed validation")
        assert len(problems) - 1 == len(api) >= 1, (problems, api)
    else:
        assert api == [], api


# --------------------------------------------------------------------------- the fuzz tests


@settings(max_examples=int(80 * SCALE), **SETTINGS)
@given(text=toml_inputs(SCENARIO, ("events",), "fz"))
def test_fuzz_scenario_files(work, text):
    STATS["inputs"] += 1
    STATS["scenario"] += 1
    path = work / "fz.toml"
    path.write_text(text, encoding="utf-8")
    v_code, v_probs = run_cli(work, ["validate", "--economy", work / "eco.nc", path])
    _check_validate_lines(v_code, v_probs, path, "scenario")
    r_code, _ = run_cli(work, ["-q", "run", path, "--economy", work / "eco.nc", *_out(work, v_code)],
                        output=work / "out.nc" if v_code else None, allow_failed_run=True)
    _agree(path, "scenario", text, v_code, r_code, v_probs)


@settings(max_examples=int(50 * SCALE), **SETTINGS)
@given(text=toml_inputs(PLAN, ("standby", "stockpile", "substitution", "corridor"), "fzplan"))
def test_fuzz_plan_files(work, text):
    STATS["inputs"] += 1
    STATS["plan"] += 1
    path = work / "fzplan.toml"
    path.write_text(text, encoding="utf-8")
    v_code, v_probs = run_cli(work, ["validate", "--economy", work / "eco.nc", path])
    _check_validate_lines(v_code, v_probs, path, "plan")
    r_code, _ = run_cli(work, ["-q", "run", work / "base.toml", "--plan", path, "--economy",
                               work / "eco.nc", *_out(work, v_code)],
                        output=work / "out.nc" if v_code else None, allow_failed_run=True)
    _agree(path, "plan", text, v_code, r_code, v_probs)


CSV_JUNK = ["abc", "nan", "inf", "-inf", "-5", "1e400", "", "0x10", " 3 ", "1,5", "true", "R9",
            "S0", '"', "é", "1e-320", "-0"]


@st.composite
def csv_inputs(draw, base: str):
    """A valid long CSV with 1-3 edits (bytes, as it would be read from disk)."""
    lines = base.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        if not lines:
            break
        op = draw(st.sampled_from(["drop", "dup", "field", "field", "header", "truncate",
                                   "bytes", "commas", "empty", "swap"]))
        k = draw(st.integers(1, max(len(lines) - 1, 1)))
        if op == "drop" and len(lines) > 1:
            lines.pop(k)
        elif op == "dup" and len(lines) > 1:
            lines.insert(k, lines[min(k, len(lines) - 1)])
        elif op == "field" and len(lines) > 1:
            cells = lines[k].split(",")
            cells[draw(st.integers(0, len(cells) - 1))] = draw(st.one_of(
                st.sampled_from(CSV_JUNK), st.text(TEXT, max_size=4)))
            lines[k] = ",".join(cells)
        elif op == "header":
            cells = lines[0].split(",")
            i = draw(st.integers(0, len(cells) - 1))
            how = draw(st.sampled_from(["drop", "rename", "add"]))
            if how == "drop":
                cells.pop(i)
            elif how == "rename":
                cells[i] = draw(st.sampled_from(["Variable", "regoin", "", "value2"]))
            else:
                cells.append("extra")
            lines[0] = ",".join(cells)
        elif op == "truncate":
            text = "\n".join(lines)
            lines = text[:draw(st.integers(0, len(text)))].splitlines()
        elif op == "commas" and len(lines) > 1:
            lines[k] += draw(st.sampled_from([",", ",,x", ""]))
        elif op == "empty":
            lines = []
        elif op == "swap" and len(lines) > 2:
            j = draw(st.integers(1, len(lines) - 1))
            lines[k], lines[j] = lines[j], lines[k]
        elif op == "bytes":
            pass
    data = ("\n".join(lines) + "\n").encode("utf-8") if lines else b""
    if draw(st.integers(0, 9)) == 0:
        i = draw(st.integers(0, len(data)))
        data = data[:i] + draw(st.sampled_from([b"\xff\xfe", b"\x00", b"\xe9", b"\r"])) + data[i:]
    return data


@pytest.fixture(scope="module")
def base_csv(work):
    return (work / "base.csv").read_text(encoding="utf-8")


@settings(max_examples=int(120 * SCALE), **SETTINGS)
@given(data=st.data())
def test_fuzz_import_csv(work, base_csv, data):
    raw = data.draw(csv_inputs(base_csv))
    STATS["inputs"] += 1
    STATS["csv"] += 1
    src = work / "fz.csv"
    src.write_bytes(raw)
    code, problems = run_cli(work, ["import", "csv", src, "-o", work / "imported.nc"],
                             output=work / "imported.nc")
    if code == 2:
        assert len(problems) == 1, problems  # the CSV reader stops at its first problem


def test_fuzz_bases_are_valid(work):
    """The fuzz starts from valid files: the unedited inputs pass."""
    for args in (["validate", "--economy", work / "eco.nc", work / "base.toml"],
                 ["-q", "run", work / "base.toml", "--economy", work / "eco.nc"],
                 ["import", "csv", work / "base.csv", "-o", work / "again.nc"]):
        r = CliRunner().invoke(cli, [str(a) for a in args])
        assert r.exit_code == 0, (args, r.output)
