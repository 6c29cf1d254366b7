"""The responses an audit judges or has rated, each joined with its Parquet row (image, question, options, gold).

Responses come from verl's dumps (`trainer.rollout_data_dir`, `trainer.validation_data_dir`: JSONL lines with
`input`, the decoded prompt, `output` and `gts`) or an evaluation run's per-sample file (RUN/samples/<model>.jsonl:
`data_source`, `split`, `index`, `response`). Evaluation samples name their row; a dump line is matched by content:
the row whose question text appears in `input` and whose gold answer is `gts`. A dump line that several rows with
different images fit (one question asked about several images) cannot be placed and is counted as ambiguous.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pathvlm_rewards.answers import grade
from pathvlm_rewards.tags import answer_block

DUMP_KEYS = ("input", "output", "gts")
EVAL_KEYS = ("data_source", "split", "index", "response")


class AuditInputError(ValueError):
    """Input the audit cannot use; the message names the file, line or row and the field."""


@dataclass(frozen=True)
class Row:
    """A Parquet row as the judge sees it."""

    key: tuple[str, str, int]  # (data_source, split, index)
    question: str
    gold: str
    extra_info: Mapping[str, Any]  # answer_type, options, image_bytes, ... (data_prep/rows.py)

    @property
    def options(self) -> list[str]:
        return [str(option) for option in self.extra_info.get("options") or []]


@dataclass(frozen=True)
class AuditItem:
    item_id: str
    row: Row
    response: str
    source: str  # file:line of the response

    @property
    def correct(self) -> bool:
        """Whether the final answer is right, by the reward's own accuracy rule (the judge is told)."""
        return grade(answer_block(self.response), self.row.gold, self.row.extra_info)[0] >= 1.0


@dataclass
class Collected:
    items: list[AuditItem]
    skipped: Counter = field(default_factory=Counter)  # reason -> responses left out


def item_id(row: Row, response: str) -> str:
    """Stable id of a response to a row: the same response to the same image and question gets the same id."""
    text = "\0".join((str(row.extra_info.get("image_sha256", "")), row.question, row.gold, response))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def read_rows(paths: Iterable[Path]) -> list[Row]:
    """The rows of data_prep's Parquet files (only the columns the audit needs)."""
    rows = []
    for path in paths:
        try:
            table = pq.read_table(path, columns=["data_source", "reward_model", "extra_info"])
        except (OSError, KeyError, ValueError) as error:
            raise AuditInputError(f"{path}: not a data_prep Parquet file ({error})") from error
        for position, record in enumerate(table.to_pylist()):
            info = record["extra_info"] or {}
            question, gold = info.get("question"), (record["reward_model"] or {}).get("ground_truth")
            if not question or gold is None or not info.get("image_bytes"):
                raise AuditInputError(f"{path} row {position}: extra_info.question, extra_info.image_bytes and "
                                      "reward_model.ground_truth are required (rebuild it with data_prep)")
            key = (str(record["data_source"]), str(info.get("split")), int(info.get("index", position)))
            rows.append(Row(key=key, question=question.strip(), gold=str(gold), extra_info=info))
    return rows


def read_lines(paths: Iterable[Path]) -> Iterator[tuple[str, dict]]:
    """(file:line, record) of JSONL files, or of every *.jsonl in a folder."""
    for path in paths:
        files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
        if not files:
            raise AuditInputError(f"{path}: no *.jsonl files")
        for file in files:
            with open(file, encoding="utf-8") as lines:
                for number, line in enumerate(lines, 1):
                    if line.strip():
                        try:
                            yield f"{file}:{number}", json.loads(line)
                        except json.JSONDecodeError as error:
                            raise AuditInputError(f"{file}:{number}: not JSON ({error})") from error


class RowIndex:
    """Finds the row of a response: by (data_source, split, index), or by question text and gold answer."""

    def __init__(self, rows: Sequence[Row]):
        self.by_key = {row.key: row for row in rows}
        self.by_gold: dict[str, list[Row]] = defaultdict(list)
        for row in rows:
            self.by_gold[row.gold].append(row)

    def of_dump(self, record: Mapping) -> Row | str:
        """The row of a dump line, or why there is none (unmatched, ambiguous)."""
        found = {row.extra_info.get("image_sha256") or row.key: row
                 for row in self.by_gold.get(str(record["gts"]), ()) if row.question in str(record["input"])}
        if len(found) == 1:
            return next(iter(found.values()))
        return "ambiguous" if found else "unmatched"

    def of_sample(self, record: Mapping) -> Row | str:
        key = (str(record["data_source"]), str(record["split"]), int(record["index"]))
        return self.by_key.get(key, "unmatched")


def collect(response_paths: Iterable[Path], data_paths: Iterable[Path]) -> Collected:
    """Every distinct (row, response) of the response files; lines without a single row are counted, not kept."""
    index = RowIndex(read_rows(data_paths))
    collected, seen = Collected(items=[]), set()
    for source, record in read_lines(response_paths):
        if all(key in record for key in DUMP_KEYS):
            row, response = index.of_dump(record), str(record["output"])
        elif all(key in record for key in EVAL_KEYS):
            row, response = index.of_sample(record), str(record["response"])
        else:
            raise AuditInputError(f"{source}: neither a verl dump line (keys {list(DUMP_KEYS)}) nor an evaluation "
                                  f"sample (keys {list(EVAL_KEYS)}); it has {sorted(record)[:12]}")
        if isinstance(row, str):
            collected.skipped[row] += 1
            continue
        item = AuditItem(item_id=item_id(row, response), row=row, response=response, source=source)
        if item.item_id in seen:
            collected.skipped["duplicate"] += 1
            continue
        seen.add(item.item_id)
        collected.items.append(item)
    if not collected.items:
        raise AuditInputError(f"no response could be joined with a Parquet row (left out: {dict(collected.skipped)}); "
                              "give the Parquet files the run was trained or evaluated on")
    return collected


def sample(items: Sequence[AuditItem], n: int, seed: int) -> list[AuditItem]:
    """`n` items (all if fewer) in a seeded random order; the same items and seed always give the same sample."""
    ordered = sorted(items, key=lambda item: item.item_id)
    return random.Random(seed).sample(ordered, min(n, len(ordered)))
