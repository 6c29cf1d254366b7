"""The tiny checkpoint is a real Qwen2.5-VL: loads offline through Auto classes and generates."""

import json
import logging

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

from pathvlm_tiny import SPECIAL_TOKEN_IDS, build_tiny_checkpoint


@pytest.fixture(scope="module")
def processor(tiny_ckpt):
    return AutoProcessor.from_pretrained(tiny_ckpt, local_files_only=True)


def test_special_token_ids_match_qwen2_5_vl(processor):
    tok = processor.tokenizer
    for token, expected in {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645,
                            "<|vision_start|>": 151652, "<|vision_end|>": 151653,
                            "<|image_pad|>": 151655}.items():
        assert tok.convert_tokens_to_ids(token) == expected
    assert all(tok.convert_tokens_to_ids(t) == i for t, i in SPECIAL_TOKEN_IDS.items())
    assert tok.eos_token_id == 151645 and tok.pad_token_id == 151643
    # The real Qwen2.5 BPE, and <think> is ordinary text in Qwen2.5 (several tokens).
    assert tok("Hello world").input_ids == [9707, 1879]
    assert len(tok("<think>").input_ids) > 1


def test_generates_from_an_image_prompt_offline(tiny_ckpt, processor):
    model = AutoModelForImageTextToText.from_pretrained(tiny_ckpt, local_files_only=True)
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (90, 120, 3), dtype=np.uint8))
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Which stain?"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert text.endswith("<|im_start|>assistant\n") and "<|vision_start|><|image_pad|><|vision_end|>" in text
    inputs = processor(text=[text], images=[image], return_tensors="pt")
    n_image_tokens = int((inputs.input_ids == SPECIAL_TOKEN_IDS["<|image_pad|>"]).sum())
    assert n_image_tokens == int(inputs.image_grid_thw.prod()) // 4 > 0
    out = model.generate(**inputs, max_new_tokens=6, do_sample=False)
    assert out.shape[1] > inputs.input_ids.shape[1]


def test_build_is_deterministic(tmp_path):
    from safetensors.torch import load_file

    a = load_file(build_tiny_checkpoint(tmp_path / "a", seed=3) / "model.safetensors")
    b = load_file(build_tiny_checkpoint(tmp_path / "b", seed=3) / "model.safetensors")
    c = load_file(build_tiny_checkpoint(tmp_path / "c", seed=4) / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].numel() > 1)


def test_loads_through_verl_without_transformers_warnings(tiny_ckpt, caplog):
    from verl.utils import hf_processor, hf_tokenizer

    # transformers' logger tree does not propagate to the root logger, where caplog listens.
    logger = logging.getLogger("transformers")
    logger.addHandler(caplog.handler)
    try:
        hf_tokenizer(tiny_ckpt)
        hf_processor(tiny_ckpt)
    finally:
        logger.removeHandler(caplog.handler)
    # Without `transformers_version` in config.json, transformers takes any big tokenizer for a Mistral one and
    # warns of an "incorrect regex pattern"; save_pretrained records the version.
    assert [record.getMessage() for record in caplog.records
            if record.name.split(".")[0] == "transformers" and record.levelno >= logging.WARNING] == []
    assert json.loads((tiny_ckpt / "config.json").read_text())["transformers_version"]
