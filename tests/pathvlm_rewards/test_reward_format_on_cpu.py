"""The format reward and what counts as visible content, table-driven (a block must show something)."""

import sys
import unicodedata

import pytest

from pathvlm_rewards import format_reward
from pathvlm_rewards.normalize import visible

THINK = "<think>The glands are crowded and back-to-back.</think>"


@pytest.mark.parametrize("response, expected", [
    (f"{THINK}<answer>B) Adenocarcinoma</answer>", 1.0),
    (f"  {THINK}\n\n<answer>B</answer>\n", 1.0),
    (f"{THINK}<answer>B</answer><|im_end|>", 1.0),
    ("<THINK>reasoning</THINK><Answer>B</ANSWER>", 1.0),
    ("<answer>B</answer>", 0.0),  # no think
    ("<think></think><answer>B</answer>", 0.0),  # empty think
    ("<think> \n</think><answer>B</answer>", 0.0),
    (f"{THINK}<answer> </answer>", 0.0),  # empty answer
    (f"Sure! {THINK}<answer>B</answer>", 0.0),  # text outside the tags
    (f"{THINK} so <answer>B</answer>", 0.0),
    (f"{THINK}<answer>B</answer> Hope this helps", 0.0),
    ("<answer>B</answer><think>x</think>", 0.0),  # wrong order
    ("<think>a<think>b</think></think><answer>B</answer>", 0.0),  # nested
    ("<think>a <answer>B</answer></think><answer>B</answer>", 0.0),
    (f"{THINK}{THINK}<answer>B</answer>", 0.0),  # two think blocks
    (f"{THINK}<answer>B</answer><|im_end|>x", 0.0),
    ("<thin\u212a>x</thin\u212a><answer>B</answer>", 0.0),  # the Kelvin sign is not a K
    ("<think>\u200b</think><answer>B</answer>", 0.0),  # zero-width space only
    ("<think>\u2060\ufeff</think><answer>B</answer>", 0.0),  # word joiner and BOM only
    ("<think>\x07\x1b\x7f</think><answer>B</answer>", 0.0),  # control characters only
    ("<think>\u3164\u2800</think><answer>B</answer>", 0.0),  # Hangul filler and blank Braille show nothing
    ("<think>**</think><answer>B</answer>", 0.0),  # markup only
    ("<think><b> </b>\\textbf{}</think><answer>B</answer>", 0.0),
    (f"{THINK}<answer>\u200b</answer>", 0.0),
    (f"{THINK}<answer>**</answer>", 0.0),
    (f"{THINK}<answer>$$</answer>", 0.0),
    ("<think>\u2028\u2029</think><answer>B</answer>", 0.0),  # line/paragraph separators are whitespace …
    (f"{THINK}\u2028<answer>B</answer>\u2029", 1.0),  # … so they may stand between and after the blocks
    ("<think>**x**</think><answer>\u200bB</answer>", 1.0),  # visible content beside markup or invisibles
    (f"\u200b{THINK}<answer>B</answer>", 0.0),  # an invisible character outside the blocks is still outside
])
def test_format_reward(response, expected):
    assert format_reward(response) == expected


@pytest.mark.parametrize("text, expected", [
    ("", False), (" \t\n", False), ("\u00a0\u3000", False), ("\u2028\u2029", False), ("\u200b\u200c\u200d", False),
    ("\u00ad", False),  # soft hyphen
    ("\u202e\u2066", False),  # bidi controls
    ("\ufe0f\U000e0041", False),  # variation selector, tag character
    ("*_~`{}$", False), ("<b></b><br/>", False), ("\\boxed{}", False),
    ("x", True), ("<5", True), ("\\", True), ("<b>x</b>", True), ("\\text{B}", True), ("\u0421", True),
    ("#", True), ("-", True),  # punctuation shows
])
def test_visible(text, expected):
    assert visible(text) == expected


def test_every_control_format_and_space_character_shows_nothing():
    planes = [range(0x20000), range(0xE0000, 0xE1000)]
    hidden = [chr(point) for plane in planes for point in plane
              if unicodedata.category(chr(point)) in ("Cc", "Cf") or chr(point).isspace()]
    assert hidden and not any(visible(char) for char in hidden), sys.version
