"""Our rewards, weighted as the stage-2 config says, give verl's GRPO estimator non-zero advantages that
rank a group's responses as the paper intends: correct and well formed > well formed > neither."""

import asyncio

import numpy as np
import torch
from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage
from verl.trainer.ppo.reward import get_custom_reward_fn

from recipes.preflight import compose_stage

OPTIONS = ["A) Squamous cell carcinoma", "B) Adenocarcinoma", "C) Lymphoma", "D) Melanoma"]
EXTRA = {"answer_type": "mcq", "options": OPTIONS, "index": 0, "split": "train", "question": "Which tumour?"}
GROUP = [
    "<think>Glandular structures with mucin.</think><answer>B) Adenocarcinoma</answer>",  # correct, formatted
    "<think>Keratin pearls.</think><answer>A) Squamous cell carcinoma</answer>",  # wrong, formatted
    "B) Adenocarcinoma",  # no tags: nothing counts
    "<think>Could be either.</think><answer>A or B</answer>",  # hedge, formatted
]


def test_stage2_rewards_give_grpo_a_learning_signal():
    reward_fn = get_custom_reward_fn(compose_stage("pathvlm_grpo", []))
    scores = [asyncio.run(reward_fn("pathmmu", response, OPTIONS[1], dict(EXTRA)))["score"] for response in GROUP]
    assert scores == [2.0, 1.0, 0.0, 1.0]  # accuracy + format, weight 1 each

    length = 5
    rewards = torch.zeros(len(GROUP), length)
    rewards[:, -1] = torch.tensor(scores)  # outcome reward on the last response token, as verl places it
    advantages, _ = compute_grpo_outcome_advantage(rewards, torch.ones(len(GROUP), length),
                                                   index=np.array(["q0"] * len(GROUP)))
    per_response = advantages[:, 0].numpy()
    assert per_response[0] > per_response[1] == per_response[3] > per_response[2]
    expected = (np.array(scores) - np.mean(scores)) / np.std(scores, ddof=1)  # GRPO: group z-score
    np.testing.assert_allclose(per_response, expected, atol=1e-5)
    assert per_response[0] > 1.0 and per_response[2] < -1.0
