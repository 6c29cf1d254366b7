"""pathvlm_rewards.judge.serve: `transformers serve` for a model folder (started and stopped by the CLI in the
session's served_tiny fixture, tests/conftest.py, which every served test uses); a server that cannot start says
why."""

import os

import pytest

from pathvlm_rewards.judge.serve import JudgeServer, process_running


def test_a_server_that_cannot_start_raises_with_its_log(tmp_path):
    server = JudgeServer(tmp_path / "no-such-model", log=tmp_path / "serve.log")
    with pytest.raises(RuntimeError, match="exited with") as raised:
        server.start(timeout_s=300)
    assert "no-such-model" in str(raised.value)  # the log's tail names what went wrong
    assert server.process is None


def test_the_served_judge_runs_in_its_own_process_group(served_judge):
    assert process_running(served_judge.pid) and os.getpgid(served_judge.pid) == served_judge.pid
