"""Run as a script in a fresh process: compose `pathvlm_grpo` with the overrides given as arguments, build
the actor the way verl's GRPO worker does (`ActorRolloutRefWorker.init_model`, one process, gloo), and
print one JSON line: the engine class, the trainable and frozen parameter names, and whether
pathvlm_verl was already loaded when verl was imported (VERL_USE_EXTERNAL_MODULES or an entry-point plugin)."""

import json
import sys

import verl  # noqa: F401  (imports VERL_USE_EXTERNAL_MODULES and plugins, as every verl process does first)

LOADED_BY_ENVIRONMENT = "pathvlm_verl" in sys.modules

from omegaconf import OmegaConf  # noqa: E402
from verl.workers.engine_workers import ActorRolloutRefWorker  # noqa: E402

from recipes.preflight import compose_stage  # noqa: E402


def main(overrides: list[str]) -> dict:
    cfg = compose_stage("pathvlm_grpo", overrides)
    OmegaConf.resolve(cfg)
    worker = ActorRolloutRefWorker(config=cfg.actor_rollout_ref, role="actor")
    worker.init_model()
    engine = worker.actor.engine
    params = dict(engine.module.named_parameters())
    return {
        "loaded_by_environment": LOADED_BY_ENVIRONMENT,
        "engine": type(engine).__name__,
        "trainable": sorted(name for name, param in params.items() if param.requires_grad),
        "frozen": sorted(name for name, param in params.items() if not param.requires_grad),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
