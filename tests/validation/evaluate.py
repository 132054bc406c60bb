"""Model versus observed for the validation cases (:mod:`tests.validation.cases`).

Each case's scenario is compiled on ``china31``, its static window set to the case's window
(days), and run as a central estimate with its band (:func:`stresstest.band.run_band`); the
modelled shortfall is ``Σ measure / Σ baseline - 1`` over the case's regions and sectors on the
window's average day, comparable with the observed shortfall versus trend.

``python -m tests.validation.evaluate`` prints the table and rewrites the generated section of
``docs/validation.md`` (between the ``validation:begin`` / ``validation:end`` markers).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .cases import CASES, SECTOR_GROUPS

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "validation.md"
BEGIN, END = "<!-- validation:begin -->", "<!-- validation:end -->"
LIB_BEGIN, LIB_END = "<!-- library:begin -->", "<!-- library:end -->"


def regions_of(economy, region) -> list[str]:
    """Region labels of a case: ``"national"``, a label, a zone or a list of labels."""
    labels = [str(r) for r in economy["region"].values]
    if region == "national":
        return labels
    if isinstance(region, (list, tuple)):
        return list(region)
    if region in labels:
        return [region]
    zones = [str(z) for z in economy["zone"].values]
    members = [r for r, z in zip(labels, zones) if z == region]
    if not members:
        raise ValueError(f"unknown region or zone {region!r}")
    return members


def sectors_of(economy, measure) -> tuple[str, list[str]]:
    """``(variable, sector labels)`` of a measure such as ``va``, ``x:industry``."""
    var, _, group = measure.partition(":")
    if not group:
        return var, [str(s) for s in economy["sector"].values]
    if group in SECTOR_GROUPS:
        return var, list(SECTOR_GROUPS[group])
    return var, [group]


def shortfall(res, case) -> float:
    """Modelled ``Σ measure / Σ baseline - 1`` of a (single-estimate) Result for a case."""
    var, sectors = sectors_of(res, case["measure"])
    regions = regions_of(res, case["region"])
    sel = dict(region=regions, sector=sectors)
    got = float(res[var].sel(sel).sum())
    base = float(res[f"{var}_baseline"].sel(sel).sum())
    return got / base - 1.0


def capacity_only(res, case) -> float:
    """The shortfall the scenario's capacity cut alone implies (hit industries at ``κ``, no
    propagation, demand events ignored): ``-Σ baseline (1 - κ) / Σ baseline``."""
    var, sectors = sectors_of(res, case["measure"])
    sel = dict(region=regions_of(res, case["region"]), sector=sectors)
    base = res[f"{var}_baseline"].sel(sel)
    cut = (base * np.maximum(0.0, 1.0 - res["kappa"].sel(sel))).sum()
    return -float(cut) / float(base.sum())


def evaluate(economy=None) -> list[dict]:
    """One row per case: the case plus ``central``, ``low``, ``high`` modelled shortfalls."""
    import stresstest as st
    from stresstest.band import run_band, select_estimate
    from stresstest.scenario import compile_scenario, load_scenario

    eco = economy if economy is not None else st.load_economy("china31")
    runs = {}
    rows = []
    for case in CASES:
        key = (case["scenario"], tuple(case["window"]))
        if key not in runs:
            shock = compile_scenario(load_scenario(case["scenario"]), eco)
            shock.attrs["window_start"], shock.attrs["window_end"] = map(int, case["window"])
            runs[key] = run_band(eco, shock)
        band = runs[key]
        row = dict(case)
        for e in ("central", "low", "high"):
            row[e] = shortfall(select_estimate(band, e), case)
        row["capacity_only"] = capacity_only(select_estimate(band), case)
        rows.append(row)
    return rows


#: Draws of the sampled band in the library table.
SAMPLES = 100


def library(economy=None, modes=("leontief", "dynamic"), samples: int = SAMPLES) -> list[dict]:
    """Every shipped scenario (no plan): output and value added surviving as central [low –
    high], the amplification of each estimate, the sampled 5-50-95% of output
    (``samples`` draws, seed 0; 0 for none) and the other modes' national output
    (``dynamic``: averaged over the scenario's window)."""
    from stresstest.sampling import run_samples, sample_table

    import stresstest as st
    from stresstest.band import run_band, select_estimate
    from stresstest.scenario import compile_scenario, list_scenarios, load_scenario

    eco = economy if economy is not None else st.load_economy("china31")
    rows = []
    for item in list_scenarios():
        shock = compile_scenario(load_scenario(item["name"]), eco)
        band = run_band(eco, shock)
        row = {"scenario": item["name"]}
        for e in ("central", "low", "high"):
            r = select_estimate(band, e)
            row[f"x_{e}"] = float(r["x"].sum() / r["x_baseline"].sum())
            row[f"va_{e}"] = float(r["va"].sum() / r["va_baseline"].sum())
            row[f"ampl_{e}"] = st.metrics.amplification(r)
        if samples:
            q = sample_table(run_samples(eco, item["name"], samples=samples, seed=0)).loc["none"]
            row.update(x_q5=q["output_share_q5"], x_q50=q["output_share_q50"],
                       x_q95=q["output_share_q95"], samples=samples,
                       not_converged=int(q["not_converged"]))
        d = st.metrics.direct_shock(select_estimate(band))
        row["direct"] = d["total"] / float(band["x_baseline"].sum())
        row["direct_capacity"] = d["capacity"] / float(band["x_baseline"].sum())
        for mode in modes:
            try:
                r = st.run(eco, shock, mode=mode)
            except st.StresstestError as exc:  # a mode that cannot run this scenario
                row[f"x_{mode}"] = float("nan")
                row[f"why_{mode}"] = str(exc)
                continue
            if "time" in r["x"].dims:
                days = slice(int(shock.attrs["window_start"]), int(shock.attrs["window_end"]))
                x = r["x"].isel(time=days).sum(["region", "sector"]).mean("time")
            else:
                x = r["x"].sum()
            row[f"x_{mode}"] = float(x / r["x_baseline"].sum())
        rows.append(row)
    return rows


def library_markdown(rows, modes=("leontief", "dynamic")) -> str:
    """The per-scenario table of :func:`library`."""
    n = rows[0].get("samples", 0) if rows else 0
    lines = ["| scenario | direct shock (capacity) | output surviving central [low – high] | "
             f"output sampled 5% – 50% – 95% ({n} draws) | "
             "VA surviving central [low – high] | amplification central [least – most] | "
             + " | ".join(f"{m} output" for m in modes) + " |",
             "|---|---:|---:|---:|---:|---:|" + "---:|" * len(modes)]
    from stresstest.report import fmt_amplification, fmt_band

    for r in rows:
        share = lambda k: f"{100 * r[k]:.1f}%"  # noqa: E731
        amp = {"a": r["ampl_central"], "a_low": r["ampl_low"], "a_high": r["ampl_high"]}
        lines.append(
            f"| {r['scenario']} | {100 * r['direct']:.2f}% ({100 * r['direct_capacity']:.2f}%) | "
            f"{share('x_central')} [{share('x_low')} – {share('x_high')}] | "
            + (f"{share('x_q5')} – {share('x_q50')} – {share('x_q95')}"
               + (f" ({r['not_converged']} without equilibrium)" if r.get("not_converged")
                  else "") + " | " if "x_q5" in r else "— | ")
            + f"{share('va_central')} [{share('va_low')} – {share('va_high')}] | "
            f"{fmt_band(amp, 'a', fmt_amplification)} | "
            + " | ".join("—" if not np.isfinite(r.get(f"x_{m}", np.nan))
                         else share(f"x_{m}") for m in modes) + " |")
    return "\n".join(lines)


def _pct(v) -> str:
    return "—" if v is None or not np.isfinite(v) else f"{100 * v:+.1f}%"


def markdown(rows) -> str:
    """The generated table: observed versus modelled shortfall, and the gap."""
    lines = ["| id | region | measure | window | observed | modelled central [low – high] | "
             "gap (central − observed) | capacity cut alone | verified |",
             "|---|---|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        region = r["region"] if isinstance(r["region"], str) else "+".join(r["region"])
        lines.append(
            f"| {r['id']} | {region} | {r['measure']} | [{r['window'][0]},{r['window'][1]}) | "
            f"{_pct(r['shortfall'])} | {_pct(r['central'])} [{_pct(r['low'])} – "
            f"{_pct(r['high'])}] | {100 * (r['central'] - r['shortfall']):+.1f} pp | "
            f"{_pct(r['capacity_only'])} | {'yes' if r['verified'] else '**no**'} |")
    return "\n".join(lines)


def summary(rows) -> dict:
    """Counts that say how the model does: cases inside the band, mean absolute gap (pp)."""
    inside = [r for r in rows if min(r["low"], r["high"]) - 1e-9 <= r["shortfall"]
              <= max(r["low"], r["high"]) + 1e-9]
    gaps = np.array([r["central"] - r["shortfall"] for r in rows])
    direct_beyond = [r for r in rows if r["capacity_only"] < r["shortfall"] - 1e-9]
    return {"cases": len(rows), "inside_band": len(inside),
            "mean_abs_gap_pp": float(100 * np.abs(gaps).mean()),
            "central_less_severe": int((gaps > 0).sum()),
            "capacity_cut_beyond_observed": len(direct_beyond)}


def _replace(text: str, begin: str, end: str, body: str, path) -> str:
    if begin not in text or end not in text:
        raise SystemExit(f"{path}: markers {begin} / {end} not found")
    head, rest = text.split(begin, 1)
    return head + begin + "\n\n" + body + "\n\n" + end + rest.split(end, 1)[1]


def write_doc(rows, lib=None, path: Path = DOC) -> None:
    """Replace the generated sections of ``docs/validation.md`` with the current tables."""
    text = path.read_text(encoding="utf-8")
    s = summary(rows)
    body = (f"{markdown(rows)}\n\n{s['cases']} cases; observed value inside the band "
            f"in {s['inside_band']}; mean absolute gap of the central estimate "
            f"{s['mean_abs_gap_pp']:.1f} pp; the central estimate is less severe than observed "
            f"in {s['central_less_severe']}; the scenario's capacity cut alone already exceeds "
            f"the observed loss in {s['capacity_cut_beyond_observed']}.")
    text = _replace(text, BEGIN, END, body, path)
    if lib is not None:
        text = _replace(text, LIB_BEGIN, LIB_END, library_markdown(lib), path)
    path.write_text(text, encoding="utf-8")


def main(argv=None) -> int:
    rows = evaluate()
    print(markdown(rows))
    print(summary(rows))
    lib = library()
    print(library_markdown(lib))
    if "--no-write" not in (argv if argv is not None else sys.argv[1:]):
        write_doc(rows, lib)
        print(f"updated {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
