"""recipes/serve_judge on a GPU: vLLM's OpenAI server (the engine `auto` picks there) with the judge's multimodal
limits and pixel budget answers the reward's judge call with the image (skipped without CUDA or vllm).

PATHVLM_JUDGE_GPU_MODEL may name a real judge (e.g. a local Qwen2.5-VL-7B-Instruct folder): its verdict must then
hold scores. By default the tiny random checkpoint is served, whose replies are garbage (no error is required)."""

import asyncio
import importlib.util
import os
import re
import subprocess
import sys

import pytest
import torch

from pathvlm_rewards import compute_score
from pathvlm_rewards.judge.serve import free_port

pytestmark = pytest.mark.skipif(not torch.cuda.is_available() or importlib.util.find_spec("vllm") is None,
                                reason="needs a CUDA GPU and vllm")


def test_vllm_judge_answers_the_rewards_call_with_the_image(tiny_ckpt, demo_data, tmp_path):
    import pyarrow.parquet as pq

    real = os.environ.get("PATHVLM_JUDGE_GPU_MODEL")
    env = dict(os.environ, PYTHON=sys.executable, JUDGE_MODEL=real or str(tiny_ckpt), JUDGE_PORT=str(free_port()),
               JUDGE_DIR=str(tmp_path), JUDGE_GPU_MEMORY_UTILIZATION="0.5", JUDGE_MAX_MODEL_LEN="4096")
    started = subprocess.run(["bash", "recipes/serve_judge"], env=env, capture_output=True, text=True, timeout=1200)
    assert started.returncode == 0, started.stderr[-3000:] + (tmp_path / "serve_judge.log").read_text()[-3000:]
    try:
        assert "judge=vllm_local" in started.stdout
        url = re.search(r"JUDGE_BASE_URL=(\S+)", started.stdout).group(1)
        row = pq.read_table(demo_data / "grpo_train.parquet").slice(0, 1).to_pylist()[0]
        gold = row["reward_model"]["ground_truth"]
        judge = {"backend": "openai", "base_url": url, "model": env["JUDGE_MODEL"], "api_key_env": None,
                 "cache_dir": None, "max_tokens": 200 if real else 16}
        result = asyncio.run(compute_score(row["data_source"], f"<think>The image.</think><answer>{gold}</answer>",
                                           gold, row["extra_info"], weights={"process": 1.0}, judge=judge))
        assert result["judge_error"] == 0.0 and result["judge_calls"] >= 1  # vLLM took the image request
        assert result["judge_prompt_tokens"] > 0
        if real:
            assert result["judge_fallback"] == 0.0
    finally:
        subprocess.run(["bash", "recipes/serve_judge", "stop"], env=env, check=True, timeout=120)
