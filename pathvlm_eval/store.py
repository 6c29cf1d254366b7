"""Per-sample JSONL of one model: appended and flushed sample by sample, so an interrupted run resumes."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from pathvlm_eval.files import write_json, write_text

SampleKey = tuple[str, int]  # (prompt id, sample number)


class SampleStore:
    """`samples/<model>.jsonl` plus `<model>.meta.json`, the settings its samples were generated with."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.meta_path = self.path.with_suffix(".meta.json")
        self._handle: TextIO | None = None

    def check_meta(self, meta: dict[str, Any]) -> None:
        """Refuse to resume samples generated with other settings; record the settings on first use."""
        if self.meta_path.exists():
            stored = json.loads(self.meta_path.read_text(encoding="utf-8"))
            changed = sorted(key for key in set(stored) | set(meta) if stored.get(key) != meta.get(key))
            if changed:
                details = "; ".join(f"{key}: {stored.get(key)!r} -> {meta.get(key)!r}" for key in changed)
                raise ValueError(f"{self.path} was generated with other settings ({details}); "
                                 "use a new output_dir or the original settings")
        else:
            write_json(self.meta_path, meta)

    def load(self) -> list[dict[str, Any]]:
        """All complete records. A torn last line (the run was killed mid-write) is dropped from the file,
        so appends start on a fresh line; a bad line anywhere else is an error."""
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").split("\n")
        records = []
        for number, line in enumerate(lines, start=1):
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as err:
                if number == len(lines):  # last line, no newline after it
                    continue
                raise ValueError(f"{self.path}: line {number} is not JSON ({err})") from err
        if lines[-1]:  # the last write did not finish its newline: keep whole records only
            self.rewrite(records)
        return records

    def rewrite(self, records: Iterable[dict[str, Any]]) -> None:
        """Replace the whole file (atomically) with `records`."""
        write_text(self.path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))

    def done(self) -> set[SampleKey]:
        return {(record["prompt_id"], record["sample"]) for record in self.load()}

    def __enter__(self) -> SampleStore:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.path.open("a", encoding="utf-8")
        return self

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        """Write each record as one line and flush it before the next."""
        assert self._handle is not None, "use the store as a context manager to append"
        for record in records:
            self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._handle.flush()

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
