"""On a GPU node after `make install-gpu`: the installed stack is setup.py's `gpu` extra, and flash-attn (built
from source against that torch) loads and computes attention."""

import importlib.metadata
import importlib.util

import pytest
import torch
import torch.nn.functional as F
from gpu_pins import gpu_pins

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available() or importlib.util.find_spec("vllm") is None,
    reason="needs a CUDA GPU and the GPU stack (make install-gpu)",
)


def test_installed_versions_are_the_gpu_pins():
    installed = {name: importlib.metadata.version(name) for name in gpu_pins()}
    assert installed == gpu_pins()
    # PyPI's torch 2.11.0 is its CUDA 13.0 build; a CUDA 12 torch here came from another index.
    assert torch.version.cuda.split(".")[0] == "13"


def test_flash_attn_varlen_matches_torch_attention_per_sequence():
    from flash_attn import flash_attn_varlen_func

    # Three packed sequences of different lengths, as verl's remove-padding path packs them.
    lengths, heads, head_dim = [5, 17, 9], 4, 64
    generator = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.randn(sum(lengths), heads, head_dim, device="cuda", dtype=torch.bfloat16, generator=generator)
               for _ in range(3))
    offsets = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], device="cuda", dtype=torch.int32)
    packed = flash_attn_varlen_func(q, k, v, offsets, offsets, max(lengths), max(lengths), causal=True)
    for start, end in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True):
        # (length, heads, dim) -> (1, heads, length, dim) for torch's reference attention, and back.
        q_i, k_i, v_i = (t[start:end].transpose(0, 1).unsqueeze(0).float() for t in (q, k, v))
        expected = F.scaled_dot_product_attention(q_i, k_i, v_i, is_causal=True)[0].transpose(0, 1)
        assert torch.allclose(packed[start:end].float(), expected, atol=2e-2, rtol=2e-2)
