"""Bar charts comparing models per dataset (matplotlib, no display needed)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from pathvlm_eval.files import write_atomic
from pathvlm_eval.reference import Reference
from pathvlm_eval.results import find_group

HATCHES = {"strict": "", "lenient": "//"}
PERCENT = (0.0, 100.0)


@dataclass(frozen=True)
class Series:
    """One bar per category; `low`/`high` draw an interval, `paper` a reference marker over the bar."""

    label: str
    values: list[float | None]
    low: list[float | None]
    high: list[float | None]
    paper: list[float | None]
    hatch: str = ""
    color: str | None = None


def bar_chart(path: Path, title: str, ylabel: str, categories: Sequence[str], series: Sequence[Series],
              ylim: tuple[float, float] | None = None) -> Path:
    """Grouped bars (one group per category), written atomically as PNG."""
    fig = Figure(figsize=(max(6.0, 0.9 + len(categories) * (0.35 * len(series) + 0.5)), 4.5), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(series))
    x = np.arange(len(categories))
    paper_labelled = False
    for i, s in enumerate(series):
        pos = x - 0.4 + width * (i + 0.5)
        heights = [np.nan if v is None else v for v in s.values]
        ax.bar(pos, heights, width, label=s.label, hatch=s.hatch, color=s.color, edgecolor="black", linewidth=0.5)
        err = [(v - lo, hi - v) if None not in (v, lo, hi) else (0.0, 0.0)
               for v, lo, hi in zip(s.values, s.low, s.high, strict=True)]
        if any(lo or hi for lo, hi in err):
            ax.errorbar(pos, heights, yerr=np.array(err).T, fmt="none", ecolor="black", capsize=2, linewidth=0.8)
        paper = [(p, v) for p, v in zip(pos, s.paper, strict=True) if v is not None]
        if paper:
            ax.scatter([p for p, _ in paper], [v for _, v in paper], marker="D", color="black", s=18, zorder=3,
                       label=None if paper_labelled else "paper (reference)")
            paper_labelled = True
    ax.set_xticks(x, categories, rotation=20 if max(map(len, categories)) > 12 else 0, ha="right")
    ax.set_ylabel(ylabel)
    if ylim:
        ax.set_ylim(*ylim)
    ax.set_title(title)
    ax.legend(fontsize="small", ncols=2)
    ax.grid(axis="y", alpha=0.3)
    return write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()


def _accuracy_series(results: Mapping[str, Any], reference: Reference,
                     filters: Sequence[Mapping[str, str]]) -> list[Series]:
    series = []
    for number, model in enumerate(results["models"]):
        groups = [find_group(model, f) for f in filters]
        for scoring in ("strict", "lenient"):
            metric = [g[scoring] if g else None for g in groups]
            series.append(Series(
                label=f"{model['name']} ({scoring})",
                values=[100 * m["accuracy"] if m else None for m in metric],
                low=[100 * m["ci"][0] if m and m["ci"] else None for m in metric],
                high=[100 * m["ci"][1] if m and m["ci"] else None for m in metric],
                paper=[reference.value("accuracy", model["reference"], f) if scoring == "strict" else None
                       for f in filters],
                hatch=HATCHES[scoring], color=f"C{number}"))  # one colour per model, hatched = lenient
    return series


def _dataset_filters(results: Mapping[str, Any], reference: Reference) -> list[dict[str, str]]:
    """Each data_source, then each accuracy column of the reference tables, in that order, without repeats."""
    filters: list[dict[str, str]] = []
    for model in results["models"]:
        for g in model["groups"]:
            if list(g["filter"]) == ["data_source"] and g["filter"] not in filters:
                filters.append(g["filter"])
    for table in reference.tables:
        if table.metric == "accuracy":
            filters.extend(dict(c.filter) for c in table.columns if dict(c.filter) not in filters)
    return [f for f in filters if any(find_group(m, f) for m in results["models"])]


def _label(group_filter: Mapping[str, str]) -> str:
    extra = [v for k, v in group_filter.items() if k != "data_source"]
    return " / ".join(extra) if extra else group_filter["data_source"]


def draw_plots(results: Mapping[str, Any], reference: Reference, out_dir: Path) -> list[Path]:
    """accuracy_by_dataset.png, one accuracy chart per breakdown, and output_tokens.png."""
    out_dir = Path(out_dir)
    paths = []
    datasets = _dataset_filters(results, reference)
    if datasets:
        paths.append(bar_chart(out_dir / "accuracy_by_dataset.png", "Accuracy per dataset (95% CI; ◆ paper)",
                               "accuracy (%)", [_label(f) for f in datasets],
                               _accuracy_series(results, reference, datasets), ylim=PERCENT))
    breakdowns: dict[tuple[str, str], list[dict[str, str]]] = {}
    for model in results["models"]:
        for g in model["groups"]:
            f = g["filter"]
            if len(f) == 2 and "data_source" in f and f not in datasets:
                key = (f["data_source"], next(k for k in f if k != "data_source"))
                if f not in breakdowns.setdefault(key, []):
                    breakdowns[key].append(f)
    for (source, field), filters in breakdowns.items():
        paths.append(bar_chart(out_dir / f"accuracy_{_slug(source)}_by_{_slug(field)}.png",
                               f"{source}: accuracy by {field} (95% CI)", "accuracy (%)",
                               [f[field] for f in filters], _accuracy_series(results, reference, filters),
                               ylim=PERCENT))
    sources = [f for f in datasets if list(f) == ["data_source"]]
    if sources:
        series = [Series(label=model["name"],
                         values=[(find_group(model, f) or {}).get("mean_output_tokens") for f in sources],
                         low=[None] * len(sources), high=[None] * len(sources),
                         paper=[reference.value("mean_output_tokens", model["reference"], f) for f in sources])
                  for model in results["models"]]
        paths.append(bar_chart(out_dir / "output_tokens.png", "Mean output tokens (◆ paper)", "tokens",
                               [_label(f) for f in sources], series))
    return paths
