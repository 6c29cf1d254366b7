"""`make install-gpu`: setup.py's `gpu` extra, pinned as verl 0.9.1's own GPU extras pin it, installed in the
order flash-attn's source build needs (torch first, then flash-attn without build isolation, then the extra)."""

import importlib.metadata
import subprocess
from pathlib import Path

import pytest
from gpu_pins import REPO, exact_pins, gpu_pins

# verl's extras behind `verl[vllm,fsdp]` (fsdp pulls flash-attn through the third).
VERL_GPU_EXTRAS = {"vllm", "fsdp", "flash-attn-cu130torch211"}


def make_dry_run(target: str, venv: Path) -> list[str]:
    """The commands `make TARGET` would run with the virtual environment at `venv` (nothing is run)."""
    done = subprocess.run(["make", "-n", target, f"VENV={venv}"], cwd=REPO, capture_output=True, text=True,
                          check=True)
    return done.stdout.splitlines()


def line_index(lines: list[str], *needles: str) -> int:
    """The index of the only line that contains every needle."""
    found = [i for i, line in enumerate(lines) if all(needle in line for needle in needles)]
    assert len(found) == 1, f"{needles} in {lines}"
    return found[0]


def test_gpu_pins_are_verls_own():
    verl_pins = exact_pins(importlib.metadata.requires("verl"), extras=VERL_GPU_EXTRAS)
    pins = gpu_pins()
    assert pins.pop("verl") == importlib.metadata.version("verl") == "0.9.1"
    # Each repeated pin must be verl's: a resolver given two different ones fails, or picks another stack.
    assert set(pins) == {"torch", "vllm", "transformers", "flash-attn"}
    assert {name: verl_pins[name] for name in pins} == pins


def test_install_gpu_builds_flash_attn_against_the_pinned_torch_first(tmp_path):
    lines = make_dry_run("install-gpu", tmp_path / "venv")
    pins = gpu_pins()
    torch_step = line_index(lines, "pip install", f"'torch=={pins['torch']}'")
    flash_attn_step = line_index(lines, "pip install", "--no-build-isolation", f"'flash-attn=={pins['flash-attn']}'")
    extra_step = line_index(lines, "pip install", "-e '.[gpu,test]'")
    assert torch_step < flash_attn_step < extra_step
    # flash-attn's setup.py imports these while building, so they must be in the environment already.
    assert all(name in lines[torch_step].split() for name in ("setuptools", "wheel", "packaging", "psutil", "ninja"))


@pytest.mark.parametrize("target", ["install-gpu", "install"])
def test_install_targets_do_nothing_once_installed(tmp_path, target):
    venv = tmp_path / "venv"
    venv.mkdir()
    # Stamps newer than setup.py and pyproject.toml: what a finished install leaves.
    for stamp in (".installed", ".installed-gpu"):
        (venv / stamp).touch()
    assert not any("pip install" in line for line in make_dry_run(target, venv))
