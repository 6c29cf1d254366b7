"""Bootstrap intervals, pass@k and majority vote, checked against independent computations."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from pathvlm_eval.metrics import bootstrap_ci, group_metrics, majority_accuracy, pass_at_k


@pytest.mark.parametrize("n", range(1, 7))
def test_pass_at_k_equals_enumeration_of_all_k_subsets(n):
    for correct in range(n + 1):
        samples = [1] * correct + [0] * (n - correct)
        for k in range(1, n + 1):
            subsets = list(combinations(samples, k))
            assert pass_at_k(n, correct, k) == pytest.approx(sum(any(s) for s in subsets) / len(subsets))


def test_pass_at_k_refuses_k_above_n():
    with pytest.raises(ValueError, match="pass@3"):
        pass_at_k(2, 1, 3)


def test_bootstrap_interval_is_seeded_contains_the_mean_and_shrinks_with_data():
    values = np.random.default_rng(1).integers(0, 2, 50).astype(float)
    ci = bootstrap_ci(values, 0.95, 1000, seed=7)
    assert ci == bootstrap_ci(values, 0.95, 1000, seed=7)
    assert ci[0] <= values.mean() <= ci[1]
    wide, narrow = ci[1] - ci[0], np.subtract(*bootstrap_ci(np.tile(values, 16), 0.95, 1000, seed=7)[::-1])
    assert narrow == pytest.approx(wide / 4, rel=0.3)  # the standard error falls as 1/sqrt(n)
    assert bootstrap_ci([0.5] * 9, 0.95, 100, seed=0) == [0.5, 0.5]
    assert bootstrap_ci([], 0.95, 100, seed=0) is None


def test_bootstrap_interval_covers_the_true_rate_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    covered = 0
    for trial in range(200):
        ci = bootstrap_ci(rng.random(200) < 0.6, 0.95, 1000, seed=trial)
        covered += ci[0] <= 0.6 <= ci[1]
    assert 0.88 <= covered / 200 <= 0.99


def _sample(vote, accuracy, tokens=5, finish="stop", hedge=False):
    part = {"vote": vote, "accuracy": accuracy, "hedge": hedge, "answer": vote}
    return {"strict": {**part, "format": 1.0}, "lenient": dict(part), "reward": {}, "output_tokens": tokens,
            "finish_reason": finish}


def test_majority_vote_picks_the_most_frequent_answer_and_breaks_ties_by_first_sample():
    samples = [_sample("C", 0.0), _sample("B", 1.0), _sample(None, 0.0), _sample("B", 1.0)]
    assert majority_accuracy(samples, "strict") == 1.0
    tie = [_sample("C", 0.0), _sample("B", 1.0)]
    assert majority_accuracy(tie, "strict") == 0.0
    assert majority_accuracy([_sample(None, 0.0)], "lenient") == 0.0


def test_group_metrics_average_questions_not_samples():
    # Question 1: 3 samples, 1 right; question 2: 3 samples, all right.
    q1 = [_sample("A", 1.0, tokens=9), _sample("C", 0.0, tokens=3, finish="length"), _sample("C", 0.0, hedge=True)]
    q2 = [_sample("B", 1.0) for _ in range(3)]
    m = group_metrics([q1, q2], pass_k=[1, 2, 4], confidence=0.95, resamples=300, seed=0, reasoning=False)
    assert m["n_questions"] == 2 and m["n_samples"] == 6
    assert m["strict"]["accuracy"] == pytest.approx((1 / 3 + 1) / 2)
    assert m["strict"]["pass_at_k"] == pytest.approx({"1": (1 / 3 + 1) / 2, "2": (2 / 3 + 1) / 2})  # no k=4 > n
    assert m["strict"]["majority_accuracy"] == pytest.approx((0 + 1) / 2)
    assert m["strict"]["hedge_rate"] == pytest.approx(1 / 6)
    assert m["mean_output_tokens"] == pytest.approx((9 + 3 + 5 * 4) / 6)
    assert m["truncation_rate"] == pytest.approx(1 / 6)
    assert m["reasoning"] is None
    with pytest.raises(ValueError, match="at least one"):
        group_metrics([q1, []], pass_k=[1], confidence=0.95, resamples=10, seed=0, reasoning=False)
