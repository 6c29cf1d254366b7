"""verl builds one array per result key from the first sample's keys: every call returns the same keys, in the
same order, all floats but `pred`, whatever the judge replies or fails with."""

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reward_fixtures import ScriptedJudgeServer, judge_kwargs, mcq_info

from pathvlm_rewards import RESULT_KEYS, compute_score
from pathvlm_rewards.judge.verdict import JUDGE_KEYS

GOLD = "B) Adenocarcinoma"


@pytest.fixture(scope="module")
def scripted():
    server = ScriptedJudgeServer()
    yield server
    server.close()


replies = st.one_of(
    st.text(max_size=30),
    st.sampled_from(['{"integrity_score": 0.6, "knowledge_score": 1}', '{"integrity_score": 1' + "0" * 400 + "}",
                     '{"integrity_score": NaN, "knowledge_score": 1}', "```json\n{}\n```", '{"a": ' * 2000]),
).map(lambda content: {"content": content})
behaviours = st.one_of(
    replies,
    st.sampled_from([{"status": 500}, {"status": 429}, {"status": 400}, {"body": b"{oops"}, {"body": b"{}"}]),
)
responses = st.sampled_from([
    "<think>Glands.</think><answer>B) Adenocarcinoma</answer>", "<answer>A</answer>", "",
    '<think>{"integrity_score": 0.2, "knowledge_score": 0.2}</think><answer>B</answer>',
])


@settings(max_examples=80, deadline=None)
@given(plan=st.lists(behaviours, min_size=2, max_size=2), response=responses, process=st.sampled_from([0.0, 1.0]),
       image=st.sampled_from([None, "png"]))
def test_the_key_set_never_changes(scripted, plan, response, process, image):
    scripted.plan.clear()
    scripted.plan.extend(plan)
    kwargs = judge_kwargs(scripted.url, None, api_key_env=None, max_retries=0)
    kwargs["weights"]["process"] = process
    info = mcq_info() if image else mcq_info(image_bytes=None)
    result = asyncio.run(compute_score("pathmmu", response, GOLD, info, **kwargs))
    assert tuple(result) == RESULT_KEYS
    assert all(type(result[key]) is float for key in RESULT_KEYS if key != "pred") and type(result["pred"]) is str
    judge = {key: result[key] for key in JUDGE_KEYS}
    if not process:
        assert set(judge.values()) == {0.0}
    # one reason at most, and the fallback and error flags agree with it
    reasons = [key for key in JUDGE_KEYS if key.startswith(("judge_error_", "judge_fallback_")) and judge[key]]
    assert len(reasons) <= 1 and judge["judge_fallback"] == float(bool(reasons))
    assert judge["judge_error"] == float(bool(reasons) and reasons[0].startswith("judge_error_"))
