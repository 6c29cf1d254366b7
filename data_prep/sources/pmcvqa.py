"""PMC-VQA: CSV files (train.csv, test.csv, ...) with `Figure_path, Question, Answer, Choice A … Choice D,
Answer_label` (choices valued like "A:text") and the figures in one folder.

The gold option is the one `Answer_label` names; without a label, the choice whose text equals `Answer`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from data_prep.records import Question, Skipped, SourceError, find_gold, lettered

CHOICES = ("Choice A", "Choice B", "Choice C", "Choice D")
REQUIRED = ("Figure_path", "Question", "Answer", *CHOICES)
_CHOICE = re.compile(r"^\s*\(?([A-D])\)?\s*[:.)]\s*(.*)$", re.DOTALL)


def _choice_text(value: str, letter: str, where: str) -> str:
    match = _CHOICE.match(value)
    if match and match.group(1) != letter:
        raise SourceError(f"{where}: field 'Choice {letter}' is labelled {match.group(1)!r}: {value!r}")
    return (match.group(2) if match else value).strip()


def read_pmcvqa(csv_files: Sequence[Path], images: Path) -> Iterator[Question | Skipped]:
    for csv_file in csv_files:
        split = csv_file.stem.split("_")[0].lower()
        with csv_file.open(newline="", encoding="utf-8") as stream:
            reader = csv.DictReader(stream)
            missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
            if missing:
                raise SourceError(f"{csv_file}: missing column(s) {missing} (has {reader.fieldnames})")
            for position, row in enumerate(reader):
                yield _question(row, images, f"{csv_file}: row {position}", split)


def _question(row: dict[str, str], images: Path, where: str, split: str) -> Question | Skipped:
    texts = [_choice_text(row[c] or "", c[-1], where) for c in CHOICES]
    while texts and not texts[-1]:
        texts.pop()
    if len(texts) < 2 or not all(texts):
        return Skipped(where, f"needs at least two non-empty choices, got {texts!r}")
    options = lettered(texts)
    label = (row.get("Answer_label") or "").strip().upper()
    gold = options[ord(label) - ord("A")] if len(label) == 1 and "A" <= label < chr(ord("A") + len(options)) \
        else find_gold(row["Answer"] or "", options)
    if gold is None:
        return Skipped(where, f"gold answer {row['Answer']!r} (label {label!r}) is not among the options")
    figure = (row["Figure_path"] or "").strip()
    if not figure:
        return Skipped(where, "image missing: empty Figure_path")
    return Question(
        data_source="pmcvqa", ability="medical", original_id=f"{split}:{where.rsplit(' ', 1)[-1]}", category="",
        question=row["Question"], answer_type="mcq", answer=gold, options=options, image_file=images / figure,
        image_name=figure, source_split=split, where=where,
    )
