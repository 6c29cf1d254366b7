"""The VRAM plan (`python -m recipes.preflight --plan`): one row per policy x LoRA x stage, consistent with the
memory model (more GPUs never need more memory per GPU, LoRA never needs more GPUs), the paper's 7B GRPO on
the paper's GPUs, and the README's table exactly the command's output."""

import re
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from recipes.preflight import policy_model, stage_phases
from recipes.vram_plan import (
    CLUSTER_SHAPES,
    GPU_CLASSES,
    LORA_PRESETS,
    STAGES,
    assumptions,
    build_plan,
    planned_policies,
    render_markdown,
    stage_config,
)

REPO = Path(__file__).parents[2]
CONF = REPO / "conf"
README_TABLE = re.compile(r"<!-- vram-plan: .*? -->\n(.*?)<!-- /vram-plan -->", re.S)


@pytest.fixture(scope="module")
def plan():
    return build_plan(CONF)


def _row(plan, policy, lora, stage):
    return next(row for row in plan if (row.policy, row.lora, row.stage) == (policy, lora, stage))


def test_one_row_per_policy_lora_and_stage(plan):
    expected = {(p, lora, s) for p in planned_policies(CONF) for lora in LORA_PRESETS for s in STAGES}
    assert [(row.policy, row.lora, row.stage) for row in plan] == sorted(expected, key=lambda key: (
        key[0], LORA_PRESETS.index(key[1]), list(STAGES).index(key[2])))
    # The fabricated tiny checkpoint has no public shapes: it is not planned.
    assert "tiny" not in planned_policies(CONF)


def test_lora_never_needs_more_gpus_than_full_fine_tuning(plan):
    for row in plan:
        if row.lora != "on":
            continue
        full = _row(plan, row.policy, "off", row.stage)
        for lora_fit, full_fit in zip(row.fits, full.fits, strict=True):
            if full_fit is not None:
                assert lora_fit is not None, row
                assert lora_fit.nodes * lora_fit.gpus_per_node <= full_fit.nodes * full_fit.gpus_per_node, row


def test_the_paper_s_7b_grpo_fits_the_paper_s_gpus(plan):
    # The paper: one node of 4 x H20 96 GB, full fine-tuning.
    for stage in ("grpo", "grpo_dual"):
        fit = _row(plan, "qwen2_5_vl_7b", "off", stage).fits[GPU_CLASSES.index(96)]
        assert fit.nodes == 1 and fit.gpus_per_node <= 4 and fit.peak_gib <= 96


@pytest.mark.parametrize("policy", ["qwen2_5_vl_7b", "qwen2_5_vl_32b"])
@pytest.mark.parametrize("stage", ["sft", "grpo"])
@pytest.mark.parametrize("lora", LORA_PRESETS)
def test_more_gpus_never_need_more_memory_per_gpu(policy, stage, lora):
    cfg = stage_config(policy, planned_policies(CONF)[policy], stage, CONF, lora)
    peaks = []
    for nodes, gpus_per_node in CLUSTER_SHAPES:
        cfg.trainer.nnodes, cfg.trainer.n_gpus_per_node = nodes, gpus_per_node
        peaks.append(max(phase.gib for phase in stage_phases(cfg, 80)))
    assert peaks == sorted(peaks, reverse=True)
    assert peaks[0] > peaks[-1]  # sharding does shrink it


@pytest.mark.parametrize("lora", LORA_PRESETS)
def test_the_plan_composes_the_lora_preset_a_launch_would(lora):
    # The rank planned is conf/lora/<lora>.yaml's, bound to verl's key by the stage config.
    for stage in STAGES:
        cfg = stage_config("qwen2_5_vl_7b", planned_policies(CONF)["qwen2_5_vl_7b"], stage, CONF, lora)
        assert policy_model(cfg).lora_rank == OmegaConf.load(CONF / "lora" / f"{lora}.yaml").rank


def test_the_readme_table_is_the_command_s_output(plan):
    readme = README_TABLE.search((REPO / "README.md").read_text())
    assert readme, "README.md lacks the <!-- vram-plan: ... --> ... <!-- /vram-plan --> section"
    assert readme.group(1) == render_markdown(plan, assumptions(CONF))
