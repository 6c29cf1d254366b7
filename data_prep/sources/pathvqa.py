"""PathVQA as published on the Hugging Face hub: Parquet with `image` {bytes, path}, `question`, `answer`.

Yes/no answers become `yesno` questions, every other answer `open`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from data_prep.records import Question, Skipped, SourceError, yes_no
from data_prep.sources.hf_parquet import image_of, iter_rows, parquet_files, row_id


def read_pathvqa(root: Path, out_dir: Path, splits: Sequence[str] | None = None) -> Iterator[Question | Skipped]:
    base = root.parent if root.is_file() else root
    for where, split, row in iter_rows(parquet_files(root), ("image", "question", "answer"), splits):
        for key in ("question", "answer"):
            if not isinstance(row[key], str):
                raise SourceError(f"{where}: field {key!r} must be a string, got {row[key]!r}")
        if not row["answer"].strip():
            yield Skipped(where, "empty answer")
            continue
        image_file, image_name = image_of(row["image"], base, out_dir, where)
        binary = yes_no(row["answer"])
        answer_type = "yesno" if binary else "open"
        yield Question(
            data_source="pathvqa", ability="pathology", original_id=row_id(where), category=answer_type,
            question=row["question"], answer_type=answer_type, answer=binary or row["answer"].strip(),
            image_file=image_file, image_name=image_name, source_split=split, where=where,
        )
