"""The verl 0.9.1 patches: the version guard, and each patch doing what it claims on real verl code."""

import pytest
import torch
import verl
from transformers import AutoModelForImageTextToText

from pathvlm_cpu import verl_patches
from pathvlm_cpu.verl_patches import PATCHES, Patch, UnpinnedCPUOffloadPolicy


def test_installed_verl_is_the_release_the_patches_were_written_for():
    """Fails on a verl upgrade: re-read every patched function, then update the patches and this pin."""
    assert verl.__version__ == verl_patches.VERL_VERSION == "0.9.1"
    assert verl_patches.check() == []


def test_guard_reports_a_changed_function():
    changed = Patch(PATCHES[0].module, PATCHES[0].attribute, "text verl does not contain", ("timeout_second",))
    renamed = Patch(PATCHES[0].module, PATCHES[0].attribute, PATCHES[0].expected_snippet, ("timeout",))
    missing = Patch("verl.utils.distributed", "no_such_function", "x", ())
    assert "no longer contains" in changed.problems()[0]
    assert "parameters are ('timeout_second',)" in renamed.problems()[0]
    assert "is gone" in missing.problems()[0]


def test_offload_policy_never_pins():
    assert UnpinnedCPUOffloadPolicy(pin_memory=True).pin_memory is False
    assert isinstance(UnpinnedCPUOffloadPolicy(), torch.distributed.fsdp.CPUOffloadPolicy)


@pytest.fixture(scope="module")
def tiny_model(tiny_ckpt):
    return AutoModelForImageTextToText.from_pretrained(tiny_ckpt, dtype=torch.float32).eval()


def test_text_only_sample_in_a_vl_model(tiny_model):
    """verl's own function fails on transformers 5's vision output; the patched one returns embeddings
    equal to the text embeddings and keeps the vision tower in the autograd graph."""
    from verl.models.transformers import qwen2_vl

    original = qwen2_vl._get_input_embeds
    assert original.__module__ == qwen2_vl.__name__, "this test process must not run with VERL_PLATFORM=cpu"
    inner = tiny_model.model  # verl calls it with the Qwen2.5-VL base model (vision tower + language model)
    input_ids = torch.tensor([[151644, 872, 198, 9707, 151645]])
    with pytest.raises(AttributeError, match="mean"):
        original(inner, input_ids)
    patched = verl_patches._text_only_safe(original)
    embeds, mask = patched(inner, input_ids, torch.ones_like(input_ids))
    assert torch.equal(embeds, inner.get_input_embeddings()(input_ids))
    assert mask.shape == input_ids.shape
    embeds.sum().backward()
    assert next(inner.visual.parameters()).grad is not None
    tiny_model.zero_grad()
