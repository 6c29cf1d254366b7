"""The README's main job, shortened: `recipes/demo_cpu` runs all three stages and the evaluation through
verl 0.9.1's real entry points on a CPU (a stage stopped and resumed: tests/recipes/test_cluster_pipeline_on_cpu.py).

The pipeline is marked `long` (`make test-demo`, about 17 min): `make test` runs the same launchers, configs and
stages as Ray jobs on a 2-node cluster (test_cluster_pipeline_on_cpu.py), and verl's single-node entry points in
tests/pathvlm_cpu/test_verl_entrypoints_on_cpu.py."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

# The module's pipeline runs in its first test's setup: far past the suite's per-test timeout of 900 s.
pytestmark = pytest.mark.timeout(3600)

GRPO_STAGES = ("stage2_grpo", "stage3_grpo_dual")
REWARD_KEYS = ("score", "accuracy", "format", "process", "integrity", "knowledge", "judge_fallback")


def _metrics(run: Path, stage: str) -> list[dict]:
    path = run / "metrics" / "pathvlm-r1" / f"{stage}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def _samples(folder: Path) -> list[dict]:
    return [json.loads(line) for path in sorted(folder.glob("*.jsonl")) for line in path.read_text().splitlines()]


def _train_steps(records: list[dict]) -> list[dict]:
    return [r for r in records if "actor/pg_loss" in r["data"]]


def _run(command: list[str], env: dict, log: Path, timeout: int) -> None:
    with open(log, "w") as out:
        done = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
    assert done.returncode == 0, log.read_text()[-6000:]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("demo")
    env = dict(os.environ, RUN_DIR=str(run), SFT_STEPS="30", GRPO_STEPS="2", VAL_LIMIT="8", EVAL_LIMIT="6",
               PYTHON=sys.executable)
    env.pop("RAY_ADDRESS", None)
    _run(["bash", "recipes/demo_cpu"], env, run / "demo.log", timeout=2400)
    return run, env


@pytest.mark.long
def test_sft_loss_decreases_with_the_vision_tower_frozen(demo_run):
    run, _ = demo_run
    losses = [r["data"]["train/loss"] for r in _metrics(run, "stage1_sft") if "train/loss" in r["data"]]
    assert len(losses) == 30
    assert losses[-1] < 0.8 * losses[0]
    base = load_file(run / "tiny-qwen2.5-vl" / "model.safetensors")
    tuned = load_file(run / "stage1_sft" / "hf" / "model.safetensors")  # exported in bf16
    changed = {name for name in base if not torch.equal(base[name].to(tuned[name].dtype), tuned[name])}
    assert changed and not any("visual" in name for name in changed)


@pytest.mark.long
@pytest.mark.parametrize("stage", GRPO_STAGES)
def test_grpo_steps_complete_with_advantages_and_every_reward_component(demo_run, stage):
    run, _ = demo_run
    steps = _train_steps(_metrics(run, stage))
    assert [r["step"] for r in steps] == [1, 2]
    for record in steps:  # GRPO: equal rewards everywhere give zero advantages (non-zero: test_grpo_advantages)
        metrics = record["data"]
        if metrics["critic/score/max"] == metrics["critic/score/min"]:
            assert metrics["critic/advantages/max"] == metrics["critic/advantages/min"] == 0
    rollouts = _samples(run / stage / "rollouts")
    assert len(rollouts) == 2 * 4 * 4  # steps x prompts x group size, each scored by pathvlm_rewards
    assert all(0 <= sample["score"] <= 3 for sample in rollouts)
    # verl 0.9.1 keeps every reward component in validation (before the first and after the last step).
    validation = _samples(run / stage / "validation")
    assert sorted({sample["step"] for sample in validation}) == [0, 2]
    assert len(validation) == 2 * 8  # VAL_LIMIT rows each time
    for sample in validation:
        assert all(isinstance(sample[key], int | float) for key in REWARD_KEYS)
    judged = any(sample["process"] > 0 or sample["judge_fallback"] > 0 for sample in validation)
    assert judged == (stage == "stage3_grpo_dual")
    components = {key for record in _metrics(run, stage) for key in record["data"]}
    assert {f"val-aux/demo/{key}/mean@1" for key in ("accuracy", "format", "process")} <= components
    assert (run / stage / "checkpoints" / "latest_checkpointed_iteration.txt").read_text().strip() == "2"
    assert (run / stage / "hf" / "config.json").is_file()
    assert (run / stage / "reward_curves.png").stat().st_size > 0


@pytest.mark.long
def test_every_stage_is_evaluated(demo_run):
    run, _ = demo_run
    results = json.loads((run / "eval" / "results.json").read_text())
    assert {model["name"] for model in results["models"]} == {"base", "stage1_sft", "stage2_grpo", "stage3_grpo_dual"}
    assert (run / "eval" / "report.md").stat().st_size > 0


def test_an_unknown_judge_is_refused_before_anything_runs(tmp_path):
    run = tmp_path / "run"
    done = subprocess.run(["bash", "recipes/demo_cpu"], env=dict(os.environ, RUN_DIR=str(run), JUDGE="gpt4",
                                                                 PYTHON=sys.executable),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "JUDGE must be server or in_process, got 'gpt4'" in done.stderr
    assert not run.exists()
