"""Agreement statistics with bootstrap 95% intervals: Spearman ρ, ICC(2,1), quadratic-weighted κ, MAE."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from itertools import combinations

import numpy as np
from scipy.stats import spearmanr

from pathvlm_rewards.audit.rubric import levels


@dataclass(frozen=True)
class Estimate:
    """A statistic over `n` items with its percentile bootstrap 95% interval (None where undefined)."""

    value: float | None
    low: float | None
    high: float | None
    n: int

    def text(self) -> str:
        if self.value is None:
            return f"n/a (n={self.n})"
        interval = "" if self.low is None else f" [{self.low:.3f}, {self.high:.3f}]"
        return f"{self.value:.3f}{interval}"

    def to_json(self) -> dict:
        return asdict(self)


def _defined(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman ρ of two score columns (NaN when either is constant)."""
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(spearmanr(a, b).statistic)


def mean_pairwise_spearman(scores: np.ndarray) -> float:
    """Mean ρ over every pair of columns (runs): the paper's run-to-run repeatability."""
    values = [spearman(scores[:, i], scores[:, j]) for i, j in combinations(range(scores.shape[1]), 2)]
    return float(np.mean(values)) if values and not any(math.isnan(v) for v in values) else math.nan


def icc_2_1(scores: np.ndarray) -> float:
    """ICC(2,1) of Shrout & Fleiss: two-way random effects, absolute agreement, one rating (items × runs)."""
    n, k = scores.shape
    if n < 2 or k < 2:
        return math.nan
    grand = scores.mean()
    rows, cols = scores.mean(axis=1), scores.mean(axis=0)
    ms_rows = k * np.sum((rows - grand) ** 2) / (n - 1)
    ms_cols = n * np.sum((cols - grand) ** 2) / (k - 1)
    ms_error = np.sum((scores - rows[:, None] - cols[None, :] + grand) ** 2) / ((n - 1) * (k - 1))
    denominator = ms_rows + (k - 1) * ms_error + k * (ms_cols - ms_error) / n
    return float((ms_rows - ms_error) / denominator) if denominator > 0 else math.nan


def level_indices(scores: np.ndarray) -> np.ndarray:
    """Each score's nearest rubric level (0, 0.2, 0.6, 1) as an index."""
    grid = np.asarray(levels())
    return np.abs(np.asarray(scores, dtype=float)[:, None] - grid[None, :]).argmin(axis=1)


def quadratic_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's κ with quadratic weights on the rubric's levels (scores snapped to the nearest level)."""
    count = len(levels())
    i, j = level_indices(a), level_indices(b)
    observed = np.zeros((count, count))
    np.add.at(observed, (i, j), 1.0)
    observed /= max(1, len(i))
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    grid = np.arange(count)
    weights = (grid[:, None] - grid[None, :]) ** 2 / (count - 1) ** 2
    disagreement = float(np.sum(weights * expected))
    return 1.0 - float(np.sum(weights * observed)) / disagreement if disagreement > 0 else math.nan


def mae(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a - b))) if len(a) else math.nan


def bootstrap(statistic: Callable[[np.ndarray], float], scores: np.ndarray, resamples: int, seed: int) -> Estimate:
    """`statistic` of the items × columns matrix, with a percentile interval over item resamples."""
    n = len(scores)
    value = _defined(statistic(scores)) if n else None
    if value is None or resamples <= 0:
        return Estimate(value, None, None, n)
    rng = np.random.default_rng(seed)
    draws = np.array([statistic(scores[rng.integers(0, n, n)]) for _ in range(resamples)])
    draws = draws[np.isfinite(draws)]
    if not len(draws):
        return Estimate(value, None, None, n)
    low, high = np.percentile(draws, [2.5, 97.5])
    return Estimate(value, float(low), float(high), n)


def paired(statistic: Callable[[np.ndarray, np.ndarray], float]) -> Callable[[np.ndarray], float]:
    """A statistic of two columns as one of an items × 2 matrix (for `bootstrap`)."""
    return lambda scores: statistic(scores[:, 0], scores[:, 1])
