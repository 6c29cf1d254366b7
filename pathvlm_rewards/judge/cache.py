"""Persistent judge cache (SQLite, stdlib): resumed runs and duplicate rollouts never pay twice.

Safe for several reward-worker processes on one machine (WAL journal, busy timeout). Only real verdicts
(scores read from the judge's reply) are stored: never a fallback, whether the call failed or the reply
held no scores, so such a response is judged again next time. Keys cover everything that determines a
verdict (runner.Judge.key). Verdicts of judge 1.0 (table `verdicts`, keyed without the endpoint) are
never read.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path

FILE_NAME = "judge_cache.sqlite"
TABLE = "judge_verdicts"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    key TEXT PRIMARY KEY,
    integrity REAL NOT NULL,
    knowledge REAL NOT NULL,
    reply TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def cache_key(**parts: object) -> str:
    """Stable key over everything that determines the judge's verdict."""
    canonical = json.dumps(parts, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


class JudgeCache:
    """Verdicts (integrity, knowledge) by key in `<directory>/judge_cache.sqlite`."""

    def __init__(self, directory: str):
        folder = Path(directory).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / FILE_NAME
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)

    def get(self, key: str) -> tuple[float, float] | None:
        with self._lock:
            row = self._db.execute(f"SELECT integrity, knowledge FROM {TABLE} WHERE key = ?", (key,)).fetchone()
        return None if row is None else (row[0], row[1])

    def put(self, key: str, scores: tuple[float, float], reply: str) -> None:
        with self._lock:
            self._db.execute(f"INSERT OR REPLACE INTO {TABLE} VALUES (?, ?, ?, ?, ?)",
                             (key, scores[0], scores[1], reply, time.time()))

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0]
