"""Every shipped YAML composes onto verl 0.9.1's real config tree, and the keys land where verl reads them."""

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from omegaconf import OmegaConf
from PIL import Image
from verl.trainer.ppo.reward import get_custom_reward_fn
from verl.trainer.ppo.utils import need_critic, need_reference_policy
from verl.utils.config import omega_conf_to_dataclass, validate_config

from pathvlm_verl.frozen_vision import check_fsdp1_can_freeze
from recipes.preflight import compose_stage

# One image token covers a 28 x 28 patch after Qwen2.5-VL's 2 x 2 merge.
PIXELS_PER_IMAGE_TOKEN = 28 * 28
IMAGE_PAD = 151655


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


def test_sft_settings_do_what_their_comments_say():
    cfg = compose_stage("pathvlm_sft", [])
    # verl's SFT trainer turns this value into the epoch's step count, whatever the number of GPUs.
    assert cfg.trainer.save_freq == "after_each_epoch"
    # Without it verl packs micro batches by tokens and never reads micro_batch_size_per_gpu.
    assert cfg.data.use_dynamic_bsz is False and cfg.data.micro_batch_size_per_gpu == 2


@pytest.mark.parametrize("config_name,key", [("pathvlm_sft", "trainer.max_ckpt_to_keep"),
                                             ("pathvlm_grpo", "trainer.max_actor_ckpt_to_keep")])
def test_every_stage_keeps_its_last_two_checkpoints(config_name, key):
    # The keys verl 0.9.1's SFT trainer and PPO trainer pass to their checkpoint managers.
    assert OmegaConf.select(compose_stage(config_name, []), key) == 2


@pytest.mark.parametrize("nnodes,gpus_per_node", [(1, 4), (1, 8), (2, 8)])
def test_one_cluster_setting_shapes_grpo_and_passes_verl_validation(nnodes, gpus_per_node):
    cfg = compose_stage("pathvlm_grpo", [f"cluster.nnodes={nnodes}", f"cluster.gpus_per_node={gpus_per_node}"])
    assert (cfg.trainer.nnodes, cfg.trainer.n_gpus_per_node) == (nnodes, gpus_per_node)
    validate_config(cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))


def test_sft_follows_the_same_cluster_setting():
    cfg = compose_stage("pathvlm_sft", ["cluster.nnodes=2", "cluster.gpus_per_node=8"])
    assert (cfg.trainer.nnodes, cfg.trainer.n_gpus_per_node) == (2, 8)


def _png(side: int) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, size=(side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def tokenizer_processor(tiny_ckpt):
    from verl.utils import hf_processor, hf_tokenizer

    return hf_tokenizer(tiny_ckpt), hf_processor(tiny_ckpt)


@pytest.mark.parametrize("side", [56, 1024])  # 1024: an image data_prep did not resize to the budget
def test_sft_dataset_applies_the_pixel_budget(tokenizer_processor, tmp_path, side):
    from verl.trainer.sft_trainer import create_sft_dataset

    row = {"messages": [{"role": "user", "content": "<image>Which tissue?\nA) epithelium\nB) muscle"},
                        {"role": "assistant", "content": "<think>A surface lining.</think><answer>A</answer>"}],
           "images": [{"bytes": _png(side), "path": "image.png"}]}
    pq.write_table(pa.Table.from_pylist([row]), tmp_path / "sft.parquet")
    cfg = compose_stage("pathvlm_sft", ["pixels=tiny"])
    # The data node exactly as verl's SFT trainer passes it (struct, unresolved).
    dataset = create_sft_dataset([str(tmp_path / "sft.parquet")], cfg.data, *tokenizer_processor)
    item = dataset[0]
    image_tokens = int((item["input_ids"] == IMAGE_PAD).sum())
    assert image_tokens == int(item["multi_modal_inputs"]["image_grid_thw"].prod()) // 4
    assert 0 < image_tokens <= cfg.pixels.max_pixels // PIXELS_PER_IMAGE_TOKEN
    assert len(item["input_ids"]) <= cfg.data.max_length


@pytest.mark.parametrize("config_name,key", [("pathvlm_sft", "model"), ("pathvlm_grpo", "actor_rollout_ref.model")])
def test_vision_tower_is_frozen_in_every_stage(config_name, key):
    cfg = compose_stage(config_name, [])
    assert OmegaConf.select(cfg, f"{key}.override_config.freeze_vision_tower") is True
    # verl imports it before building the engine (tests/pathvlm_verl/test_stage_engines_on_cpu.py runs it).
    assert OmegaConf.select(cfg, f"{key}.external_lib") == "pathvlm_verl"


@pytest.mark.parametrize("config_name,model_key,engine_key,strategy_override", [
    ("pathvlm_sft", "model", "engine", "engine.strategy=fsdp"),
    ("pathvlm_grpo", "actor_rollout_ref.model", "actor_rollout_ref.actor", "actor_rollout_ref.actor.strategy=fsdp"),
])
def test_fsdp1_freezes_with_the_stage_configs(tiny_ckpt, config_name, model_key, engine_key, strategy_override):
    # strategy=fsdp (verl's default) with the frozen tower: the configs' use_orig_params lets FSDP1 wrap it.
    cfg = compose_stage(config_name, [strategy_override, f"{model_key}.path={tiny_ckpt}"])
    OmegaConf.resolve(cfg)
    model_config = omega_conf_to_dataclass(OmegaConf.select(cfg, model_key))
    engine_config = omega_conf_to_dataclass(OmegaConf.select(cfg, engine_key))
    engine_config = getattr(engine_config, "engine", engine_config)  # the actor config holds its engine's
    assert engine_config.strategy == "fsdp" and engine_config.use_orig_params
    check_fsdp1_can_freeze(model_config, engine_config)


JUDGE = "reward.custom_reward_function.reward_kwargs.judge"
# The keys each judge preset sets (conf/judge/), with the environment variables unset.
JUDGE_PRESETS = {
    "gpt4o": {"backend": "openai", "model": "gpt-4o", "base_url": None, "api_key_env": "OPENAI_API_KEY"},
    "vllm_local": {"backend": "openai", "model": "Qwen/Qwen2.5-VL-72B-Instruct",
                   "base_url": "http://127.0.0.1:8000/v1", "api_key_env": None},
    "transformers_local": {"backend": "openai", "model": "Qwen/Qwen2.5-VL-7B-Instruct",
                           "base_url": "http://127.0.0.1:8000/v1", "api_key_env": None},
    "in_process": {"backend": "transformers", "model": "Qwen/Qwen2.5-VL-7B-Instruct", "base_url": None,
                   "api_key_env": None},
}


def _judge_of(cfg) -> dict:
    """The judge settings as verl hands them to the reward (resolved), validated by the reward's own parser."""
    from pathvlm_rewards import parse_reward_kwargs

    kwargs = get_custom_reward_fn(cfg).args[1]
    judge = parse_reward_kwargs(OmegaConf.to_container(OmegaConf.create(kwargs), resolve=True)).judge
    return {key: getattr(judge, key) for key in ("backend", "model", "base_url", "api_key_env")}


@pytest.mark.parametrize("preset", sorted(JUDGE_PRESETS))
def test_each_judge_preset_composes_onto_verl_and_sets_the_judge_keys(preset, monkeypatch):
    for name in ("JUDGE_BASE_URL", "JUDGE_MODEL"):
        monkeypatch.delenv(name, raising=False)
    # Concurrency and timeout are in every preset, so they override without `+` (Hydra refuses a missing key).
    cfg = compose_stage("pathvlm_grpo", ["rewards=dual", f"judge={preset}", f"{JUDGE}.max_concurrency=3"])
    validate_config(cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))
    assert _judge_of(cfg) == JUDGE_PRESETS[preset]
    assert OmegaConf.select(cfg, f"{JUDGE}.max_concurrency") == 3 and OmegaConf.select(cfg, f"{JUDGE}.timeout_s") > 0


def test_the_default_judge_is_the_papers_gpt4o_with_the_rewards_defaults():
    from pathvlm_rewards.config import defaults

    cfg = compose_stage("pathvlm_grpo", ["rewards=dual"])
    judge = cfg.reward.custom_reward_function.reward_kwargs.judge
    assert _judge_of(cfg) == JUDGE_PRESETS["gpt4o"]
    # The preset restates the defaults it sets: the paper's judge behaves as before presets existed.
    assert {key: judge[key] for key in judge} == {key: defaults()["judge"][key] for key in judge}


@pytest.mark.parametrize("preset", ["vllm_local", "transformers_local"])
def test_a_self_hosted_preset_reads_the_address_serve_judge_prints(preset, monkeypatch):
    monkeypatch.setenv("JUDGE_BASE_URL", "http://10.0.0.7:8000/v1")
    monkeypatch.setenv("JUDGE_MODEL", "/models/judge")
    cfg = compose_stage("pathvlm_grpo", ["rewards=dual", f"judge={preset}"])
    assert _judge_of(cfg)["base_url"] == "http://10.0.0.7:8000/v1" and _judge_of(cfg)["model"] == "/models/judge"


@pytest.mark.parametrize("overrides, backend", [
    # The CPU profile judges in process (its defaults select judge=in_process) ...
    (["+profile=cpu_tiny"], "transformers"),
    # ... and a judge chosen on the command line wins over the profile's choice (recipes/demo_cpu's served judge).
    (["+profile=cpu_tiny", "judge=transformers_local"], "openai"),
])
def test_the_command_line_judge_wins_over_the_cpu_profile(overrides, backend):
    cfg = compose_stage("pathvlm_grpo", ["rewards=dual", *overrides])
    assert _judge_of(cfg)["backend"] == backend
    # The profile's settings for the tiny random judge stay whichever preset serves it.
    assert OmegaConf.select(cfg, f"{JUDGE}.reasks") == 0 and OmegaConf.select(cfg, f"{JUDGE}.max_tokens") == 16


def test_the_evaluation_takes_the_same_judge_presets():
    from hydra import compose, initialize_config_dir

    from recipes.preflight import default_conf_dir

    with initialize_config_dir(config_dir=str(default_conf_dir()), version_base=None):
        cfg = compose("pathvlm_eval", overrides=["rewards@scoring.reward_kwargs=dual",
                                                 "judge@scoring.reward_kwargs.judge=vllm_local"])
    assert cfg.scoring.reward_kwargs.weights.process == 1.0
    assert cfg.scoring.reward_kwargs.judge.api_key_env is None and cfg.scoring.reward_kwargs.judge.backend == "openai"
