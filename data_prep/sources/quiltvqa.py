"""Quilt-VQA as published on the Hugging Face hub: Parquet with `image`, `question`, `answer`,
`answer_type` (OPEN / CLOSED) and `context` (the narration the answer was taken from).

CLOSED questions answered yes/no become `yesno`, all others `open`; `context` is the SFT reasoning.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from data_prep.records import Question, Skipped, SourceError, yes_no
from data_prep.sources.hf_parquet import image_of, iter_rows, parquet_files, row_id

COLUMNS = ("image", "question", "answer", "answer_type", "context")


def read_quiltvqa(root: Path, out_dir: Path, splits: Sequence[str] | None = None) -> Iterator[Question | Skipped]:
    base = root.parent if root.is_file() else root
    for where, split, row in iter_rows(parquet_files(root), COLUMNS, splits):
        for key in ("question", "answer", "answer_type"):
            if not isinstance(row[key], str):
                raise SourceError(f"{where}: field {key!r} must be a string, got {row[key]!r}")
        kind = row["answer_type"].strip().upper()
        if kind not in ("OPEN", "CLOSED"):
            raise SourceError(f"{where}: field 'answer_type' must be OPEN or CLOSED, got {row['answer_type']!r}")
        if not row["answer"].strip():
            yield Skipped(where, "empty answer")
            continue
        image_file, image_name = image_of(row["image"], base, out_dir, where)
        binary = yes_no(row["answer"]) if kind == "CLOSED" else None
        answer_type = "yesno" if binary else "open"
        yield Question(
            data_source="quiltvqa", ability="pathology", original_id=row_id(where), category=kind.lower(),
            question=row["question"], answer_type=answer_type, answer=binary or row["answer"].strip(),
            image_file=image_file, image_name=image_name, reasoning=str(row["context"] or ""),
            source_split=split, where=where,
        )
