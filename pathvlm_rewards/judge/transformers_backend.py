"""Judge model inside the reward worker, with transformers (any image-text-to-text chat model).

The model is loaded once per process on first use; calls run one at a time in a worker thread so the
event loop stays free. A call cut by `call_cap_s` still finishes in its thread before the next starts.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from pathvlm_rewards.config import JudgeConfig
from pathvlm_rewards.judge.image import JudgeImage, decode
from pathvlm_rewards.judge.prompt import JudgeRequest
from pathvlm_rewards.judge.usage import CallUsage


class TransformersBackend:
    def __init__(self, config: JudgeConfig):
        self.config = config
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any, str] | None = None

    @property
    def endpoint(self) -> str:
        """Where the judge runs (part of the cache key)."""
        return f"in-process:{self.config.device}:{self.config.dtype}"

    def redact(self, text: str) -> str:
        return text

    @staticmethod
    def failure_reason(error: Exception) -> str:
        """The fallback reason for a generation that raised `error`."""
        return "other"

    def _load(self) -> tuple[Any, Any, str]:
        if self._loaded is None:
            import torch
            from transformers import AutoModelForImageTextToText, AutoProcessor

            device = self.config.device
            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
            dtype = self.config.dtype
            if dtype == "auto":
                dtype = "bfloat16" if device.startswith("cuda") else "float32"
            processor = AutoProcessor.from_pretrained(self.config.model)
            model = AutoModelForImageTextToText.from_pretrained(self.config.model, dtype=getattr(torch, dtype))
            self._loaded = (processor, model.to(device).eval(), device)
        return self._loaded

    def _generate(self, request: JudgeRequest, usage: CallUsage) -> str:
        import torch

        with self._lock:
            processor, model, device = self._load()
            image = decode(JudgeImage(sha256="", data=request.image, mime=request.image_mime))
            messages = [
                {"role": "system", "content": [{"type": "text", "text": request.system}]},
                {"role": "user", "content": [{"type": "image", "image": image},
                                             {"type": "text", "text": request.user_text}]},
            ]
            inputs = processor.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
            ).to(device)
            sampling = {"do_sample": True, "temperature": self.config.temperature} \
                if self.config.temperature > 0 else {"do_sample": False}
            usage.attempts += 1
            with torch.inference_mode():
                output = model.generate(**inputs, max_new_tokens=self.config.max_tokens, **sampling)
            prompt_tokens = inputs["input_ids"].shape[1]
            reply_ids = output[0, prompt_tokens:]
            usage.prompt_tokens += int(prompt_tokens)
            usage.completion_tokens += int(reply_ids.shape[0])
            return processor.decode(reply_ids, skip_special_tokens=True)

    async def complete(self, request: JudgeRequest, usage: CallUsage) -> str:
        """The model's reply; the generation and its token counts go to `usage`."""
        return await asyncio.to_thread(self._generate, request, usage)
