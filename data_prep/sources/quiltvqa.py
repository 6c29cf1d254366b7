"""Quilt-VQA as published on the Hugging Face hub: Parquet with `image`, `question`, `answer`,
`answer_type` (OPEN / CLOSED) and `context` (the narration the answer was taken from).

CLOSED answers are sentences ("Yes, there is necrosis …") and the official evaluation scores them as yes/no:
a CLOSED question becomes `yesno`, its gold the sentence's leading yes/no (or the `yes_no_answer` column where
an export has one), and the sentence joins `context` as the SFT reasoning; a CLOSED answer without a readable
yes/no is skipped. OPEN questions stay `open` with the answer as given, `context` their reasoning.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from data_prep.records import Question, Skipped, SourceError, leading_yes_no, yes_no
from data_prep.sources.hf_parquet import image_of, iter_rows, parquet_files, row_id

COLUMNS = ("image", "question", "answer", "answer_type", "context")
OPTIONAL = ("yes_no_answer",)


def closed_gold(row: dict) -> str | None:
    """The yes/no of a CLOSED row: its `yes_no_answer` when present, else the answer's leading yes/no."""
    given = row.get("yes_no_answer")
    return yes_no(given) if isinstance(given, str) and given.strip() else leading_yes_no(row["answer"])


def read_quiltvqa(root: Path, out_dir: Path, splits: Sequence[str] | None = None) -> Iterator[Question | Skipped]:
    base = root.parent if root.is_file() else root
    for where, split, row in iter_rows(parquet_files(root), COLUMNS, splits, OPTIONAL):
        for key in ("question", "answer", "answer_type"):
            if not isinstance(row[key], str):
                raise SourceError(f"{where}: field {key!r} must be a string, got {row[key]!r}")
        kind = row["answer_type"].strip().upper()
        if kind not in ("OPEN", "CLOSED"):
            raise SourceError(f"{where}: field 'answer_type' must be OPEN or CLOSED, got {row['answer_type']!r}")
        if not row["answer"].strip():
            yield Skipped(where, "empty answer")
            continue
        answer, context = row["answer"].strip(), str(row["context"] or "").strip()
        if kind == "CLOSED":
            gold = closed_gold(row)
            if gold is None:
                yield Skipped(where, f"CLOSED answer {answer!r} has no leading yes/no (nor a yes_no_answer)")
                continue
            reasoning = " ".join(part for part in (context, answer) if part)
        else:
            gold, reasoning = answer, context
        image_file, image_name = image_of(row["image"], base, out_dir, where)
        yield Question(
            data_source="quiltvqa", ability="pathology", original_id=row_id(where), category=kind.lower(),
            question=row["question"], answer_type="yesno" if kind == "CLOSED" else "open", answer=gold,
            image_file=image_file, image_name=image_name, reasoning=reasoning, source_split=split, where=where,
        )
