"""Per-step reward curves from verl's sample dumps (`<dump dir>/<step>.jsonl`).

verl 0.9.1 dumps training samples with their total score only (`trainer.rollout_data_dir`) and
validation samples with every reward component (`trainer.validation_data_dir`). This plots the mean of
each component per step, one line per (folder, component):

    python -m recipes.reward_curves runs/stage2_grpo/rollouts runs/stage2_grpo/validation \
        --out runs/stage2_grpo/reward_curves.png
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# Reward keys plotted when present (pathvlm_rewards.compute_score's components).
COMPONENTS = ("score", "accuracy", "format", "process")


def step_means(rollout_dir: Path) -> dict[str, dict[int, float]]:
    """{component: {step: mean over that step's samples}} for every component found in the dumps."""
    sums: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    files = sorted(rollout_dir.glob("*.jsonl"), key=lambda p: int(p.stem) if p.stem.isdigit() else -1)
    if not files:
        raise FileNotFoundError(f"{rollout_dir}: no <step>.jsonl rollout dumps (is trainer.rollout_data_dir set?)")
    for path in files:
        for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            try:
                sample = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{line_no}: not JSON ({err.msg})") from err
            for key in COMPONENTS:
                value = sample.get(key)
                if isinstance(value, int | float) and math.isfinite(value):
                    sums[key][int(sample["step"])].append(float(value))
    return {key: {step: sum(v) / len(v) for step, v in sorted(per_step.items())} for key, per_step in sums.items()}


def plot(curves: dict[str, dict[int, float]], out: Path, title: str) -> Path:
    """One line per component against the training step; written atomically."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for key, per_step in curves.items():
        ax.plot(list(per_step), list(per_step.values()), marker="o", label=key)
    ax.set(xlabel="training step", ylabel="mean reward", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=out.parent)
    os.close(fd)
    fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dump_dirs", type=Path, nargs="+", help="rollout and/or validation dump folders")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    curves = {f"{folder.name}/{key}": per_step for folder in args.dump_dirs
              for key, per_step in step_means(folder).items()}
    plot(curves, args.out, title=args.dump_dirs[0].parent.name)
    for key, per_step in curves.items():
        print(f"{key}: " + " ".join(f"{step}:{value:.3f}" for step, value in per_step.items()))
    print(args.out)


if __name__ == "__main__":
    main()
