"""The judge's prompt: rubric (system) and the case to grade (user), from the packaged templates.

The policy's response is untrusted: it is shown between markers carrying a nonce derived from the
response's own hash (a response cannot contain its own closing marker), and the judge is told to
treat everything between them as data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template

_TRUNCATION_NOTE = "\n[... response truncated ...]"


@cache
def _templates() -> tuple[str, Template]:
    folder = resources.files("pathvlm_rewards") / "templates"
    system = (folder / "judge_system.txt").read_text(encoding="utf-8")
    user = (folder / "judge_user.txt").read_text(encoding="utf-8")
    return system, Template(user)


@cache
def rubric_id() -> str:
    """Content hash of the rubric and prompt templates: part of every cache key."""
    system, user = _templates()
    digest = hashlib.sha256(f"{system}\0{user.template}".encode()).hexdigest()
    return f"rubric-{digest[:16]}"


@dataclass(frozen=True)
class JudgeRequest:
    """One grading request, backend-neutral: system text, the image, and the user text."""

    system: str
    image: bytes
    image_mime: str
    user_text: str


def response_nonce(response: str) -> str:
    return hashlib.sha256(response.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def build_request(
    *,
    question: str,
    options: Sequence[str],
    gold: str,
    correct: bool,
    response: str,
    image: bytes,
    image_mime: str,
    max_response_chars: int,
) -> JudgeRequest:
    """Render the templates for one response."""
    system, user = _templates()
    shown = response if len(response) <= max_response_chars else response[:max_response_chars] + _TRUNCATION_NOTE
    text = user.substitute(
        question=question.strip(),
        options="\n".join(option.strip() for option in options) or "(none: answer freely)",
        gold=gold.strip(),
        verdict="correct" if correct else "incorrect",
        nonce=response_nonce(response),
        response=shown,
    )
    return JudgeRequest(system=system, image=image, image_mime=image_mime, user_text=text)
