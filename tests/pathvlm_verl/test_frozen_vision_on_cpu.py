"""The frozen-vision engine: what verl resolves for every FSDP device and vendor, freezing exactly the
encoder, and a clear error wherever a run asking for the freeze would train the tower anyway."""

import pytest
import torch
from transformers import AutoModelForImageTextToText
from verl.workers.config import FSDPEngineConfig, HFModelConfig
from verl.workers.engine import EngineRegistry

from pathvlm_verl import FrozenVisionFSDPEngine, freeze_vision_tower
from pathvlm_verl.frozen_vision import FREEZE_KEY, check_fsdp1_can_freeze


@pytest.fixture(scope="module")
def model_configs(tiny_ckpt):
    """verl's model config of the tiny Qwen2.5-VL, with and without the freeze flag."""
    return {freeze: HFModelConfig(path=str(tiny_ckpt), override_config={"freeze_vision_tower": freeze})
            for freeze in (True, False)}


@pytest.mark.parametrize("device,vendor", [
    ("cuda", "nvidia"),
    ("cuda", "amd"),
    ("npu", "huawei"),
    ("cuda", "metax"),  # a vendor verl ships no platform for: verl falls back to its device-wide entry
    ("npu", "other"),
])
def test_verl_resolves_our_engine_for_fsdp_backends(monkeypatch, device, vendor):
    monkeypatch.setenv("VERL_ENGINE_DEVICE", device)
    monkeypatch.setenv("VERL_ENGINE_VENDOR", vendor)
    for backend in ("fsdp", "fsdp2"):
        assert EngineRegistry.get_engine_cls("language_model", backend) is FrozenVisionFSDPEngine


def test_another_engine_refuses_a_run_asking_for_the_freeze(monkeypatch, model_configs):
    monkeypatch.setenv("VERL_ENGINE_DEVICE", "cuda")
    with pytest.raises(ValueError, match=f"{FREEZE_KEY}=true, but verl chose the 'fsdp_turbo' engine"):
        EngineRegistry.new("language_model", "fsdp_turbo", model_config=model_configs[True],
                           engine_config=FSDPEngineConfig(strategy="fsdp_turbo"), optimizer_config=None,
                           checkpoint_config=None)


@pytest.mark.parametrize("strategy,use_orig_params,forward_only,freeze,refused", [
    ("fsdp", False, False, True, True),  # FSDP1 would refuse units mixing frozen and trainable weights
    ("fsdp", True, False, True, False),  # use_orig_params lets FSDP1 wrap mixed units
    ("fsdp2", False, False, True, False),  # FSDP2 shards per parameter
    ("fsdp", False, True, True, False),  # the reference model trains nothing, so nothing is frozen
    ("fsdp", False, False, False, False),  # no freeze asked
])
def test_fsdp1_needs_use_orig_params_to_freeze(model_configs, strategy, use_orig_params, forward_only, freeze,
                                              refused):
    engine_config = FSDPEngineConfig(strategy=strategy, use_orig_params=use_orig_params, forward_only=forward_only)
    try:
        check_fsdp1_can_freeze(model_configs[freeze], engine_config)
    except ValueError as error:
        assert refused and "actor_rollout_ref.actor.fsdp_config.use_orig_params=true" in str(error)
    else:
        assert not refused


def test_engine_stops_before_loading_the_model(model_configs):
    # The check runs first: no process group exists here, so anything further would fail differently.
    with pytest.raises(ValueError, match="use_orig_params=true"):
        FrozenVisionFSDPEngine(model_config=model_configs[True], engine_config=FSDPEngineConfig(strategy="fsdp"),
                               optimizer_config=None, checkpoint_config=None)


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
