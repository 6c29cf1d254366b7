"""A scoring module for the evaluation tests (`scoring.module=killing_rewards`): pathvlm_rewards itself, except
that the process making the Nth `compute_score` call (N = $PATHVLM_TEST_KILL_AT) is killed with SIGKILL right
there, as an evaluation killed midway, after it stored the samples scored before."""

from __future__ import annotations

import itertools
import os
import signal
from typing import Any

import pathvlm_rewards
from pathvlm_rewards import REWARD_VERSION, answer_accuracy, answer_block, designated_options, lenient_answer

KILL_AT_ENV = "PATHVLM_TEST_KILL_AT"
_calls = itertools.count(1)


def compute_score(*args: Any, **kwargs: Any) -> Any:
    if next(_calls) == int(os.environ[KILL_AT_ENV]):
        os.kill(os.getpid(), signal.SIGKILL)
    return pathvlm_rewards.compute_score(*args, **kwargs)


__all__ = ["KILL_AT_ENV", "REWARD_VERSION", "answer_accuracy", "answer_block", "compute_score", "designated_options",
           "lenient_answer"]
