"""The preflight, on the tiny Qwen2.5-VL and the demo data: clean on a good config, and one clear
blocker naming the key for each planted fault."""

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from recipes.preflight import (
    check_gpus,
    check_memory,
    check_verl_validation,
    compose_stage,
    main,
    model_shape,
    plan_overrides,
    rl_memory_phases,
    run_checks,
)


def _grpo_overrides(tiny_ckpt, data_dir, train_file=None):
    return [
        f"actor_rollout_ref.model.path={tiny_ckpt}",
        f"data.train_files={train_file or data_dir / 'grpo_train.parquet'}",
        f"data.val_files={data_dir / 'test.parquet'}",
        "pixels=tiny",
        "trainer.n_gpus_per_node=1",
        "data.train_batch_size=4",
        "actor_rollout_ref.actor.ppo_mini_batch_size=4",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=1",
    ]


def _blockers(findings):
    return {f.key: f.message for f in findings if f.level == "BLOCKER"}


def _run(tiny_ckpt, data_dir, extra=(), train_file=None):
    cfg = compose_stage("pathvlm_grpo", _grpo_overrides(tiny_ckpt, data_dir, train_file) + list(extra))
    return run_checks(cfg, rows=8, gpu_gib=80, visible_gpus=1)


def test_a_good_stage2_config_has_no_blocker(tiny_ckpt, demo_data):
    findings = _run(tiny_ckpt, demo_data)
    assert not _blockers(findings), findings
    ok = {f.key for f in findings if f.level == "OK"}
    assert {"reward.custom_reward_function.path", "data.max_prompt_length", "actor_rollout_ref.model.path"} <= ok


def test_missing_image_placeholder_is_caught(tiny_ckpt, demo_data, tmp_path):
    table = pq.read_table(demo_data / "grpo_train.parquet").to_pylist()
    table[1]["prompt"][-1]["content"] = table[1]["prompt"][-1]["content"].replace("<image>", "")
    broken = tmp_path / "broken.parquet"
    pq.write_table(pq.read_table(demo_data / "grpo_train.parquet").from_pylist(table), broken)
    blockers = _blockers(_run(tiny_ckpt, demo_data, train_file=broken))
    assert "rows [1]" in blockers["data.train_files"]


def test_prompt_too_long_is_caught(tiny_ckpt, demo_data):
    too_short = ["data.max_prompt_length=32", "data.filter_overlong_prompts=false"]
    blockers = _blockers(_run(tiny_ckpt, demo_data, too_short))
    assert "too long" in blockers["data.max_prompt_length"]


def test_wrong_reward_path_is_caught(tiny_ckpt, demo_data):
    blockers = _blockers(_run(tiny_ckpt, demo_data, ["reward.custom_reward_function.path=pkg://no_such_reward_pkg"]))
    assert "cannot load the reward function" in blockers["reward.custom_reward_function.path"]


def test_legacy_top_level_reward_key_is_refused(tiny_ckpt, demo_data):
    blockers = _blockers(_run(tiny_ckpt, demo_data, ["custom_reward_function.path=pkg://pathvlm_rewards"]))
    assert "ignores the top-level key" in blockers["custom_reward_function.path"]


def test_more_gpus_than_available_is_caught(tiny_ckpt, demo_data):
    blockers = _blockers(_run(tiny_ckpt, demo_data, ["trainer.n_gpus_per_node=8"]))
    assert blockers, "8 GPUs declared on a node with 1 must block"


def test_sft_config_loads_through_verl_sft_dataset(tiny_ckpt, demo_data):
    overrides = [f"model.path={tiny_ckpt}", f"data.train_files={demo_data / 'sft_train.parquet'}"]
    cfg = compose_stage("pathvlm_sft", overrides)
    findings = run_checks(cfg, rows=4, visible_gpus=0)
    assert not _blockers(findings), findings
    assert any(f.key == "data.max_length" and f.level == "OK" for f in findings)


def test_cli_exit_status(tiny_ckpt, demo_data, capsys):
    args = ["--config-name", "pathvlm_grpo", "--rows", "4", *_grpo_overrides(tiny_ckpt, demo_data),
            "+ray_kwargs.ray_init.num_gpus=1"]
    assert main(args) == 0
    assert main([*args, "data.max_prompt_length=32", "data.filter_overlong_prompts=false"]) == 1
    assert "BLOCKER data.max_prompt_length" in capsys.readouterr().out


# ---------------------------------------------------------------- planning for a GPU cluster from this CPU machine

# Qwen2.5-VL-7B-Instruct's public config.json (the model itself is not available offline).
QWEN25_VL_7B_CONFIG = Path(__file__).parents[2] / "recipes" / "model_shapes" / "qwen2_5_vl_7b.json"
MODEL_KEY = {"pathvlm_grpo": "actor_rollout_ref.model.path", "pathvlm_sft": "model.path"}


@pytest.fixture(scope="module")
def qwen7b(tmp_path_factory, tiny_ckpt):
    """A weightless Qwen2.5-VL-7B folder: the 7B config beside the tiny checkpoint's real Qwen2.5 tokenizer
    and Qwen2.5-VL processor (no weights are read: parameters are counted on the meta device)."""
    folder = tmp_path_factory.mktemp("qwen2.5-vl-7b")
    for path in Path(tiny_ckpt).iterdir():
        if path.name not in {"config.json", "model.safetensors"}:
            shutil.copy(path, folder / path.name)
    shutil.copy(QWEN25_VL_7B_CONFIG, folder / "config.json")
    return folder


def _plan(config_name, model, nodes, gpus, extra=()):
    overrides = [f"{MODEL_KEY[config_name]}={model}", *extra, *plan_overrides(nodes, gpus)]
    return compose_stage(config_name, overrides)


def _parts(cfg, model, gpu_gib=80):
    phases = rl_memory_phases(cfg, model_shape(str(model)), gpu_gib)
    return {(phase.name, part.what.split(" (")[0]): part.gib for phase in phases for part in phase.parts}


def test_the_7b_fixture_counts_as_qwen2_5_vl_7b(qwen7b):
    shape = model_shape(str(qwen7b))
    assert shape.params == 8_292_166_656  # ~8.29B, as published
    assert shape.vision_params == 676_550_144
    assert shape.largest_unit_params == 152064 * 3584  # lm_head / embed_tokens, untied


@pytest.mark.parametrize("config_name, nodes, gpus", [
    ("pathvlm_grpo", 1, 4),  # the paper's hardware class: one node of 4 x 80 GB
    ("pathvlm_grpo", 1, 8),
    ("pathvlm_grpo", 2, 8),
    ("pathvlm_sft", 1, 4),
    ("pathvlm_sft", 1, 8),
    ("pathvlm_sft", 2, 8),
])
def test_shipped_7b_configs_fit_80_gib_clusters_planned_without_local_gpus(qwen7b, config_name, nodes, gpus):
    cfg = _plan(config_name, qwen7b, nodes, gpus)
    assert (cfg.trainer.nnodes, cfg.trainer.n_gpus_per_node) == (nodes, gpus)
    findings = list(check_memory(cfg, gpu_gib=80))
    if config_name == "pathvlm_grpo":
        findings += [*check_verl_validation(cfg), *check_gpus(cfg, visible_gpus=None)]
        assert any("local GPUs not checked" in f.message for f in findings)
    assert not _blockers(findings), findings
    phases = {f.message.split(":")[0] for f in findings if " GiB per GPU (" in f.message}
    assert phases == ({"generation", "log-prob", "training"} if config_name == "pathvlm_grpo" else {"training"})


@pytest.mark.parametrize("config_name, keys", [
    # 8.29B fp32 params + Adam cannot fit one 24 GiB GPU, and vLLM's 0.6 x 24 GiB cannot hold the bf16 weights.
    ("pathvlm_grpo", {"actor_rollout_ref.actor.fsdp_config.offload_policy",
                      "actor_rollout_ref.rollout.gpu_memory_utilization"}),
    ("pathvlm_sft", {"engine.offload_policy"}),
])
def test_a_plan_that_does_not_fit_blocks_naming_the_key(qwen7b, config_name, keys):
    blockers = _blockers(check_memory(_plan(config_name, qwen7b, 1, 1), gpu_gib=24))
    assert keys <= blockers.keys(), blockers
    assert all("exceeds the GPU" in blockers[key] or "KV cache" in blockers[key] for key in keys)


FSDP = "actor_rollout_ref.actor.fsdp_config"


@pytest.fixture(scope="module")
def shipped_1x4_parts(qwen7b):
    return _parts(_plan("pathvlm_grpo", qwen7b, 1, 4), qwen7b)


@pytest.mark.parametrize("override, changed", [
    # param_offload: params leave the GPU while vLLM generates, and come back for log-probs and training.
    (f"{FSDP}.param_offload=true", {("generation", "params"): 0.0}),
    # optimizer_offload: Adam is on the GPU only while training.
    (f"{FSDP}.optimizer_offload=true", {("generation", "optimizer"): 0.0, ("log-prob", "optimizer"): 0.0}),
    # FSDP2's CPU offload policy keeps every state in host memory, even while training.
    (f"{FSDP}.offload_policy=true", {(phase, state): 0.0 for phase in ("generation", "log-prob", "training")
                                     for state in ("params", "optimizer")} | {("training", "grads"): 0.0}),
    # Training the vision tower adds its gradients and Adam moments (fp32, sharded over 4 GPUs).
    ("actor_rollout_ref.model.override_config.freeze_vision_tower=false",
     {("training", "grads"): "+1", ("training", "optimizer"): "+2", ("generation", "optimizer"): "+2",
      ("log-prob", "optimizer"): "+2"}),
    # Deferred gradient sync keeps whole (unsharded) gradients: 4x the sharded ones on 4 GPUs.
    (f"{FSDP}.use_no_sync_for_gradient_accumulation=true", {("training", "grads"): "x4"}),
])
def test_memory_model_follows_verl_offload_and_freeze_settings(qwen7b, shipped_1x4_parts, override, changed):
    base = shipped_1x4_parts
    planned = _parts(_plan("pathvlm_grpo", qwen7b, 1, 4, [override]), qwen7b)
    vision_fp32_per_gpu = 676_550_144 * 4 / 4 / 1024**3
    expected = dict(base)
    for part, change in changed.items():
        if change == "x4":
            expected[part] = base[part] * 4
        elif isinstance(change, str):
            expected[part] = base[part] + int(change) * vision_fp32_per_gpu
        else:
            expected[part] = change
    assert planned == pytest.approx(expected)


def test_rollout_that_stays_awake_is_counted_while_training(qwen7b):
    parts = _parts(_plan("pathvlm_grpo", qwen7b, 1, 4, ["actor_rollout_ref.rollout.free_cache_engine=false"]), qwen7b)
    assert parts[("training", "vLLM awake")] == pytest.approx(0.6 * 80)


@pytest.mark.parametrize("gpus, visible, virtual, blocked", [
    (8, None, None, False),  # planning (no CUDA GPU here, or a plan flag given): local GPUs not counted
    (8, 1, None, True),  # the run happens here, on a node with 1 GPU
    (4, 4, None, False),
    (8, None, 1, True),  # CPU profile: the virtual GPU count is this machine's, planning or not
])
def test_gpu_count_is_checked_only_when_the_run_happens_here(tiny_ckpt, gpus, visible, virtual, blocked):
    extra = [] if virtual is None else [f"+ray_kwargs.ray_init.num_gpus={virtual}"]
    cfg = _plan("pathvlm_grpo", tiny_ckpt, 1, gpus, extra)
    assert ("trainer.n_gpus_per_node" in _blockers(check_gpus(cfg, visible))) is blocked


def test_cli_plans_a_2x8_cluster_for_the_7b_model_from_a_gpu_less_machine(qwen7b, demo_data, capsys):
    args = ["--config-name", "pathvlm_grpo", "--rows", "4", "--nodes", "2", "--gpus-per-node", "8",
            "--gpu-memory-gib", "80", f"actor_rollout_ref.model.path={qwen7b}",
            f"data.train_files={demo_data / 'grpo_train.parquet'}", f"data.val_files={demo_data / 'test.parquet'}",
            "pixels=tiny"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "planning for 2 x 8 GPU(s)" in out and "local GPUs not checked" in out
    assert "training: " in out and "of 80 GiB per GPU" in out
