"""Generation engines: vLLM on GPUs, transformers `generate` as the fallback, and `openai` for any
OpenAI-compatible endpoint (chosen by name only, never by `auto`)."""

from __future__ import annotations

import importlib.util
from typing import Any

from pathvlm_eval.engines.base import Completed, Engine, Generation, PixelBudget, Request, SamplingSettings

ENGINES = ("auto", "vllm", "hf", "openai")


def vllm_usable() -> bool:
    """vLLM is installed and a CUDA device is visible."""
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def resolve_engine_name(name: str) -> str:
    """`auto` becomes `vllm` where it can run, else `hf`."""
    if name not in ENGINES:
        raise ValueError(f"engine.name={name!r}: expected one of {ENGINES}")
    if name == "auto":
        return "vllm" if vllm_usable() else "hf"
    return name


def create_engine(name: str, model_path: str, pixels: PixelBudget, options: dict[str, Any], seed: int) -> Engine:
    """Load `model_path` into the named engine (`options` = that engine's config section, less batch_size);
    for `openai`, `model_path` is the name the endpoint serves the model under."""
    if name == "vllm":
        from pathvlm_eval.engines.vllm_engine import VLLMEngine

        return VLLMEngine(model_path, pixels, seed=seed, **options)
    if name == "hf":
        from pathvlm_eval.engines.hf_engine import HFEngine

        return HFEngine(model_path, pixels, **options)
    if name == "openai":  # the server applies its own processor: the pixel budget travels in options.extra_body
        from pathvlm_eval.engines.openai_engine import OpenAIEngine

        return OpenAIEngine(model_path, **options)
    raise ValueError(f"engine {name!r} cannot load a model (resolve `auto` first)")


__all__ = ["ENGINES", "Completed", "Engine", "Generation", "PixelBudget", "Request", "SamplingSettings",
           "create_engine", "resolve_engine_name", "vllm_usable"]
