"""PMC-VQA (HF xmcmic/PMC-VQA): CSV files and a folder of figures, in two versions told apart by their columns.

  * v1: `train.csv`, `test.csv`, `test_clean.csv` with `Figure_path, Question, Answer, Choice A … Choice D,
    Answer_label`; choices valued "A:text" (often " A:text"), `Answer` the gold text, `Answer_label` its
    letter; figures in `images/`. Label and text must designate the same choice, else the row is skipped.
  * v2: `train_2.csv`, `test_2.csv` with `index, Figure_path, Caption, Question, Choice A … Choice D, Answer,
    split`; `Answer` is the gold LETTER (read as a letter first: options may themselves be letters);
    figures in `figures/`.
Files are UTF-8 (a leading BOM is dropped).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from data_prep.records import Question, Skipped, SourceError, find_gold, lettered, not_utf8

CHOICES = ("Choice A", "Choice B", "Choice C", "Choice D")
_CHOICE = re.compile(r"^\s*\(?([A-D])\)?\s*[:.)]\s*(.*)$", re.DOTALL)
_LETTER = re.compile(r"^\s*\(?([A-D])\)?\s*[.:]?\s*$")


def _by_label(row: dict[str, str], options: tuple[str, ...]) -> str | Skipped:
    """v1: the choice `Answer_label` names, which must also be the one `Answer`'s text designates."""
    label, answer = (row["Answer_label"] or "").strip().upper(), " ".join((row["Answer"] or "").split())
    labelled = _letter_option(label, options)
    if labelled is None:
        return Skipped("", f"Answer_label {label!r} names none of the {len(options)} choices")
    if answer.casefold() != labelled[3:].casefold() and find_gold(answer, options) != labelled:
        return Skipped("", f"Answer {answer!r} and Answer_label {label!r} ({labelled!r}) disagree")
    return labelled


def _by_letter(row: dict[str, str], options: tuple[str, ...]) -> str | Skipped:
    """v2: `Answer` is the letter (an option string or text is accepted when it is not one)."""
    answer = row["Answer"] or ""
    match = _LETTER.match(answer)
    gold = _letter_option(match.group(1), options) if match else find_gold(answer, options)
    return gold if gold is not None else Skipped("", f"gold answer {answer!r} is not among the choices")


def _letter_option(letter: str, options: tuple[str, ...]) -> str | None:
    return next((o for o in options if len(letter) == 1 and o.startswith(f"{letter}) ")), None)


@dataclass(frozen=True)
class Version:
    """One PMC-VQA CSV layout: the columns that identify it and how its gold answer is read."""

    name: str
    columns: tuple[str, ...]
    gold: Callable[[dict[str, str], tuple[str, ...]], str | Skipped]
    split_column: str = ""
    id_column: str = ""


# Most specific first; a file is read with the first version whose columns it has.
VERSIONS = (
    Version("v2", ("index", "Figure_path", "Question", *CHOICES, "Answer", "split"), _by_letter,
            split_column="split", id_column="index"),
    Version("v1", ("Figure_path", "Question", "Answer", *CHOICES, "Answer_label"), _by_label),
)


def detect_version(csv_file: Path, columns: Sequence[str]) -> Version:
    for version in VERSIONS:
        if all(c in columns for c in version.columns):
            return version
    closest = min(VERSIONS, key=lambda v: sum(c not in columns for c in v.columns))
    missing = [c for c in closest.columns if c not in columns]
    raise SourceError(f"{csv_file}: not a PMC-VQA CSV: missing column(s) {missing} of {closest.name} "
                      f"(has {list(columns)})")


def read_pmcvqa(csv_files: Sequence[Path], images: Path) -> Iterator[Question | Skipped]:
    for csv_file in csv_files:
        position = 0
        try:
            with csv_file.open(newline="", encoding="utf-8-sig") as stream:
                reader = csv.DictReader(stream)
                version = detect_version(csv_file, reader.fieldnames or [])
                for position, row in enumerate(reader):
                    yield _question(row, images, f"{csv_file}: row {position}", csv_file, version)
        except UnicodeDecodeError as err:
            raise SourceError(not_utf8(csv_file, err, f" (after row {position})")) from err
        except csv.Error as err:
            raise SourceError(f"{csv_file}: row {position}: not valid CSV ({err})") from err
        except OSError as err:
            raise SourceError(f"{csv_file}: cannot be read ({err.strerror or err})") from err


def _choice_text(value: str, letter: str, where: str) -> str:
    match = _CHOICE.match(value)
    if match and match.group(1) != letter:
        raise SourceError(f"{where}: field 'Choice {letter}' is labelled {match.group(1)!r}: {value!r}")
    return (match.group(2) if match else value).strip()


def _question(row: dict[str, str], images: Path, where: str, csv_file: Path, version: Version) -> Question | Skipped:
    texts = [_choice_text(row[c] or "", c[-1], where) for c in CHOICES]
    while texts and not texts[-1]:
        texts.pop()
    if len(texts) < 2 or not all(texts):
        return Skipped(where, f"needs at least two non-empty choices, got {texts!r}")
    options = lettered(texts)
    gold = version.gold(row, options)
    if isinstance(gold, Skipped):
        return Skipped(where, gold.reason)
    figure = (row["Figure_path"] or "").strip()
    if not figure:
        return Skipped(where, "image missing: empty Figure_path")
    split = (row.get(version.split_column) or "").strip().lower() or csv_file.stem.split("_")[0].lower()
    row_key = (row.get(version.id_column) or "").strip() or where.rsplit(" ", 1)[-1]
    return Question(
        data_source="pmcvqa", ability="medical", original_id=f"{csv_file.stem}:{row_key}", category="",
        question=row["Question"], answer_type="mcq", answer=gold, options=options, image_file=images / figure,
        image_name=figure, source_split=split, where=where,
    )
