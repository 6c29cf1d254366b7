"""Metrics over scored samples: accuracies with bootstrap intervals, pass@k, majority vote, rates."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

SCORINGS = ("strict", "lenient", "vlmevalkit")  # vlmevalkit: mcq samples only (None on the others)
_BOOTSTRAP_CHUNK = 200  # resamples drawn at once; bounds memory on large test sets


def bootstrap_ci(values: Sequence[float], confidence: float, resamples: int, seed: int) -> list[float] | None:
    """Percentile-bootstrap interval of the mean of `values` (resampled with replacement); None if empty."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return None
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for start in range(0, resamples, _BOOTSTRAP_CHUNK):
        size = min(_BOOTSTRAP_CHUNK, resamples - start)
        means[start:start + size] = data[rng.integers(0, data.size, size=(size, data.size))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return [float(low), float(high)]


def standard_error(values: Sequence[float]) -> float | None:
    """Standard error of the mean (sample standard deviation / sqrt(n)); None below two values."""
    return float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else None


def pass_at_k(n: int, correct: int, k: int) -> float:
    """Unbiased pass@k of one question with `correct` of `n` samples right (Chen et al., 2021)."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - correct < k:
        return 1.0
    return 1.0 - math.comb(n - correct, k) / math.comb(n, k)


def majority_accuracy(samples: Sequence[dict[str, Any]], scoring: str) -> float:
    """Accuracy of the most frequent vote key among the samples (ties: the earliest sample's);
    0 when no sample has a usable answer."""
    votes = [sample[scoring]["vote"] for sample in samples]
    counts = Counter(vote for vote in votes if vote is not None)
    if not counts:
        return 0.0
    best = max(counts.values())
    winner = next(vote for vote in votes if vote is not None and counts[vote] == best)
    return next(sample[scoring]["accuracy"] for sample in samples if sample[scoring]["vote"] == winner)


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def _scoring_metrics(per_question: Sequence[Sequence[dict[str, Any]]], scoring: str, pass_k: Sequence[int],
                     confidence: float, resamples: int, seed: int) -> dict[str, Any] | None:
    """Metrics of one scoring over the questions whose samples it scored (None when it scored none)."""
    per_question = [samples for samples in per_question if all(s.get(scoring) for s in samples)]
    if not per_question:
        return None
    question_accuracy = [_mean([s[scoring]["accuracy"] for s in samples]) for samples in per_question]
    flat = [s for samples in per_question for s in samples]
    hedges = [s[scoring]["hedge"] for s in flat if s[scoring]["hedge"] is not None]
    n_min = min(len(samples) for samples in per_question)
    metrics: dict[str, Any] = {
        "n_questions": len(per_question),
        "accuracy": _mean(question_accuracy),
        "ci": bootstrap_ci(question_accuracy, confidence, resamples, seed),
        "stderr": standard_error(question_accuracy),
        "hedge_rate": _mean([float(h) for h in hedges]),
        "pass_at_k": {str(k): _mean([pass_at_k(len(samples), sum(s[scoring]["accuracy"] >= 1 for s in samples), k)
                                     for samples in per_question]) for k in pass_k if k <= n_min},
        "majority_accuracy": _mean([majority_accuracy(samples, scoring) for samples in per_question])
        if n_min > 1 else None,
    }
    if scoring == "strict":
        metrics["format_rate"] = _mean([s["strict"]["format"] for s in flat])
    return metrics


def _reasoning_metrics(flat: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    def values(key: str) -> list[float]:
        return [s["reward"][key] for s in flat if s["reward"].get(key) is not None]

    return {"integrity": _mean(values("integrity")), "knowledge": _mean(values("knowledge")),
            "process": _mean(values("process")), "judge_fallback_rate": _mean(values("judge_fallback")),
            "judge_error_rate": _mean(values("judge_error"))}


def group_metrics(per_question: Sequence[Sequence[dict[str, Any]]], *, pass_k: Sequence[int], confidence: float,
                  resamples: int, seed: int, reasoning: bool) -> dict[str, Any]:
    """Metrics of one group: `per_question[i]` holds the scored sample records of question i (at least one).

    Accuracy averages each question's mean over its samples (pass@1 expectation); the interval resamples
    questions. pass@k counts a sample right when its accuracy is 1."""
    if not per_question or any(not samples for samples in per_question):
        raise ValueError("group_metrics needs at least one question, each with at least one sample")
    flat = [s for samples in per_question for s in samples]
    return {
        "n_questions": len(per_question),
        "n_samples": len(flat),
        **{scoring: _scoring_metrics(per_question, scoring, pass_k, confidence, resamples, seed)
           for scoring in SCORINGS},
        "mean_output_tokens": _mean([s["output_tokens"] for s in flat]),
        "truncation_rate": _mean([float(s["finish_reason"] == "length") for s in flat]),
        "reasoning": _reasoning_metrics(flat) if reasoning else None,
    }
