"""The judge's prompt: rubric (system) and the case to grade (user), from the packaged templates.

The policy's response is untrusted: it is cleaned first (sanitize.py: marker imitations and score-like
content removed), then shown between markers carrying a nonce derived from the cleaned text's hash, and
the judge is told to treat everything between them as data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from string import Template

from pathvlm_rewards.judge.sanitize import shown_response

_TRUNCATION_NOTE = "\n[... response truncated ...]"
# Appended to the user text when the first reply held no readable scores (one re-ask).
_REASK_NOTE = ("\n\nYour previous reply to this request could not be read. Reply with the JSON object only: "
               '{"integrity_score": <number between 0 and 1>, "knowledge_score": <number between 0 and 1>}')


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
    sanitized: bool  # something that could steer the judge was removed from the response

    def reask(self) -> JudgeRequest:
        """The same request, reminding the judge of the reply format."""
        return replace(self, user_text=self.user_text + _REASK_NOTE)


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
    """Render the templates for one response (cleaned, then cut to `max_response_chars`)."""
    system, user = _templates()
    cleaned = shown_response(response)
    shown = cleaned.text
    if len(shown) > max_response_chars:
        shown = shown[:max_response_chars] + _TRUNCATION_NOTE
    text = user.substitute(
        question=question.strip(),
        options="\n".join(option.strip() for option in options) or "(none: answer freely)",
        gold=gold.strip(),
        verdict="correct" if correct else "incorrect",
        nonce=response_nonce(shown),
        response=shown,
    )
    return JudgeRequest(system=system, image=image, image_mime=image_mime, user_text=text, sanitized=cleaned.removed)
