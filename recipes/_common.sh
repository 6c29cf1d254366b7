# Shared by the stage launchers (sourced, not run). Sets what every verl process needs and
# defines `launch`, which runs a command here or submits it to an existing Ray cluster.

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python}
# Configs ship as the package pathvlm_conf; a plain checkout (e.g. a Ray job's working dir) has conf/.
CONF_DIR=${PATHVLM_CONF_DIR:-$("$PYTHON" -c 'import os, pathvlm_conf; print(os.path.dirname(pathvlm_conf.__file__))' 2>/dev/null || echo "$REPO_DIR/conf")}
# verl imports these on every process: our FSDP engine that honours freeze_vision_tower.
export VERL_USE_EXTERNAL_MODULES=${VERL_USE_EXTERNAL_MODULES:-pathvlm_verl}
export HYDRA_FULL_ERROR=1

# launch SCRIPT ARGS...: with RAY_ADDRESS set, submit this same launcher as a Ray job whose
# runtime env ships the repo and our packages to every node; otherwise run it here.
launch() {
  if [[ -n "${RAY_ADDRESS:-}" && -z "${PATHVLM_IN_RAY_JOB:-}" ]]; then
    local runtime_env
    runtime_env=$("$PYTHON" - "$REPO_DIR" <<'PY'
import json, os, sys
repo = sys.argv[1]
# The launchers' own settings travel with the job; our pure-Python packages go to every node.
forwarded = ["DATA_DIR", "MODEL", "RUN_DIR", "STAGE", "REWARDS", "NPROC", "VERL_USE_EXTERNAL_MODULES", "OPENAI_API_KEY"]
env = {k: os.environ[k] for k in forwarded if k in os.environ}
env.update(PATHVLM_IN_RAY_JOB="1", PATHVLM_CONF_DIR="conf")
print(json.dumps({"py_modules": [f"{repo}/pathvlm_rewards", f"{repo}/pathvlm_verl"], "env_vars": env}))
PY
)
    exec ray job submit --address "$RAY_ADDRESS" --working-dir "$REPO_DIR" --runtime-env-json "$runtime_env" \
      -- bash "recipes/$(basename "$0")" "$@"
  fi
}
