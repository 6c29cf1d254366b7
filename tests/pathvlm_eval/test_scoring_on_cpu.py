"""Strict and lenient scoring on canned responses whose correctness is known by construction."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from eval_fixtures import OPTIONS, make_row, write_rl_parquet

from pathvlm_eval.data import read_parquet
from pathvlm_eval.metrics import group_metrics
from pathvlm_eval.scoring import Scorer

KWARGS = {"weights": {"accuracy": 1.0, "format": 1.0, "process": 0.0}}

# (response template, strict correct, well formatted, lenient correct, lenient hedge), per the reward contract:
# strict reads only the single <answer> block; format needs <think>..</think><answer>..</answer> and nothing else.
MCQ_CASES = [
    ("<think>Glands with atypia.</think><answer>{gold}</answer>", 1, 1, 1, False),
    ("<think>Glands with atypia.</think><answer>{wrong}</answer>", 0, 1, 0, False),
    ("Looking at the slide, the answer is {gold_letter}.", 0, 0, 1, False),
    ("<think>Unsure.</think><answer>{gold_letter} or {wrong_letter}</answer>", 0, 1, 0, True),
    ("<answer>{gold}</answer>", 1, 0, 1, False),
]
YESNO_CASES = [
    ("<think>Nuclear pleomorphism.</think><answer>{gold}</answer>", 1, 1, 1, None),
    ("<think>Nuclear pleomorphism.</think><answer>{wrong}</answer>", 0, 1, 0, None),
    ("{Gold}, the lesion looks malignant.", 0, 0, 1, None),
]


@pytest.fixture()
def canned(tmp_path: Path):
    """Items and canned responses with their expected (strict, format, lenient, hedge) labels."""
    rows = [make_row("pathmmu", i, "mcq", OPTIONS[i % 2][i % 4], OPTIONS[i % 2]) for i in range(4)]
    rows += [make_row("pathvqa", 10 + i, "yesno", ("yes", "no")[i % 2]) for i in range(2)]
    items = read_parquet(write_rl_parquet(tmp_path / "canned.parquet", rows))
    cases = []
    for item in items:
        if item.answer_type == "mcq":
            options = item.extra_info["options"]
            gold_pos = options.index(item.ground_truth)
            wrong = options[(gold_pos + 1) % len(options)]
            fields = {"gold": item.ground_truth, "wrong": wrong, "gold_letter": item.ground_truth[0],
                      "wrong_letter": wrong[0]}
            cases += [(item, t.format(**fields), labels) for t, *labels in MCQ_CASES]
        else:
            other = "no" if item.ground_truth == "yes" else "yes"
            fields = {"gold": item.ground_truth, "wrong": other, "Gold": item.ground_truth.capitalize()}
            cases += [(item, t.format(**fields), labels) for t, *labels in YESNO_CASES]
    return cases


def _score(module: str, cases):
    return Scorer(module, KWARGS).score([c[0] for c in cases], [c[1] for c in cases])


def test_each_canned_response_scores_as_constructed(canned):
    scores = _score("pathvlm_rewards", canned)
    for (item, response, (strict, formatted, lenient, hedge)), s in zip(canned, scores, strict=True):
        got = (s["strict"]["accuracy"], s["strict"]["format"], s["lenient"]["accuracy"], s["lenient"]["hedge"])
        assert got == (strict, formatted, lenient, hedge), (item.prompt_id, response)
        assert s["reward"]["accuracy"] == s["strict"]["accuracy"] and "score" in s["reward"]


def test_group_metrics_match_the_constructed_rates(canned):
    scores = _score("pathvlm_rewards", canned)
    per_question: dict[str, list] = {}
    for (item, _, _), s in zip(canned, scores, strict=True):
        per_question.setdefault(item.prompt_id, []).append({**s, "output_tokens": 10, "finish_reason": "stop"})
    # The canned responses of one question are its "samples": accuracy = mean over questions of their means.
    labels: dict[str, list] = {}
    for item, _, lab in canned:
        labels.setdefault(item.prompt_id, []).append(lab)
    expect_strict = sum(sum(lab[0] for lab in v) / len(v) for v in labels.values()) / len(labels)
    expect_lenient = sum(sum(lab[2] for lab in v) / len(v) for v in labels.values()) / len(labels)
    all_labels = [lab for v in labels.values() for lab in v]
    mcq_labels = [lab for lab in all_labels if lab[3] is not None]
    metrics = group_metrics(list(per_question.values()), pass_k=[1, 2], confidence=0.95, resamples=200, seed=0,
                            reasoning=False)
    assert metrics["strict"]["accuracy"] == pytest.approx(expect_strict)
    assert metrics["lenient"]["accuracy"] == pytest.approx(expect_lenient)
    assert metrics["strict"]["format_rate"] == pytest.approx(sum(lab[1] for lab in all_labels) / len(all_labels))
    assert metrics["lenient"]["hedge_rate"] == pytest.approx(sum(lab[3] for lab in mcq_labels) / len(mcq_labels))
    # pass@2 over samples: a question counts when at least one of two random samples is fully right.
    assert 0 < metrics["strict"]["pass_at_k"]["1"] < metrics["strict"]["pass_at_k"]["2"] <= 1


def test_plain_and_async_reward_functions_score_alike(canned, tmp_path, monkeypatch):
    """verl accepts `def` and `async def` compute_score; the real one is async, so wrap it the other way."""
    module = tmp_path / "plain_rewards_for_test.py"
    module.write_text(textwrap.dedent("""
        import asyncio
        import inspect

        import pathvlm_rewards
        from pathvlm_rewards import answer_accuracy, answer_block, designated_options, lenient_answer


        def compute_score(*args, **kwargs):
            result = pathvlm_rewards.compute_score(*args, **kwargs)
            return asyncio.run(result) if inspect.isawaitable(result) else result
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _score("plain_rewards_for_test", canned) == _score("pathvlm_rewards", canned)


def test_zero_accuracy_or_format_weight_is_refused():
    with pytest.raises(ValueError, match="format"):
        Scorer("pathvlm_rewards", {"weights": {"format": 0.0}})


def test_a_module_without_the_contract_is_refused():
    with pytest.raises(ImportError, match="lenient_answer"):
        Scorer("json", KWARGS)
