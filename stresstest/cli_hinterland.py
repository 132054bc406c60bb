"""The hinterland commands of the CLI: ``stresstest screen`` (host-region screening) and
``stresstest site`` (backup siting optimiser). Registered on the ``stresstest`` group by
:mod:`stresstest.cli`; the plumbing (errors, atomic writes, options) is the CLI's."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from .cli import (_economy, _economy_option, _options_option, _parse_options, _table,
                  _write_text, cli)
from .errors import InputError


def _weights(text):
    """``endowment=2,hub=1`` -> dict."""
    if not text:
        return None
    out = {}
    for part in text.split(","):
        key, sep, val = part.partition("=")
        try:
            out[key.strip()] = float(val)
        except ValueError:
            raise click.BadParameter(f"{part!r} is not CRITERION=NUMBER",
                                     param_hint="--weights") from None
        if not sep:
            raise click.BadParameter(f"{part!r} is not CRITERION=NUMBER",
                                     param_hint="--weights")
    return out


@cli.command()
@click.argument("economy", required=False, default=None)
@click.option("--scenario", "scenarios", multiple=True,
              help="Scenario for the exposure criterion (repeatable) [default: coastal-blockade "
                   "on china31, none otherwise].")
@click.option("--weights", default=None, metavar="C=W,...",
              help="Criterion weights, e.g. endowment=2,hub=1 (criteria: endowment, hub, "
                   "gradient, base, exposure; default 1 each).")
@click.option("--samples", type=click.IntRange(min=10), default=2000, show_default=True,
              help="Weight draws for the rank sensitivity.")
@click.option("--seed", type=int, default=0, show_default=True)
@_options_option
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the screening report (.html, with a .md twin) or the table (.csv, "
                   ".json).")
def screen(economy, scenarios, weights, samples, seed, options, fmt, output):
    """Rank the regions of ECONOMY [default: china31] as hinterland hosts: endowment, hub
    location, gradient to the coast, industrial base and exposure to the scenarios."""
    from .screen import screen as run_screen

    name = economy or "china31"
    eco = _economy(name)
    if not scenarios and name == "china31":
        scenarios = ("coastal-blockade",)
    ds = run_screen(eco, list(scenarios), weights=_weights(weights), samples=samples, seed=seed,
                    **_parse_options(options))
    df = ds[["score", "rank", "rank_p05", "rank_p95", "top_probability"]].to_dataframe()
    crit = ds["criterion_score"].to_pandas()
    df = df.join(crit).sort_values("rank")
    cmd = shlex.join(["stresstest", "screen", name, *[a for s in scenarios
                                                      for a in ("--scenario", s)]]
                     + (["--weights", weights] if weights else []))
    if output and Path(output).suffix.lower() in (".html", ".htm"):
        from .report.screen import screen_context, write_screen_report

        html, md = write_screen_report(output, screen_context(ds, eco, command=cmd))
        click.echo(f"wrote {html} and {md}")
        return
    if output:
        suffix = Path(output).suffix.lower()
        if suffix not in (".csv", ".json"):
            raise InputError(f"screen -o {output!r}: write .html (report), .csv or .json")
        fmt = suffix[1:]
    if fmt == "csv":
        text = df.reset_index().to_csv(index=False)
    elif fmt == "json":
        text = df.reset_index().to_json(orient="records", indent=2, force_ascii=False)
    else:
        rows = [[str(int(r["rank"])), str(idx), f"{r['score']:.3f}",
                 *[f"{r[c]:.2f}" for c in crit.columns],
                 f"{r['rank_p05']:.0f}-{r['rank_p95']:.0f}",
                 f"{100 * r['top_probability']:.0f}%"] for idx, r in df.iterrows()]
        text = _table(["rank", "region", "score", *crit.columns, "rank 5-95%", "P(top 5)"],
                      rows)
    if output:
        _write_text(Path(output), text if text.endswith("\n") else text + "\n")
        click.echo(f"wrote {output}")
    else:
        click.echo(text.rstrip("\n"))


@cli.command()
@click.option("--scenario", "scenarios", multiple=True, required=True,
              help="Scenario to protect against (repeatable).")
@click.option("--weight", "weights", multiple=True, type=float,
              help="Weight (annual probability or relative) of each --scenario, in order "
                   "[default: 1 each].")
@click.option("--budget", type=float, required=True,
              help="Annual budget in the economy's money units (china31: 1e8 yuan a year).")
@click.option("--candidates", type=click.Path(dir_okay=False), default=None,
              help="Candidates file (TOML) [default: standby of the critical sectors in the "
                   "inland regions, national stockpiles, west/central-coastal corridors].")
@click.option("--critical-weight", type=float, default=1.0, show_default=True,
              help="Weight of essential supply secured against value added saved.")
@click.option("--shortlist", type=click.IntRange(min=1), default=8, show_default=True,
              help="Candidates evaluated exactly in each round.")
@click.option("--name", default=None, help="Name of the plan [default: the output file stem].")
@_economy_option
@_options_option
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="Plan file to write (.toml).")
def site(scenarios, weights, budget, candidates, critical_weight, shortlist, name, economy,
         options, output):
    """Choose backup capacity, stockpiles and corridors within an annual BUDGET that save the
    most value added and essential supply over the scenarios; write a plan file."""
    from .site import site as run_site

    out = Path(output)
    if out.suffix.lower() != ".toml":
        raise InputError(f"site -o {output!r}: the plan is written as a .toml file")
    if weights and len(weights) != len(scenarios):
        raise InputError(f"site: {len(weights)} --weight for {len(scenarios)} --scenario")
    eco = _economy(economy)
    res = run_site(eco, list(scenarios), budget, candidates=candidates,
                   weights=list(weights) or None, critical_weight=critical_weight,
                   shortlist=shortlist, name=name or out.stem,
                   progress=lambda line: click.echo(line, err=True),
                   **_parse_options(options))
    _write_text(out, res.toml)
    units = eco.attrs.get("units", "")
    click.echo(f"objective {res.objective:,.1f} {units} (expected value added saved plus "
               f"{critical_weight:g} x essential supply secured), annual cost {res.cost:,.1f} "
               f"{units}/yr, {len(res.steps)} picks in {res.seconds:.1f} s")
    click.echo(f"wrote {out}")
