"""The evaluation reads what data_prep really writes: its embedded demo set, built with its documented CLI."""

from __future__ import annotations

import json
import subprocess
import sys

from eval_fixtures import compose_eval, tiny_overrides

from pathvlm_eval import evaluate
from pathvlm_eval.data import load_items


def test_evaluates_the_demo_test_split(tiny_ckpt, tmp_path):
    demo = tmp_path / "demo"
    subprocess.run([sys.executable, "-m", "data_prep", "demo", "--out-dir", str(demo)], check=True,
                   capture_output=True)
    files = [demo / "test.parquet", demo / "val.parquet"]
    items = load_items(files)  # every row passes the row checks, and (data_source, split, index) are unique
    assert {i.data_source for i in items} == {"demo"} and all(len(i.images()) == 1 for i in items[:5])

    out = tmp_path / "run"
    evaluate(compose_eval([*tiny_overrides(tiny_ckpt, files, out), "data.limit=3", "report.plots=false"]))
    records = [json.loads(line) for line in (out / "samples" / "tiny.jsonl").read_text().splitlines()]
    expected = [i.prompt_id for i in load_items(files, limit=3)]
    assert len(expected) == 6 and sorted(r["prompt_id"] for r in records) == sorted(expected)
    groups = {g["label"] for g in json.loads((out / "results.json").read_text())["models"][0]["groups"]}
    assert "demo" in groups and any(label.startswith("demo / category=") for label in groups)
