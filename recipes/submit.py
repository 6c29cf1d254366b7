"""Submit a launcher as a Ray job (what `recipes/*` do when `RAY_ADDRESS` is set).

    RAY_ADDRESS=http://head:8265 RUN_DIR=/shared/runs DATA_DIR=/shared/data/pathmmu bash recipes/stage2_grpo

Before anything reaches the cluster it refuses what cannot work there: a relative or missing run/data path
(every node resolves it in its own copy of the working directory), a secret asked to travel in the job's
metadata, and a cluster that wants Ray's authentication token when none is available here. Then it hands the
job to Ray's own `ray job submit`, which uploads the checkout as the working directory and streams the logs,
and exits 0 only if the job SUCCEEDED (Ray's CLI also returns 0 for a job stopped with `ray job stop`, which
would let `stage1 && stage2` go on from a half-trained stage).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent

# Variables a launcher reads, forwarded to the job so it runs with the same settings.
LAUNCHER_VARS = (
    "DATA_DIR", "DATA_FILES", "MODEL", "MODEL_NAME", "MODEL_REFERENCE", "RUN_DIR", "OUT_DIR", "STAGE", "REWARDS",
    "NNODES", "GPUS_PER_NODE",
    # The self-hosted judge's address and model (conf/judge/*.yaml read them where the trainer resolves its config).
    "JUDGE_BASE_URL", "JUDGE_MODEL",
    # verl's process-wide switches (external modules, platform, engine choice, file logger) and thread count.
    "VERL_USE_EXTERNAL_MODULES", "VERL_PLATFORM", "VERL_ENGINE_DEVICE", "VERL_ENGINE_VENDOR", "VERL_FILE_LOGGER_ROOT",
    "OMP_NUM_THREADS", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
    # Warning filters (recipes/_common.sh silences verl's notices about optional engines it lacks).
    "PYTHONWARNINGS",
)
# Paths every node must resolve to the same files: absolute, on storage all nodes mount.
SHARED_PATH_VARS = ("RUN_DIR", "DATA_DIR", "OUT_DIR", "VERL_FILE_LOGGER_ROOT")
# More variables to forward, comma-separated (e.g. HF_HOME,WANDB_PROJECT); secrets are refused.
EXTRA_VARS = "PATHVLM_JOB_ENV"
SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL", re.IGNORECASE)
# A hub model id (`org/name`), as opposed to a path.
HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
# Never uploaded with the working directory: data and run outputs (rows embed image bytes; Ray caps the
# upload at 512 MiB) and local environments. Ray also honours .gitignore.
UPLOAD_EXCLUDES = ["/data/", "/runs/", "/outputs/", "/.venv/", "/.git/", "*.parquet", "*.safetensors", "*.pt"]

SECRET_HELP = (
    "secrets never travel in a Ray job's metadata (anyone who can list jobs in the dashboard reads them). "
    "Give each node the secret in its own environment instead: start Ray with it set "
    "(`OPENAI_API_KEY=... ray start ...`, or the `env` of your cluster's node spec / Kubernetes secret), and the "
    "judge reads it from there (reward_kwargs.judge.api_key_env names the variable)."
)
TOKEN_HELP = (
    "the cluster at {address} uses Ray's token authentication and no token is available here. Copy the head "
    "node's token (`ray get-auth-token` on the head, or its ~/.ray/auth_token) to ~/.ray/auth_token on this "
    "machine, or point RAY_AUTH_TOKEN_PATH at a copy of it, or set RAY_AUTH_TOKEN."
)


class SubmitError(ValueError):
    """A job that cannot work on the cluster; the message says what to change."""


def job_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables the job runs with: the launcher's settings plus `PATHVLM_JOB_ENV`'s names, never a secret."""
    extra = [name.strip() for name in environ.get(EXTRA_VARS, "").split(",") if name.strip()]
    secrets = [name for name in extra if SECRET_NAME.search(name)]
    if secrets:
        raise SubmitError(f"{EXTRA_VARS} names {', '.join(secrets)}: {SECRET_HELP}")
    missing = [name for name in extra if name not in environ]
    if missing:
        raise SubmitError(f"{EXTRA_VARS} names {', '.join(missing)}, which is not set here")
    env = {name: environ[name] for name in (*LAUNCHER_VARS, *extra) if name in environ}
    return {**env, "PATHVLM_IN_RAY_JOB": "1"}


def check_shared_paths(env: Mapping[str, str]) -> None:
    """Run and data paths are set and absolute, so every node reads and writes the same files."""
    required = ["RUN_DIR"] + ([] if "DATA_FILES" in env else ["DATA_DIR"])
    unset = [name for name in required if not env.get(name)]
    if unset:
        raise SubmitError(
            f"{', '.join(unset)} not set: the launchers' defaults are relative paths, which every node of a Ray job "
            "resolves in its own copy of the working directory. Set them to directories on storage that every node "
            "mounts (e.g. RUN_DIR=/mnt/shared/pathvlm/runs DATA_DIR=/mnt/shared/pathvlm/data/pathmmu)."
        )
    paths = {name: env[name] for name in SHARED_PATH_VARS if name in env}
    paths |= {f"DATA_FILES[{i}]": path for i, path in enumerate(env.get("DATA_FILES", "").split(",")) if path}
    model = env.get("MODEL")
    if model and not (HUB_ID.match(model) and not Path(model).exists()):
        paths["MODEL"] = model
    relative = {name: path for name, path in paths.items() if not os.path.isabs(path)}
    if relative:
        listed = ", ".join(f"{name}={path}" for name, path in relative.items())
        raise SubmitError(
            f"relative path(s) {listed}: in a Ray job every node resolves them in its own copy of the working "
            "directory, so checkpoints and exports end up scattered. Use absolute paths on storage every node mounts."
        )


def runtime_env(env: Mapping[str, str], repo: Path = REPO_DIR) -> dict:
    """The job's runtime environment: the checkout (code and configs, no data) and the job's variables."""
    return {"working_dir": str(repo), "excludes": UPLOAD_EXCLUDES, "env_vars": dict(env)}


def token_available(environ: Mapping[str, str]) -> bool:
    """Whether Ray can find an authentication token here (the places Ray itself looks)."""
    if environ.get("RAY_AUTH_TOKEN"):
        return True
    path = environ.get("RAY_AUTH_TOKEN_PATH") or str(Path.home() / ".ray" / "auth_token")
    return Path(path).is_file()


def auth_env(environ: Mapping[str, str]) -> dict[str, str]:
    """`ray job submit` sends the token only with RAY_AUTH_MODE=token: turn it on when a token is available
    and the mode was not chosen explicitly."""
    if "RAY_AUTH_MODE" not in environ and token_available(environ):
        return {"RAY_AUTH_MODE": "token"}
    return {}


def check_cluster_reachable(address: str) -> None:
    """Ask the job server for its version: fails early, with what to do, on a missing token."""
    from ray.exceptions import AuthenticationError
    from ray.job_submission import JobSubmissionClient

    try:
        JobSubmissionClient(address)
    except AuthenticationError as error:
        raise SubmitError(TOKEN_HELP.format(address=address)) from error
    except ConnectionError as error:
        raise SubmitError(f"no Ray job server answers at RAY_ADDRESS={address}: {error}") from error


def submission_id(launcher: str, env: Mapping[str, str]) -> str:
    """The job's name in `ray job list` and the dashboard: stage and submission time."""
    return f"pathvlm-{env.get('STAGE', Path(launcher).name)}-{time.strftime('%Y%m%d-%H%M%S')}"


def submit_command(address: str, launcher: str, args: list[str], env: Mapping[str, str],
                   entrypoint_gpus: float, job_id: str) -> list[str]:
    """Ray's own CLI, run with this interpreter (no `ray` on PATH needed)."""
    launcher = Path(launcher).name
    return [
        sys.executable, "-m", "ray.scripts.scripts", "job", "submit", "--address", address,
        "--submission-id", job_id,
        "--runtime-env-json", json.dumps(runtime_env(env)),
        "--entrypoint-num-gpus", str(entrypoint_gpus),
        "--", "bash", f"recipes/{launcher}", *args,
    ]


def job_status(address: str, job_id: str) -> str:
    """The job's final status as Ray's job server reports it (SUCCEEDED, FAILED, STOPPED...)."""
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(address).get_job_status(job_id).value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entrypoint-gpus", type=float, default=0,
                        help="GPUs the job's entrypoint itself needs (evaluation generates there; stages do not)")
    parser.add_argument("launcher", help="recipes/<launcher> to run on the cluster")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the launcher's arguments (Hydra overrides)")
    options = parser.parse_args(argv)
    address = os.environ.get("RAY_ADDRESS", "")
    try:
        if not address:
            raise SubmitError("RAY_ADDRESS is not set (the job server, e.g. http://head:8265)")
        env = job_env(os.environ)
        check_shared_paths(env)
        os.environ.update(auth_env(os.environ))
        check_cluster_reachable(address)
    except SubmitError as error:
        sys.exit(f"recipes/{Path(options.launcher).name}: cannot submit to the Ray cluster: {error}")
    job_id = submission_id(options.launcher, env)
    command = submit_command(address, options.launcher, options.args, env, options.entrypoint_gpus, job_id)
    try:
        returncode = subprocess.run(command, check=False).returncode
    except KeyboardInterrupt:  # Ray's CLI stops following the logs; the job itself runs on
        sys.exit(f"stopped following job {job_id}; it keeps running (`ray job stop {job_id}` ends it)")
    if returncode:  # the job failed, or was never created
        sys.exit(returncode)
    status = job_status(address, job_id)
    if status != "SUCCEEDED":
        sys.exit(f"recipes/{Path(options.launcher).name}: job {job_id} ended {status}")


if __name__ == "__main__":
    main()
