"""verl's real `main_ppo` on the CPU backend, single node (its own Ray): 2 GRPO steps with the hf rollout on the
tiny Qwen2.5-VL with image rows (a `long` run: `make test` runs main_ppo as a Ray job on 2 nodes, with the same
metric checks, in tests/recipes/test_cluster_pipeline_on_cpu.py). verl's `sft_trainer` through torchrun:
tests/pathvlm_verl/test_stage_engines_on_cpu.py."""

import json
import sys

import pytest
from cpu_fixtures import (
    cpu_process_env,
    file_metrics,
    processes_mentioning,
    run_logged,
    write_rl_parquet,
)

SEARCHPATH = "hydra.searchpath=[pkg://pathvlm_conf]"


@pytest.mark.long
def test_main_ppo_runs_grpo_steps(tiny_ckpt, tmp_path, ray_tmpdir):
    data = write_rl_parquet(tmp_path / "rl.parquet", rows=4)
    environment = {**cpu_process_env(ray_tmpdir), "VERL_FILE_LOGGER_PATH": str(tmp_path / "metrics.jsonl")}
    command = [
        sys.executable, "-m", "verl.trainer.main_ppo", SEARCHPATH, "+profile=cpu",
        f"data.train_files={data}", f"data.val_files={data}", "data.train_batch_size=2",
        "data.max_prompt_length=256", "data.max_response_length=16", "data.dataloader_num_workers=0",
        f"actor_rollout_ref.model.path={tiny_ckpt}", "actor_rollout_ref.rollout.n=2",
        "actor_rollout_ref.actor.ppo_mini_batch_size=2", "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=2",
        "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=2", "actor_rollout_ref.actor.use_kl_loss=true",
        "algorithm.adv_estimator=grpo",
        "reward.custom_reward_function.path=pkg://pathvlm_rewards", "reward.custom_reward_function.name=compute_score",
        "trainer.total_training_steps=2", "trainer.logger=[console,file]", "trainer.val_before_train=false",
        "trainer.test_freq=-1", "trainer.save_freq=-1", f"trainer.default_local_dir={tmp_path / 'ckpt'}",
        f"trainer.rollout_data_dir={tmp_path / 'rollouts'}", "trainer.project_name=pathvlm_cpu",
        "trainer.experiment_name=grpo",
    ]
    run_logged(command, environment, tmp_path / "main_ppo.log", timeout=600)

    steps = file_metrics(tmp_path / "metrics.jsonl")
    assert [record["step"] for record in steps] == [1, 2]
    for record in steps:
        metrics = record["data"]
        for key in ("critic/score/mean", "critic/advantages/mean", "actor/pg_loss", "actor/kl_loss",
                    "timing_s/gen", "timing_s/update_weights", "response_length/mean"):
            assert key in metrics, key
        assert metrics["response_length/mean"] > 0
        # The hf rollout's log-probs agree with the actor's recomputation: weights synced, same model.
        assert metrics["training/rollout_actor_probs_pearson_corr"] > 0.9
    # verl's per-sample dump: 2 prompts x n=2 per step, each decoded response scored by pathvlm_rewards
    # (verl's default scorer would have raised NotImplementedError for this data_source).
    dumped = [json.loads(line) for path in sorted((tmp_path / "rollouts").glob("*.jsonl"))
              for line in path.read_text().splitlines()]
    assert len(dumped) == 8
    assert all(sample["output"] and sample["gts"] in "AB" and 0 <= sample["score"] <= 2 for sample in dumped)
    assert processes_mentioning(str(ray_tmpdir)) == []  # the run's Ray cluster is gone
