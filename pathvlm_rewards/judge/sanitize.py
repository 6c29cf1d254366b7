"""The policy's response as the judge sees it: whatever could steer the verdict is removed first.

Removed, case-insensitively and also when spelled out with spaces, punctuation or look-alike letters
between or instead of the characters (after NFKC normalisation, with invisible characters dropped):

- imitations of the prompt's markers: runs of two or more angle brackets, "END RESPONSE", and
  "RESPONSE" followed by a nonce-like hex token;
- score-like content: JSON-like objects ({...}) that mention a score, the score keys themselves
  (integrity_score, knowledge_score) and claims such as "integrity: 1.0".

Removal repeats until nothing matches (so removed pieces cannot re-assemble what is around them) and takes
the whitespace after each match; whitespace is then normalised. A forged score object or marker inserted
into the text thus leaves the judge's view exactly as if it had never been written, and any other forgery
loses its scores: forging cannot pay. The verdict itself is never compared with the policy's text, so
nothing the policy writes can veto it either.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Letters that look like Latin ones (Cyrillic, Greek), folded for matching only: one character each, so
# positions in the folded text are positions in the text.
_LOOKALIKES = str.maketrans(
    "аеорсухіјѕԁɡһӏոνοκτιερАВЕКМНОРСТХІЅΑΒΕΗΙΚΜΝΟΡΤΧ",
    "aeopcyxijsdghlnvoktiepABEKMHOPCTXISABEHIKMNOPTX",
)
_GAP = r"[\W_]{0,3}"  # what may stand between the letters of a spelled-out word


def _spelled(*words: str) -> str:
    return "(?:" + "|".join(_GAP.join(re.escape(char) for char in word) for word in words) + ")"


_DIMENSION = _spelled("integrity", "knowledge")
_SCORE_WORD = re.compile(_spelled("integrity", "knowledge", "score"), re.IGNORECASE)
_NONCE = r"[\W_]{1,3}[0-9a-f]{6,}"
_OPEN, _DOUBLE_OPEN, _CLOSE, _DOUBLE_CLOSE = "<‹«〈《⟨❮❬", "≪⋘", ">›»〉》⟩❯❭", "≫⋙"


def _run_of_two(single: str, double: str) -> str:
    """Two or more brackets in a row; a double bracket counts twice."""
    return rf"(?:[{double}][{single}{double}]*|[{single}][{single}{double}]+)"


def _rule(pattern: str, keep_unless: re.Pattern | None = None) -> tuple[re.Pattern, re.Pattern | None]:
    """A removal rule: `pattern` with the whitespace after it, and which matches to remove (those containing
    `keep_unless`, or all); the trailing whitespace goes too, so text inserted after a space leaves no trace."""
    return re.compile(f"(?:{pattern})\\s*", re.IGNORECASE), keep_unless


_RULES = [
    # marker imitations: <<<, >>, ‹«, ≫, ...
    _rule(_run_of_two(_OPEN, _DOUBLE_OPEN) + "|" + _run_of_two(_CLOSE, _DOUBLE_CLOSE)),
    # END RESPONSE, END OF RESPONSE, with or without a nonce
    _rule(_spelled("end") + _GAP + f"(?:{_spelled('of')}{_GAP})?" + _spelled("response") + f"(?:{_NONCE})?"),
    # RESPONSE 3f2a9c01... (an opening marker's words)
    _rule(_spelled("response") + _NONCE),
    # a JSON-like object that mentions a score
    _rule(r"\{[^{}]{0,4000}\}", keep_unless=_SCORE_WORD),
    # claims: "integrity: 1.0", "knowledge_score = 0.9"
    _rule(_DIMENSION + f"(?:{_GAP}{_spelled('score')})?" + r"[\W_]{0,8}\d+(?:[.,]\d+)?"),
    # the score keys
    _rule(_DIMENSION + _GAP + _spelled("score")),
]
_INVISIBLE = {"Cf", "Co", "Cs"}  # format (zero-width, bidi), private use, lone surrogates
_NEWLINE_RUN = re.compile(r"\s*\n\s*")
_SPACE_RUN = re.compile(r"[^\S\n]+")


@dataclass(frozen=True)
class Shown:
    text: str
    removed: bool  # something that could steer the judge was removed


def _normalised(text: str) -> str:
    if text.isascii():  # the usual case: nothing to fold, nothing invisible
        return text
    text = unicodedata.normalize("NFKC", text)
    return "".join(char for char in text if unicodedata.category(char) not in _INVISIBLE)


def _cut(text: str, folded: str, pattern: re.Pattern, keep_unless: re.Pattern | None) -> tuple[str, str]:
    """`text` and its folded twin without the matches of `pattern` in the folded one."""
    spans = [match.span() for match in pattern.finditer(folded)
             if keep_unless is None or keep_unless.search(match.group())]
    for start, end in reversed(spans):
        text, folded = text[:start] + text[end:], folded[:start] + folded[end:]
    return text, folded


def shown_response(response: str) -> Shown:
    """The response cleaned for the judge (see the module docstring)."""
    text = original = _normalised(response)
    while True:
        before = text
        folded = text.translate(_LOOKALIKES)
        for pattern, keep_unless in _RULES:
            text, folded = _cut(text, folded, pattern, keep_unless)
        if text == before:
            break
    removed = text != original
    text = _SPACE_RUN.sub(" ", _NEWLINE_RUN.sub("\n", text)).strip()
    return Shown(text, removed)
