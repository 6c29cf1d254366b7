"""Join stored samples with the questions and compute every group's metrics: the content of results.json."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

from pathvlm_eval.config import EvalConfig
from pathvlm_eval.data import EvalItem
from pathvlm_eval.metrics import group_metrics
from pathvlm_eval.reference import Reference
from pathvlm_eval.vlmevalkit import PROTOCOL

SCHEMA_VERSION = 2  # 2: scoring.protocol/headline/vlmevalkit, a `vlmevalkit` block beside strict and lenient
HEADLINE = {"ours": "strict", "vlmevalkit": "vlmevalkit"}  # the scoring reported first under each protocol


def item_field(item: EvalItem, field: str) -> Any:
    """`data_source` or an extra_info field of the question."""
    return item.data_source if field == "data_source" else item.extra_info.get(field)


def matches(item: EvalItem, group_filter: Mapping[str, str]) -> bool:
    return all(item_field(item, k) is not None and str(item_field(item, k)) == v for k, v in group_filter.items())


def group_label(group_filter: Mapping[str, str]) -> str:
    if not group_filter:
        return "overall"
    rest = [f"{k}={v}" for k, v in group_filter.items() if k != "data_source"]
    return " / ".join([group_filter.get("data_source", "*"), *rest])


def group_filters(items: Sequence[EvalItem], breakdowns: Mapping[str, Sequence[str]],
                  reference: Reference) -> list[dict[str, str]]:
    """Overall, each data_source, each configured breakdown value, and every reference table column."""
    sources = list(dict.fromkeys(item.data_source for item in items))
    filters: list[dict[str, str]] = [{}, *({"data_source": source} for source in sources)]
    for source in sources:
        for field in breakdowns.get(source, ()):
            values = sorted({str(item_field(i, field)) for i in items
                             if i.data_source == source and item_field(i, field) is not None})
            filters.extend({"data_source": source, field: value} for value in values)
    for table in reference.tables:
        filters.extend(dict(c.filter) for c in table.columns if dict(c.filter) not in filters)
    return filters


def samples_per_question(items: Sequence[EvalItem], records: Sequence[dict[str, Any]],
                         n: int) -> dict[str, list[dict[str, Any]]]:
    """Each question's stored samples 0..n-1 (a run with a smaller `generation.n` reads a larger run's folder)."""
    by_key = {(r["prompt_id"], r["sample"]): r for r in records}
    return {item.prompt_id: [by_key[(item.prompt_id, s)] for s in range(n) if (item.prompt_id, s) in by_key]
            for item in items}


def model_groups(config: EvalConfig, items: Sequence[EvalItem], records: Sequence[dict[str, Any]],
                 filters: Sequence[Mapping[str, str]], reasoning: bool) -> tuple[list[dict[str, Any]], int]:
    """Metrics of every non-empty group for one model, and the number of questions without samples.
    Only samples 0..n-1 count, so a run with a smaller `generation.n` reads a larger run's folder consistently."""
    per_item = samples_per_question(items, records, config.n)
    groups = []
    for group_filter in filters:
        questions = [per_item[i.prompt_id] for i in items if per_item[i.prompt_id] and matches(i, group_filter)]
        if questions:
            metrics = group_metrics(questions, pass_k=config.metrics.pass_k, confidence=config.metrics.confidence,
                                    resamples=config.metrics.bootstrap_resamples, seed=config.metrics.seed,
                                    reasoning=reasoning)
            groups.append({"label": group_label(group_filter), "filter": dict(group_filter), "metrics": metrics})
    return groups, sum(1 for samples in per_item.values() if not samples)


USAGE_COUNTS = ("calls", "retries", "prompt_tokens", "completion_tokens")


def endpoint_usage(records: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Totals of the endpoint calls behind `records` (None when no record came from an endpoint): calls, retries,
    tokens, summed and mean latency, and the estimated cost (None unless every call had known prices)."""
    usages = [r["usage"] for r in records if r.get("usage")]
    if not usages:
        return None
    totals: dict[str, Any] = {key: int(sum(u[key] for u in usages)) for key in USAGE_COUNTS}
    latency = sum(u["latency_s"] for u in usages)
    costs = [u["cost_usd"] for u in usages]
    return {"samples": len(usages), **totals, "latency_s": latency, "mean_latency_s": latency / len(usages),
            "cost_usd": None if None in costs else sum(costs)}


def build_results(config: EvalConfig, items: Sequence[EvalItem], records: Mapping[str, Sequence[dict[str, Any]]],
                  reference: Reference, engine: str, reasoning: bool) -> dict[str, Any]:
    """The whole results.json document (accuracies and rates as fractions in [0, 1])."""
    filters = group_filters(items, config.metrics.breakdowns, reference)
    evaluated = {item.prompt_id for item in items}
    models = []
    for model in config.models:
        groups, missing = model_groups(config, items, records[model.name], filters, reasoning)
        counted = [r for r in records[model.name] if r["prompt_id"] in evaluated and r["sample"] < config.n]
        models.append({"name": model.name, "path": model.path, "reference": model.reference,
                       "questions_without_samples": missing, "groups": groups, "usage": endpoint_usage(counted)})
    versions = sorted({str(r.get("reward_version")) for rs in records.values() for r in rs})
    return {
        "schema_version": SCHEMA_VERSION,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": list(config.files),
        "limit": config.limit,
        "engine": engine,
        "generation": {"n": config.n, **asdict(config.sampling)},
        "pixels": asdict(config.pixels),
        "scoring": {"module": config.scoring_module, "protocol": config.protocol,
                    "headline": HEADLINE[config.protocol], "vlmevalkit": PROTOCOL, "reward_versions": versions,
                    "weights": dict(config.reward_kwargs.get("weights") or {}), "reasoning": reasoning},
        "metrics_settings": asdict(config.metrics),
        "models": models,
    }


def find_group(model_result: Mapping[str, Any], group_filter: Mapping[str, str]) -> dict[str, Any] | None:
    """The metrics of the group with exactly this filter, if it has questions."""
    return next((g["metrics"] for g in model_result["groups"] if g["filter"] == dict(group_filter)), None)
