"""The usage report of a run: calls, tokens, cache hit rate, cost per 1,000 responses, fallback rates per reason,
from the per-sample keys verl dumps."""

import json

import pytest

from pathvlm_rewards import parse_reward_kwargs
from pathvlm_rewards.judge.report import main, summarize
from pathvlm_rewards.judge.usage import CallUsage
from pathvlm_rewards.judge.verdict import Verdict, fallback_verdict, not_judged

PRICES = parse_reward_kwargs({}).judge  # GPT-4o list prices: $2.50 / $10.00 per million tokens


def called(prompt: int, completion: int, calls: int = 1, attempts: int = 1) -> dict:
    usage = CallUsage(calls=calls, attempts=attempts, prompt_tokens=prompt, completion_tokens=completion,
                      latency_s=0.5 * calls)
    return {"score": 2.0, **Verdict(0.6, 1.0, None, usage=usage, cost_usd=usage.cost_usd(PRICES)).fields()}


SAMPLES = [
    called(1000, 20),  # a verdict
    called(1000, 20, attempts=2),  # a verdict after one retry
    {"score": 2.5, **Verdict(0.6, 1.0, None, cache_hit=True).fields()},  # a cache hit: no call, no cost
    {"score": 2.5, **fallback_verdict(True, "unparseable", usage=CallUsage(2, 2, 2000, 400, 1.0),
                                      cost_usd=CallUsage(2, 2, 2000, 400).cost_usd(PRICES)).fields()},
    {"score": 1.0, **fallback_verdict(False, "timeout", usage=CallUsage(1, 4, 0, 0, 90.0)).fields()},
    {"score": 2.0, **not_judged()},  # process weight 0: not part of the judge's report
]


def test_summary():
    report = summarize(SAMPLES)
    assert (report.responses, report.calls, report.retries, report.cache_hits) == (5, 5, 4, 1)
    assert (report.prompt_tokens, report.completion_tokens) == (4000, 440)
    assert report.cost_usd == pytest.approx(4000 * 2.5e-6 + 440 * 10e-6)
    assert report.cost_per_1000 == pytest.approx(1000 * report.cost_usd / 5)
    assert report.cache_hit_rate == pytest.approx(0.2)
    assert report.reasons == {"unparseable": 1, "timeout": 1, "http": 0, "network": 0, "no_image": 0, "other": 0}


def test_cli_reads_verl_dumps(tmp_path, capsys):
    for step, rows in ((1, SAMPLES[:3]), (2, SAMPLES[3:])):
        (tmp_path / f"{step}.jsonl").write_text("".join(json.dumps({"step": step, **row}) + "\n" for row in rows))
    main([str(tmp_path)])
    out = capsys.readouterr().out
    for needle in ("judged responses   5", "judge calls        5 (retries 4)", "cache hit rate     20.0%",
                   "per 1,000 responses", "unparseable      20.0%", "timeout          20.0%"):
        assert needle in out


def test_an_empty_run_reports_zeros():
    report = summarize([{"score": 1.0, **not_judged()}])
    assert (report.responses, report.cost_per_1000, report.cache_hit_rate) == (0, 0.0, 0.0)
    assert "judged responses   0" in "\n".join(report.lines())
