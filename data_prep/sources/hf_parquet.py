"""Reading Hugging Face `datasets` Parquet exports (an `image` struct {bytes, path} beside text columns)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from data_prep.records import SourceError
from data_prep.spool import spool

_SPLIT_NAMES = {"train": "train", "validation": "validation", "val": "validation", "valid": "validation",
                "dev": "validation", "test": "test"}


def parquet_files(root: Path) -> list[Path]:
    """Every *.parquet under ROOT (a file is accepted as its own root), sorted."""
    files = [root] if root.is_file() else sorted(root.rglob("*.parquet"))
    if not files:
        raise SourceError(f"no .parquet files under {root}")
    return files


def source_split(path: Path) -> str:
    """train / validation / test from an HF file name such as `test-00000-of-00001.parquet` (else its folder)."""
    for name in (path.name, path.parent.name):
        word = re.split(r"[-_.]", name.lower())[0]
        if word in _SPLIT_NAMES:
            return _SPLIT_NAMES[word]
    return ""


_LFS_POINTER = b"version https://git-lfs"


def not_parquet(path: Path, err: Exception) -> SourceError:
    """The error for a file pyarrow cannot read as Parquet, naming the file and the likely cause."""
    try:
        with path.open("rb") as stream:
            head = stream.read(len(_LFS_POINTER))
    except OSError:
        head = b""
    if head == _LFS_POINTER:
        return SourceError(f"{path}: a git-lfs pointer, not the Parquet file (run `git lfs pull` in its repository)")
    return SourceError(f"{path}: not a readable Parquet file ({err})")


def iter_rows(files: Sequence[Path], columns: Sequence[str], splits: Sequence[str] | None,
              optional: Sequence[str] = ()) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(where, source split, row) for each row, read in batches so memory holds one batch of images.
    `optional` columns are read when a file has them and are None otherwise."""
    for path in files:
        split = source_split(path)
        if splits is not None and split not in splits:
            continue
        try:
            parquet = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as err:
            raise not_parquet(path, err) from err
        names = parquet.schema_arrow.names
        missing = [c for c in columns if c not in names]
        if missing:
            raise SourceError(f"{path}: missing column(s) {missing} (has {names})")
        present = [*columns, *(c for c in optional if c in names)]
        position = 0
        try:
            for batch in parquet.iter_batches(batch_size=64, columns=present):
                for row in batch.to_pylist():
                    yield f"{path}: row {position}", split, {**dict.fromkeys(optional), **row}
                    position += 1
        except (pa.ArrowException, OSError) as err:
            raise SourceError(f"{path}: unreadable after row {position} ({err})") from err


def image_of(value: Any, root: Path, out_dir: Path, where: str) -> tuple[Path, str]:
    """(readable file, recorded name) of an `image` cell: embedded bytes are spooled to OUT/images/."""
    if isinstance(value, dict) and value.get("bytes"):
        path = spool(value["bytes"], out_dir)
        return path, value.get("path") or path.name
    if isinstance(value, dict) and value.get("path"):
        return root / value["path"], value["path"]
    if isinstance(value, str) and value:
        return root / value, value
    raise SourceError(f"{where}: field 'image' holds neither bytes nor a path")


def row_id(where: str) -> str:
    """"<file name>:<row>" from "<path>: row <n>" (the id of a row of an HF export)."""
    path, row = where.rsplit(": row ", 1)
    return f"{Path(path).name}:{row}"
