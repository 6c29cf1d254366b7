"""verl extensions of pathvlm-r1. The stage configs load them in every verl process that builds a model
(`model.external_lib: pathvlm_verl`, imported by verl before it looks up the training engine), so no
environment variable is needed.

- Frozen vision tower: verl 0.9.1 declares `actor.freeze_vision_tower` but its FSDP engine never
  reads it. The paper freezes the vision encoder in every stage, so verl's FSDP engine (fsdp and fsdp2,
  on every device and vendor) is replaced by one that freezes it when the model config asks
  (`model.override_config.freeze_vision_tower: true`); any other engine refuses such a run.
"""

from pathvlm_verl import transformers_logs  # noqa: F401  (drops one repeated transformers warning)
from pathvlm_verl.frozen_vision import FrozenVisionFSDPEngine, freeze_vision_tower

__all__ = ["FrozenVisionFSDPEngine", "freeze_vision_tower"]
