"""The sampled band in a report and in the CLI: tables of :func:`stresstest.sampling.sample_table`
(the one place the quantiles and rank probabilities are computed)."""

from __future__ import annotations

import xarray as xr

TEXT = {
    "en": {
        "title": "How sure: sampled band",
        "intro": ("{n} draws (Latin hypercube, seed {seed}) of the uncertain inputs below, each "
                  "a full central estimate of every plan: 5th, 50th and 95th percentile "
                  "(5% – 50% – 95%). The central estimate above uses the middle of every range; "
                  "the strict-cascade and coordinated-optimum band brackets the model, this "
                  "band the inputs."),
        "plan": "plan", "none": "no plan",
        "output": "output surviving", "va": "value added surviving",
        "worst": "lowest national critical supply", "benefit": "value added saved [{unit}]",
        "p": "break-even probability p*", "first": "ranks first",
        "inputs": "Uncertain inputs", "input": "input", "range": "range", "meaning": "what",
        "fan": "National output, median and 5-95% of the draws (share of baseline)",
        "fan_y": "output", "fan_x": "day",
        "first_note": ("'ranks first': share of draws in which the plan has the lowest p* "
                       "among the plans (draws where no plan saves anything count for none)."),
        "failed": (" {k} of {n} draws found no equilibrium in at least one run (the order "
                   "rounds cycle: docs/rationing.md) and are left out of the quantiles of the "
                   "plans concerned."),
    },
    "zh": {
        "title": "有多确定：抽样区间",
        "intro": ("对下列不确定输入抽取{n}次（拉丁超立方抽样，种子{seed}），每次对所有方案做完整的中心估计："
                  "第5、50、95百分位数（5% – 50% – 95%）。上文的中心估计取各区间的中点；严格级联与协调最优"
                  "区间反映模型假设，本区间反映输入的不确定性。"),
        "plan": "方案", "none": "无方案",
        "output": "产出保持率", "va": "增加值保持率", "worst": "全国关键供给最低值",
        "benefit": "挽回的增加值（{unit}）", "p": "盈亏平衡概率p*", "first": "排名第一",
        "inputs": "不确定输入", "input": "输入", "range": "范围", "meaning": "含义",
        "fan": "全国产出：各次抽样的中位数与5%–95%区间（占基准的比例）", "fan_y": "产出", "fan_x": "天",
        "first_note": "“排名第一”：该方案在各方案中p*最低的抽样所占比例（没有任何方案挽回损失的抽样不计入）。",
        "failed": "{n}次抽样中有{k}次至少一次运行未找到均衡（订单迭代循环，见docs/rationing.md），未计入相关方案的分位数。",
    },
}


def _triple(row, key, fmt) -> str:
    return " – ".join(fmt(row[f"{key}_q{q}"]) for q in (5, 50, 95))


def sample_section(samples: xr.Dataset, economy: xr.Dataset, unit=None, lang: str = "en"
                   ) -> dict:
    """Report context of a sampled band: ``title``, ``intro``, ``table`` (per plan),
    ``inputs`` (what was drawn), ``note`` and ``fan`` (an SVG fan chart of the national output
    paths of dynamic draws, else empty)."""
    from . import _table, fmt_amount, fmt_pct, fmt_prob, money_scale
    from ..sampling import sample_table

    T = TEXT[lang]
    factor, label = money_scale(str(economy.attrs.get("units", "")), unit, lang)
    df = sample_table(samples)
    rows = []
    for plan, r in df.iterrows():
        row = [T["none"] if plan == "none" else str(plan),
               _triple(r, "output_share", fmt_pct), _triple(r, "va_share", fmt_pct),
               _triple(r, "worst_csr", fmt_pct)]
        if plan == "none":
            row += ["—", "—", "—"]
        else:
            row += [_triple(r, "benefit", lambda v: fmt_amount(v * factor, "").strip()),
                    _triple(r, "breakeven_p", lambda v: fmt_prob(v, lang)),
                    fmt_pct(r["p_first"], 0)]
        rows.append(row)
    headers = [T["plan"], T["output"], T["va"], T["worst"], T["benefit"].format(unit=label),
               T["p"], T["first"]]
    inputs = []
    for i, name in enumerate(map(str, samples["input"].values)):
        lo, hi = float(samples["input_low"][i]), float(samples["input_high"][i])
        inputs.append([name, f"{lo:g} – {hi:g}", str(samples["input_meaning"].values[i])])
    fan = ""
    if "path" in samples:
        from .charts import fan_svg

        q = samples["path"].quantile([0.05, 0.5, 0.95], dim="sample")
        fan = fan_svg(samples["time"].values, {
            (T["none"] if p == "none" else str(p)): tuple(q.sel(plan=p).values)
            for p in map(str, samples["plan"].values)},
            title=T["fan"], ylabel=T["fan_y"], xlabel=T["fan_x"])
    n = int(samples.sizes["sample"])
    intro = T["intro"].format(n=n, seed=samples.attrs.get("seed", 0))
    failed = int((~samples["converged"].values).any(axis=0).sum()) \
        if "converged" in samples else 0
    if failed:
        intro += T["failed"].format(k=failed, n=n)
    return {"title": T["title"], "fan": fan,
            "intro": intro,
            "table": _table(headers, rows),
            "inputs_title": T["inputs"],
            "inputs": _table([T["input"], T["range"], T["meaning"]], inputs,
                             ["left", "left", "left"]),
            "note": T["first_note"]}
