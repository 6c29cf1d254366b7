"""The pins of setup.py's extras, read as data (setup() is never run), for the GPU-install tests."""

from __future__ import annotations

import ast
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]


def extras_require(setup_py: Path = REPO / "setup.py") -> dict[str, list[str]]:
    """The literal `EXTRAS_REQUIRE = {...}` of setup.py."""
    for node in ast.parse(setup_py.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(target, "id", None) == "EXTRAS_REQUIRE"
                                                for target in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{setup_py}: no EXTRAS_REQUIRE assignment")


def exact_pins(requirements: list[str], extras: set[str] | None = None) -> dict[str, str]:
    """{canonical name: version} of the `name==version` requirements; with `extras`, only the lines whose
    marker holds for one of those extras (as in a wheel's Requires-Dist)."""
    pins = {}
    for line in requirements:
        requirement = Requirement(line)
        if requirement.marker is not None and not any(requirement.marker.evaluate({"extra": extra})
                                                      for extra in extras or {""}):
            continue
        specifiers = list(requirement.specifier)
        if len(specifiers) == 1 and specifiers[0].operator == "==":
            pins[canonicalize_name(requirement.name)] = specifiers[0].version
    return pins


def gpu_pins() -> dict[str, str]:
    """The exact pins of the `gpu` extra: verl, torch, vllm, transformers, flash-attn."""
    return exact_pins(extras_require()["gpu"])
