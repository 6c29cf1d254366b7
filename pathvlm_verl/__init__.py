"""verl extensions of pathvlm-r1, loaded on every verl process with
`VERL_USE_EXTERNAL_MODULES=pathvlm_verl` (verl imports the listed modules on `import verl`).

- Frozen vision tower: verl 0.9.1 declares `actor.freeze_vision_tower` but its FSDP engine never
  reads it. The paper freezes the vision encoder in every stage, so we register an FSDP engine
  that freezes it when the model config asks (`model.override_config.freeze_vision_tower: true`).
"""

from pathvlm_verl.frozen_vision import FrozenVisionFSDPEngine, freeze_vision_tower

__all__ = ["FrozenVisionFSDPEngine", "freeze_vision_tower"]
