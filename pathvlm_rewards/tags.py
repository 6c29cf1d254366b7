"""The `<think>…</think><answer>…</answer>` layout: answer-block extraction and the format reward.

Tags match case-insensitively (ASCII folding only, so look-alike Unicode letters are not tags) and
trailing end-of-turn tokens are ignored. A block counts only with visible content (`normalize.visible`):
whitespace, invisible characters (U+200B, U+2060, U+FEFF, controls) and markup alone (`**`) are empty.
U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR are whitespace, as str.isspace and re's \\s have it, so
they may also stand around and between the blocks. Every scan is linear in the response length.
"""

from __future__ import annotations

import re

from pathvlm_rewards.normalize import visible

END_OF_TURN_TOKENS = ("<|im_end|>", "<|endoftext|>")

_FLAGS = re.IGNORECASE | re.ASCII
_THINK_OPEN = re.compile(r"<think>", _FLAGS)
_THINK_CLOSE = re.compile(r"</think>", _FLAGS)
_ANSWER_OPEN = re.compile(r"<answer>", _FLAGS)
_ANSWER_CLOSE = re.compile(r"</answer>", _FLAGS)
_ANSWER_TAG = re.compile(r"<(/?)answer>", _FLAGS)
# Matched against the REVERSED response, so the trailing run is found by a single anchored match.
_TRAILING_EOT_REVERSED = re.compile(
    r"(?:\s*(?:" + "|".join(re.escape(tok[::-1]) for tok in END_OF_TURN_TOKENS) + r"))*\s*"
)


def strip_end_of_turn(response: str) -> str:
    """`response` without trailing end-of-turn tokens and whitespace."""
    tail = _TRAILING_EOT_REVERSED.match(response[::-1]).end()
    return response[: len(response) - tail]


def _single(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    """The match of `pattern` when it occurs exactly once in `text`, else None (stops at the second)."""
    matches = pattern.finditer(text)
    first = next(matches, None)
    if first is None or next(matches, None) is not None:
        return None
    return first


def _blank(text: str) -> bool:
    return not text or text.isspace()


def answer_block(response: str) -> str | None:
    """Content of the response's single `<answer>…</answer>` block, stripped.

    None when there is no `<answer>`, more than one `<answer>` or `</answer>`, the block is unclosed
    (or closed before it opens), or its content shows nothing.
    """
    text = strip_end_of_turn(response)
    opening, closing = _single(_ANSWER_OPEN, text), _single(_ANSWER_CLOSE, text)
    if opening is None or closing is None or closing.start() < opening.end():
        return None
    content = text[opening.end() : closing.start()]
    return content.strip() if visible(content) else None


def format_reward(response: str) -> float:
    """1.0 iff the response is exactly `<think>visible</think>` then `<answer>visible</answer>`.

    Each block needs visible content (not only whitespace, invisible characters or markup). Whitespace is
    allowed around and between the blocks; nothing else may stand outside them and each tag occurs exactly
    once (so nothing is nested).
    """
    text = strip_end_of_turn(response)
    think_open, think_close = _single(_THINK_OPEN, text), _single(_THINK_CLOSE, text)
    answer_open, answer_close = _single(_ANSWER_OPEN, text), _single(_ANSWER_CLOSE, text)
    if None in (think_open, think_close, answer_open, answer_close):
        return 0.0
    ordered = think_open.end() <= think_close.start() and think_close.end() <= answer_open.start() \
        and answer_open.end() <= answer_close.start()
    well_formed = (
        ordered
        and _blank(text[: think_open.start()])
        and visible(text[think_open.end() : think_close.start()])
        and _blank(text[think_close.end() : answer_open.start()])
        and visible(text[answer_open.end() : answer_close.start()])
        and answer_close.end() == len(text)
    )
    return 1.0 if well_formed else 0.0


def last_answer_block(response: str) -> str | None:
    """Content of the last visible, properly closed `<answer>…</answer>` pair, however many there are."""
    last, opened_at = None, None
    for tag in _ANSWER_TAG.finditer(response):
        if not tag.group(1):
            opened_at = tag.end()
        elif opened_at is not None:
            content = response[opened_at : tag.start()]
            if visible(content):
                last = content
            opened_at = None
    return None if last is None else last.strip()
