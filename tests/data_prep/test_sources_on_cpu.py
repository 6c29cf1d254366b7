"""R1-style JSON, PathVQA, Quilt-VQA, PMC-VQA and OmniMedVQA builders, each on its exact on-disk format."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from dp_fixtures import (
    assert_ok,
    make_hf_parquet,
    make_omnimedvqa,
    make_pmcvqa,
    make_r1json,
    pathvqa_rows,
    quilt_rows,
    read_rows,
    run_cli,
)

from data_prep.sources.r1json import parse_problem


def test_r1json_reproduces_frozen_splits_exactly(tmp_path):
    files = make_r1json(tmp_path / "src", {"sft_train": 5, "grpo_train": 3, "test": 4})
    out = tmp_path / "out"
    assert_ok(run_cli("r1json", *[a for split, f in files.items() for a in ("--split-file", f"{split}={f}")],
                      "--out-dir", str(out)))
    for split, path in files.items():
        source = json.loads(path.read_text())
        rows = read_rows(out / f"{split}.parquet")
        assert [r["extra_info"]["image_file"] for r in rows] == [item["image"] for item in source]
        for item, row in zip(source, rows, strict=True):
            question, options = parse_problem(item["problem"], "x")
            assert row["extra_info"]["question"].startswith(question + "\n" + "\n".join(options))
            gold = row["reward_model"]["ground_truth"]
            assert gold in options and gold in item["solution"]
            assert row["data_source"] == "pathmmu" and row["extra_info"]["split"] == split
            if "<think>" in item["solution"]:
                assert row["messages"][1]["content"].startswith(item["solution"][: item["solution"].index("</think>")])
    assert json.loads((out / "manifest.json").read_text())["images_shared_across_splits"] == 0


def test_r1json_option_styles_and_errors(tmp_path):
    question, options = parse_problem("What is it?\nOptions:\n(A) one\nB. two\nC: three", "f: [0]")
    assert question == "What is it?" and options == ("A) one", "B) two", "C) three")
    (tmp_path / "bad.json").write_text(json.dumps([{"image": "x.jpg", "problem": "no options here", "solution": "A"}]))
    result = run_cli("r1json", "--split-file", f"test={tmp_path / 'bad.json'}", "--out-dir", str(tmp_path / "o"))
    assert result.returncode == 2 and "bad.json: [0]" in result.stderr and "Options:" in result.stderr
    result = run_cli("r1json", "--split-file", f"train={tmp_path / 'bad.json'}", "--out-dir", str(tmp_path / "o"))
    assert result.returncode == 2 and "SPLIT=FILE" in result.stderr


def test_pathvqa_yes_no_and_open_with_source_splits(tmp_path):
    root = tmp_path / "path-vqa" / "data"
    make_hf_parquet(root / "train-00000-of-00001.parquet", pathvqa_rows(10, seed=0))
    make_hf_parquet(root / "test-00000-of-00001.parquet", pathvqa_rows(5, seed=100))
    out = tmp_path / "out"
    assert_ok(run_cli("pathvqa", "--root", str(tmp_path / "path-vqa"), "--out-dir", str(out),
                      "--source-splits", "test"))
    rows = read_rows(out / "test.parquet")
    assert len(rows) == 5 and not (out / "sft_train.parquet").exists()
    kinds = {r["extra_info"]["original_id"]: (r["extra_info"]["answer_type"], r["reward_model"]["ground_truth"])
             for r in rows}
    assert kinds["test-00000-of-00001.parquet:0"] == ("yesno", "yes")
    assert kinds["test-00000-of-00001.parquet:1"] == ("yesno", "no")
    assert kinds["test-00000-of-00001.parquet:2"] == ("open", "adenocarcinoma")
    assert kinds["test-00000-of-00001.parquet:3"] == ("yesno", "yes")  # "Yes." normalized
    for row in rows:
        assert row["extra_info"]["options"] == [] and row["extra_info"]["source_split"] == "test"
        # Embedded bytes were extracted once to OUT/images so the judge can read them.
        assert Path(row["extra_info"]["image_path"]).parent == out / "images"
        assert Path(row["extra_info"]["image_path"]).read_bytes() == row["images"][0]["bytes"]


def test_pathvqa_pooled_split_sizes(tmp_path):
    root = tmp_path / "pv"
    make_hf_parquet(root / "train.parquet", pathvqa_rows(30, seed=0))
    out = tmp_path / "out"
    assert_ok(run_cli("pathvqa", "--root", str(root), "--out-dir", str(out), "--grpo-size", "12", "--test-size", "8"))
    assert len(read_rows(out / "grpo_train.parquet")) == 12 and len(read_rows(out / "test.parquet")) == 8
    # A rebuild into the same folder leaves no split file of the earlier run beside the new manifest.
    assert_ok(run_cli("pathvqa", "--root", str(root), "--out-dir", str(out), "--split", "val"))
    assert sorted(p.name for p in out.glob("*.parquet")) == ["val.parquet"]
    assert json.loads((out / "manifest.json").read_text())["splits"]["val"]["rows"] == 30


def test_quiltvqa_closed_open_and_context(tmp_path):
    make_hf_parquet(tmp_path / "quilt" / "quilt_vqa.parquet", quilt_rows(6, seed=40))
    out = tmp_path / "out"
    assert_ok(run_cli("quiltvqa", "--root", str(tmp_path / "quilt"), "--out-dir", str(out)))
    rows = read_rows(out / "test.parquet")
    assert [r["extra_info"]["answer_type"] for r in rows] == ["yesno", "yesno", "open"] * 2
    assert [r["extra_info"]["category"] for r in rows] == ["closed", "closed", "open"] * 2
    assert rows[2]["messages"][1]["content"] == "<think>narration 2</think><answer>granuloma</answer>"
    assert rows[0]["data_source"] == "quiltvqa"


def test_pmcvqa_choices_and_label(tmp_path):
    csv_path, figures = make_pmcvqa(tmp_path, 8)
    out = tmp_path / "out"
    assert_ok(run_cli("pmcvqa", "--csv", str(csv_path), "--images", str(figures), "--out-dir", str(out)))
    rows = read_rows(out / "test.parquet")
    assert len(rows) == 8
    for i, row in enumerate(rows):
        assert row["extra_info"]["options"] == [f"{x}) choice {i}-{k}" for k, x in enumerate("ABCD")]
        assert row["reward_model"]["ground_truth"] == f"{'ABCD'[i % 4]}) choice {i}-{i % 4}"
        assert row["ability"] == "medical" and row["extra_info"]["image_file"] == f"PMC{i}_fig.jpg"


def test_omnimedvqa_preset_fields_and_modality_variant(tmp_path):
    make_omnimedvqa(tmp_path)
    out = tmp_path / "out"
    assert_ok(run_cli("omnimedvqa", "--root", str(tmp_path), "--out-dir", str(out),
                      "--datasets", "Chest CT Scan,ISIC2020"))
    rows = read_rows(out / "test.parquet")
    assert Counter(r["extra_info"]["dataset"] for r in rows) == {"Chest CT Scan": 6, "ISIC2020": 4}
    assert {r["extra_info"]["modality"] for r in rows} == {"CT"}  # `modality` variant read too
    for row in rows:
        options = row["extra_info"]["options"]
        assert 2 <= len(options) <= 4 and row["reward_model"]["ground_truth"] == options[1]
        assert row["data_source"] == "omnimedvqa" and row["extra_info"]["category"] == "Disease Diagnosis"
    # The paper preset names four data sets; a missing one is an error naming it.
    result = run_cli("omnimedvqa", "--root", str(tmp_path), "--out-dir", str(out), "--preset", "paper")
    assert result.returncode == 2 and "Retinal OCT-C8" in result.stderr
