"""Judge usage of a run: calls, tokens, cache hit rate, cost per 1,000 responses, fallback rates per reason.

Reads the per-sample keys compute_score returns (verdict.JUDGE_KEYS), e.g. from the JSONL files verl
dumps to `trainer.rollout_data_dir` and `trainer.validation_data_dir`:

    python -m pathvlm_rewards.judge.report runs/stage3_grpo_dual/rollouts runs/stage3_grpo_dual/validation
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from pathvlm_rewards.judge.verdict import ERROR_REASONS, REASONS, reason_key


@dataclass(frozen=True)
class UsageReport:
    responses: int  # responses the judge was consulted on (cache hits and fallbacks included)
    calls: int
    retries: int
    prompt_tokens: int
    completion_tokens: int
    cache_hits: int
    latency_s: float  # summed over calls (waiting for a concurrency slot excluded)
    cost_usd: float  # at the configured prices per token
    fallbacks: int
    reasons: dict[str, int]  # responses per fallback reason

    @property
    def cache_hit_rate(self) -> float:
        return self.share(self.cache_hits)

    @property
    def errors(self) -> int:
        """Responses without any reply from the judge (every reason but unparseable)."""
        return sum(count for reason, count in self.reasons.items() if reason in ERROR_REASONS)

    @property
    def cost_per_1000(self) -> float:
        return 1000 * self.share(self.cost_usd)

    def share(self, count: float) -> float:
        """`count` as a fraction of the judged responses."""
        return count / self.responses if self.responses else 0.0

    def lines(self) -> list[str]:
        return [
            f"judged responses   {self.responses}",
            f"judge calls        {self.calls} (retries {self.retries})",
            f"tokens             {self.prompt_tokens} prompt, {self.completion_tokens} completion",
            f"cache hit rate     {self.cache_hit_rate:.1%}",
            f"mean latency/call  {self.latency_s / self.calls if self.calls else 0.0:.2f} s",
            f"cost               ${self.cost_usd:.4f} (${self.cost_per_1000:.4f} per 1,000 responses)",
            f"fallback rate      {self.share(self.fallbacks):.1%}",
            *(f"  {reason:<16} {self.share(count):.1%}" for reason, count in self.reasons.items()),
        ]


def summarize(samples: Iterable[Mapping]) -> UsageReport:
    """The report over per-sample results; samples the judge never saw (process weight 0) are skipped."""
    judged = [s for s in samples if s.get("judge_calls") or s.get("judge_cache_hit") or s.get("judge_fallback")]

    def total(key: str) -> float:
        return sum(float(s.get(key, 0.0)) for s in judged)

    return UsageReport(
        responses=len(judged), calls=int(total("judge_calls")), retries=int(total("judge_retries")),
        prompt_tokens=int(total("judge_prompt_tokens")), completion_tokens=int(total("judge_completion_tokens")),
        cache_hits=int(total("judge_cache_hit")), latency_s=total("judge_latency_s"),
        cost_usd=total("judge_cost_usd"), fallbacks=int(total("judge_fallback")),
        reasons={reason: int(total(reason_key(reason))) for reason in REASONS},
    )


def _flat(sample: dict) -> dict:
    """An evaluation run's sample carries compute_score's keys under `reward`; a verl dump line at the top."""
    reward = sample.get("reward")
    return {**sample, **reward} if isinstance(reward, Mapping) else sample


def read_samples(paths: Iterable[Path]) -> Iterator[dict]:
    """Samples from JSONL files, or from every *.jsonl in a folder (verl dumps, evaluation samples)."""
    for path in paths:
        for file in sorted(path.glob("*.jsonl")) if path.is_dir() else [path]:
            with open(file, encoding="utf-8") as lines:
                yield from (_flat(json.loads(line)) for line in lines if line.strip())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pathvlm_rewards.judge.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", type=Path, help="JSONL files or folders of them")
    print("\n".join(summarize(read_samples(parser.parse_args(argv).paths)).lines()))


if __name__ == "__main__":
    main()
