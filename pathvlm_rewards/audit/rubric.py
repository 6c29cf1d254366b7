"""The rubric a pathologist rates with (rubric.yaml): the two dimensions and their allowed levels."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

# The scores every subcommand reports: the rubric's two dimensions and the process reward (their mean).
MEAN = "mean"


@cache
def rubric() -> dict[str, Any]:
    return yaml.safe_load((resources.files("pathvlm_rewards.audit") / "rubric.yaml").read_text(encoding="utf-8"))


def levels() -> tuple[float, ...]:
    return tuple(float(level) for level in rubric()["levels"])


def dimensions() -> tuple[str, ...]:
    """The rated dimensions: integrity, knowledge."""
    return tuple(rubric()["dimensions"])


def scores_of(integrity: float, knowledge: float) -> dict[str, float]:
    """One response's scores per reported dimension (integrity, knowledge, mean)."""
    return {"integrity": integrity, "knowledge": knowledge, MEAN: (integrity + knowledge) / 2}
