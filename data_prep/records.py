"""The one in-memory record every source yields, and the option/answer rules shared by all sources."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ANSWER_TYPES = ("mcq", "yesno", "open")
_OPTION = re.compile(r"^\s*([A-Z])\s*\)\s*(.*\S)\s*$", re.DOTALL)
_LETTER_ONLY = re.compile(r"^\s*\(?([A-Z])\)?\s*[.:]?\s*$")
_LETTER_TEXT = re.compile(r"^\s*\(?([A-Z])\s*[).:]\s*(.+?)\s*$", re.DOTALL)
_EMPTY_OPTION = re.compile(r"^\s*\(?([A-Z])\s*[).:]\s*$")
_LEADING_YES_NO = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)


class SourceError(ValueError):
    """Input that does not follow a dataset's on-disk format; the message names the file, item and field."""


def read_json(path: Path, expected: type, shape: str, missing_hint: str = "") -> Any:
    """Parse a JSON file whose top level must be `expected`; errors name the file and what was expected."""
    try:
        data = json.loads(read_text(path, missing_hint))
    except json.JSONDecodeError as err:
        raise SourceError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(data, expected):
        raise SourceError(f"{path}: expected {shape}")
    return data


def read_text(path: Path, missing_hint: str = "") -> str:
    """A UTF-8 text file (a leading BOM dropped); errors name the file and what is wrong with it."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as err:
        raise SourceError(f"{path} not found{missing_hint}") from err
    except UnicodeDecodeError as err:
        raise SourceError(not_utf8(path, err)) from err
    except OSError as err:
        raise SourceError(f"{path}: cannot be read ({err.strerror or err})") from err


def not_utf8(path: Path, err: UnicodeDecodeError, where: str = "") -> str:
    """The message for a file that is not UTF-8 text (the offending byte named, the codec's wording not)."""
    byte = err.object[err.start:err.start + 1].hex()
    return f"{path}{where}: not UTF-8 text (byte 0x{byte} cannot be decoded); save the file as UTF-8"


@dataclass(frozen=True)
class Skipped:
    """An item left out, with the reason; listed in the manifest (an error under --strict)."""

    where: str
    reason: str


@dataclass(frozen=True)
class Question:
    """One question about one image, as read from a source (nothing decoded yet)."""

    data_source: str
    ability: str
    original_id: str
    category: str
    question: str
    answer_type: str
    answer: str
    image_file: Path
    image_name: str
    options: tuple[str, ...] = ()
    reasoning: str = ""
    dataset: str = ""
    modality: str = ""
    source_split: str = ""
    where: str = field(default="", compare=False)

    @property
    def gold_letter(self) -> str:
        """The gold option's letter for mcq; the answer itself (yes/no) or "open" otherwise."""
        if self.answer_type == "mcq":
            return option_letter(self.answer)
        return self.answer.lower() if self.answer_type == "yesno" else "open"


def option_letter(option: str) -> str:
    match = _OPTION.match(option)
    if not match:
        raise SourceError(f"option {option!r} is not of the form 'A) text'")
    return match.group(1)


def check_options(options: list[str] | tuple[str, ...], where: str) -> tuple[str, ...]:
    """Options as "A) text" strings with consecutive letters from A; SourceError otherwise."""
    if not isinstance(options, (list, tuple)) or len(options) < 2:
        raise SourceError(f"{where}: options must be a list of at least two 'A) text' strings, got {options!r}")
    cleaned = []
    for position, option in enumerate(options):
        match = _OPTION.match(option) if isinstance(option, str) else None
        expected = chr(ord("A") + position)
        if not match or match.group(1) != expected:
            raise SourceError(f"{where}: options[{position}] must start with '{expected}) ', got {option!r}")
        cleaned.append(f"{expected}) {match.group(2)}")
    return tuple(cleaned)


def find_gold(answer: str, options: tuple[str, ...]) -> str | None:
    """The option the gold answer designates: the same option string, else the same option text (unique,
    case-insensitive), else the same letter and text in another style ("B. text"), else a bare letter
    ("B", "(B)", "B."); None when it designates none."""
    normalized = " ".join(str(answer).split())
    for option in options:
        if " ".join(option.split()) == normalized:
            return option
    texts = [o for o in options if " ".join(o[3:].split()).casefold() == normalized.casefold()]
    if len(texts) == 1:
        return texts[0]
    both = _LETTER_TEXT.match(normalized)
    if both:
        same = [o for o in options if o[0] == both.group(1) and o[3:].casefold() == both.group(2).casefold()]
        if same:
            return same[0]
    letter = _LETTER_ONLY.match(normalized)
    if letter:
        return next((o for o in options if o.startswith(f"{letter.group(1)}) ")), None)
    return None


def empty_options(options: list[str] | tuple[str, ...]) -> list[str]:
    """Letters of options that carry no text ("D) "): such an item cannot be asked as written."""
    return [m.group(1) for o in options if isinstance(o, str) and (m := _EMPTY_OPTION.match(o))]


def lettered(texts: list[str]) -> tuple[str, ...]:
    """["x", "y"] -> ("A) x", "B) y")."""
    return tuple(f"{chr(ord('A') + i)}) {' '.join(str(t).split())}" for i, t in enumerate(texts))


def yes_no(answer: str) -> str | None:
    """"yes"/"no" when the answer is one of them (case, spaces and a final period ignored)."""
    word = str(answer).strip().rstrip(".").strip().lower()
    return word if word in ("yes", "no") else None


def leading_yes_no(answer: str) -> str | None:
    """"yes"/"no" when an answer sentence opens with one ("Yes, there is necrosis." -> "yes"), else None."""
    match = _LEADING_YES_NO.match(str(answer))
    return match.group(1).lower() if match else None
