# Shared by the stage launchers (sourced, not run): configs, the cluster shape, and `launch`, which runs
# the launcher here or submits it as a Ray job when RAY_ADDRESS is set (recipes/submit.py).

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python}
# Absolute, so Hydra never resolves it against verl's own module directory: the checkout's conf/ (also a
# Ray job's working directory), else the installed package pathvlm_conf.
if [[ -d $REPO_DIR/conf ]]; then
  CONF_DIR=$REPO_DIR/conf
else
  CONF_DIR=$("$PYTHON" -c 'import os, pathvlm_conf; print(os.path.dirname(pathvlm_conf.__file__))')
fi
export HYDRA_FULL_ERROR=1
# verl warns about every optional engine it lacks (torchtitan, veomni, megatron, ...) in each process that imports
# its engines: five lines per Ray worker. Silenced here, for this launcher's processes and its Ray job's workers.
QUIET_ENGINES=ignore::UserWarning:verl.workers.engine
[[ ,${PYTHONWARNINGS:-}, == *",$QUIET_ENGINES,"* ]] || export PYTHONWARNINGS=${PYTHONWARNINGS:+$PYTHONWARNINGS,}$QUIET_ENGINES

# The cluster shape for every stage (conf/cluster/default.yaml unless NNODES / GPUS_PER_NODE are set).
CLUSTER_ARGS=()
[[ -n ${NNODES:-} ]] && CLUSTER_ARGS+=("cluster.nnodes=$NNODES")
[[ -n ${GPUS_PER_NODE:-} ]] && CLUSTER_ARGS+=("cluster.gpus_per_node=$GPUS_PER_NODE")

in_ray_job() { [[ -n ${PATHVLM_IN_RAY_JOB:-} ]]; }

# launch [--entrypoint-gpus N] ARGS...: with RAY_ADDRESS set, submit this launcher as a Ray job and stop here.
launch() {
  if [[ -n ${RAY_ADDRESS:-} ]] && ! in_ray_job; then
    local gpus=0
    if [[ ${1:-} == --entrypoint-gpus ]]; then gpus=$2; shift 2; fi
    PYTHONPATH="$REPO_DIR${PYTHONPATH:+:$PYTHONPATH}" exec "$PYTHON" -m recipes.submit \
      --entrypoint-gpus "$gpus" "$(basename "$0")" "$@"
  fi
}
