"""What the launchers refuse before a Ray job reaches the cluster, and what they send with it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recipes.submit import (
    SubmitError,
    auth_env,
    check_shared_paths,
    job_env,
    runtime_env,
    submission_id,
    submit_command,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("env", "refused"),
    [
        ({"RUN_DIR": "/shared/runs", "DATA_DIR": "/shared/data"}, None),
        # the launchers' defaults are relative: an unset RUN_DIR would scatter checkpoints over the nodes
        ({"DATA_DIR": "/shared/data"}, "RUN_DIR not set"),
        ({"RUN_DIR": "runs", "DATA_DIR": "/shared/data"}, "RUN_DIR=runs"),
        ({"RUN_DIR": "/shared/runs", "DATA_DIR": "data/pathmmu"}, "DATA_DIR=data/pathmmu"),
        # evaluation names its files instead of a data folder
        ({"RUN_DIR": "/shared/runs", "DATA_FILES": "/shared/a.parquet,b.parquet"}, "DATA_FILES[1]=b.parquet"),
        # a hub id is not a path; a relative folder is
        ({"RUN_DIR": "/r", "DATA_DIR": "/d", "MODEL": "Qwen/Qwen2.5-VL-7B-Instruct"}, None),
        ({"RUN_DIR": "/r", "DATA_DIR": "/d", "MODEL": "runs/stage1_sft/hf"}, "MODEL=runs/stage1_sft/hf"),
        ({"RUN_DIR": "/r", "DATA_DIR": "/d", "OUT_DIR": "eval"}, "OUT_DIR=eval"),
    ],
)
def test_shared_paths(env, refused):
    if refused is None:
        check_shared_paths(env)
    else:
        with pytest.raises(SubmitError, match=refused.replace("[", r"\[").replace("]", r"\]")):
            check_shared_paths(env)


def test_secrets_never_travel_in_the_job():
    env = job_env({"RUN_DIR": "/r", "OPENAI_API_KEY": "sk-secret", "WANDB_API_KEY": "w", "HF_HOME": "/hf"})
    assert env == {"RUN_DIR": "/r", "PATHVLM_IN_RAY_JOB": "1"}
    assert job_env({"HF_HOME": "/hf", "PATHVLM_JOB_ENV": "HF_HOME"})["HF_HOME"] == "/hf"
    for name in ("OPENAI_API_KEY", "HF_TOKEN", "DB_PASSWORD", "AWS_SECRET_ACCESS_KEY"):
        with pytest.raises(SubmitError, match="never travel"):
            job_env({name: "x", "PATHVLM_JOB_ENV": f"HF_HOME,{name}", "HF_HOME": "/hf"})
    with pytest.raises(SubmitError, match="not set here"):
        job_env({"PATHVLM_JOB_ENV": "WANDB_PROJECT"})


def test_the_upload_leaves_data_and_outputs_behind():
    excludes = runtime_env({"RUN_DIR": "/r"}, REPO)["excludes"]
    assert {"/data/", "/runs/", "/.venv/", "*.parquet"} <= set(excludes)


@pytest.mark.parametrize(
    ("environ", "token_file", "expected"),
    [
        ({}, False, {}),  # no token anywhere: submit as is (a cluster without authentication)
        ({}, True, {"RAY_AUTH_MODE": "token"}),  # ~/.ray/auth_token, Ray's default place
        ({"RAY_AUTH_TOKEN": "t"}, False, {"RAY_AUTH_MODE": "token"}),
        ({"RAY_AUTH_MODE": "disabled"}, True, {}),  # an explicit choice is kept
    ],
)
def test_token_mode_follows_the_token(tmp_path, monkeypatch, environ, token_file, expected):
    monkeypatch.setenv("HOME", str(tmp_path))
    if token_file:
        (tmp_path / ".ray").mkdir()
        (tmp_path / ".ray" / "auth_token").write_text("t" * 32)
    assert auth_env(environ) == expected


def test_the_command_runs_rays_own_cli_with_this_interpreter():
    env = {"STAGE": "stage3_grpo_dual"}
    job_id = submission_id("recipes/stage2_grpo", env)
    command = submit_command("http://head:8265", "recipes/stage2_grpo", ["a='b c'"], env, 0, job_id)
    assert command[:5] == [sys.executable, "-m", "ray.scripts.scripts", "job", "submit"]
    assert command[command.index("--") + 1:] == ["bash", "recipes/stage2_grpo", "a='b c'"]
    assert job_id.startswith("pathvlm-stage3_grpo_dual-") and command[command.index("--submission-id") + 1] == job_id
    assert json.loads(command[command.index("--runtime-env-json") + 1])["env_vars"] == {"STAGE": "stage3_grpo_dual"}


@pytest.mark.parametrize("launcher", ["stage1_sft", "stage2_grpo", "stage3_grpo_dual", "evaluate"])
def test_launchers_refuse_relative_paths_before_contacting_the_cluster(launcher):
    env = {**os.environ, "RAY_ADDRESS": "http://127.0.0.1:9", "RUN_DIR": "runs", "DATA_DIR": "/shared/data",
           "PYTHON": sys.executable}
    done = subprocess.run(["bash", f"recipes/{launcher}"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0
    assert "cannot submit to the Ray cluster" in done.stderr and "RUN_DIR=runs" in done.stderr


def _import_verl_engines(env: dict) -> str:
    done = subprocess.run([sys.executable, "-c", "import verl.workers.engine"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def test_launchers_silence_verls_optional_engine_notices_in_their_processes_and_jobs():
    # What a launcher's processes (and, through job_env, its Ray job's workers) run with.
    script = 'source recipes/_common.sh; source recipes/_common.sh; echo "$PYTHONWARNINGS"'
    filters = subprocess.run(["bash", "-c", script], cwd=REPO, env={**os.environ, "PYTHONWARNINGS": "default"},
                             capture_output=True, text=True, check=True).stdout.strip()
    assert filters == "default,ignore::UserWarning:verl.workers.engine"  # kept, and added once
    assert job_env({"PYTHONWARNINGS": filters})["PYTHONWARNINGS"] == filters
    assert "engine is not available" not in _import_verl_engines({**os.environ, "PYTHONWARNINGS": filters})
    # without the filter verl does warn here (no torchtitan, veomni or megatron installed)
    bare = {name: value for name, value in os.environ.items() if name != "PYTHONWARNINGS"}
    assert "engine is not available" in _import_verl_engines(bare)
