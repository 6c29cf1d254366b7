"""The judge's verdict on one response and the fixed set of per-sample keys it reports to verl.

verl's reward loop builds one array per key from the first sample's keys (a key missing later raises,
a new one is dropped), and validation reports the mean of every numeric key per data source; so every
sample carries every key, and each fallback or error reason has its own 0/1 key (its mean is its rate).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pathvlm_rewards.judge.usage import CallUsage

FALLBACK_IF_CORRECT = 0.5
# Why the paper's fallback replaced the judge's scores: the judge replied, but no scores could be read
# (after one re-ask) ...
UNPARSEABLE = "unparseable"
# ... or there was no reply: the call cap or an HTTP timeout, an HTTP error status after retries, a
# connection failure, a row without a usable image (no call made), anything else (e.g. a malformed body).
ERROR_REASONS = ("timeout", "http", "network", "no_image", "other")
REASONS = (UNPARSEABLE, *ERROR_REASONS)


def reason_key(reason: str) -> str:
    """The per-sample key of a fallback reason: judge_fallback_unparseable, judge_error_<reason>."""
    return f"judge_fallback_{reason}" if reason == UNPARSEABLE else f"judge_error_{reason}"


JUDGE_KEYS = (
    "judge_fallback", "judge_error", *(reason_key(reason) for reason in REASONS),
    "judge_calls", "judge_retries", "judge_prompt_tokens", "judge_completion_tokens", "judge_latency_s",
    "judge_cache_hit", "judge_cost_usd", "judge_sanitized",
)


@dataclass(frozen=True)
class Verdict:
    integrity: float
    knowledge: float
    reason: str | None  # None: the judge's own scores; else one of REASONS (the fallback was used)
    usage: CallUsage = field(default_factory=CallUsage)
    cost_usd: float = 0.0
    cache_hit: bool = False  # served from the cache, or by an identical call already in flight
    sanitized: bool = False  # something was removed from the policy's text before the judge saw it

    @property
    def fallback(self) -> bool:
        return self.reason is not None

    @property
    def error(self) -> bool:
        return self.reason in ERROR_REASONS

    @property
    def process(self) -> float:
        return (self.integrity + self.knowledge) / 2

    def fields(self) -> dict[str, float]:
        """The JUDGE_KEYS of this verdict, all floats."""
        usage = self.usage
        values = {
            "judge_fallback": self.fallback, "judge_error": self.error,
            **{reason_key(reason): self.reason == reason for reason in REASONS},
            "judge_calls": usage.calls, "judge_retries": usage.retries, "judge_prompt_tokens": usage.prompt_tokens,
            "judge_completion_tokens": usage.completion_tokens, "judge_latency_s": usage.latency_s,
            "judge_cache_hit": self.cache_hit, "judge_cost_usd": self.cost_usd, "judge_sanitized": self.sanitized,
        }
        return {key: float(values[key]) for key in JUDGE_KEYS}


def fallback_verdict(correct: bool, reason: str, **details) -> Verdict:
    """The paper's fallback: 0.5 per dimension if the answer was correct, else 0."""
    value = FALLBACK_IF_CORRECT if correct else 0.0
    return Verdict(value, value, reason, **details)


def not_judged() -> dict[str, float]:
    """The JUDGE_KEYS of a sample whose process reward is not computed (weight 0)."""
    return dict.fromkeys(JUDGE_KEYS, 0.0)
