"""The CPU platform registers in verl, verl selects it with VERL_PLATFORM=cpu, and it runs gloo collectives."""

import json
import os
import subprocess
import sys

import pytest
import torch

from pathvlm_cpu import env, shell_exports
from pathvlm_cpu.platform import CPUDeviceModule, PlatformCPU

PROBE = """
import json, torch, verl
import verl.utils.distributed as distributed
from verl.plugin.platform import PlatformRegistry, get_platform
from verl.utils.device import get_device_id, get_device_name, get_nccl_backend, get_torch_device
from verl.utils.flops_counter import get_device_flops
from verl.workers.rollout.base import get_rollout_class
from verl.workers.rollout.replica import get_rollout_replica_class
seen = {
    "registered": "cpu" in PlatformRegistry.registered_names(),
    "platform": type(get_platform()).__name__,
    "patched": distributed.initialize_global_process_group.__module__,
    "replica": get_rollout_replica_class("hf").__name__,
    "adapter": get_rollout_class("hf", "async").__name__,
}
if seen["platform"] == "PlatformCPU":  # device calls on another platform need its hardware
    seen.update(device=get_device_name(), backend=get_nccl_backend(), flops=get_device_flops(),
                tensor_device=str(torch.zeros(1).to(get_device_id()).device))
print(json.dumps(seen))
"""


def probe(environment: dict[str, str]) -> dict:
    """What verl resolves in a fresh process (the platform is a per-process singleton)."""
    out = subprocess.run([sys.executable, "-c", PROBE], env=environment, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_verl_selects_the_cpu_platform_and_hf_rollout_from_the_environment():
    seen = probe({**os.environ, **env({})})
    assert seen["registered"] and seen["platform"] == PlatformCPU.__name__
    assert (seen["device"], seen["backend"], seen["tensor_device"]) == ("cpu", "gloo", "cpu")
    # verl's own table of peak FLOPS has a "CPU" row: MFU is computed instead of failing.
    from verl.utils.flops_counter import _DEVICE_FLOPS

    assert seen["flops"] == pytest.approx(_DEVICE_FLOPS["CPU"] / 1e12)
    assert seen["patched"] == "pathvlm_cpu.verl_patches"
    assert (seen["replica"], seen["adapter"]) == ("HFReplica", "HFServerAdapter")


def test_verl_is_left_unpatched_off_the_cpu_platform():
    environment = {k: v for k, v in os.environ.items() if k != "VERL_PLATFORM"}
    seen = probe({**environment, "VERL_USE_EXTERNAL_MODULES": "pathvlm_cpu.plugin"})
    assert seen["platform"] != PlatformCPU.__name__
    assert seen["patched"] == "verl.utils.distributed"
    assert seen["replica"] == "HFReplica"  # registering a rollout name changes nothing else


def test_platform_resolves_when_a_pathvlm_cpu_module_is_imported_before_verl():
    """The hf server's Ray actor imports `pathvlm_cpu.hf_server` first; with pathvlm_verl (which resolves
    verl's platform on import) also listed, the CPU platform must already be registered by then."""
    script = ("import pathvlm_cpu.hf_server\nfrom verl.plugin.platform import get_platform\n"
              "from verl.workers.engine import EngineRegistry\n"
              "print(type(get_platform()).__name__, EngineRegistry.get_engine_cls('language_model', 'fsdp2').__name__)")
    environment = {**os.environ, **env({"VERL_USE_EXTERNAL_MODULES": "pathvlm_verl"})}
    out = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    # VERL_ENGINE_DEVICE/VENDOR pick the same (cuda, nvidia) engine as on a GPU: pathvlm_verl's.
    assert out.stdout.strip().splitlines()[-1] == "PlatformCPU FrozenVisionFSDPEngine"


def test_env_keeps_other_external_modules_and_is_shell_sourceable():
    variables = env({"VERL_USE_EXTERNAL_MODULES": "pathvlm_verl"})
    assert variables["VERL_USE_EXTERNAL_MODULES"] == "pathvlm_cpu.plugin,pathvlm_verl"
    moved = env({"VERL_USE_EXTERNAL_MODULES": "x,pathvlm_cpu.plugin"})["VERL_USE_EXTERNAL_MODULES"]
    assert moved == "pathvlm_cpu.plugin,x"
    script = f'{shell_exports(variables)}\necho "$VERL_PLATFORM|$VERL_USE_EXTERNAL_MODULES|$VERL_ENGINE_DEVICE"'
    echoed = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout.strip()
    assert echoed == "cpu|pathvlm_cpu.plugin,pathvlm_verl|cuda"
    cli = subprocess.run([sys.executable, "-m", "pathvlm_cpu", "env"], capture_output=True, text=True, check=True)
    assert "export VERL_PLATFORM=cpu" in cli.stdout.splitlines()


RAY_THREADS = """
import ray, torch
ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
threads = ray.remote(lambda: torch.get_num_threads())
print(ray.get(threads.remote()))
"""


def test_ray_workers_use_every_core_under_the_cpu_env():
    cores = len(os.sched_getaffinity(0))
    assert env({})["OMP_NUM_THREADS"] == str(cores)
    assert env({"OMP_NUM_THREADS": "3"})["OMP_NUM_THREADS"] == "3"
    plain = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    for environment, expected in ((plain, 1), ({**plain, **env(plain)}, cores)):  # Ray's default: one thread
        out = subprocess.run([sys.executable, "-c", RAY_THREADS], env=environment, capture_output=True, text=True,
                             check=True, timeout=300)
        assert int(out.stdout.strip().splitlines()[-1]) == expected


def test_device_module_answers_memory_calls_and_rejects_unknown_ones():
    device = CPUDeviceModule()
    available, total = device.mem_get_info()
    assert 0 < available <= total == device.get_device_properties().total_memory
    assert device.memory_allocated() == device.max_memory_reserved() == 0
    device.empty_cache()
    state = device.get_rng_state()
    first = torch.rand(3)
    device.set_rng_state(state)
    assert torch.equal(first, torch.rand(3))
    with pytest.raises(AttributeError):
        device.no_such_call()


def test_gloo_process_group_on_the_cpu_platform():
    """A real process group with the backend string the patched verl builds, and a collective on it."""
    script = """
import os, socket, torch, torch.distributed as dist
import verl.utils.distributed as distributed
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK="0", LOCAL_RANK="0", WORLD_SIZE="1")
print(distributed.initialize_global_process_group(timeout_second=60))
tensor = torch.ones(2)
dist.all_reduce(tensor)
print(dist.get_backend(), tensor.tolist())
dist.destroy_process_group()
"""
    out = subprocess.run([sys.executable, "-c", script], env={**os.environ, **env({})}, capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert out[-2:] == ["(0, 0, 1)", "cpu:gloo [1.0, 1.0]"]
