"""The frozen-vision engine: registered in verl's EngineRegistry and freezing exactly the encoder."""

import pytest
import torch
from transformers import AutoModelForImageTextToText
from verl.workers.engine import EngineRegistry

from pathvlm_verl import FrozenVisionFSDPEngine, freeze_vision_tower


@pytest.mark.parametrize("device,vendor", [("cuda", "nvidia"), ("cuda", "amd"), ("npu", "huawei")])
def test_verl_resolves_our_engine_for_fsdp_backends(monkeypatch, device, vendor):
    monkeypatch.setenv("VERL_ENGINE_DEVICE", device)
    monkeypatch.setenv("VERL_ENGINE_VENDOR", vendor)
    for backend in ("fsdp", "fsdp2"):
        assert EngineRegistry.get_engine_cls("language_model", backend) is FrozenVisionFSDPEngine


def test_freezes_the_vision_tower_only(tiny_ckpt):
    model = AutoModelForImageTextToText.from_pretrained(tiny_ckpt, dtype=torch.float32)
    visual = {n for n, _ in model.named_parameters() if ".visual." in f".{n}"}
    assert visual, "the tiny Qwen2.5-VL must have a vision tower"
    frozen = freeze_vision_tower(model)
    assert frozen == sum(p.numel() for n, p in model.named_parameters() if n in visual)
    for name, param in model.named_parameters():
        assert param.requires_grad == (name not in visual), name


def test_a_text_only_model_is_an_error():
    with pytest.raises(ValueError, match="no vision tower"):
        freeze_vision_tower(torch.nn.Linear(2, 2))
