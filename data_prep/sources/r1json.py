"""R1-style JSON (VLM-R1, MedVLM-R1, and the PathVLM-R1 authors' image-disjoint split files): a JSON list
of `{image, problem, solution}`. `problem` ends with an `Options:` block (one "A) text" per line; "A.",
"A:" and "(A)" are read too); `solution` is `<think>…</think><answer>X) …</answer>` or just the option.

Frozen splits are converted as they are: same items, same order, nothing re-split or deduplicated.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from data_prep.records import Question, Skipped, SourceError, find_gold, lettered, read_json

_OPTIONS_HEADER = re.compile(r"^\s*options?\s*:\s*", re.IGNORECASE | re.MULTILINE)
_OPTION_LINE = re.compile(r"^\s*\(?([A-Z])\s*[).:]\s*(.+?)\s*$")
_TAG = {tag: re.compile(rf"<{tag}>(.*?)</{tag}>", re.DOTALL) for tag in ("think", "answer")}


def parse_problem(problem: str, where: str) -> tuple[str, tuple[str, ...]]:
    """(question text, options) of a problem whose last block is `Options:` followed by lettered lines."""
    headers = list(_OPTIONS_HEADER.finditer(problem))
    if not headers:
        raise SourceError(f"{where}: field 'problem' has no 'Options:' block")
    question, block = problem[: headers[-1].start()].strip(), problem[headers[-1].end():]
    texts, expected = [], "A"
    for line in filter(str.strip, block.splitlines()):
        match = _OPTION_LINE.match(line)
        if not match or match.group(1) != expected:
            break
        texts.append(match.group(2))
        expected = chr(ord(expected) + 1)
    if len(texts) < 2:
        raise SourceError(f"{where}: the 'Options:' block of field 'problem' needs lines 'A) text', 'B) text', ...")
    return question, lettered(texts)


def parse_solution(solution: str) -> tuple[str, str]:
    """(reasoning, answer) of `<think>…</think><answer>…</answer>`, or ("", solution) without tags."""
    think, answer = _TAG["think"].search(solution), _TAG["answer"].search(solution)
    return (think.group(1).strip() if think else ""), (answer.group(1) if answer else solution).strip()


def read_r1json(path: Path, split: str, image_root: Path, data_source: str, ability: str
                ) -> Iterator[Question | Skipped]:
    items = read_json(path, list, "a JSON list of {image, problem, solution}")
    for position, item in enumerate(items):
        yield _question(item, f"{path}: [{position}]", position, split, image_root, data_source, ability)


def _question(item: object, where: str, position: int, split: str, image_root: Path, data_source: str,
              ability: str) -> Question | Skipped:
    if not isinstance(item, dict):
        raise SourceError(f"{where}: expected an object, got {type(item).__name__}")
    for key in ("image", "problem", "solution"):
        if key not in item:
            raise SourceError(f"{where}: missing field {key!r}")
    image = item["image"]
    if isinstance(image, list):
        if len(image) != 1:
            raise SourceError(f"{where}: field 'image' must name one image, got {len(image)}")
        image = image[0]
    if not isinstance(image, str) or not image.strip():
        return Skipped(where, "image missing: empty image field")
    question, options = parse_problem(str(item["problem"]), where)
    reasoning, answer = parse_solution(str(item["solution"]))
    gold = find_gold(answer, options)
    if gold is None:
        return Skipped(where, f"gold answer {answer!r} is not among the options")
    return Question(
        data_source=data_source, ability=ability, original_id=str(item.get("id", position)),
        category=str(item.get("category", "")), question=question, answer_type="mcq", answer=gold, options=options,
        image_file=image_root / image, image_name=image, reasoning=reasoning, source_split=split, where=where,
    )
