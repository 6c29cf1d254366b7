"""A scoring module for the evaluation tests (`scoring.module=pid_recording_rewards`): pathvlm_rewards itself,
except that every `compute_score` call first appends the id of the process making it to the file named by
$PATHVLM_TEST_SCORING_PIDS, so a test sees which processes generated and scored."""

from __future__ import annotations

import os
from typing import Any

import pathvlm_rewards
from pathvlm_rewards import REWARD_VERSION, answer_accuracy, answer_block, designated_options, lenient_answer

PIDS_ENV = "PATHVLM_TEST_SCORING_PIDS"


def compute_score(*args: Any, **kwargs: Any) -> Any:
    with open(os.environ[PIDS_ENV], "a", encoding="utf-8") as pids:
        pids.write(f"{os.getpid()}\n")
    return pathvlm_rewards.compute_score(*args, **kwargs)


__all__ = ["PIDS_ENV", "REWARD_VERSION", "answer_accuracy", "answer_block", "compute_score", "designated_options",
           "lenient_answer"]
