"""OmniMedVQA: ROOT/QA_information/{Open-access,Restricted-access}/<dataset>.json and ROOT/Images/.

Each JSON file is a list of entries with `question_id, question_type, question, gt_answer, option_A …
option_D` (two to four present), `image_path` (relative to ROOT), `modality_type` (one entry of
"Chest CT Scan" says `modality`) and `dataset`. `gt_answer` is the text of the gold option. An entry
without `question_id` is identified by its file and position (<dataset>:<position>).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from data_prep.records import Question, Skipped, SourceError, find_gold, lettered, read_json

ACCESS = ("Open-access", "Restricted-access")
# The paper's four out-of-domain test sets (PathVLM-R1, Table IV).
PRESETS = {"paper": ("Chest CT Scan", "ISIC2020", "Retinal OCT-C8", "Diabetic Retinopathy")}
REQUIRED = ("question", "gt_answer", "image_path")
OPTION_KEYS = ("option_A", "option_B", "option_C", "option_D")


def dataset_files(root: Path, datasets: Sequence[str] | None) -> list[Path]:
    """QA files of the named datasets (all when None), each looked up in both access folders."""
    available = {p.stem: p for access in ACCESS for p in sorted((root / "QA_information" / access).glob("*.json"))}
    if not available:
        raise SourceError(f"no QA_information/{{{','.join(ACCESS)}}}/*.json under {root}")
    if datasets is None:
        return [available[name] for name in sorted(available)]
    missing = [name for name in datasets if name not in available]
    if missing:
        raise SourceError(f"{root}/QA_information: no file for dataset(s) {missing} (has {sorted(available)})")
    return [available[name] for name in datasets]


def read_omnimedvqa(root: Path, datasets: Sequence[str] | None = None) -> Iterator[Question | Skipped]:
    for path in dataset_files(root, datasets):
        entries = read_json(path, list, "a list of entries")
        for position, entry in enumerate(entries):
            yield _question(root, entry, path, position)


def _question(root: Path, entry: object, path: Path, position: int) -> Question | Skipped:
    where = f"{path}: [{position}]"
    if not isinstance(entry, dict):
        raise SourceError(f"{where}: expected an object, got {type(entry).__name__}")
    missing = [key for key in REQUIRED if key not in entry]
    if missing:
        raise SourceError(f"{where}: missing field(s) {missing}")
    question_id = str(entry.get("question_id") or f"{path.stem}:{position}")
    where = f"{where} (question_id={question_id})"
    texts = [str(entry[k]).strip() for k in OPTION_KEYS if entry.get(k) not in (None, "")]
    if len(texts) < 2:
        raise SourceError(f"{where}: needs at least option_A and option_B")
    options = lettered(texts)
    gold = find_gold(str(entry["gt_answer"]), options)
    if gold is None:
        return Skipped(where, f"gold answer {entry['gt_answer']!r} is not among the options")
    return Question(
        data_source="omnimedvqa", ability="medical", original_id=question_id,
        category=str(entry.get("question_type", "")), question=str(entry["question"]), answer_type="mcq",
        answer=gold, options=options, image_file=root / entry["image_path"], image_name=str(entry["image_path"]),
        dataset=str(entry.get("dataset") or path.stem),
        modality=str(entry.get("modality_type", entry.get("modality", ""))), source_split="test", where=where,
    )
