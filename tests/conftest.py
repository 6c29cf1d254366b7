"""Shared fixtures: everything offline, the tiny Qwen2.5-VL built once per machine, served once per session."""

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVE_CLI = [sys.executable, "-m", "pathvlm_rewards.judge.serve"]

# No hub is reachable on CI: any accidental download must fail fast, not hang.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_ckpt():
    """Path of the tiny random-weight Qwen2.5-VL checkpoint (cached across runs)."""
    from pathvlm_tiny import tiny_checkpoint

    return tiny_checkpoint()


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory):
    """The embedded demo set, built once per test session with the real CLI."""
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("demo_data")
    subprocess.run([sys.executable, "-m", "data_prep", "demo", "--out-dir", str(out)], check=True)
    return out


@dataclass(frozen=True)
class ServedModel:
    """A running `transformers serve` of a model folder (started by pathvlm_rewards.judge.serve): its base URL, the
    model name it is pinned to (the folder), its process (group) id and its log (one line per request received)."""

    url: str
    model: str
    pid: int
    log: Path


@pytest.fixture(scope="session")
def served_tiny(tiny_ckpt, tmp_path_factory):
    """`transformers serve` of the tiny Qwen2.5-VL on 127.0.0.1, started and stopped with the CLI recipes/demo_cpu
    uses (the judge's and the evaluation engine's tests share it); stopping must end its whole process group."""
    from pathvlm_rewards.judge.serve import process_running

    folder = tmp_path_factory.mktemp("served_tiny")
    pid_file, log = folder / "serve.pid", folder / "serve.log"
    started = subprocess.run([*SERVE_CLI, "start", str(tiny_ckpt), "--pid-file", str(pid_file), "--log", str(log)],
                             capture_output=True, text=True, timeout=600)
    assert started.returncode == 0, started.stderr[-3000:]
    pid = int(pid_file.read_text())
    yield ServedModel(url=started.stdout.strip(), model=str(tiny_ckpt), pid=pid, log=log)
    subprocess.run([*SERVE_CLI, "stop", "--pid-file", str(pid_file)], check=True, timeout=60)
    assert not process_running(pid) and not pid_file.exists()
