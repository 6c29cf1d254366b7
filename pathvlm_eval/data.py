"""Read evaluation items from data_prep's RL Parquet files, checking every field the evaluation uses."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

IMAGE_TOKEN = "<image>"
ANSWER_TYPES = ("mcq", "yesno", "open")
REQUIRED_COLUMNS = ("data_source", "prompt", "images", "reward_model", "extra_info")


class DataError(ValueError):
    """A Parquet row that does not follow the RL row contract."""


@dataclass(frozen=True)
class EvalItem:
    """One question of one Parquet file; images stay in Arrow memory until `images()` decodes them."""

    data_source: str
    split: str
    index: int | str
    prompt: list[dict[str, str]]
    ground_truth: str
    extra_info: dict[str, Any]
    location: str
    _images: pa.ListScalar = field(repr=False, compare=False)
    _base_dir: Path = field(repr=False, compare=False)

    @property
    def prompt_id(self) -> str:
        """Identity of the question across runs: `<data_source>/<split>/<index>`."""
        return f"{self.data_source}/{self.split}/{self.index}"

    @property
    def answer_type(self) -> str:
        return self.extra_info["answer_type"]

    def first_image_bytes(self) -> bytes | None:
        """The encoded bytes of the first image as stored (None when the row has none or only a path)."""
        entries = self._images.as_py() or []
        return entries[0].get("bytes") if entries else None

    def images(self) -> list[Image.Image]:
        """The row's images as RGB PIL images, in `<image>` order."""
        return [_decode_image(entry, self._base_dir, f"{self.location}: images[{i}]")
                for i, entry in enumerate(self._images.as_py() or [])]


def _decode_image(entry: Any, base_dir: Path, where: str) -> Image.Image:
    if not isinstance(entry, dict):
        raise DataError(f"{where}: expected {{bytes, path}}, got {type(entry).__name__}")
    try:
        if entry.get("bytes"):
            image = Image.open(io.BytesIO(entry["bytes"]))
        elif entry.get("path"):
            path = Path(entry["path"])
            image = Image.open(path if path.is_absolute() or path.exists() else base_dir / path)
        else:
            raise DataError(f"{where}: neither bytes nor path is set")
        return image.convert("RGB")
    except OSError as err:
        raise DataError(f"{where}: unreadable image ({err})") from err


def _require(condition: bool, where: str, message: str) -> None:
    if not condition:
        raise DataError(f"{where}: {message}")


def _check_row(row: dict[str, Any], n_images: int, where: str) -> None:
    _require(isinstance(row["data_source"], str) and row["data_source"], f"{where}: data_source",
             "must be a non-empty string")
    prompt = row["prompt"]
    _require(isinstance(prompt, list) and prompt, f"{where}: prompt", "must be a non-empty list of {role, content}")
    for i, message in enumerate(prompt):
        _require(isinstance(message, dict) and isinstance(message.get("role"), str)
                 and isinstance(message.get("content"), str), f"{where}: prompt[{i}]", "needs string role and content")
    n_tokens = sum(m["content"].count(IMAGE_TOKEN) for m in prompt)
    _require(n_tokens == n_images, f"{where}: prompt", f"has {n_tokens} {IMAGE_TOKEN} for {n_images} images")
    reward_model = row["reward_model"]
    _require(isinstance(reward_model, dict) and isinstance(reward_model.get("ground_truth"), str),
             f"{where}: reward_model.ground_truth", "must be a string")
    extra = row["extra_info"]
    _require(isinstance(extra, dict), f"{where}: extra_info", "must be a struct")
    _require(extra.get("index") is not None, f"{where}: extra_info.index", "is missing")
    _require(isinstance(extra.get("split"), str) and extra["split"], f"{where}: extra_info.split", "is missing")
    _require(extra.get("answer_type") in ANSWER_TYPES, f"{where}: extra_info.answer_type",
             f"is {extra.get('answer_type')!r}, expected one of {ANSWER_TYPES}")
    if extra["answer_type"] == "mcq":
        options = extra.get("options")
        _require(isinstance(options, list) and len(options) >= 2, f"{where}: extra_info.options",
                 "an mcq row needs at least two options")


def read_parquet(path: str | Path, limit: int | None = None) -> list[EvalItem]:
    """Items of one RL Parquet file (the first `limit` rows when given)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"evaluation data file not found: {path}")
    table = pq.read_table(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise DataError(f"{path}: missing columns {missing} (an RL Parquet from data_prep has {REQUIRED_COLUMNS})")
    if limit is not None:
        table = table.slice(0, limit)
    meta = table.select([c for c in REQUIRED_COLUMNS if c != "images"]).to_pylist()
    images = table.column("images")
    items = []
    for i, row in enumerate(meta):
        where = f"{path}: row {i}"
        image_list = images[i]
        n_images = len(image_list) if image_list.is_valid else 0
        _check_row(row, n_images, where)
        extra = row["extra_info"]
        items.append(EvalItem(
            data_source=row["data_source"], split=extra["split"], index=extra["index"], prompt=row["prompt"],
            ground_truth=row["reward_model"]["ground_truth"], extra_info=extra, location=where,
            _images=image_list, _base_dir=path.parent,
        ))
    return items


def rows_per_source(paths: Sequence[str | Path]) -> Counter[str]:
    """How many rows each data_source has in the files, whatever `data.limit` reads of them."""
    return Counter(source for path in paths for source in pq.read_table(path, columns=["data_source"])
                   .column("data_source").to_pylist())


def load_items(paths: Sequence[str | Path], limit: int | None = None) -> list[EvalItem]:
    """Items of every file, in file order; a prompt id seen twice is an error naming both rows."""
    seen: dict[str, str] = {}
    items: list[EvalItem] = []
    for path in paths:
        for item in read_parquet(path, limit):
            if item.prompt_id in seen:
                raise DataError(f"{item.location}: prompt id {item.prompt_id!r} already used by {seen[item.prompt_id]}"
                                " (data_source, extra_info.split, extra_info.index must identify a question)")
            seen[item.prompt_id] = item.location
            items.append(item)
    return items
