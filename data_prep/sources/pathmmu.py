"""PathMMU on disk: ROOT/data.json ({category: {split: [item]}}) and ROOT/images/.

An item: No, img (file name under ROOT/images), question, options ["A) …", …], answer (the full gold option
string), explanation; SocialPath items also tw_id, img_position, ref_web (their images, like PathCLS's,
are fetched by the user, so many may be missing: those items are skipped and reported).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from data_prep.records import Question, Skipped, SourceError, check_options, empty_options, find_gold, read_json

SOURCE_SPLITS = ("test", "test_tiny", "val")
REQUIRED = ("No", "img", "question", "options", "answer")


def _image_file(root: Path, img: str) -> Path:
    """ROOT/images/<img>; an `img` that already includes the images/ folder is accepted too."""
    direct = root / "images" / img
    return direct if direct.exists() or not (root / img).exists() else root / img


def read_pathmmu(
    root: Path, categories: Sequence[str] | None = None, source_splits: Sequence[str] = SOURCE_SPLITS
) -> Iterator[Question | Skipped]:
    """Every item of the chosen categories (default: all in data.json) and source splits, in file order."""
    data_file = root / "data.json"
    data = read_json(data_file, dict, "an object {category: {split: [items]}}",
                     " (PathMMU's ROOT holds data.json and images/)")
    for category in categories if categories is not None else list(data):
        if category not in data:
            raise SourceError(f"{data_file}: no category {category!r} (has {sorted(data)})")
        for split in source_splits:
            items = data[category].get(split, [])
            if not isinstance(items, list):
                raise SourceError(f"{data_file}: {category}.{split} must be a list of items")
            for position, item in enumerate(items):
                yield _question(root, item, f"{data_file}: {category}.{split}[{position}]", category, split)


def _question(root: Path, item: object, where: str, category: str, split: str) -> Question | Skipped:
    if not isinstance(item, dict):
        raise SourceError(f"{where}: expected an object, got {type(item).__name__}")
    missing = [key for key in REQUIRED if key not in item]
    if missing:
        raise SourceError(f"{where} (No={item.get('No')!r}): missing field(s) {missing}")
    for key in ("img", "question", "answer"):
        if not isinstance(item[key], str):
            raise SourceError(f"{where} (No={item['No']!r}): field {key!r} must be a string")
    where = f"{where} (No={item['No']})"
    if not item["img"].strip():
        return Skipped(where, "image missing: empty img field")
    empty = empty_options(item["options"]) if isinstance(item["options"], list) else []
    if empty:
        return Skipped(where, f"option(s) {', '.join(empty)} have no text")
    options = check_options(item["options"], f"{where}: field 'options'")
    gold = find_gold(item["answer"], options)
    if gold is None:
        return Skipped(where, f"gold answer {item['answer']!r} is not among the options")
    return Question(
        data_source="pathmmu", ability="pathology", original_id=str(item["No"]), category=category,
        question=item["question"], answer_type="mcq", answer=gold, options=options,
        image_file=_image_file(root, item["img"]), image_name=f"images/{Path(item['img']).name}",
        reasoning=str(item.get("explanation") or ""), source_split=split, where=where,
    )
