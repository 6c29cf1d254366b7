"""`python -m data_prep curriculum`: pass rates from an evaluation run's samples, the band, the order, the output.

The samples here follow pathvlm_eval's samples/<model>.jsonl; the same command on a real evaluation run (the SFT
model, n=4) feeding stage 2 is in tests/recipes/test_cluster_pipeline_on_cpu.py."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dp_fixtures import assert_ok, read_rows, run_cli

# Strict accuracies of each sample, per row of grpo_train.parquet (12 rows; rows 8-11 have no samples).
SAMPLES = {0: [0, 0, 0, 0], 1: [1, 0, 0, 0], 2: [1, 1, 0, 0], 3: [1, 1, 1, 1], 4: [1, 1, 1, 0], 5: [0, 1, 0, 0],
           6: [0, 0, 0, 0], 7: [1, 1, 1, 1]}


def _prompt_id(row: dict) -> str:
    return f"{row['data_source']}/{row['extra_info']['split']}/{row['extra_info']['index']}"


def _eval_run(root: Path, rows: list[dict], samples: dict[int, list[int]], model: str = "stage1_sft") -> Path:
    lines = [{"model": model, "prompt_id": _prompt_id(rows[i]), "sample": s, "response": "<answer>A</answer>",
              "strict": {"answer": "A", "accuracy": float(acc), "format": 1.0}, "lenient": {"accuracy": float(acc)}}
             for i, accs in samples.items() for s, acc in enumerate(accs)]
    (root / "samples").mkdir(parents=True, exist_ok=True)
    (root / "samples" / f"{model}.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return root


@pytest.fixture
def grpo_train(pathmmu_out) -> tuple[Path, list[dict]]:
    path = pathmmu_out / "grpo_train.parquet"
    return path, read_rows(path)


def _curriculum(run: Path, data: Path, out: Path, *flags: str):
    return run_cli("curriculum", "--eval-run", str(run), "--data", str(data), "--out-dir", str(out), *flags)


@pytest.mark.parametrize(("flags", "kept_rows"), [
    # default band (0, 1): rows never solved (0, 6), always solved (3, 7) and without samples (8-11) go
    ([], [1, 2, 4, 5]),
    # easiest first; ties (rows 1 and 5, both 0.25) keep file order
    (["--order", "easy-to-hard"], [4, 2, 1, 5]),
    (["--order", "hard-to-easy"], [1, 5, 2, 4]),
    # bounds are exclusive unless --inclusive
    (["--min-pass", "0.25", "--max-pass", "0.75"], [2]),
    (["--min-pass", "0.25", "--max-pass", "0.75", "--inclusive"], [1, 2, 4, 5]),
    # the never-solved items alone
    (["--max-pass", "0.0", "--inclusive"], [0, 6]),
])
def test_keeps_the_band_in_the_order_asked(grpo_train, tmp_path, flags, kept_rows):
    data, rows = grpo_train
    result = _curriculum(_eval_run(tmp_path / "run", rows, SAMPLES), data, tmp_path / "out", *flags)
    assert_ok(result)
    out = read_rows(tmp_path / "out" / data.name)
    assert [_prompt_id(row) for row in out] == [_prompt_id(rows[i]) for i in kept_rows]
    assert [row["extra_info"]["pass_rate"] for row in out] == [sum(SAMPLES[i]) / 4 for i in kept_rows]
    assert f"kept {len(kept_rows)} of 8 evaluated rows" in result.stdout


def test_rows_keep_the_contract_and_the_manifest_has_the_histogram(grpo_train, tmp_path):
    data, rows = grpo_train
    assert_ok(_curriculum(_eval_run(tmp_path / "run", rows, SAMPLES), data, tmp_path / "out"))
    out_path = tmp_path / "out" / data.name
    source_schema, schema = pq.read_schema(data), pq.read_schema(out_path)
    assert schema.names == source_schema.names
    extra = schema.field("extra_info").type
    assert extra.names == [*source_schema.field("extra_info").type.names, "pass_rate"]
    # everything but the added field is the source row, images included
    for row in read_rows(out_path):
        source = rows[row["extra_info"]["index"]]
        assert {**row, "extra_info": {k: v for k, v in row["extra_info"].items() if k != "pass_rate"}} == source
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["rows"] == {"read": 12, "evaluated": 8, "unevaluated": 4, "kept": 4, "outside_band": 4}
    histogram = manifest["pass_rate_histogram"]
    assert sum(histogram["counts"]) == 8 and histogram["never_solved"] == 2 and histogram["always_solved"] == 2
    # tenths of [0, 1]: 0 twice, 0.25 twice, 0.5 once, 0.75 once, 1.0 twice (the last bin holds 1.0)
    assert histogram["counts"] == [2, 0, 2, 0, 0, 1, 0, 1, 0, 2]
    assert manifest["samples_per_item"] == {"min": 4, "max": 4}


def test_a_second_curriculum_replaces_the_pass_rates(grpo_train, tmp_path):
    data, rows = grpo_train
    assert_ok(_curriculum(_eval_run(tmp_path / "run", rows, SAMPLES), data, tmp_path / "first"))
    first = tmp_path / "first" / data.name
    again = {i: [1, 1, 0, 0] for i in (1, 2, 4, 5)}  # a later evaluation of the kept rows
    assert_ok(_curriculum(_eval_run(tmp_path / "run2", rows, again), first, tmp_path / "second"))
    out = read_rows(tmp_path / "second" / data.name)
    assert [row["extra_info"]["pass_rate"] for row in out] == [0.5] * 4
    assert list(out[0]["extra_info"]).count("pass_rate") == 1


@pytest.mark.parametrize(("case", "flags", "message"), [
    # rows without samples are an error under --strict, with the first one named
    ("strict", ["--strict"], "4 rows have no sample in"),
    # a band nothing falls into: nothing is written
    ("empty band", ["--min-pass", "0.8", "--max-pass", "0.9"], "no row of"),
    ("bounds", ["--min-pass", "0.9", "--max-pass", "0.1"], "expected 0 <= min-pass <= max-pass <= 1"),
    # a run with several models needs --model
    ("two models", [], "several models"),
    ("unknown model", ["--model", "nope"], "no samples of model 'nope'"),
    # samples of another file (prompt ids that match no row)
    ("other file", [], "no sample is of a row of"),
    # a broken sample line names the file and line
    ("bad line", [], "line 2: not a pathvlm_eval sample"),
])
def test_bad_input_is_refused_with_nothing_written(grpo_train, tmp_path, case, flags, message):
    data, rows = grpo_train
    run = _eval_run(tmp_path / "run", rows, SAMPLES)
    samples = run / "samples" / "stage1_sft.jsonl"
    if case == "two models":
        _eval_run(run, rows, SAMPLES, model="stage2_grpo")
    if case == "other file":
        samples.write_text(samples.read_text().replace("/grpo_train/", "/test/"))
    if case == "bad line":
        lines = samples.read_text().splitlines(keepends=True)
        samples.write_text(lines[0] + '{"prompt_id": "x"}\n' + "".join(lines[1:]))
    result = _curriculum(run, data, tmp_path / "out", *flags)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


def test_refuses_to_write_over_the_builders_folder(grpo_train, tmp_path):
    data, rows = grpo_train
    result = _curriculum(_eval_run(tmp_path / "run", rows, SAMPLES), data, data.parent)
    assert result.returncode == 2 and "choose another folder" in result.stderr
