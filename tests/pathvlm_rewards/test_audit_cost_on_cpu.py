"""`cost`: a run's judge usage from its dumped samples, priced on the command line, and projected to stage 3."""

import json

import pytest
from audit_fixtures import dump_line

from pathvlm_rewards.audit.__main__ import main


def usage(number, **judge):
    return {**dump_line(number, step=1), **judge}


CALL = {"judge_calls": 1.0, "judge_prompt_tokens": 1000.0, "judge_completion_tokens": 50.0, "judge_latency_s": 2.0}
SAMPLES = [
    usage(0, **CALL),
    usage(1, **CALL, judge_retries=1.0),
    usage(2, judge_cache_hit=1.0),  # served by the cache: no call, no tokens
    usage(3, **{**CALL, "judge_calls": 2.0, "judge_prompt_tokens": 2000.0, "judge_completion_tokens": 100.0},
          judge_fallback=1.0, judge_fallback_unparseable=1.0),  # re-asked, still unreadable
    usage(4, judge_fallback=1.0, judge_error=1.0, judge_error_timeout=1.0),
    usage(5),  # process weight 0: the judge was never consulted
]


def test_cost_prices_a_run_and_projects_a_full_stage_three(tmp_path):
    rollouts = tmp_path / "rollouts"
    rollouts.mkdir()
    (rollouts / "1.jsonl").write_text("".join(json.dumps(s) + "\n" for s in SAMPLES[:4]))
    # an evaluation run's sample carries the reward's keys under "reward"
    evaluation = tmp_path / "eval.jsonl"
    evaluation.write_text(json.dumps({"response": "x", "reward": SAMPLES[4]}) + "\n" +
                          json.dumps({"response": "y", "reward": SAMPLES[5]}) + "\n")
    out = tmp_path / "cost"
    assert main(["cost", str(rollouts), str(evaluation), "--price-per-million-input-tokens", "2",
                 "--price-per-million-output-tokens", "10", "--steps", "10", "--batch", "3", "--n", "2",
                 "--out", str(out)]) == 0
    data = json.loads((out / "cost.json").read_text())
    total = data["total"]
    assert (total["responses"], total["calls"], total["retries"], total["cache_hits"]) == (5, 4, 1, 1)
    assert (total["prompt_tokens"], total["completion_tokens"]) == (4000, 200)
    assert total["cost_usd"] == pytest.approx((4000 * 2 + 200 * 10) / 1e6)
    assert total["fallback_rate"] == pytest.approx(2 / 5) and total["error_rate"] == pytest.approx(1 / 5)
    assert total["rate_per_reason"]["unparseable"] == pytest.approx(1 / 5)
    assert total["rate_per_reason"]["timeout"] == pytest.approx(1 / 5)
    assert data["inputs"][str(evaluation)]["responses"] == 1
    projection = data["projection"]
    # 60 responses; 1 in 5 from the cache → 48 judged; 4 calls per 4 uncached responses → 48 calls of 1000 + 50
    assert projection["responses"] == 60 and projection["judged"] == pytest.approx(48)
    assert projection["calls"] == pytest.approx(48)
    assert projection["prompt_tokens"] == pytest.approx(48_000) and projection["completion_tokens"] == 2400
    assert projection["cost_usd"] == pytest.approx((48_000 * 2 + 2400 * 10) / 1e6)
    assert "Projected full stage 3" in (out / "report.md").read_text()


def test_cost_without_judge_usage_says_so(tmp_path, capsys):
    path = tmp_path / "val.jsonl"
    path.write_text(json.dumps(SAMPLES[5]) + "\n")
    assert main(["cost", str(path), "--batch", "8", "--out", str(tmp_path / "out")]) == 2
    assert "no judge usage" in capsys.readouterr().err
