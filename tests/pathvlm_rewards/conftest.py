"""Fixtures for the reward tests: the scripted judge server (per test) and the served tiny judge (per session)."""

import pytest
from reward_fixtures import ScriptedJudgeServer


@pytest.fixture
def judge_server(monkeypatch):
    monkeypatch.setenv("PATHVLM_TEST_KEY", "sk-test-secret-4242")
    server = ScriptedJudgeServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def served_judge(served_tiny):
    """The session's `transformers serve` of the tiny Qwen2.5-VL (tests/conftest.py) as the judge."""
    return served_tiny
