"""The cross-modal process reward: a vision-language judge grading the reasoning with the paper's rubric."""

from pathvlm_rewards.judge.openai_backend import JudgeConfigError
from pathvlm_rewards.judge.runner import Judge, JudgeSample, Verdict, get_judge

__all__ = ["Judge", "JudgeConfigError", "JudgeSample", "Verdict", "get_judge"]
