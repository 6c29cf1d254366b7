"""Fixtures for the reward tests."""

import pytest
from reward_fixtures import JudgeServer


@pytest.fixture
def judge_server(monkeypatch):
    monkeypatch.setenv("PATHVLM_TEST_KEY", "sk-test-secret-4242")
    server = JudgeServer()
    yield server
    server.close()
