"""End to end on CPU: the tiny Qwen2.5-VL, transformers engine, fixture Parquet, the real reward package."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from eval_fixtures import compose_eval, make_row, pathmmu_rows, tiny_overrides, write_rl_parquet
from pid_recording_rewards import PIDS_ENV

import pathvlm_rewards
from pathvlm_eval import evaluate
from pathvlm_eval.data import DataError, load_items

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_two_models_end_to_end(tiny_ckpt, fixture_parquets, tmp_path):
    out = tmp_path / "run"
    cfg = compose_eval([*tiny_overrides(tiny_ckpt, fixture_parquets, out, models=("base", "r1")),
                        "+models.base.reference=qwen2.5-vl-7b", "+models.r1.reference=pathvlm-r1-7b"])
    evaluate(cfg)
    items = {i.prompt_id: i for i in load_items(fixture_parquets)}

    for model in ("base", "r1"):
        records = _records(out / "samples" / f"{model}.jsonl")
        assert sorted(r["prompt_id"] for r in records) == sorted(items)  # one greedy sample per question
        for r in records:  # the stored strict scores are the reward's own, recomputed here directly
            item = items[r["prompt_id"]]
            reward = asyncio.run(pathvlm_rewards.compute_score(item.data_source, r["response"], item.ground_truth,
                                                               extra_info=dict(item.extra_info)))
            assert (r["strict"]["accuracy"], r["strict"]["format"]) == (reward["accuracy"], reward["format"])
            assert r["lenient"]["answer"] == pathvlm_rewards.lenient_answer(r["response"])
            assert 0 < r["output_tokens"] <= 6 and r["engine"] == "hf"

    results = json.loads((out / "results.json").read_text())
    assert [m["name"] for m in results["models"]] == ["base", "r1"]
    records = _records(out / "samples" / "r1.jsonl")
    groups = {g["label"]: g["metrics"] for g in results["models"][1]["groups"]}
    assert groups["overall"]["n_questions"] == 6 and groups["pathmmu"]["n_questions"] == 4
    assert {"pathmmu / category=PubMed", "omnimedvqa / dataset=ISIC2020", "omnimedvqa / modality=CT"} <= set(groups)
    assert groups["overall"]["strict"]["accuracy"] == pytest.approx(
        sum(r["strict"]["accuracy"] for r in records) / len(records))
    assert groups["overall"]["mean_output_tokens"] == pytest.approx(
        sum(r["output_tokens"] for r in records) / len(records))

    report = (out / "report.md").read_text()
    for text in ("In-domain accuracy", "Out-of-domain accuracy", "Chest CT Scan", "**r1** (ours)",
                 "paper: PathVLM-R1", "65.50", "51.60", "210.04", "Lenient", "plots/accuracy_by_dataset.png"):
        assert text in report
    plots = sorted((out / "plots").glob("*.png"))
    assert {p.name for p in plots} >= {"accuracy_by_dataset.png", "accuracy_pathmmu_by_category.png",
                                       "output_tokens.png"}
    for plot in plots:
        assert plot.read_bytes()[:8] == PNG_SIGNATURE and plot.stat().st_size > 5000

    # Running again generates nothing: every sample line stays byte for byte.
    before = {m: (out / "samples" / f"{m}.jsonl").read_bytes() for m in ("base", "r1")}
    evaluate(cfg)
    assert before == {m: (out / "samples" / f"{m}.jsonl").read_bytes() for m in ("base", "r1")}
    # Other generation settings in the same folder are refused instead of silently mixed.
    with pytest.raises(ValueError, match="max_new_tokens"):
        evaluate(compose_eval([*tiny_overrides(tiny_ckpt, fixture_parquets, out, models=("base",)),
                               "generation.max_new_tokens=7"]))


def test_sampling_reports_pass_at_k_and_majority_vote(tiny_ckpt, tmp_path):
    data = write_rl_parquet(tmp_path / "p.parquet", pathmmu_rows(2))
    out = tmp_path / "run"
    evaluate(compose_eval([*tiny_overrides(tiny_ckpt, [data], out), "generation.n=3", "generation.temperature=1.0",
                           "generation.max_new_tokens=3", "report.plots=false"]))
    records = _records(out / "samples" / "tiny.jsonl")
    assert sorted((r["prompt_id"], r["sample"]) for r in records) == [
        (f"pathmmu/test/{i}", s) for i in range(2) for s in range(3)]
    overall = json.loads((out / "results.json").read_text())["models"][0]["groups"][0]["metrics"]
    assert set(overall["strict"]["pass_at_k"]) == {"1", "2"}
    assert overall["strict"]["majority_accuracy"] is not None
    assert "pass@2" in (out / "report.md").read_text() and not (out / "plots").exists()


def test_isolated_models_generate_in_processes_of_their_own(tiny_ckpt, tmp_path, monkeypatch):
    """engine.isolate_models=true (what vLLM gets with `auto`) on the transformers engine: each model generates
    and scores in a child process of its own, and writes the same samples as the in-process run."""
    data = write_rl_parquet(tmp_path / "p.parquet", pathmmu_rows(2))
    samples, pids = {}, {}
    for isolate in ("false", "true"):
        pid_file, out = tmp_path / f"pids_{isolate}.txt", tmp_path / f"isolate_{isolate}"
        monkeypatch.setenv(PIDS_ENV, str(pid_file))
        evaluate(compose_eval([*tiny_overrides(tiny_ckpt, [data], out, models=("base", "r1")),
                               f"engine.isolate_models={isolate}", "scoring.module=pid_recording_rewards",
                               "report.plots=false"]))
        samples[isolate] = {m: _records(out / "samples" / f"{m}.jsonl") for m in ("base", "r1")}
        pids[isolate] = pid_file.read_text().split()
    assert samples["true"] == samples["false"] and all(len(r) == 2 for r in samples["true"].values())
    assert set(pids["false"]) == {str(os.getpid())}  # in process: this test's own process scored everything
    assert len(pids["true"]) == 4 and len(set(pids["true"])) == 2  # one process per model, two samples each
    assert str(os.getpid()) not in pids["true"]


def test_isolate_models_accepts_auto_true_false_only(tiny_ckpt, tmp_path):
    data = write_rl_parquet(tmp_path / "p.parquet", pathmmu_rows(1))
    with pytest.raises(ValueError, match="engine.isolate_models: 'sometimes'"):
        evaluate(compose_eval([*tiny_overrides(tiny_ckpt, [data], tmp_path / "r"), "engine.isolate_models=sometimes"]))


@pytest.mark.parametrize("isolate", ["false", "true"])
def test_a_crash_midway_resumes_without_generating_twice(tiny_ckpt, tmp_path, isolate):
    """Row 3 has a broken image: the run stops there with the file/row named, after storing rows 0-2.
    With the row repaired, the rerun generates only rows 3-5 and keeps the first three lines as they were.
    With isolated models the error is raised in the child process and reaches the caller unchanged."""
    rows = pathmmu_rows(6)
    good_image = rows[3]["images"][0]["bytes"]
    rows[3]["images"][0]["bytes"] = b"truncated download"
    data = write_rl_parquet(tmp_path / "p.parquet", rows)
    out = tmp_path / "run"
    cfg = compose_eval([*tiny_overrides(tiny_ckpt, [data], out), "engine.hf.batch_size=1", "report.plots=false",
                        f"engine.isolate_models={isolate}"])
    with pytest.raises(DataError, match=r"p\.parquet: row 3: images\[0\]"):
        evaluate(cfg)
    jsonl = out / "samples" / "tiny.jsonl"
    first = jsonl.read_text().splitlines()
    assert [json.loads(line)["prompt_id"] for line in first] == [f"pathmmu/test/{i}" for i in range(3)]

    rows = pathmmu_rows(6)
    rows[3]["images"][0]["bytes"] = good_image
    write_rl_parquet(data, rows)
    evaluate(cfg)
    lines = jsonl.read_text().splitlines()
    assert lines[:3] == first
    assert [json.loads(line)["prompt_id"] for line in lines] == [f"pathmmu/test/{i}" for i in range(6)]


def test_unknown_reference_id_and_missing_model_are_config_errors(tiny_ckpt, tmp_path):
    data = write_rl_parquet(tmp_path / "p.parquet", [make_row("pathvqa", 0, "yesno", "yes")])
    with pytest.raises(ValueError, match="known ids"):
        evaluate(compose_eval([*tiny_overrides(tiny_ckpt, [data], tmp_path / "r"), "+models.tiny.reference=gpt-5"]))
    with pytest.raises(ValueError, match=r"\+models\.NAME\.path"):
        evaluate(compose_eval([f"data.files=['{data}']", f"output_dir={tmp_path / 'r'}"]))


def test_reasoning_scores_from_the_in_process_judge(tiny_ckpt, tmp_path):
    """The stage-3 reward preset with the transformers judge (the tiny checkpoint): the judge really runs on
    every sample (no judge errors) and the report carries the integrity/knowledge means of the stored samples."""
    data = write_rl_parquet(tmp_path / "p.parquet", pathmmu_rows(2))
    out = tmp_path / "run"
    judge = "scoring.reward_kwargs.judge"
    evaluate(compose_eval([*tiny_overrides(tiny_ckpt, [data], out), "rewards@scoring.reward_kwargs=dual",
                           f"{judge}.backend=transformers", f"{judge}.model={tiny_ckpt}", f"+{judge}.cache_dir=null",
                           f"+{judge}.max_tokens=8", f"+{judge}.device=cpu", "report.plots=false"]))
    records = _records(out / "samples" / "tiny.jsonl")
    results = json.loads((out / "results.json").read_text())
    assert results["scoring"]["reasoning"] and results["scoring"]["weights"]["process"] > 0
    reasoning = results["models"][0]["groups"][0]["metrics"]["reasoning"]
    assert reasoning["judge_error_rate"] == 0.0
    for key in ("integrity", "knowledge"):
        assert reasoning[key] == pytest.approx(sum(r["reward"][key] for r in records) / len(records))
    assert "Reasoning scores (process-reward judge)" in (out / "report.md").read_text()
