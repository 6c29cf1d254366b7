"""The audit's figures (matplotlib, no display): score histograms and judge-vs-human scatters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from pathvlm_eval.files import write_atomic
from pathvlm_rewards.audit.rubric import levels

BINS = np.linspace(-0.05, 1.05, 23)


def _save(fig: Figure, path: Path) -> Path:
    return write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))


def histograms(path: Path, title: str, series: Mapping[str, Mapping[str, Sequence[float]]]) -> Path:
    """One panel per dimension, one histogram per series (a judge, a run, a rater)."""
    dimensions = list(next(iter(series.values())))
    fig = Figure(figsize=(4.2 * len(dimensions), 3.6), layout="constrained")
    for ax, dimension in zip(fig.subplots(1, len(dimensions), squeeze=False)[0], dimensions, strict=True):
        for label, scores in series.items():
            ax.hist(scores[dimension], bins=BINS, alpha=0.55, label=label, edgecolor="black", linewidth=0.4)
        ax.set_xticks(levels())
        ax.set_title(dimension)
        ax.set_xlabel("score")
    ax.legend(fontsize="small")
    fig.suptitle(title)
    return _save(fig, path)


def scatter(path: Path, title: str, xlabel: str, ylabel: str,
            points: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> Path:
    """x against y per dimension, slightly jittered (scores sit on four levels), with the identity line."""
    rng = np.random.default_rng(0)
    fig = Figure(figsize=(4.2 * len(points), 4.2), layout="constrained")
    for ax, (dimension, (x, y)) in zip(fig.subplots(1, len(points), squeeze=False)[0], points.items(), strict=True):
        jitter = rng.uniform(-0.02, 0.02, (2, len(x)))
        ax.scatter(np.asarray(x) + jitter[0], np.asarray(y) + jitter[1], s=14, alpha=0.6)
        ax.plot([0, 1], [0, 1], color="black", linewidth=0.8, linestyle="--", label="identity")
        ax.set(xlim=(-0.08, 1.08), ylim=(-0.08, 1.08), xticks=levels(), yticks=levels(), aspect="equal",
               title=dimension, xlabel=xlabel, ylabel=ylabel)
    ax.legend(fontsize="small", loc="upper left")
    fig.suptitle(title)
    return _save(fig, path)
