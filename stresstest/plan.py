"""Backup plans: the TOML format (``data/plans/<name>.toml``), validation and compilation to
the compiled plan of :mod:`stresstest.compiled`. Format reference: ``docs/scenarios.md``.

Amounts, in economy units (``x`` is annual gross output, 365 days a year):

* standby: ``capacity = capacity_share * sum_r x[r, s]`` (or ``capacity``) per sector, split
  over the element's regions in proportion to their baseline output ``x[r, s]`` (equally if all
  are zero); ``cost = annual_cost_share * capacity`` (or ``annual_cost`` split like capacity);
* stockpile: daily basis ``b[r, p] = basis[r, p] / 365`` with ``basis`` = essential final use
  (:func:`stresstest.result.essential_baseline`), total use (intermediate + final except
  inventory change, domestic + imported) or imports (intermediate + final);
  ``amount = days_of_cover * b`` and ``max_release = max_release_days * b`` per holder, where
  ``b`` is the holder's own basis (``covers = "holders"``) or the national basis split over the
  holders in proportion to theirs (``covers = "national"``), and an empty stock releases
  nothing (``max_release = 0`` where ``amount = 0``); ``region = "national"`` holds a
  national stock on the ``national`` row; the stock's value is its amount,
  ``cost = annual_cost_share * amount``;
* substitution: per product the maximum over elements of each field;
* corridor: ``corridor_extra[a, b] += extra`` on the selected pairs ``a != b``;
  ``cost = annual_cost_share * extra * baseline flow on the pairs`` (or ``annual_cost``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from ._toml import Fields, Problems, library_path, parse_toml, read_toml_text
from .compiled import NATIONAL, no_plan
from .economy import cached
from .errors import PlanError
from .scenario import _display, _library, _sel
from .selectors import indices, select_products, select_regions, select_sectors
from .units import DAYS_PER_YEAR

KINDS = ("standby", "stockpile", "substitution", "corridor", "new_industry")
BASES = ("essential", "use", "imports")
COVERS = ("holders", "national")
TOP_KEYS = ("name", "description", "description_zh") + KINDS
ELEMENT_KEYS = {
    "standby": ("region", "sector", "capacity_share", "capacity", "lead_time", "ramp",
                "annual_cost_share", "annual_cost", "capital_per_output", "capital_charge",
                "om_share", "note", "note_zh"),
    "stockpile": ("product", "region", "days_of_cover", "basis", "covers", "max_release",
                  "annual_cost_share", "annual_cost", "note", "note_zh"),
    "substitution": ("products", "headroom", "new_links", "friction", "imports", "annual_cost",
                     "note", "note_zh"),
    "corridor": ("from", "to", "extra", "both_ways", "annual_cost_share", "annual_cost",
                 "capital_cost", "interest_rate", "lifetime", "om_share", "note", "note_zh"),
    "new_industry": ("region", "sector", "capacity_share", "capacity", "from",
                     "annual_cost_share", "annual_cost", "capital_per_output",
                     "capital_charge", "om_share", "note", "note_zh"),
}
ELEMENT_REQUIRED = {
    "standby": ("region", "sector", "lead_time", "ramp"),
    "stockpile": ("product", "days_of_cover"),
    "substitution": ("products",),
    "corridor": ("from", "to", "extra"),
    "new_industry": ("region", "sector"),
}
SUBSTITUTION_FIELDS = ("headroom", "new_links", "friction", "imports")


@dataclass(frozen=True)
class Element:
    """One plan element: ``kind`` (standby, stockpile, substitution, corridor), its position
    ``index`` in its array of tables, and its checked ``fields`` (selectors unresolved)."""

    kind: str
    index: int
    fields: dict

    def __getitem__(self, key):
        return self.fields[key]

    def get(self, key, default=None):
        return self.fields.get(key, default)


@dataclass(frozen=True)
class Plan:
    """A parsed (not yet compiled) backup plan."""

    name: str
    description: str
    elements: tuple = ()
    source: str = "<string>"
    #: Chinese description (optional; the Chinese report shows it)
    description_zh: str = ""

    def of(self, kind: str) -> list[Element]:
        return [e for e in self.elements if e.kind == kind]


# --------------------------------------------------------------------------- parsing


def _one_of(f: Fields, a: str, b: str, required: bool):
    if f.has(a) and f.has(b):
        f.fail(f"{f.at(a)}: give either {a} or {b}, not both")
    if required and not (f.has(a) or f.has(b)):
        f.fail(f"{f.at(a)}: required field is missing (or give {b})")


#: Likely mistakes for the field meant (hint of the unknown-field message).
TOP_ALIASES = {"backup": "standby", "stock": "stockpile", "stocks": "stockpile",
               "reserve": "stockpile", "substitute": "substitution", "route": "corridor"}
ELEMENT_ALIASES = {"share": "capacity_share", "days": "days_of_cover", "cover": "days_of_cover",
                   "lead": "lead_time", "cost": "annual_cost", "cost_share": "annual_cost_share"}
#: Which selector kind each element field holds.
SELECTOR_FIELDS = {"region": "regions", "sector": "sectors", "product": "products",
                   "products": "products", "from": "regions", "to": "regions"}


def _parse_element(kind: str, table, i: int, src: str, problems: Problems, refs: list):
    """One element, or ``None`` after recording its problems; its selectors go to ``refs`` as
    ``(where, spec, kind)`` for a later check against an economy."""
    f = Fields(table, f"{src}: {kind}[{i}]", problems, allowed=ELEMENT_KEYS[kind],
               required=ELEMENT_REQUIRED[kind], aliases=ELEMENT_ALIASES)

    def sel(key, default=None):
        value = f.selector(key, default)
        if value is not None and f.has(key) and not (key == "region" and kind == "stockpile"
                                                     and _is_national(value)):
            refs.append((f.at(key), value, SELECTOR_FIELDS[key]))
        return value

    out: dict = {"note": f.string("note", ""), "note_zh": f.string("note_zh", "")}
    if kind == "standby":
        _one_of(f, "capacity_share", "capacity", True)
        _cost_basis(f, ("annual_cost_share", "annual_cost", "capital_per_output"), True,
                    {"capital_per_output": ("capital_charge",)}, ("om_share", "capital_charge"))
        out.update(capital_per_output=f.number("capital_per_output", lo=0),
                   capital_charge=f.share("capital_charge"), om_share=f.share("om_share", 0.0))
        out.update(region=sel("region"), sector=sel("sector"),
                   capacity_share=f.share("capacity_share"), capacity=f.number("capacity", lo=0),
                   lead_time=f.integer("lead_time", lo=0), ramp=f.integer("ramp", lo=0),
                   annual_cost_share=f.share("annual_cost_share"),
                   annual_cost=f.number("annual_cost", lo=0))
    elif kind == "stockpile":
        _one_of(f, "annual_cost_share", "annual_cost", True)
        out.update(product=sel("product"), region=sel("region", NATIONAL),
                   days_of_cover=f.number("days_of_cover", lo=0),
                   basis=f.string("basis", "essential", choices=BASES),
                   covers=f.string("covers", "holders", choices=COVERS),
                   max_release=f.number("max_release", 1.0, lo=0),
                   annual_cost_share=f.share("annual_cost_share"),
                   annual_cost=f.number("annual_cost", lo=0))
        if out["covers"] == "national" and _is_national(out["region"]):
            f.bad("covers", "national", "needs holder regions (region is 'national' already)")
    elif kind == "new_industry":
        _one_of(f, "capacity_share", "capacity", True)
        _cost_basis(f, ("annual_cost_share", "annual_cost", "capital_per_output"), True,
                    {"capital_per_output": ("capital_charge",)}, ("om_share", "capital_charge"))
        out.update(region=sel("region"), sector=sel("sector"), **{"from": sel("from",
                                                                                "coastal")},
                   capacity_share=f.share("capacity_share"), capacity=f.number("capacity", lo=0),
                   capital_per_output=f.number("capital_per_output", lo=0),
                   capital_charge=f.share("capital_charge"), om_share=f.share("om_share", 0.0),
                   annual_cost_share=f.share("annual_cost_share"),
                   annual_cost=f.number("annual_cost", lo=0))
    elif kind == "substitution":
        out.update(products=sel("products"), headroom=f.number("headroom", 0.0, lo=0),
                   new_links=f.share("new_links", 0.0), friction=f.share("friction", 0.0),
                   imports=f.share("imports", 0.0), annual_cost=f.number("annual_cost", 0.0, lo=0))
    else:
        _cost_basis(f, ("annual_cost_share", "annual_cost", "capital_cost"), False,
                    {"capital_cost": ("lifetime",)}, ("interest_rate", "lifetime", "om_share"))
        out.update(capital_cost=f.number("capital_cost", lo=0),
                   interest_rate=f.share("interest_rate", 0.0),
                   lifetime=f.integer("lifetime", lo=1), om_share=f.share("om_share", 0.0))
        out.update(**{"from": sel("from"), "to": sel("to")},
                   extra=f.number("extra", lo=0), both_ways=f.boolean("both_ways", True),
                   annual_cost_share=f.share("annual_cost_share"),
                   annual_cost=f.number("annual_cost", lo=0))
    if not f.ok:
        return None
    out = {k: (tuple(v) if isinstance(v, list) else v) for k, v in out.items()}
    return Element(kind, i, out)


def _cost_basis(f: Fields, bases: tuple, required: bool, needs: dict, only_with: tuple):
    """Exactly one cost basis of ``bases`` (or none when not ``required``); a basis's
    companion fields (``needs``) are required with it and ``only_with`` fields need the
    capital basis (the last of ``bases``)."""
    given = [b for b in bases if f.has(b)]
    if len(given) > 1:
        f.fail(f"{f.at(given[1])}: give one cost basis of {', '.join(bases)}, not "
               f"{' and '.join(given)}")
    if required and not given:
        f.fail(f"{f.at(bases[0])}: required field is missing (or give "
               f"{' or '.join(bases[1:])})")
    capital = bases[-1]
    for need in needs.get(capital, ()):
        if f.has(capital) and not f.has(need):
            f.fail(f"{f.at(need)}: required with {capital}")
    for extra in only_with:
        if f.has(extra) and not f.has(capital):
            f.fail(f"{f.at(extra)}: only with {capital} (the capital cost basis)")


def annuity_factor(rate: float, years: int) -> float:
    """Annual payment per unit of capital repaid over ``years`` at interest ``rate``:
    ``r / (1 − (1 + r)^−n)`` (``1/n`` at ``r = 0``)."""
    if rate <= 0:
        return 1.0 / years
    return rate / (1.0 - (1.0 + rate) ** -years)


def _is_national(spec) -> bool:
    return isinstance(spec, str) and spec.strip().casefold() == NATIONAL


@dataclass
class _Parsed:
    """What a lenient parse found: the plan (``None`` when its top level is unusable; else its
    valid elements only), every problem, and the selectors of all elements."""

    plan: Plan | None
    problems: Problems
    refs: list


def _parse(text, source: str, stem: str | None) -> _Parsed:
    problems = Problems(PlanError)
    refs: list = []
    try:
        data = parse_toml(text, source, PlanError)
    except PlanError as exc:
        problems.extend(exc.problems)
        return _Parsed(None, problems, refs)
    top = Fields(data, f"{source}: ", problems, allowed=TOP_KEYS,
                 required=("name", "description"), aliases=TOP_ALIASES)
    name = top.string("name")
    if name is not None and not name.strip():
        top.bad("name", name, "must not be empty")
    elif name is not None and stem is not None and name != stem:
        top.bad("name", name, f"must equal the file name stem {stem!r}")
    description = top.string("description")
    description_zh = top.string("description_zh", "")
    elements = [_parse_element(kind, t, i, source, problems, refs) for kind in KINDS
                for i, t in enumerate(top.table_list(kind))]
    plan = Plan(name or "", description or "", tuple(e for e in elements if e is not None),
                source, description_zh or "")
    return _Parsed(plan, problems, refs)


def parse_plan(text: str, source: str = "<string>", *, stem: str | None = None) -> Plan:
    """Parse and check a plan's TOML text (no economy needed); ``stem`` is the file stem the
    ``name`` must equal. Raises one :class:`PlanError` carrying every problem found."""
    parsed = _parse(text, source, stem)
    parsed.problems.check(KINDS)
    return parsed.plan


# --------------------------------------------------------------------------- files


def builtin_plans() -> dict[str, Path]:
    """Names of the built-in plans and their files (``<dir>/data/plans/*.toml``)."""

    return _library("data/plans", PlanError)


def _read_file(path: Path) -> Plan:
    return parse_plan(read_toml_text(path, PlanError), _display(path), stem=path.stem)


def _parse_file(name_or_path) -> _Parsed:
    path = library_path(name_or_path, builtin_plans(), "plan", PlanError)
    return _parse(read_toml_text(path, PlanError), _display(path), path.stem)


_SELECT = {"regions": select_regions, "sectors": select_sectors, "products": select_products}


def _compile_parsed(parsed: _Parsed, economy: xr.Dataset) -> xr.Dataset:
    """Compile a leniently parsed file; with parse problems, also check every selector and
    the valid elements against ``economy`` and raise all problems together."""
    if not parsed.problems:
        return compile_plan(parsed.plan, economy)
    problems = parsed.problems
    for where, spec, kind in parsed.refs:
        problems.catch(_SELECT[kind], economy, spec, where=where, error=PlanError)
    if parsed.plan is not None:
        problems.catch(compile_plan, parsed.plan, economy)
    problems.check(KINDS)
    raise AssertionError("unreachable")  # pragma: no cover


def load_plan(name_or_path) -> Plan:
    """A built-in plan by name (``data/plans/<name>.toml``) or a ``.toml`` file."""
    if isinstance(name_or_path, Plan):
        return name_or_path
    return _read_file(library_path(name_or_path, builtin_plans(), "plan", PlanError))


def list_plans() -> list[dict]:
    """``[{name, description, path}]`` of the built-in plans, by name."""
    return [{"name": p.name, "description": p.description, "path": str(path)}
            for p, path in ((_read_file(f), f) for f in builtin_plans().values())]


# --------------------------------------------------------------------------- compilation


def _split(total: float, weights: np.ndarray) -> np.ndarray:
    """``total`` split in proportion to ``weights`` (equally when they sum to zero)."""
    w = np.asarray(weights, dtype=np.float64)
    s = w.sum()
    if s > 0:
        return total * (w / s)
    return np.full(w.shape, total / w.size)


def stock_basis(economy: xr.Dataset, basis: str) -> np.ndarray:
    """The stockpile basis ``(region, product)`` in economy units per year (computed once per
    economy object)."""
    return cached(economy, ("stock_basis", basis), lambda: _stock_basis(economy, basis)).copy()


def _stock_basis(economy: xr.Dataset, basis: str) -> np.ndarray:
    if basis == "essential":
        from .result import essential_baseline

        return essential_baseline(economy).transpose("region", "product").values
    final = ~economy["inventory"]
    imports = (economy["M"].sum("sector") + economy["MY"].where(final, 0.0).sum("use"))
    imports = imports.transpose("region", "product").values
    if basis == "imports":
        return imports
    dom = (economy["Z"].sum(["origin", "sector"])
           + economy["Y"].where(final, 0.0).sum(["origin", "use"]))
    return dom.transpose("region", "product").values + imports


def baseline_trade(economy: xr.Dataset) -> np.ndarray:
    """Interregional deliveries ``(region_from, region_to)`` in economy units per year
    (intermediate + final, all products; computed once per economy object)."""
    def make():
        flows = economy["Z"].sum(["product", "sector"]) + economy["Y"].sum(["product", "use"])
        return flows.transpose("origin", "region").values

    return cached(economy, "baseline_trade", make).copy()


def _pairs(economy, e: Element, at: str) -> np.ndarray:
    R = economy.sizes["region"]
    problems = Problems(PlanError)
    fr = problems.catch(select_regions, economy, e["from"], where=f"{at}.from", error=PlanError)
    to = problems.catch(select_regions, economy, e["to"], where=f"{at}.to", error=PlanError)
    problems.check()
    mask = np.zeros((R, R), bool)
    mask[np.ix_(indices(economy, "region", fr), indices(economy, "region", to))] = True
    if e["both_ways"]:
        mask |= mask.T
    np.fill_diagonal(mask, False)
    if not mask.any():
        raise PlanError(f"{at}: from {e['from']!r} and to {e['to']!r} select no pair of "
                        "different regions")
    return mask


def compile_plan(plan, economy: xr.Dataset) -> xr.Dataset:
    """The compiled plan (see :mod:`stresstest.compiled`) of ``plan`` on ``economy``.

    ``plan``: a :class:`Plan`, a built-in name or a ``.toml`` path (then every problem of the
    file, its format and its labels, is reported together). Starts from
    :func:`stresstest.compiled.no_plan`, so a plan without elements is identical to it. Raises
    one :class:`PlanError` carrying every problem found, each naming the file, the element and
    the field.
    """
    if not isinstance(plan, Plan):
        return _compile_parsed(_parse_file(plan), economy)
    problems = Problems(PlanError)
    ds = no_plan(economy, plan.name)
    src = plan.source
    regions = [str(r) for r in economy["region"].values]
    R = len(regions)
    x = economy["x"].transpose("region", "sector").values
    log: list[dict] = []
    total_cost = 0.0

    rows = {k: [] for k in ("capacity", "region", "sector", "lead", "ramp", "cost")}
    for e in plan.of("standby"):
        at = f"{src}: standby[{e.index}]"
        rs = problems.catch(select_regions, economy, e["region"], where=f"{at}.region",
                            error=PlanError)
        ss = problems.catch(select_sectors, economy, e["sector"], where=f"{at}.sector",
                            error=PlanError)
        if rs is None or ss is None:
            continue
        if e["capacity"] is not None and len(ss) > 1:
            problems.add(f"{at}.sector: {e['sector']!r} selects {len(ss)} sectors; an absolute "
                         "capacity needs exactly one (or use capacity_share)")
            continue
        ri = indices(economy, "region", rs)
        caps, cells = [], []
        for s in ss:
            si = int(indices(economy, "sector", [s])[0])
            total = (e["capacity"] if e["capacity"] is not None
                     else e["capacity_share"] * float(x[:, si].sum()))
            caps.append(_split(total, x[ri, si]))
            cells += [(r, s) for r in rs]
        cap = np.concatenate(caps)
        if e.get("capital_per_output") is not None:  # capital charge + O&M on capital
            cost = cap * e["capital_per_output"] * (e["capital_charge"] + e["om_share"])
        elif e["annual_cost"] is None:
            cost = e["annual_cost_share"] * cap
        else:
            cost = _split(e["annual_cost"], cap)
        rows["capacity"].append(cap)
        rows["cost"].append(cost)
        rows["region"] += [c[0] for c in cells]
        rows["sector"] += [c[1] for c in cells]
        rows["lead"].append(np.full(cap.size, float(e["lead_time"])))
        rows["ramp"].append(np.full(cap.size, float(e["ramp"])))
        total_cost += float(cost.sum())
        log.append({"kind": "standby", "index": e.index, "regions": rs, "sectors": ss,
                    "capacity": float(cap.sum()), "capacity_by_cell": cap.tolist(),
                    "lead_time": e["lead_time"], "ramp": e["ramp"],
                    "annual_cost": float(cost.sum()), "note": e["note"]})
    if rows["capacity"]:
        ds = ds.drop_vars([v for v in ds.data_vars if v.startswith("standby_")]).assign(
            standby_capacity=("standby", np.concatenate(rows["capacity"])),
            standby_region=("standby", np.array(rows["region"], dtype=str)),
            standby_sector=("standby", np.array(rows["sector"], dtype=str)),
            standby_lead_time=("standby", np.concatenate(rows["lead"])),
            standby_ramp=("standby", np.concatenate(rows["ramp"])),
            standby_cost=("standby", np.concatenate(rows["cost"])))

    amount = ds["stock_amount"].values.copy()
    release = ds["stock_max_release"].values.copy()
    scost = ds["stock_cost"].values.copy()
    bases: dict[str, np.ndarray] = {}
    for e in plan.of("stockpile"):
        at = f"{src}: stockpile[{e.index}]"
        ps = problems.catch(select_products, economy, e["product"], where=f"{at}.product",
                            error=PlanError)
        holders = None
        if not _is_national(e["region"]):
            holders = problems.catch(select_regions, economy, e["region"], where=f"{at}.region",
                                     error=PlanError)
            if holders is None:
                continue
        if ps is None:
            continue
        pi = indices(economy, "sector", ps)
        if e["basis"] not in bases:
            bases[e["basis"]] = stock_basis(economy, e["basis"]) / DAYS_PER_YEAR
        daily = bases[e["basis"]][:, pi]                         # (R, P) per day
        if _is_national(e["region"]):
            holders = [NATIONAL]
            hi = np.array([R])
            per_day = daily.sum(axis=0, keepdims=True)
        else:
            hi = indices(economy, "region", holders)
            per_day = daily[hi]
            if e["covers"] == "national":
                per_day = np.stack([_split(daily[:, k].sum(), per_day[:, k])
                                    for k in range(len(pi))], axis=1)
        amt = e["days_of_cover"] * per_day
        rel = np.where(amt > 0, e["max_release"] * per_day, 0.0)
        cost = (e["annual_cost_share"] * amt if e["annual_cost"] is None
                else _split(e["annual_cost"], amt.ravel()).reshape(amt.shape))
        amount[np.ix_(hi, pi)] += amt
        release[np.ix_(hi, pi)] += rel
        scost[np.ix_(hi, pi)] += cost
        total_cost += float(cost.sum())
        log.append({"kind": "stockpile", "index": e.index, "holders": holders, "products": ps,
                    "basis": e["basis"], "covers": e["covers"],
                    "days_of_cover": e["days_of_cover"], "amount": float(amt.sum()),
                    "max_release_per_day": float(rel.sum()), "annual_cost": float(cost.sum()),
                    "note": e["note"]})
    ds["stock_amount"].values[...] = amount
    ds["stock_max_release"].values[...] = release
    ds["stock_cost"].values[...] = scost

    for e in plan.of("substitution"):
        at = f"{src}: substitution[{e.index}]"
        ps = problems.catch(select_products, economy, e["products"], where=f"{at}.products",
                            error=PlanError)
        if ps is None:
            continue
        pi = indices(economy, "sector", ps)
        for name in SUBSTITUTION_FIELDS:
            var = ds[f"substitution_{name}"].values
            var[pi] = np.maximum(var[pi], e[name])
        total_cost += e["annual_cost"]
        log.append({"kind": "substitution", "index": e.index, "products": ps,
                    **{k: e[k] for k in SUBSTITUTION_FIELDS}, "annual_cost": e["annual_cost"],
                    "note": e["note"]})

    moves = {k: [] for k in ("to", "sector", "from", "share")}
    for e in plan.of("new_industry"):
        at = f"{src}: new_industry[{e.index}]"
        host = problems.catch(select_regions, economy, e["region"], where=f"{at}.region",
                              error=PlanError)
        sec = problems.catch(select_sectors, economy, e["sector"], where=f"{at}.sector",
                             error=PlanError)
        src_regions = problems.catch(select_regions, economy, e["from"], where=f"{at}.from",
                                     error=PlanError)
        if host is None or sec is None or src_regions is None:
            continue
        if len(host) != 1 or len(sec) != 1:
            problems.add(f"{at}: a new industry is one sector in one host region (region "
                         f"selects {len(host)}, sector {len(sec)})")
            continue
        src_regions = [r for r in src_regions if r != host[0]]
        si = int(indices(economy, "sector", sec)[0])
        base = float(x[indices(economy, "region", src_regions), si].sum()) if src_regions else 0.0
        cap = (e["capacity"] if e["capacity"] is not None
               else e["capacity_share"] * float(x[:, si].sum()))
        if base <= 0 or cap > base * (1 + 1e-12):
            problems.add(f"{at}: capacity {cap:.6g} exceeds the output of {sec[0]} in the "
                         f"regions it takes over ({base:.6g}; from = {e['from']!r})")
            continue
        if e.get("capital_per_output") is not None:
            cost = cap * e["capital_per_output"] * (e["capital_charge"] + e["om_share"])
        elif e["annual_cost"] is not None:
            cost = e["annual_cost"]
        else:
            cost = e["annual_cost_share"] * cap
        total_cost += cost
        for key, val in (("to", host[0]), ("sector", sec[0]), ("from", json.dumps(src_regions)),
                         ("share", cap / base)):
            moves[key].append(val)
        log.append({"kind": "new_industry", "index": e.index, "region": host[0],
                    "sector": sec[0], "from": src_regions, "capacity": cap,
                    "share_taken_over": cap / base, "annual_cost": cost, "note": e["note"]})
    if moves["to"]:
        ds = ds.assign(
            relocation_to=("relocation", np.array(moves["to"], dtype=str)),
            relocation_sector=("relocation", np.array(moves["sector"], dtype=str)),
            relocation_from=("relocation", np.array(moves["from"], dtype=str)),
            relocation_share=("relocation", np.array(moves["share"], dtype=float)))

    trade = None
    for e in plan.of("corridor"):
        at = f"{src}: corridor[{e.index}]"
        mask = problems.catch(_pairs, economy, e, at)
        if mask is None:
            continue
        ds["corridor_extra"].values[mask] += e["extra"]
        if trade is None:
            trade = baseline_trade(economy)
        flow = float(trade[mask].sum())
        if e.get("capital_cost") is not None:  # annuity of the investment + O&M
            cost = e["capital_cost"] * (annuity_factor(e["interest_rate"], e["lifetime"])
                                        + e["om_share"])
        elif e["annual_cost"] is not None:
            cost = e["annual_cost"]
        else:
            cost = (e["annual_cost_share"] or 0.0) * e["extra"] * flow
        total_cost += cost
        log.append({"kind": "corridor", "index": e.index, "n_pairs": int(mask.sum()),
                    "pairs": [[regions[a], regions[b]] for a, b in zip(*np.nonzero(mask))],
                    "extra": e["extra"], "baseline_flow": flow, "annual_cost": cost,
                    "note": e["note"]})

    problems.check(KINDS)
    ds.attrs.update({"plan": plan.name, "description": plan.description,
                     "annual_cost": float(total_cost), "elements": json.dumps(log),
                     "source": src})
    return ds


def validate_plan_file(path, economy=None) -> Plan:
    """Check a plan file: its format and, against ``economy`` (a Dataset, a built-in name or a
    netCDF path; default ``china31`` when it is built), its labels. Raises one
    :class:`PlanError` carrying every problem; returns the plan."""
    from .economy import builtin_economies, load_economy

    parsed = _parse_file(path if str(path).endswith(".toml") else Path(path))
    if economy is None and "china31" in builtin_economies():
        economy = "china31"
    if economy is None:
        parsed.problems.check(KINDS)
        return parsed.plan
    if not isinstance(economy, xr.Dataset):
        economy = load_economy(economy, validate=False)
    _compile_parsed(parsed, economy)
    return parsed.plan


# --------------------------------------------------------------------------- description


def _pct(v: float) -> str:
    if v != 0 and abs(v) < 0.001:
        return f"{100 * v:.2g}%"
    return f"{100 * v:.1f}%" if abs(v) < 0.1 else f"{100 * v:.0f}%"


def _money(v: float, units: str) -> str:
    return (f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}") + f" {units}"


def _element_text(e: Element) -> str:
    f = e.fields
    if e.kind == "standby":
        size = (f"{_pct(f['capacity_share'])} of national [{_sel(f['sector'])}] output"
                if f["capacity"] is None else f"{f['capacity']:g}/yr of [{_sel(f['sector'])}]")
        if f.get("capital_per_output") is not None:
            cost = (f"capital of {f['capital_per_output']:g} per unit of annual capacity at a "
                    f"{_pct(f['capital_charge'])} capital charge + {_pct(f['om_share'])} O&M a "
                    "year")
        else:
            cost = (f"{_pct(f['annual_cost_share'])} of its capacity value a year"
                    if f["annual_cost"] is None else f"{f['annual_cost']:g} a year")
        return (f"standby of {size} in [{_sel(f['region'])}], active after {f['lead_time']} "
                f"days, full by day {f['lead_time'] + f['ramp']}; cost {cost}")
    if e.kind == "stockpile":
        cover = " (covering national use)" if f["covers"] == "national" else ""
        cost = (f"{_pct(f['annual_cost_share'])} of the stock value a year"
                if f["annual_cost"] is None else f"{f['annual_cost']:g} a year")
        return (f"stockpile of [{_sel(f['product'])}] held in [{_sel(f['region'])}]{cover}: "
                f"{f['days_of_cover']:g} days of baseline {f['basis']}, releasing at most "
                f"{f['max_release']:g} baseline days per day; cost {cost}")
    if e.kind == "substitution":
        return (f"buyers of [{_sel(f['products'])}] may switch suppliers: up to "
                f"{_pct(f['headroom'])} extra on existing links, {_pct(f['new_links'])} of need "
                f"over new links, {_pct(f['imports'])} of lost imports replaced by domestic "
                f"supply; friction {_pct(f['friction'])}")
    if e.kind == "new_industry":
        size = (f"{_pct(f['capacity_share'])} of national [{_sel(f['sector'])}] output"
                if f["capacity"] is None else f"{f['capacity']:g}/yr of [{_sel(f['sector'])}]")
        return (f"new industry: a [{_sel(f['sector'])}] line in [{_sel(f['region'])}] of {size}, "
                f"taking over that output from [{_sel(f['from'])}] (same buyers and suppliers)")
    arrow = "<->" if f["both_ways"] else "->"
    return (f"corridor [{_sel(f['from'])}] {arrow} [{_sel(f['to'])}]: extra route capacity of "
            f"{_pct(f['extra'])} of baseline flow")


def _element_effect(rec: dict, economy: xr.Dataset, money=None) -> str:
    units = economy.attrs.get("units", "currency units")
    money = money or (lambda v: _money(v, units))
    gdp = float(economy["V"].sum())
    kind = rec["kind"]
    if kind == "standby":
        xs = float(economy["x"].sel(sector=rec["sectors"]).sum())
        where = ", ".join(rec["regions"])
        return (f"{money(rec['capacity'])}/yr of standby capacity in {where} "
                f"({_pct(rec['capacity'] / xs if xs else 0)} of national output of "
                f"{', '.join(rec['sectors'])}); cost {money(rec['annual_cost'])}/yr")
    if kind == "stockpile":
        held = ("the national reserve" if rec["holders"] == [NATIONAL]
                else ", ".join(rec["holders"]))
        return (f"{money(rec['amount'])} in stock in {held}, "
                f"release up to {money(rec['max_release_per_day'])}/day; cost "
                f"{money(rec['annual_cost'])}/yr ({_pct(rec['annual_cost'] / gdp)} of GDP)")
    if kind == "substitution":
        return f"{len(rec['products'])} products; cost {money(rec['annual_cost'])}/yr"
    if kind == "new_industry":
        return (f"{money(rec['capacity'])}/yr of {rec['sector']} moves to {rec['region']} "
                f"({_pct(rec['share_taken_over'])} of the output of {', '.join(rec['from'])}); "
                f"cost {money(rec['annual_cost'])}/yr")
    return (f"{rec['n_pairs']} region pairs carrying {money(rec['baseline_flow'])}/yr "
            f"at baseline get {money(rec['extra'] * rec['baseline_flow'])}/yr of extra "
            f"capacity; cost {money(rec['annual_cost'])}/yr")


def _element_text_zh(e: Element, economy=None) -> str:
    from .scenario import zh_names

    f = e.fields
    n = lambda spec: "全国储备" if _is_national(spec) else zh_names(spec, economy)  # noqa: E731
    if e.kind == "standby":
        size = (f"全国{n(f['sector'])}产出的{_pct(f['capacity_share'])}"
                if f["capacity"] is None else f"每年{f['capacity']:g}的{n(f['sector'])}产能")
        if f.get("capital_per_output") is not None:
            cost = (f"每单位年产能资本{f['capital_per_output']:g}，资本费用率{_pct(f['capital_charge'])}"
                    f"、运维{_pct(f['om_share'])}/年")
        else:
            cost = (f"每年为产能价值的{_pct(f['annual_cost_share'])}" if f["annual_cost"] is None
                    else f"每年{f['annual_cost']:g}")
        return (f"在{n(f['region'])}设{size}的备用产能，{f['lead_time']}天后启用，第"
                f"{f['lead_time'] + f['ramp']}天达到满负荷；成本{cost}")
    if e.kind == "stockpile":
        basis = {"essential": "必需最终使用", "use": "总使用量", "imports": "进口"}[f["basis"]]
        cover = "（覆盖全国使用）" if f["covers"] == "national" else ""
        cost = (f"每年为储备价值的{_pct(f['annual_cost_share'])}" if f["annual_cost"] is None
                else f"每年{f['annual_cost']:g}")
        return (f"在{n(f['region'])}储备{n(f['product'])}{cover}：基准{basis}的{f['days_of_cover']:g}"
                f"天，每天最多释放{f['max_release']:g}天的基准量；成本{cost}")
    if e.kind == "substitution":
        return (f"{n(f['products'])}的买方可转换供应商：现有渠道最多增加{_pct(f['headroom'])}，"
                f"新渠道满足需求的{_pct(f['new_links'])}，损失进口的{_pct(f['imports'])}可由国内供给"
                f"替代；摩擦成本{_pct(f['friction'])}")
    if e.kind == "new_industry":
        size = (f"全国{n(f['sector'])}产出的{_pct(f['capacity_share'])}"
                if f["capacity"] is None else f"每年{f['capacity']:g}")
        return (f"新兴产业：在{n(f['region'])}建设{n(f['sector'])}生产线，规模为{size}，"
                f"承接{n(f['from'])}的相应产出（买方与供应商不变）")
    arrow = "双向" if f["both_ways"] else "单向"
    return (f"{n(f['from'])}与{n(f['to'])}之间（{arrow}）的运输通道：新增基准运量"
            f"{_pct(f['extra'])}的运力")


def _element_effect_zh(rec: dict, economy: xr.Dataset, money) -> str:
    from .scenario import zh_names

    gdp = float(economy["V"].sum())
    kind = rec["kind"]
    if kind == "standby":
        xs = float(economy["x"].sel(sector=rec["sectors"]).sum())
        return (f"{zh_names(rec['regions'], economy)}每年{money(rec['capacity'])}的备用产能（占全国"
                f"{zh_names(rec['sectors'], economy)}产出的{_pct(rec['capacity'] / xs if xs else 0)}"
                f"）；成本每年{money(rec['annual_cost'])}")
    if kind == "stockpile":
        held = "全国储备" if rec["holders"] == [NATIONAL] else zh_names(rec["holders"], economy)
        return (f"{held}储备{money(rec['amount'])}，每天最多释放{money(rec['max_release_per_day'])}；"
                f"成本每年{money(rec['annual_cost'])}（占GDP的{_pct(rec['annual_cost'] / gdp)}）")
    if kind == "substitution":
        return f"{len(rec['products'])}种产品；成本每年{money(rec['annual_cost'])}"
    if kind == "new_industry":
        return (f"每年{money(rec['capacity'])}的{zh_names([rec['sector']], economy)}迁至"
                f"{zh_names([rec['region']], economy)}（承接{zh_names(rec['from'], economy)}产出的"
                f"{_pct(rec['share_taken_over'])}）；成本每年{money(rec['annual_cost'])}")
    return (f"{rec['n_pairs']}个地区对，基准运量每年{money(rec['baseline_flow'])}，新增运力每年"
            f"{money(rec['extra'] * rec['baseline_flow'])}；成本每年{money(rec['annual_cost'])}")


def describe_plan(plan, economy: xr.Dataset | None = None, lang: str = "en",
                  unit: str | None = None) -> str:
    """The plan in words (``lang="zh"``: in Chinese, with ``description_zh`` and ``note_zh``);
    with ``economy`` also sizes and costs, money in ``unit`` (:mod:`stresstest.units`;
    default the economy's units in English, 亿元 in Chinese)."""
    from .scenario import _money_fn

    plan = load_plan(plan)
    compiled = compile_plan(plan, economy) if economy is not None else None
    recs = json.loads(compiled.attrs["elements"]) if compiled is not None else []
    money = _money_fn(economy, unit, lang)
    zh = lang == "zh"
    if zh:
        text = (plan.description_zh or "").strip() or (
            "（此方案文件没有中文说明 description_zh；英文说明：）" + plan.description.strip())
        lines = [f"方案 {plan.name}", "", text, ""]
    else:
        lines = [f"Plan {plan.name}", "", plan.description.strip(), ""]
    if not plan.elements:
        lines.append("无备份（参照方案）。" if zh else "No backups (the reference plan).")
    for k, e in enumerate(plan.elements):
        if zh:
            lines.append(f"  {k + 1}. {_element_text_zh(e, economy)}。")
            if e.get("note_zh"):
                lines.append(f"     原因：{e['note_zh']}")
            if compiled is not None:
                lines.append(f"     - {_element_effect_zh(recs[k], economy, money)}")
            continue
        lines.append(f"  {k + 1}. {_element_text(e)}.")
        if e.get("note"):
            lines.append(f"     Why: {e['note']}")
        if compiled is not None:
            lines.append(f"     - {_element_effect(recs[k], economy, money)}")
    if compiled is not None:
        cost = compiled.attrs["annual_cost"]
        gdp = float(economy["V"].sum())
        share = _pct(cost / gdp if gdp else 0)
        lines += ["", f"年总成本：{money(cost)}（占GDP的{share}）。" if zh else
                  f"Total annual cost: {money(cost)}/yr ({share} of GDP)."]
    return "\n".join(lines)


__all__ = ["Plan", "Element", "parse_plan", "load_plan", "compile_plan", "list_plans",
           "describe_plan", "validate_plan_file", "builtin_plans", "stock_basis",
           "baseline_trade"]
