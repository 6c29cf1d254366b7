"""The lmms-eval-shaped files: every field lmms-eval 0.7.2 writes that readers use, values equal to results.json."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from eval_fixtures import compose_eval, scored_records

from pathvlm_eval.config import load_config
from pathvlm_eval.data import load_items, rows_per_source
from pathvlm_eval.lmms_results import write_lmms_results
from pathvlm_eval.reference import load_reference
from pathvlm_eval.results import build_results, find_group

RIGHT, WRONG = "<think>t</think><answer>A) Adenocarcinoma</answer>", "D"
TOP_LEVEL = {"results", "group_subtasks", "configs", "versions", "n-shot", "higher_is_better", "n-samples", "config",
             "git_hash", "date"}
CONFIG = {"model", "model_args", "gen_kwargs", "bootstrap_iters", "random_seed", "numpy_seed", "torch_seed",
          "fewshot_seed", "limit"}


@pytest.fixture()
def written(fixture_parquets, tmp_path):
    """Two models on the first 3 rows of each fixture file (PathMMU has 4): hand-written responses."""
    config = load_config(compose_eval(["+models.a.path=/ckpt/a", "+models.b.path=/ckpt/b", "data.limit=3",
                                       "data.files=[" + ",".join(f"'{f}'" for f in fixture_parquets) + "]",
                                       f"output_dir={tmp_path}", "metrics.bootstrap_resamples=100"]))
    items = load_items(config.files, config.limit)
    records = {"a": scored_records(items, [RIGHT, WRONG, RIGHT, "A", RIGHT]),
               "b": scored_records(items, [WRONG] * len(items))}
    results = build_results(config, items, records, load_reference(), "hf", reasoning=False)
    prompts = {item.prompt_id: f"prompt of {item.prompt_id}" for item in items}
    write_lmms_results(tmp_path / "lmms_eval", results, items, records, prompts, rows_per_source(config.files))
    return tmp_path / "lmms_eval", results, records


def test_aggregated_file_has_lmms_eval_fields_and_results_json_values(written):
    folder, results, _ = written
    for model in results["models"]:
        doc = json.loads((folder / model["name"] / "results.json").read_text())
        assert TOP_LEVEL <= set(doc) and CONFIG <= set(doc["config"])
        assert doc["config"]["model_args"] == f"pretrained={model['path']}"
        assert doc["config"]["bootstrap_iters"] == results["metrics_settings"]["bootstrap_resamples"]
        assert doc["config"]["gen_kwargs"] == "temperature=0.0,top_p=1.0,top_k=-1,max_new_tokens=1024,n=1"
        assert len(doc["date"]) == 15 and doc["schema"]["version"] == "0.7.2"
        assert set(doc["results"]) == {"pathmmu", "omnimedvqa"}
        # original = rows in the files, effective = questions evaluated (data.limit=3 cuts PathMMU's 4th)
        assert doc["n-samples"] == {"pathmmu": {"original": 4, "effective": 3},
                                    "omnimedvqa": {"original": 2, "effective": 2}}
        for task, metrics in doc["results"].items():
            group = find_group(model, {"data_source": task})
            assert metrics["acc,none"] == group["strict"]["accuracy"]  # protocol ours: headline = strict
            for scoring in ("strict", "lenient", "vlmevalkit"):
                assert metrics[f"acc_{scoring},none"] == group[scoring]["accuracy"]
            assert set(doc["configs"][task]) >= {"task", "output_type", "metric_list", "generation_kwargs"}
            assert doc["versions"][task] == results["scoring"]["reward_versions"][0]


def test_stderr_is_the_standard_error_of_question_accuracies(written):
    folder, _, records = written
    doc = json.loads((folder / "a" / "results.json").read_text())
    strict = [r["strict"]["accuracy"] for r in records["a"] if r["data_source"] == "pathmmu"]
    mean = sum(strict) / len(strict)
    expected = math.sqrt(sum((x - mean) ** 2 for x in strict) / (len(strict) - 1) / len(strict))
    assert doc["results"]["pathmmu"]["acc_stderr,none"] == pytest.approx(expected)
    # model b is wrong everywhere: accuracy 0, standard error 0
    b = json.loads((folder / "b" / "results.json").read_text())["results"]["omnimedvqa"]
    assert (b["acc,none"], b["acc_stderr,none"]) == (0.0, 0.0)


def test_sample_files_hold_one_line_per_question_with_its_scores(written):
    folder, _, records = written
    lines = [json.loads(line) for line in (folder / "a" / "samples_pathmmu.jsonl").read_text().splitlines()]
    stored = [r for r in records["a"] if r["data_source"] == "pathmmu"]
    assert [line["doc_id"] for line in lines] == [0, 1, 2]
    for line, record in zip(lines, stored, strict=True):
        assert line["filtered_resps"] == record["response"] and line["input"] == f"prompt of {record['prompt_id']}"
        assert line["acc"] == record["strict"]["accuracy"] == line["acc_strict"]
        assert line["acc_vlmevalkit"] == record["vlmevalkit"]["accuracy"]
        assert line["target"] == record["ground_truth"]
        assert len(line["doc_hash"]) == 64
    assert Path(folder / "b" / "samples_omnimedvqa.jsonl").exists()
