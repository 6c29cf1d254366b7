"""`cost`: what the judge cost a finished run, and what a full stage 3 would cost.

From the per-response usage records: verl's rollout/validation dumps, an evaluation run's samples, an audit
run's calls.jsonl.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from pathlib import Path

from pathvlm_rewards.audit.items import AuditInputError
from pathvlm_rewards.audit.outputs import table, write_report
from pathvlm_rewards.config import defaults
from pathvlm_rewards.judge.report import UsageReport, read_samples, summarize


@dataclass(frozen=True)
class Prices:
    """USD per million tokens."""

    input: float
    output: float

    def of(self, prompt_tokens: float, completion_tokens: float) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1e6


@dataclass(frozen=True)
class Projection:
    """A full stage 3 at the measured rates: steps × batch × n responses, cache hits free."""

    responses: int
    judged: float  # responses not served by the cache
    calls: float
    prompt_tokens: float
    completion_tokens: float
    cost_usd: float
    fallbacks: float


def project(report: UsageReport, prices: Prices, steps: int, batch: int, n: int) -> Projection:
    responses = steps * batch * n
    judged = responses * (1 - report.cache_hit_rate)
    uncached = report.responses - report.cache_hits
    calls = judged * (report.calls / uncached if uncached else 0.0)
    calls_seen = max(1, report.calls)
    prompt = calls * report.prompt_tokens / calls_seen
    completion = calls * report.completion_tokens / calls_seen
    return Projection(responses=responses, judged=judged, calls=calls, prompt_tokens=prompt,
                      completion_tokens=completion, cost_usd=prices.of(prompt, completion),
                      fallbacks=responses * report.share(report.fallbacks))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    judge = defaults()["judge"]
    parser.add_argument("paths", type=Path, nargs="+",
                        help="JSONL files or folders: RUN/rollouts, RUN/validation, eval samples, audit calls.jsonl")
    parser.add_argument("--price-per-million-input-tokens", type=float,
                        default=judge["price_per_million_input_tokens"], help="USD (default: %(default)s)")
    parser.add_argument("--price-per-million-output-tokens", type=float,
                        default=judge["price_per_million_output_tokens"], help="USD (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=2000, help="stage-3 steps to project (the paper: 2000)")
    parser.add_argument("--batch", type=int, required=True, help="prompts per step (data.train_batch_size)")
    parser.add_argument("--n", type=int, default=4, help="responses per prompt (rollout n; the paper's G: 4)")


def _summary(report: UsageReport, prices: Prices) -> dict:
    return {
        "responses": report.responses, "calls": report.calls, "retries": report.retries,
        "prompt_tokens": report.prompt_tokens, "completion_tokens": report.completion_tokens,
        "cache_hits": report.cache_hits, "cache_hit_rate": report.cache_hit_rate,
        "mean_latency_s": report.latency_s / report.calls if report.calls else 0.0,
        "fallback_rate": report.share(report.fallbacks), "error_rate": report.share(report.errors),
        "rate_per_reason": {reason: report.share(count) for reason, count in report.reasons.items()},
        "cost_usd": prices.of(report.prompt_tokens, report.completion_tokens),
    }


def run(args: argparse.Namespace) -> list[str]:
    if min(args.steps, args.batch, args.n) < 1:
        raise AuditInputError("--steps, --batch and --n must be at least 1")
    missing = [str(path) for path in args.paths if not path.exists()]
    if missing:
        raise AuditInputError(f"not found: {missing}")
    prices = Prices(args.price_per_million_input_tokens, args.price_per_million_output_tokens)
    per_input = {str(path): _summary(summarize(read_samples([path])), prices) for path in args.paths}
    total = summarize(read_samples(args.paths))
    if not total.responses:
        raise AuditInputError(f"no judge usage in {[str(p) for p in args.paths]}: the files hold no judge_* keys "
                              "with a consulted judge (process weight 0, or a dump without the reward's keys)")
    projection = project(total, prices, args.steps, args.batch, args.n)
    data = {"prices_per_million_tokens": asdict(prices), "inputs": per_input, "total": _summary(total, prices),
            "projection": {"steps": args.steps, "batch": args.batch, "n": args.n, **asdict(projection)}}
    lines = _report(data)
    write_report(args.out, "cost", lines, data)
    return lines


def _report(data: dict) -> list[str]:
    prices, projection = data["prices_per_million_tokens"], data["projection"]
    columns = ("responses", "calls", "retries", "prompt_tokens", "completion_tokens", "cache_hit_rate",
               "mean_latency_s", "fallback_rate", "error_rate", "cost_usd")

    def cells(summary: dict) -> list[str]:
        return [f"{summary[c]:.1%}" if c.endswith("rate") else f"{summary[c]:.4g}" if isinstance(summary[c], float)
                else str(summary[c]) for c in columns]

    reasons = data["total"]["rate_per_reason"]
    return [
        "# Judge cost",
        "",
        f"Prices: ${prices['input']:g} per million input tokens, ${prices['output']:g} per million output tokens.",
        "",
        *table(["input", *columns], [*([path, *cells(s)] for path, s in data["inputs"].items()),
                                     ["**total**", *cells(data["total"])]]),
        "",
        "Fallback and error rates per reason (share of judged responses):",
        "",
        *table(list(reasons), [[f"{rate:.1%}" for rate in reasons.values()]]),
        "",
        f"## Projected full stage 3: {projection['steps']} steps × {projection['batch']} prompts × "
        f"{projection['n']} responses = {projection['responses']:,} responses",
        "",
        f"At this run's cache hit rate ({data['total']['cache_hit_rate']:.1%}) {projection['judged']:,.0f} responses "
        f"reach the judge: {projection['calls']:,.0f} calls, {projection['prompt_tokens']:,.0f} prompt + "
        f"{projection['completion_tokens']:,.0f} completion tokens, **${projection['cost_usd']:,.2f}**, "
        f"about {projection['fallbacks']:,.0f} responses with the fallback.",
    ]
