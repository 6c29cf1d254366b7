"""Accuracy of an extracted answer: multiple choice, yes/no and open questions (strict, not gameable).

Every rule reads the answer through `normalize.clean` (NFKC, so fullwidth `Ｂ` is `B`; invisible characters
as spaces; markup such as `**`, `<b>`, `\\boxed{}`, `\\text{}`, `$` removed) after a lead-in such as "The
answer is". Negation (`normalize.put_out`, `denied_after`): a cue puts out what follows it in its clause
(`not B`, `anything but B`, `B rather than C`; a clause ends at `,` `;` `.` `:` `)` or `but`), and a denial puts
out what precedes it (`B is wrong`, `lymphoma is excluded`).

Multiple choice — the mentions are the option texts (case, punctuation, markup and a possessive `'s`
ignored; the longest text wins, so `Non-Hodgkin lymphoma` is not `Lymphoma`) and the letters put forward.
A one-letter token of any case or cased script is put forward when it is marked (`B)`, `(B)`, `B:`,
`Option B`), when no ordinary word follows it (`B`, `"B"`, `B.`, `B or c`, `B > c`, `A is correct`,
`B because …`), when it continues a list (`… or C`, `B-C`), or when it opens the answer in capitals;
otherwise it is part of a phrase (`Grade B tumour`, `B-cell`, `TNF-α`; `a`/`I` + word: the article, the
pronoun). An option text that starts at a letter wins over the letter unless the letter is marked by `)`,
`]` or `:` (`C. difficile` is that option, not C). Correct iff the letters put forward and not put out are
exactly the gold letter: hedges, listings (a letter that is no option still counts), a letter whose text
disagrees, a letter both put forward and out, and exclusions alone (`Not B`) score 0.

Yes/no — correct iff the answer asserts exactly the gold word: `yes` anywhere, `no` as the first word or
where no ordinary word follows it (`no necrosis` is a determiner). Lead-ins cost nothing (`I think yes`);
asserting both (`Yes (no)`, `Yes, but no`) scores 0.

Open — the answer is split into candidates at list connectors and sentence ends (or, and, vs, `,` `;` `/`
`.`) that the gold does not contain; each candidate drops its lead-in words (`It shows`, `Based on the
image`), articles and negated words, and a denied candidate (`adenocarcinoma is ruled out`) is dropped.
Score = the lowest similarity of a remaining candidate to the gold (0 when none remains), similarity =
LCS of the word sequences / the longer length: word order matters and every extra or missing word costs.
So a listing never earns more than its worst item, negating the gold earns 0, and k one-word candidates
in a row earn at most 1/k, the expected score of committing to one of them at random.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from pathvlm_rewards import tags
from pathvlm_rewards.normalize import (
    CONNECTOR_MARKS,
    CONNECTOR_WORDS,
    DENIAL_WORDS,
    MAX_ANSWER_CHARS,
    SENTENCE_MARKS,
    clean,
    content,
    denied_after,
    fold,
    is_connector,
    is_punct,
    is_word,
    letter_of,
    put_out,
    strip_answer_prefix,
    tokens,
)

ANSWER_TYPES = ("mcq", "yesno", "open")
_OPTION = re.compile(r"^\s*[(\[]?\s*([A-Za-z])\s*[)\].:]\s*(.*?)\s*$", re.DOTALL)
# After a letter, these mark it as a letter even where an option's text could start there.
_MARKS_LETTER = frozenset({")", "]", ":"})
_LETTER_NAMES = frozenset({"option", "options", "choice", "choices", "letter"})
# Words that follow a letter but never the article `a` or the pronoun `I` (`A is correct`, `B because …`).
_AFTER_LETTER = frozenset({"is", "seems", "appears", "looks", "fits", "matches", "remains", "because", "since", "due"})
_ARTICLE_OR_PRONOUN = frozenset({"a", "i"})
_HYPHENS = frozenset({"-", "\u2010"})
_ARTICLES = frozenset({"a", "an", "the"})
_YES_NO = ("yes", "no")
_OPEN_SEPARATORS = CONNECTOR_WORDS | CONNECTOR_MARKS | SENTENCE_MARKS
# Words that only introduce an open answer ("It shows", "Based on the image,", "The diagnosis is most likely").
_LEAD_WORDS = frozenset({
    "it", "this", "that", "these", "those", "there", "here", "i", "i'd", "we",
    "is", "are", "was", "were", "be", "would", "will", "could", "may", "might", "must", "should", "can",
    "seems", "seem", "appears", "appear", "looks", "look", "like", "to", "show", "shows", "showing", "shown",
    "demonstrates", "demonstrate", "depicts", "reveals", "represents", "suggests", "suggestive", "indicates",
    "indicative", "consistent", "compatible", "with", "of", "think", "believe", "say", "answer", "diagnosis",
    "finding", "findings", "image", "slide", "picture", "micrograph", "based", "on", "in", "from", "given",
    "according", "most", "likely", "probably", "definitely", "clearly", "final", "best", "so", "thus",
    "therefore", "hence", "a", "an", "the", "my", "our",
})
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


def _phrase_follows(toks: Sequence[str], folded: Sequence[str], index: int) -> bool:
    """Whether an ordinary word follows token `index`, making it part of a phrase (`Grade B tumour`, `B-cell`,
    `no necrosis`). A connector, a letter, punctuation or a word such as `is`/`because` is not one."""
    after = index + 1
    if after >= len(toks):
        return False
    tok = toks[after]
    if tok in _HYPHENS:
        return True
    return is_word(tok) and not is_connector(tok) and letter_of(tok) is None and folded[after] not in _AFTER_LETTER


class _Scan:
    """Tokens of one answer, folded, with their content-word positions, for option matching."""

    def __init__(self, text: str, option_set: OptionSet):
        self.toks = tokens(text)
        self.folded = [fold(tok) for tok in self.toks]
        self.options = option_set
        self.word_at: list[int] = []  # token index -> content index (-1 for punctuation)
        self.token_of: list[int] = []  # content index -> token index
        for index, tok in enumerate(self.toks):
            if is_punct(tok):
                self.word_at.append(-1)
            else:
                self.word_at.append(len(self.token_of))
                self.token_of.append(index)
        self.words = [self.folded[index] for index in self.token_of]

    def text_at(self, index: int) -> tuple[frozenset[str], int] | None:
        """Option text starting at token `index`: (letters, token index after it) or None."""
        if self.word_at[index] < 0:
            return None
        found = self.options.match(self.words, self.word_at[index])
        if found is None:
            return None
        letters, end = found
        return letters, self.token_of[end - 1] + 1

    def _next_marks_letter(self, index: int) -> bool:
        return index + 1 < len(self.toks) and self.toks[index + 1] in _MARKS_LETTER

    def _hyphenated_to(self, index: int) -> int | None:
        """Index of the token a hyphen joins token `index` to (`TNF-α`, `B-cell`, `B-C`), or None."""
        if index > 1 and self.toks[index - 1] in _HYPHENS:
            return index - 2
        if index + 2 < len(self.toks) and self.toks[index + 1] in _HYPHENS:
            return index + 2
        return None

    def _puts_forward(self, index: int) -> bool:
        """Whether the one-letter token at `index` puts its letter forward (see the module docstring)."""
        toks = self.toks
        joined = self._hyphenated_to(index)
        if joined is not None:  # a hyphen lists two letters (`B-C`) and makes a word of anything else (`B-cell`)
            return letter_of(toks[joined]) is not None
        if self._next_marks_letter(index) or (index > 0 and self.folded[index - 1] in _LETTER_NAMES):
            return True
        if not _phrase_follows(toks, self.folded, index):
            return True
        if self.folded[index] in _ARTICLE_OR_PRONOUN:
            return False
        if index == 0:
            return toks[0].isupper()
        return is_connector(toks[index - 1]) or letter_of(toks[index - 1]) is not None

    def mentions(self) -> list[tuple[int, int, frozenset[str]]]:
        """(start, end, letters) of every option text and every letter put forward, in order."""
        found, index = [], 0
        while index < len(self.toks):
            letter = letter_of(self.toks[index])
            text = self.text_at(index)
            if text is not None and not (letter and self._next_marks_letter(index)):
                found.append((index, text[1], text[0]))
                index = text[1]
                continue
            if letter is not None and self._puts_forward(index):
                found.append((index, index + 1, frozenset({letter})))
            index += 1
        return found

    def designated(self) -> frozenset[str]:
        """Letters put forward and not put out (negated before, or denied after, any of their mentions)."""
        out = put_out(self.folded)
        chosen: set[str] = set()
        excluded: set[str] = set()
        for start, end, letters in self.mentions():
            denied = (start > 0 and out[start - 1]) or denied_after(self.folded, end)
            (excluded if denied else chosen).update(letters)
        return frozenset(chosen - excluded)


def designated_options(answer: str, options: Sequence[str]) -> frozenset[str]:
    """Letters `answer` designates: one = a choice, several = a hedge, none = no choice. A letter that is not
    an option (`E` of four, Cyrillic `С`) is kept, so that it still makes a hedge."""
    if len(answer) > MAX_ANSWER_CHARS:
        return frozenset()
    return _Scan(strip_answer_prefix(clean(answer)), _as_options(options)).designated()


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
    return tokens(strip_answer_prefix(clean(answer)))


def _single(found: Collection[str]) -> str:
    return next(iter(found)) if len(found) == 1 else ""


def _mcq(answer: str, ground_truth: str, options: Sequence[str]) -> tuple[float, str]:
    designated = designated_options(answer, options)
    return float(designated == {gold_letter(ground_truth, options)}), _single(designated)


def _yesno_asserted(answer: str) -> frozenset[str]:
    """The yes/no words `answer` asserts: `yes` anywhere, `no` first or with no ordinary word after it."""
    if len(answer) > MAX_ANSWER_CHARS:
        return frozenset()
    toks = _answer_tokens(answer)
    folded = [tok.casefold() for tok in toks]
    return frozenset(word for index, word in enumerate(folded) if word in _YES_NO
                     and (word == "yes" or index == 0 or not _phrase_follows(toks, folded, index)))


def _yesno(answer: str, ground_truth: str) -> tuple[float, str]:
    gold = ground_truth.strip().casefold()
    if gold not in _YES_NO:
        raise ValueError(f"yes/no ground truth must be 'yes' or 'no', got {ground_truth!r}")
    asserted = _yesno_asserted(answer)
    return float(asserted == {gold}), _single(asserted)


def yesno_accuracy(answer: str, ground_truth: str) -> float:
    """1.0 iff `answer` asserts the gold yes/no word and not the other one."""
    return _yesno(answer, ground_truth)[0]


def _without_articles(words: list[str]) -> list[str]:
    return [word for word in words if word not in _ARTICLES] or words


def _candidate(toks: Sequence[str], folded: Sequence[str], out: Sequence[bool], span: range,
               keep: frozenset[str]) -> tuple[str, ...]:
    """Words one open candidate puts forward: lead-in words, articles and negated words dropped; () when the
    candidate is denied (`adenocarcinoma is not present`)."""
    indices = [index for index in span if not is_punct(toks[index])]
    first = 0
    while first < len(indices) and folded[indices[first]] in _LEAD_WORDS and folded[indices[first]] not in keep:
        first += 1
    indices = indices[first:]
    stop = next((position for position, index in enumerate(indices) if out[index] or folded[index] in DENIAL_WORDS),
                len(indices))
    if stop and stop < len(indices) and denied_after(folded, indices[stop]):
        return ()
    return tuple(word for word in (folded[index] for index in indices if not out[index]) if word not in _ARTICLES)


def _open_candidates(answer: str, keep: frozenset[str]) -> list[tuple[str, ...]]:
    """The candidates an open answer puts forward (see the module docstring); `keep` = the gold's folded
    tokens, whose connectors, separators and negation words count as content (`H&E`, `no malignancy`)."""
    if len(answer) > MAX_ANSWER_CHARS:
        return []
    toks = _answer_tokens(answer)
    folded = [fold(tok) for tok in toks]
    out = put_out(folded, keep)
    found, start = [], 0
    for index in range(len(toks) + 1):
        if index == len(toks) or (folded[index] in _OPEN_SEPARATORS and folded[index] not in keep):
            candidate = _candidate(toks, folded, out, range(start, index), keep)
            if candidate:
                found.append(candidate)
            start = index + 1
    return found


def lcs_length(words: Sequence[str], gold: Sequence[str]) -> int:
    """Length of the longest common subsequence, bit-parallel (Hyyrö 2004): one big-int step per word."""
    masks: dict[str, int] = {}
    for position, word in enumerate(gold):
        masks[word] = masks.get(word, 0) | 1 << position
    full = (1 << len(gold)) - 1
    row = full
    for word in words:
        matched = row & masks.get(word, 0)
        row = ((row + matched) | (row - matched)) & full
    return len(gold) - row.bit_count()


def _open(answer: str, ground_truth: str) -> tuple[float, str]:
    gold_tokens = _answer_tokens(ground_truth)
    gold = _without_articles(content(gold_tokens))
    candidates = _open_candidates(answer, frozenset(fold(tok) for tok in gold_tokens))
    if not gold or not candidates:
        return 0.0, ""
    score = min(lcs_length(candidate, gold) / max(len(candidate), len(gold)) for candidate in candidates)
    return score, " ".join(candidates[0])[:_MAX_PRED_CHARS] if len(candidates) == 1 else ""


def open_accuracy(answer: str, ground_truth: str) -> float:
    """Lowest LCS similarity of the answer's candidates to the gold (see the module docstring)."""
    return _open(answer, ground_truth)[0]


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


def grade(answer: str | None, ground_truth: str, extra_info: Mapping) -> tuple[float, str]:
    """(accuracy, canonical prediction) of an extracted answer (None: no answer), by `extra_info['answer_type']`.

    The prediction, for majority voting, is the single designated letter, the asserted yes/no or the single
    open candidate's words; "" when there is none. The ground truth is checked even without an answer."""
    answer_type = answer_type_of(extra_info)
    text = "" if answer is None else answer
    if answer_type == "mcq":
        return _mcq(text, ground_truth, _options_of(extra_info))
    if answer_type == "yesno":
        return _yesno(text, ground_truth)
    return _open(text, ground_truth)


def answer_accuracy(answer: str, ground_truth: str, extra_info: Mapping) -> float:
    """Accuracy of an already extracted answer text, by `extra_info['answer_type']`."""
    return grade(answer, ground_truth, extra_info)[0]


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

