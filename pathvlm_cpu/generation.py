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


@dataclass(frozen=True)
class Request:
    """One prompt (image placeholders expanded) and its `vision_inputs`."""

    prompt_ids: list[int]
    vision: Mapping[str, torch.Tensor]


def _left_padded(requests: Sequence[Request], pad_token_id: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    width = max(len(request.prompt_ids) for request in requests)
    input_ids = torch.full((len(requests), width), pad_token_id, dtype=torch.long, device=device)
    attention_mask = torch.zeros_like(input_ids)
    for row, request in enumerate(requests):
        input_ids[row, width - len(request.prompt_ids):] = torch.tensor(request.prompt_ids)
        attention_mask[row, width - len(request.prompt_ids):] = 1
    return input_ids, attention_mask


def _batched_vision(model: Any, requests: Sequence[Request]) -> dict[str, torch.Tensor]:
    """The requests' image features concatenated in row order, as the processor would batch them."""
    keys = sorted({key for request in requests for key in request.vision})
    dtype = next(model.parameters()).dtype
    vision = {key: torch.cat([request.vision[key] for request in requests if key in request.vision]).to(model.device)
              for key in keys}
    if "pixel_values" in vision:
        vision["pixel_values"] = vision["pixel_values"].to(dtype)
    return vision


def _mm_token_type_ids(model: Any, input_ids: torch.Tensor) -> torch.Tensor:
    """What the processor returns beside `input_ids`: 1 on image tokens, 2 on video tokens. transformers 5
    gives Qwen2.5-VL's image tokens their 3D rope positions only when `generate` receives it; without it they
    get text positions, unlike in verl's actor."""
    types = torch.zeros_like(input_ids)
    for value, token_id in ((1, getattr(model.config, "image_token_id", None)),
                            (2, getattr(model.config, "video_token_id", None))):
        if token_id is not None:
            types[input_ids == token_id] = value
    return types


@torch.inference_mode()
def generate(model: Any, requests: Sequence[Request], sampling_params: Mapping[str, Any], budget: int,
             eos_token_ids: Sequence[int], pad_token_id: int, suppress_ids: Sequence[int]) -> list[Generation]:
    """Sample one response per request in one left-padded `generate` call; log-probs are those of the
    raw logits at the sampling temperature, which is how verl's actor scores the same tokens."""
    input_ids, attention_mask = _left_padded(requests, pad_token_id, model.device)
    vision = _batched_vision(model, requests)
    if vision:
        vision["mm_token_type_ids"] = _mm_token_type_ids(model, input_ids)
    out = model.generate(
        input_ids=input_ids, attention_mask=attention_mask, **vision,
        max_new_tokens=budget, eos_token_id=list(eos_token_ids), pad_token_id=pad_token_id,
        suppress_tokens=list(suppress_ids) or None, output_logits=True, return_dict_in_generate=True,
        **sampling_kwargs(sampling_params),
    )
    temperature = float(sampling_params.get("temperature", 1.0))
    new_tokens = out.sequences[:, input_ids.shape[1]:]
    # Step by step: stacked, a 50-row batch's (batch, steps, vocab) logits and their copies take GiBs.
    log_probs = torch.stack([
        torch.log_softmax(step_logits.float() / (temperature if temperature > 0 else 1.0), dim=-1)
        .gather(-1, new_tokens[:, step, None]).squeeze(-1)
        for step, step_logits in enumerate(out.logits)
    ], dim=1)
    eos = set(eos_token_ids)
    generations = []
    for tokens, row_log_probs in zip(new_tokens.tolist(), log_probs.tolist(), strict=True):
        # Rows that finish early are padded to the longest one: keep each up to its own EOS.
        end = next((i + 1 for i, token in enumerate(tokens) if token in eos), len(tokens))
        generations.append(Generation(token_ids=tokens[:end], log_probs=row_log_probs[:end],
                                      hit_eos=end > 0 and tokens[end - 1] in eos))
    return generations
