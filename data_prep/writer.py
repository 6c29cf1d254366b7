"""Streaming Parquet output: rows are written in row groups, to a temp file renamed only when complete."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from data_prep.rows import SCHEMA

# A row group is flushed at whichever limit comes first (images dominate the size of a row).
ROW_GROUP_ROWS = 256
ROW_GROUP_BYTES = 64 * 1024 * 1024


def _row_bytes(row: dict[str, Any]) -> int:
    return sum(len(image["bytes"] or b"") for image in row["images"]) + 2048


def write_parquet(path: Path, rows: Iterable[dict[str, Any]], schema: pa.Schema = SCHEMA) -> int:
    """Write `rows` to `path` atomically; returns the number of rows. Memory holds one row group at most."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    temp = Path(temp_name)
    count, buffered, buffer_bytes = 0, [], 0
    try:
        with pq.ParquetWriter(temp, schema, compression="zstd") as writer:
            for row in rows:
                buffered.append(row)
                buffer_bytes += _row_bytes(row)
                if len(buffered) >= ROW_GROUP_ROWS or buffer_bytes >= ROW_GROUP_BYTES:
                    writer.write_table(pa.Table.from_pylist(buffered, schema=schema))
                    count += len(buffered)
                    buffered, buffer_bytes = [], 0
            if buffered or count == 0:
                writer.write_table(pa.Table.from_pylist(buffered, schema=schema))
                count += len(buffered)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return count


def write_json(path: Path, content: Any) -> None:
    """Atomic JSON file (sorted keys, so equal content gives equal bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(content, stream, indent=2, sort_keys=True, ensure_ascii=False)
            stream.write("\n")
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, path)
    finally:
        Path(temp_name).unlink(missing_ok=True)


def write_bytes_once(path: Path, data: bytes) -> None:
    """Content-addressed file: written atomically unless it already exists."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, path)
    finally:
        Path(temp_name).unlink(missing_ok=True)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
