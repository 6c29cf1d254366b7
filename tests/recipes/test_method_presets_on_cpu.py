"""The RL method presets (conf/method/) compose onto verl 0.9.1's real config tree for stages 2 and 3, pass its
validation, and make verl's own code do what each method says. The 2-step `main_ppo` run of every method is
tests/pathvlm_cpu/test_method_runs_on_cpu.py (a long run)."""

from functools import cache
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from verl import DataProto
from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage
from verl.trainer.ppo.ray_trainer import compute_advantage
from verl.trainer.ppo.utils import need_critic, need_reference_policy
from verl.trainer.ppo.v1.trainer_base import PPOTrainer
from verl.utils.config import omega_conf_to_dataclass, validate_config

from pathvlm_rewards.scoring import RESULT_KEYS
from recipes.preflight import DEFAULT_CONF_DIR, compose_stage

METHODS = ("grpo", "dr_grpo", "dapo", "gspo", "gdpo")
STAGE_REWARDS = ("format_accuracy", "dual")  # stage 2, stage 3
WEIGHTS = "reward.custom_reward_function.reward_kwargs.weights"
# What each preset must set, by dotted key of the resolved config (actor = actor_rollout_ref.actor).
GRPO_KEYS = {
    "algorithm.adv_estimator": "grpo", "algorithm.norm_adv_by_std_in_grpo": True,
    "algorithm.filter_groups.enable": False, "trainer.use_v1": True, "actor.policy_loss.loss_mode": "vanilla",
    "actor.loss_agg_mode": "token-mean", "actor.clip_ratio_low": 0.2, "actor.clip_ratio_high": 0.2,
    "actor.use_kl_loss": True,
}
EXPECTED = {
    "grpo": GRPO_KEYS,
    # No std normalisation; token sums divided by the constant maximum response length.
    "dr_grpo": {**GRPO_KEYS, "algorithm.norm_adv_by_std_in_grpo": False,
                "actor.loss_agg_mode": "seq-mean-token-sum-norm", "actor.loss_scale_factor": 1024},
    # Clip-higher, token-level loss, groups filtered on our accuracy key, no KL.
    "dapo": {**GRPO_KEYS, "actor.clip_ratio_high": 0.28, "algorithm.filter_groups.enable": True,
             "algorithm.filter_groups.metric": "accuracy", "actor.use_kl_loss": False},
    "gspo": {**GRPO_KEYS, "actor.policy_loss.loss_mode": "gspo", "actor.clip_ratio_low": 3e-4,
             "actor.clip_ratio_high": 4e-4, "actor.loss_agg_mode": "seq-mean-token-mean"},
    # Per-component normalisation over our reward keys, on the trainer that passes them to the estimator.
    "gdpo": {**GRPO_KEYS, "algorithm.adv_estimator": "gdpo", "trainer.use_v1": False,
             "algorithm.gdpo_reward_keys": ["accuracy", "format", "process"]},
}


def _compose(method: str | None = None, rewards: str = "format_accuracy", *overrides: str):
    """The GRPO stage config (stage 2 unless rewards=dual) as main_ppo sees it, from this checkout's conf/.
    Shared between tests: never modify it."""
    return _composed(method, rewards, overrides)


@cache
def _composed(method: str | None, rewards: str, overrides: tuple[str, ...]):
    selection = [f"rewards={rewards}"] + ([f"method={method}"] if method else [])
    return compose_stage("pathvlm_grpo", [*selection, *overrides], conf_dir=DEFAULT_CONF_DIR)


def _select(cfg, key: str):
    return OmegaConf.select(cfg, key.replace("actor.", "actor_rollout_ref.actor.", 1) if key.startswith("actor.")
                            else key)


@pytest.mark.parametrize("rewards", STAGE_REWARDS)
@pytest.mark.parametrize("method", METHODS)
def test_preset_passes_verl_validation_and_sets_its_keys(method, rewards):
    cfg = _compose(method, rewards)
    # What main_ppo runs first, then the typed configs the workers and the trainer build.
    validate_config(cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))
    omega_conf_to_dataclass(cfg.actor_rollout_ref.actor)
    omega_conf_to_dataclass(cfg.algorithm)
    actual = {key: _select(cfg, key) for key in EXPECTED[method]}
    assert {key: OmegaConf.to_object(value) if OmegaConf.is_config(value) else value
            for key, value in actual.items()} == EXPECTED[method]
    # Every method keeps the stage's reward and the paper's group size.
    assert cfg.actor_rollout_ref.rollout.n == 4
    assert _select(cfg, f"{WEIGHTS}.process") == (0.0 if rewards == "format_accuracy" else 1.0)


def test_grpo_is_the_default_and_changes_nothing():
    assert OmegaConf.to_container(_compose()) == OmegaConf.to_container(_compose("grpo"))


def test_dapo_drops_the_reference_model():
    # No KL term: verl loads no reference policy (a 7B model's worth of memory saved).
    assert need_reference_policy(_compose()) and not need_reference_policy(_compose("dapo"))


def test_dapo_filters_on_a_key_our_reward_returns():
    # verl's v1 trainer (main_ppo's default) resolves the metric its replay buffer filters groups on; the
    # buffer reads it from each response's reward_extra_info, i.e. pathvlm_rewards' result.
    cfg = _compose("dapo")
    assert cfg.trainer.use_v1
    metric = PPOTrainer._resolve_filter_groups_metric(SimpleNamespace(config=cfg))
    assert metric == "accuracy" and metric in RESULT_KEYS
    assert PPOTrainer._resolve_filter_groups_metric(SimpleNamespace(config=_compose())) is None


def test_dr_grpo_advantages_are_not_divided_by_the_group_std():
    cfg = _compose("dr_grpo")
    scores = torch.tensor([2.0, 1.0, 0.0, 1.0])
    rewards = torch.zeros(4, 3)
    rewards[:, -1] = scores
    advantages, _ = compute_grpo_outcome_advantage(rewards, torch.ones(4, 3), index=np.array(["q"] * 4),
                                                   norm_adv_by_std_in_grpo=cfg.algorithm.norm_adv_by_std_in_grpo)
    np.testing.assert_allclose(advantages[:, 0].numpy(), (scores - scores.mean()).numpy(), atol=1e-6)


# One group of 4 responses, 3 response tokens each, with our reward's components (as reward_extra_info).
# Response 0 is the only correct one but has the lowest process reward; response 1 the highest.
COMPONENTS = {
    "accuracy": [1.0, 0.0, 0.0, 0.0],
    "format": [1.0, 1.0, 1.0, 1.0],
    "process": [0.40, 0.60, 0.55, 0.45],
}


def _gdpo_advantages(cfg, components: dict[str, list[float]]) -> np.ndarray:
    """verl's legacy-trainer advantage step (ray_trainer.compute_advantage) on one group; one value per response."""
    responses, prompt_length, response_length = 4, 2, 3
    weights = OmegaConf.to_container(_select(cfg, WEIGHTS), resolve=True)
    summed = sum(weights[key] * np.array(values) for key, values in components.items())
    token_rewards = torch.zeros(responses, response_length)
    token_rewards[:, -1] = torch.tensor(summed, dtype=torch.float32)
    data = DataProto.from_dict(
        tensors={"token_level_rewards": token_rewards, "response_mask": torch.ones(responses, response_length),
                 "prompts": torch.zeros(responses, prompt_length, dtype=torch.long),
                 "attention_mask": torch.ones(responses, prompt_length + response_length, dtype=torch.long)},
        non_tensors={"uid": np.array(["q0"] * responses, dtype=object),
                     **{key: np.array(values) for key, values in components.items()}},
    )
    algorithm = omega_conf_to_dataclass(cfg.algorithm)  # the interpolated weights resolved, cfg untouched
    data = compute_advantage(data, adv_estimator=algorithm.adv_estimator, num_repeat=4,
                             norm_adv_by_std_in_grpo=algorithm.norm_adv_by_std_in_grpo, config=algorithm)
    return data.batch["advantages"][:, 0].numpy()


def _group_z(values) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return (values - values.mean()) / (values.std(ddof=1) + 1e-6)


def test_gdpo_normalises_each_of_our_components_with_the_stage_weights():
    cfg = _compose("gdpo", "dual")
    advantages = _gdpo_advantages(cfg, COMPONENTS)
    # Each component z-scored in its group, summed with the dual preset's weights (1, 1, 1), whitened over the batch.
    expected = sum(_group_z(values) for values in COMPONENTS.values())
    assert np.corrcoef(advantages, expected)[0, 1] == pytest.approx(1.0, abs=1e-5)
    assert advantages.mean() == pytest.approx(0.0, abs=1e-5)
    # Not GRPO on the summed score, where accuracy's spread drowns the process part's: GRPO ranks the correct
    # response first, GDPO the one with the best process reward.
    grpo_on_sum = _group_z(sum(np.array(values) for values in COMPONENTS.values()))
    assert (int(np.argmax(grpo_on_sum)), int(np.argmax(advantages))) == (0, 1)


def test_gdpo_follows_a_weight_changed_on_the_command_line():
    cfg = _compose("gdpo", "dual", f"{WEIGHTS}.process=0.25")
    assert list(omega_conf_to_dataclass(cfg.algorithm).gdpo_reward_weights) == [1.0, 1.0, 0.25]
    z = {key: _group_z(values) for key, values in COMPONENTS.items()}
    expected = z["accuracy"] + z["format"] + 0.25 * z["process"]
    assert np.corrcoef(_gdpo_advantages(cfg, COMPONENTS), expected)[0, 1] == pytest.approx(1.0, abs=1e-5)


def test_gdpo_in_stage_2_ignores_the_unweighted_process_part():
    cfg = _compose("gdpo")
    assert list(omega_conf_to_dataclass(cfg.algorithm).gdpo_reward_weights) == [1.0, 1.0, 0.0]
    # Stage 2's reward reports process 0 for every response: a constant part, no division by zero.
    stage2 = {**COMPONENTS, "process": [0.0] * 4}
    advantages = _gdpo_advantages(cfg, stage2)
    assert np.isfinite(advantages).all()
    np.testing.assert_allclose(advantages, _gdpo_advantages(cfg, COMPONENTS), atol=1e-6)
