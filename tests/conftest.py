"""Shared fixtures: everything offline, the tiny Qwen2.5-VL built once per machine."""

import os

import pytest

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
