"""What verl imports (`VERL_USE_EXTERNAL_MODULES=pathvlm_cpu.plugin`): registers the CPU platform and the
`hf` rollout, and patches verl when the CPU platform is selected.

Registration only names classes (loaders, dotted paths): the rollout modules are imported when verl
first asks for them, so this module never needs a half-imported one.
"""

# The platform registers first: the verl modules imported next resolve verl's platform singleton.
from pathvlm_cpu.platform import PlatformCPU  # isort: skip
from verl.workers.rollout import base as rollout_base
from verl.workers.rollout.replica import RolloutReplicaRegistry

from pathvlm_cpu import verl_patches
from pathvlm_cpu.env import is_cpu_platform

# `actor_rollout_ref.rollout.name` that selects the transformers rollout.
ROLLOUT_NAME = "hf"


def _replica_class() -> type:
    from pathvlm_cpu.hf_rollout import HFReplica

    return HFReplica


def register_rollout() -> None:
    """Make `rollout.name=hf` resolvable by verl's replica registry and its rollout-class table."""
    RolloutReplicaRegistry.register(ROLLOUT_NAME, _replica_class)
    # verl keeps its (name, mode) -> class table as a module dict without a register function.
    rollout_base._ROLLOUT_REGISTRY[(ROLLOUT_NAME, "async")] = "pathvlm_cpu.hf_rollout.HFServerAdapter"


register_rollout()
if is_cpu_platform():
    verl_patches.apply()

__all__ = ["ROLLOUT_NAME", "PlatformCPU", "register_rollout"]
