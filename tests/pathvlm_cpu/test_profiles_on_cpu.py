"""The CPU profiles compose last onto the project's own configs and win over their GPU settings."""

import os

import pathvlm_conf
import pytest
from hydra import compose, initialize_config_dir, initialize_config_module
from omegaconf import OmegaConf

CONF_DIR = os.path.dirname(pathvlm_conf.__file__)


@pytest.mark.parametrize(
    ("config", "profile", "expected"),
    [
        ("pathvlm_grpo", "cpu", {
            "actor_rollout_ref.rollout.name": "hf",  # pathvlm_grpo says vllm
            "actor_rollout_ref.model.use_remove_padding": False,  # pathvlm_grpo says true
            "actor_rollout_ref.model.override_config.attn_implementation": "sdpa",
            "actor_rollout_ref.model.override_config.freeze_vision_tower": True,  # merged, not replaced
            "actor_rollout_ref.ref.fsdp_config.strategy": "fsdp2",
            "ray_kwargs.ray_init.num_gpus": 1,
            "transfer_queue.backend.SimpleStorage.num_data_storage_units": 1,
            "cluster.gpus_per_node": 1,  # conf/cluster/default.yaml says 4
            "trainer.n_gpus_per_node": 1,  # read from the cluster setting
            "actor_rollout_ref.model.external_lib": "pathvlm_verl",  # kept: the engine that freezes
        }),
        ("pathvlm_sft", "cpu_sft", {
            "engine.strategy": "fsdp2",
            "model.use_remove_padding": False,
            "model.override_config.attn_implementation": "sdpa",
            "trainer.device": "cpu",
            "cluster.gpus_per_node": 1,
            "trainer.n_gpus_per_node": 1,
            "model.external_lib": "pathvlm_verl",
        }),
    ],
)
def test_profile_overrides_the_recipe_config(config, profile, expected):
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        composed = compose(config_name=config, overrides=[f"+profile={profile}"])
    assert {key: OmegaConf.select(composed, key) for key in expected} == expected


@pytest.mark.parametrize("config,profile", [("ppo_trainer", "cpu"), ("sft_trainer_engine", "cpu_sft")])
def test_profile_also_shapes_verls_own_config(config, profile):
    # verl's configs have no `cluster` group (tests/pathvlm_cpu/test_verl_entrypoints_on_cpu.py runs them).
    with initialize_config_module(config_module="verl.trainer.config", version_base=None):
        composed = compose(config_name=config,
                           overrides=["hydra.searchpath=[pkg://pathvlm_conf]", f"+profile={profile}"])
    assert (composed.trainer.nnodes, composed.trainer.n_gpus_per_node) == (1, 1)
