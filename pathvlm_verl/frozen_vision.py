"""Freeze the vision encoder (and its merger) of a VLM in verl's FSDP engine, and make every other
language-model engine verl can build refuse a run that asks for the freeze."""

from __future__ import annotations

import functools
import logging

import torch
from verl.workers.engine import BaseEngine, EngineRegistry
from verl.workers.engine.fsdp.transformer_impl import FSDPEngineWithLMHead

logger = logging.getLogger(__name__)

# HF config attribute the engines read; set through verl's `model.override_config`.
FREEZE_FLAG = "freeze_vision_tower"
# The key a user sets (under `actor_rollout_ref.` in GRPO), named in every error.
FREEZE_KEY = f"model.override_config.{FREEZE_FLAG}"
STRATEGY_KEYS = "actor_rollout_ref.actor.strategy (SFT: engine.strategy)"
MODEL_TYPE = "language_model"


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


def freeze_requested(model_config, engine_config) -> bool:
    """Whether the engine trains (is not forward-only) a model whose config asks for a frozen vision tower."""
    return bool(getattr(model_config.hf_config, FREEZE_FLAG, False)) and not engine_config.forward_only


def check_fsdp1_can_freeze(model_config, engine_config) -> None:
    """FSDP1 flattens each wrapped unit into one parameter and, without `use_orig_params`, refuses a unit that
    mixes frozen and trainable weights (Qwen2.5-VL's root unit holds the tower's patch embedding and merger
    beside the token embeddings and LM head): say so before the model is loaded."""
    fsdp1_flat = engine_config.strategy == "fsdp" and not engine_config.use_orig_params
    if fsdp1_flat and freeze_requested(model_config, engine_config):
        raise ValueError(
            f"{FREEZE_KEY}=true with strategy=fsdp (FSDP1) needs use_orig_params=true, or FSDP1 refuses the units "
            "that mix the frozen vision tower with trainable weights: set "
            "actor_rollout_ref.actor.fsdp_config.use_orig_params=true (SFT: engine.use_orig_params=true), "
            f"or strategy=fsdp2 ({STRATEGY_KEYS})"
        )


class FrozenVisionFSDPEngine(FSDPEngineWithLMHead):
    """verl's FSDP engine (fsdp and fsdp2), freezing the vision tower before FSDP wraps the model when asked."""

    def __init__(self, model_config, engine_config, *args, **kwargs):
        check_fsdp1_can_freeze(model_config, engine_config)
        super().__init__(model_config, engine_config, *args, **kwargs)

    def _build_module(self):
        module = super()._build_module()
        if freeze_requested(self.model_config, self.engine_config):
            frozen = freeze_vision_tower(module)
            logger.info("froze %d vision-tower parameters of %s", frozen, type(module).__name__)
        return module


@functools.cache
def refusing_to_freeze(engine_cls: type[BaseEngine], backend: str) -> type[BaseEngine]:
    """`engine_cls` (which never freezes the tower) raising at construction when a run asks for the freeze."""

    def __init__(self, *args, model_config, engine_config, **kwargs):
        if freeze_requested(model_config, engine_config):
            raise ValueError(
                f"{FREEZE_KEY}=true, but verl chose the {backend!r} engine {engine_cls.__name__}, which would train "
                f"the vision tower (pathvlm_verl freezes it in verl's fsdp/fsdp2 engine): set {STRATEGY_KEYS} to "
                f"fsdp2, or {FREEZE_KEY}=false"
            )
        engine_cls.__init__(self, *args, model_config=model_config, engine_config=engine_config, **kwargs)

    namespace = {"__init__": __init__, "__doc__": engine_cls.__doc__, "refuses_frozen_vision": True}
    return type(engine_cls.__name__, (engine_cls,), namespace)


def freeze_aware(engine_cls: type[BaseEngine], backend: str) -> type[BaseEngine]:
    """The engine to build in place of `engine_cls`: ours for verl's FSDP engine, a refusing one otherwise."""
    if engine_cls is FSDPEngineWithLMHead:
        return FrozenVisionFSDPEngine
    if issubclass(engine_cls, FrozenVisionFSDPEngine) or getattr(engine_cls, "refuses_frozen_vision", False):
        return engine_cls
    return refusing_to_freeze(engine_cls, backend)


def take_over_engine_registry() -> None:
    """Make every language-model engine verl has registered so far (any backend, device or vendor) honour
    the flag: verl's FSDP engine becomes ours, any other refuses a run asking for the freeze. verl's
    `EngineRegistry.register` refuses keys already taken, so its table is updated in place."""
    for backend, engines in EngineRegistry._engines[MODEL_TYPE].items():
        for key, engine_cls in engines.items():
            engines[key] = freeze_aware(engine_cls, backend)


take_over_engine_registry()
