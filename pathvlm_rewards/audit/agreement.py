"""`agreement`: judge-vs-human, human-vs-human and judge-vs-judge agreement on the same items.

Spearman ρ, quadratic-weighted Cohen's κ on the rubric's levels, mean absolute error, each with a bootstrap 95%
interval.

Humans: filled copies of export's ratings.csv (the rater is the file's name). Judges: consistency.json of
audit runs on the same items (their first run: one judging, as a training step sees it; fallbacks left out).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
from itertools import combinations, product
from pathlib import Path

import numpy as np

from pathvlm_rewards.audit import inputs
from pathvlm_rewards.audit.items import AuditInputError
from pathvlm_rewards.audit.outputs import table, write_report
from pathvlm_rewards.audit.plots import histograms, scatter
from pathvlm_rewards.audit.rubric import MEAN, dimensions, levels, scores_of
from pathvlm_rewards.audit.stats import Estimate, bootstrap, mae, paired, quadratic_kappa, spearman

Scores = dict[str, dict[str, float]]  # item id -> dimension -> score


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ratings", type=Path, nargs="*", default=[], help="filled ratings CSVs, one per rater")
    parser.add_argument("--judge", type=Path, nargs="*", default=[],
                        help="consistency.json (or its folder) of audit runs on the same items")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    inputs.add_bootstrap_arguments(parser)


def _level(value: str, where: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not any(math.isclose(number, level, abs_tol=1e-6) for level in levels()):
        raise AuditInputError(f"{where}: {value!r} is not one of the allowed values {list(levels())}")
    return number


def read_ratings(path: Path) -> Scores:
    """The rated items of one filled CSV (rows with an empty dimension are not rated yet)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as file:
            records = list(csv.DictReader(file))
    except OSError as error:
        raise AuditInputError(f"{path}: {error}") from error
    missing = [column for column in ("item_id", *dimensions()) if records and column not in records[0]]
    if missing or not records:
        raise AuditInputError(f"{path}: needs the columns item_id, {', '.join(dimensions())} and one row per item "
                              f"(missing: {missing or 'rows'})")
    scores: Scores = {}
    for line, record in enumerate(records, 2):
        cells = {name: (record.get(name) or "").strip() for name in dimensions()}
        if not all(cells.values()):
            continue
        values = {name: _level(cell, f"{path} line {line}, column {name}") for name, cell in cells.items()}
        scores[record["item_id"].strip()] = scores_of(*values.values())
    return scores


def read_judge(path: Path) -> Scores:
    """The first run's scores of an audit run's consistency.json, fallbacks left out."""
    file = path / "consistency.json" if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        return {item["item_id"]: scores_of(item["runs"][0]["integrity"], item["runs"][0]["knowledge"])
                for item in data["items"] if item["runs"][0]["fallback"] is None}
    except (OSError, ValueError, KeyError, IndexError, TypeError) as error:
        raise AuditInputError(f"{file}: not an audit consistency.json ({type(error).__name__}: {error})") from error


def _named(paths: list[Path], name_of) -> dict[str, Path]:
    named: dict[str, Path] = {}
    for path in paths:
        name = name_of(path)
        if name in named:
            raise AuditInputError(f"{path} and {named[name]} would both be called {name!r}: rename one")
        named[name] = path
    return named


def compare(a: Scores, b: Scores, resamples: int, seed: int) -> dict[str, dict]:
    """ρ, κ (on levels; not for the mean) and MAE per dimension over the items both scored."""
    common = sorted(set(a) & set(b))
    result = {}
    for dimension in (*dimensions(), MEAN):
        scores = np.array([[a[item][dimension], b[item][dimension]] for item in common]).reshape(-1, 2)
        kappa = (bootstrap(paired(quadratic_kappa), scores, resamples, seed) if dimension != MEAN
                 else Estimate(None, None, None, len(common)))
        result[dimension] = {"spearman": bootstrap(paired(spearman), scores, resamples, seed).to_json(),
                             "quadratic_kappa": kappa.to_json(),
                             "mae": bootstrap(paired(mae), scores, resamples, seed).to_json()}
    return result


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def run(args: argparse.Namespace) -> list[str]:
    raters = {name: read_ratings(path) for name, path in _named(args.ratings, lambda p: p.stem).items()}
    judges = {name: read_judge(path) for name, path in
              _named(args.judge, lambda p: (p if p.is_dir() else p.parent).name).items()}
    pairs = [("judge-vs-human", j, r) for j, r in product(judges, raters)]
    pairs += [("human-vs-human", *pair) for pair in combinations(raters, 2)]
    pairs += [("judge-vs-judge", *pair) for pair in combinations(judges, 2)]
    if not pairs:
        raise AuditInputError("nothing to compare: give at least one --judge and one --ratings, two --ratings, "
                              "or two --judge")
    sources = {**judges, **raters}
    results = [{"kind": kind, "a": a, "b": b, "statistics": compare(sources[a], sources[b], args.bootstrap, args.seed)}
               for kind, a, b in pairs]
    data = {"raters": {name: len(scores) for name, scores in raters.items()},
            "judges": {name: len(scores) for name, scores in judges.items()},
            "seed": args.seed, "bootstrap_resamples": args.bootstrap, "levels": list(levels()), "pairs": results}
    lines = _report(data)
    write_report(args.out, "agreement", lines, data)
    scored = {name: {d: [s[d] for s in scores.values()] for d in (*dimensions(), MEAN)}
              for name, scores in sources.items() if scores}
    if scored:
        histograms(args.out / "scores.png", "scores per judge and rater", scored)
    for _kind, judge, rater in (pair for pair in pairs if pair[0] == "judge-vs-human"):
        common = sorted(set(judges[judge]) & set(raters[rater]))
        if common:
            scatter(args.out / f"scatter_{_file_name(judge)}_vs_{_file_name(rater)}.png", f"{judge} vs {rater}",
                    judge, rater, {d: ([judges[judge][i][d] for i in common], [raters[rater][i][d] for i in common])
                                   for d in (*dimensions(), MEAN)})
    return lines


def _report(data: dict) -> list[str]:
    rows = [(pair["kind"], f"{pair['a']} vs {pair['b']}", dimension, s["spearman"]["n"],
             *(Estimate(**s[name]).text() for name in ("spearman", "quadratic_kappa", "mae")))
            for pair in data["pairs"] for dimension, s in pair["statistics"].items()]
    return [
        "# Judge and rater agreement",
        "",
        f"Raters (items rated): {data['raters'] or 'none'}. Judges (items scored by the judge): "
        f"{data['judges'] or 'none'}.",
        "",
        *table(["kind", "pair", "dimension", "items", "Spearman ρ [95% CI]", "quadratic κ [95% CI]",
                "MAE [95% CI]"], rows),
        "",
        f"κ: Cohen's kappa with quadratic weights on the levels {data['levels']} (a judge's score counts as its "
        f"nearest level); not defined for the mean of the two dimensions. Intervals: percentile bootstrap over items "
        f"({data['bootstrap_resamples']} resamples, seed {data['seed']}). n/a: undefined (e.g. constant scores).",
        "Plots: scores.png (histograms per judge and rater), scatter_<judge>_vs_<rater>.png (identity line dashed).",
    ]
