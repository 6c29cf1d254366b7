"""What every generation engine takes and returns."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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
    """One question: its RL prompt (role/content messages, `<image>` where each image goes; each engine renders it
    for its model), its images in `<image>` order, and the sample numbers to draw for it."""

    prompt: list[dict[str, str]]
    images: list[Image.Image]
    samples: tuple[int, ...]

    @property
    def n(self) -> int:
        return len(self.samples)


@dataclass(frozen=True)
class Generation:
    """One sampled response: decoded text (special tokens skipped, as verl decodes for the reward),
    the number of generated tokens (end-of-turn token included), why generation stopped, and for an endpoint
    what the call cost (calls, retries, prompt/completion tokens, latency, estimated cost; None for local engines)."""

    text: str
    num_tokens: int
    finish_reason: str  # "stop" or "length"
    usage: dict[str, float | None] | None = None


# One finished sample: (position of its request, its sample number, the generation).
Completed = tuple[int, int, Generation]


def completed(requests: Sequence[Request], outputs: Sequence[Sequence[Generation]]) -> list[Completed]:
    """A batch's outputs (`request.n` generations per request, in order) as finished samples."""
    pairs = enumerate(zip(requests, outputs, strict=True))
    return [(position, sample, generation) for position, (request, generations) in pairs
            for sample, generation in zip(request.samples, generations, strict=True)]


class Engine(Protocol):
    """A loaded model (or an endpoint serving one) that generates for a batch of requests."""

    def generate(self, requests: Sequence[Request], sampling: SamplingSettings) -> Iterator[list[Completed]]:
        """Every sample of every request, yielded in groups as they finish (a local engine: the whole batch)."""
        ...

    def close(self) -> None:
        """Free the model's memory (an endpoint's connections)."""
        ...
