"""The preflight, on the tiny Qwen2.5-VL and the demo data: clean on a good config, and one clear
blocker naming the key for each planted fault."""

import pyarrow.parquet as pq

from recipes.preflight import compose_stage, main, run_checks


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
