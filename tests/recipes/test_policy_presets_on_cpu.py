"""The `policy=` presets: each composes onto verl's real config trees (SFT, PPO) and the evaluation's, passes
verl's validation, lands its values where verl reads them, and fits the GPUs its header names; the real models'
config.json shapes parse and count as published."""

import os
import subprocess
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from transformers import AutoConfig
from verl.trainer.ppo.utils import need_critic, need_reference_policy
from verl.utils.config import omega_conf_to_dataclass, validate_config

from pathvlm_eval.config import load_config
from recipes.preflight import compose_stage, model_shape
from recipes.vram_plan import SHAPES_DIR, STAGES, fits, planned_policies, stage_config

REPO = Path(__file__).parents[2]
CONF = REPO / "conf"
PRESETS = sorted(path.stem for path in (CONF / "policy").glob("*.yaml"))
PLANNED = sorted(planned_policies(CONF))


def _policy(name):
    return OmegaConf.load(CONF / "policy" / f"{name}.yaml")


def test_the_issue_s_presets_exist():
    assert {"qwen2_5_vl_3b", "qwen2_5_vl_7b", "qwen2_5_vl_32b", "qwen3_vl_8b", "lingshu_7b", "tiny"} <= set(PRESETS)


@pytest.mark.parametrize("preset", PRESETS)
def test_grpo_takes_the_preset_and_passes_verl_validation(preset):
    cfg = compose_stage("pathvlm_grpo", [f"policy={preset}"])
    validate_config(cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))
    policy = _policy(preset).grpo
    arr = cfg.actor_rollout_ref
    # verl builds its typed configs from these nodes; a misplaced key would fail or differ here.
    rollout = omega_conf_to_dataclass(arr.rollout)
    assert rollout.tensor_model_parallel_size == policy.rollout_tensor_parallel_size
    assert rollout.gpu_memory_utilization == policy.rollout_gpu_memory_utilization
    assert rollout.log_prob_micro_batch_size_per_gpu == policy.log_prob_micro_batch_size_per_gpu
    assert arr.ref.log_prob_micro_batch_size_per_gpu == policy.log_prob_micro_batch_size_per_gpu
    assert arr.actor.ppo_micro_batch_size_per_gpu == policy.ppo_micro_batch_size_per_gpu
    engine = omega_conf_to_dataclass(arr.actor.fsdp_config)
    assert (engine.param_offload, engine.optimizer_offload) == (policy.param_offload, policy.optimizer_offload)
    assert cfg.data.image_patch_size == _policy(preset).image_patch_size
    # Stage 2 starts from stage 1's export (its launcher passes MODEL), whatever the preset.
    assert arr.model.path == "runs/stage1_sft/hf"


@pytest.mark.parametrize("preset", PRESETS)
def test_sft_takes_the_preset(preset):
    cfg = compose_stage("pathvlm_sft", [f"policy={preset}"])
    policy = _policy(preset)
    assert cfg.model.path == policy.path
    assert cfg.data.micro_batch_size_per_gpu == policy.sft.micro_batch_size_per_gpu
    assert omega_conf_to_dataclass(cfg.engine).offload_policy == policy.sft.offload_policy
    # The per-GPU batch of the shipped 32 sequences splits into whole micro-batches on the preset's cluster.
    gpus = policy.gpus.nodes * policy.gpus.gpus_per_node if policy.gpus else 1
    assert (cfg.data.train_batch_size // gpus) % cfg.data.micro_batch_size_per_gpu == 0


@pytest.mark.parametrize("preset", PRESETS)
def test_evaluation_sizes_its_vllm_engine_from_the_preset(preset, tmp_path):
    cfg = compose_stage("pathvlm_eval", [f"policy={preset}", "+models.m.path=/ckpt", "data.files=[t.parquet]",
                                         f"output_dir={tmp_path}"])
    vllm = load_config(cfg).engine_options["vllm"]
    policy = _policy(preset).eval
    assert (vllm["tensor_parallel_size"], vllm["gpu_memory_utilization"]) == (policy.tensor_parallel_size,
                                                                              policy.gpu_memory_utilization)


@pytest.mark.parametrize("config_name", ["pathvlm_sft", "pathvlm_grpo", "pathvlm_eval"])
def test_the_paper_s_7b_is_the_default_policy(config_name):
    default = OmegaConf.to_container(compose_stage(config_name, []), resolve=True)
    chosen = OmegaConf.to_container(compose_stage(config_name, ["policy=qwen2_5_vl_7b"]), resolve=True)
    assert default == chosen
    assert default["policy"]["path"] == "Qwen/Qwen2.5-VL-7B-Instruct"


@pytest.mark.parametrize("preset", [p for p in PLANNED if _policy(p).gpus])
@pytest.mark.parametrize("stage", list(STAGES))
def test_each_stage_fits_the_gpus_the_preset_names(preset, stage):
    gpus = _policy(preset).gpus
    cfg = stage_config(preset, planned_policies(CONF)[preset], stage, CONF)
    cfg.trainer.nnodes, cfg.trainer.n_gpus_per_node = gpus.nodes, gpus.gpus_per_node
    assert fits(cfg, gpus.memory_gb)
    if "actor_rollout_ref" in cfg:
        # verl's batch-size checks on that cluster, which the memory plan does not make.
        validate_config(cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))


# Published sizes (Hugging Face model cards): Qwen2.5-VL-3B 3.75B, 7B 8.29B (Lingshu-7B is a Qwen2.5-VL-7B),
# 32B 33.5B, Qwen3-VL-8B 8.77B parameters.
@pytest.mark.parametrize("shapes, architecture, vocab, published_params", [
    ("qwen2_5_vl_3b", "Qwen2_5_VLForConditionalGeneration", 151936, 3.75e9),
    ("qwen2_5_vl_7b", "Qwen2_5_VLForConditionalGeneration", 152064, 8.29e9),
    ("lingshu_7b", "Qwen2_5_VLForConditionalGeneration", 152064, 8.29e9),
    ("qwen2_5_vl_32b", "Qwen2_5_VLForConditionalGeneration", 152064, 33.5e9),
    ("qwen3_vl_8b", "Qwen3VLForConditionalGeneration", 151936, 8.77e9),
])
def test_model_shapes_parse_and_count_as_published(shapes, architecture, vocab, published_params):
    config = AutoConfig.from_pretrained(SHAPES_DIR / f"{shapes}.json")
    assert config.architectures == [architecture]
    assert config.get_text_config().vocab_size == vocab
    assert model_shape(str(SHAPES_DIR / f"{shapes}.json")).params == pytest.approx(published_params, rel=0.005)


@pytest.mark.parametrize("preset", PLANNED)
def test_the_dataset_resizes_images_by_the_model_s_own_patch(preset):
    # Qwen3-VL's patches are 16 pixels, verl's data default 14: the preset must carry the model's value.
    config = AutoConfig.from_pretrained(planned_policies(CONF)[preset])
    assert _policy(preset).image_patch_size == config.vision_config.patch_size


@pytest.mark.parametrize("profile, config_name, micro_key, preset_key", [
    ("cpu_tiny", "pathvlm_grpo", "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu",
     "grpo.ppo_micro_batch_size_per_gpu"),
    ("cpu_tiny_sft", "pathvlm_sft", "data.micro_batch_size_per_gpu", "sft.micro_batch_size_per_gpu"),
])
def test_the_cpu_profiles_use_the_tiny_policy(profile, config_name, micro_key, preset_key):
    cfg = compose_stage(config_name, [f"+profile={profile}"])
    tiny = _policy("tiny")
    assert cfg.policy.path == tiny.path
    assert OmegaConf.select(cfg, micro_key) == OmegaConf.select(tiny, preset_key)


def _stage1_command(env):
    """recipes/stage1_sft's trainer arguments, printed by `echo` standing in for the Python interpreter."""
    env = {**{k: v for k, v in os.environ.items() if k not in {"MODEL", "RAY_ADDRESS"}},
           "PYTHON": "echo", "GPUS_PER_NODE": "1", **env}
    out = subprocess.run(["bash", "recipes/stage1_sft", "policy=qwen2_5_vl_3b"], cwd=REPO, env=env,
                         capture_output=True, text=True, check=True).stdout
    trainer = next(line for line in out.splitlines() if "verl.trainer.sft_trainer" in line)
    return [arg for arg in trainer.split() if "=" in arg and not arg.startswith("--")]


@pytest.mark.parametrize("model, expected", [
    (None, "Qwen/Qwen2.5-VL-3B-Instruct"),  # no MODEL: the preset's base checkpoint
    ("/ckpt/my-vlm", "/ckpt/my-vlm"),  # MODEL replaces it
])
def test_model_env_overrides_the_preset_path(model, expected):
    overrides = _stage1_command({"MODEL": model} if model else {})
    assert compose_stage("pathvlm_sft", overrides).model.path == expected
