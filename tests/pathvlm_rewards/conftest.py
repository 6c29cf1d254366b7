"""Fixtures for the reward tests: the scripted judge server (per test) and the served tiny judge (per session)."""

import subprocess
import sys

import pytest
from reward_fixtures import ScriptedJudgeServer, ServedJudge

from pathvlm_rewards.judge.serve import process_running

SERVE_CLI = [sys.executable, "-m", "pathvlm_rewards.judge.serve"]


@pytest.fixture
def judge_server(monkeypatch):
    monkeypatch.setenv("PATHVLM_TEST_KEY", "sk-test-secret-4242")
    server = ScriptedJudgeServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def served_judge(tiny_ckpt, tmp_path_factory):
    """`transformers serve` of the tiny Qwen2.5-VL on 127.0.0.1, started and stopped with the CLI recipes/demo_cpu
    uses; stopping must end its whole process group."""
    folder = tmp_path_factory.mktemp("served_judge")
    pid_file, log = folder / "judge.pid", folder / "serve.log"
    started = subprocess.run([*SERVE_CLI, "start", str(tiny_ckpt), "--pid-file", str(pid_file), "--log", str(log)],
                             capture_output=True, text=True, timeout=600)
    assert started.returncode == 0, started.stderr[-3000:]
    pid = int(pid_file.read_text())
    yield ServedJudge(url=started.stdout.strip(), model=str(tiny_ckpt), pid=pid)
    subprocess.run([*SERVE_CLI, "stop", "--pid-file", str(pid_file)], check=True, timeout=60)
    assert not process_running(pid) and not pid_file.exists()
