"""Stage 2 for two GRPO steps through the real launcher, vLLM rollout and FSDP, on the tiny checkpoint."""

import importlib.util
import os
import subprocess

import pytest
import torch

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available() or importlib.util.find_spec("vllm") is None,
    reason="needs a CUDA GPU and vLLM (pip install -e '.[gpu]')",
)


def test_stage2_two_steps_with_vllm(tiny_ckpt, demo_data, tmp_path):
    env = dict(os.environ, DATA_DIR=str(demo_data), MODEL=str(tiny_ckpt), RUN_DIR=str(tmp_path))
    overrides = [
        "pixels=tiny", "trainer.n_gpus_per_node=1", "trainer.total_training_steps=2", "trainer.save_freq=2",
        "trainer.test_freq=-1", "trainer.val_before_train=false", "trainer.logger=[console]",
        "data.train_batch_size=4", "actor_rollout_ref.actor.ppo_mini_batch_size=4",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2",
        "actor_rollout_ref.rollout.gpu_memory_utilization=0.3",
        "actor_rollout_ref.model.use_remove_padding=false", "data.max_response_length=64",
    ]
    done = subprocess.run(["bash", "recipes/stage2_grpo", *overrides], env=env, capture_output=True, text=True,
                          timeout=1200)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "training/global_step:2" in done.stdout
    assert (tmp_path / "stage2_grpo" / "hf" / "config.json").is_file()
