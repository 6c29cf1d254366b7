"""A CPU platform for verl's `PlatformRegistry`: gloo collectives, the `cpu` device, no-op memory calls."""

from __future__ import annotations

import os
from contextlib import contextmanager
from types import ModuleType, SimpleNamespace
from typing import Any

import torch
from verl.plugin.platform import PlatformBase, PlatformRegistry

# Name that `VERL_PLATFORM` selects; also the device type verl builds tensors and meshes on.
PLATFORM_NAME = "cpu"
# What verl's flops counter looks up in its table of peak FLOPS (`_DEVICE_FLOPS["CPU"]`).
DEVICE_DISPLAY_NAME = "CPU"


def _physical_memory() -> tuple[int, int]:
    """(available, total) bytes of RAM, the CPU's counterpart of `torch.cuda.mem_get_info()`."""
    page = os.sysconf("SC_PAGE_SIZE")
    return os.sysconf("SC_AVPHYS_PAGES") * page, os.sysconf("SC_PHYS_PAGES") * page


class CPUDeviceModule(ModuleType):
    """`torch.cpu` plus the `torch.cuda`-style calls verl makes on its device module.

    Memory bookkeeping has no meaning for host RAM managed by the OS allocator: the cache and
    peak-statistics calls are no-ops and the counters read 0; `mem_get_info` reports RAM.
    Anything else is looked up on `torch.cpu`, so an unknown call fails with AttributeError.
    """

    def __init__(self) -> None:
        super().__init__("pathvlm_cpu.device")

    def __getattr__(self, name: str) -> Any:
        return getattr(torch.cpu, name)

    # The device: one logical CPU.
    @staticmethod
    def is_available() -> bool:
        return True

    @staticmethod
    def current_device() -> str:
        return PLATFORM_NAME

    @staticmethod
    def device_count() -> int:
        return 1

    @staticmethod
    def set_device(device: Any) -> None:
        """Nothing to select: every tensor lives in host memory."""

    @staticmethod
    def get_device_name(device: Any = None) -> str:
        return DEVICE_DISPLAY_NAME

    @staticmethod
    def get_device_properties(device: Any = None) -> SimpleNamespace:
        return SimpleNamespace(name=DEVICE_DISPLAY_NAME, total_memory=_physical_memory()[1])

    # RNG: the CPU generator is torch's default generator.
    @staticmethod
    def manual_seed(seed: int) -> None:
        torch.manual_seed(seed)

    manual_seed_all = manual_seed

    @staticmethod
    def get_rng_state(device: Any = None) -> torch.Tensor:
        return torch.get_rng_state()

    @staticmethod
    def set_rng_state(state: torch.Tensor, device: Any = None) -> None:
        torch.set_rng_state(state)

    # Memory: no device cache, no device statistics.
    @staticmethod
    def empty_cache() -> None:
        """No device cache to release."""

    @staticmethod
    def ipc_collect() -> None:
        """No IPC memory handles to collect."""

    @staticmethod
    def set_per_process_memory_fraction(fraction: float, device: Any = None) -> None:
        """Host RAM is not capped per process."""

    @staticmethod
    def reset_peak_memory_stats(device: Any = None) -> None:
        """No peak statistics are kept."""

    reset_accumulated_memory_stats = reset_peak_memory_stats

    @staticmethod
    def memory_allocated(device: Any = None) -> int:
        return 0

    memory_reserved = max_memory_allocated = max_memory_reserved = memory_allocated

    @staticmethod
    def mem_get_info(device: Any = None) -> tuple[int, int]:
        return _physical_memory()


@PlatformRegistry.register(platform=PLATFORM_NAME)
class PlatformCPU(PlatformBase):
    """verl on host CPUs: gloo collectives, tensors on `cpu`, Ray's (virtual) `GPU` resource for placement.

    Never auto-detected (a CPU is always present): select it with `VERL_PLATFORM=cpu`.
    """

    _device_module = CPUDeviceModule()

    @property
    def device_name(self) -> str:
        return PLATFORM_NAME

    @property
    def vendor_name(self) -> str:
        return PLATFORM_NAME

    @property
    def device_module(self) -> ModuleType:
        return self._device_module

    def is_available(self) -> bool:
        return True

    def is_platform_available(self, use_smi_check: bool = False) -> bool:
        return False

    def current_device(self) -> str:
        # verl passes this "device id" to `.to()`, `device=` and `torch.device()`; an int would mean
        # cuda:<int>, so answer the CPU device itself (as `torch.cpu.current_device()` does).
        return PLATFORM_NAME

    def device_count(self) -> int:
        return 1

    def set_device(self, device_index: int) -> None:
        """Nothing to select on a CPU."""

    def synchronize(self, device_index: int | None = None) -> None:
        """CPU kernels run synchronously."""

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        torch.manual_seed(seed)

    def set_allocator_settings(self, settings: str) -> None:
        """The host allocator has no settings to change (e.g. expandable segments)."""

    def empty_cache(self) -> None:
        """No device cache to release."""

    def get_device_capability(self, device_index: int = 0) -> tuple[int | None, int | None]:
        return None, None

    def communication_backend_name(self) -> str:
        return "gloo"

    def visible_devices_envvar(self) -> str:
        # Ray sets this variable for actors holding the virtual GPU resource the profile declares.
        return "CUDA_VISIBLE_DEVICES"

    @contextmanager
    def nvtx_range(self, msg: str):
        yield

    def profiler_start(self) -> None:
        """No device profiler."""

    def profiler_stop(self) -> None:
        """No device profiler."""

    def ray_resource_name(self) -> str:
        # Resource pools ask Ray for GPUs; the CPU profile declares one virtual GPU to satisfy them.
        return "GPU"

    def ray_noset_envvars(self) -> list[str]:
        return []

    def is_ipc_supported(self) -> bool:
        return False

    def cudart(self) -> None:
        return None
