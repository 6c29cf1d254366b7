"""The only changes of verl behaviour the CPU backend needs, for verl 0.9.1, applied on the CPU platform only.

Each patch names the verl function it changes and the source text it relies on; `check()` verifies
both against the installed verl, `apply()` refuses to patch a verl that no longer matches, and
tests/pathvlm_cpu/test_verl_patches_on_cpu.py fails when the pinned version changes.

1. Process group: verl builds the backend string `cpu:gloo,{device}:{backend}`, which on a CPU is
   `cpu:gloo,cpu:gloo`; torch rejects the duplicate device type. On CPU the string is `cpu:gloo`.
2. Reference model: forward-only FSDP2 engines force `CPUOffloadPolicy(pin_memory=True)`; pinning
   needs a CUDA driver ("Found no NVIDIA driver"). On CPU the policy never pins.
3. Qwen2-VL text-only sample in a VL batch: verl's dummy vision pass calls `.mean()` on the vision
   tower's output, which transformers 5 returns as `BaseModelOutputWithPooling` (AttributeError).
   The patched function unpacks it with verl's own `unpack_visual_output` first.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed
from torch.distributed.fsdp import CPUOffloadPolicy

# The verl release these patches were written against (setup.py pins the same).
VERL_VERSION = "0.9.1"
# Backend string for a process group whose only device is the CPU.
CPU_PROCESS_GROUP_BACKEND = "cpu:gloo"


@dataclass(frozen=True)
class Patch:
    """One replaced verl attribute, with the source text and signature the replacement assumes."""

    module: str
    attribute: str
    expected_snippet: str
    expected_parameters: tuple[str, ...]

    def target(self) -> Any:
        """The installed verl object this patch replaces (resolving `Class.method` paths)."""
        obj: Any = __import__(self.module, fromlist=["_"])
        for part in self.attribute.split("."):
            obj = getattr(obj, part)
        return obj

    def problems(self) -> list[str]:
        """Ways the installed verl differs from what the patch assumes (empty when it matches)."""
        where = f"{self.module}.{self.attribute}"
        try:
            original = inspect.unwrap(self.target())
        except (ImportError, AttributeError) as exc:
            return [f"{where} is gone ({exc})"]
        found = []
        if self.expected_snippet not in inspect.getsource(original):
            found.append(f"{where} no longer contains {self.expected_snippet!r}")
        parameters = tuple(inspect.signature(original).parameters)
        if parameters != self.expected_parameters:
            found.append(f"{where} parameters are {parameters}, the patch expects {self.expected_parameters}")
        return found


PATCHES = (
    Patch(
        "verl.utils.distributed",
        "initialize_global_process_group",
        'backend = f"cpu:gloo,{get_device_name()}:{get_nccl_backend()}"',
        ("timeout_second",),
    ),
    Patch(
        "verl.utils.distributed",
        "initialize_global_process_group_ray",
        'backend = backend or f"cpu:gloo,{get_device_name()}:{get_nccl_backend()}"',
        ("timeout_second", "backend"),
    ),
    Patch(
        "verl.workers.engine.fsdp.transformer_impl",
        "FSDPEngine._build_fsdp_module",
        "offload_policy = CPUOffloadPolicy(pin_memory=True)",
        ("self", "module"),
    ),
    Patch(
        "verl.models.transformers.qwen2_vl",
        "_get_input_embeds",
        "inputs_embeds = inputs_embeds + 0.0 * image_embeds.mean()",
        ("model", "input_ids", "attention_mask", "pixel_values", "pixel_values_videos", "image_grid_thw",
         "video_grid_thw"),
    ),
)


def check() -> list[str]:
    """Everything in the installed verl that the patches do not expect (empty when all match)."""
    import verl

    found = [] if verl.__version__ == VERL_VERSION else [f"verl is {verl.__version__}, patches are for {VERL_VERSION}"]
    for patch in PATCHES:
        found.extend(patch.problems())
    return found


class UnpinnedCPUOffloadPolicy(CPUOffloadPolicy):
    """FSDP2's CPU offload policy that never pins host memory (pinning needs a CUDA driver)."""

    def __init__(self, pin_memory: bool = False) -> None:
        super().__init__(pin_memory=False)


def _initialize_global_process_group(timeout_second: int = 36000) -> tuple[int, int, int]:
    """verl's torchrun process-group set-up with a CPU-only backend string."""
    torch.distributed.init_process_group(
        backend=CPU_PROCESS_GROUP_BACKEND,
        timeout=timedelta(seconds=timeout_second),
        init_method=os.environ.get("DIST_INIT_METHOD", None),
    )
    return int(os.environ["LOCAL_RANK"]), int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])


def _ray_process_group(original: Callable[..., None]) -> Callable[..., None]:
    """verl's Ray-worker process-group set-up, defaulting to the CPU-only backend string."""

    def initialize_global_process_group_ray(timeout_second: int | None = None, backend: str | None = None) -> None:
        original(timeout_second=timeout_second, backend=backend or CPU_PROCESS_GROUP_BACKEND)

    return initialize_global_process_group_ray


def _text_only_safe(original: Callable[..., Any]) -> Callable[..., Any]:
    """verl's Qwen2-VL input embedding, with the text-only dummy vision pass unpacked before `.mean()`."""
    from verl.utils.transformers_compat import unpack_visual_output

    def _get_input_embeds(model, input_ids, attention_mask=None, pixel_values=None, pixel_values_videos=None,
                          image_grid_thw=None, video_grid_thw=None):
        if pixel_values is not None or pixel_values_videos is not None:
            return original(model, input_ids, attention_mask, pixel_values, pixel_values_videos, image_grid_thw,
                            video_grid_thw)
        # Text-only: a zero-weighted pass through the vision tower keeps every rank's FSDP graph identical.
        inputs_embeds = model.get_input_embeddings()(input_ids)
        vision = model.config.vision_config
        patch_dim = vision.in_channels * vision.temporal_patch_size * vision.patch_size**2
        dummy_pixels = torch.zeros((16, patch_dim), dtype=inputs_embeds.dtype, device=inputs_embeds.device)
        dummy_grid = torch.tensor([[1, 4, 4]], dtype=torch.long, device=inputs_embeds.device)
        dummy_embeds, _ = unpack_visual_output(model.visual(dummy_pixels, grid_thw=dummy_grid))
        inputs_embeds = inputs_embeds + 0.0 * dummy_embeds.mean()
        if attention_mask is not None:
            attention_mask = attention_mask.to(inputs_embeds.device)
        return inputs_embeds, attention_mask

    return _get_input_embeds


def apply() -> None:
    """Patch the installed verl for the CPU platform; refuses (RuntimeError) a verl it was not written for."""
    problems = check()
    if problems:
        raise RuntimeError(
            "pathvlm_cpu cannot patch this verl for CPU runs; re-check pathvlm_cpu/verl_patches.py against it:\n- "
            + "\n- ".join(problems)
        )
    import verl.models.transformers.qwen2_vl as qwen2_vl
    import verl.utils.distributed as distributed
    import verl.workers.engine.fsdp.transformer_impl as transformer_impl

    if getattr(distributed, "_pathvlm_cpu_patched", False):
        return
    _replace(distributed.initialize_global_process_group, _initialize_global_process_group)
    _replace(distributed.initialize_global_process_group_ray,
             _ray_process_group(distributed.initialize_global_process_group_ray))
    # Only the FSDP engine's name: it builds every FSDP2 offload policy verl uses (actor and ref).
    transformer_impl.CPUOffloadPolicy = UnpinnedCPUOffloadPolicy
    _replace(qwen2_vl._get_input_embeds, _text_only_safe(qwen2_vl._get_input_embeds))
    distributed._pathvlm_cpu_patched = True


def _replace(original: Any, replacement: Any) -> None:
    """Rebind every loaded verl module's global name for `original` (modules that did
    `from ... import name`) to `replacement`; modules imported later see the replacement."""
    for name, module in list(sys.modules.items()):
        if name == "verl" or name.startswith("verl."):
            for attribute, value in list(vars(module).items()):
                if value is original:
                    setattr(module, attribute, replacement)
