"""Open-answer accuracy, table-driven, with properties: listing or negating never pays, word order matters."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pathvlm_rewards import answer_accuracy
from pathvlm_rewards.answers import lcs_length, open_accuracy

SCC = "squamous cell carcinoma"


@pytest.mark.parametrize("answer, gold, expected", [
    ("Squamous cell carcinoma", "squamous cell carcinoma.", 1.0),
    ("the *liver*", "Liver", 1.0),
    ("kidney", "liver", 0.0), ("", "liver", 0.0),
    ("carcinoma", SCC, 1 / 3),  # one of three words
    ("squamous cell carcinoma of the lung", SCC, 3 / 5),  # articles dropped, extra words cost
    ("cell squamous carcinoma", SCC, 2 / 3),  # word salad: order matters
    ("adenocarcinoma lymphoma", "adenocarcinoma", 1 / 2),  # two candidates in a row: 1/k, no more
    # lead-ins cost nothing
    ("It shows adenocarcinoma.", "adenocarcinoma", 1.0),
    ("Based on the image, adenocarcinoma.", "adenocarcinoma", 1.0),
    ("The diagnosis is most likely adenocarcinoma", "adenocarcinoma", 1.0),
    ("This is consistent with squamous cell carcinoma", SCC, 1.0),
    # a listing earns its worst item
    ("adenocarcinoma or lymphoma", "adenocarcinoma", 0.0),
    ("adenocarcinoma, lymphoma, melanoma", "adenocarcinoma", 0.0),
    ("adenocarcinoma / carcinoma", "adenocarcinoma", 0.0),
    ("either squamous cell carcinoma or carcinoma", SCC, 1 / 3),
    ("Adenocarcinoma. Lymphoma.", "adenocarcinoma", 0.0),  # two sentences, two candidates
    # negating the gold earns nothing; an exclusion beside the answer costs nothing
    ("not adenocarcinoma", "adenocarcinoma", 0.0),
    ("It is not adenocarcinoma", "adenocarcinoma", 0.0),
    ("No adenocarcinoma", "adenocarcinoma", 0.0),
    ("adenocarcinoma is ruled out", "adenocarcinoma", 0.0),
    ("adenocarcinoma is not present", "adenocarcinoma", 0.0),
    ("anything but adenocarcinoma", "adenocarcinoma", 0.0),
    ("lymphoma rather than adenocarcinoma", "adenocarcinoma", 0.0),
    ("adenocarcinoma, not lymphoma", "adenocarcinoma", 1.0),
    ("adenocarcinoma without necrosis", "adenocarcinoma", 1.0),
    # the gold's own connectors and negation words are content
    ("hematoxylin and eosin", "hematoxylin and eosin", 1.0),
    ("There is no malignancy", "no malignancy", 1.0),
    ("H&E", "H&E", 1.0), ("liver, spleen", "liver, spleen", 1.0), ("HER2/neu", "HER2/neu", 1.0),
    ("malignancy", "no malignancy", 1 / 2),
    # numbers keep their decimal point
    ("0.5 cm", "0.5 cm", 1.0), ("5 cm", "0.5 cm", 1 / 2),
])
def test_open_accuracy(answer, gold, expected):
    assert open_accuracy(answer, gold) == pytest.approx(expected)


def test_open_prediction_is_the_single_candidate():
    info = {"answer_type": "open"}
    assert answer_accuracy("It shows adenocarcinoma.", "adenocarcinoma", info) == 1.0
    from pathvlm_rewards.answers import grade

    assert grade("It shows adenocarcinoma.", "adenocarcinoma", info) == (1.0, "adenocarcinoma")
    assert grade("adenocarcinoma or lymphoma", "adenocarcinoma", info) == (0.0, "")
    assert grade(None, "adenocarcinoma", info) == (0.0, "")


WORDS = ["adenocarcinoma", "lymphoma", "squamous", "cell", "carcinoma", "liver", "kidney", "necrosis", "benign"]
phrases = st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join)


@settings(max_examples=200, deadline=None)
@given(gold=phrases, items=st.lists(phrases, min_size=2, max_size=4),
       joiner=st.sampled_from([" or ", ", ", " / ", " and ", "; ", " vs ", ". "]))
def test_a_listing_never_earns_more_than_its_worst_item(gold, items, joiner):
    listing = open_accuracy(joiner.join(items), gold)
    assert listing <= min(open_accuracy(item, gold) for item in items) + 1e-9


@settings(max_examples=200, deadline=None)
@given(gold=st.sampled_from(WORDS), words=st.lists(st.sampled_from(WORDS), min_size=2, max_size=5, unique=True))
def test_one_word_candidates_in_a_row_earn_no_more_than_committing_at_random(gold, words):
    salad = open_accuracy(" ".join(words), gold)
    assert salad <= sum(open_accuracy(word, gold) for word in words) / len(words) + 1e-9


@settings(max_examples=200, deadline=None)
@given(gold=phrases, form=st.sampled_from(["not {}", "no {}", "It is not {}", "Definitely not {}", "anything but {}",
                                           "{} is ruled out", "{} is wrong", "{} is excluded", "{} is not seen"]))
def test_negating_the_gold_earns_nothing(gold, form):
    assert open_accuracy(form.format(gold), gold) == 0.0


def _lcs_table(first, second):
    row = [0] * (len(second) + 1)
    for word in first:
        previous, row = row, [0]
        for index, other in enumerate(second):
            row.append(previous[index] + 1 if word == other else max(previous[index + 1], row[index]))
    return row[-1]


@settings(max_examples=300, deadline=None)
@given(first=st.lists(st.sampled_from("abcd"), max_size=12), second=st.lists(st.sampled_from("abcd"), max_size=12))
def test_bit_parallel_lcs_matches_the_table(first, second):
    assert lcs_length(first, second) == _lcs_table(first, second)
