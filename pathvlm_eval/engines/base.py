"""What every generation engine takes and returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from PIL import Image


@dataclass(frozen=True)
class SamplingSettings:
    """Decoding settings shared by all engines (temperature 0 = greedy)."""

    temperature: float
    top_p: float
    top_k: int
    max_new_tokens: int
    seed: int


@dataclass(frozen=True)
class PixelBudget:
    """The processor's image budget, the same numbers training uses (conf/pixels)."""

    min_pixels: int
    max_pixels: int

    def processor_kwargs(self) -> dict[str, int]:
        """The budget as training passes it (data.mm_processor_kwargs, the vLLM rollout's mm_processor_kwargs).

        `min_pixels`/`max_pixels`, not a `size` dict: Qwen2-VL's image processor lets min_pixels/max_pixels
        override `size`, so a `size` kwarg loses to the min_pixels/max_pixels of a checkpoint's
        preprocessor_config.json (the official Qwen2.5-VL ones carry them), while these kwargs replace them."""
        return {"min_pixels": self.min_pixels, "max_pixels": self.max_pixels}


@dataclass(frozen=True)
class Request:
    """One prompt (already rendered through the chat template), its images and how many samples to draw."""

    text: str
    images: list[Image.Image]
    n: int


@dataclass(frozen=True)
class Generation:
    """One sampled response: decoded text (special tokens skipped, as verl decodes for the reward),
    the number of generated tokens (end-of-turn token included) and why generation stopped."""

    text: str
    num_tokens: int
    finish_reason: str  # "stop" or "length"


class Engine(Protocol):
    """A loaded model that generates for a batch of requests."""

    processor: object

    def generate(self, requests: Sequence[Request], sampling: SamplingSettings) -> list[list[Generation]]:
        """`request.n` generations per request, in request order."""
        ...

    def close(self) -> None:
        """Free the model's memory."""
        ...
