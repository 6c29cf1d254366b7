"""The audit's statistics on inputs whose answer is known by hand."""

import math

import numpy as np
import pytest

from pathvlm_rewards.audit.stats import bootstrap, icc_2_1, mean_pairwise_spearman, paired, quadratic_kappa

LEVELS = np.array([0.0, 0.2, 0.6, 1.0])


def test_icc_is_one_for_identical_runs_and_penalises_a_constant_offset():
    x = np.tile(LEVELS, 5)
    assert icc_2_1(np.column_stack([x, x, x])) == pytest.approx(1.0)
    # absolute agreement: run 2 = run 1 + c gives s² / (s² + c²/2) (s² the sample variance of x)
    c, s2 = 0.2, np.var(x, ddof=1)
    assert icc_2_1(np.column_stack([x, x + c])) == pytest.approx(s2 / (s2 + c * c / 2))


def test_mean_pairwise_spearman_averages_every_pair_of_runs():
    x = np.arange(10.0)
    # runs 1 and 2 agree (ρ 1), run 3 is reversed (ρ -1 with each): mean (1 - 1 - 1) / 3
    assert mean_pairwise_spearman(np.column_stack([x, x, -x])) == pytest.approx(-1 / 3)
    # constant scores: ρ undefined
    assert math.isnan(mean_pairwise_spearman(np.ones((5, 2))))


def test_kappa_snaps_scores_to_the_nearest_level():
    # 0.58 is read as 0.6, 0.95 as 1: the same levels as the other column
    assert quadratic_kappa(np.array([0.58, 0.95, 0.0]), np.array([0.6, 1.0, 0.0])) == pytest.approx(1.0)


def test_bootstrap_interval_brackets_the_value_and_is_seeded():
    rng = np.random.default_rng(3)
    x = rng.choice(LEVELS, 60)
    scores = np.column_stack([x, np.clip(x + rng.normal(0, 0.2, 60), 0, 1)])
    first = bootstrap(paired(quadratic_kappa), scores, 300, seed=1)
    assert first.low <= first.value <= first.high and first.n == 60
    assert bootstrap(paired(quadratic_kappa), scores, 300, seed=1) == first
