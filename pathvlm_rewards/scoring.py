"""`compute_score`: the function verl calls for every response (reward.custom_reward_function)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pathvlm_rewards.answers import grade
from pathvlm_rewards.config import JudgeConfig, config_for_call
from pathvlm_rewards.judge.verdict import JUDGE_KEYS, Verdict, not_judged
from pathvlm_rewards.tags import answer_block, format_reward

# Every key of the result, always present, in this order (verl builds one array per key).
RESULT_KEYS = ("score", "accuracy", "format", "process", "integrity", "knowledge", *JUDGE_KEYS, "acc", "pred")


def _question(extra_info: Mapping) -> str:
    question = extra_info.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"the process reward needs extra_info['question'] (the question text) "
                         f"(row index {extra_info.get('index')!r})")
    return question


async def _process(config: JudgeConfig, solution_str: str, ground_truth: str, extra_info: Mapping,
                   correct: bool) -> Verdict:
    from pathvlm_rewards.judge import JudgeSample, get_judge
    from pathvlm_rewards.judge.image import ImageUnavailable, judge_image

    question = _question(extra_info)
    judge = get_judge(config)
    options = extra_info.get("options")
    try:
        image = judge_image(extra_info, config.max_image_pixels)
    except ImageUnavailable as error:
        return judge.without_image(correct, str(error))
    return await judge.score(JudgeSample(
        question=question,
        options=[] if options is None else [str(option) for option in options],
        gold=str(ground_truth),
        correct=correct,
        response=solution_str,
        image=image,
    ))


async def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str,
    extra_info: Mapping[str, Any] | None = None,
    **reward_kwargs: Any,
) -> dict[str, float | str]:
    """Score one response: accuracy, format and (when weighted) the judge's process reward.

    Returns the keys of RESULT_KEYS for every sample. Never raises on model output; raises ValueError
    on bad configuration or a row that breaks the data contract (naming the field and row index).
    """
    config = config_for_call(reward_kwargs)
    weights = config.weights
    info: Mapping[str, Any] = extra_info if extra_info is not None else {}
    block = answer_block(solution_str)
    # Always evaluated (it also checks the row's ground truth); reported only when weighted.
    raw_accuracy, pred = grade(block, ground_truth, info)
    accuracy = raw_accuracy if weights.accuracy else 0.0
    form = format_reward(solution_str) if weights.format else 0.0
    integrity = knowledge = process = 0.0
    judge_fields = not_judged()
    if weights.process:
        verdict = await _process(config.judge, solution_str, ground_truth, info, correct=raw_accuracy >= 1.0)
        integrity, knowledge, process = verdict.integrity, verdict.knowledge, verdict.process
        judge_fields = verdict.fields()
    score = weights.accuracy * accuracy + weights.format * form + weights.process * process
    return {
        "score": float(score),
        "accuracy": float(accuracy),
        "format": float(form),
        "process": float(process),
        "integrity": float(integrity),
        "knowledge": float(knowledge),
        **judge_fields,
        "acc": float(accuracy),
        "pred": pred,
    }
