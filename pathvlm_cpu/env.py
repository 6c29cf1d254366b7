"""The environment every verl process needs to run on the CPU backend."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping

# verl imports this comma-separated list of modules on `import verl` (in every Ray worker too).
EXTERNAL_MODULES_VAR = "VERL_USE_EXTERNAL_MODULES"
# Ray caps every worker it starts at OMP_NUM_THREADS=1 unless the variable is already set; verl's
# trainer worker and the rollout take turns, so each should use every core.
THREADS_VAR = "OMP_NUM_THREADS"
MODULE = "pathvlm_cpu.plugin"

CPU_ENV: dict[str, str] = {
    # Selects our platform in verl's PlatformRegistry (a CPU is never auto-detected).
    "VERL_PLATFORM": "cpu",
    # verl registers its FSDP engines for cuda/npu only: pick them ("No engine registered for device='cpu'").
    "VERL_ENGINE_DEVICE": "cuda",
    # ...and the (cuda, nvidia) entries, so the engines are chosen exactly as on a GPU.
    "VERL_ENGINE_VENDOR": "nvidia",
}


def env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables to set for a CPU run. pathvlm_cpu.plugin goes first in `VERL_USE_EXTERNAL_MODULES` (the
    platform must be registered before another module imports verl's workers), the others are kept;
    `OMP_NUM_THREADS` is the usable core count unless already set."""
    base = os.environ if base is None else base
    others = [m.strip() for m in base.get(EXTERNAL_MODULES_VAR, "").split(",") if m.strip() and m.strip() != MODULE]
    threads = base.get(THREADS_VAR) or str(len(os.sched_getaffinity(0)))
    return {**CPU_ENV, EXTERNAL_MODULES_VAR: ",".join([MODULE, *others]), THREADS_VAR: threads}


def shell_exports(variables: Mapping[str, str]) -> str:
    """`export NAME=value` lines, for `eval "$(python -m pathvlm_cpu env)"`."""
    return "\n".join(f"export {name}={shlex.quote(value)}" for name, value in variables.items())


def is_cpu_platform() -> bool:
    """Whether verl will resolve its platform to ours (the only time verl is patched)."""
    return os.environ.get("VERL_PLATFORM", "").strip().lower() == CPU_ENV["VERL_PLATFORM"]
