"""Accuracy of an extracted answer: multiple choice, yes/no and open questions (strict, not gameable).

Multiple choice — an answer designates option X by
  * its letter: `B`, `(B)`, `[B]`, `B)`, `B.`, `B:`, `Option B`, `The answer is B`;
  * its letter followed by that option's text: `B) Adenocarcinoma`;
  * its text alone (case, whitespace, punctuation and Markdown emphasis ignored): `adenocarcinoma`.
After that lead, the rest of the answer is scanned: every other option text it names, every bracketed
letter (`(C)`, `C)`, `option C`) and every bare capital letter in list context (`… or C`, `C, D`, `B C`)
also counts. The answer is correct iff exactly one option is designated and it is the gold one, so
hedges (`A or B`), listings, and a letter whose text disagrees (`B) <text of C>`) score 0. Letters
inside an option's text (`Type B cells`) are part of that text, not letters; a bare `A`/`I` followed
by an ordinary word is read as the article/pronoun.

Yes/no — the first word is the gold word and the other word is not asserted (standing alone as a list
item or sentence: `yes and no`, `yes/no`, `yes. No.`).

Open — 1.0 for an exact match of the normalised token sequences, otherwise the token-level F1 of the
two bags of tokens (SQuAD style: articles a/an/the dropped unless nothing else is left).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from pathvlm_rewards import tags
from pathvlm_rewards.normalize import (
    CONNECTOR_WORDS,
    MAX_ANSWER_CHARS,
    SENTENCE_MARKS,
    clean,
    content,
    is_connector,
    is_punct,
    is_word,
    strip_answer_prefix,
    tokens,
)

ANSWER_TYPES = ("mcq", "yesno", "open")
_OPTION = re.compile(r"^\s*[(\[]?\s*([A-Za-z])\s*[)\].:]\s*(.*?)\s*$", re.DOTALL)
_CLOSING = {"(": ")", "[": "]"}
_LEAD_SEPARATORS = frozenset({":", "-", "\u2013", "\u2014", ".", ","})
# After a letter, these make it a marker even where an option's text could also start there.
_STRONG_AFTER_LETTER = frozenset({")", "]", ":", "."})
_ARTICLES = frozenset({"a", "an", "the"})
_YES_NO = ("yes", "no")
_MAX_PRED_CHARS = 200


@dataclass(frozen=True)
class OptionSet:
    """Parsed options: letters in order, and the normalised texts indexed by their first token."""

    letters: tuple[str, ...]
    texts: Mapping[str, tuple[str, ...]]
    by_first_token: Mapping[str, tuple[tuple[tuple[str, ...], frozenset[str]], ...]]

    def match(self, words: Sequence[str], start: int) -> tuple[frozenset[str], int] | None:
        """Longest option text at `words[start:]`: (letters having that text, end index) or None."""
        for text, letters in self.by_first_token.get(words[start], ()):
            if tuple(words[start : start + len(text)]) == text:
                return letters, start + len(text)
        return None


@lru_cache(maxsize=4096)
def parse_options(options: tuple[str, ...]) -> OptionSet:
    """Letters and normalised texts of `"A) text"` option strings (position gives the letter otherwise)."""
    letters, texts = [], {}
    for position, option in enumerate(options):
        if not isinstance(option, str):
            raise ValueError(f"extra_info['options'][{position}] must be a string, got {type(option).__name__}")
        match = _OPTION.match(option)
        letter, text = (match.group(1).upper(), match.group(2)) if match else (chr(ord("A") + position), option)
        if letter in texts:
            raise ValueError(f"extra_info['options'] has letter {letter} twice: {list(options)!r}")
        letters.append(letter)
        texts[letter] = tuple(content(tokens(clean(text))))
    grouped: dict[tuple[str, ...], set[str]] = {}
    for letter, text in texts.items():
        if text:
            grouped.setdefault(text, set()).add(letter)
    by_first: dict[str, list[tuple[tuple[str, ...], frozenset[str]]]] = {}
    for text, group in grouped.items():
        by_first.setdefault(text[0], []).append((text, frozenset(group)))
    index = {first: tuple(sorted(entries, key=lambda entry: -len(entry[0]))) for first, entries in by_first.items()}
    return OptionSet(tuple(letters), texts, index)


def _as_options(options: Sequence[str]) -> OptionSet:
    if isinstance(options, str):
        raise ValueError("extra_info['options'] must be a list of option strings, got one string")
    return parse_options(tuple(options))


class _Scan:
    """Tokens of one answer with their content-word positions, for option matching."""

    def __init__(self, text: str, option_set: OptionSet):
        self.toks = tokens(text)
        self.options = option_set
        self.valid = frozenset(option_set.letters)
        self.word_at: list[int] = []  # token index -> content index (-1 for punctuation)
        self.token_of: list[int] = []  # content index -> token index
        for index, tok in enumerate(self.toks):
            self.word_at.append(-1 if is_punct(tok) else len(self.token_of))
            if not is_punct(tok):
                self.token_of.append(index)
        self.words = content(self.toks)

    def letter(self, index: int) -> str | None:
        """The option letter a single-letter token stands for, if it is one."""
        if 0 <= index < len(self.toks):
            tok = self.toks[index]
            if len(tok) == 1 and tok.isalpha() and tok.upper() in self.valid:
                return tok.upper()
        return None

    def text_at(self, index: int) -> tuple[frozenset[str], int] | None:
        """Option text starting at token `index`: (letters, token index after it) or None."""
        if index >= len(self.toks) or self.word_at[index] < 0:
            return None
        found = self.options.match(self.words, self.word_at[index])
        if found is None:
            return None
        letters, end = found
        return letters, self.token_of[end - 1] + 1

    def _is_list_item_letter(self, index: int) -> bool:
        """A bare capital letter that stands as an item of a list or alternative."""
        toks, after = self.toks, index + 1
        nxt = toks[after] if after < len(toks) else None
        if toks[index] in ("A", "I") and nxt is not None and is_word(nxt) and not is_connector(nxt) \
                and self.letter(after) is None:
            return False
        prev_joins = index > 0 and (is_connector(toks[index - 1]) or self.letter(index - 1) is not None)
        next_joins = nxt is None or is_connector(nxt) or self.letter(after) is not None \
            or (nxt in SENTENCE_MARKS and after + 1 == len(toks))
        return prev_joins or next_joins

    def _marker_at(self, index: int) -> str | None:
        """The letter a marker at `index` designates in the rest of the answer, if any."""
        toks = self.toks
        if toks[index] in _CLOSING and self.letter(index + 1) and index + 2 < len(toks) \
                and toks[index + 2] == _CLOSING[toks[index]]:
            return self.letter(index + 1)
        letter = self.letter(index)
        if letter is None:
            return None
        if index + 1 < len(toks) and toks[index + 1] == ")":
            return letter
        if index > 0 and toks[index - 1].casefold() in ("option", "choice"):
            return letter
        return letter if toks[index].isupper() and self._is_list_item_letter(index) else None

    def _lead_marker(self, prefixed: bool) -> tuple[str | None, int, bool]:
        """Letter marker at the start: (letter, tokens consumed, strong?) or (None, 0, False)."""
        toks = self.toks
        if len(toks) >= 3 and toks[0] in _CLOSING and self.letter(1) and toks[2] == _CLOSING[toks[0]]:
            return self.letter(1), 3, True
        letter = self.letter(0)
        if letter is None:
            return None, 0, False
        if len(toks) == 1:
            return letter, 1, True
        if toks[1] in _STRONG_AFTER_LETTER or toks[1] in _LEAD_SEPARATORS:
            return letter, 2, toks[1] in _STRONG_AFTER_LETTER
        if not toks[0].isupper():
            return None, 0, False
        if toks[0] in ("A", "I") and not prefixed and not (
            is_connector(toks[1]) or self.letter(1) is not None or self.text_at(1) is not None
        ):
            return None, 0, False
        return letter, 1, False

    def designated(self, prefixed: bool) -> frozenset[str]:
        """All options the answer designates (lead designation, then every further mention)."""
        if not self.toks:
            return frozenset()
        found: set[str] = set()
        letter, position, strong = self._lead_marker(prefixed)
        text_first = self.text_at(0)
        if letter is not None and not (text_first is not None and not strong):
            found.add(letter)
            while position < len(self.toks) and self.toks[position] in _LEAD_SEPARATORS:
                position += 1
        else:
            position = 0
        while position < len(self.toks):
            text = self.text_at(position)
            if text is not None:
                found |= text[0]
                position = text[1]
                continue
            marker = self._marker_at(position)
            if marker is not None:
                found.add(marker)
            position += 1
        return frozenset(found)


def designated_options(answer: str, options: Sequence[str]) -> frozenset[str]:
    """Letters of the options `answer` designates: one = a choice, several = a hedge, none = no choice."""
    if len(answer) > MAX_ANSWER_CHARS:
        return frozenset()
    text, prefixed = strip_answer_prefix(clean(answer))
    return _Scan(text, _as_options(options)).designated(prefixed)


def gold_letter(ground_truth: str, options: Sequence[str]) -> str:
    """The letter of the gold option: `ground_truth` is an option string, its letter, or its text."""
    option_set = _as_options(options)
    stripped = ground_truth.strip()
    for letter, option in zip(option_set.letters, options, strict=True):
        if option.strip() == stripped:
            return letter
    match = _OPTION.match(stripped)
    if match and match.group(1).upper() in option_set.texts:
        return match.group(1).upper()
    if len(stripped) == 1 and stripped.upper() in option_set.texts:
        return stripped.upper()
    wanted = tuple(content(tokens(clean(stripped))))
    by_text = [letter for letter, text in option_set.texts.items() if text and text == wanted]
    if len(by_text) == 1:
        return by_text[0]
    raise ValueError(f"ground truth {ground_truth!r} is not one of the options {list(options)!r}")


def _answer_tokens(answer: str) -> list[str]:
    return tokens(strip_answer_prefix(clean(answer))[0])


def _asserts(toks: Sequence[str], index: int) -> bool:
    """Whether the word at `index` stands alone as an item or sentence (`…, no`, `… or no`, `… . No .`)."""
    before = toks[index - 1] if index > 0 else None
    after = toks[index + 1] if index + 1 < len(toks) else None
    stands_after = before is None or is_connector(before) or before in SENTENCE_MARKS
    stands_before = after is None or is_punct(after) or after.casefold() in CONNECTOR_WORDS
    return stands_after and stands_before


def yesno_accuracy(answer: str, ground_truth: str) -> float:
    """1.0 iff the first word is the gold yes/no and the other word is not also asserted."""
    gold = ground_truth.strip().casefold()
    if gold not in _YES_NO:
        raise ValueError(f"yes/no ground truth must be 'yes' or 'no', got {ground_truth!r}")
    if len(answer) > MAX_ANSWER_CHARS:
        return 0.0
    toks = _answer_tokens(answer)
    words = [(index, tok.casefold()) for index, tok in enumerate(toks) if not is_punct(tok)]
    if not words or words[0][1] != gold:
        return 0.0
    other = _YES_NO[1 - _YES_NO.index(gold)]
    contradicted = any(word == other and _asserts(toks, index) for index, word in words[1:])
    return 0.0 if contradicted else 1.0


def _open_words(text: str) -> list[str]:
    words = content(_answer_tokens(text))
    without_articles = [word for word in words if word not in _ARTICLES]
    return without_articles or words


def open_accuracy(answer: str, ground_truth: str) -> float:
    """1.0 for a normalised exact match, else the token F1 between answer and ground truth."""
    if len(answer) > MAX_ANSWER_CHARS:
        return 0.0
    predicted, gold = _open_words(answer), _open_words(ground_truth)
    if predicted == gold:
        return 1.0 if gold else 0.0
    common = sum((Counter(predicted) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def answer_type_of(extra_info: Mapping | None) -> str:
    """`extra_info['answer_type']`, checked."""
    answer_type = (extra_info or {}).get("answer_type")
    if answer_type not in ANSWER_TYPES:
        index = (extra_info or {}).get("index")
        raise ValueError(f"extra_info['answer_type'] must be one of {ANSWER_TYPES}, got {answer_type!r} "
                         f"(row index {index!r})")
    return answer_type


def _options_of(extra_info: Mapping) -> Sequence[str]:
    options = extra_info.get("options")
    if options is None or len(options) == 0:
        raise ValueError(f"mcq row needs extra_info['options'] (row index {extra_info.get('index')!r})")
    return options


def answer_accuracy(answer: str, ground_truth: str, extra_info: Mapping) -> float:
    """Accuracy of an already extracted answer text, by `extra_info['answer_type']`."""
    answer_type = answer_type_of(extra_info)
    if answer_type == "mcq":
        options = _options_of(extra_info)
        return 1.0 if designated_options(answer, options) == {gold_letter(ground_truth, options)} else 0.0
    if answer_type == "yesno":
        return yesno_accuracy(answer, ground_truth)
    return open_accuracy(answer, ground_truth)


def prediction(answer: str | None, extra_info: Mapping) -> str:
    """Canonical prediction for majority voting: the single designated letter, yes/no, or the
    normalised open answer; "" when there is none."""
    if answer is None or len(answer) > MAX_ANSWER_CHARS:
        return ""
    answer_type = answer_type_of(extra_info)
    if answer_type == "mcq":
        designated = designated_options(answer, _options_of(extra_info))
        return next(iter(designated)) if len(designated) == 1 else ""
    words = _open_words(answer)
    if answer_type == "yesno":
        return words[0] if words and words[0] in _YES_NO else ""
    return " ".join(words)[:_MAX_PRED_CHARS]


_ANSWER_MARKER = re.compile(r"(?:final\s+answer|answer)\s*(?:is\b|:)", re.IGNORECASE)
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE | re.ASCII)
_ANSWER_OPEN = re.compile(r"<answer>", re.IGNORECASE | re.ASCII)


def _last(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    last = None
    for last in pattern.finditer(text):  # noqa: B007 - the loop keeps the last match
        pass
    return last


def lenient_answer(response: str) -> str:
    """Best-effort answer text for models that ignore the format (evaluation only, never the reward).

    In order: the strict answer block; the last closed non-empty `<answer>` block; the text after a
    last unclosed `<answer>`; then, in the text after the last `</think>`: the last `\\boxed{…}`, the
    rest of the line after the last "answer is" / "Answer:" marker, the last non-blank line; else "".
    """
    strict = tags.answer_block(response)
    if strict is not None:
        return strict
    text = tags.strip_end_of_turn(response)
    closed = tags.last_answer_block(text)
    if closed is not None:
        return closed
    opening = _last(_ANSWER_OPEN, text)
    if opening is not None and text[opening.end() :].strip():
        return text[opening.end() :].strip()
    think_close = _last(_THINK_CLOSE, text)
    tail = text[think_close.end() :] if think_close else text
    boxed = _last(_BOXED, tail)
    if boxed is not None and boxed.group(1).strip():
        return boxed.group(1).strip()
    marker = _last(_ANSWER_MARKER, tail)
    if marker is not None:
        line = tail[marker.end() :].lstrip(" \t*:").split("\n", 1)[0].strip()
        if line:
            return line
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    return lines[-1] if lines else ""

