"""What a real server cannot do on cue, against a scripted OpenAI-protocol server on 127.0.0.1 (reward_fixtures):
error statuses, delays, malformed bodies and replies, recovery; and what only the server side can see (the
request itself, requests in flight)."""

import asyncio
import base64
import json
import logging
import time

import pytest
from reward_fixtures import ScriptedJudgeServer, judge_kwargs, mcq_info, png_bytes

from pathvlm_rewards import compute_score
from pathvlm_rewards.judge import JudgeConfigError
from pathvlm_rewards.judge.runner import _judges
from pathvlm_rewards.judge.serve import free_port

GOLD = "B) Adenocarcinoma"
RIGHT = "<think>Crowded glands with nuclear atypia; no keratin, so not A.</think><answer>B) Adenocarcinoma</answer>"
WRONG = "<think>Keratin pearls.</think><answer>A) Squamous cell carcinoma</answer>"
SECRET = "sk-test-secret-4242"
VALID = {"content": json.dumps({"integrity_score": 0.6, "knowledge_score": 1.0})}  # the server's default reply
HUGE = '{"integrity_score": 1' + "0" * 400 + ', "knowledge_score": 1}'


def judged(server_url, tmp_path, response=RIGHT, info=None, **judge):
    kwargs = judge_kwargs(server_url, tmp_path / "cache", **judge)
    return asyncio.run(compute_score("pathmmu", response, GOLD, info or mcq_info(), **kwargs))


def reasons(result) -> dict:
    return {key: value for key, value in result.items() if key.startswith(("judge_error_", "judge_fallback_"))
            and value}


def test_the_request_the_judge_sees(judge_server, tmp_path):
    judged(judge_server.url, tmp_path)
    judged(judge_server.url, tmp_path, response=WRONG)
    [request, wrong] = judge_server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["authorization"] == f"Bearer {SECRET}"
    body = request["json"]
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("judge-vl", 0.1, 200)
    system, user = body["messages"]
    assert system["role"] == "system" and "integrity_score" in system["content"] and "untrusted" in system["content"]
    image_part, text_part = user["content"]
    prefix = "data:image/png;base64,"
    assert base64.b64decode(image_part["image_url"]["url"].removeprefix(prefix)) == png_bytes()
    for needle in ("What is the most likely diagnosis", "C) Type B cells", f"Gold answer: {GOLD}", "graded: correct",
                   RIGHT):
        assert needle in text_part["text"]
    assert "graded: incorrect" in wrong["json"]["messages"][1]["content"][1]["text"]


@pytest.mark.parametrize("plan, process, calls, reason", [
    # a reply with a 400-digit integer (beyond float range) holds no usable scores; the re-ask gets a verdict
    ([{"content": HUGE}], 0.8, 2, None),
    # twice: the fallback, never an OverflowError
    ([{"content": HUGE}, {"content": HUGE}], 0.5, 2, "judge_fallback_unparseable"),
    # a reply with no JSON, then one with prose around the JSON
    ([{"content": "integrity 0.9"}, {"content": "Sure.\n" + VALID["content"] + "\nBecause..."}], 0.8, 2, None),
    # a body whose content is not text at all
    ([{"content": ["not", "text"]}, {"content": None}], 0.5, 2, "judge_fallback_unparseable"),
    # deeply nested JSON (the decoder's recursion limit)
    ([{"content": "{\"a\": " * 5000}, {"content": "[" * 100000}], 0.5, 2, "judge_fallback_unparseable"),
])
def test_malformed_replies_never_raise_and_are_asked_once_more(judge_server, tmp_path, plan, process, calls,
                                                                reason):
    judge_server.plan.extend(plan)
    result = judged(judge_server.url, tmp_path)
    assert (result["process"], result["judge_calls"], result["judge_error"]) == (process, calls, 0.0)
    assert reasons(result) == ({reason: 1.0} if reason else {})
    # every call's tokens are counted (the scripted server reports 100 + 20 per reply)
    assert (result["judge_prompt_tokens"], result["judge_completion_tokens"]) == (100 * calls, 20 * calls)


@pytest.mark.parametrize("reasks, calls", [
    (0, 1),  # never asked again: one call, then the fallback
    (2, 3),  # asked twice more
])
def test_reasks_bound_the_calls_for_a_reply_without_scores(judge_server, tmp_path, reasks, calls):
    judge_server.plan.extend([{"content": "no scores"}] * 3)
    result = judged(judge_server.url, tmp_path, reasks=reasks)
    assert (result["judge_calls"], result["judge_fallback_unparseable"]) == (calls, 1.0)
    assert len(judge_server.requests) == calls


def test_an_unparseable_reply_is_judged_again_after_the_server_recovers(judge_server, tmp_path):
    judge_server.plan.extend([{"content": "I cannot grade this."}, {"content": "Still no."}])
    failed = judged(judge_server.url, tmp_path)
    assert (failed["process"], failed["judge_fallback_unparseable"]) == (0.5, 1.0)
    recovered = judged(judge_server.url, tmp_path)  # the fallback was not cached
    assert (recovered["process"], recovered["judge_fallback"], recovered["judge_cache_hit"]) == (0.8, 0.0, 0.0)
    cached = judged(judge_server.url, tmp_path)  # the real verdict was
    assert (cached["process"], cached["judge_cache_hit"]) == (0.8, 1.0)
    assert len(judge_server.requests) == 3


@pytest.mark.parametrize("status", [429, 500, 503])
def test_retries_after_rate_limit_and_server_errors_are_counted(judge_server, tmp_path, status):
    judge_server.plan.append({"status": status, "headers": {"retry-after-ms": "20"}})
    result = judged(judge_server.url, tmp_path)
    assert (result["process"], result["judge_error"], result["judge_calls"], result["judge_retries"]) == \
        (0.8, 0.0, 1.0, 1.0)
    assert len(judge_server.requests) == 2


def test_persistent_rate_limit_gives_up_after_max_retries(judge_server, tmp_path):
    judge_server.default = {"status": 429, "headers": {"retry-after-ms": "10"}}
    result = judged(judge_server.url, tmp_path, max_retries=2)
    assert (result["judge_fallback"], result["judge_retries"]) == (1.0, 2.0)
    assert reasons(result) == {"judge_error_http": 1.0}
    assert len(judge_server.requests) == 3


def test_timeout_then_fallback_and_slow_but_timely_reply(judge_server, tmp_path):
    judge_server.plan.append({"delay": 1.5, **VALID})
    assert reasons(judged(judge_server.url, tmp_path, timeout_s=0.3, max_retries=0)) == {"judge_error_timeout": 1.0}
    judge_server.plan.append({"delay": 0.4, **VALID})
    result = judged(judge_server.url, tmp_path, timeout_s=5.0)
    assert (result["process"], result["judge_error"]) == (0.8, 0.0) and result["judge_latency_s"] >= 0.4


def test_call_cap_bounds_one_slow_call(judge_server, tmp_path):
    judge_server.default = {"delay": 3.0, **VALID}
    start = time.monotonic()
    result = judged(judge_server.url, tmp_path, timeout_s=10.0, call_cap_s=0.3)
    assert time.monotonic() - start < 2.5
    assert reasons(result) == {"judge_error_timeout": 1.0} and result["judge_calls"] == 1.0


@pytest.mark.parametrize("body, reason", [
    # not JSON at all
    (b"{not json at all", "judge_error_other"),
    # JSON, but not a completion
    (b'{"unexpected": true}', "judge_fallback_unparseable"),
])
def test_malformed_http_bodies_fall_back(judge_server, tmp_path, body, reason):
    judge_server.default = {"body": body}
    result = judged(judge_server.url, tmp_path, max_retries=0)
    assert (result["process"], result["judge_fallback"]) == (0.5, 1.0)
    assert reasons(result) == {reason: 1.0}


def test_no_server_is_a_network_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATHVLM_TEST_KEY", SECRET)
    result = judged(f"http://127.0.0.1:{free_port()}/v1", tmp_path, max_retries=1)
    assert reasons(result) == {"judge_error_network": 1.0} and result["judge_retries"] == 1.0


def test_failures_are_not_cached_and_verdicts_survive_a_restart(judge_server, tmp_path):
    judge_server.plan.append({"status": 500})
    assert judged(judge_server.url, tmp_path, max_retries=0)["judge_error"] == 1.0
    assert judged(judge_server.url, tmp_path)["process"] == 0.8  # the failure was not cached
    assert len(judge_server.requests) == 2
    _judges.clear()  # a resumed run: new process state, same cache folder
    assert judged(judge_server.url, tmp_path)["judge_cache_hit"] == 1.0
    assert len(judge_server.requests) == 2
    judged(judge_server.url, tmp_path, response=WRONG)  # another response is another key
    judged(judge_server.url, tmp_path, info=mcq_info(image_bytes=png_bytes(color=(1, 2, 3))))  # another image too
    assert len(judge_server.requests) == 4


def test_the_endpoint_is_part_of_the_cache_key(judge_server, tmp_path):
    other = ScriptedJudgeServer()
    other.default = {"content": json.dumps({"integrity_score": 0.2, "knowledge_score": 0.2})}
    try:
        first = judged(judge_server.url, tmp_path)
        second = judged(other.url, tmp_path)  # same model name, same cache folder, another endpoint
    finally:
        other.close()
    assert (first["process"], second["process"], second["judge_cache_hit"]) == (0.8, 0.2, 0.0)


def test_bounded_concurrency_and_duplicate_rollouts_pay_once(judge_server, tmp_path):
    judge_server.default = {"delay": 0.2, **VALID}
    kwargs = judge_kwargs(judge_server.url, tmp_path / "cache", max_concurrency=3)
    responses = [RIGHT.replace("atypia", f"atypia {i}") for i in range(9)] + [RIGHT] * 4

    async def batch():
        return await asyncio.gather(*(compute_score("pathmmu", r, GOLD, mcq_info(), **kwargs) for r in responses))

    results = asyncio.run(batch())
    assert all(r["process"] == 0.8 for r in results)
    assert len(judge_server.requests) == 10  # the four identical rollouts shared one call
    assert judge_server.max_in_flight == 3
    # usage is counted once: the three sharing rollouts report a cache hit and no call of their own
    assert sum(r["judge_calls"] for r in results) == 10 and sum(r["judge_cache_hit"] for r in results) == 3


def test_refused_credentials_are_a_configuration_error(judge_server, tmp_path):
    judge_server.default = {"status": 401}
    with pytest.raises(JudgeConfigError, match="PATHVLM_TEST_KEY"):
        judged(judge_server.url, tmp_path)


def test_api_key_is_never_logged(judge_server, tmp_path, caplog):
    judge_server.plan.append({"status": 500, "body": json.dumps({"error": {"message": f"bad key {SECRET}"}}).encode()})
    with caplog.at_level(logging.DEBUG):
        result = judged(judge_server.url, tmp_path, max_retries=0)
    assert result["judge_error_http"] == 1.0
    assert "judge call failed" in caplog.text and SECRET not in caplog.text
