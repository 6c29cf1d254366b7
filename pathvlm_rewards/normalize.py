"""Text normalisation shared by every answer rule: emphasis removal, tokens, answer prefixes, list context."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

# Answers longer than this designate nothing (a real answer is one option; this bounds the work per call).
MAX_ANSWER_CHARS = 2000

_EMPHASIS = re.compile(r"[*_`~]+")
_SPACES = re.compile(r"\s+")
# Words (letters/digits of any script) or single non-space characters (punctuation, symbols).
_TOKEN = re.compile(r"[^\W_]+|[^\w\s]")
# Lead-ins that announce an answer ("The final answer is:", "Option", "I choose"), stripped repeatedly.
_ANSWER_PREFIX = re.compile(
    r"^(?:(?:so|thus|therefore|hence)\b\W*)?"
    r"(?:(?:(?:the|my|final|correct|right|best|most\s+likely)\s+)*(?:answer|option|choice)\b"
    r"(?:\s*(?:is|would\s+be|will\s+be)\b)?\s*[:=\-\u2013\u2014]?"
    r"|i\s+(?:would\s+)?(?:choose|select|pick)\b(?:\s+option\b)?)\s*",
    re.IGNORECASE,
)

# Words and characters that join the items of a list or an alternative ("A or B", "A, B", "A/B").
CONNECTOR_WORDS = frozenset({"or", "and", "nor", "vs", "versus", "either", "both"})
CONNECTOR_MARKS = frozenset({",", ";", "/", "&", "|"})
SENTENCE_MARKS = frozenset({".", "!", "?", ":"})


def clean(text: str) -> str:
    """Markdown emphasis removed, whitespace collapsed, stripped."""
    return _SPACES.sub(" ", _EMPHASIS.sub("", text)).strip()


def strip_answer_prefix(text: str) -> tuple[str, bool]:
    """`text` without lead-ins such as "The answer is" / "Option"; True when one was removed."""
    stripped = False
    for _ in range(3):
        match = _ANSWER_PREFIX.match(text)
        if match is None or match.end() == 0:
            break
        text, stripped = text[match.end() :], True
    return text, stripped


def tokens(text: str) -> list[str]:
    """Word tokens and single-character punctuation/symbol tokens, original case."""
    return _TOKEN.findall(text)


def is_word(token: str) -> bool:
    return token[0].isalnum()


def is_punct(token: str) -> bool:
    """Punctuation (Unicode category P*): a separator, never part of what a text says."""
    return not is_word(token) and unicodedata.category(token)[0] == "P"


def content(tokens_: Sequence[str]) -> list[str]:
    """Case-folded words and symbols (`+`, `<`, `%` …), punctuation dropped: what text comparison sees."""
    return [tok.casefold() for tok in tokens_ if not is_punct(tok)]


def is_connector(token: str) -> bool:
    return token in CONNECTOR_MARKS or token.casefold() in CONNECTOR_WORDS
