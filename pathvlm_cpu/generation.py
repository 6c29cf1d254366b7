"""Token-in/token-out generation with transformers `generate`, the way verl's rollout servers answer it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

# Config attributes of transformers VLMs naming the vision placeholder/delimiter tokens: a policy
# must never sample them (re-processing the response would then miscount image tokens).
VISION_TOKEN_ATTRIBUTES = ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")


@dataclass(frozen=True)
class Generation:
    """One response: its token ids (EOS kept), their log-probabilities, and whether it hit EOS."""

    token_ids: list[int]
    log_probs: list[float]
    hit_eos: bool


def suppressed_token_ids(model_config: Any, tokenizer_size: int, vocab_size: int) -> list[int]:
    """Ids to never sample: the vision tokens, and embedding rows beyond the tokenizer (no text)."""
    vision = {getattr(model_config, name) for name in VISION_TOKEN_ATTRIBUTES if getattr(model_config, name, None)}
    return sorted(vision | set(range(tokenizer_size, vocab_size)))


def max_new_tokens(sampling_params: Mapping[str, Any], prompt_len: int, prompt_length: int, response_length: int,
                   max_model_len: int | None) -> int:
    """verl's token budget: `max_tokens` if given, else the response length within the prompt+response budget."""
    if "max_tokens" in sampling_params:
        budget = int(sampling_params["max_tokens"])
    elif "max_new_tokens" in sampling_params:
        budget = int(sampling_params["max_new_tokens"])
    else:
        budget = min(response_length, prompt_length + response_length - prompt_len)
    if max_model_len is not None:
        budget = min(budget, max_model_len - prompt_len)
    return max(1, budget)


def sampling_kwargs(sampling_params: Mapping[str, Any]) -> dict[str, Any]:
    """transformers `generate` arguments for verl's sampling params (vLLM conventions: temperature 0
    is greedy, top_k -1 is off)."""
    temperature = float(sampling_params.get("temperature", 1.0))
    kwargs: dict[str, Any] = {"repetition_penalty": float(sampling_params.get("repetition_penalty", 1.0))}
    if temperature <= 0:
        return {**kwargs, "do_sample": False}
    top_k = int(sampling_params.get("top_k", -1))
    return {**kwargs, "do_sample": True, "temperature": temperature,
            "top_p": float(sampling_params.get("top_p", 1.0)), "top_k": top_k if top_k > 0 else 0}


def vision_inputs(image_processor: Any, images: Sequence[Any] | None, mm_processor_kwargs: Mapping[str, Any] | None,
                  prompt_ids: Sequence[int], image_token_id: int, merge_size: int) -> dict[str, torch.Tensor]:
    """`pixel_values`/`image_grid_thw` for the prompt's images, checked against its `<|image_pad|>` run."""
    n_placeholders = sum(1 for token in prompt_ids if token == image_token_id)
    if not images:
        if n_placeholders:
            raise ValueError(f"prompt holds {n_placeholders} image tokens but the request carries no image")
        return {}
    features = image_processor(images=list(images), return_tensors="pt", **dict(mm_processor_kwargs or {}))
    n_features = int(features["image_grid_thw"].prod(dim=-1).sum()) // merge_size**2
    if n_features != n_placeholders:
        raise ValueError(
            f"the {len(images)} image(s) give {n_features} image tokens but the prompt holds {n_placeholders}: "
            "the rollout must process images with the same mm_processor_kwargs as the agent loop"
        )
    return {"pixel_values": features["pixel_values"], "image_grid_thw": features["image_grid_thw"]}


@torch.inference_mode()
def generate(model: Any, prompt_ids: Sequence[int], vision: Mapping[str, torch.Tensor],
             sampling_params: Mapping[str, Any], budget: int, eos_token_ids: Sequence[int], pad_token_id: int,
             suppress_ids: Sequence[int]) -> Generation:
    """Sample one response; log-probs are those of the raw logits at the sampling temperature,
    which is how verl's actor scores the same tokens."""
    input_ids = torch.tensor([list(prompt_ids)], dtype=torch.long, device=model.device)
    dtype = next(model.parameters()).dtype
    extra = {key: (value.to(model.device, dtype) if key == "pixel_values" else value.to(model.device))
             for key, value in vision.items()}
    out = model.generate(
        input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **extra,
        max_new_tokens=budget, eos_token_id=list(eos_token_ids), pad_token_id=pad_token_id,
        suppress_tokens=list(suppress_ids) or None, output_logits=True, return_dict_in_generate=True,
        **sampling_kwargs(sampling_params),
    )
    new_tokens = out.sequences[0, input_ids.shape[1]:]
    temperature = float(sampling_params.get("temperature", 1.0))
    logits = torch.stack([step[0] for step in out.logits]).float()
    if temperature > 0:
        logits = logits / temperature
    log_probs = torch.log_softmax(logits, dim=-1).gather(-1, new_tokens[: len(logits), None]).squeeze(-1)
    # generate pads finished sequences; a batch of one stops right after its EOS, so nothing to strip.
    token_ids = new_tokens.tolist()
    return Generation(token_ids=token_ids, log_probs=log_probs.tolist(),
                      hit_eos=bool(token_ids) and token_ids[-1] in set(eos_token_ids))
