"""Persistent judge cache (SQLite, stdlib): resumed runs and duplicate rollouts never pay twice.

Safe for several reward-worker processes on one machine (WAL journal, busy timeout). Only completed
judge replies are stored, never transport failures, so a failed call is tried again next time.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

FILE_NAME = "judge_cache.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS verdicts (
    key TEXT PRIMARY KEY,
    integrity REAL NOT NULL,
    knowledge REAL NOT NULL,
    fallback INTEGER NOT NULL,
    reply TEXT NOT NULL,
    created REAL NOT NULL
)
"""


@dataclass(frozen=True)
class CachedVerdict:
    integrity: float
    knowledge: float
    fallback: bool


def cache_key(**parts: object) -> str:
    """Stable key over everything that determines the judge's verdict."""
    canonical = json.dumps(parts, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


class JudgeCache:
    """Verdicts by key in `<directory>/judge_cache.sqlite`."""

    def __init__(self, directory: str):
        folder = Path(directory).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / FILE_NAME
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)

    def get(self, key: str) -> CachedVerdict | None:
        with self._lock:
            row = self._db.execute(
                "SELECT integrity, knowledge, fallback FROM verdicts WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else CachedVerdict(row[0], row[1], bool(row[2]))

    def put(self, key: str, verdict: CachedVerdict, reply: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?, ?, ?, ?)",
                (key, verdict.integrity, verdict.knowledge, int(verdict.fallback), reply, time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0]
