"""Compare the models of one or more evaluation runs on the questions they all answered:

    python -m pathvlm_eval.compare RUN_DIR [RUN_DIR ...] --out DIR [--scoring strict|lenient|vlmevalkit]

Every model of every run (a run already holds several models evaluated on the same items) is read from its
`results.json` and `samples/<model>.jsonl`. On the questions common to all of them it writes `compare.md`,
`compare.json` and `compare.png`: accuracy with a 95% bootstrap interval per data source beside the paper's
number for the model's `reference` row, and for every pair of models McNemar's exact test (right = sample 0
scored 1) and the paired bootstrap interval of the accuracy difference.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

from pathvlm_eval.files import write_json, write_text
from pathvlm_eval.metrics import SCORINGS, bootstrap_ci
from pathvlm_eval.paired import mcnemar_exact, paired_difference
from pathvlm_eval.plots import PERCENT, Series, bar_chart
from pathvlm_eval.reference import Reference, load_reference
from pathvlm_eval.report import markdown_table, percent
from pathvlm_eval.store import SampleStore

OVERALL = "overall"


@dataclass(frozen=True)
class ModelRun:
    """One model of one run: per question (prompt id) its data source, sample-0 score and mean score."""

    label: str
    reference: str | None
    scoring: str
    source: dict[str, str]
    first: dict[str, float]
    mean: dict[str, float]


def _headline(results: Mapping[str, Any], where: Path) -> str:
    if "headline" not in results.get("scoring", {}):
        raise ValueError(f"{where}: results.json predates scoring.headline; re-run the evaluation to refresh it")
    return results["scoring"]["headline"]


def load_run(run_dir: Path, scoring: str | None, prefix: bool) -> list[ModelRun]:
    """The models of one run folder, scored by `scoring` (default: the run's headline scoring)."""
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found (RUN_DIR must be a pathvlm_eval output_dir)")
    results = json.loads(path.read_text(encoding="utf-8"))
    chosen = scoring or _headline(results, path)
    n = results["generation"]["n"]
    models = []
    for model in results["models"]:
        store = SampleStore(Path(run_dir) / "samples" / f"{model['name']}.jsonl")
        by_question: dict[str, list[dict[str, Any]]] = {}
        for record in store.load():
            if record["sample"] < n and record.get(chosen):
                by_question.setdefault(record["prompt_id"], []).append(record)
        samples = {pid: sorted(rs, key=lambda r: r["sample"]) for pid, rs in by_question.items()}
        models.append(ModelRun(
            label=f"{Path(run_dir).name}/{model['name']}" if prefix else model["name"], reference=model["reference"],
            scoring=chosen, source={pid: rs[0]["data_source"] for pid, rs in samples.items()},
            first={pid: rs[0][chosen]["accuracy"] for pid, rs in samples.items()},
            mean={pid: sum(r[chosen]["accuracy"] for r in rs) / len(rs) for pid, rs in samples.items()}))
    return models


def _common_questions(models: Sequence[ModelRun]) -> list[str]:
    common = set.intersection(*(set(m.mean) for m in models))
    if not common:
        raise ValueError("the runs share no question scored by every model; compare runs on the same data files")
    return sorted(common)


def compare(models: Sequence[ModelRun], reference: Reference, confidence: float = 0.95, resamples: int = 1000,
            seed: int = 0) -> dict[str, Any]:
    """Accuracies per data source and pairwise tests on the questions every model answered."""
    questions = _common_questions(models)
    sources = sorted({models[0].source[q] for q in questions})
    groups = {OVERALL: questions, **{s: [q for q in questions if models[0].source[q] == s] for s in sources}}
    accuracy = {m.label: {name: {"n": len(qs), "accuracy": sum(m.mean[q] for q in qs) / len(qs),
                                 "ci": bootstrap_ci([m.mean[q] for q in qs], confidence, resamples, seed),
                                 "paper": None if name == OVERALL else
                                 reference.value("accuracy", m.reference, {"data_source": name})}
                          for name, qs in groups.items()} for m in models}
    pairs = [{"a": a.label, "b": b.label, "n": len(questions),
              "mcnemar": mcnemar_exact([a.first[q] >= 1 for q in questions], [b.first[q] >= 1 for q in questions]),
              **paired_difference([a.mean[q] for q in questions], [b.mean[q] for q in questions], confidence,
                                  resamples, seed)}
             for a, b in combinations(models, 2)]
    return {"scorings": sorted({m.scoring for m in models}), "n_questions": len(questions), "confidence": confidence,
            "bootstrap_resamples": resamples, "groups": list(groups), "accuracy": accuracy, "pairs": pairs}


def _with_ci(value: float, ci: Sequence[float]) -> str:
    return f"{percent(value)} [{percent(ci[0])}, {percent(ci[1])}]"


def render(comparison: Mapping[str, Any], reference: Reference) -> str:
    groups = comparison["groups"]
    rows = [[label, *(_with_ci(g["accuracy"], g["ci"]) + ("" if g["paper"] is None else f" (paper {g['paper']:.2f})")
                      for g in (by[name] for name in groups))] for label, by in comparison["accuracy"].items()]
    pairs = [[p["a"], p["b"], str(p["mcnemar"]["only_a"]), str(p["mcnemar"]["only_b"]),
              f"{p['mcnemar']['p_value']:.3g}", _with_ci(p["difference"], p["ci"])]
             for p in comparison["pairs"]]
    counts = next(iter(comparison["accuracy"].values()))
    return "\n".join([
        "# Model comparison", "",
        f"Scoring: {', '.join(comparison['scorings'])}; {comparison['n_questions']} questions answered by every "
        f"model. Accuracy % with {100 * comparison['confidence']:.0f}% percentile-bootstrap intervals over "
        f"questions ({comparison['bootstrap_resamples']} resamples); paper numbers: {reference.source}.", "",
        *markdown_table(["Model", *(f"{g} (n={counts[g]['n']})" for g in groups)], rows), "",
        "## Paired tests (same questions)", "",
        "McNemar's exact test: right = sample 0 scored 1; only A / only B = questions one model got right and the "
        "other not. Difference = accuracy A − B with its paired bootstrap interval.", "",
        *markdown_table(["A", "B", "Only A right", "Only B right", "McNemar p", "A − B % [CI]"], pairs), ""])


def draw(comparison: Mapping[str, Any], path: Path) -> Path:
    groups = comparison["groups"]
    series = [Series(label=label, values=[100 * by[g]["accuracy"] for g in groups],
                     low=[100 * by[g]["ci"][0] for g in groups], high=[100 * by[g]["ci"][1] for g in groups],
                     paper=[by[g]["paper"] for g in groups], color=f"C{number}")
              for number, (label, by) in enumerate(comparison["accuracy"].items())]
    return bar_chart(path, "Accuracy on the common questions (95% CI; ◆ paper)", "accuracy (%)",
                     [f"{g} (n={next(iter(comparison['accuracy'].values()))[g]['n']})" for g in groups], series,
                     ylim=PERCENT)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pathvlm_eval.compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="pathvlm_eval output folders")
    parser.add_argument("--out", type=Path, required=True, help="folder for compare.md, compare.json, compare.png")
    parser.add_argument("--scoring", choices=SCORINGS, help="default: the runs' headline scoring")
    parser.add_argument("--reference", type=Path, help="reference tables (default: the paper's)")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    models = [m for run in args.runs for m in load_run(run, args.scoring, prefix=len(args.runs) > 1)]
    if len({m.scoring for m in models}) > 1:
        parser.error("the runs' headline scorings differ (protocols ours and vlmevalkit); choose one with --scoring")
    if len(models) < 2:
        parser.error("need at least two models to compare")
    reference = load_reference(args.reference)
    comparison = compare(models, reference, resamples=args.resamples, seed=args.seed)
    write_json(args.out / "compare.json", comparison)
    write_text(args.out / "compare.md", render(comparison, reference))
    draw(comparison, args.out / "compare.png")
    print(f"comparison: {args.out / 'compare.md'}\nplot:       {args.out / 'compare.png'}")


if __name__ == "__main__":
    main()
