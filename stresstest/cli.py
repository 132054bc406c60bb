"""The ``stresstest`` command line (click).

Errors: a :class:`~stresstest.errors.StresstestError` prints ``error: <message>`` to stderr,
one line per problem (a file with several mistakes lists them all, see
:class:`~stresstest.errors.ProblemsError`), and exits with its ``exit_code`` (2 bad input, 1
failed run); click usage errors exit 2; anything unexpected prints one line and exits 1.
``--debug`` re-raises (full traceback). Warnings (inputs that cannot take effect,
:mod:`stresstest.checks`) print ``warning: <message>``; ``--strict`` makes them errors.

Long work: commands run in a worker thread so that Ctrl-C stops them within about a second in
every mode (:mod:`stresstest.interrupt`), printing ``interrupted`` and exiting with 130; off a
terminal, runs over several plans print one progress line each. Every output file is written
atomically.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
import textwrap
import time
from pathlib import Path

import click
import numpy as np

from ._version import __version__
from .errors import InputError, ProblemsError, StresstestError

MODES = ("rationing", "optimal", "dynamic", "leontief")
DEFAULT_ECONOMY = "china31"


# --------------------------------------------------------------------------- plumbing


class _State:
    def __init__(self, debug: bool = False, quiet: bool = False):
        self.debug, self.quiet = debug, quiet


#: Exit code after Ctrl-C (128 + SIGINT, the shell convention).
EXIT_INTERRUPTED = 130


def error_lines(exc: BaseException) -> list[str]:
    """The lines ``error: ...`` for an exception: one per problem of a
    :class:`~stresstest.errors.ProblemsError` (capped, with ``... and N more``), else one."""
    if isinstance(exc, ProblemsError):
        return [" ".join(line.split()) for line in exc.lines()] or [type(exc).__name__]
    return [" ".join(str(exc).split()) or type(exc).__name__]


class _Group(click.Group):
    """A group that runs its command in an interruptible worker (Ctrl-C: ``interrupted`` on
    stderr, exit 130, within about a second) and turns exceptions into ``error:`` lines on
    stderr and an exit code."""

    def invoke(self, ctx):
        from .interrupt import abandon, call_interruptibly

        try:
            return call_interruptibly(super().invoke, ctx)
        except KeyboardInterrupt as exc:  # Interrupted, or a Ctrl-C before or after the work
            click.echo("interrupted", err=True)
            if getattr(exc, "stuck", False):  # still inside a C call: leave without waiting
                abandon(exc.worker)
                for stream in (sys.stdout, sys.stderr):
                    with contextlib.suppress(Exception):
                        stream.flush()
                os._exit(EXIT_INTERRUPTED)
            ctx.exit(EXIT_INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, click.Abort, BrokenPipeError):
            raise  # click reports these (a closed pipe, e.g. ``| head``, exits quietly)
        except Exception as exc:  # noqa: BLE001 - the CLI boundary
            if getattr(ctx.obj, "debug", False):
                raise
            if isinstance(exc, StresstestError):
                for line in error_lines(exc):
                    click.echo(f"error: {line}", err=True)
                ctx.exit(exc.exit_code)
            msg = " ".join(str(exc).split()) or type(exc).__name__
            click.echo(f"error: unexpected {type(exc).__name__}: {msg} (rerun with --debug "
                       "for the traceback)", err=True)
            ctx.exit(1)


def _state() -> _State:
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return obj if isinstance(obj, _State) else _State(quiet=ctx is None)


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def _progress(items, label: str, kind: str = "plan"):
    """Progress on stderr over items that finish in any order: yields ``tick(k, seconds)``,
    to call as item ``k`` finishes. A bar on a terminal (two items or more), else one line per
    item (``[2/5] plan three-tasks-balanced: 3.1 s``), in the items' order, each as soon as it
    and every item before it have finished; silent with ``--quiet``."""
    items = list(items)
    if _state().quiet or (_isatty(sys.stderr) and len(items) < 2):
        yield lambda k, seconds: None
        return
    if _isatty(sys.stderr):
        with click.progressbar(length=len(items), label=label, file=sys.stderr, show_pos=True,
                               item_show_func=lambda x: None if x is None else str(x)) as bar:
            yield lambda k, seconds: bar.update(1, current_item=items[k])
        return
    took: dict = {}
    shown = 0

    def tick(k, seconds):
        nonlocal shown
        took[k] = seconds
        while shown in took:
            click.echo(f"[{shown + 1}/{len(items)}] {kind} {items[shown]}: "
                       f"{_seconds(took[shown])}", err=True)
            shown += 1

    yield tick


def _seconds(s: float) -> str:
    from .checks import fmt_seconds

    return fmt_seconds(s)


def _set_strict(ctx, param, value):
    if value:
        ctx.meta["stresstest.strict"] = True
    return value


_strict_option = click.option(
    "--strict", is_flag=True, expose_value=False, callback=_set_strict,
    help="Treat warnings (plan elements or events that cannot take effect in this run) as "
         "errors (exit 2).")


def _strict() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get("stresstest.strict"))


def _warn(lines) -> None:
    """Print ``warning: ...`` lines on stderr, or raise them as errors with ``--strict``."""
    lines = list(lines)
    if lines and _strict():
        raise ProblemsError(*lines)
    for line in lines:
        click.echo(f"warning: {line}", err=True)


def _run_context() -> tuple[str, dict] | None:
    """``(mode, options)`` of the running ``run``/``compare``/``report`` command (from its
    click parameters), or ``None`` outside one."""
    ctx = click.get_current_context(silent=True)
    if ctx is None or "mode" not in ctx.params:
        return None
    return ctx.params["mode"], _parse_options(ctx.params.get("options") or ())


def _before_runs(eco, scenario, plans: dict, horizon, shock) -> None:
    """Inside a CLI command: warnings (:func:`stresstest.checks.scenario_warnings`,
    :func:`~stresstest.checks.plan_warnings`) and, for work expected to take over a minute, an
    estimate on stderr; installs the solver interrupt hooks (:mod:`stresstest.interrupt`)."""
    from .checks import estimate_seconds, fmt_seconds, plan_warnings, scenario_warnings
    from .interrupt import install_solver_hooks

    context = _run_context()
    if context is None:  # called from Python (make_report): no checks, no hooks
        return
    install_solver_hooks()
    mode, opts = context
    lines = scenario_warnings(scenario, horizon)
    for compiled in plans.values():
        lines += plan_warnings(compiled, eco, mode, opts)
    _warn(lines)
    n = max(len(plans), 1)
    est = estimate_seconds(eco, mode, n, horizon=int(shock.attrs.get("horizon", 365)),
                           options=opts)
    if est > 60 and not _state().quiet:
        click.echo(f"note: this will take about {fmt_seconds(est)} ({n} run{'s' * (n > 1)} in "
                   f"mode {mode}, a rough estimate); Ctrl-C stops it", err=True)


def _need(module: str):
    """Import a stresstest module, or fail with one clear line when it is not installed."""
    import importlib

    try:
        return importlib.import_module(f"stresstest.{module}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("stresstest"):
            raise StresstestError(f"this command needs stresstest.{module}, which is not "
                                  "available in this installation") from None
        raise


def _parse_options(pairs) -> dict:
    """``KEY=VALUE`` strings -> dict; values are JSON when they parse (numbers, true/false,
    lists), else strings."""
    out = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--option")
        low = raw.strip()
        try:
            value = json.loads({"True": "true", "False": "false"}.get(low, low))
        except json.JSONDecodeError:
            value = raw
        out[key] = value
    return out


def _write_text(path: Path, text: str) -> Path:
    from .economy import write_atomic

    def writer(tmp):
        Path(tmp).write_text(text, encoding="utf-8")
        os.chmod(tmp, 0o666 & ~_umask())

    return write_atomic(path, writer)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def result_in_unit(res, unit=None):
    """A copy of a Result with its money variables in ``unit`` (:mod:`stresstest.units`;
    default: bn yuan for yuan economies) and their ``units`` attributes (``"bn yuan per
    year"``); the Result's ``units`` attribute says the same."""
    from .result import MONEY
    from .units import factor

    eco_units = str(res.attrs.get("units", ""))
    f, label = factor(eco_units, unit)
    out = res.copy()
    money = [v for v in out.data_vars
             if v in MONEY or str(out[v].attrs.get("units", "")).endswith(" per year")]
    for v in money:
        attrs = dict(out[v].attrs)
        out[v] = out[v] * f
        attrs["units"] = f"{label} per year"
        out[v].attrs = attrs
    out.attrs = {**res.attrs, "units": label, "economy_units": eco_units}
    return out


def write_result(res, path, unit=None) -> Path:
    """A Result to netCDF, atomically (boolean attrs stored as 0/1), money in ``unit``
    (:func:`result_in_unit`)."""
    from .economy import _netcdf_engine, write_atomic

    res = result_in_unit(res, unit)
    out = res.copy()
    out.attrs = {k: (int(v) if isinstance(v, (bool, np.bool_)) else v)
                 for k, v in res.attrs.items()}
    for c in list(out.coords):
        if out[c].dtype.kind in "OUT":
            out = out.assign_coords({c: out[c].astype(str).astype(object)})

    def writer(tmp):
        out.to_netcdf(tmp, engine=_netcdf_engine())
        os.chmod(tmp, 0o666 & ~_umask())

    return write_atomic(path, writer)


def write_result_csv(res, folder, unit=None) -> list[Path]:
    """One tidy CSV per Result variable (dims as columns, then ``value`` and ``units``;
    codes also ``meaning``), money in ``unit``, atomically."""
    res = result_in_unit(res, unit)
    folder = Path(folder)
    paths = []
    for name in res.data_vars:
        da = res[name]
        df = da.to_dataframe(name="value").reset_index()
        df = df[[*da.dims, "value"]]
        df["units"] = str(da.attrs.get("units", ""))
        if "flag_values" in da.attrs:
            meaning = dict(zip(list(da.attrs["flag_values"]),
                               str(da.attrs["flag_meanings"]).split()))
            df["meaning"] = df["value"].map(meaning)
        paths.append(_write_text(folder / f"{name}.csv", df.to_csv(index=False)))
    return paths


def _economy(name):
    from .economy import load_economy

    return load_economy(name)


def _width(text: str) -> int:
    """Terminal columns of ``text`` (East Asian wide and full-width characters take two)."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, align: str, width: int) -> str:
    fill = " " * max(width - _width(text), 0)
    return fill + text if align == ">" else text + fill


def _table(headers, rows, align=None) -> str:
    """A plain-text table with aligned columns (Chinese characters count double)."""
    rows = [[str(c) for c in r] for r in rows]
    align = align or ["<"] + [">"] * (len(headers) - 1)
    widths = [max([_width(str(h))] + [_width(r[i]) for r in rows])
              for i, h in enumerate(headers)]
    line = "  ".join(_pad(str(h), a, w) for h, a, w in zip(headers, align, widths))
    out = [line.rstrip(), "  ".join("-" * w for w in widths)]
    out += ["  ".join(_pad(c, a, w) for c, a, w in zip(r, align, widths)).rstrip() for r in rows]
    return "\n".join(out)


def _short(text, width: int = 90) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


# --------------------------------------------------------------------------- group


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="stresstest")
@click.option("--debug", is_flag=True, help="Show full tracebacks.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars, progress lines or time estimates.")
@click.pass_context
def cli(ctx, debug, quiet):
    """Resilience stress tests for regional economies on multi-regional IO tables."""
    ctx.obj = _State(debug, quiet)


# --------------------------------------------------------------------------- economies


@cli.command()
def economies():
    """List the built-in economies."""
    import xarray as xr

    from .economy import _netcdf_engine, builtin_economies

    rows = []
    for name, path in builtin_economies().items():
        with xr.open_dataset(path, engine=_netcdf_engine()) as ds:
            dims = f'{ds.sizes.get("region", 0)} x {ds.sizes.get("sector", 0)}'
            rows.append([name, dims, ds.attrs.get("units", ""),
                         _short(ds.attrs.get("description", ds.attrs.get("title", "")), 70)])
    if not rows:
        click.echo("no built-in economies")
        return
    click.echo(_table(["name", "regions x sectors", "units", "description"], rows,
                      ["<", ">", "<", "<"]))


def fmt_number(v, key: str = "") -> str:
    """A number for people: thousands separators (``1,007,450``), 4 significant digits for
    ordinary ratios (``3.252``, ``0.6663``), 3 in scientific notation for tiny or huge ones
    (``7.96e-16``); years (``key`` containing ``year``) and small integers as they are."""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        v = int(v)
        if "year" in key.lower() or abs(v) < 10_000:
            return str(v)
        return f"{v:,}"
    v = float(v)
    if not np.isfinite(v):
        return str(v)
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1e15 or a < 1e-3:
        return f"{v:.3g}"
    if a >= 1000:
        return f"{v:,.0f}"
    return f"{v:.4g}"


def _attr_text(key: str, v) -> str:
    if isinstance(v, (bool, np.bool_, int, float, np.integer, np.floating)):
        return fmt_number(v, key)
    if isinstance(v, np.ndarray):
        items = [fmt_number(x, key) if np.issubdtype(type(x), np.number) else str(x)
                 for x in v.ravel()[:8]]
        return ", ".join(items) + (f", ... ({v.size} values)" if v.size > 8 else "")
    return _short(v, 160)


#: Variables (and dims) ``info`` needs; a file without them is not an economy.
def _require_economy(ds, source) -> None:
    from .economy import DIMS

    missing = [v for v in DIMS if v not in ds.variables]
    if len(missing) == len(DIMS):
        have = list(map(str, ds.data_vars))
        have = (f"variables {', '.join(have[:6])}{' ...' if len(have) > 6 else ''}" if have
                else "no variables")
        raise InputError(f"{source}: not an economy: it has {have}, an economy has "
                         f"{', '.join(DIMS)}")
    if missing:
        raise InputError(f"{source}: not an economy: variable{'s' * (len(missing) > 1)} "
                         f"{', '.join(missing)} missing (an economy has {', '.join(DIMS)})")
    for v, dims in DIMS.items():
        if set(ds[v].dims) != set(dims):
            raise InputError(f"{source}: not an economy: variable {v!r} has dims "
                             f"{tuple(ds[v].dims)}, expected {dims}")


def economy_info(eco) -> list[tuple[str, str]]:
    """What ``stresstest info`` prints, as (label, text) pairs."""
    from .labels import region_words
    from .report import fmt_money, fmt_pct, region_names, sector_names

    units = str(eco.attrs.get("units", ""))
    x = eco["x"]
    total = float(x.sum())
    va = float(eco["V"].sum())
    imports = float(eco["M"].sum() + eco["MY"].sum())
    exports = float(eco["exports"].sum())
    shown_as = fmt_money(1, units).split(" ", 1)
    title = " — ".join(t for t in (str(eco.attrs.get("title", "")).strip(),
                                     str(eco.attrs.get("description", "")).strip()) if t)
    out = [("economy", title or "(no title)"),
           ("dims", ", ".join(f"{d} {eco.sizes[d]}" for d in
                             ("region", "sector", "use", "component") if d in eco.sizes)),
           ("units", f"{units} per year (money shown as "
                     f"{shown_as[1] if len(shown_as) > 1 and shown_as[1] else units})"),
           ("gross output", fmt_money(total, units)), ("value added", fmt_money(va, units)),
           ("final use (domestic)", fmt_money(float(eco["Y"].sum()), units)),
           ("exports", fmt_money(exports, units)), ("imports", fmt_money(imports, units))]
    rn, sn = region_names(eco), sector_names(eco)
    by_r = x.sum("sector").values
    by_s = x.sum("region").values
    share = (lambda v: fmt_pct(v / total)) if total else (lambda v: "—")
    out.append((f"largest {region_words(eco)}", ", ".join(
        f"{rn[i]} {share(by_r[i])}" for i in np.argsort(-by_r, kind="stable")[:5])))
    out.append(("largest sectors", ", ".join(f"{sn[i]} {share(by_s[i])}"
                                              for i in np.argsort(-by_s, kind="stable")[:5])))
    rows = (eco["Z"].sum(["region", "sector"]) + eco["Y"].sum(["region", "use"])).rename(
        {"origin": "region", "product": "sector"}) + eco["exports"]
    cols = eco["Z"].sum(["origin", "product"]) + eco["M"].sum("product") + eco["V"].sum("component")
    den = np.abs(x.values) + 1e-12 * abs(total) + 1e-300
    out.append(("identity residuals", f"row {np.max(np.abs(rows.values - x.values) / den):.2e}, "
                                      f"column {np.max(np.abs(cols.values - x.values) / den):.2e} "
                                      "(max relative to output)"))
    same = np.equal.outer(np.arange(eco.sizes["region"]), np.arange(eco.sizes["region"]))
    zr = eco["Z"].sum(["product", "sector"]).transpose("origin", "region").values
    yr = eco["Y"].sum(["product", "use"]).transpose("origin", "region").values
    flows = zr + yr
    inter = float(flows[~same].sum())
    domestic = float(flows.sum())
    text = fmt_money(inter, units)
    if domestic > 0:
        text += f" = {fmt_pct(inter / domestic)} of domestic flows"
    intl = exports + imports
    if intl > 0 and inter > 0:
        text += f", {fmt_number(inter / intl)}x international trade (exports + imports)"
    elif intl <= 0:
        text += "; no international trade in the table (exports and imports are zero)"
    out.append(("interregional trade", text))
    for k, v in eco.attrs.items():
        # calibration_range_*: numeric twins of the calibration_*_range texts
        if k in ("title", "description", "units") or k.startswith("calibration_range_"):
            continue
        out.append((k, _attr_text(k, v)))
    return out


def _info_economy(name):
    """The economy ``info`` describes, or :class:`InputError` in one line when ``name`` is not
    one (a scenario or plan file, a netCDF file of something else, any other file)."""
    from .economy import builtin_economies, load_economy

    path = Path(str(name))
    if name not in builtin_economies() and path.is_dir():
        raise InputError(f"{name}: is a folder, not an economy (a netCDF file or a built-in "
                         f"name: {', '.join(sorted(builtin_economies())) or 'none'})")
    if name not in builtin_economies() and path.is_file():
        kind = _file_kind(path)
        if path.suffix.lower() == ".toml":
            raise InputError(f"{name}: not an economy but a {kind} file (see: stresstest show "
                             f"{name})")
        if kind != "economy":
            raise InputError(f"{name}: not an economy (expected a netCDF file, .nc)")
    try:
        eco = load_economy(name, validate=False)
    except InputError as exc:
        if path.is_file():
            raise InputError(f"{name}: not an economy (cannot read it as netCDF)") from exc
        raise
    _require_economy(eco, name)
    return eco


@cli.command()
@click.argument("economy")
def info(economy):
    """Describe ECONOMY (a built-in name or a netCDF file)."""
    eco = _info_economy(economy)
    items = economy_info(eco)
    width = max(len(k) for k, _ in items)
    for k, v in items:
        click.echo(f"{k:<{width}}  {v}")


@cli.command()
@click.argument("economy", required=False, default=DEFAULT_ECONOMY)
@click.option("--regions", "what", flag_value="regions", help="Only the regions.")
@click.option("--sectors", "what", flag_value="sectors", help="Only the sectors (= products).")
@click.option("--uses", "what", flag_value="uses", help="Only the final uses.")
@click.option("--groups", "what", flag_value="groups", help="Only the groups and their members.")
def labels(economy, what):
    """List the labels scenario and plan files may use on ECONOMY [default: china31]: region,
    sector and use codes with English and Chinese names, and the groups (all, coastal,
    inland, each zone; critical, tradable, nontradable; consumption, inventory) with their
    members."""
    from .labels import groups, region_table, region_word, region_words, sector_table, \
        use_table

    eco = _info_economy(economy)
    name = str(eco.attrs.get("title", economy)) or str(economy)
    sections = []
    if what in (None, "regions"):
        head, rows = region_table(eco)
        sections.append(f"{len(rows)} {region_words(eco)} ({name})\n" + _table(
            head, rows, ["<"] * len(head)))
    if what in (None, "sectors"):
        head, rows = sector_table(eco)
        sections.append(f"{len(rows)} sectors (products)\n" + _table(head, rows,
                                                                      ["<"] * len(head)))
    if what in (None, "uses"):
        head, rows = use_table(eco)
        sections.append(f"{len(rows)} final uses\n" + _table(head, rows, ["<"] * len(head)))
    if what in (None, "groups"):
        lines = []
        titles = {"regions": f"{region_word(eco)} groups", "sectors": "sector groups",
                  "uses": "use groups"}
        for dim, members in groups(eco).items():
            lines.append(titles[dim])
            width = max(len(g) for g in members)
            for g, labels_ in members.items():
                head = f"  {g:<{width}}  ({len(labels_)}) "
                lines.append(textwrap.fill(", ".join(labels_) or "-", width=100,
                                           initial_indent=head, subsequent_indent=" " * len(head),
                                           break_on_hyphens=False))
        sections.append("\n".join(lines))
    click.echo("\n\n".join(sections))


@cli.command("import")
@click.argument("kind", type=click.Choice(["ceads", "wiod", "pymrio", "csv"]))
@click.argument("src")
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False),
              help="netCDF file to write.")
@click.option("--sheet", default=None, help="CEADs workbook sheet.")
def import_(kind, src, out, sheet):
    """Import an MRIO (CEADs workbook, WIOD CSV, pymrio folder/zip or 'test', long CSV)."""
    from .economy import save_economy

    io = _need("io")
    if not (kind == "pymrio" and src == "test") and not Path(src).exists():
        raise InputError(f"{src}: no such file or folder")
    if kind == "ceads":
        eco = io.read_ceads(src, sheet=sheet)
    elif kind == "wiod":
        eco = io.read_wiod(src)
    elif kind == "csv":
        eco = io.read_csv(src)
    else:
        try:
            import pymrio
        except ImportError:
            raise InputError("importing from pymrio needs the pymrio package") from None
        if src == "test":
            system = pymrio.load_test()
        else:
            try:
                system = pymrio.load_all(src)
            except Exception as exc:  # noqa: BLE001 - reader failure is bad input
                raise InputError(f"{src}: cannot read as a pymrio IOSystem ({exc})") from None
        eco = io.from_pymrio(system)
    path = save_economy(eco, out)
    click.echo(f"wrote {path} ({eco.sizes['region']} regions x {eco.sizes['sector']} sectors)")


# --------------------------------------------------------------------------- scenarios, plans


@cli.command()
def scenarios():
    """List the built-in shock scenarios."""
    sc = _need("scenario")
    rows = [[s["name"], _short(s["description"])] for s in sc.list_scenarios()]
    click.echo(_table(["name", "description"], rows, ["<", "<"]))


@cli.command()
def plans():
    """List the built-in backup plans."""
    pl = _need("plan")
    rows = [[p["name"], _short(p["description"])] for p in pl.list_plans()]
    click.echo(_table(["name", "description"], rows, ["<", "<"]))


def _names(module, lister) -> set:
    try:
        return {d["name"] for d in getattr(_need(module), lister)()}
    except StresstestError:
        return set()


@cli.command()
@click.argument("name")
@click.option("--economy", default=None, help=f"Economy for the compiled effect "
                                               f"[default: {DEFAULT_ECONOMY}].")
def show(name, economy):
    """Describe a scenario or a plan (NAME or a .toml file) and its effect on an economy."""
    from .economy import builtin_economies

    if economy is None:
        eco = _economy(DEFAULT_ECONOMY) if DEFAULT_ECONOMY in builtin_economies() else None
    else:
        eco = _economy(economy)
    scen_names, plan_names = _names("scenario", "list_scenarios"), _names("plan", "list_plans")
    if name in scen_names:
        kind = "scenario"
    elif name in plan_names:
        kind = "plan"
    elif Path(name).is_file():
        kind = _file_kind(Path(name))
    else:
        raise InputError(f"{name!r} is neither a built-in scenario ({', '.join(sorted(scen_names))}"
                         f") nor a plan ({', '.join(sorted(plan_names))}) nor a file")
    if kind == "scenario":
        sc = _need("scenario")
        if eco is not None:
            sc.compile_scenario(name, eco)  # every problem of the file, format and labels
        click.echo(sc.describe_scenario(sc.load_scenario(name), eco))
    else:
        pl = _need("plan")
        if eco is not None:
            pl.compile_plan(name, eco)
        click.echo(pl.describe_plan(pl.load_plan(name), eco))


def _file_kind(path: Path) -> str:
    """``"scenario"``, ``"plan"`` or ``"economy"`` from a file's extension and top-level keys."""
    if path.suffix.lower() in (".nc", ".nc4", ".netcdf"):
        return "economy"
    import tomllib

    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return "plan" if "plans" in path.parts else "scenario"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:  # guess from the lines that look like keys and tables
        import re

        keys = set(re.findall(r"^\s*\[*\s*([A-Za-z_]+)\s*(?:\]|=)", text, re.M))
        data = {k: None for k in keys}
    from .plan import TOP_ALIASES as PLAN_ALIASES
    from .scenario import TOP_ALIASES as SCENARIO_ALIASES

    # keys only one kind has, weighted 2 when the value has the right shape (an array of
    # tables, a whole number of days), 1 when it does not; likely mistakes count 1/2
    def shaped(key):
        v = data[key]
        if key in ("events", "standby", "stockpile", "substitution", "corridor",
                   "new_industry"):
            return isinstance(v, list) and bool(v) and all(isinstance(t, dict) for t in v)
        return key == "horizon" and isinstance(v, int) and not isinstance(v, bool)

    def score(keys, aliases):
        return (sum(2 if shaped(k) else 1 for k in keys if k in data)
                + 0.5 * sum(k in data for k in aliases))

    scen = score(("events", "horizon", "window", "parameters"), SCENARIO_ALIASES)
    plan = score(("standby", "stockpile", "substitution", "corridor", "new_industry", "elements"),
                 PLAN_ALIASES)
    if scen != plan:
        return "scenario" if scen > plan else "plan"
    if "plans" in path.parts or set(data) <= {"name", "description"}:
        return "plan"  # an empty plan is valid; a scenario needs a horizon
    return "scenario"
    if any(k in data for k in ("standby", "stockpile", "substitution", "corridor",
                               "new_industry", "elements")):
        return "plan"
    if any(k in data for k in ("window", "parameters", *SCENARIO_ALIASES)):
        return "scenario"
    if any(k in data for k in PLAN_ALIASES):
        return "plan"
    if "plans" in path.parts or set(data) <= {"name", "description"}:
        return "plan"  # an empty plan is valid; a scenario needs a horizon
    return "scenario"


@cli.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--economy", default=None,
              help=f"Economy whose labels the files must use: a built-in name or a netCDF file "
                   f"[default: {DEFAULT_ECONOMY}].")
@click.option("--mode", type=click.Choice(MODES), default="rationing", show_default=True,
              help="Mode whose use of the plans is checked.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="Mode option of the intended runs (e.g. recipe=strict), for the plan checks.")
@_strict_option
def validate(files, economy, mode, options):
    """Check scenario, plan (.toml) or economy (.nc) FILES; exit 2 if any fails.

    Every problem of a file is listed, one line each on stderr; stdout gets one ``ok`` line per
    good file. Plan elements or events that cannot take effect are warnings (errors with
    --strict).
    """
    from .checks import plan_warnings, scenario_warnings
    from .economy import builtin_economies, load_economy

    opts = _parse_options(options)
    if economy is not None:
        eco = load_economy(economy, validate=False)
    elif DEFAULT_ECONOMY in builtin_economies():
        eco = load_economy(DEFAULT_ECONOMY, validate=False)
    else:
        eco = None
    failed = 0
    unknown_labels = False
    for f in files:
        path = Path(f)
        try:
            if not path.is_file():
                raise InputError(f"{f}: no such file")
            kind = _file_kind(path)
            warnings = []
            if kind == "economy":
                load_economy(path)
            elif kind == "scenario":
                obj = _need("scenario").validate_scenario_file(path, eco)
                warnings = scenario_warnings(obj)
            else:
                pl = _need("plan")
                obj = pl.validate_plan_file(path, eco)
                if eco is not None:
                    warnings = plan_warnings(pl.compile_plan(obj, eco), eco, mode, opts)
            if warnings and _strict():
                raise ProblemsError(*warnings)
            for w in warnings:
                click.echo(f"warning: {w}", err=True)
            note = f", {len(warnings)} warning{'s' * (len(warnings) > 1)}" if warnings else ""
            click.echo(f"{f}: ok ({kind}{note})")
        except StresstestError as exc:
            failed += 1
            unknown_labels |= any(f": unknown {w} " in p for p in getattr(exc, "problems", ())
                                  for w in ("region", "sector", "product", "use"))
            for line in error_lines(exc):
                head = line.split(": ", 1)[0]
                if not (line.startswith(f"{f}:") or path.name in head):
                    line = f"{f}: {line}"
                click.echo(f"error: {line}", err=True)
    if failed:
        if unknown_labels and economy is None and eco is not None:
            click.echo(f"note: labels were checked against {DEFAULT_ECONOMY}; give --economy "
                       "NAME|FILE for another table (stresstest labels lists an economy's)",
                       err=True)
        click.echo(f"error: {failed} of {len(files)} files failed validation", err=True)
        raise click.exceptions.Exit(2)


# --------------------------------------------------------------------------- runs


def _compiled_inputs(eco, scenario, plan_names, horizon):
    """Compiled shock and ``{plan: compiled plan}`` (``none`` first when present).

    Every problem of the scenario and the plans is reported together. Inside a
    ``run``/``compare``/``report`` command it then prints the warnings of
    :mod:`stresstest.checks` for the command's ``--mode`` and ``--option`` (errors with
    ``--strict``) and a time estimate for long work."""
    sc = _need("scenario")
    errors = []
    shock = None
    try:
        shock = sc.compile_scenario(scenario, eco, horizon=horizon)
    except StresstestError as exc:
        errors.append(exc)
    plans = {}
    if plan_names:
        pl = _need("plan")
        for p in plan_names:
            try:
                compiled = pl.compile_plan(p, eco)
            except StresstestError as exc:
                errors.append(exc)
                continue
            plans[str(compiled.attrs.get("plan", p))] = compiled
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ProblemsError(*[line for e in errors for line in
                              (e.problems if isinstance(e, ProblemsError) else [str(e)])])
    _before_runs(eco, scenario, plans, horizon, shock)
    return shock, plans


def _run_plan(eco, shock, plan, mode: str, options: dict, band: bool):
    """One plan's Result (its band Result when ``band``) and the seconds it took."""
    t0 = time.perf_counter()
    if band:
        res = _need("band").run_band(eco, shock, plan, **options)
    else:
        res = _need("api").run(eco, shock, plan, mode=mode, **options)
    return res, time.perf_counter() - t0


def _run_all(eco, shock, plans: dict, mode: str, options: dict, band: bool = False) -> dict:
    """``{plan: Result}`` (band Results when ``band``), with progress over plans. The plans
    run side by side on forked worker processes where the platform forks
    (:func:`stresstest.ensemble.run_in_process`; each is the same computation as alone, so
    the Results are the same), one after another elsewhere."""
    from .ensemble import fork_context, run_in_process

    names = list(plans)
    jobs = [(eco, shock, plans[p], mode, options, band) for p in names]
    with _progress(names, f"running {len(names)} plans") as tick:
        runs = run_in_process(_run_plan, jobs, threads=None if fork_context() else 1,
                              done=lambda k, run: tick(k, run[1]))
    return {p: res for p, (res, _) in zip(names, runs)}


def _use_band(band, mode: str) -> bool:
    """``--band/--no-band``: on by default around the rationing central estimate."""
    if band is None:
        return mode == "rationing"
    if band and mode != "rationing":
        raise click.UsageError(f"--band: the band is defined around the central estimate "
                               f"(mode rationing), not mode {mode!r}")
    return bool(band)


def _with_none(plans: list[str]) -> list[str]:
    return plans if "none" in plans else ["none", *plans]


def _summary_lines(res, eco, unit=None) -> list[str]:
    from .band import MEANING, is_band, select_estimate
    from .report import (binding_counts, fmt_amplification, fmt_band, fmt_money, fmt_pct,
                         region_names, sector_names)

    metrics = _need("metrics")
    rn, sn = region_names(eco), sector_names(eco)
    sidx = {str(s): i for i, s in enumerate(eco["sector"].values)}
    a = res.attrs
    units = str(a.get("units", eco.attrs.get("units", "")))
    h = metrics.headline(res)
    mode = f"{a.get('mode')} (recipe {a.get('recipe')})" if a.get("recipe") else a.get("mode")
    w0, w1 = int(a.get("window_start", 0)), int(a.get("window_end", 1))
    dynamic = "time" in res["x"].dims
    lines = [f"scenario {a.get('scenario')} · plan {a.get('plan')} · mode {mode} · "
             f"economy {a.get('economy')} · shock window days {w0}–{w1 - 1} · event "
             f"{h['event_days']} days"]
    if dynamic:
        rec = h.get("recovery_day", np.nan)
        lines += [f"surviving output, average day of the window (days {w0}–{w1 - 1}): "
                  f"{fmt_pct(h['output_share'])}; value added {fmt_pct(h['va_share'])}",
                  f"surviving output over all {h['event_days']} days: "
                  f"{fmt_pct(h['output_share_horizon'])}; trough "
                  f"{fmt_pct(h['output_trough'])} on day {h['output_trough_day']}; recovered "
                  f"(loss within 1%) " + (f"from day {int(rec)}" if np.isfinite(rec) else
                                          "not by the last day")]
    else:
        lines.append(f"surviving output, average day of the window (days {w0}–{w1 - 1}): "
                     f"{fmt_band(h, 'output_share')}; value added {fmt_band(h, 'va_share')}")
    va_lost = fmt_money(h["va_loss_event"], units, unit)
    lines.append(f"value added lost over the event ({h['event_days']} days"
                 + ("" if dynamic else f", window x {h['event_factor']:.2f} by the daily "
                                       "direct shock") + "): "
                 + fmt_band(h, "va_loss_event", lambda v: fmt_money(v, units, unit))
                 + ("; below 0: value added above the baseline (the plan adds more than the "
                    "shock removes)" if va_lost.startswith("-") else ""))
    if np.isfinite(h.get("amplification", np.nan)):
        lines.append(f"amplification (output loss / direct shock) "
                     f"{fmt_band(h, 'amplification', fmt_amplification)}; direct shock "
                     f"{fmt_pct(h['direct_shock'] / float(res['x_baseline'].sum()))} of output"
                     + ("; below 0: output rises above the baseline (the plan adds more than "
                        "the shock removes)" if h["amplification"] <= -5e-3 else ""))
    if is_band(res):
        lines += ["", *(f"{e}: {MEANING[e]}" for e in ("central", "low", "high"))]
    central = select_estimate(res)
    cs = metrics.critical_supply(central)
    if cs["national"].size:
        worst = cs["worst"].min("time") if "time" in cs["worst"].dims else cs["worst"]
        wreg = cs["worst_region"]
        rows = []
        for p in cs["national"]["product"].values:
            wr = wreg.sel(product=p)
            if wr.ndim:
                wr = wr.isel(time=int(cs["worst"].sel(product=p).argmin("time")))
            wr = str(wr.values)
            rows.append([_short(sn[sidx[str(p)]], 44), fmt_band(h, f"csr:{p}"),
                         fmt_pct(float(worst.sel(product=p))),
                         rn[list(map(str, eco["region"].values)).index(wr)]])
        label = ("national: average day of the window, central [low – high]" if not dynamic
                 else "national: average day of the window; worst region: worst day")
        lines += ["", f"critical supply ({label})",
                  _table(["product", "national", "worst region", "region"], rows,
                         ["<", ">", ">", "<"])]
    by_r = metrics.surviving_share(central, "x", by="region")
    if "time" in by_r.dims:
        by_r = by_r.isel(time=slice(w0, w1)).mean("time")
    by_r = by_r.values
    lines += ["", "worst regions (surviving output, average day of the window, central): "
              + ", ".join(f"{rn[i]} {fmt_pct(by_r[i])}"
                          for i in np.argsort(by_r, kind="stable")[:5])]
    lines.append("binding constraints (central" + (", industry-days" if dynamic else "")
                 + "): " + ", ".join(f"{k} {v}" for k, v in binding_counts(central).items()))
    return lines


def _probabilities(ctx, param, value):
    """``--probability``: ``1%`` or ``0.01``; repeatable; in (0, 1]."""
    if not value:
        return None
    out = []
    for v in value:
        text = str(v).strip()
        try:
            p = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            raise click.BadParameter(f"{v!r} is not a probability (e.g. 1% or 0.01)") from None
        if not 0 < p <= 1 or not np.isfinite(p):
            raise click.BadParameter(f"{v!r} must be in (0, 1] (e.g. 1% or 0.01)")
        out.append(p)
    return tuple(dict.fromkeys(out))


def _check_unit(eco, unit):
    if unit is not None:
        from .units import factor

        factor(str(eco.attrs.get("units", "")), unit)  # InputError: one line, exit 2
    return unit


_mode_option = click.option("--mode", type=click.Choice(MODES), default="rationing",
                            show_default=True, help="Propagation mode.")
_economy_option = click.option("--economy", default=DEFAULT_ECONOMY, show_default=True,
                               help="Built-in economy name or netCDF file.")
_horizon_option = click.option("--horizon", type=click.IntRange(min=1, max=3650), default=None,
                               help="Days (overrides the scenario's horizon; at most 3650).")
_options_option = click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
                               help="Mode option or recipe parameter (repeatable).")
_unit_option = click.option(
    "--unit", default=None, metavar="UNIT",
    help="Money unit of every output: bn yuan, 亿元, 1e8 yuan, trillion yuan, ... [default: "
         "bn yuan for yuan economies, 亿元 in the Chinese report].")
_probability_option = click.option(
    "--probability", "probabilities", multiple=True, callback=_probabilities, metavar="P",
    help="Annual probability of the event for the expected benefit/cost, e.g. 1% or 0.01 "
         "(repeatable) [default: 1%, 2%, 5%].")
_samples_option = click.option(
    "--samples", type=click.IntRange(0, None), default=0, show_default=True, metavar="N",
    help="Also draw N samples of the uncertain inputs (scenario ranges, recipe parameters, "
         "the trade calibration of china31) for the 5-50-95% band and each plan's chance of "
         "ranking first (modes rationing and dynamic; dynamic adds a fan chart to the report).")
_seed_option = click.option("--seed", type=click.IntRange(0, None), default=0,
                            show_default=True, help="Seed of the sampled design.")
_scheduler_option = click.option(
    "--scheduler", default=None, metavar="ADDRESS",
    help="Run the samples on dask.distributed: a scheduler address or 'local' (a "
         "LocalCluster) [default: in this process].")


def _sampling_options(fn):
    """``--samples``, ``--seed`` and ``--scheduler`` (run, compare, report)."""
    return _samples_option(_seed_option(_scheduler_option(fn)))


def _check_samples(mode, samples, scheduler) -> None:
    """Fail before any run on a sampling request that cannot be met."""
    if not samples:
        if scheduler:
            raise InputError("--scheduler runs the samples: give --samples N")
        return
    modes = _need("sampling").SAMPLE_MODES
    if mode not in modes:
        raise InputError(f"--samples: mode {mode} cannot be sampled (one of "
                         f"{', '.join(modes)})")


def _sampled(eco, scenario, plan_names, mode, horizon, opts, samples, seed, scheduler):
    """The sampled band (:func:`stresstest.sampling.run_samples`) or None when not asked."""
    _check_samples(mode, samples, scheduler)
    if not samples:
        return None
    sampling = _need("sampling")
    return sampling.run_samples(eco, scenario, [p for p in plan_names if p != "none"],
                                samples=samples, seed=seed, mode=mode, horizon=horizon,
                                scheduler=scheduler, **opts)


def _markdown_section(sec: dict) -> list[str]:
    """A report section (title, intro, table, note) as Markdown lines."""
    t = sec["table"]
    esc = [[str(c).replace("|", "\\|") for c in row] for row in t["rows"]]
    return (["", f"**{sec['title']}**", "", sec["intro"], "",
             "| " + " | ".join(t["headers"]) + " |",
             "|" + "|".join(" --- " if a == "left" else " ---: " for a in t["align"]) + "|"]
            + ["| " + " | ".join(r) + " |" for r in esc] + ["", sec["note"]])


def sample_lines(samples, eco, unit=None) -> list[str]:
    """The sampled band as text lines (``run``/``compare --samples``)."""
    sec = _need("report").sample_section(samples, eco, unit)
    t = sec["table"]
    align = ["<"] + [">"] * (len(t["headers"]) - 1)
    return ["", sec["title"], textwrap.fill(sec["intro"], 100),
            _table(t["headers"], t["rows"], align), textwrap.fill(sec["note"], 100),
            textwrap.fill("Drawn: " + "; ".join(f"{r[0]} {r[1]}"
                                                for r in sec["inputs"]["rows"]), 100)]


_band_option = click.option(
    "--band/--no-band", default=None,
    help="Central estimate with its band: strict cascade (low) and coordinated optimum (high) "
         "[default: on in mode rationing].")


@cli.command()
@click.argument("scenario")
@_economy_option
@click.option("--plan", default=None, help="Backup plan name or file [default: none].")
@_mode_option
@_horizon_option
@_options_option
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the full Result (.nc) or its tables (.xlsx) to this file.")
@click.option("--format", "fmt", type=click.Choice(["netcdf", "xlsx"]), default=None,
              help="Format of -o [default: from its extension, .nc or .xlsx].")
@click.option("--csv", "csv_dir", type=click.Path(file_okay=False), default=None,
              help="Write tidy CSVs (one per variable, with units) to this folder.")
@_unit_option
@_band_option
@_sampling_options
@_strict_option
def run(scenario, economy, plan, mode, horizon, options, output, fmt, csv_dir, unit, band,
        samples, seed, scheduler):
    """Run SCENARIO (name or .toml) on an economy with an optional backup plan."""
    opts = _parse_options(options)
    eco = _economy(economy)
    _check_unit(eco, unit)
    tables = _need("tables")
    if output:
        fmt = tables.output_format(output, fmt, ("netcdf", "xlsx"), "run")
    elif fmt is not None:
        raise click.UsageError("--format needs -o FILE")
    band = _use_band(band, mode)
    _check_samples(mode, samples, scheduler)
    shock, plans = _compiled_inputs(eco, scenario, [plan] if plan else [], horizon)
    compiled_plan = next(iter(plans.values())) if plans else None
    if band:
        res = _need("band").run_band(eco, shock, compiled_plan, **opts)
    else:
        res = _need("api").run(eco, shock, compiled_plan, mode=mode, **opts)
    for line in _summary_lines(res, eco, unit):
        click.echo(line)
    drawn = _sampled(eco, scenario, [plan] if plan else [], mode, horizon, opts, samples, seed,
                     scheduler)
    if drawn is not None:
        for line in sample_lines(drawn, eco, unit):
            click.echo(line)
    if output and fmt == "netcdf":
        click.echo(f"wrote {write_result(res, output, unit)}")
    elif output:
        sheets, notes = run_sheets(res, eco, unit)
        click.echo(f"wrote {tables.write_xlsx(output, sheets, notes)}")
    if csv_dir:
        paths = write_result_csv(res, csv_dir, unit)
        click.echo(f"wrote {len(paths)} CSV files to {csv_dir}")


def run_sheets(res, eco, unit=None):
    """``({sheet: DataFrame}, notes)`` of one run: headline numbers (with units), critical
    supply by product, surviving output by region and by sector, binding constraints."""
    import pandas as pd

    from .band import select_estimate
    from .report import region_names, sector_names
    from .units import factor

    metrics = _need("metrics")
    f, label = factor(str(res.attrs.get("units", "")), unit)
    h = metrics.headline(res)
    rate = set(metrics.MONEY_RATE_KEYS)
    event = set(metrics.MONEY_EVENT_KEYS)
    rows = []
    for k, v in h.items():
        base = k[:-4] if k.endswith("_low") else k[:-5] if k.endswith("_high") else k
        if base in rate:
            rows.append([k, v * f, f"{label}/yr"])
        elif base in event:
            rows.append([k, v * f, label])
        else:
            rows.append([k, v, ""])
    central = select_estimate(res)
    cs = metrics.critical_supply(central)
    nat = cs["national"]
    lo, hi = int(res.attrs.get("window_start", 0)), int(res.attrs.get("window_end", 1))
    if "time" in nat.dims:
        nat = nat.isel(time=slice(lo, hi)).mean("time")
    worst = metrics.min_critical_supply(central).min("region")
    sn = dict(zip(map(str, eco["sector"].values), sector_names(eco)))
    crit = pd.DataFrame({"product": [str(p) for p in nat["product"].values],
                         "name": [sn[str(p)] for p in nat["product"].values],
                         "national [1 (share)]": nat.values,
                         "worst region [1 (share)]": worst.sel(product=nat["product"]).values})
    by = {}
    for dim, names in (("region", region_names(eco)), ("sector", sector_names(eco))):
        v = metrics.surviving_share(central, "x", by=dim)
        if "time" in v.dims:
            v = v.isel(time=slice(lo, hi)).mean("time")
        by[dim] = pd.DataFrame({dim: [str(x) for x in v[dim].values], "name": names,
                                "surviving output [1 (share)]": v.values})
    binding = metrics.binding_counts(central).rename("industries").reset_index().rename(
        columns={"index": "constraint"})
    sheets = {"headline": pd.DataFrame(rows, columns=["key", "value", "unit"]),
              "critical supply": crit, "regions": by["region"], "sectors": by["sector"],
              "binding": binding}
    notes = [("money unit", label), ("scenario", res.attrs.get("scenario", "")),
             ("plan", res.attrs.get("plan", "")), ("mode", res.attrs.get("mode", "")),
             ("economy", res.attrs.get("economy", "")),
             ("shock window", f"days {lo}-{hi - 1} (shares: the average day of the window)"),
             ("event", f"{h['event_days']} days (money over the event: window x "
                       f"{h['event_factor']:.3f}, see the benefit definition)"),
             ("stresstest", __version__)]
    notes += [(f"note {i + 1}", n) for i, n in enumerate(metrics.definitions(
        "en", label, h["event_days"], None if "time" in res["x"].dims else h["event_factor"]))]
    return sheets, notes


def compare_table(results: dict, eco, costs: dict, probabilities=None, unit=None,
                  lang: str = "en"):
    """Headline metrics per plan (:func:`stresstest.metrics.plan_table`: index plan, ranked
    by lowest p*, money in ``unit``)."""
    metrics = _need("metrics")
    return metrics.plan_table(results, costs, probabilities=probabilities, unit=unit,
                              lang=lang)


def _format_compare(df, eco, fmt: str, extra: dict | None = None) -> str:
    from .report import region_names

    tables = _need("tables")
    if fmt == "csv":
        return tables.to_csv(df)
    if fmt == "json":
        return tables.to_json(df, extra)
    # sector labels (short) in the columns, full names in the notes of the report
    sn = {str(s): str(s) for s in eco["sector"].values}
    rn = dict(zip(map(str, eco["region"].values), region_names(eco)))
    dynamic = "output_share_horizon" in df
    blocks = [
        ("Outcomes: surviving share on the average day of the shock window, central [low – "
         "high]" + ("" if not dynamic else "; over all days; trough (day); recovery day"),
         tables.outcome_headers(df, sn, "en", dynamic),
         tables.outcome_rows(df, sn, rn, "en", dynamic), 1),
        (f"Plan economics. {df.attrs.get('criterion', '')} Band alternatives (strict cascade; "
         "coordinated optimum) in brackets.", tables.economics_headers(df),
         tables.economics_rows(df), 2)]
    notes = [f"- {n}" for n in df.attrs.get("notes", [])]
    out = []
    for title, headers, rows, left in blocks:
        align = ["<"] * left + [">"] * (len(headers) - left)
        if fmt == "markdown":
            esc = [[str(c).replace("|", "\\|") for c in row] for row in rows]
            lines = [f"**{title}**", "", "| " + " | ".join(headers) + " |",
                     "|" + "|".join([" --- "] * left + [" ---: "] * (len(headers) - left))
                     + "|"]
            lines += ["| " + " | ".join(row) + " |" for row in esc]
            out.append("\n".join(lines))
        else:
            out.append(textwrap.fill(title, 100) + "\n" + _table(headers, rows, align))
    out.append("\n".join(notes))
    return "\n\n".join(out)


def _plan_list(plan):
    if plan:
        return list(dict.fromkeys(plan))
    names = [d["name"] for d in _need("plan").list_plans()]
    if not names:
        raise InputError("no shipped plans found; give --plan")
    return names


@cli.command()
@click.argument("scenario")
@click.option("--plan", multiple=True, help="Plan to compare (repeatable) [default: all shipped].")
@_economy_option
@_mode_option
@_horizon_option
@_options_option
@click.option("--format", "fmt",
              type=click.Choice(["table", "csv", "json", "markdown", "xlsx"]), default=None,
              help="Output format [default: from the extension of -o, else table]; xlsx needs "
                   "-o FILE.xlsx.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the comparison to this file (.txt, .csv, .json, .md or .xlsx) "
                   "instead of stdout.")
@_unit_option
@_probability_option
@_band_option
@_sampling_options
@_strict_option
def compare(scenario, plan, economy, mode, horizon, options, fmt, output, unit, probabilities,
            band, samples, seed, scheduler):
    """Compare backup plans side by side on SCENARIO, ranked by lowest break-even annual
    probability p* (annual cost / value added saved over the event)."""
    opts = _parse_options(options)
    eco = _economy(economy)
    _check_unit(eco, unit)
    tables = _need("tables")
    formats = ("table", "csv", "json", "markdown", "xlsx")
    if output:
        fmt = tables.output_format(output, fmt, formats, "compare")
    elif fmt == "xlsx":
        raise InputError("compare: --format xlsx needs -o FILE.xlsx (a workbook is not text)")
    fmt = fmt or "table"
    band = _use_band(band, mode)
    _check_samples(mode, samples, scheduler)
    names = _with_none(_plan_list(plan))
    shock, plans = _compiled_inputs(eco, scenario, names, horizon)
    results = _run_all(eco, shock, plans, mode, opts, band)
    costs = {p: float(c.attrs.get("annual_cost", 0.0)) for p, c in plans.items()}
    df = compare_table(results, eco, costs, probabilities, unit)
    drawn = _sampled(eco, scenario, names, mode, horizon, opts, samples, seed, scheduler)
    sampled = None
    if drawn is not None:
        sampled = _need("sampling").sample_table(drawn)
        money = [c for c in sampled.columns if c.startswith("benefit_")]
        sampled[money] = sampled[money] * _need("units").factor(
            str(eco.attrs.get("units", "")), unit)[0]
        if fmt in ("csv", "json"):
            df = df.join(sampled.add_prefix("sampled_"))
    extra = {"scenario": str(shock.attrs.get("scenario", scenario)), "mode": mode,
             "band": bool(band), "economy": str(eco.attrs.get("title", economy)),
             "stresstest": __version__}
    if fmt == "xlsx":
        econ = tables.export_frame(df)

        def base(c):
            b = c.split(" [")[0]
            return b[:-4] if b.endswith("_low") else b[:-5] if b.endswith("_high") else b

        money = ("benefit", "essential_days", "person_days", "cost", "breakeven_p", "harm")
        shares = ("output_share", "va_share", "worst_csr", "worst_region", "worst_product",
                  "output_share_horizon", "output_trough", "output_trough_day",
                  "recovery_day", "va_share_horizon", "va_trough")
        sheets = {"economics": econ[["plan", "rank"] + [
                      c for c in econ.columns if base(c) in money
                      or base(c).startswith("bc_at_")]],
                  "outcomes": econ[["plan"] + [c for c in econ.columns if base(c) in shares
                                               or base(c).startswith("csr:")]],
                  "all numbers": econ}
        if sampled is not None:
            sheets["sampled band"] = sampled.reset_index()
        click.echo(f"wrote {tables.write_xlsx(output, sheets, tables.notes_rows(df, extra))}")
        return
    text = _format_compare(df, eco, fmt, extra)
    if drawn is not None and fmt in ("table", "markdown"):
        text = text.rstrip("\n") + "\n" + "\n".join(
            sample_lines(drawn, eco, unit) if fmt == "table"
            else _markdown_section(_need("report").sample_section(drawn, eco, unit)))
    if output:
        _write_text(Path(output), text if text.endswith("\n") else text + "\n")
        click.echo(f"wrote {output}")
    else:
        click.echo(text.rstrip("\n"))


# --------------------------------------------------------------------------- report


CHOKE_TEXT = {
    "en": {"title": "Chokepoints of this scenario: output lost by the industries each one binds",
           "lp_title": "Marginal value of capacity (LP duals)",
           "lp_note": "Where one more unit of capacity adds most to the objective (no plan).",
           "chokepoint": "chokepoint", "kind": "binds as", "industries": "industries bound",
           "lost": "output lost over the event [{unit}]", "share": "share of the output loss",
           "import": "foreign supply of {p}", "route": "interregional routes for {p}",
           "kinds": {"input": "input", "import": "import", "route": "route",
                     "capacity": "own capacity"},
           "note": ("No plan, central estimate. Each industry's lost output is attributed to "
                    "what binds it: a short input to the regions supplying it (by their "
                    "deliveries times their own shortfall), an import to foreign supply, a "
                    "route to interregional routes, capacity to the industry itself. Over the "
                    "event on the benefit's basis.")},
    "zh": {"title": "本情景的瓶颈：受其约束的行业损失的产出",
           "lp_title": "产能的边际价值（线性规划对偶）", "lp_note": "增加一单位产能对目标贡献最大之处（无方案）。",
           "chokepoint": "瓶颈", "kind": "约束类型", "industries": "受约束行业数",
           "lost": "事件期间损失的产出（{unit}）", "share": "占产出损失比例",
           "import": "{p}的境外供给", "route": "{p}的省际运输",
           "kinds": {"input": "投入", "import": "进口", "route": "运输", "capacity": "自身产能"},
           "note": "无方案，中心估计。每个行业损失的产出归因于约束它的因素：短缺的投入归于供应该投入的地区（按"
                   "其供货量乘以其自身缺口），进口归于境外供给，运输归于省际运输，产能归于该行业本身。按效益"
                   "的口径计算整个事件期间。"},
}


def _chokepoints(eco, results: dict, mode: str, lang: str, unit=None) -> dict:
    from .report import LABELS, chokepoints_from_values, fmt_amount, fmt_pct, region_names, \
        sector_names
    from .units import factor

    L, T = LABELS[lang], CHOKE_TEXT[lang]
    units = str(eco.attrs.get("units", ""))
    base = results.get("none") or next(iter(results.values()))
    if "capacity_value" in base:
        cv = base["capacity_value"]
        if "time" in cv.dims:
            cv = cv.mean("time")
        return chokepoints_from_values(cv, eco, title=T["lp_title"], value_label=L["value"],
                                       units=units, lang=lang, note=T["lp_note"], unit=unit)
    metrics = _need("metrics")
    df = metrics.chokepoints(base, eco, top=10)
    if df.empty:
        return {"unavailable": "no industry is bound by a constraint" if lang == "en"
                else "没有受约束的行业"}
    f, label = factor(units, unit, lang)
    rn = dict(zip(map(str, eco["region"].values), region_names(eco, lang)))
    sn = dict(zip(map(str, eco["sector"].values), sector_names(eco, lang)))
    rows = []
    for k, r in df.iterrows():
        if r["kind"] in ("import", "route"):
            name = T[r["kind"]].format(p=sn[r["product"]])
        else:
            name = f"{rn[r['region']]} · {sn[r['product']]}"
        rows.append([str(k), name, T["kinds"][r["kind"]], str(int(r["industries"])),
                     fmt_amount(r["loss"] * f, "").strip(), fmt_pct(r["share"])])
    return {"title": T["title"], "headers": [L["rank"], T["chokepoint"], T["kind"],
                                             T["industries"], T["lost"].format(unit=label),
                                             T["share"]],
            "rows": rows, "align": ["right", "left", "left", "right", "right", "right"],
            "note": T["note"]}


def make_report(eco, scenario: str, plan_names, *, mode="rationing", horizon=None,
                options=None, lang="en", command="", band=False, unit=None,
                probabilities=None, samples=0, seed=0, scheduler=None) -> dict:
    """Run every plan (and ``none``) and build the report context (with a sampled band of
    ``samples`` draws when asked)."""
    from .report import build_report

    from .units import default_unit

    names = _with_none(list(plan_names))
    shock, plans = _compiled_inputs(eco, scenario, names, horizon)
    results = _run_all(eco, shock, plans, mode, options or {}, band)
    unit = unit or default_unit(str(eco.attrs.get("units", "")), lang)
    sc, pl = _need("scenario"), _need("plan")
    scen = sc.load_scenario(scenario)
    texts = {}
    for p in names:
        obj = pl.load_plan(p)
        texts[str(getattr(obj, "name", p))] = pl.describe_plan(obj, eco, lang=lang, unit=unit)
    leads = {}
    for p, c in plans.items():
        if c.sizes.get("standby", 0):
            leads[p] = [float(v) for v in np.unique(c["standby_lead_time"].values)]
    return build_report(
        eco, results, scenario_name=str(getattr(scen, "name", scenario)),
        scenario_text=sc.describe_scenario(scen, eco, lang=lang, unit=unit), plan_texts=texts,
        plan_costs={p: float(c.attrs.get("annual_cost", 0.0)) for p, c in plans.items()},
        plan_leads=leads, chokepoints=_chokepoints(eco, results, mode, lang, unit), lang=lang,
        command=command, unit=unit, probabilities=probabilities,
        samples=_sampled(eco, scenario, names, mode, horizon, options or {}, samples, seed,
                         scheduler))


@cli.command()
@click.argument("scenario")
@click.option("--plan", multiple=True, help="Plan (repeatable) [default: all shipped].")
@_mode_option
@_economy_option
@_horizon_option
@_options_option
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="HTML file [default: reports/SCENARIO.html]; the .md twin goes next to it.")
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True)
@_unit_option
@_probability_option
@_band_option
@_sampling_options
@_strict_option
def report(scenario, plan, mode, economy, horizon, options, output, lang, unit, probabilities,
           band, samples, seed, scheduler):
    """Write a self-contained HTML resilience report on SCENARIO and its Markdown twin."""
    from .report import write_report

    opts = _parse_options(options)
    eco = _economy(economy)
    _check_unit(eco, unit)
    stem = Path(scenario).stem if scenario.endswith(".toml") else scenario
    out = Path(output) if output else Path("reports") / f"{stem}.html"
    if out.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"report: cannot write {str(out)!r}: the report is HTML (.html) with "
                         "a Markdown twin next to it")
    band = _use_band(band, mode)
    _check_samples(mode, samples, scheduler)
    names = _plan_list(plan)
    cmd = ["stresstest", "report", scenario, *[a for p in names for a in ("--plan", p)],
           "--mode", mode, "--economy", economy, "--lang", lang]
    if horizon:
        cmd += ["--horizon", str(horizon)]
    for o in options:
        cmd += ["--option", o]
    if unit:
        cmd += ["--unit", unit]
    for p in probabilities or ():
        cmd += ["--probability", f"{100 * p:g}%"]
    if not band and mode == "rationing":
        cmd.append("--no-band")
    if samples:
        cmd += ["--samples", str(samples), "--seed", str(seed)]
    ctx = make_report(eco, scenario, names, mode=mode, horizon=horizon, options=opts, lang=lang,
                      command=shlex.join(cmd), band=band, unit=unit,
                      probabilities=probabilities, samples=samples, seed=seed,
                      scheduler=scheduler)
    html, md = write_report(out, ctx)
    click.echo(f"wrote {html} and {md}")


from . import cli_hinterland  # noqa: E402,F401  (registers the screen and site commands)


def main():
    """Console entry point."""
    cli(prog_name="stresstest")


if __name__ == "__main__":
    main()
