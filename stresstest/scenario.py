"""Shock scenarios: the TOML format (``shocks/<name>.toml``), validation and compilation to
the compiled shock of :mod:`stresstest.compiled`. Format reference: ``docs/scenarios.md``.

Time is in whole days ``t = 0 .. horizon-1``. Each event has a day profile ``m(t)``:

* ``m(t) = remaining`` (or ``factor``) on ``start <= t < end = start + duration``, else 1;
* capacity events recover after ``end``: with ``s = t - (end - 1)`` days since the last shocked
  day, gap ``g0 = 1 - remaining`` and ``T = recovery_days``, ``m = 1 - g(s)`` where
  ``linear: g(s) = g0 max(0, 1 - s/T)`` and ``exponential: g(s) = g0 (e^{-3s/T} - e^{-3}) /
  (1 - e^{-3})`` for ``s < T``, 0 after; both reach exactly 1 on day ``end - 1 + T``.

Events compose multiplicatively, day by day, on the cells they select::

    kappa[r, s, t]         = prod capacity m(t)
    alpha_route[p, k, t]   = prod imports m(t)         (k in the event's routes ``via``)
    alpha_M[p, t]          = 1 - sum_k share[p, k] (1 - alpha_route[p, k, t])
                           (= sum_k share[p, k] alpha_route[p, k, t]; shares sum to 1)
    rho[a, b, p, t]        = prod route m(t)            (a != b: trade inside a region is never
                                                         a route)
    delta[r, p, u, t]      = prod demand factor(t)
    epsilon[r, p, t]       = 1 - sum_k share[p, k] (1 - prod exports m(t))   (k in ``via``;
                                                         foreign demand for exports, only if
                                                         an exports event exists)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import xarray as xr

from ._toml import Fields, Problems, closest, library_path, parse_toml, read_toml_text
from .compiled import ROUTE_DIMS, cut_rows, remember_route_cuts, window_mean
from .economy import ROUTES, builtin_dirs, cached
from .errors import ScenarioError
from .selectors import indices, select_products, select_regions, select_sectors, select_uses

KINDS = ("capacity", "imports", "exports", "route", "demand")
#: Longest horizon in days (ten years): the compiled arrays hold one value per day (a route
#: event on china31 takes 0.3 MB a day), so a mistyped horizon must not exhaust memory.
MAX_HORIZON = 3650
RECOVERY = ("none", "linear", "exponential")
VIA = ("all",) + ROUTES
TOP_KEYS = ("name", "description", "description_zh", "horizon", "window", "events",
            "parameters")
_COMMON = ("kind", "start", "duration", "note", "note_zh")
EVENT_KEYS = {
    "capacity": _COMMON + ("regions", "sectors", "remaining", "recovery", "recovery_days"),
    "imports": _COMMON + ("products", "remaining", "via"),
    "exports": _COMMON + ("products", "remaining", "via", "regions"),
    "route": _COMMON + ("from", "to", "products", "remaining", "both_ways"),
    "demand": _COMMON + ("regions", "products", "uses", "factor"),
}
EVENT_REQUIRED = {
    "capacity": ("regions", "sectors", "remaining", "start", "duration"),
    "imports": ("products", "remaining", "start", "duration"),
    "exports": ("products", "remaining", "start", "duration"),
    "route": ("from", "to", "remaining", "start", "duration"),
    "demand": ("regions", "products", "factor", "start", "duration"),
}


class _Window:
    """Events active on days ``[start, start + duration)``. ``ranges``: the uncertain fields,
    ``((field, low, high), ...)`` (the file gave ``[low, high]``; the field holds the
    midpoint, the central value)."""

    @property
    def end(self) -> int:
        return self.start + self.duration

    @property
    def recovered(self) -> int:
        """First day back at baseline."""
        return self.end


@dataclass(frozen=True)
class CapacityEvent(_Window):
    """Productive capacity of ``regions x sectors`` falls to ``remaining`` (share)."""

    regions: str | tuple
    sectors: str | tuple
    remaining: float
    start: int
    duration: int
    recovery: str = "none"
    recovery_days: int = 0
    note: str = ""
    note_zh: str = ""
    ranges: tuple = ()
    kind: str = field(default="capacity", init=False)

    @property
    def recovered(self) -> int:
        """First day back at full capacity."""
        return self.end if self.recovery == "none" else self.end - 1 + self.recovery_days


@dataclass(frozen=True)
class ImportEvent(_Window):
    """Foreign supply of ``products`` arriving by the routes ``via`` falls to ``remaining``."""

    products: str | tuple
    remaining: float
    start: int
    duration: int
    via: tuple = ROUTES
    note: str = ""
    note_zh: str = ""
    ranges: tuple = ()
    kind: str = field(default="imports", init=False)


@dataclass(frozen=True)
class ExportEvent(_Window):
    """Foreign demand for ``products`` made in ``regions`` and leaving by the routes ``via``
    falls to ``remaining`` (a blockade closes the sea routes of exports too). How each product
    leaves is taken from its ``import_route_share`` (the same ports, pipelines and airports)."""

    products: str | tuple
    remaining: float
    start: int
    duration: int
    via: tuple = ROUTES
    regions: str | tuple = "all"
    note: str = ""
    note_zh: str = ""
    ranges: tuple = ()
    kind: str = field(default="exports", init=False)


@dataclass(frozen=True)
class RouteEvent(_Window):
    """Interregional trade from ``from_`` to ``to`` (and back if ``both_ways``) falls."""

    from_: str | tuple
    to: str | tuple
    remaining: float
    start: int
    duration: int
    products: str | tuple = "all"
    both_ways: bool = True
    note: str = ""
    note_zh: str = ""
    ranges: tuple = ()
    kind: str = field(default="route", init=False)


@dataclass(frozen=True)
class DemandEvent(_Window):
    """Final demand of ``uses`` in ``regions`` for ``products`` is multiplied by ``factor``."""

    regions: str | tuple
    products: str | tuple
    factor: float
    start: int
    duration: int
    uses: str | tuple = "all"
    note: str = ""
    note_zh: str = ""
    ranges: tuple = ()
    kind: str = field(default="demand", init=False)



Event = CapacityEvent | ImportEvent | ExportEvent | RouteEvent | DemandEvent


@dataclass(frozen=True)
class Scenario:
    """A parsed (not yet compiled) shock scenario; selectors are resolved by
    :func:`compile_scenario` against an economy."""

    name: str
    description: str
    horizon: int
    window: tuple | None
    events: tuple
    source: str = "<string>"
    parameters: dict = field(default_factory=dict)
    #: file positions of ``events`` when some events of the file were left out because they
    #: are invalid (problems are being collected); ``None``: ``events`` is the whole list
    event_numbers: tuple | None = field(default=None, compare=False, repr=False)
    #: Chinese description (optional; the Chinese report shows it)
    description_zh: str = ""

    def uncertain(self) -> list[tuple[int, str, float, float]]:
        """The uncertain event fields, ``[(event position, field, low, high)]`` in file order
        (position: index into ``events``)."""
        return [(k, name, lo, hi) for k, e in enumerate(self.events)
                for name, lo, hi in e.ranges]

    def with_values(self, values: dict) -> "Scenario":
        """A copy with event fields replaced, ``{(event position, field): value}`` (durations
        and recovery days rounded to whole days): one draw of the uncertain inputs."""
        events = list(self.events)
        for (k, name), v in values.items():
            if name in ("duration", "recovery_days"):
                v = max(1, int(math.floor(float(v) + 0.5)))
            events[k] = replace(events[k], **{("factor" if name == "factor" else name): v})
        return replace(self, events=tuple(events))

    def default_window(self, horizon: int | None = None) -> tuple[int, int]:
        """``[min start, max end)`` of the events clipped to the horizon; all days if none."""
        horizon = self.horizon if horizon is None else int(horizon)
        if self.window is not None:
            return tuple(self.window)
        if not self.events:
            return (0, horizon)
        start = min(e.start for e in self.events)
        end = min(max(e.end for e in self.events), horizon)
        return (start, max(end, start + 1))


# --------------------------------------------------------------------------- parsing


def _tuple(spec):
    return tuple(spec) if isinstance(spec, list) else spec


#: Likely mistakes for the field meant (hint of the unknown-field message).
TOP_ALIASES = {"duration": "horizon", "days": "horizon", "length": "horizon", "event": "events",
               "params": "parameters"}
EVENT_ALIASES = {"end": "duration", "days": "duration", "length": "duration",
                 "share": "remaining", "level": "remaining", "type": "kind", "day": "start"}


def _parse_event(table, i: int, src: str, horizon: int | None, problems: Problems, refs: list):
    """One event, or ``None`` after recording its problems; its selectors go to ``refs`` as
    ``(where, spec, kind)`` for a later check against an economy."""
    where = f"{src}: events[{i}]"
    if not isinstance(table, dict):
        problems.add(f"{where}: expected a table ([[events]]), got {table!r}")
        return None
    if "kind" not in table:
        problems.add(f"{where}.kind: required field is missing (one of {', '.join(KINDS)})")
        return None
    kind = table["kind"]
    if not isinstance(kind, str) or kind not in KINDS:
        problems.add(f"{where}.kind: {kind!r} is not an event kind (one of "
                     f"{', '.join(KINDS)}){closest(str(kind), KINDS)}")
        return None
    f = Fields(table, where, problems, allowed=EVENT_KEYS[kind], required=EVENT_REQUIRED[kind],
               aliases=EVENT_ALIASES)

    def sel(key, what, default=None):
        value = f.selector(key, default)
        if value is not None and f.has(key):
            refs.append((f.at(key), value, what))
        return _tuple(value)

    ranges = []

    def ranged(key, lo=None, hi=None, whole=False):
        value, rng = f.ranged(key, lo, hi, whole)
        if rng is not None:
            ranges.append((key, *rng))
        return value

    start = f.integer("start", lo=0)
    duration = ranged("duration", lo=1, whole=True)
    if horizon is not None and start is not None and start >= horizon:
        f.bad("start", start, f"must be < horizon ({horizon} days)")
    note = f.string("note", "")
    zh = {"note_zh": f.string("note_zh", "")}
    level = ranged("factor", lo=0.0) if kind == "demand" else ranged("remaining", 0.0, 1.0)
    if kind == "capacity":
        recovery = f.string("recovery", "none", choices=RECOVERY)
        days = 0
        if recovery == "none":
            if f.has("recovery_days"):
                f.bad("recovery_days", f.get("recovery_days"),
                      "is given but recovery is 'none' (set recovery = 'linear' or "
                      "'exponential')")
        elif recovery is not None:
            if not f.has("recovery_days"):
                f.fail(f"{f.at('recovery_days')}: required when recovery = {recovery!r}")
            days = ranged("recovery_days", lo=1, whole=True)
        event = (sel("regions", "regions"), sel("sectors", "sectors"), level,
                 start, duration, recovery, days, note)
        return CapacityEvent(*event, **zh, ranges=tuple(ranges)) if f.ok else None
    if kind in ("imports", "exports"):
        via = f.get("via", "all")
        via_list = [via] if isinstance(via, str) else via
        routes = None
        if not isinstance(via_list, list) or not via_list or not all(
                isinstance(v, str) for v in via_list):
            f.bad("via", via, "must be one of all, sea, land, air or a list of them")
        else:
            for v in via_list:
                if v not in VIA:
                    f.bad("via", v, f"is not a route (one of {', '.join(VIA)}){closest(v, VIA)}")
            routes = ROUTES if "all" in via_list else tuple(r for r in ROUTES if r in via_list)
        event = (sel("products", "products"), level, start, duration, routes)
        if kind == "exports":
            event = event + (sel("regions", "regions", "all"), note)
            return ExportEvent(*event, **zh, ranges=tuple(ranges)) if f.ok else None
        return ImportEvent(*event, note, **zh, ranges=tuple(ranges)) if f.ok else None
    if kind == "route":
        event = (sel("from", "regions"), sel("to", "regions"), level, start,
                 duration, sel("products", "products", "all"), f.boolean("both_ways", True),
                 note)
        return RouteEvent(*event, **zh, ranges=tuple(ranges)) if f.ok else None
    event = (sel("regions", "regions"), sel("products", "products"), level,
             start, duration, sel("uses", "uses", "all"), note)
    return DemandEvent(*event, **zh, ranges=tuple(ranges)) if f.ok else None


def _parse_parameters(value, src: str, problems: Problems) -> dict:
    if not isinstance(value, dict):
        problems.add(f"{src}: parameters: must be a table ([parameters]), got "
                     f"{type(value).__name__}")
        return {}
    for key, v in value.items():
        ok = isinstance(v, (bool, str)) or (isinstance(v, (int, float)) and math.isfinite(v))
        if not ok:
            problems.add(f"{src}: parameters.{key}: {v!r} must be a number, a string or "
                         "true/false")
    return dict(value)


@dataclass
class _Parsed:
    """What a lenient parse found: the scenario (``None`` when its top level is unusable; else
    only its valid events, ``event_numbers`` set when some were left out), every problem, and
    the selectors of all events for a check against an economy."""

    scenario: Scenario | None
    problems: Problems
    refs: list


def _parse(text, source: str, stem: str | None) -> _Parsed:
    problems = Problems(ScenarioError)
    refs: list = []
    try:
        data = parse_toml(text, source, ScenarioError)
    except ScenarioError as exc:
        problems.extend(exc.problems)
        return _Parsed(None, problems, refs)
    top = Fields(data, f"{source}: ", problems, allowed=TOP_KEYS,
                 required=("name", "description", "horizon"), aliases=TOP_ALIASES)
    name = top.string("name")
    if name is not None and not name.strip():
        top.bad("name", name, "must not be empty")
    elif name is not None and stem is not None and name != stem:
        top.bad("name", name, f"must equal the file name stem {stem!r}")
    description = top.string("description")
    description_zh = top.string("description_zh", "")
    horizon = top.integer("horizon", lo=1)
    if horizon is not None and horizon > MAX_HORIZON:
        horizon = top.bad("horizon", horizon, f"must be <= {MAX_HORIZON} days (ten years)")
    window = None
    if top.has("window"):
        w = top.get("window")
        if (not isinstance(w, list) or len(w) != 2 or any(
                isinstance(v, bool) or not isinstance(v, int) for v in w)):
            top.bad("window", w, "must be [start, end] in whole days")
        elif horizon is not None and not 0 <= w[0] < w[1] <= horizon:
            top.bad("window", w, f"must satisfy 0 <= start < end <= horizon ({horizon})")
        elif not 0 <= w[0] < w[1]:
            top.bad("window", w, "must satisfy 0 <= start < end")
        else:
            window = (int(w[0]), int(w[1]))
    events = [(i, _parse_event(t, i, source, horizon, problems, refs))
              for i, t in enumerate(top.table_list("events"))]
    good = [(i, e) for i, e in events if e is not None]
    parameters = _parse_parameters(top.get("parameters", {}), source, problems)
    scenario = None
    if horizon is not None:
        partial = len(good) < len(events)
        scenario = Scenario(name or "", description or "", horizon, window,
                            tuple(e for _, e in good), source, parameters,
                            tuple(i for i, _ in good) if partial else None,
                            description_zh=description_zh or "")
    return _Parsed(scenario, problems, refs)


def parse_scenario(text: str, source: str = "<string>", *, stem: str | None = None) -> Scenario:
    """Parse and check a scenario's TOML text (no economy needed); ``stem`` is the file stem
    the ``name`` must equal. Raises one :class:`ScenarioError` carrying every problem found."""
    parsed = _parse(text, source, stem)
    parsed.problems.check(("events",))
    return parsed.scenario


# --------------------------------------------------------------------------- files


def _display(path: Path) -> str:
    for root in builtin_dirs():
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            continue
    return str(path)


def _library(kind: str, error) -> dict[str, Path]:
    """Built-in files ``<dir>/<kind>/*.toml`` by stem; the same name with different contents
    in two folders is an error."""
    out: dict[str, Path] = {}
    sub = kind.split("/")
    for root in builtin_dirs():
        folder = root.joinpath(*sub)
        for path in sorted(folder.glob("*.toml")):
            if path.stem in out:
                if out[path.stem].read_bytes() != path.read_bytes():
                    raise error(f"{_display(path)}: name {path.stem!r} is defined twice in the "
                                f"library (also {out[path.stem]})")
                continue
            out[path.stem] = path
    return out


def builtin_scenarios() -> dict[str, Path]:
    """Names of the built-in scenarios and their files."""
    return _library("shocks", ScenarioError)


def _read_file(path: Path) -> Scenario:
    text = read_toml_text(path, ScenarioError)
    return parse_scenario(text, _display(path), stem=path.stem)


def _parse_file(name_or_path) -> _Parsed:
    path = library_path(name_or_path, builtin_scenarios(), "scenario", ScenarioError)
    return _parse(read_toml_text(path, ScenarioError), _display(path), path.stem)


_SELECT = {"regions": select_regions, "sectors": select_sectors, "products": select_products,
           "uses": select_uses}


def _compile_parsed(parsed: _Parsed, economy: xr.Dataset, horizon=None) -> xr.Dataset:
    """Compile a leniently parsed file; with parse problems, also check every selector and
    the valid events against ``economy`` and raise all problems together."""
    if not parsed.problems:
        return compile_scenario(parsed.scenario, economy, horizon=horizon)
    problems = parsed.problems
    for where, spec, kind in parsed.refs:
        problems.catch(_SELECT[kind], economy, spec, where=where)
    if parsed.scenario is not None:
        problems.catch(compile_scenario, parsed.scenario, economy, horizon)
    problems.check(("events",))
    raise AssertionError("unreachable")  # pragma: no cover


def load_scenario(name_or_path) -> Scenario:
    """A built-in scenario by name (``shocks/<name>.toml``) or a ``.toml`` file."""
    if isinstance(name_or_path, Scenario):
        return name_or_path
    return _read_file(library_path(name_or_path, builtin_scenarios(), "scenario", ScenarioError))


def list_scenarios() -> list[dict]:
    """``[{name, description, path}]`` of the built-in scenarios, by name."""
    return [{"name": s.name, "description": s.description, "path": str(p)}
            for s, p in ((_read_file(p), p) for p in builtin_scenarios().values())]


# --------------------------------------------------------------------------- compilation


def _profile(event, horizon: int) -> np.ndarray:
    """The day multiplier ``m(t)`` of one event on ``t = 0 .. horizon-1``."""
    t = np.arange(horizon, dtype=np.float64)
    level = event.factor if isinstance(event, DemandEvent) else event.remaining
    m = np.ones(horizon)
    m[event.start:event.end] = level
    if isinstance(event, CapacityEvent) and event.recovery != "none":
        g0, T = 1.0 - level, float(event.recovery_days)
        s = t - (event.end - 1)
        after = (s > 0) & (s < T)
        if event.recovery == "linear":
            gap = g0 * (1.0 - s[after] / T)
        else:
            e3 = math.exp(-3.0)
            gap = g0 * (np.exp(-3.0 * s[after] / T) - e3) / (1.0 - e3)
        m[after] = 1.0 - gap
    return m


def compile_scenario(scenario, economy: xr.Dataset, horizon: int | None = None) -> xr.Dataset:
    """The compiled shock (see :mod:`stresstest.compiled`) of ``scenario`` on ``economy``.

    ``scenario``: a :class:`Scenario`, a built-in name or a ``.toml`` path (then every problem
    of the file, its format and its labels, is reported together). ``horizon`` (days) overrides
    the file's. Raises one :class:`ScenarioError` carrying every problem found (selectors that
    do not match the economy, events starting after the horizon, ...), each naming the file,
    the event and the field.
    """
    if not isinstance(scenario, Scenario):
        return _compile_parsed(_parse_file(scenario), economy, horizon)
    return _compile_days(scenario, economy, horizon)[0]


def compile_average_day(scenario: Scenario, economy: xr.Dataset, horizon: int | None = None):
    """``(window_mean(shock), severity_path(economy, shock))`` of ``shock =
    compile_scenario(scenario, economy, horizon)`` (:func:`stresstest.compiled.window_mean`,
    :func:`stresstest.result.severity_path`), the same numbers bit for bit, without forming
    the daily route array ``rho`` (region_from, region_to, product, time): only the rows of
    the links a route event cuts are made (58 MB for a 180-day route cut on china31, of
    which the coastal blockade cuts 6% of the links). What a sampled draw needs."""
    from .result import severity_path

    days, routes = _compile_days(scenario, economy, horizon, dense_routes=False)
    return window_mean(days, routes), severity_path(economy, days, routes=routes)


def _compile_days(scenario: Scenario, economy: xr.Dataset, horizon, dense_routes=True):
    """``(shock, routes)``: the compiled shock of :func:`compile_scenario`; with
    ``dense_routes`` False its ``rho`` is left out and ``routes`` holds the links route
    events cut and their daily rows (:func:`stresstest.compiled.route_window_mean`), else
    ``routes`` is None."""
    if horizon is None:
        horizon = scenario.horizon
    if (isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1
            or horizon > MAX_HORIZON):
        raise ScenarioError(f"{scenario.source}: horizon: {horizon!r} must be a whole number "
                            f"of days from 1 to {MAX_HORIZON}")
    T = int(horizon)
    src = scenario.source
    problems = Problems(ScenarioError)
    numbers = scenario.event_numbers or tuple(range(len(scenario.events)))
    for k, e in zip(numbers, scenario.events):
        if e.start >= T:
            problems.add(f"{src}: events[{k}].start: {e.start} must be < horizon ({T} days)")
    if scenario.window is not None and scenario.window[1] > T:
        problems.add(f"{src}: window: {list(scenario.window)} ends after the horizon ({T} days)")
    regions = [str(r) for r in economy["region"].values]
    sectors = [str(s) for s in economy["sector"].values]
    uses = [str(u) for u in economy["use"].values]
    R, S, U = len(regions), len(sectors), len(uses)
    share = cached(economy, "import_route_share", lambda: economy["import_route_share"].transpose(
        "sector", "route").sel(route=list(ROUTES)).values.astype(np.float64))

    kappa = np.ones((R, S, T))
    alpha_route = np.ones((S, len(ROUTES), T))
    has_route = any(isinstance(e, RouteEvent) for e in scenario.events)
    has_demand = any(isinstance(e, DemandEvent) for e in scenario.events)
    has_exports = any(isinstance(e, ExportEvent) for e in scenario.events)
    export_route = np.ones((R, S, len(ROUTES), T)) if has_exports else None
    route_days = []  # (flat links, day multiplier) of each route event, in order
    routed = np.zeros((R, R, S), bool) if has_route else None  # links a route event touches
    delta = np.ones((R, S, U, T)) if has_demand else None
    log = []

    def select(fn, spec, where):
        return problems.catch(fn, economy, spec, where=where)

    for k, e in zip(numbers, scenario.events):
        if e.start >= T:
            continue
        at = f"{src}: events[{k}]"
        m = _profile(e, T)
        rec = {"index": k, "kind": e.kind, "start": e.start, "duration": e.duration,
               "end": e.end}
        if isinstance(e, CapacityEvent):
            rs = select(select_regions, e.regions, f"{at}.regions")
            ss = select(select_sectors, e.sectors, f"{at}.sectors")
            if rs is None or ss is None:
                continue
            ri, si = indices(economy, "region", rs), indices(economy, "sector", ss)
            kappa[np.ix_(ri, si)] *= m
            rec.update(regions=rs, sectors=ss, n_regions=len(rs), n_sectors=len(ss),
                       n_cells=len(rs) * len(ss), remaining=e.remaining, recovery=e.recovery,
                       recovery_days=e.recovery_days, recovered=e.recovered)
        elif isinstance(e, ImportEvent):
            ps = select(select_products, e.products, f"{at}.products")
            if ps is None:
                continue
            pi = indices(economy, "sector", ps)
            vi = np.array([ROUTES.index(v) for v in e.via])
            alpha_route[np.ix_(pi, vi)] *= m
            rec.update(products=ps, n_products=len(ps), via=list(e.via), remaining=e.remaining)
        elif isinstance(e, ExportEvent):
            ps = select(select_products, e.products, f"{at}.products")
            rs = select(select_regions, e.regions, f"{at}.regions")
            if ps is None or rs is None:
                continue
            ri, pi = indices(economy, "region", rs), indices(economy, "sector", ps)
            vi = np.array([ROUTES.index(v) for v in e.via])
            export_route[np.ix_(ri, pi, vi)] *= m
            rec.update(products=ps, n_products=len(ps), regions=rs, n_regions=len(rs),
                       via=list(e.via), remaining=e.remaining)
        elif isinstance(e, RouteEvent):
            fr = select(select_regions, e.from_, f"{at}.from")
            to = select(select_regions, e.to, f"{at}.to")
            ps = select(select_products, e.products, f"{at}.products")
            if fr is None or to is None or ps is None:
                continue
            mask = np.zeros((R, R), bool)
            fi, ti = indices(economy, "region", fr), indices(economy, "region", to)
            mask[np.ix_(fi, ti)] = True
            if e.both_ways:
                mask |= mask.T
            np.fill_diagonal(mask, False)
            if not mask.any():
                problems.add(f"{at}: from {e.from_!r} and to {e.to!r} select no pair of "
                             "different regions (trade inside a region is not a route)")
                continue
            a, b = np.nonzero(mask)
            pi = indices(economy, "sector", ps)
            links = ((a[:, None] * R + b[:, None]) * S + pi[None, :]).ravel()
            route_days.append((links, m))
            routed.flat[links] = True
            rec.update(**{"from": fr, "to": to}, products=ps, n_products=len(ps),
                       n_pairs=int(mask.sum()), both_ways=e.both_ways, remaining=e.remaining)
        else:
            rs = select(select_regions, e.regions, f"{at}.regions")
            ps = select(select_products, e.products, f"{at}.products")
            us = select(select_uses, e.uses, f"{at}.uses")
            if rs is None or ps is None or us is None:
                continue
            ri, pi = indices(economy, "region", rs), indices(economy, "sector", ps)
            ui = indices(economy, "use", us)
            delta[np.ix_(ri, pi, ui)] *= m
            rec.update(regions=rs, products=ps, uses=us, n_regions=len(rs),
                       n_products=len(ps), factor=e.factor)
        if e.note:
            rec["note"] = e.note
        if e.note_zh:
            rec["note_zh"] = e.note_zh
        log.append(rec)
    problems.check(("events",))
    window = scenario.default_window(T)

    alpha_M = 1.0 - np.einsum("pk,pkt->pt", share, 1.0 - alpha_route)
    coords = {"region": economy["region"].values, "sector": economy["sector"].values,
              "product": economy["sector"].values, "route": list(ROUTES),
              "time": np.arange(T)}
    data = {"kappa": (("region", "sector", "time"), kappa),
            "alpha_route": (("product", "route", "time"), alpha_route),
            "alpha_M": (("product", "time"), alpha_M)}
    routes = None
    if has_route:
        # each touched link's days, multiplied by its events in order (as rho[link] *= m)
        touched = np.flatnonzero(routed)
        at = np.empty(routed.size, dtype=np.intp)
        at[touched] = np.arange(touched.size)
        rows = np.ones((touched.size, T))
        for links, m in route_days:
            rows[at[links]] *= m
        cut = cut_rows(rows)
        if dense_routes:
            rho = np.ones((R, R, S, T))
            rho.reshape(-1, T)[touched] = rows
            remember_route_cuts(rho, touched[cut])  # scans only the links found cut
            data["rho"] = (ROUTE_DIMS, rho)
        else:
            routes = (touched[cut], rows[cut])
        coords.update(region_from=economy["region"].values, region_to=economy["region"].values)
    if delta is not None:
        data["delta"] = (("region", "product", "use", "time"), delta)
        coords["use"] = economy["use"].values
    if export_route is not None:
        data["epsilon"] = (("region", "product", "time"),
                           1.0 - np.einsum("pk,rpkt->rpt", share, 1.0 - export_route))
    ds = xr.Dataset(data, coords=coords)
    ds["time"].attrs["units"] = "days since scenario start"
    ds.attrs.update({"scenario": scenario.name, "description": scenario.description,
                     "horizon": T, "window_start": int(window[0]), "window_end": int(window[1]),
                     "events": json.dumps(log), "source": src,
                     "parameters": json.dumps(scenario.parameters)})
    return ds, routes


def validate_scenario_file(path, economy=None) -> Scenario:
    """Check a scenario file: its format and, against ``economy`` (a Dataset, a built-in name or
    a netCDF path; default ``china31`` when it is built), its labels. Raises one
    :class:`ScenarioError` carrying every problem; returns the scenario."""
    from .economy import builtin_economies, load_economy

    parsed = _parse_file(path if str(path).endswith(".toml") else Path(path))
    if economy is None and "china31" in builtin_economies():
        economy = "china31"
    if economy is None:
        parsed.problems.check(("events",))
        return parsed.scenario
    if not isinstance(economy, xr.Dataset):
        economy = load_economy(economy, validate=False)
    _compile_parsed(parsed, economy)
    return parsed.scenario


# --------------------------------------------------------------------------- description


def _sel(spec) -> str:
    return spec if isinstance(spec, str) else ", ".join(spec)


def _pct(x: float) -> str:
    if x != 0 and abs(x) < 0.001:
        return f"{100 * x:.2g}%"
    return f"{100 * x:.0f}%" if abs(100 * x - round(100 * x)) < 0.05 or abs(x) >= 0.1 \
        else f"{100 * x:.1f}%"


def _days(e) -> str:
    return f"days {e.start}-{e.end - 1}" if e.duration > 1 else f"day {e.start}"


def event_text(e) -> str:
    """One event in plain English (its central values)."""
    if isinstance(e, CapacityEvent):
        s = (f"capacity of sectors [{_sel(e.sectors)}] in regions [{_sel(e.regions)}] falls to "
             f"{_pct(e.remaining)} on {_days(e)}")
        if e.recovery == "none":
            return s + f", back to full capacity on day {e.end}"
        return s + (f", then recovers {e.recovery}ly over {e.recovery_days} days (full capacity "
                    f"on day {e.recovered})")
    if isinstance(e, ImportEvent):
        via = "all routes" if tuple(e.via) == ROUTES else "/".join(e.via)
        return (f"foreign supply of [{_sel(e.products)}] by {via} falls to {_pct(e.remaining)} "
                f"on {_days(e)}")
    if isinstance(e, ExportEvent):
        via = "all routes" if tuple(e.via) == ROUTES else "/".join(e.via)
        return (f"foreign demand for exports of [{_sel(e.products)}] from [{_sel(e.regions)}] "
                f"by {via} falls to {_pct(e.remaining)} on {_days(e)}")
    if isinstance(e, RouteEvent):
        arrow = "<->" if e.both_ways else "->"
        return (f"interregional trade [{_sel(e.from_)}] {arrow} [{_sel(e.to)}] in "
                f"[{_sel(e.products)}] falls to {_pct(e.remaining)} on {_days(e)}")
    return (f"final demand of [{_sel(e.uses)}] in [{_sel(e.regions)}] for [{_sel(e.products)}] "
            f"is multiplied by {e.factor:g} on {_days(e)}")


def _money(v: float, units: str) -> str:
    """``12,345 units`` (or 3 significant digits below 100)."""
    return (f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}") + f" {units}"


def _effects(rec: dict, economy: xr.Dataset, shock: xr.Dataset, money=None) -> list[str]:
    if money is None:
        units = economy.attrs.get("units", "currency units")

        def money(v):
            return _money(v, units)
    x = economy["x"]
    out = []
    if rec["kind"] == "capacity":
        hit = float(x.sel(region=rec["regions"], sector=rec["sectors"]).sum())
        total = float(x.sum())
        out.append(f"{rec['n_regions']} regions x {rec['n_sectors']} sectors "
                   f"({rec['n_cells']} region-sectors) hold {_pct(hit / total)} of national "
                   f"output ({money(hit)}/yr); {money(hit * (1 - rec['remaining']))}"
                   "/yr of capacity lost while the cut lasts")
    elif rec["kind"] == "imports":
        imports = (economy["M"].sum(["region", "sector"]) + economy["MY"].sum(["region", "use"]))
        imports = imports.rename({"product": "sector"}) if "product" in imports.dims else imports
        share = economy["import_route_share"].sel(route=rec["via"]).sum("route")
        vals = []
        for p in rec["products"]:
            imp = float(imports.sel(sector=p))
            if imp <= 0:
                continue
            vals.append((imp * float(share.sel(sector=p)) * (1 - rec["remaining"]), p, imp,
                         float(share.sel(sector=p))))
        vals.sort(reverse=True)
        total = float(imports.sum())
        cut = sum(v[0] for v in vals)
        out.append(f"{_pct(cut / total if total else 0)} of all imports by value cut "
                   f"({money(cut)}/yr)")
        for v, p, imp, sh in vals[:5]:
            via = ("" if tuple(rec["via"]) == ROUTES
                   else f" ({_pct(sh)} arrive by {'/'.join(rec['via'])})")
            out.append(f"{p}: {_pct(v / imp)} of its imports cut{via}")
    elif rec["kind"] == "exports":
        ex = economy["exports"].sel(region=rec["regions"], sector=rec["products"])
        share = economy["import_route_share"].sel(route=rec["via"]).sum("route").sel(
            sector=rec["products"])
        cut = float((ex * share).sum()) * (1 - rec["remaining"])
        total = float(economy["exports"].sum())
        out.append(f"{_pct(cut / total if total else 0)} of all exports by value cut "
                   f"({money(cut)}/yr)")
    elif rec["kind"] == "route":
        flows = (economy["Z"].sum("sector") + economy["Y"].sum("use"))  # origin, product, region
        off = flows.sum("product").values.copy()
        np.fill_diagonal(off, 0.0)
        inter = float(off.sum())
        fr, to = list(economy["region"].values), list(economy["region"].values)
        mask = np.zeros((len(fr), len(to)), bool)
        mask[np.ix_(indices(economy, "region", rec["from"]),
                    indices(economy, "region", rec["to"]))] = True
        if rec["both_ways"]:
            mask |= mask.T
        np.fill_diagonal(mask, False)
        byp = flows.sel(product=rec["products"]).sum("product").values
        on = float((byp * mask).sum())
        out.append(f"{rec['n_pairs']} region pairs; flows on them are {_pct(on / inter if inter else 0)}"
                   f" of interregional trade ({money(on)}/yr), "
                   f"{money(on * (1 - rec['remaining']))}/yr cut while it lasts")
    else:
        y = economy["Y"].sum("origin") + economy["MY"]
        hit = float(y.sel(region=rec["regions"], product=rec["products"], use=rec["uses"]).sum())
        tot = float(y.where(~economy["inventory"], 0.0).sum())
        out.append(f"{_pct(hit / tot if tot else 0)} of final use affected "
                   f"({money(hit)}/yr)")
    return out


ZH_GROUPS = {"all": "全部", "coastal": "沿海地区", "inland": "内陆地区", "east": "东部",
             "central": "中部", "west": "西部", "northeast": "东北", "critical": "关键产品",
             "tradable": "可贸易部门", "nontradable": "不可贸易部门", "consumption": "消费",
             "inventory": "存货", "national": "全国"}
ZH_ROUTES = {"sea": "海运", "land": "陆路", "air": "空运"}
ZH_USES = {"rural_households": "农村居民", "urban_households": "城镇居民",
           "government": "政府", "households": "居民", "fixed_capital": "固定资本形成",
           "inventory": "存货"}


def zh_names(spec, economy: xr.Dataset | None = None) -> str:
    """A selector in Chinese: groups (``coastal`` -> 沿海地区), regions and sectors by their
    Chinese names when ``economy`` has them, exclusions as 除…; else the labels."""
    items = [spec] if isinstance(spec, str) else list(spec)
    names = {}
    if economy is not None:
        for dim, key in (("region", "region_name_zh"), ("sector", "sector_name_zh")):
            if key in economy.coords:
                names.update({str(k).casefold(): str(v) for k, v in
                              zip(economy[dim].values, economy[key].values)})
    out = []
    for item in items:
        for part in (str(item).split(",") if str(item).casefold() not in names else [item]):
            t = part.strip()
            neg = t[:1] in "-!"
            t = t[1:].strip() if neg else t
            word = ZH_GROUPS.get(t.casefold()) or ZH_USES.get(t) or names.get(t.casefold()) \
                or names.get(t.replace(" ", "").casefold()) or t
            out.append(("除" + word) if neg else word)
    return "、".join(out)


def _pct_zh(x: float) -> str:
    return _pct(x)


def _range_value(name, v, zh=False) -> str:
    if name in ("remaining",):
        return _pct(v)
    if name in ("duration", "recovery_days"):
        return f"{v:g}天" if zh else f"{v:g} days"
    return f"{v:g}"


#: Chinese names of the uncertain fields.
ZH_FIELDS = {"remaining": "剩余水平", "duration": "持续天数", "recovery_days": "恢复天数",
             "factor": "需求系数"}


def _ranges_text(e, zh=False) -> str:
    """``remaining 20%-40%, duration 60-120 days`` (or Chinese) of an event's ranges."""
    if zh:
        return "，".join(f"{ZH_FIELDS.get(n, n)}{_range_value(n, lo, True)}–"
                        f"{_range_value(n, hi, True)}" for n, lo, hi in e.ranges)
    return ", ".join(f"{n.replace('_', ' ')} {_range_value(n, lo).removesuffix(' days')}-"
                     f"{_range_value(n, hi)}" for n, lo, hi in e.ranges)


def _days_zh(e) -> str:
    return f"第{e.start}–{e.end - 1}天" if e.duration > 1 else f"第{e.start}天"


def _event_text_zh(e, economy=None) -> str:
    n = lambda spec: zh_names(spec, economy)  # noqa: E731
    via = lambda v: "所有途径" if tuple(v) == ROUTES else "、".join(  # noqa: E731
        ZH_ROUTES.get(r, r) for r in v)
    if isinstance(e, CapacityEvent):
        s = f"{n(e.regions)}的{n(e.sectors)}产能在{_days_zh(e)}降至{_pct(e.remaining)}"
        if e.recovery == "none":
            return s + f"，第{e.end}天恢复满产"
        how = "线性" if e.recovery == "linear" else "指数式"
        return s + f"，随后在{e.recovery_days}天内{how}恢复（第{e.recovered}天恢复满产）"
    if isinstance(e, ImportEvent):
        return f"经{via(e.via)}进口的{n(e.products)}境外供给在{_days_zh(e)}降至{_pct(e.remaining)}"
    if isinstance(e, ExportEvent):
        src = "" if str(e.regions).casefold() == "all" else n(e.regions)
        return (f"{src}经{via(e.via)}出口的{n(e.products)}境外需求在{_days_zh(e)}"
                f"降至{_pct(e.remaining)}")
    if isinstance(e, RouteEvent):
        arrow = "之间（双向）" if e.both_ways else "（单向）"
        return (f"{n(e.from_)}与{n(e.to)}{arrow}的{n(e.products)}省际贸易在{_days_zh(e)}"
                f"降至{_pct(e.remaining)}")
    return (f"{n(e.regions)}{n(e.uses)}对{n(e.products)}的最终需求在{_days_zh(e)}乘以"
            f"{e.factor:g}")


def _effects_zh(rec: dict, economy: xr.Dataset, money) -> list[str]:
    """The compiled effect of one event in Chinese (the numbers of :func:`_effects`)."""
    x = economy["x"]
    if rec["kind"] == "capacity":
        hit = float(x.sel(region=rec["regions"], sector=rec["sectors"]).sum())
        total = float(x.sum())
        return [f"{rec['n_regions']}个地区×{rec['n_sectors']}个部门（{rec['n_cells']}个地区部门）"
                f"占全国产出的{_pct(hit / total)}（每年{money(hit)}）；冲击期间每年损失产能"
                f"{money(hit * (1 - rec['remaining']))}"]
    if rec["kind"] == "imports":
        imports = (economy["M"].sum(["region", "sector"]) + economy["MY"].sum(["region", "use"]))
        imports = imports.rename({"product": "sector"}) if "product" in imports.dims else imports
        share = economy["import_route_share"].sel(route=rec["via"]).sum("route")
        cut = sum(float(imports.sel(sector=p)) * float(share.sel(sector=p))
                  * (1 - rec["remaining"]) for p in rec["products"])
        total = float(imports.sum())
        return [f"按价值计，全部进口的{_pct(cut / total if total else 0)}被切断（每年{money(cut)}）"]
    if rec["kind"] == "exports":
        ex = economy["exports"].sel(region=rec["regions"], sector=rec["products"])
        share = economy["import_route_share"].sel(route=rec["via"]).sum("route").sel(
            sector=rec["products"])
        cut = float((ex * share).sum()) * (1 - rec["remaining"])
        total = float(economy["exports"].sum())
        return [f"按价值计，全部出口的{_pct(cut / total if total else 0)}被切断（每年{money(cut)}）"]
    if rec["kind"] == "route":
        flows = (economy["Z"].sum("sector") + economy["Y"].sum("use"))
        off = flows.sum("product").values.copy()
        np.fill_diagonal(off, 0.0)
        inter = float(off.sum())
        R = economy.sizes["region"]
        mask = np.zeros((R, R), bool)
        mask[np.ix_(indices(economy, "region", rec["from"]),
                    indices(economy, "region", rec["to"]))] = True
        if rec["both_ways"]:
            mask |= mask.T
        np.fill_diagonal(mask, False)
        on = float((flows.sel(product=rec["products"]).sum("product").values * mask).sum())
        return [f"{rec['n_pairs']}个地区对；其贸易流占省际贸易的{_pct(on / inter if inter else 0)}"
                f"（每年{money(on)}），冲击期间每年减少{money(on * (1 - rec['remaining']))}"]
    y = economy["Y"].sum("origin") + economy["MY"]
    hit = float(y.sel(region=rec["regions"], product=rec["products"], use=rec["uses"]).sum())
    tot = float(y.where(~economy["inventory"], 0.0).sum())
    return [f"涉及最终使用的{_pct(hit / tot if tot else 0)}（每年{money(hit)}）"]


def _money_fn(economy, unit, lang):
    """``money(v)`` text of an amount in economy units: in ``unit`` (default: the economy's
    units in English without a unit, bn yuan / 亿元 otherwise)."""
    units = str(economy.attrs.get("units", "currency units")) if economy is not None else ""
    if unit is None and lang != "zh":
        return lambda v: _money(v, units)
    from .units import factor

    f, label = factor(units, unit, lang)
    return lambda v: _money(v * f, label)


def describe_scenario(scenario, economy: xr.Dataset | None = None, lang: str = "en",
                      unit: str | None = None) -> str:
    """An analyst's summary in plain English (``lang="zh"``: in Chinese, with the file's
    ``description_zh`` and ``note_zh``); with ``economy`` also the compiled effect, money in
    ``unit`` (:mod:`stresstest.units`; default the economy's units in English, 亿元 in
    Chinese)."""
    scenario = load_scenario(scenario)
    w = scenario.default_window()
    shock = compile_scenario(scenario, economy) if economy is not None else None
    recs = json.loads(shock.attrs["events"]) if shock is not None else []
    money = _money_fn(economy, unit, lang)
    if lang == "zh":
        return _describe_scenario_zh(scenario, economy, shock, recs, w, money)
    lines = [f"Scenario {scenario.name} ({scenario.horizon} days; static modes average days "
             f"{w[0]}-{w[1] - 1})", "", scenario.description.strip(), "", "Events:"]
    for i, e in enumerate(scenario.events):
        lines.append(f"  {i + 1}. {event_text(e)}.")
        if e.ranges:
            lines.append(f"     Uncertain: {_ranges_text(e)} (sampled bands draw uniformly "
                         "between; the central estimate takes the midpoint)")
        if e.note:
            lines.append(f"     Why: {e.note}")
        if shock is not None:
            lines.extend(f"     - {t}" for t in _effects(recs[i], economy, shock, money))
    if not scenario.events:
        lines.append("  (none: nothing happens)")
    if scenario.events:
        last = max(e.recovered for e in scenario.events)
        when = (f"day {last}" if last < scenario.horizon else
                f"day {last}, after the {scenario.horizon}-day horizon")
        lines += ["", f"Everything is back to baseline on {when}."]
    if shock is not None:
        cap, imp, exp = _window_levels(economy, shock, w)
        text = (f"Average day of the window: capacity {_pct(cap)} of baseline output, "
                f"foreign supply {_pct(imp)} of baseline imports")
        if exp is not None:
            text += f", foreign demand {_pct(exp)} of baseline exports"
        lines += [text + "."]
    if scenario.parameters:
        lines += ["Parameters: " + ", ".join(f"{k} = {v}" for k, v in scenario.parameters.items())]
    return "\n".join(lines)


def _window_levels(economy, shock, w):
    x = economy["x"]
    lo, hi = w
    kap = shock["kappa"].isel(time=slice(lo, hi)).mean("time")
    cap = float((kap * x).sum() / x.sum())
    am = shock["alpha_M"].isel(time=slice(lo, hi)).mean("time")
    imports = (economy["M"].sum(["region", "sector"]) + economy["MY"].sum(["region", "use"]))
    imp = float((am * imports).sum() / imports.sum()) if float(imports.sum()) else 1.0
    exp = None
    if "epsilon" in shock:
        ex = economy["exports"].rename(sector="product")
        eps = shock["epsilon"].isel(time=slice(lo, hi)).mean("time")
        total = float(ex.sum())
        exp = float((eps * ex).sum()) / total if total else 1.0
    return cap, imp, exp


def _describe_scenario_zh(scenario, economy, shock, recs, w, money) -> str:
    text = (scenario.description_zh or "").strip() or (
        "（此情景文件没有中文说明 description_zh；英文说明：）" + scenario.description.strip())
    lines = [f"情景 {scenario.name}（{scenario.horizon}天；静态模型取第{w[0]}–{w[1] - 1}天的平均）",
             "", text, "", "事件："]
    for i, e in enumerate(scenario.events):
        lines.append(f"  {i + 1}. {_event_text_zh(e, economy)}。")
        if e.ranges:
            lines.append(f"     不确定：{_ranges_text(e, zh=True)}（抽样区间在其间均匀抽取；中心估计取"
                         "中点）")
        if e.note_zh:
            lines.append(f"     原因：{e.note_zh}")
        if shock is not None:
            lines.extend(f"     - {t}" for t in _effects_zh(recs[i], economy, money))
    if not scenario.events:
        lines.append("  （无：不发生任何事件）")
    else:
        last = max(e.recovered for e in scenario.events)
        when = (f"第{last}天" if last < scenario.horizon else
                f"第{last}天（在{scenario.horizon}天期限之后）")
        lines += ["", f"{when}全部恢复到基准水平。"]
    if shock is not None:
        cap, imp, exp = _window_levels(economy, shock, w)
        t = f"窗口平均一天：产能为基准产出的{_pct(cap)}，境外供给为基准进口的{_pct(imp)}"
        if exp is not None:
            t += f"，境外需求为基准出口的{_pct(exp)}"
        lines.append(t + "。")
    if scenario.parameters:
        lines.append("参数：" + "，".join(f"{k} = {v}" for k, v in scenario.parameters.items()))
    return "\n".join(lines)


__all__ = ["Scenario", "CapacityEvent", "ImportEvent", "ExportEvent", "RouteEvent", "DemandEvent",
           "parse_scenario", "load_scenario", "compile_scenario", "list_scenarios",
           "describe_scenario", "validate_scenario_file", "builtin_scenarios", "KINDS",
           "ExportEvent"]
