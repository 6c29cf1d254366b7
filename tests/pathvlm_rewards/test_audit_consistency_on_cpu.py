"""`consistency` on validation dumps in verl's format, judged k times by the served tiny model (a real
`transformers serve`, openai backend), then its verdicts against a rater with `agreement` and priced by `cost`."""

import csv
import json
from pathlib import Path

import pytest
import yaml
from audit_fixtures import write_rows, write_validation_dumps
from reward_fixtures import served_kwargs

from pathvlm_rewards.audit.__main__ import main
from pathvlm_rewards.audit.judging import judge_config

REPO = Path(__file__).resolve().parents[2]
REPLY = {"integrity_score": 0.6, "knowledge_score": 1.0}


def test_consistency_judges_every_response_k_times_without_the_cache(served_judge, tmp_path):
    data, dumps = write_rows(tmp_path / "val.parquet", 3), write_validation_dumps(tmp_path / "validation", 3)
    cache = tmp_path / "cache"
    judge = served_kwargs(served_judge, cache, json.dumps(REPLY), max_concurrency=1)["judge"]
    config = tmp_path / "judge.yaml"
    config.write_text(yaml.safe_dump({"judge": judge}))
    out = tmp_path / "audit"
    assert main(["consistency", "--responses", str(dumps), "--data", str(data), "--n", "3", "--k", "2",
                 "--judge-config", str(config), "--judge-set", "temperature=0.0", "--bootstrap", "50",
                 "--out", str(out)]) == 0
    report = json.loads((out / "consistency.json").read_text())
    assert (report["responses"], report["runs"], report["scored_in_every_run"]) == (3, 2, 3)
    assert report["judge"]["model"] == served_judge.model and report["usage"]["calls"] == 6
    assert not cache.exists()  # the configured cache is switched off: every judging is a real call
    for item in report["items"]:
        assert [(run["integrity"], run["knowledge"], run["fallback"]) for run in item["runs"]] == [(0.6, 1.0, None)] * 2
    # the forced reply is the same for every response: ρ and ICC are undefined, and say so
    assert report["statistics"]["integrity"]["spearman"]["value"] is None
    assert report["statistics"]["mean"]["paper_spearman"] == 0.814
    assert "0.814" in (out / "report.md").read_text() and (out / "scores.png").stat().st_size > 0

    # the audit run against a rater who agrees on knowledge everywhere
    ratings = tmp_path / "ratings_dr_a.csv"
    with open(ratings, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["item_id", "integrity", "knowledge"])
        writer.writerows([item["item_id"], 0.2, 1] for item in report["items"])
    assert main(["agreement", "--judge", str(out), "--ratings", str(ratings), "--bootstrap", "50",
                 "--out", str(tmp_path / "agreement")]) == 0
    (pair,) = json.loads((tmp_path / "agreement" / "agreement.json").read_text())["pairs"]
    assert (pair["kind"], pair["a"], pair["b"]) == ("judge-vs-human", "audit", "ratings_dr_a")
    assert pair["statistics"]["knowledge"]["mae"]["value"] == 0.0
    assert abs(pair["statistics"]["integrity"]["mae"]["value"] - 0.4) < 1e-9
    assert list((tmp_path / "agreement").glob("scatter_audit_vs_ratings_dr_a.png"))

    # the audit's own calls, uncached, priced
    assert main(["cost", str(out / "calls.jsonl"), "--batch", "4", "--out", str(tmp_path / "cost")]) == 0
    total = json.loads((tmp_path / "cost" / "cost.json").read_text())["total"]
    assert total["responses"] == 6 and total["calls"] == 6 and total["cache_hit_rate"] == 0.0
    assert total["prompt_tokens"] > 0


@pytest.mark.parametrize(("preset", "backend", "base_url", "model"), [
    ("gpt4o", "openai", None, "gpt-4o"),
    # the self-hosted presets read the server's address and model from the environment, as stage 3 does
    ("vllm_local", "openai", "http://judge-host:8000/v1", "/models/judge"),
    ("transformers_local", "openai", "http://judge-host:8000/v1", "/models/judge"),
])
def test_a_judge_preset_of_conf_is_a_judge_config(monkeypatch, preset, backend, base_url, model):
    monkeypatch.setenv("JUDGE_BASE_URL", "http://judge-host:8000/v1")
    monkeypatch.setenv("JUDGE_MODEL", "/models/judge")
    config = judge_config(REPO / "conf" / "judge" / f"{preset}.yaml", ["max_concurrency=3"])
    assert (config.backend, config.base_url, config.model) == (backend, base_url, model)
    assert config.max_concurrency == 3 and config.cache_dir is None
