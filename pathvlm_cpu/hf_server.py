"""The `hf` rollout server: a Ray actor answering verl's token-in/token-out `generate` with transformers."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import AutoModelForImageTextToText
from verl.utils.config import omega_conf_to_dataclass
from verl.utils.model import convert_weight_keys
from verl.workers.config import HFModelConfig, RolloutConfig
from verl.workers.rollout.replica import TokenOutput

from pathvlm_cpu import generation

logger = logging.getLogger(__name__)

# How long the first request of a batch waits for the others of the same step (the agent loop sends a
# step's prompts concurrently, a few milliseconds apart).
BATCH_WINDOW_S = 0.05


def server_name(replica_rank: int) -> str:
    """Ray actor name of a replica's server, how the in-worker adapter finds it."""
    return f"hf_server_{replica_rank}"


@dataclass
class _Pending:
    """A request waiting for a batch; requests batch together when their decoding settings agree."""

    request: generation.Request
    sampling_params: dict[str, Any]
    budget: int
    eos_token_ids: list[int]
    result: asyncio.Future = field(repr=False)
    settings: str = field(init=False)

    def __post_init__(self) -> None:
        self.settings = json.dumps([generation.sampling_kwargs(self.sampling_params), self.budget, self.eos_token_ids])


class HFRolloutServer:
    """Holds a copy of the policy and samples from it, batching concurrent requests (up to
    `rollout.max_num_seqs`) into one left-padded `generate` call.

    Weights arrive from the actor through `load_weights` (in place, by HF parameter name); the
    KV cache is transformers' own, per batch, so the cache/sleep controls are no-ops.
    """

    def __init__(self, config: RolloutConfig, model_config: HFModelConfig, replica_rank: int) -> None:
        self.config: RolloutConfig = omega_conf_to_dataclass(config)
        self.model_config: HFModelConfig = omega_conf_to_dataclass(model_config, dataclass_type=HFModelConfig)
        self.replica_rank = replica_rank
        self.global_steps: int | None = None
        override = dict(self.model_config.override_config or {})
        self.model = AutoModelForImageTextToText.from_pretrained(
            self.model_config.local_path,
            dtype=getattr(torch, self.config.dtype),
            attn_implementation=override.get("attn_implementation", "sdpa"),
            trust_remote_code=self.model_config.trust_remote_code,
        ).eval()
        self._parameters = self._parameters_by_hf_name()
        tokenizer = self.model_config.tokenizer
        hf_config = self.model.config
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.eos_token_ids = self._eos_token_ids()
        self.suppress_ids = generation.suppressed_token_ids(
            hf_config, len(tokenizer), self.model.get_input_embeddings().num_embeddings
        )
        self.image_token_id = getattr(hf_config, "image_token_id", None)
        # One batch at a time: the model is shared and torch already uses every core.
        self._pending: list[_Pending] = []
        self._batcher: asyncio.Task | None = None

    def _parameters_by_hf_name(self) -> dict[str, torch.Tensor]:
        """The model's tensors under the names verl's engine exports (same `convert_weight_keys`)."""
        return convert_weight_keys(dict(self.model.state_dict(keep_vars=True)), self.model)

    def _eos_token_ids(self) -> list[int]:
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.model_config.tokenizer.eos_token_id
        return list(eos) if isinstance(eos, (list, tuple)) else [eos]

    async def generate(
        self,
        prompt_ids: list[int],
        sampling_params: dict[str, Any],
        request_id: str,
        image_data: list[Any] | None = None,
        video_data: list[Any] | None = None,
        audio_data: list[Any] | None = None,
        mm_processor_kwargs: dict[str, Any] | None = None,
        priority: int = 0,
        **unused: Any,
    ) -> TokenOutput:
        """Sample one response to `prompt_ids` (image placeholders already expanded) and its images."""
        if video_data or audio_data:
            raise NotImplementedError(f"request {request_id}: the hf rollout serves text and images only")
        prompt_ids = [int(token) for token in prompt_ids]
        processor = self.model_config.processor
        vision = generation.vision_inputs(
            getattr(processor, "image_processor", None), image_data, mm_processor_kwargs, prompt_ids,
            self.image_token_id, getattr(getattr(processor, "image_processor", None), "merge_size", 1),
        )
        budget = generation.max_new_tokens(sampling_params, len(prompt_ids), self.config.prompt_length,
                                           self.config.response_length, self.config.max_model_len)
        eos = self.eos_token_ids + [int(t) for t in sampling_params.get("stop_token_ids") or []]
        pending = _Pending(generation.Request(prompt_ids, vision), dict(sampling_params), budget, eos,
                           asyncio.get_running_loop().create_future())
        self._pending.append(pending)
        if self._batcher is None or self._batcher.done():
            self._batcher = asyncio.create_task(self._run_batches())
        result = await pending.result
        return TokenOutput(
            token_ids=result.token_ids,
            log_probs=result.log_probs if sampling_params.get("logprobs") else None,
            stop_reason="completed",
            num_preempted=0,
            extra_fields={"global_steps": self.global_steps},
        )

    async def _run_batches(self) -> None:
        """Generate for the waiting requests, one batch of like-configured requests at a time."""
        while self._pending:
            await asyncio.sleep(BATCH_WINDOW_S)
            first = self._pending[0]
            batch, waiting = [], []
            for p in self._pending:
                fits = p.settings == first.settings and len(batch) < self.config.max_num_seqs
                (batch if fits else waiting).append(p)
            self._pending = waiting
            try:
                results = await asyncio.to_thread(
                    generation.generate, self.model, [p.request for p in batch], first.sampling_params,
                    first.budget, first.eos_token_ids, self.pad_token_id, self.suppress_ids,
                )
            except Exception as error:  # every request of the batch fails with the batch's error
                for p in batch:
                    if not p.result.done():
                        p.result.set_exception(error)
            else:
                for p, result in zip(batch, results, strict=True):
                    if not p.result.done():  # its caller may have been cancelled meanwhile
                        p.result.set_result(result)

    @torch.no_grad()
    def load_weights(self, named_tensors: list[tuple[str, torch.Tensor]]) -> int:
        """Copy actor weights into the model in place; unknown names are an error."""
        unknown = [name for name, _ in named_tensors if name not in self._parameters]
        if unknown:
            raise KeyError(f"hf rollout: the actor sent weights the rollout model lacks: {unknown[:5]}")
        for name, tensor in named_tensors:
            self._parameters[name].data.copy_(tensor)
        return len(named_tensors)

    def weight_names(self) -> list[str]:
        return sorted(self._parameters)

    def set_global_steps(self, global_steps: int | None) -> None:
        self.global_steps = global_steps

    # Controls verl's replicas and trainers call. Weights stay resident and transformers keeps no
    # KV pool between requests, so there is nothing to free, restore or abort.
    async def wake_up(self, tags: list[str] | None = None) -> None:
        """Weights are always resident."""

    async def sleep(self) -> None:
        """Nothing to free."""

    async def clear_kv_cache(self) -> None:
        """The KV cache lives only for one batch."""

    async def release_kv_cache(self) -> None:
        """The KV cache lives only for one batch."""

    async def resume_kv_cache(self) -> None:
        """The KV cache lives only for one batch."""

    async def abort_all_requests(self, reject_request: bool = False, **kwargs: Any) -> dict[str, Any]:
        """Requests run to completion (no partial rollout): nothing is aborted."""
        return {"aborted_count": 0, "request_ids": []}

    async def resume_generation(self) -> None:
        """Nothing was paused."""

    async def start_profile(self, **kwargs: Any) -> None:
        """No profiler."""

    async def stop_profile(self) -> None:
        """No profiler."""
