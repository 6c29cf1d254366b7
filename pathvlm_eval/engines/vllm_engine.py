"""GPU engine: vLLM offline batched generation (tensor parallel), same chat template and pixel budget."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence

from pathvlm_eval.chat import render_prompt
from pathvlm_eval.engines.base import Completed, Generation, PixelBudget, Request, SamplingSettings, completed


class VLLMEngine:
    """One `vllm.LLM` per checkpoint; prompts are rendered with the checkpoint's HF processor so both
    engines feed the model the same text."""

    def __init__(self, model_path: str, pixels: PixelBudget, tensor_parallel_size: int = 1,
                 gpu_memory_utilization: float = 0.9, max_model_len: int = 4096, dtype: str = "bfloat16",
                 enforce_eager: bool = False, max_images_per_prompt: int = 1, seed: int = 0) -> None:
        from transformers import AutoProcessor
        from vllm import LLM

        self.processor = AutoProcessor.from_pretrained(model_path, **pixels.processor_kwargs())
        self.llm = LLM(
            model=model_path, tensor_parallel_size=tensor_parallel_size, dtype=dtype,
            gpu_memory_utilization=gpu_memory_utilization, max_model_len=max_model_len, enforce_eager=enforce_eager,
            seed=seed, limit_mm_per_prompt={"image": max_images_per_prompt},
            mm_processor_kwargs=pixels.processor_kwargs(),
        )

    def generate(self, requests: Sequence[Request], sampling: SamplingSettings) -> Iterator[list[Completed]]:
        """The whole batch at once."""
        from vllm import SamplingParams

        params = [SamplingParams(n=r.n, temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k,
                                 max_tokens=sampling.max_new_tokens, skip_special_tokens=True) for r in requests]
        texts = [render_prompt(self.processor, r.prompt) for r in requests]
        prompts = [{"prompt": text, "multi_modal_data": {"image": r.images}} if r.images else {"prompt": text}
                   for text, r in zip(texts, requests, strict=True)]
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        yield completed(requests, [[Generation(text=o.text, num_tokens=len(o.token_ids),
                                               finish_reason="length" if o.finish_reason == "length" else "stop")
                                    for o in request_output.outputs] for request_output in outputs])

    def close(self) -> None:
        import torch

        del self.llm
        gc.collect()
        torch.cuda.empty_cache()
