"""pathvlm_cpu: verl on a CPU, through verl's own extension points (no copied verl files).

verl loads the backend in every process from `VERL_USE_EXTERNAL_MODULES=pathvlm_cpu.plugin,...`; `env()`
(or `eval "$(python -m pathvlm_cpu env)"`) sets that and the rest. The plugin must come first in the list:
other modules (e.g. pathvlm_verl) import verl's workers, which resolve the platform at import time.
- `platform`: the `cpu` platform (`VERL_PLATFORM=cpu`): gloo, the `cpu` device, no-op memory calls;
- `hf_rollout`/`hf_server`: the `hf` rollout (`actor_rollout_ref.rollout.name=hf`), transformers
  `generate` behind verl's token-in/token-out server interface, weights copied from the actor;
- `verl_patches`: the few changes of verl 0.9.1 behaviour, applied on the CPU platform only.
Hydra overrides for CPU runs: `+profile=cpu` (main_ppo) and `+profile=cpu_sft` (sft_trainer).

This package's top level imports nothing from verl, so that a process whose first import is one of
its modules (e.g. the Ray actor of the hf server) lets verl load the plugin before anything else.
"""

from pathvlm_cpu.env import env, shell_exports

__all__ = ["env", "shell_exports"]
