"""results.json again in lmms-eval's layout, so tools that read lmms-eval results read ours.

Followed: EvolvingLMMs-Lab/lmms-eval 0.7.2 (commit 75571cfe, `git describe`: v0.7.2-41-g75571cfe): the
aggregated document of `lmms_eval/evaluator.py` (`results`, `group_subtasks`, `configs`, `versions`, `n-shot`,
`higher_is_better`, `n-samples`, then `config`, `git_hash`, `date`) and the per-task sample lines of
`EvaluationTracker.save_results_samples` (lmms_eval/loggers/evaluation_tracker.py). One folder per model,
`lmms_eval/<model>/results.json` and `samples_<task>.jsonl`; a task is a data_source. Its metric `acc` is the
run's headline scoring (strict under protocol `ours`, vlmevalkit under `vlmevalkit`); every scoring is also
given as `acc_<scoring>`. Stderr: sample standard deviation / sqrt(n) over questions ("N/A" below two), as
lmms-eval's `mean_stderr`.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pathvlm_eval.data import EvalItem
from pathvlm_eval.files import write_json, write_text
from pathvlm_eval.metrics import SCORINGS
from pathvlm_eval.results import samples_per_question

SCHEMA = {"follows": "lmms-eval results and samples files", "repository": "EvolvingLMMs-Lab/lmms-eval",
          "version": "0.7.2", "commit": "75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3"}
FILTER = "none"  # lmms-eval's key of an unfiltered metric: "<metric>,none"
NOT_AVAILABLE = "N/A"


def git_hash() -> str | None:
    """Short commit of the checkout this package runs from (None outside a git checkout)."""
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
                              capture_output=True, text=True, check=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def _metric_keys(metrics: Mapping[str, Any], headline: str) -> dict[str, Any]:
    """`acc,none` / `acc_stderr,none` of the headline scoring, then `acc_<scoring>,none` of each one."""
    keys: dict[str, Any] = {}
    for name, scoring in [("acc", headline), *((f"acc_{s}", s) for s in SCORINGS)]:
        m = metrics.get(scoring)
        if m:
            keys[f"{name},{FILTER}"] = m["accuracy"]
            keys[f"{name}_stderr,{FILTER}"] = NOT_AVAILABLE if m["stderr"] is None else m["stderr"]
    return keys


def _gen_kwargs(generation: Mapping[str, Any]) -> str:
    """The decoding settings the way lmms-eval's `--gen_kwargs` spells them."""
    return ",".join(f"{key}={generation[key]}" for key in ("temperature", "top_p", "top_k", "max_new_tokens", "n"))


def build_lmms_results(results: Mapping[str, Any], model: Mapping[str, Any],
                       original_sizes: Mapping[str, int]) -> dict[str, Any]:
    """One model's aggregated lmms-eval document, every number taken from results.json's groups."""
    headline = results["scoring"]["headline"]
    groups = {g["filter"]["data_source"]: g["metrics"] for g in model["groups"] if list(g["filter"]) == ["data_source"]}
    tasks = sorted(groups)
    metric_names = ["acc", *(f"acc_{s}" for s in SCORINGS)]
    generation = results["generation"]
    return {
        "results": {task: {"alias": task, **_metric_keys(groups[task], headline)} for task in tasks},
        "group_subtasks": {task: [] for task in tasks},
        "configs": {task: {
            "task": task, "dataset_path": results["files"], "output_type": "generate_until",
            "generation_kwargs": {k: generation[k] for k in ("temperature", "top_p", "top_k", "max_new_tokens")},
            "repeats": generation["n"],
            "metric_list": [{"metric": name, "aggregation": "mean", "higher_is_better": True} for name in metric_names],
            "metadata": {"protocol": results["scoring"]["protocol"], "headline_scoring": headline,
                         "scoring_module": results["scoring"]["module"]},
        } for task in tasks},
        "versions": {task: ", ".join(results["scoring"]["reward_versions"]) for task in tasks},
        "n-shot": {task: 0 for task in tasks},
        "higher_is_better": {task: dict.fromkeys(metric_names, True) for task in tasks},
        "n-samples": {task: {"original": original_sizes[task], "effective": groups[task]["n_questions"]}
                      for task in tasks},
        "config": {
            "model": model["name"], "model_args": f"pretrained={model['path']}", "model_backend": results["engine"],
            "limit": results["limit"], "bootstrap_iters": results["metrics_settings"]["bootstrap_resamples"],
            "gen_kwargs": _gen_kwargs(generation), "random_seed": generation["seed"],
            "numpy_seed": results["metrics_settings"]["seed"], "torch_seed": generation["seed"], "fewshot_seed": None,
        },
        "git_hash": git_hash(),
        "date": datetime.fromisoformat(results["created_utc"]).strftime("%Y%m%d_%H%M%S"),
        "schema": SCHEMA,
    }


def sample_lines(items: Sequence[EvalItem], records: Sequence[dict[str, Any]], prompts: Mapping[str, str],
                 n: int, headline: str) -> dict[str, list[dict[str, Any]]]:
    """Per task, one line per question with samples: lmms-eval's sample fields and our per-scoring accuracy."""
    per_item = samples_per_question(items, records, n)
    lines: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        samples = per_item[item.prompt_id]
        if not samples:
            continue
        responses = [s["response"] for s in samples]
        scored = {scoring: [s[scoring]["accuracy"] for s in samples if s.get(scoring)] for scoring in SCORINGS}
        means = {f"acc_{k}": sum(v) / len(v) for k, v in scored.items() if v}
        doc = {"prompt_id": item.prompt_id, "ground_truth": item.ground_truth,
               "options": item.extra_info.get("options")}
        lines.setdefault(item.data_source, []).append({
            "doc_id": item.index, "target": item.ground_truth, "input": prompts[item.prompt_id],
            "filtered_resps": responses[0] if len(responses) == 1 else responses,
            "doc_hash": hashlib.sha256(json.dumps(doc, ensure_ascii=False).encode()).hexdigest(),
            "acc": means.get(f"acc_{headline}"), **means,
        })
    return lines


def write_lmms_results(out_dir: Path, results: Mapping[str, Any], items: Sequence[EvalItem],
                       records: Mapping[str, Sequence[dict[str, Any]]], prompts: Mapping[str, str],
                       original_sizes: Mapping[str, int]) -> list[Path]:
    """`out_dir/<model>/results.json` and `samples_<task>.jsonl` of every model; returns the folders."""
    folders = []
    for model in results["models"]:
        folder = Path(out_dir) / model["name"]
        write_json(folder / "results.json", build_lmms_results(results, model, original_sizes))
        tasks = sample_lines(items, records[model["name"]], prompts, results["generation"]["n"],
                             results["scoring"]["headline"])
        for task, lines in tasks.items():
            write_text(folder / f"samples_{task}.jsonl",
                       "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
        folders.append(folder)
    return folders
