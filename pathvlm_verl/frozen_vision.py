"""Freeze the vision encoder (and its merger) of a VLM inside verl's FSDP engine."""

from __future__ import annotations

import logging

import torch
from verl.workers.engine import EngineRegistry
from verl.workers.engine.fsdp.transformer_impl import FSDPEngineWithLMHead

logger = logging.getLogger(__name__)

# HF config attribute the engine reads; set through verl's `model.override_config`.
FREEZE_FLAG = "freeze_vision_tower"


def _vision_tower(module: torch.nn.Module) -> torch.nn.Module | None:
    """The vision encoder of a transformers VLM (Qwen2/2.5-VL keep it at `model.visual`)."""
    inner = getattr(module, "model", module)
    return getattr(inner, "visual", None) or getattr(module, "visual", None)


def freeze_vision_tower(module: torch.nn.Module) -> int:
    """Stop gradients through the vision encoder; returns the number of frozen parameters."""
    tower = _vision_tower(module)
    if tower is None:
        raise ValueError(f"{type(module).__name__} has no vision tower to freeze (looked for `model.visual`)")
    frozen = 0
    for param in tower.parameters():
        param.requires_grad_(False)
        frozen += param.numel()
    return frozen


# verl looks up (device, vendor) before its own vendor-less entries, so these win over them.
@EngineRegistry.register("language_model", backend=["fsdp", "fsdp2"], device="cuda", vendor=["nvidia", "amd"])
@EngineRegistry.register("language_model", backend=["fsdp", "fsdp2"], device="npu", vendor="huawei")
class FrozenVisionFSDPEngine(FSDPEngineWithLMHead):
    """verl's FSDP engine, freezing the vision tower before FSDP wraps the model when asked."""

    def _build_module(self):
        module = super()._build_module()
        if getattr(self.model_config.hf_config, FREEZE_FLAG, False) and not self.engine_config.forward_only:
            frozen = freeze_vision_tower(module)
            logger.info("froze %d vision-tower parameters of %s", frozen, type(module).__name__)
        return module
