"""Text normalisation shared by every answer rule: visible text, tokens, answer prefixes, lists and negation."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Sequence

# Answers longer than this designate nothing (a real answer is one option; this bounds the work per call).
MAX_ANSWER_CHARS = 2000

# Characters that show nothing: controls (Cc, \t \n \r among them), format characters (Cf: zero-width space and
# joiners, word joiner, BOM, bidi controls, soft hyphen, tag characters), the other default-ignorable code points
# (variation selectors, Hangul fillers) and the blank Braille pattern.
_INVISIBLE = (r"\x00-\x1f\x7f-\x9f\xad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160"
              r"\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u2800\u3164\ufe00-\ufe0f"
              r"\ufeff\uffa0\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
              r"\U0001d173-\U0001d17a\U000e0000-\U000e0fff")
# The rest of the whitespace str.isspace accepts, U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR included
# (spelt out: \s in a character class makes the scan slower).
_SPACE = r" \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Markup: lower-case HTML tags (`<b>`, `</sup>`; `<B>` may be a bracketed letter), LaTeX commands that wrap a group
# (`\boxed{`, `\text{`), and the characters of Markdown emphasis and code and of LaTeX groups and math.
_MARKUP = r"</?[a-z][a-z0-9]*(?:\s[^<>]{0,200})?/?>|\\[A-Za-z]+(?=\{)"
_MARKUP_CHARS = r"*_~`{}$"
_NOTHING_SHOWN = _SPACE + _INVISIBLE + re.escape(_MARKUP_CHARS)
_MARKUP_RE = re.compile(_MARKUP)
_SHOWN = re.compile(f"[^{_NOTHING_SHOWN}]")
_NOTHING_SHOWN_RUN = re.compile(f"[{_NOTHING_SHOWN}]+")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'", "\u201c": '"', "\u201d": '"'})
# Dotted abbreviations (`e.g.`, `i.e.`), decimal numbers, words (letters/digits of any script, with inner
# apostrophes: `isn't`, `Hodgkin's`), or single non-space characters (punctuation, symbols).
_TOKEN = re.compile(r"(?:[^\W\d_]\.){2,}|\d+(?:[.,]\d+)+|[^\W_]+(?:'[^\W_]+)*|[^\w\s]")
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

# Negation. A cue puts out what follows it in its clause (`not B`, `anything but B`, `B rather than C`); a
# clause ends at , ; . ! ? : ) ] or a contrast word (`not A but B`). A denial after a mention puts it out too
# (`B is wrong`, `B is not correct`, `lymphoma is excluded`, `B ruled out`).
_NEGATORS = frozenset({"not", "no", "never", "neither", "nor", "without", "except", "excluding", "exclude",
                       "excludes", "isn't", "wasn't", "aren't", "cannot", "can't", "doesn't", "don't", "won't"})
_NEGATING_PAIRS = frozenset({("anything", "but"), ("everything", "but"), ("all", "but"), ("rather", "than"),
                             ("instead", "of"), ("other", "than"), ("rule", "out"), ("rules", "out"),
                             ("ruled", "out"), ("ruling", "out")})
_CUES = _NEGATORS | {second for _, second in _NEGATING_PAIRS}
_CONTRAST_WORDS = frozenset({"but", "however", "whereas", "although", "though", "instead", "rather"})
_CLAUSE_MARKS = frozenset({",", ";", ")", "]"}) | SENTENCE_MARKS
_DENIALS = frozenset({"wrong", "incorrect", "false", "excluded", "unlikely", "eliminated", "impossible", "ruled",
                      "inconsistent", "incompatible", "isn't", "wasn't", "aren't", "cannot", "can't", "doesn't"})
_DENIALS_AFTER_VERB = frozenset({"not", "never"})
_VERBS_BEFORE_DENIAL = frozenset({"is", "are", "was", "were", "be", "been", "can", "could", "may", "might", "must",
                                  "should", "would", "will", "seems", "appears", "looks", "definitely", "clearly",
                                  "certainly", "probably", "also"})
_CLOSERS = frozenset({")", "]", '"', "'"})
DENIAL_WORDS = _DENIALS | _VERBS_BEFORE_DENIAL  # where a denial after a mention can begin


def clean(text: str) -> str:
    """Visible text: NFKC-folded (fullwidth `Ｂ` is `B`), curly quotes straightened, markup, invisible
    characters and whitespace runs as one space, stripped."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    return _NOTHING_SHOWN_RUN.sub(" ", _MARKUP_RE.sub(" ", text)).strip()


def visible(text: str) -> bool:
    """Whether `text` shows anything: a character that is not whitespace (U+2028/U+2029 included), not
    invisible (controls, format characters such as U+200B/U+2060/U+FEFF) and not markup (`**`, `<b></b>`)."""
    shown = _SHOWN.search(text)
    if shown is None or _MARKUP_RE.match(text, shown.start()) is None:
        return shown is not None
    return _SHOWN.search(_MARKUP_RE.sub("", text)) is not None


def strip_answer_prefix(text: str) -> str:
    """`text` without lead-ins such as "The answer is" / "Option"."""
    for _ in range(3):
        match = _ANSWER_PREFIX.match(text)
        if match is None or match.end() == 0:
            break
        text = text[match.end() :]
    return text


def tokens(text: str) -> list[str]:
    """Word tokens and single-character punctuation/symbol tokens, original case."""
    return _TOKEN.findall(text)


def fold(token: str) -> str:
    """Case-folded token without a possessive `'s` (`Hodgkin's` reads as `hodgkin`)."""
    folded = token.casefold()
    return folded[:-2] if folded.endswith("'s") and len(folded) > 2 else folded


def is_word(token: str) -> bool:
    return token[0].isalnum()


def is_punct(token: str) -> bool:
    """Punctuation (Unicode category P*): a separator, never part of what a text says."""
    return unicodedata.category(token[0])[0] == "P"


def content(tokens_: Sequence[str]) -> list[str]:
    """Folded words and symbols (`+`, `<`, `%` …), punctuation dropped: what text comparison sees."""
    return [fold(tok) for tok in tokens_ if not is_punct(tok)]


def is_connector(token: str) -> bool:
    return token in CONNECTOR_MARKS or token.casefold() in CONNECTOR_WORDS


def letter_of(token: str) -> str | None:
    """The upper-case letter a one-letter token is (any cased script: `b` is B, Cyrillic `С` stays Cyrillic)."""
    return token.upper() if len(token) == 1 and token.isalpha() and token.lower() != token.upper() else None


def put_out(folded: Sequence[str], content_words: Collection[str] = ()) -> list[bool]:
    """For each folded token: whether it is a negation cue or lies in one's scope. Words in `content_words`
    (an open answer's gold words) are content, never cues."""
    if _CUES.isdisjoint(folded):
        return [False] * len(folded)
    flags: list[bool] = []
    negated, previous = False, ""
    for word in folded:
        if word in content_words:
            pass
        elif (previous, word) in _NEGATING_PAIRS:
            negated, flags[-1] = True, True
        elif word in _NEGATORS:
            negated = True
        elif word in _CLAUSE_MARKS or word in _CONTRAST_WORDS:
            negated = False
        flags.append(negated)
        previous = word
    return flags


def denied_after(folded: Sequence[str], end: int) -> bool:
    """Whether the words from `end` deny what precedes them (`is wrong`, `is not correct`, `ruled out`)."""
    after_verb = False
    for index in range(end, len(folded)):
        word = folded[index]
        if word in _VERBS_BEFORE_DENIAL:
            after_verb = True
        elif word not in _CLOSERS:
            return word in _DENIALS or (after_verb and word in _DENIALS_AFTER_VERB)
    return False
