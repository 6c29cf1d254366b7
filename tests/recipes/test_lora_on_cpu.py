"""`lora=` (conf/lora/): `off` keeps verl's defaults and the paper's learning rates; `on` is verl 0.9.1's LoRA on
the language model only, in stage 1 and stages 2-3. The end-to-end run (stage 1 -> stage 2 -> export ->
evaluation with `lora=on`, through verl's real SFT trainer and main_ppo with the hf rollout) is marked `long`."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from safetensors.torch import load_file
from verl.trainer.ppo.utils import need_critic, need_reference_policy
from verl.utils.config import omega_conf_to_dataclass, validate_config
from verl.workers.config import HFModelConfig

from recipes.preflight import DEFAULT_CONF_DIR, compose_stage

# Where each stage config puts verl's model node and its learning rate.
STAGES = {
    "pathvlm_sft": ("model", "optim.lr"),
    "pathvlm_grpo": ("actor_rollout_ref.model", "actor_rollout_ref.actor.optim.lr"),
}
# The paper's learning rates (stage 1: 2e-5; the authors' stage-2 rerun: 1e-6), and lora=on's tenfold.
PAPER_LR = {"pathvlm_sft": 2e-5, "pathvlm_grpo": 1e-6}
LM_LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
VERL_DEFAULTS = {field.name: field.default for field in dataclasses.fields(HFModelConfig)}


def _stage(config: str, overrides: list[str]):
    cfg = compose_stage(config, overrides, DEFAULT_CONF_DIR)
    OmegaConf.resolve(cfg)
    model_key, lr_key = STAGES[config]
    return cfg, OmegaConf.select(cfg, model_key), OmegaConf.select(cfg, lr_key)


@pytest.mark.parametrize("config", STAGES)
@pytest.mark.parametrize("overrides", [[], ["lora=off"]])  # the default and the explicit choice agree
def test_lora_off_is_todays_full_fine_tuning(config, overrides):
    _, model, lr = _stage(config, overrides)
    for key in ("lora_rank", "lora_alpha", "target_modules", "exclude_modules"):
        assert model[key] == VERL_DEFAULTS[key], key
    assert lr == PAPER_LR[config]


@pytest.mark.parametrize("config", STAGES)
def test_lora_on_sets_verls_lora_keys_on_the_language_model(config, tiny_ckpt):
    cfg, model, lr = _stage(config, ["lora=on"])
    preset = OmegaConf.load(DEFAULT_CONF_DIR / "lora" / "on.yaml")
    assert (model.lora_rank, model.lora_alpha) == (preset.rank, preset.alpha) and model.lora_rank >= 32
    assert model.target_modules == "all-linear"
    assert lr == pytest.approx(10 * PAPER_LR[config])
    # verl builds its typed model config from this node (the stage's model swapped for the tiny checkpoint).
    typed = omega_conf_to_dataclass(OmegaConf.merge(model, {"path": str(tiny_ckpt)}), dataclass_type=HFModelConfig)
    assert typed.lora_rank == preset.rank and typed.exclude_modules == preset.exclude_modules


def test_grpo_with_lora_passes_verl_validation_and_syncs_merged_weights():
    cfg, model, _ = _stage("pathvlm_grpo", ["lora=on"])
    validate_config(cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))
    # The rollout gets base + adapter as plain weights (vLLM without LoRA kernels, and the CPU backend's hf rollout).
    assert model.lora.merge is True
    assert cfg.actor_rollout_ref.model.override_config.freeze_vision_tower is True


def test_lora_on_adapts_every_language_model_linear_and_no_vision_layer(tiny_ckpt):
    from peft import LoraConfig, get_peft_model
    from peft.tuners.lora import LoraLayer
    from transformers import AutoModelForImageTextToText

    _, model_cfg, _ = _stage("pathvlm_sft", ["lora=on"])
    model = AutoModelForImageTextToText.from_pretrained(tiny_ckpt)
    linears = {name for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)}
    # The keys verl's FSDP engine hands to peft (transformer_impl._build_lora_module).
    peft_model = get_peft_model(model, LoraConfig(r=model_cfg.lora_rank, lora_alpha=model_cfg.lora_alpha,
                                                  target_modules=model_cfg.target_modules,
                                                  exclude_modules=model_cfg.exclude_modules))
    adapted = {name.removeprefix("base_model.model.") for name, module in peft_model.named_modules()
               if isinstance(module, LoraLayer)}
    language = {name for name in linears if "visual" not in name and not name.startswith("lm_head")}
    assert adapted == language
    assert all(name.rsplit(".", 1)[-1] in LM_LINEARS for name in adapted)
    # the vision tower has linear layers of the same names (its MLP's gate/up/down_proj), all left alone
    assert any(name.endswith("visual.blocks.0.mlp.gate_proj") for name in linears)


# ---------------------------------------------------------------- stage 1 -> stage 2 -> export -> evaluation

SFT_STEPS = 4
GRPO_STEPS = 2
# The long tests' run (stage 1, stage 2, export, evaluation) happens in their module fixture's setup: far past
# the suite's per-test timeout of 900 s on 2 cores.
LONG_RUN_TIMEOUT = pytest.mark.timeout(3600)


def _run(command: list[str], env: dict, log: Path) -> None:
    with open(log, "w") as out:
        done = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=2400)
    assert done.returncode == 0, log.read_text()[-6000:]


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, tiny_ckpt):
    """The launchers a user runs, each with `lora=on`, on the CPU profiles (as recipes/demo_cpu does)."""
    from pathvlm_cpu.env import env as cpu_env

    run = tmp_path_factory.mktemp("lora")
    env = dict(os.environ, **cpu_env(), RUN_DIR=str(run), DATA_DIR=str(run / "data"), PYTHON=sys.executable,
               NNODES="1", GPUS_PER_NODE="1", VERL_FILE_LOGGER_ROOT=str(run / "metrics"))
    env.pop("RAY_ADDRESS", None)
    subprocess.run([sys.executable, "-m", "data_prep", "demo", "--out-dir", env["DATA_DIR"], "--pixels", "tiny"],
                   check=True, capture_output=True)
    _run(["bash", "recipes/stage1_sft", "+profile=cpu_tiny_sft", "lora=on", f"trainer.total_training_steps={SFT_STEPS}",
          f"trainer.test_freq={SFT_STEPS}"], dict(env, MODEL=str(tiny_ckpt)), run / "stage1.log")
    _run(["bash", "recipes/stage2_grpo", "+profile=cpu_tiny", "lora=on", f"trainer.total_training_steps={GRPO_STEPS}",
          "data.val_max_samples=4", "trainer.val_before_train=false"], env, run / "stage2.log")
    _run(["bash", "recipes/evaluate", "pixels=tiny", "data.limit=4", "generation.max_new_tokens=16"],
         dict(env, MODEL=str(run / "stage2_grpo" / "hf"), MODEL_NAME="stage2_lora", MODEL_REFERENCE="null",
              DATA_FILES=str(run / "data" / "test.parquet"), OUT_DIR=str(run / "eval")), run / "eval.log")
    return run


def _changed(before: Path, after: Path) -> set[str]:
    """Tensors of `after` (a bf16 export) that differ from `before` cast to its dtype."""
    old, new = load_file(before / "model.safetensors"), load_file(after / "model.safetensors")
    assert old.keys() == new.keys()
    return {name for name in old if not torch.equal(old[name].to(new[name].dtype), new[name])}


def _adapted(name: str) -> bool:
    return "visual" not in name and name.removesuffix(".weight").rsplit(".", 1)[-1] in LM_LINEARS


@pytest.mark.long
@LONG_RUN_TIMEOUT
def test_sft_with_lora_changes_only_the_adapted_language_model_weights(lora_run, tiny_ckpt):
    step_dir = lora_run / "stage1_sft" / "checkpoints" / f"global_step_{SFT_STEPS}"
    assert json.loads((step_dir / "lora_train_meta.json").read_text())["r"] == 64  # verl trained an adapter
    hf = lora_run / "stage1_sft" / "hf"
    assert not (hf / "lora_adapter").exists()  # folded into the weights by recipes.export
    changed = _changed(tiny_ckpt, hf)
    # the vision tower, embeddings, norms and LM head are the base model's; only LoRA's targets moved
    assert changed and all(_adapted(name) for name in changed)


@pytest.mark.long
@LONG_RUN_TIMEOUT
def test_grpo_with_lora_trains_through_the_hf_rollout_and_leaves_the_tower(lora_run):
    run = lora_run
    assert (run / "stage2_grpo" / "checkpoints" / "latest_checkpointed_iteration.txt").read_text() == str(GRPO_STEPS)
    assert f"stage2_grpo: from {run / 'stage1_sft' / 'hf'}" in (run / "stage2.log").read_text()
    # the hf rollout took the merged weights each step (it refuses any name the model lacks) ...
    assert "sent weights the rollout model lacks" not in (run / "stage2.log").read_text()
    # ... and only the adapted weights can move (with all-equal rewards Adam still steps on round-off gradients)
    changed = _changed(run / "stage1_sft" / "hf", run / "stage2_grpo" / "hf")
    assert all(_adapted(name) for name in changed)


@pytest.mark.long
@LONG_RUN_TIMEOUT
def test_the_merged_export_loads_generates_and_is_evaluated(lora_run):
    from transformers import AutoModelForImageTextToText, AutoTokenizer

    hf = lora_run / "stage2_grpo" / "hf"
    model = AutoModelForImageTextToText.from_pretrained(hf)
    tokens = AutoTokenizer.from_pretrained(hf)("Which stain?", return_tensors="pt")
    generated = model.generate(**tokens, max_new_tokens=4, do_sample=False)
    assert generated.shape[1] == tokens["input_ids"].shape[1] + 4
    results = json.loads((lora_run / "eval" / "results.json").read_text())
    assert [entry["name"] for entry in results["models"]] == ["stage2_lora"]
