"""`python -m data_prep curriculum`: keep the questions a model sometimes solves, from an evaluation run's samples.

An item every sample of the model solves, or none does, gives GRPO a group of equal rewards and so zero advantage
(MedVLThinker filters its RL data by pass rate for this reason). The pass rate of an item is the mean strict
accuracy (pathvlm_rewards, as in training) over its samples in RUN/samples/<model>.jsonl, which
`pathvlm_eval` writes with `generation.n` samples per question. The output keeps the row contract of the input
file, with `extra_info.pass_rate` added, and the item's `extra_info.index` unchanged, so the question keeps its
identity (`<data_source>/<split>/<index>`) across runs.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from data_prep.build import MANIFEST
from data_prep.records import SourceError
from data_prep.writer import file_sha256, write_json, write_parquet

ORDERS = ("none", "easy-to-hard", "hard-to-easy")
HISTOGRAM_BINS = 10


@dataclass(frozen=True)
class Band:
    """Pass rates kept: strictly between the bounds, or up to them with `inclusive`."""

    min_pass: float
    max_pass: float
    inclusive: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_pass <= self.max_pass <= 1.0:
            raise SourceError(f"--min-pass {self.min_pass} / --max-pass {self.max_pass}: "
                              "expected 0 <= min-pass <= max-pass <= 1")

    def keeps(self, rate: float) -> bool:
        if self.inclusive:
            return self.min_pass <= rate <= self.max_pass
        return self.min_pass < rate < self.max_pass

    def describe(self) -> str:
        left, right = ("[", "]") if self.inclusive else ("(", ")")
        return f"{left}{self.min_pass}, {self.max_pass}{right}"


def prompt_id(data_source: str, extra_info: dict[str, Any]) -> str:
    """The question's identity as pathvlm_eval names it (`EvalItem.prompt_id`)."""
    return f"{data_source}/{extra_info['split']}/{extra_info['index']}"


def samples_file(run_dir: Path, model: str | None) -> Path:
    """RUN/samples/<model>.jsonl; without `model`, the run's only one."""
    folder = run_dir / "samples"
    if model is not None:
        path = folder / f"{model}.jsonl"
        if not path.is_file():
            raise SourceError(f"{path}: no samples of model {model!r} in the evaluation run")
        return path
    found = sorted(folder.glob("*.jsonl"))
    if len(found) != 1:
        names = [p.stem for p in found]
        raise SourceError(f"{folder}: {'no sample files' if not found else f'several models {names}'}; "
                          "give the evaluation run of one model, or --model NAME")
    return found[0]


def read_scores(path: Path) -> dict[str, list[float]]:
    """Strict accuracy of every sample, by prompt id."""
    scores: dict[str, list[float]] = defaultdict(list)
    with path.open(encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                scores[record["prompt_id"]].append(float(record["strict"]["accuracy"]))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
                raise SourceError(f"{path}: line {number}: not a pathvlm_eval sample with prompt_id and "
                                  f"strict.accuracy ({type(err).__name__}: {err})") from err
    return dict(scores)


def pass_rates(scores: dict[str, list[float]]) -> dict[str, float]:
    return {key: sum(values) / len(values) for key, values in scores.items()}


def select(ids: list[str], rates: dict[str, float], band: Band, order: str) -> list[int]:
    """Positions of the rows to keep, in output order (stable: ties keep file order)."""
    kept = [i for i, key in enumerate(ids) if key in rates and band.keeps(rates[key])]
    if order == "easy-to-hard":
        return sorted(kept, key=lambda i: -rates[ids[i]])
    if order == "hard-to-easy":
        return sorted(kept, key=lambda i: rates[ids[i]])
    return kept


def histogram(rates: Iterable[float]) -> dict[str, Any]:
    values = np.asarray(list(rates), dtype=float)
    counts, edges = np.histogram(values, bins=HISTOGRAM_BINS, range=(0.0, 1.0))
    return {"bin_edges": [round(float(e), 4) for e in edges], "counts": counts.tolist(),
            "never_solved": int((values == 0.0).sum()), "always_solved": int((values == 1.0).sum())}


def with_pass_rate(table: pa.Table, rates: list[float]) -> pa.Table:
    """`table` with `extra_info.pass_rate` appended to its struct."""
    extra = table.column("extra_info").combine_chunks()
    fields = [extra.type.field(i) for i in range(extra.type.num_fields)]
    if "pass_rate" in extra.type.names:  # a curriculum of a curriculum: replace the old rates
        keep = [i for i, f in enumerate(fields) if f.name != "pass_rate"]
        fields = [fields[i] for i in keep]
        children = [pc.struct_field(extra, [i]) for i in keep]
    else:
        children = [pc.struct_field(extra, [i]) for i in range(len(fields))]
    merged = pa.StructArray.from_arrays([*children, pa.array(rates, pa.float64())],
                                        fields=[*fields, pa.field("pass_rate", pa.float64())],
                                        mask=extra.is_null())
    return table.set_column(table.column_names.index("extra_info"), "extra_info", merged)


def read_rows(path: Path) -> pa.Table:
    if not path.is_file():
        raise SourceError(f"{path}: data file not found")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise SourceError(f"{path}: not a Parquet file from data_prep ({err})") from err
    missing = {"data_source", "extra_info"} - set(table.column_names)
    if missing:
        raise SourceError(f"{path}: missing columns {sorted(missing)} (not a data_prep RL Parquet)")
    return table


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Filter (and order) `args.data` by the pass rates of `args.eval_run`; returns the manifest."""
    band = Band(args.min_pass, args.max_pass, args.inclusive)
    out = args.out_dir / args.data.name
    if args.out_dir.resolve() == args.data.resolve().parent:
        raise SourceError(f"--out-dir {args.out_dir}: choose another folder than the data file's "
                          f"({args.data.parent}); its file and manifest would be replaced")
    table = read_rows(args.data)
    meta = table.select(["data_source", "extra_info"]).to_pylist()
    try:
        ids = [prompt_id(row["data_source"], row["extra_info"]) for row in meta]
    except (KeyError, TypeError) as err:
        raise SourceError(f"{args.data}: extra_info needs split and index ({err})") from err
    source = samples_file(args.eval_run, args.model)
    scores = read_scores(source)
    known = set(ids)
    rates = pass_rates({key: values for key, values in scores.items() if key in known})
    if not rates:
        raise SourceError(f"{source}: no sample is of a row of {args.data} (prompt ids such as "
                          f"{next(iter(scores), 'none')!r} vs {ids[0] if ids else 'none'!r}); evaluate this file")
    unevaluated = [key for key in ids if key not in rates]
    if unevaluated and args.strict:
        raise SourceError(f"{args.data}: {len(unevaluated)} rows have no sample in {source} "
                          f"(e.g. {unevaluated[0]}); evaluate every row or drop --strict")
    chosen = select(ids, rates, band, args.order)
    if not chosen:
        raise SourceError(f"no row of {args.data} has a pass rate in {band.describe()} "
                          f"(histogram: {histogram(rates.values())['counts']}); widen the band")
    kept = with_pass_rate(table.take(chosen), [rates[ids[i]] for i in chosen])
    write_parquet(out, (row for batch in kept.to_batches() for row in batch.to_pylist()), kept.schema)
    samples_per_item = [len(scores[key]) for key in rates]
    manifest = {
        "builder": "curriculum",
        "data": str(args.data),
        "eval_samples": str(source),
        "band": {"min_pass": band.min_pass, "max_pass": band.max_pass, "inclusive": band.inclusive},
        "order": args.order,
        "samples_per_item": {"min": min(samples_per_item), "max": max(samples_per_item)},
        "rows": {"read": len(ids), "evaluated": len(rates), "unevaluated": len(unevaluated),
                 "kept": len(chosen), "outside_band": len(rates) - len(chosen)},
        "pass_rate_histogram": histogram(rates.values()),
        "kept_histogram": histogram(rates[ids[i]] for i in chosen),
        "file": out.name,
        "sha256": file_sha256(out),
    }
    write_json(args.out_dir / MANIFEST, manifest)
    return manifest


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("curriculum", help="keep the rows of an RL Parquet a model sometimes solves, from an "
                            "evaluation run with n samples per question")
    p.add_argument("--eval-run", type=Path, required=True, help="pathvlm_eval output_dir (samples/<model>.jsonl)")
    p.add_argument("--data", type=Path, required=True, help="the RL Parquet that was evaluated (e.g. grpo_train)")
    p.add_argument("--out-dir", type=Path, required=True, help="writes OUT/<data file name> + manifest.json")
    p.add_argument("--model", default=None, help="model name in the run (default: its only model)")
    p.add_argument("--min-pass", type=float, default=0.0, help="keep pass rates above this (default 0.0)")
    p.add_argument("--max-pass", type=float, default=1.0, help="keep pass rates below this (default 1.0)")
    p.add_argument("--inclusive", action="store_true", help="keep pass rates equal to a bound too")
    p.add_argument("--order", choices=ORDERS, default="none",
                   help="row order of the output (verl shuffles unless data.shuffle=false)")
    p.add_argument("--strict", action="store_true", help="a row without samples is an error instead of dropped")
    p.set_defaults(run=run, summary=summary)


def summary(manifest: dict[str, Any]) -> str:
    rows, band = manifest["rows"], manifest["band"]
    return (f"data_prep curriculum: kept {rows['kept']} of {rows['evaluated']} evaluated rows "
            f"(pass rate {Band(band['min_pass'], band['max_pass'], band['inclusive']).describe()}, order "
            f"{manifest['order']}); outside the band {rows['outside_band']}, without samples {rows['unevaluated']}")
