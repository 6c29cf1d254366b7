"""Scores out of the judge's reply: the first JSON object in it that holds both keys with usable numbers.

The object may stand alone, sit in a Markdown fence, or come with prose before or after it. Numbers
are clamped to [0, 1]; NaN, infinities and numbers beyond float range (e.g. a 400-digit integer) are
not usable, nor are strings or booleans. Any reply, however malformed, gives scores or None; nothing
raises. Only the judge's reply is read: the policy's text has no say in whether the verdict counts.
"""

from __future__ import annotations

import json
import math
from typing import Any

KEYS = ("integrity_score", "knowledge_score")
# A real reply is a few hundred characters (max_tokens); these bound the work on a pathological one.
MAX_REPLY_CHARS = 20_000
MAX_OBJECTS_TRIED = 200


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-finite number {name}")


# Integers are read as floats: float() of a huge integer's digits is inf (rejected below), where int()
# would give a number that overflows when converted.
_DECODER = json.JSONDecoder(parse_int=float, parse_constant=_reject_constant)


def _scores(obj: Any) -> tuple[float, float] | None:
    if not isinstance(obj, dict):
        return None
    values = [obj.get(key) for key in KEYS]
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in values):
        return None
    integrity, knowledge = (min(1.0, max(0.0, float(v))) for v in values)
    return integrity, knowledge


def parse_judge_reply(reply: str) -> tuple[float, float] | None:
    """(integrity, knowledge) clamped to [0, 1], or None when the reply holds no usable scores."""
    text = str(reply)[:MAX_REPLY_CHARS]
    start = text.find("{")
    for _ in range(MAX_OBJECTS_TRIED):
        if start < 0:
            return None
        try:
            obj, _end = _DECODER.raw_decode(text, start)
        except (ValueError, RecursionError):
            obj = None
        scores = _scores(obj)
        if scores is not None:
            return scores
        start = text.find("{", start + 1)
    return None
