"""Answer extraction, format and accuracy rules, table-driven (what the policy optimises: must not be gameable)."""

import pytest
from reward_fixtures import OPTIONS

from pathvlm_rewards import answer_accuracy, answer_block, designated_options, format_reward, lenient_answer
from pathvlm_rewards.answers import gold_letter, open_accuracy, yesno_accuracy

THINK = "<think>The glands are crowded and back-to-back.</think>"


@pytest.mark.parametrize("response, expected", [
    ("<think>x</think><answer>B</answer>", "B"),
    ("<answer>  B) Adenocarcinoma \n</answer>", "B) Adenocarcinoma"),
    ("<ANSWER>B</Answer>", "B"),
    ("<answer>B</answer><|im_end|>", "B"),
    ("<answer>B</answer> <|im_end|>\n<|endoftext|> ", "B"),
    ("no tags at all", None),
    ("<answer>B", None),  # unclosed
    ("B</answer>", None),
    ("</answer>B<answer>", None),  # closed before opened
    ("<answer></answer>", None),
    ("<answer>  \n </answer>", None),
    ("<answer>A</answer><answer>B</answer>", None),  # several
    ("<think>I will write <answer> tags</think><answer>B</answer>", None),  # a second <answer> anywhere
    ("<answer>B</answer></answer>", None),
    ("<answer>B</answer><|im_end|>tail", "B"),  # eot only ignored when trailing; the block is still one
    ("<answer >B</answer>", None),  # not the tag
])
def test_answer_block(response, expected):
    assert answer_block(response) == expected


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
])
def test_format_reward(response, expected):
    assert format_reward(response) == expected


@pytest.mark.parametrize("answer, designated", [
    ("B", {"B"}), ("(B)", {"B"}), ("B)", {"B"}), ("B.", {"B"}), ("[B]", {"B"}), ("B:", {"B"}),
    ("Option B", {"B"}), ("The answer is B", {"B"}), ("The final answer is: **B**", {"B"}), ("b", {"B"}),
    ("(b)", {"B"}), ("B) Adenocarcinoma", {"B"}), ("b) adenocarcinoma.", {"B"}), ("**B) Adenocarcinoma**", {"B"}),
    ("B. Adenocarcinoma", {"B"}), ("B - adenocarcinoma", {"B"}), ("Adenocarcinoma", {"B"}),
    ("  ADENOCARCINOMA!  ", {"B"}), ("adeno-carcinoma", set()), ("B because the glands are crowded", {"B"}),
    # letter and text disagree
    ("B) Squamous cell carcinoma", {"A", "B"}), ("A) Adenocarcinoma", {"A", "B"}),
    # hedges and listings
    ("A or B", {"A", "B"}), ("A, B, C, D", {"A", "B", "C", "D"}), ("A B C D", {"A", "B", "C", "D"}),
    ("Answer: B C", {"B", "C"}), ("A/B", {"A", "B"}), ("Both A and B", {"A", "B"}),
    ("options B and C are plausible", {"B", "C"}), ("Possibly adenocarcinoma or C", {"B", "C"}),
    ("Adenocarcinoma or squamous cell carcinoma", {"A", "B"}),
    ("A) Squamous cell carcinoma B) Adenocarcinoma", {"A", "B"}),
    ("B) Adenocarcinoma, not (A)", {"A", "B"}),
    ("B) Adenocarcinoma, not squamous cell carcinoma", {"A", "B"}),
    # letters inside option texts are text, not letters
    ("C) Type B cells", {"C"}), ("Type B cells", {"C"}), ("B) Type B cells", {"B", "C"}),
    # articles/pronouns are not letters; a bare A needs punctuation, a text, a list or an answer prefix
    ("A benign neoplasm", {"D"}), ("A", {"A"}), ("A.", {"A"}), ("A because of keratin pearls", set()),
    ("The answer is A because of keratin pearls", {"A"}), ("a tumour", set()),
    # nothing designated
    ("E", set()), ("", set()), ("I am not sure", set()), ("Grade B tumour", set()),
    # a bare capital letter ending the answer counts
    ("The diagnosis is B", {"B"}),
])
def test_designated_options(answer, designated):
    assert designated_options(answer, OPTIONS) == frozenset(designated)


def test_designated_options_overlong_answer_designates_nothing():
    assert designated_options("B " + "x" * 5000, OPTIONS) == frozenset()


@pytest.mark.parametrize("ground_truth, letter", [
    ("B) Adenocarcinoma", "B"), ("B", "B"), ("Adenocarcinoma", "B"), (" C) Type B cells ", "C"),
])
def test_gold_letter(ground_truth, letter):
    assert gold_letter(ground_truth, OPTIONS) == letter


@pytest.mark.parametrize("ground_truth, options", [
    ("E) Lymphoma", OPTIONS), ("Lymphoma", OPTIONS), ("B", ["A) x", "A) y"]),
])
def test_gold_letter_rejects_bad_rows(ground_truth, options):
    with pytest.raises(ValueError, match="options|twice"):
        gold_letter(ground_truth, options)


@pytest.mark.parametrize("answer, gold, expected", [
    ("yes", "yes", 1.0), ("Yes.", "yes", 1.0), ("**YES**", "Yes", 1.0), ("yes, the lesion is malignant", "yes", 1.0),
    ("The answer is yes", "yes", 1.0), ("No. There is no invasion.", "no", 1.0),
    ("yes, no necrosis is seen", "yes", 1.0),
    ("no", "yes", 0.0), ("yes and no", "yes", 0.0), ("yes/no", "yes", 0.0), ("Yes. No.", "yes", 0.0),
    ("no or yes", "no", 0.0), ("y", "yes", 0.0), ("not", "no", 0.0), ("nope", "no", 0.0), ("", "no", 0.0),
    ("maybe yes", "yes", 0.0),
])
def test_yesno_accuracy(answer, gold, expected):
    assert yesno_accuracy(answer, gold) == expected


def test_yesno_rejects_non_yesno_ground_truth():
    with pytest.raises(ValueError, match="yes"):
        yesno_accuracy("yes", "maybe")


@pytest.mark.parametrize("answer, gold, expected", [
    ("Squamous cell carcinoma", "squamous cell carcinoma.", 1.0),
    ("the *liver*", "Liver", 1.0),
    ("carcinoma", "squamous cell carcinoma", 0.5),  # P=1, R=1/3
    ("squamous cell carcinoma of the lung", "squamous cell carcinoma", 0.75),  # "the" dropped: P=3/5, R=1
    ("kidney", "liver", 0.0), ("", "liver", 0.0),
])
def test_open_accuracy(answer, gold, expected):
    assert open_accuracy(answer, gold) == pytest.approx(expected)


def test_answer_accuracy_dispatches_on_answer_type():
    mcq = {"answer_type": "mcq", "options": OPTIONS}
    assert answer_accuracy("B) Adenocarcinoma", "B) Adenocarcinoma", mcq) == 1.0
    assert answer_accuracy("A or B", "B) Adenocarcinoma", mcq) == 0.0
    assert answer_accuracy("yes", "yes", {"answer_type": "yesno", "options": []}) == 1.0
    assert answer_accuracy("liver", "liver", {"answer_type": "open"}) == 1.0
    with pytest.raises(ValueError, match="answer_type"):
        answer_accuracy("B", "B", {"answer_type": "multiple", "index": 3})
    with pytest.raises(ValueError, match="options"):
        answer_accuracy("B", "B", {"answer_type": "mcq", "options": [], "index": 3})


@pytest.mark.parametrize("response, expected", [
    ("<think>x</think><answer>B</answer>", "B"),
    ("<answer>A</answer> then <answer>C) Type B cells</answer>", "C) Type B cells"),
    ("<think>x</think><answer>D) A benign neoplasm", "D) A benign neoplasm"),
    ("Looking at the slide...\nThe answer is B) Adenocarcinoma.\nThanks", "B) Adenocarcinoma."),
    ("Reasoning.\n**Answer:** C", "C"),
    ("<think>the answer is A</think>Final: \\boxed{B}", "B"),
    ("<think>the answer is A</think>\nIt is adenocarcinoma.\n", "It is adenocarcinoma."),
    ("", ""),
])
def test_lenient_answer(response, expected):
    assert lenient_answer(response) == expected


def test_lenient_and_strict_agree_on_well_formed_responses():
    response = f"{THINK}<answer>B) Adenocarcinoma</answer>"
    assert lenient_answer(response) == answer_block(response)
