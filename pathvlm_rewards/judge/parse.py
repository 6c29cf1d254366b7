"""Scores out of the judge's reply: plain JSON, then JSON in a Markdown fence; else None (→ fallback).

Only the judge's own reply is parsed, never the policy's text, and a JSON object that also appears
verbatim (whitespace aside) in the policy's response is refused: a judge that merely echoes scores
the policy wrote gets no say.
"""

from __future__ import annotations

import json
import math
import re

KEYS = ("integrity_score", "knowledge_score")
_FENCE = re.compile(r"```[ \t]*(?:json)?[ \t]*\n?(.*?)```", re.IGNORECASE | re.DOTALL)
_WHITESPACE = re.compile(r"\s+")


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-finite number {name}")


def _scores(candidate: str) -> tuple[float, float] | None:
    try:
        obj = json.loads(candidate, parse_constant=_reject_constant)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    values = [obj.get(key) for key in KEYS]
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in values):
        return None
    integrity, knowledge = (min(1.0, max(0.0, float(v))) for v in values)
    return integrity, knowledge


def _squeeze(text: str) -> str:
    return _WHITESPACE.sub("", text)


def parse_judge_reply(reply: str, policy_response: str) -> tuple[float, float] | None:
    """(integrity, knowledge) clamped to [0, 1], or None when the reply holds no acceptable scores."""
    squeezed_response = _squeeze(policy_response)
    candidates = [reply.strip()] + [match.group(1).strip() for match in _FENCE.finditer(reply)]
    for candidate in candidates:
        scores = _scores(candidate)
        if scores is not None and _squeeze(candidate) not in squeezed_response:
            return scores
    return None
