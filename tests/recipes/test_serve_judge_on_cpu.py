"""recipes/serve_judge on a CPU: a real `transformers serve` of the tiny checkpoint, reached through the stage-3
preset with the settings it prints; the preflight asks it to grade row 0 of the demo's train file through the
reward's own judge path (a verdict, the random model's garbage, a dead port); `stop` ends it by its pid file."""

import os
import re
import subprocess
import sys
import urllib.request

import pytest
from judge_replies import forced_reply
from omegaconf import OmegaConf

from pathvlm_rewards.judge.serve import free_port, process_running
from pathvlm_rewards.judge.verdict import REASONS
from recipes.preflight import JUDGE_HINTS, JUDGE_KEY, check_reward, compose_stage, main, read_first_row

VERDICT = '{"integrity_score": 0.6, "knowledge_score": 1.0}'


@pytest.fixture(scope="module")
def recipe_judge(tiny_ckpt, tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve_judge")
    env = dict(os.environ, PYTHON=sys.executable, JUDGE_MODEL=str(tiny_ckpt), JUDGE_PORT=str(free_port()),
               JUDGE_DIR=str(folder))
    started = subprocess.run(["bash", "recipes/serve_judge"], env=env, capture_output=True, text=True, timeout=600)
    assert started.returncode == 0, started.stderr[-3000:]
    settings = dict(re.findall(r"(JUDGE_BASE_URL|JUDGE_MODEL)=(\S+)", started.stdout))
    yield {"env": env, "stdout": started.stdout, "pid_file": folder / "serve_judge.pid", **settings}
    subprocess.run(["bash", "recipes/serve_judge", "stop"], env=env, check=True, timeout=60)  # no-op once stopped


def _stage3(recipe_judge, demo_data, monkeypatch, *extra):
    """Stage 3's config on the demo data, the judge chosen with the one override serve_judge printed."""
    monkeypatch.setenv("JUDGE_BASE_URL", recipe_judge["JUDGE_BASE_URL"])
    monkeypatch.setenv("JUDGE_MODEL", recipe_judge["JUDGE_MODEL"])
    preset = re.search(r"judge=(\w+)", recipe_judge["stdout"]).group(1)
    return compose_stage("pathvlm_grpo", ["rewards=dual", f"judge={preset}", "+profile=cpu_tiny",
                                          f"data.train_files={demo_data / 'grpo_train.parquet'}", *extra])


def _judged(cfg, demo_data, reply: str | None = None):
    """The preflight's reward check on row 0; `reply`: what the served random model is steered to answer."""
    if reply is not None:
        OmegaConf.update(cfg, f"{JUDGE_KEY}.extra_body", forced_reply(cfg.actor_rollout_ref.model.path, reply),
                         force_add=True)
    return list(check_reward(cfg, read_first_row(str(demo_data / "grpo_train.parquet"))))


def test_serve_judge_prints_a_url_that_answers_and_the_stage3_settings(recipe_judge, tiny_ckpt):
    assert recipe_judge["JUDGE_MODEL"] == str(tiny_ckpt)
    assert "judge=transformers_local" in recipe_judge["stdout"]  # no vLLM or GPU here
    url = recipe_judge["JUDGE_BASE_URL"]
    assert url == f"http://127.0.0.1:{recipe_judge['env']['JUDGE_PORT']}/v1"
    with urllib.request.urlopen(url.removesuffix("/v1") + "/health", timeout=10) as reply:
        assert reply.status == 200
    pid = int(recipe_judge["pid_file"].read_text())
    assert process_running(pid) and os.getpgid(pid) == pid  # its own process group, which `stop` ends


def test_a_second_judge_on_the_same_pid_file_is_refused(recipe_judge):
    again = subprocess.run(["bash", "recipes/serve_judge"], env=recipe_judge["env"], capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 1 and "a judge already runs" in again.stderr


@pytest.mark.parametrize("nnodes, warned", [(1, False), (2, True)])  # 2 nodes: 127.0.0.1 is the launching node's
def test_preflight_gets_a_verdict_on_a_real_row_from_the_served_judge(recipe_judge, demo_data, tiny_ckpt,
                                                                     monkeypatch, nnodes, warned):
    # The profile's 16 tokens would cut the verdict short.
    cfg = _stage3(recipe_judge, demo_data, monkeypatch, f"actor_rollout_ref.model.path={tiny_ckpt}",
                  f"trainer.nnodes={nnodes}", f"{JUDGE_KEY}.max_tokens=64")
    judged = _judged(cfg, demo_data, VERDICT)
    findings = {f.level: f for f in judged if f.key == f"{JUDGE_KEY}.base_url"}
    assert "OK" in findings, judged
    assert findings["OK"].message.startswith(f"the judge at {recipe_judge['JUDGE_BASE_URL']} (model '{tiny_ckpt}') "
                                             "graded row 0")
    assert "integrity 0.6, knowledge 1" in findings["OK"].message
    assert ("WARN" in findings) == warned and "BLOCKER" not in findings


def test_preflight_blocks_a_judge_whose_replies_hold_no_scores(recipe_judge, demo_data, tiny_ckpt, monkeypatch):
    # The random model's own reply, also when asked again: every call would fall back, so the run is blocked.
    cfg = _stage3(recipe_judge, demo_data, monkeypatch, f"actor_rollout_ref.model.path={tiny_ckpt}",
                  f"{JUDGE_KEY}.reasks=1")
    blockers = {f.key: f.message for f in _judged(cfg, demo_data) if f.level == "BLOCKER"}
    assert blockers[f"{JUDGE_KEY}.base_url"] == (
        f"the judge at {recipe_judge['JUDGE_BASE_URL']} (model '{tiny_ckpt}') gave no verdict on row 0 of "
        f"data.train_files (unparseable): {JUDGE_HINTS['unparseable']}")


def test_every_fallback_reason_has_a_hint():
    assert set(JUDGE_HINTS) == set(REASONS)


def test_the_preflight_cli_blocks_on_a_dead_judge_naming_its_address_and_model(recipe_judge, demo_data, tiny_ckpt,
                                                                         monkeypatch, capsys):
    dead = f"http://127.0.0.1:{free_port()}/v1"
    monkeypatch.setenv("JUDGE_BASE_URL", dead)
    monkeypatch.setenv("JUDGE_MODEL", str(tiny_ckpt))
    code = main(["--config-name", "pathvlm_grpo", "--rows", "4", "rewards=dual", "judge=vllm_local", "pixels=tiny",
                 f"actor_rollout_ref.model.path={tiny_ckpt}", f"data.train_files={demo_data / 'grpo_train.parquet'}",
                 f"data.val_files={demo_data / 'val.parquet'}", "+ray_kwargs.ray_init.num_gpus=1",
                 "trainer.n_gpus_per_node=1", "data.train_batch_size=4",
                 "actor_rollout_ref.actor.ppo_mini_batch_size=4",
                 "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=1"])
    out = capsys.readouterr().out
    assert code == 1
    assert f"BLOCKER {JUDGE_KEY}.base_url: the judge at {dead} (model '{tiny_ckpt}') gave no verdict" in out


def test_stop_ends_the_server_and_removes_its_pid_file(recipe_judge):
    pid = int(recipe_judge["pid_file"].read_text())
    stopped = subprocess.run(["bash", "recipes/serve_judge", "stop"], env=recipe_judge["env"], capture_output=True,
                             text=True, timeout=60)
    assert stopped.returncode == 0, stopped.stderr
    assert not process_running(pid) and not recipe_judge["pid_file"].exists()
