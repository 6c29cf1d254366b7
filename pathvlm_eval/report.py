"""report.md: the paper's tables with our numbers beside the paper's, then every breakdown."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pathvlm_eval.metrics import SCORINGS
from pathvlm_eval.reference import Reference, ReferenceTable
from pathvlm_eval.results import find_group

DASH = "–"


def percent(value: float | None) -> str:
    return DASH if value is None else f"{100 * value:.1f}"


def _accuracy(metrics: Mapping[str, Any] | None, scoring: str) -> str:
    if not metrics or not metrics.get(scoring):
        return DASH
    m = metrics[scoring]
    ci = f" [{percent(m['ci'][0])}, {percent(m['ci'][1])}]" if m["ci"] else ""
    return f"{percent(m['accuracy'])}{ci}"


def _tokens(metrics: Mapping[str, Any] | None) -> str:
    return DASH if not metrics or metrics["mean_output_tokens"] is None else f"{metrics['mean_output_tokens']:.1f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows)]


def _paper_table(table: ReferenceTable, results: Mapping[str, Any]) -> list[str]:
    """Our models (strict, then lenient) each followed by its reference row; then the other paper rows."""
    rows, shown = [], set()
    for model in results["models"]:
        cells = [find_group(model, c.filter) for c in table.columns]
        if table.metric == "accuracy":
            for scoring in SCORINGS:
                rows.append([f"**{model['name']}** (ours)", scoring, *(_accuracy(m, scoring) for m in cells)])
        else:
            rows.append([f"**{model['name']}** (ours)", "all samples", *(_tokens(m) for m in cells)])
        paper_row = table.row(model["reference"])
        if paper_row:
            shown.add(paper_row.id)
            rows.append([f"↳ paper: {paper_row.label}", "paper",
                         *(f"{paper_row.values[c.label]:.2f}" if c.label in paper_row.values else DASH
                           for c in table.columns)])
    for paper_row in table.rows:
        if paper_row.id not in shown:
            rows.append([f"paper: {paper_row.label}", "paper",
                         *(f"{paper_row.values[c.label]:.2f}" if c.label in paper_row.values else DASH
                           for c in table.columns)])
    unit = "accuracy % [95% CI]" if table.metric == "accuracy" else "tokens"
    return [f"### {table.title}", "", f"Paper source: {table.source}. Ours: {unit}.", "",
            *markdown_table(["Model", "Scoring", *(c.label for c in table.columns)], rows), ""]


def _summary(results: Mapping[str, Any]) -> list[str]:
    rows = []
    for model in results["models"]:
        m = find_group(model, {})
        if not m:
            continue
        rows.append([model["name"], str(m["n_questions"]), str(m["n_samples"]), _accuracy(m, "strict"),
                     _accuracy(m, "lenient"), _accuracy(m, "vlmevalkit"), percent(m["strict"]["format_rate"]),
                     percent(m["strict"]["hedge_rate"]), percent(m["lenient"]["hedge_rate"]), _tokens(m),
                     percent(m["truncation_rate"])])
    header = ["Model", "Questions", "Samples", "Strict acc.", "Lenient acc.", "VLMEvalKit acc. (mcq)", "Format %",
              "Hedge % (strict)", "Hedge % (lenient)", "Mean output tokens", "Truncated %"]
    return ["## Overall", "", *markdown_table(header, rows), ""]


def _groups(results: Mapping[str, Any]) -> list[str]:
    labels = list(dict.fromkeys(g["label"] for model in results["models"] for g in model["groups"]
                                if g["filter"]))
    header = ["Group", *(f"{m['name']} {s}" for m in results["models"] for s in SCORINGS),
              *(f"{m['name']} format %" for m in results["models"])]
    rows = []
    for label in labels:
        metrics = [next((g["metrics"] for g in m["groups"] if g["label"] == label), None) for m in results["models"]]
        count = next(m["n_questions"] for m in metrics if m)
        rows.append([f"{label} (n={count})", *(_accuracy(m, s) for m in metrics for s in SCORINGS),
                     *(percent(m["strict"]["format_rate"]) if m else DASH for m in metrics)])
    return ["## Per data source and breakdown", "", "Accuracy % [95% CI].", "", *markdown_table(header, rows), ""]


def _sampling(results: Mapping[str, Any]) -> list[str]:
    if results["generation"]["n"] < 2:
        return []
    overall = [(model["name"], find_group(model, {})) for model in results["models"]]
    overall = [(name, m) for name, m in overall if m]
    ks = sorted({k for _, m in overall for k in m["strict"]["pass_at_k"]}, key=int)
    rows = []
    for name, m in overall:
        for scoring in (s for s in SCORINGS if m[s]):
            rows.append([name, scoring, *(percent(m[scoring]["pass_at_k"].get(k)) for k in ks),
                         percent(m[scoring]["majority_accuracy"])])
    n = results["generation"]["n"]
    return [f"## Sampling (n = {n}, overall)", "", *markdown_table(["Model", "Scoring", *(f"pass@{k} %" for k in ks),
                                                          f"majority of {n} %"], rows), ""]


def _reasoning(results: Mapping[str, Any]) -> list[str]:
    if not results["scoring"]["reasoning"]:
        return []
    rows = []
    for model in results["models"]:
        for g in model["groups"]:
            r = g["metrics"]["reasoning"]
            rows.append([model["name"], g["label"], *(DASH if r[k] is None else f"{r[k]:.3f}"
                                                      for k in ("integrity", "knowledge", "process")),
                         percent(r["judge_fallback_rate"]), percent(r["judge_error_rate"])])
    return ["## Reasoning scores (process-reward judge)", "",
            *markdown_table(["Model", "Group", "Integrity", "Knowledge", "Process", "Judge fallback %",
                             "Judge error %"], rows), ""]


def _protocol(results: Mapping[str, Any]) -> list[str]:
    """Which prompt the models answered; under VLMEvalKit's, each model's comparable accuracy first."""
    follows = results["scoring"]["vlmevalkit"]
    pinned = f"{follows['repository']} {follows['version']} (commit {follows['commit'][:8]})"
    if results["scoring"]["protocol"] != "vlmevalkit":
        return [f"- Protocol: ours (the rows' own `<think>`/`<answer>` prompt). The VLMEvalKit column applies "
                f"{pinned}'s exact-matching extraction to these responses; it is not VLMEvalKit-comparable, since "
                "the prompt is not VLMEvalKit's (`scoring.protocol=vlmevalkit`).", ""]
    lines = [f"- Protocol: **{follows['name']}**: {follows['follows']}, {pinned}; exact letter matching, "
             "no answer = wrong, no LLM judge, no random fallback. Strict and lenient scores of these responses "
             "are shown beside it, but the models were not asked for the `<answer>` format.", ""]
    for model in results["models"]:
        m = find_group(model, {})
        if m and m["vlmevalkit"]:
            lines.append(f"- **{model['name']}: VLMEvalKit-comparable accuracy {_accuracy(m, 'vlmevalkit')} %** "
                         f"({m['vlmevalkit']['n_questions']} multiple-choice questions)")
    return [*lines, ""]


def _usage(results: Mapping[str, Any]) -> list[str]:
    rows = [[model["name"], str(u["samples"]), str(u["calls"]), str(u["retries"]), str(u["prompt_tokens"]),
             str(u["completion_tokens"]), f"{u['mean_latency_s']:.2f}",
             DASH if u["cost_usd"] is None else f"{u['cost_usd']:.4f}"]
            for model in results["models"] if (u := model.get("usage"))]
    if not rows:
        return []
    header = ["Model", "Samples", "Calls", "Retries", "Prompt tokens", "Completion tokens", "Mean latency s",
              "Est. cost USD"]
    return ["## Endpoint usage", "", "Cost at engine.openai's prices per million tokens (– = prices not set).", "",
            *markdown_table(header, rows), ""]


def render_report(results: Mapping[str, Any], reference: Reference, plots: Sequence[Path]) -> str:
    gen = results["generation"]
    decoding = "greedy" if gen["temperature"] == 0 else f"temperature {gen['temperature']}, top-p {gen['top_p']}"
    scoring = results["scoring"]
    versions = ", ".join(scoring["reward_versions"]) or DASH
    lines = [
        "# Evaluation report", "",
        f"- Created (UTC): {results['created_utc']}",
        f"- Data: {', '.join(results['files'])}"
        + (f" (first {results['limit']} rows of each)" if results["limit"] else ""),
        f"- Engine: {results['engine']}; {decoding}; n = {gen['n']}; max new tokens {gen['max_new_tokens']}; "
        f"pixels {results['pixels']['min_pixels']}–{results['pixels']['max_pixels']}",
        f"- Scoring: `{scoring['module']}` (reward version {versions})",
        *_protocol(results),
        "**Strict** = the training reward's own accuracy: only the single `<answer>` block counts, exactly as the "
        "policy was trained. **Lenient** = the same answer check on the answer extracted leniently (for models that "
        "ignore the format, e.g. the base Qwen2.5-VL). The two are never mixed. Intervals: 95% percentile bootstrap "
        f"over questions ({results['metrics_settings']['bootstrap_resamples']} resamples). Hedge = an answer "
        "naming several options (never counted correct). **VLMEvalKit** = VLMEvalKit's exact-matching letter "
        "extraction from the whole response (multiple-choice questions only).",
        "",
        "## Comparison with the paper", "",
        f"Reference numbers: {reference.source}. {reference.caveat}", "",
    ]
    for table in reference.tables:
        lines += _paper_table(table, results)
    lines += _summary(results) + _groups(results) + _sampling(results) + _reasoning(results) + _usage(results)
    if len(scoring["reward_versions"]) > 1:
        lines += ["**Warning:** samples were scored by several reward versions; re-run with scoring.rescore=true.", ""]
    if plots:
        lines += ["## Plots", "", *(f"![{p.stem}]({p.as_posix()})" for p in plots), ""]
    return "\n".join(lines)
