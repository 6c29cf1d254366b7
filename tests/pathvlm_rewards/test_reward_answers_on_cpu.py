"""Answer extraction and the mcq and yes/no accuracy rules, table-driven (what the policy optimises: must not be
gameable). Format: test_reward_format_on_cpu.py; open answers: test_reward_open_answers_on_cpu.py."""

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reward_fixtures import OPTIONS

from pathvlm_rewards import answer_accuracy, answer_block, designated_options, lenient_answer
from pathvlm_rewards.answers import gold_letter, yesno_accuracy

THINK = "<think>The glands are crowded and back-to-back.</think>"
LYMPHOMA = ["A) Squamous cell carcinoma", "B) Adenocarcinoma", "C) Small cell carcinoma", "D) Lymphoma"]
ORGANISMS = ["A) E. coli", "B) S. aureus", "C) Candida albicans", "D) Klebsiella pneumoniae", "E) C. difficile"]
NESTED = ["A) Lymphoma", "B) Non-Hodgkin's lymphoma", "C) Carcinoma", "D) Melanoma"]


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
    ("<answer>\u200b\u2060</answer>", None),  # invisible characters only
    ("<answer>**</answer>", None),  # markup only
])
def test_answer_block(response, expected):
    assert answer_block(response) == expected


@pytest.mark.parametrize("answer, designated", [
    ("B", {"B"}), ("(B)", {"B"}), ("B)", {"B"}), ("B.", {"B"}), ("[B]", {"B"}), ("B:", {"B"}),
    ("Option B", {"B"}), ("The answer is B", {"B"}), ("The final answer is: **B**", {"B"}), ("b", {"B"}),
    ("(b)", {"B"}), ("B) Adenocarcinoma", {"B"}), ("b) adenocarcinoma.", {"B"}), ("**B) Adenocarcinoma**", {"B"}),
    ("B. Adenocarcinoma", {"B"}), ("B - adenocarcinoma", {"B"}), ("Adenocarcinoma", {"B"}),
    ("  ADENOCARCINOMA!  ", {"B"}), ("adeno-carcinoma", set()), ("B because the glands are crowded", {"B"}),
    # markup and quotes around a letter
    ("\\boxed{B}", {"B"}), ("$\\boxed{B}$", {"B"}), ("\\text{B}", {"B"}), ("<b>B</b>", {"B"}), ('"B"', {"B"}),
    ("'B'", {"B"}), ("\u201cB\u201d", {"B"}), ("\u2018B\u2019", {"B"}), ("\uff22", {"B"}),  # fullwidth B
    ("<B>", {"B"}), ("\\boxed{B}\\boxed{C}", {"B", "C"}),  # an upper-case "tag" is a bracketed letter
    # letter and text disagree
    ("B) Squamous cell carcinoma", {"A", "B"}), ("A) Adenocarcinoma", {"A", "B"}),
    # hedges and listings
    ("A or B", {"A", "B"}), ("A, B, C, D", {"A", "B", "C", "D"}), ("A B C D", {"A", "B", "C", "D"}),
    ("Answer: B C", {"B", "C"}), ("A/B", {"A", "B"}), ("Both A and B", {"A", "B"}),
    ("options B and C are plausible", {"B", "C"}), ("Possibly adenocarcinoma or C", {"B", "C"}),
    ("Adenocarcinoma or squamous cell carcinoma", {"A", "B"}),
    ("A) Squamous cell carcinoma B) Adenocarcinoma", {"A", "B"}),
    # a second letter in lower case, another script or no option at all still counts
    ("B or c", {"B", "C"}), ("b, c", {"B", "C"}), ("B/c", {"B", "C"}), ("B > c > d", {"B", "C", "D"}),
    ("B or \uff23", {"B", "C"}), ("B or \u0421", {"B", "\u0421"}), ("B or E", {"B", "E"}),
    ("B\u200bC", {"B", "C"}), ("B\u2060C", {"B", "C"}), ("B\ufeffc", {"B", "C"}),  # zero-width joins separate
    # excluded options are not designated
    ("B) Adenocarcinoma, not (A)", {"B"}), ("B) Adenocarcinoma, not squamous cell carcinoma", {"B"}),
    ("B, not A", {"B"}), ("It is B, not C.", {"B"}), ("Not A but B", {"B"}), ("B rather than C", {"B"}),
    ("(not A) B", {"B"}), ("Not B) Adenocarcinoma", set()),  # a parenthesis ends a clause, not a text's letter
    ("Option B is not correct, C is", {"C"}), ("Not B", set()), ("Definitely not B", set()), ("B is wrong", set()),
    ("Anything but B", set()), ("Not adenocarcinoma", set()), ("Neither A nor B", set()), ("B, not B", set()),
    ("B) Adenocarcinoma is wrong", set()),  # the denial puts out the text, and with it its letter
    # letters inside option texts are text, not letters
    ("C) Type B cells", {"C"}), ("Type B cells", {"C"}), ("B) Type B cells", {"B", "C"}),
    # articles/pronouns are not letters; a letter before a verb of judgement or a conjunction is
    ("A benign neoplasm", {"D"}), ("A", {"A"}), ("A.", {"A"}), ("A because of keratin pearls", {"A"}),
    ("The answer is A because of keratin pearls", {"A"}), ("a tumour", set()), ("A is correct.", {"A"}),
    ("A is the answer.", {"A"}), ("I think B", {"B"}),
    # nothing designated, or a letter that is no option (so that it still makes a hedge)
    ("E", {"E"}), ("", set()), ("I am not sure", set()), ("Grade B tumour", set()), ("large B-cell lymphoma", set()),
    ("B (i.e. glands)", {"B"}), ("It's B", {"B"}),  # abbreviations and contractions hold no letters
    ("B (TNF-\u03b1)", {"B"}), ("B-cell lymphoma", set()),  # a letter hyphenated to a word is part of it …
    ("B-C", {"B", "C"}), ("A-B", {"A", "B"}),  # … to a letter, a list
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


@pytest.mark.parametrize("answer, options, gold, expected", [
    ("B or c", OPTIONS, "B", 0.0),  # lower-case second option
    ("b, c", OPTIONS, "B", 0.0),
    ("B/c", OPTIONS, "B", 0.0),
    ("B > c > d", OPTIONS, "B", 0.0),  # a ranking
    ("B or \uff23", OPTIONS, "B", 0.0),  # fullwidth C
    ("B or \u0421", OPTIONS, "B", 0.0),  # Cyrillic Es, a look-alike of C
    ("B\u200bC", OPTIONS, "B", 0.0),  # letters joined by a zero-width space
    ("B or E", OPTIONS, "B", 0.0),  # E is no option but still a second letter
    ("Not B", OPTIONS, "B", 0.0),  # an exclusion designates nothing
    ("Definitely not B", OPTIONS, "B", 0.0),
    ("B is wrong", OPTIONS, "B", 0.0),
    ("Anything but B", OPTIONS, "B", 0.0),
    ("Not adenocarcinoma", OPTIONS, "B", 0.0),  # a negated option text
    ("Not A", OPTIONS, "B", 0.0),  # only exclusions: nothing designated
    ("B, not A", OPTIONS, "B", 1.0),  # designates B, excludes A
    ("It is B, not C.", OPTIONS, "B", 1.0),
    ("B) Adenocarcinoma; lymphoma is excluded", LYMPHOMA, "B", 1.0),  # a denial after the text
    ("\\boxed{B}", OPTIONS, "B", 1.0),
    ("$\\boxed{B}$", OPTIONS, "B", 1.0),
    ("\\text{B}", OPTIONS, "B", 1.0),
    ('"B"', OPTIONS, "B", 1.0),  # quoted letters
    ("'B'", OPTIONS, "B", 1.0),
    ("\u201cB\u201d", OPTIONS, "B", 1.0),  # curly quotes
    ("<b>B</b>", OPTIONS, "B", 1.0),  # HTML emphasis
    ("A is correct.", OPTIONS, "A", 1.0),  # a verb of judgement: A is a letter, not the article
    ("A is the answer.", OPTIONS, "A", 1.0),
    ("E. coli", ORGANISMS, "A", 1.0),  # an organism abbreviation that starts with an option letter is text
    ("C. difficile", ORGANISMS, "E", 1.0),
    ("C. difficile", ORGANISMS, "C", 0.0),  # not the letter C
    ("A) E. coli", ORGANISMS, "A", 1.0),
    ("Non-Hodgkin lymphoma", NESTED, "B", 1.0),  # the longer option text, possessive ignored
    ("Non-Hodgkin lymphoma", NESTED, "A", 0.0),  # not A) Lymphoma
    ("B) Non-Hodgkin lymphoma", NESTED, "B", 1.0),
])
def test_mcq_accuracy(answer, options, gold, expected):
    assert answer_accuracy(answer, gold, {"answer_type": "mcq", "options": options}) == expected


# A second letter in any case, width or cased script, after any joiner, makes a hedge unless it is the same letter.
OTHER_LETTERS = st.sampled_from([*"ABCDEFGHIJKLMNOPQRSTUVWXYZ", *"abcdefghijklmnopqrstuvwxyz", "\uff21", "\uff43",
                                 "\u0410", "\u0412", "\u0421", "\u0435", "\u0441", "\u0392", "\u03bf"])


@settings(max_examples=300, deadline=None)
@given(gold=st.sampled_from("ABCD"), other=OTHER_LETTERS, form=st.sampled_from(["{g}", "({g})", "{g})", "Option {g}"]),
       joiner=st.sampled_from([" or ", ", ", "/", " > ", " and ", "\u200b", " ", "; ", " vs ", " | "]))
def test_any_second_letter_is_a_hedge(gold, other, form, joiner):
    same = unicodedata.normalize("NFKC", other).upper() == gold
    answer = form.format(g=gold) + joiner + other
    assert answer_accuracy(answer, gold, {"answer_type": "mcq", "options": OPTIONS}) == (1.0 if same else 0.0)


@pytest.mark.parametrize("answer, gold, expected", [
    ("yes", "yes", 1.0), ("Yes.", "yes", 1.0), ("**YES**", "Yes", 1.0), ("yes, the lesion is malignant", "yes", 1.0),
    ("The answer is yes", "yes", 1.0), ("No. There is no invasion.", "no", 1.0),
    ("yes, no necrosis is seen", "yes", 1.0),  # `no` before a noun is a determiner, not an answer
    ("no", "yes", 0.0), ("yes and no", "yes", 0.0), ("yes/no", "yes", 0.0), ("Yes. No.", "yes", 0.0),
    ("no or yes", "no", 0.0), ("y", "yes", 0.0), ("not", "no", 0.0), ("nope", "no", 0.0), ("", "no", 0.0),
    # both words asserted: a hedge
    ("Yes No", "yes", 0.0), ("Yes (no)", "yes", 0.0), ("Yes, but no", "yes", 0.0), ("No (yes)", "no", 0.0),
    # lead-ins and markup cost nothing
    ("I think yes", "yes", 1.0), ("Based on the image, yes.", "yes", 1.0), ("Definitely yes", "yes", 1.0),
    ("\\boxed{Yes}", "yes", 1.0), ("I would say no", "no", 1.0), ("maybe yes", "yes", 1.0),
    ("I think no invasion", "no", 0.0),  # a determiner again: nothing asserted
])
def test_yesno_accuracy(answer, gold, expected):
    assert yesno_accuracy(answer, gold) == expected


def test_yesno_rejects_non_yesno_ground_truth():
    with pytest.raises(ValueError, match="yes"):
        yesno_accuracy("yes", "maybe")


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
