"""R1-style frozen split files, converted as they are (same items, same order, nothing re-split or deduplicated).

Two layouts, told apart per item by its fields (ITEM_LAYOUTS):
  * JSON list of `{image, problem, solution}` (the PathVLM-R1 authors' splits; MedVLM-R1's
    `MRI_CT_XRAY_300each_dataset.json`, where `image` is a one-element list, `problem` lists the options
    right after the question without an `Options:` line, and `solution` is the bare letter, beside
    `question, options, answer, dataset, subset`);
  * VLM-R1's JSONL (grpo_jsonl.py): one `{id, image, conversations: [{from: human, value}, {from: gpt, value}]}`
    per line; the human value holds `<image>`, the question and the options, the gpt value the answer
    (possibly `<answer>X</answer>`-wrapped).
The options are the `Options:` block when there is one, else the last run of lines "A) text", "B) text", …
("A.", "A:" and "(A)" are read too; lines after the run, such as an instruction, are dropped); the solution
is `<think>…</think><answer>X) …</answer>`, the option, its text or its bare letter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from data_prep.records import Question, Skipped, SourceError, empty_options, find_gold, lettered, read_json, read_text

_OPTIONS_HEADER = re.compile(r"^\s*options?\s*:\s*", re.IGNORECASE | re.MULTILINE)
_OPTION_LINE = re.compile(r"^\s*\(?([A-Z])\s*[).:]\s*(.+?)\s*$")
_OPTION_START = re.compile(r"^\s*\(?A\s*[).:]", re.MULTILINE)
_TAG = {tag: re.compile(rf"<{tag}>(.*?)</{tag}>", re.DOTALL) for tag in ("think", "answer")}
_IMAGE_TOKEN = re.compile(r"<image>")


def _option_run(block: str) -> list[str]:
    """Texts of the consecutive lines "A) …", "B) …", … that open `block` (blank lines ignored)."""
    texts, expected = [], "A"
    for line in filter(str.strip, block.splitlines()):
        match = _OPTION_LINE.match(line)
        if not match or match.group(1) != expected:
            break
        texts.append(match.group(2))
        expected = chr(ord(expected) + 1)
    return texts


def parse_problem(problem: str, where: str) -> tuple[str, tuple[str, ...]]:
    """(question text, options): the last `Options:` block, else the last run of lettered lines from "A)"."""
    headers = list(_OPTIONS_HEADER.finditer(problem))
    if headers:
        question, texts = problem[: headers[-1].start()].strip(), _option_run(problem[headers[-1].end():])
        if len(texts) < 2:
            raise SourceError(f"{where}: the 'Options:' block of field 'problem' needs lines 'A) text', "
                              f"'B) text', ...")
        return question, lettered(texts)
    for start in reversed(list(_OPTION_START.finditer(problem))):
        texts = _option_run(problem[start.start():])
        if len(texts) >= 2 and problem[: start.start()].strip():
            return problem[: start.start()].strip(), lettered(texts)
    raise SourceError(f"{where}: field 'problem' lists no options (an 'Options:' block or lines 'A) text', "
                      f"'B) text', ... after the question)")


def parse_solution(solution: str) -> tuple[str, str]:
    """(reasoning, answer) of `<think>…</think><answer>…</answer>`, or ("", solution) without tags."""
    think, answer = _TAG["think"].search(solution), _TAG["answer"].search(solution)
    return (think.group(1).strip() if think else ""), (answer.group(1) if answer else solution).strip()


def _conversation_item(item: dict[str, Any], where: str) -> dict[str, Any]:
    """VLM-R1's `{id, image, conversations}` as `{id, image, problem, solution}` (the first human and gpt turns)."""
    turns = item["conversations"]
    if not isinstance(turns, list) or not all(isinstance(t, dict) for t in turns):
        raise SourceError(f"{where}: field 'conversations' must be a list of {{from, value}} objects")
    values = {}
    for turn in turns:
        values.setdefault(str(turn.get("from", "")), str(turn.get("value", "")))
    missing = [role for role in ("human", "gpt") if role not in values]
    if missing:
        raise SourceError(f"{where}: field 'conversations' has no {' or '.join(missing)!s} turn")
    problem = _IMAGE_TOKEN.sub("", values["human"]).strip()
    return {**item, "problem": problem, "solution": values["gpt"]}


# Item layouts: (field that marks the layout, normaliser to {image, problem, solution, ...}); first match wins.
ITEM_LAYOUTS: tuple[tuple[str, Callable[[dict[str, Any], str], dict[str, Any]]], ...] = (
    ("conversations", _conversation_item),
    ("problem", lambda item, where: item),
)


def read_items(path: Path) -> Iterator[tuple[str, object]]:
    """(where, item) of a JSON list, or of a `.jsonl` file (one object per line, blank lines ignored)."""
    if path.suffix.lower() != ".jsonl":
        for position, item in enumerate(read_json(path, list, "a JSON list of {image, problem, solution}")):
            yield f"{path}: [{position}]", item
        return
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield f"{path}: line {number}", json.loads(line)
        except json.JSONDecodeError as err:
            raise SourceError(f"{path}: line {number}: not valid JSON ({err})") from err


def read_r1json(path: Path, split: str, image_root: Path, data_source: str, ability: str
                ) -> Iterator[Question | Skipped]:
    for position, (where, item) in enumerate(read_items(path)):
        yield _question(item, where, position, split, image_root, data_source, ability)


def _normalised(item: object, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise SourceError(f"{where}: expected an object, got {type(item).__name__}")
    layout = next((normalise for key, normalise in ITEM_LAYOUTS if key in item), None)
    if layout is None:
        raise SourceError(f"{where}: expected fields {{image, problem, solution}} or {{id, image, conversations}}, "
                          f"got {sorted(item)}")
    item = layout(item, where)
    for key in ("image", "problem", "solution"):
        if key not in item:
            raise SourceError(f"{where}: missing field {key!r}")
    return item


def _question(raw: object, where: str, position: int, split: str, image_root: Path, data_source: str,
              ability: str) -> Question | Skipped:
    item = _normalised(raw, where)
    image = item["image"]
    if isinstance(image, list):
        if len(image) > 1:
            return Skipped(where, f"{len(image)} images: a row holds one image per question")
        image = image[0] if image else ""
    if not isinstance(image, str) or not image.strip():
        return Skipped(where, "image missing: empty image field")
    problem = str(item["problem"])
    empty = empty_options(problem.splitlines())
    if empty:
        return Skipped(where, f"option(s) {', '.join(empty)} of field 'problem' have no text")
    question, options = parse_problem(problem, where)
    reasoning, answer = parse_solution(str(item["solution"]))
    gold = find_gold(answer, options)
    if gold is None:
        return Skipped(where, f"gold answer {answer!r} is not among the options")
    return Question(
        data_source=data_source, ability=ability, original_id=str(item.get("id", position)),
        category=str(item.get("category", item.get("subset", ""))), question=question, answer_type="mcq",
        answer=gold, options=options,
        image_file=image_root / image, image_name=image, reasoning=reasoning, dataset=str(item.get("dataset", "")),
        source_split=split, where=where,
    )
