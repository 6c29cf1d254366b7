"""Each RL method preset (conf/method/) through verl's real `main_ppo` on the CPU backend: 2 steps of the tiny
Qwen2.5-VL with the stage-2 config and `+profile=cpu_tiny`. Long runs (`make test-long`)."""

import json
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from cpu_fixtures import cpu_process_env, file_metrics, run_logged, write_rl_parquet

REPO = Path(__file__).resolve().parents[2]
COIN_REWARD = Path(__file__).resolve().parent / "coin_accuracy_reward.py"
# Keys every method logs at every step.
STEP_KEYS = ("critic/score/mean", "critic/advantages/mean", "actor/pg_loss", "actor/pg_clipfrac",
             "response_length/mean")


def run_method(method: str, tiny_ckpt: str, tmp_path: Path, ray_tmpdir: Path, extra: tuple[str, ...] = ()) -> list:
    """2 steps of `main_ppo` with the stage-2 config, `method=<method>` and the demo's sizes (cpu_tiny: 4 prompts x 4
    responses of up to 96 tokens); verl's per-step metrics."""
    data = write_rl_parquet(tmp_path / "rl.parquet", rows=8)
    environment = {**cpu_process_env(ray_tmpdir), "VERL_FILE_LOGGER_PATH": str(tmp_path / "metrics.jsonl")}
    command = [
        sys.executable, "-m", "verl.trainer.main_ppo", f"--config-path={REPO / 'conf'}", "--config-name=pathvlm_grpo",
        f"method={method}", "+profile=cpu_tiny", f"actor_rollout_ref.model.path={tiny_ckpt}",
        f"data.train_files={data}", f"data.val_files={data}", "trainer.total_training_steps=2",
        "trainer.val_before_train=false", "trainer.test_freq=-1", "trainer.save_freq=-1",
        f"trainer.default_local_dir={tmp_path / 'ckpt'}", f"trainer.rollout_data_dir={tmp_path / 'rollouts'}",
        f"trainer.experiment_name={method}", *extra,
    ]
    run_logged(command, environment, tmp_path / "main_ppo.log", timeout=800)
    steps = file_metrics(tmp_path / "metrics.jsonl")
    assert [record["step"] for record in steps] == [1, 2]
    for record in steps:
        print(method, record["step"], {key: round(record["data"][key], 4) for key in STEP_KEYS})
        for key in STEP_KEYS:
            assert key in record["data"], key
        assert record["data"]["response_length/mean"] > 0
    return [record["data"] for record in steps]


@pytest.mark.long
@pytest.mark.parametrize("method,logged", [
    ("grpo", "actor/kl_loss"),
    ("dr_grpo", "actor/kl_loss"),
    ("gspo", "actor/kl_loss"),
    # The legacy trainer's per-component reward metrics: GDPO read our reward's keys.
    ("gdpo", "gdpo/format/mean"),
])
def test_method_runs_two_steps(method, logged, tiny_ckpt, tmp_path, ray_tmpdir):
    for metrics in run_method(method, tiny_ckpt, tmp_path, ray_tmpdir):
        assert logged in metrics


@pytest.mark.long
def test_dapo_trains_only_on_groups_with_signal(tiny_ckpt, tmp_path, ray_tmpdir):
    reward = [f"reward.custom_reward_function.path={COIN_REWARD}"]
    steps = run_method("dapo", tiny_ckpt, tmp_path, ray_tmpdir, extra=tuple(reward))
    # DAPO has no KL term, so no reference model and no KL loss.
    assert all("actor/kl_loss" not in metrics for metrics in steps)
    print("dapo evicted groups:", [metrics.get("training/filter_groups/evicted_samples", 0) for metrics in steps])
    scores_by_group = defaultdict(list)
    for path in (tmp_path / "rollouts").glob("*.jsonl"):
        for line in path.read_text().splitlines():
            sample = json.loads(line)
            scores_by_group[(path.name, sample["uid"].split("_")[0])].append(sample["score"])
    assert len(scores_by_group) == 8  # 2 steps x 4 prompts, 4 responses each
    # Every trained group has responses scored differently: the all-0 and all-1 groups were dropped.
    assert all(len(scores) == 4 and len(set(scores)) > 1 for scores in scores_by_group.values())
