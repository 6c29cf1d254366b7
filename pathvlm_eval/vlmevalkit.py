"""VLMEvalKit's multiple-choice protocol (PathMMU, OmniMedVQA), written here from its documented rules.

Followed: open-compass/VLMEvalKit at commit e8e78f05 (`git describe`: v0.3rc1-342-ge8e78f05, 2026-08-18):
the prompt of `ImageMCQDataset.build_prompt` (vlmeval/dataset/image_mcq.py) and the answer extraction of
`extract_answer_from_item` with the `exact_matching` judge (vlmeval/dataset/utils/multiple_choice.py), which
calls `can_infer` = `can_infer_option`, else `can_infer_text` (vlmeval/utils/matching_util.py). A response
from which no letter is inferred counts as wrong: no LLM judge, no random letter.

Extraction rules, in order (`choices`: letter -> option text):
1. a known refusal phrase anywhere gives the non-answer `Z`;
2. the punctuation `.()[],:;!*#{}` becomes spaces and the response is split at whitespace; if exactly one
   choice letter is a whole (case-sensitive) token and its first occurrence is among the last 4 tokens, it is
   the answer; with no choice letter but a token `Z`, the answer is `Z`;
3. otherwise the first `answer is X` (any case, `X` in A-D, `*` around it allowed, no word boundary after it)
   gives `X` when it is a choice;
4. otherwise, unless the response is longer than twice the options' texts together, the one option whose text
   (case-folded) occurs in the response (case-folded) is the answer; none or several: no answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pathvlm_eval.data import IMAGE_TOKEN, EvalItem

PROTOCOL = {
    "name": "vlmevalkit-mcq-exact-matching",
    "follows": "VLMEvalKit ImageMCQDataset prompt + exact_matching answer extraction (can_infer)",
    "repository": "open-compass/VLMEvalKit",
    "version": "v0.3rc1-342-ge8e78f05",
    "commit": "e8e78f05f3080fe28154f2130321f17951c3be94",
}
INSTRUCTION = "Please select the correct answer from the options above. \n"
NO_ANSWER = "Z"  # VLMEvalKit's letter for "no usable answer"; never a gold letter
LAST_TOKENS = 4
REFUSALS = ("Sorry, I can't help with images of people yet.", "I can't process this file.",
            "I'm sorry, but without the image provided", "Cannot determine the answer")
_PUNCTUATION = str.maketrans(dict.fromkeys(".()[],:;!*#{}", " "))
_ANSWER_IS = re.compile(r"answer\s+is\s+\**([A-D])", re.IGNORECASE)
_OPTION = re.compile(r"^([A-Z])\) (.*)$", re.DOTALL)


def choices_of(options: Sequence[str], where: str) -> dict[str, str]:
    """`{"A": "text", ...}` from the row contract's `"A) text"` option strings."""
    choices = {}
    for position, option in enumerate(options):
        match = _OPTION.match(option)
        if not match:
            raise ValueError(f"{where}: extra_info.options[{position}] {option!r} is not of the form 'A) text'")
        choices[match.group(1)] = match.group(2)
    return choices


def build_prompt(question: str, choices: Mapping[str, str], hint: str | None = None) -> str:
    """The user text VLMEvalKit sends after the image(s): hint, question, options, instruction."""
    text = f"Hint: {hint}\n" if hint else ""
    text += f"Question: {question}\n"
    if choices:
        text += "Options:\n" + "".join(f"{letter}. {option}\n" for letter, option in choices.items()) + INSTRUCTION
    return text


def _letter_from_tokens(response: str, letters: Sequence[str]) -> str | None:
    """Rules 1-3: a refusal, a lone choice letter near the end, a lone `Z`, or `answer is X`."""
    if any(phrase in response for phrase in REFUSALS):
        return NO_ANSWER
    words = response.translate(_PUNCTUATION).split()
    found = [letter for letter in letters if letter in words]
    if len(found) == 1 and words.index(found[0]) >= len(words) - LAST_TOKENS:
        return found[0]
    if not found and NO_ANSWER in words:
        return NO_ANSWER
    stated = _ANSWER_IS.search(response)
    if stated and stated.group(1).upper() in letters:
        return stated.group(1).upper()
    return None


def _letter_from_text(response: str, choices: Mapping[str, str]) -> str | None:
    """Rule 4: the single option whose text the (not too long) response contains."""
    folded = response.lower()
    if len(folded) > 2 * sum(len(option) for option in choices.values()):
        return None
    hits = [letter for letter, option in choices.items() if option.lower() in folded]
    return hits[0] if len(hits) == 1 else None


def extract_choice(response: str, choices: Mapping[str, str]) -> str | None:
    """The letter VLMEvalKit's exact matching reads from `response`: a choice letter, `Z`, or None."""
    return _letter_from_tokens(response, list(choices)) or _letter_from_text(response, choices)


def question_text(user_text: str, options: Sequence[str], where: str) -> str:
    """The bare question of a row: its prompt's text before the options block (data_prep's templates put the
    question first, then the options one per line)."""
    head, found, _ = user_text.partition("\n".join(options))
    if not found or not head.strip():
        raise ValueError(f"{where}: the prompt does not hold the question followed by its options; "
                         "scoring.protocol=vlmevalkit needs both to rebuild VLMEvalKit's prompt")
    return head.strip()


def item_prompt(item: EvalItem) -> list[dict[str, str]]:
    """The question's prompt under the protocol: one user turn, its images first, then VLMEvalKit's text
    (a `hint` field in extra_info, where a row has one, leads it as in VLMEvalKit)."""
    if item.answer_type != "mcq":
        raise ValueError(f"{item.location}: scoring.protocol=vlmevalkit is VLMEvalKit's multiple-choice protocol; "
                         f"this row is {item.answer_type!r} (evaluate it with scoring.protocol=ours)")
    options = item.extra_info["options"]
    user_text = "\n".join(message["content"] for message in item.prompt)
    text = build_prompt(question_text(user_text.replace(IMAGE_TOKEN, ""), options, item.location),
                        choices_of(options, item.location), item.extra_info.get("hint"))
    return [{"role": "user", "content": IMAGE_TOKEN * user_text.count(IMAGE_TOKEN) + text}]


def score(item: EvalItem, response: str) -> dict[str, Any] | None:
    """An mcq sample under the protocol: the letter read (None when none) and its exact match with the gold
    letter; None for other answer types."""
    if item.answer_type != "mcq":
        return None
    gold = choices_of([item.ground_truth], f"{item.location}: reward_model.ground_truth")
    letter = extract_choice(response, choices_of(item.extra_info["options"], item.location))
    answer = None if letter in (None, NO_ANSWER) else letter
    return {"answer": answer, "accuracy": float(answer is not None and answer in gold), "hedge": None,
            "vote": answer}
