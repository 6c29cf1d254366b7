"""The VRAM plan: for every policy preset (conf/policy/) x LoRA off/on x stage, the smallest cluster of 24 / 48 /
80 / 96 GB GPUs that preflight's memory model says fits, and its per-GPU estimate.

    python -m recipes.preflight --plan              # the table and its assumptions
    python -m recipes.preflight --plan --markdown   # the same as Markdown: the README's table

Each stage config is composed with the preset exactly as a launch would, its model path pointed at the model's
public config.json (recipes/model_shapes/<policy.shapes>.json: shapes only, no weights), and checked with
preflight's memory and GPU checks on each cluster shape in turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from recipes.preflight import (
    check_gpus,
    check_memory,
    compose_stage,
    default_conf_dir,
    is_rl_config,
    model_shape,
    policy_model,
    stage_phases,
)

SHAPES_DIR = Path(__file__).resolve().parent / "model_shapes"
# GPU classes by their memory as sold, in GB, each planned as that many GiB.
GPU_CLASSES = (24, 48, 80, 96)
# Cluster shapes tried, smallest first: (nodes, GPUs per node).
CLUSTER_SHAPES = ((1, 1), (1, 2), (1, 4), (1, 8), (2, 8), (4, 8), (8, 8))
# Stage -> (config name, overrides). The stage-3 judge runs on its own GPUs, so grpo_dual plans as grpo does.
STAGES = {"sft": ("pathvlm_sft", ()), "grpo": ("pathvlm_grpo", ()), "grpo_dual": ("pathvlm_grpo", ("rewards=dual",))}
# The `lora=` presets planned (conf/lora/), composed into each stage as a launch would.
LORA_PRESETS = ("off", "on")


@dataclass(frozen=True)
class Fit:
    """The smallest cluster of one GPU class that fits, and the largest phase's memory per GPU there."""

    nodes: int
    gpus_per_node: int
    gpu_gb: int
    peak_gib: float

    def __str__(self) -> str:
        layout = f" ({self.nodes}×{self.gpus_per_node})" if self.nodes > 1 else ""
        return f"{self.nodes * self.gpus_per_node}×{self.gpu_gb} GB{layout} · {self.peak_gib:.1f} GiB"


@dataclass(frozen=True)
class PlanRow:
    policy: str
    lora: str
    stage: str
    fits: tuple[Fit | None, ...]  # one per GPU_CLASSES entry; None: no shape up to the largest fits


def planned_policies(conf_dir: Path) -> dict[str, Path]:
    """Every policy preset with public shapes, and its config.json (the fabricated `tiny` has none)."""
    presets = {}
    for path in sorted((conf_dir / "policy").glob("*.yaml")):
        shapes = OmegaConf.load(path).shapes
        if shapes is not None:
            presets[path.stem] = SHAPES_DIR / f"{shapes}.json"
    return presets


def stage_config(policy: str, shapes: Path, stage: str, conf_dir: Path, lora: str = "off") -> DictConfig:
    """The stage's config as launched with `policy=<policy> lora=<lora>`, its model read from `shapes`."""
    config_name, overrides = STAGES[stage]
    cfg = compose_stage(config_name, [f"policy={policy}", f"lora={lora}", *overrides], conf_dir)
    policy_model(cfg).path = str(shapes)
    return cfg


def fits(cfg: DictConfig, gpu_gib: float) -> bool:
    """No memory blocker, and (stages 2-3) the rollout's tensor-parallel size divides a node's GPUs."""
    findings = [*check_memory(cfg, gpu_gib), *(check_gpus(cfg, visible_gpus=None) if is_rl_config(cfg) else ())]
    return not any(finding.level == "BLOCKER" for finding in findings)


def smallest_fit(cfg: DictConfig, gpu_gb: int) -> Fit | None:
    """The first of CLUSTER_SHAPES on which the stage fits GPUs of `gpu_gb`."""
    for nodes, gpus_per_node in CLUSTER_SHAPES:
        cfg.trainer.nnodes, cfg.trainer.n_gpus_per_node = nodes, gpus_per_node
        if fits(cfg, gpu_gb):
            return Fit(nodes, gpus_per_node, gpu_gb, max(phase.gib for phase in stage_phases(cfg, gpu_gb)))
    return None


def build_plan(conf_dir: Path | None = None) -> list[PlanRow]:
    conf_dir = conf_dir or default_conf_dir()
    rows = []
    for policy, shapes in planned_policies(conf_dir).items():
        for lora in LORA_PRESETS:
            for stage in STAGES:
                cfg = stage_config(policy, shapes, stage, conf_dir, lora)
                rows.append(PlanRow(policy, lora, stage, tuple(smallest_fit(cfg, gb) for gb in GPU_CLASSES)))
    return rows


def assumptions(conf_dir: Path | None = None) -> list[str]:
    """What the plan assumes, with the parameter counts it read from the shapes."""
    conf_dir = conf_dir or default_conf_dir()
    lora_on = OmegaConf.load(conf_dir / "lora" / "on.yaml")
    counts = []
    for policy, shapes in planned_policies(conf_dir).items():
        shape = model_shape(str(shapes))
        counts.append(f"{policy} {shape.params / 1e9:.2f}B ({shape.vision_params / 1e9:.2f}B vision)")
    return [
        "Each cell: the fewest GPUs of that class (1, 2, 4 or 8 on one node, then 2, 4 or 8 nodes of 8) on which "
        "every phase fits, and the largest phase's memory per GPU there; — : none up to 64. A GPU sold as N GB "
        "is planned as N GiB.",
        "Settings: each policy preset's micro-batches, offload, rollout tensor-parallel size and vLLM memory share "
        "(conf/policy/), the shipped lengths (SFT 1,024 tokens; GRPO 1,024 prompt + 1,024 response), gradient "
        "checkpointing, verl 0.9.1's FSDP2 engine with vLLM colocated.",
        f"Parameters counted from each model's public config.json (recipes/model_shapes/) on the meta device: "
        f"{'; '.join(counts)}.",
        "Full fine-tuning: fp32 weights, gradients and two Adam moments for every trained parameter, sharded over "
        "all GPUs by FSDP; the vision tower is frozen (no gradients, no Adam).",
        f"LoRA on (conf/lora/on.yaml): rank {lora_on.rank} adapters on the language model's linear layers (vision "
        "tower excluded); "
        "the frozen weights in bf16, the adapters, their gradients and Adam moments in fp32; the reference is the "
        "actor with its adapters off.",
        "Activations: one micro-batch of full-length sequences; gradient checkpointing keeps each layer's bf16 "
        "input and recomputes one layer; logits take 6 bytes per token and vocabulary entry; the largest FSDP "
        "unit is gathered twice in bf16.",
        "GRPO: vLLM holds gpu_memory_utilization x the GPU while generating (bf16 weights / tensor-parallel size, "
        "~2 GiB activations, a KV cache that must hold one full sequence) and ~2 GiB asleep while the actor "
        "trains; the KL reference stays in host memory (verl's forward-only FSDP offload). grpo_dual plans as "
        "grpo: the judge runs on its own GPUs.",
        "Not checked here: verl's batch-size validation on the chosen GPU count; run python -m recipes.preflight "
        "--config-name ... --nodes N --gpus-per-node G for it. Planned only: no real preset ran on a GPU here.",
    ]


def _cells(rows: list[PlanRow]) -> tuple[list[str], list[list[str]]]:
    header = ["policy", "LoRA", "stage", *(f"{gb} GB GPUs" for gb in GPU_CLASSES)]
    return header, [[row.policy, row.lora, row.stage, *(str(fit) if fit else "—" for fit in row.fits)]
                    for row in rows]


def render_markdown(rows: list[PlanRow], notes: list[str]) -> str:
    header, body = _cells(rows)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join([*lines, "", *(f"- {note}" for note in notes)]) + "\n"


def render_text(rows: list[PlanRow], notes: list[str]) -> str:
    header, body = _cells(rows)
    widths = [max(len(cells[i]) for cells in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()
             for cells in [header, *body]]
    return "\n".join([*lines, "", "Assumptions:", *(f"- {note}" for note in notes)]) + "\n"
