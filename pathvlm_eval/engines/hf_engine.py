"""CPU (or single-GPU) fallback: batched transformers `generate` with the checkpoint's processor."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import groupby

import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from pathvlm_eval.chat import render_prompt
from pathvlm_eval.engines.base import Completed, Generation, PixelBudget, Request, SamplingSettings, completed


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _resolve_dtype(dtype: str, device: torch.device) -> torch.dtype | str:
    """`auto`: the checkpoint's own dtype on an accelerator, float32 on a CPU (CPUs without AVX-512 BF16/AMX
    emulate bf16 matmuls, about 10x slower than float32)."""
    if dtype != "auto":
        return getattr(torch, dtype)
    return torch.float32 if device.type == "cpu" else "auto"


class HFEngine:
    """Qwen2.5-VL (or any image-text-to-text checkpoint) through transformers, left-padded batches."""

    def __init__(self, model_path: str, pixels: PixelBudget, device: str = "auto", dtype: str = "auto",
                 attn_implementation: str = "sdpa") -> None:
        self.device = _resolve_device(device)
        self.processor = AutoProcessor.from_pretrained(model_path, **pixels.processor_kwargs())
        self.processor.tokenizer.padding_side = "left"
        torch_dtype = _resolve_dtype(dtype, self.device)
        self.model = AutoModelForImageTextToText.from_pretrained(
            model_path, dtype=torch_dtype, attn_implementation=attn_implementation).to(self.device).eval()
        eos = self.model.generation_config.eos_token_id
        self._eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}
        if not self._eos_ids:
            raise ValueError(f"{model_path}: generation_config names no eos_token_id")

    def generate(self, requests: Sequence[Request], sampling: SamplingSettings) -> Iterator[list[Completed]]:
        """The whole batch at once: requests with the same `n` go through one `generate` call each."""
        results: dict[int, list[Generation]] = {}
        indexed = sorted(enumerate(requests), key=lambda pair: pair[1].n)
        for n, group in groupby(indexed, key=lambda pair: pair[1].n):
            group = list(group)
            outputs = self._generate_same_n([request for _, request in group], n, sampling)
            results.update({i: output for (i, _), output in zip(group, outputs, strict=True)})
        yield completed(requests, [results[i] for i in range(len(requests))])

    @torch.inference_mode()
    def _generate_same_n(self, requests: list[Request], n: int, sampling: SamplingSettings) -> list[list[Generation]]:
        images = [image for request in requests for image in request.images]
        texts = [render_prompt(self.processor, request.prompt) for request in requests]
        inputs = self.processor(text=texts, images=images or None, padding=True, return_tensors="pt").to(self.device)
        greedy = sampling.temperature == 0
        if not greedy:
            torch.manual_seed(sampling.seed)
        output = self.model.generate(
            **inputs, max_new_tokens=sampling.max_new_tokens, num_return_sequences=n, do_sample=not greedy,
            temperature=None if greedy else sampling.temperature, top_p=None if greedy else sampling.top_p,
            top_k=None if greedy or sampling.top_k < 0 else sampling.top_k)
        new_tokens = output[:, inputs["input_ids"].shape[1]:].tolist()
        generations = [self._to_generation(ids, sampling.max_new_tokens) for ids in new_tokens]
        return [generations[i * n:(i + 1) * n] for i in range(len(requests))]

    def _to_generation(self, ids: list[int], max_new_tokens: int) -> Generation:
        stop = next((pos for pos, token in enumerate(ids) if token in self._eos_ids), None)
        kept = ids if stop is None else ids[:stop + 1]
        text = self.processor.tokenizer.decode(kept, skip_special_tokens=True)
        finish = "stop" if stop is not None or len(ids) < max_new_tokens else "length"
        return Generation(text=text, num_tokens=len(kept), finish_reason=finish)

    def close(self) -> None:
        del self.model
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
