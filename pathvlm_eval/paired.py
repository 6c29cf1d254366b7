"""Paired significance of two models on the same questions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import binomtest

from pathvlm_eval.metrics import bootstrap_ci


def mcnemar_exact(right_a: Sequence[bool], right_b: Sequence[bool]) -> dict[str, Any]:
    """McNemar's exact test of paired 0/1 outcomes: only the discordant questions count, and under the null
    hypothesis each is equally likely to favour either model (two-sided binomial test with p = 1/2)."""
    if len(right_a) != len(right_b):
        raise ValueError(f"paired outcomes of different lengths: {len(right_a)} and {len(right_b)}")
    only_a = sum(bool(a) and not b for a, b in zip(right_a, right_b, strict=True))
    only_b = sum(bool(b) and not a for a, b in zip(right_a, right_b, strict=True))
    p_value = binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
    return {"only_a": only_a, "only_b": only_b, "p_value": float(p_value)}


def paired_difference(accuracy_a: Sequence[float], accuracy_b: Sequence[float], confidence: float, resamples: int,
                      seed: int) -> dict[str, Any]:
    """Mean accuracy difference a - b and its paired bootstrap interval (questions resampled together)."""
    diff = np.asarray(accuracy_a, dtype=float) - np.asarray(accuracy_b, dtype=float)
    return {"difference": float(diff.mean()), "ci": bootstrap_ci(diff, confidence, resamples, seed)}
