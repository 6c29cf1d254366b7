"""vLLM engine on a GPU: the same evaluation run as on CPU, through vLLM (skipped without CUDA or vllm); several
models in sequence, each in a process of its own (engine.isolate_models=auto).

PATHVLM_EVAL_GPU_MODEL may name a real checkpoint (e.g. a local Qwen2.5-VL-3B-Instruct folder); by default
the tiny checkpoint is used."""

from __future__ import annotations

import importlib.util
import json
import os

import pytest
import torch
from eval_fixtures import compose_eval, pathmmu_rows, tiny_overrides, write_rl_parquet

pytestmark = pytest.mark.skipif(not torch.cuda.is_available() or importlib.util.find_spec("vllm") is None,
                                reason="needs a CUDA GPU and vllm")


def test_vllm_run_writes_scored_samples_and_report(tiny_ckpt, tmp_path):
    from pathvlm_eval import evaluate

    model = os.environ.get("PATHVLM_EVAL_GPU_MODEL", str(tiny_ckpt))
    data = write_rl_parquet(tmp_path / "p.parquet", pathmmu_rows(8))
    out = tmp_path / "run"
    evaluate(compose_eval([*tiny_overrides(model, [data], out), "engine.name=vllm", "engine.vllm.dtype=auto",
                           "engine.vllm.gpu_memory_utilization=0.5", "engine.vllm.enforce_eager=true",
                           "generation.max_new_tokens=32"]))
    records = [json.loads(line) for line in (out / "samples" / "tiny.jsonl").read_text().splitlines()]
    assert sorted(r["prompt_id"] for r in records) == sorted(f"pathmmu/test/{i}" for i in range(8))
    assert all(r["engine"] == "vllm" and 0 < r["output_tokens"] <= 32 for r in records)
    assert (out / "report.md").stat().st_size > 0


def test_two_models_in_sequence_each_get_the_memory_share(tiny_ckpt, tmp_path):
    """Both models at vLLM's default share of GPU memory (0.9): the second starts only when the first one's
    process gave its memory back (in one process vLLM keeps it, and its startup check refuses the second)."""
    from pathvlm_eval import evaluate

    model = os.environ.get("PATHVLM_EVAL_GPU_MODEL", str(tiny_ckpt))
    data = write_rl_parquet(tmp_path / "p.parquet", pathmmu_rows(4))
    out = tmp_path / "run"
    evaluate(compose_eval([*tiny_overrides(model, [data], out, models=("first", "second")), "engine.name=vllm",
                           "engine.vllm.dtype=auto", "engine.vllm.gpu_memory_utilization=0.9",
                           "engine.vllm.enforce_eager=true", "generation.max_new_tokens=16", "report.plots=false"]))
    for name in ("first", "second"):
        records = [json.loads(line) for line in (out / "samples" / f"{name}.jsonl").read_text().splitlines()]
        assert sorted(r["prompt_id"] for r in records) == sorted(f"pathmmu/test/{i}" for i in range(4))
    free, total = torch.cuda.mem_get_info()
    assert free > 0.5 * total  # neither engine holds GPU memory after the run
