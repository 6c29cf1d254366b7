"""Every shipped YAML composes onto verl 0.9.1's real config tree, and the keys land where verl reads them."""

import pytest
from omegaconf import OmegaConf
from verl.trainer.ppo.reward import get_custom_reward_fn
from verl.trainer.ppo.utils import need_critic, need_reference_policy
from verl.utils.config import omega_conf_to_dataclass, validate_config

from recipes.preflight import compose_stage


@pytest.fixture(scope="module")
def grpo():
    return compose_stage("pathvlm_grpo", [])


def test_grpo_passes_verl_validation_with_paper_settings(grpo):
    validate_config(grpo, use_reference_policy=need_reference_policy(grpo), use_critic=need_critic(grpo))
    assert grpo.algorithm.adv_estimator == "grpo"
    assert grpo.actor_rollout_ref.rollout.n == 4
    assert grpo.data.max_prompt_length == grpo.data.max_response_length == 1024
    assert grpo.actor_rollout_ref.rollout.name == "vllm"
    assert not need_critic(grpo)
    # verl builds its typed configs from these nodes; a misplaced key would fail here.
    rollout = omega_conf_to_dataclass(grpo.actor_rollout_ref.rollout)
    assert rollout.n == 4 and rollout.limit_images == 1


def test_reward_plugin_is_wired_through_the_key_0_9_1_reads(grpo):
    assert grpo.reward.custom_reward_function.path == "pkg://pathvlm_rewards"
    assert OmegaConf.select(grpo, "custom_reward_function.path") is None
    reward_fn = get_custom_reward_fn(grpo)
    assert reward_fn is not None
    assert dict(reward_fn.args[1]["weights"]) == {"accuracy": 1.0, "format": 1.0, "process": 0.0}


@pytest.mark.parametrize("preset,process", [("format_accuracy", 0.0), ("dual", 1.0)])
def test_reward_presets_and_cli_weight_override(preset, process):
    cfg = compose_stage("pathvlm_grpo", [f"rewards={preset}"])
    assert cfg.reward.custom_reward_function.reward_kwargs.weights.process == process
    overridden = compose_stage("pathvlm_grpo", [f"rewards={preset}",
                                                "reward.custom_reward_function.reward_kwargs.weights.process=0.25"])
    kwargs = get_custom_reward_fn(overridden).args[1]
    assert kwargs["weights"]["process"] == 0.25


@pytest.mark.parametrize("pixels", ["default", "tiny"])
def test_one_pixel_budget_reaches_processor_and_vllm(pixels):
    cfg = compose_stage("pathvlm_grpo", [f"pixels={pixels}"])
    OmegaConf.resolve(cfg)
    budget = OmegaConf.load(f"conf/pixels/{pixels}.yaml")
    expected = {"min_pixels": budget.min_pixels, "max_pixels": budget.max_pixels}
    assert cfg.data.mm_processor_kwargs == expected
    assert cfg.actor_rollout_ref.rollout.engine_kwargs.vllm.mm_processor_kwargs == expected


def test_sft_config_holds_the_paper_settings():
    cfg = compose_stage("pathvlm_sft", [])
    OmegaConf.resolve(cfg)
    assert cfg.optim.lr == 2e-5 and cfg.optim.lr_scheduler_type == "cosine"
    assert cfg.data.max_length == 1024 and cfg.trainer.total_epochs == 10
    assert cfg.data.messages_key == "messages"
    optim = omega_conf_to_dataclass(cfg.optim)
    assert optim.lr == 2e-5


@pytest.mark.parametrize("config_name,key", [("pathvlm_sft", "model"), ("pathvlm_grpo", "actor_rollout_ref.model")])
def test_vision_tower_is_frozen_in_every_stage(config_name, key):
    cfg = compose_stage(config_name, [])
    assert OmegaConf.select(cfg, f"{key}.override_config.freeze_vision_tower") is True
