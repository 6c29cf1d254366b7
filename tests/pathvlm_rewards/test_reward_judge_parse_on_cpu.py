"""Reading scores out of the judge's reply: the first JSON object holding both keys with usable numbers."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pathvlm_rewards.judge.parse import parse_judge_reply

OK = '{"integrity_score": 0.6, "knowledge_score": 1.0}'


@pytest.mark.parametrize("reply, scores", [
    # the asked-for reply
    (OK, (0.6, 1.0)),
    # prose after the object
    (OK + "\nI gave 0.6 because step 2 is missing.", (0.6, 1.0)),
    # prose before and after
    ("My grade: " + OK + " Hope this helps.", (0.6, 1.0)),
    # a Markdown fence with a language tag
    ("```json\n" + OK + "\n```", (0.6, 1.0)),
    # integers and an extra key
    ('{"integrity_score": 1, "knowledge_score": 0, "reason": "x"}', (1.0, 0.0)),
    # out of range: clamped
    ('{"integrity_score": 1.7, "knowledge_score": -0.2}', (1.0, 0.0)),
    # nested under another key: the inner object is the first that holds both keys
    ('{"grades": ' + OK + "}", (0.6, 1.0)),
    # the first object lacks a key, the second is complete
    ('{"integrity_score": 0.9} then ' + OK, (0.6, 1.0)),
    # the first object's numbers are unusable, the second's are not
    ('{"integrity_score": NaN, "knowledge_score": 1} corrected: ' + OK, (0.6, 1.0)),
    # two complete objects: the first counts
    (OK + ' {"integrity_score": 0.2, "knowledge_score": 0.2}', (0.6, 1.0)),
    # a 400-digit integer: beyond float range, unusable (it used to raise OverflowError)
    ('{"integrity_score": 1' + "0" * 400 + ', "knowledge_score": 1}', None),
    # more digits than Python's int-from-string limit (4300)
    ('{"integrity_score": ' + "9" * 5000 + ', "knowledge_score": 1}', None),
    # an exponent beyond float range
    ('{"integrity_score": 1e400, "knowledge_score": 1}', None),
    # Infinity, NaN
    ('{"integrity_score": Infinity, "knowledge_score": 1}', None),
    # strings and booleans are not numbers
    ('{"integrity_score": "0.6", "knowledge_score": 1}', None),
    ('{"integrity_score": true, "knowledge_score": 1}', None),
    # unquoted keys, a bare list, plain words, nothing
    ("{integrity_score: 1, knowledge_score: 1}", None),
    ("[0.6, 1.0]", None),
    ("integrity 0.9, knowledge 0.8", None),
    ("", None),
    # an unterminated object
    ('{"integrity_score": 0.6, "knowledge_score": 1.0', None),
    # nesting deeper than the decoder's recursion limit
    ('{"a": ' * 5000, None),
    ("[" * 100000 + OK, None),
])
def test_replies(reply, scores):
    assert parse_judge_reply(reply) == scores


def test_a_pathological_reply_is_bounded():
    # 100,000 unterminated objects: only the first 200 are tried, well under a second
    assert parse_judge_reply('{"a": 1' * 100_000 + OK) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["integrity_score", "knowledge_score", "x"]), children, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(prefix=st.text(max_size=20), value=json_values, suffix=st.text(max_size=20))
def test_never_raises_and_scores_are_in_range(prefix, value, suffix):
    scores = parse_judge_reply(prefix + json.dumps(value) + suffix)
    assert scores is None or all(0.0 <= score <= 1.0 for score in scores)
