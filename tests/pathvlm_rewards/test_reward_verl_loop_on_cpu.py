"""verl 0.9.1 loads and runs the reward from a composed trainer config: its loader, its reward loop worker,
and the Ray reward-loop manager that ships it to a worker process (nothing of verl is mocked)."""

import asyncio
import inspect

import pytest
from reward_fixtures import OPTIONS, compose_trainer, mcq_info, verl_batch

from pathvlm_rewards import RESULT_KEYS

RESPONSES = [
    "<think>Crowded glands.</think><answer>B) Adenocarcinoma</answer>",
    "<think>Keratin.</think><answer>A) Squamous cell carcinoma</answer>",
    "<answer>B</answer>",
    "<think>Unsure.</think><answer>A or B</answer>",
]
REWARD_KWARGS = {"weights": {"accuracy": 1.0, "format": 0.5, "process": 0.0}, "judge": {"max_tokens": 64}}


@pytest.fixture(scope="module")
def trainer_config(tiny_ckpt, tmp_path_factory):
    return compose_trainer(tmp_path_factory.mktemp("conf"), tiny_ckpt, REWARD_KWARGS)


def _batch(tokenizer):
    n = len(RESPONSES)
    return verl_batch(tokenizer, RESPONSES, ["B) Adenocarcinoma"] * n, [mcq_info(index=i) for i in range(n)])


EXPECTED_SCORES = [1.5, 0.5, 1.0, 0.5]  # accuracy + 0.5 * format, from the weights in REWARD_KWARGS


def test_verl_loader_binds_reward_kwargs_and_awaits(trainer_config):
    from verl.trainer.ppo.reward import get_custom_reward_fn

    fn = get_custom_reward_fn(trainer_config)
    assert inspect.iscoroutinefunction(fn)
    result = asyncio.run(fn(data_source="pathmmu", solution_str=RESPONSES[0], ground_truth="B) Adenocarcinoma",
                            extra_info={"answer_type": "mcq", "options": OPTIONS, "index": 0}))
    assert tuple(result) == RESULT_KEYS and result["score"] == 1.5


def test_verl_reward_loop_worker_scores_a_batch(trainer_config):
    from verl.experimental.reward_loop import RewardLoopWorker

    worker = RewardLoopWorker(trainer_config)
    outputs = worker.loop.run_until_complete(worker.compute_score_batch(_batch(worker.input_tokenizer)))
    assert [o["reward_score"] for o in outputs] == EXPECTED_SCORES
    assert all(tuple(o["reward_extra_info"]) == RESULT_KEYS for o in outputs)
    assert [o["reward_extra_info"]["pred"] for o in outputs] == ["B", "A", "B", ""]


def test_verl_ray_reward_loop_manager_and_validation_metrics(trainer_config):
    import ray
    from transformers import AutoTokenizer
    from verl.experimental.reward_loop import RewardLoopManager
    from verl.trainer.ppo.metric_utils import process_validation_metrics

    # address="local": a fresh instance even when a cluster started with `ray start` runs on this machine
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}})
    try:
        manager = RewardLoopManager(trainer_config)
        tokenizer = AutoTokenizer.from_pretrained(trainer_config.actor_rollout_ref.model.path)
        scored = manager.compute_rm_score(_batch(tokenizer))
    finally:
        ray.shutdown()
    assert scored.batch["rm_scores"].sum(dim=1).tolist() == EXPECTED_SCORES
    assert scored.meta_info["reward_extra_keys"] == list(RESULT_KEYS)
    infos = {key: scored.non_tensor_batch[key] for key in RESULT_KEYS}
    metrics = process_validation_metrics(["pathmmu"] * 4, ["u1", "u1", "u2", "u2"], infos)["pathmmu"]
    assert metrics["acc"]["mean@2"] == pytest.approx(0.5)  # acc 1,0 | 1,0
    assert "maj@2/mean" in metrics["acc"]  # `pred` enables verl's majority vote
    assert "pred" not in metrics  # strings are votes, not metrics
