"""The cross-modal process reward: a vision-language judge grading the reasoning with the paper's rubric.

Exports load on first use, so importing a light submodule (e.g. `verdict` for the result keys) does not
import the backends' clients.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Judge": "runner", "JudgeSample": "runner", "get_judge": "runner", "JUDGE_VERSION": "runner",
    "JudgeConfigError": "openai_backend", "Verdict": "verdict",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
