"""Preflight: compose a stage's config exactly as the trainer will and catch failures on a CPU,
in seconds, before a GPU cluster is spent on them.

    python -m recipes.preflight --config-name pathvlm_grpo  [Hydra overrides as for the stage]
    python -m recipes.preflight --config-name pathvlm_sft   data.train_files=... model.path=...

Each problem is one line naming the config key to change; exit status 1 on any blocker.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

DEFAULT_CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


@dataclass(frozen=True)
class Finding:
    """One preflight result: `level` is BLOCKER, WARN or OK; `key` the config key to look at."""

    level: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.level:<7} {self.key}: {self.message}"


def compose_stage(config_name: str, overrides: list[str], conf_dir: Path | None = None) -> DictConfig:
    """The config the trainer will see (same search path, same overrides)."""
    conf_dir = conf_dir or _installed_conf_dir()
    with initialize_config_dir(config_dir=str(conf_dir), version_base=None):
        return compose(config_name=config_name, overrides=overrides)


def _installed_conf_dir() -> Path:
    try:
        import pathvlm_conf

        return Path(pathvlm_conf.__file__).parent
    except ImportError:
        return DEFAULT_CONF_DIR


def is_rl_config(cfg: DictConfig) -> bool:
    return "actor_rollout_ref" in cfg


# ---------------------------------------------------------------- checks shared by SFT and RL


def check_model(model_path: str, key: str) -> Iterator[Finding]:
    """The model folder has a config and a processor that load offline-capable from disk or cache."""
    from transformers import AutoConfig
    from verl.utils import hf_processor

    try:
        AutoConfig.from_pretrained(model_path)
    except Exception as err:  # noqa: BLE001 - any load failure is the finding
        yield Finding("BLOCKER", key, f"cannot load a model config from {model_path!r}: {_first_line(err)}")
        return
    if hf_processor(model_path) is None:
        yield Finding("BLOCKER", key, f"{model_path!r} has no image processor: image rows cannot be processed")
    else:
        yield Finding("OK", key, f"model config and processor load from {model_path}")


def check_parquet_files(files, key: str) -> Iterator[Finding]:
    for path in _as_list(files):
        if not Path(path).is_file():
            yield Finding("BLOCKER", key, f"{path} does not exist")


def check_placeholders(files, messages_column: str, image_column: str, key: str, rows: int) -> Iterator[Finding]:
    """Every row has as many `<image>` placeholders as images (verl asserts otherwise)."""
    for path in _as_list(files):
        if not Path(path).is_file():
            continue
        table = pq.read_table(path, columns=[messages_column, image_column]).slice(0, rows).to_pylist()
        bad = [i for i, row in enumerate(table)
               if sum(str(m["content"]).count("<image>") for m in row[messages_column]) != len(row[image_column] or [])]
        if bad:
            yield Finding("BLOCKER", key, f"{path}: rows {bad[:5]} have a number of <image> placeholders different "
                                          f"from their images (fix the data_prep output)")


# ---------------------------------------------------------------- RL (stages 2 and 3)


def check_legacy_reward_key(cfg: DictConfig) -> Iterator[Finding]:
    legacy = OmegaConf.select(cfg, "custom_reward_function.path")
    if legacy:
        yield Finding("BLOCKER", "custom_reward_function.path",
                      f"set to {legacy!r}, but verl 0.9.1's main_ppo ignores the top-level key; "
                      "use reward.custom_reward_function.path instead")


def check_verl_validation(cfg: DictConfig) -> Iterator[Finding]:
    """verl's own consistency checks (batch sizes against GPUs, micro-batches, ...), run as main_ppo runs them."""
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    try:
        validate_config(cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))
    except (AssertionError, ValueError) as err:
        yield Finding("BLOCKER", "actor_rollout_ref / data batch sizes", f"verl rejects the config: {_first_line(err)}")


def check_reward(cfg: DictConfig, row: dict | None) -> Iterator[Finding]:
    """The reward loads the way verl loads it, and scores a real row with the configured kwargs."""
    from verl.trainer.ppo.reward import get_custom_reward_fn

    key = "reward.custom_reward_function.path"
    try:
        reward_fn = get_custom_reward_fn(cfg)
    except Exception as err:  # noqa: BLE001
        yield Finding("BLOCKER", key, f"verl cannot load the reward function: {_first_line(err)}")
        return
    if reward_fn is None:
        yield Finding("BLOCKER", key, "no reward function configured: verl would fall back to its default scorer, "
                                      "which raises NotImplementedError for our data sources")
        return
    if row is None:
        return
    gold = row["reward_model"]["ground_truth"]
    response = f"<think>checking the image</think><answer>{gold}</answer>"
    try:
        result = reward_fn(row["data_source"], response, gold, row.get("extra_info"))
        if inspect.isawaitable(result):
            result = asyncio.run(result)
    except Exception as err:  # noqa: BLE001
        yield Finding("BLOCKER", "reward.custom_reward_function.reward_kwargs",
                      f"scoring a real row raised {type(err).__name__}: {_first_line(err)}")
        return
    score = result["score"] if isinstance(result, dict) else result
    yield Finding("OK", key, f"a gold answer on row 0 of the train file scores {score:.3f} ({result})")


def check_prompt_lengths(cfg: DictConfig, rows: int) -> Iterator[Finding]:
    """Prompt tokens (image tokens included, from the pixel budget) against data.max_prompt_length."""
    from verl.utils import hf_processor, hf_tokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset
    from verl.utils.tokenizer import build_multimodal_processor_inputs

    model_path = cfg.actor_rollout_ref.model.path
    tokenizer, processor = hf_tokenizer(model_path), hf_processor(model_path)
    data_config = OmegaConf.merge(cfg.data, {"filter_overlong_prompts": False})
    limit = cfg.data.max_prompt_length
    for path in _as_list(cfg.data.train_files):
        dataset = RLHFDataset(path, tokenizer, data_config, processor=processor, max_samples=rows)
        lengths = []
        for i in range(len(dataset)):
            messages = dataset[i]["raw_prompt"]
            text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            images, videos, audios = dataset._process_multi_modal_info(messages, dataset.image_patch_size, data_config)
            inputs = build_multimodal_processor_inputs(processor, text=[text], images=images, videos=videos,
                                                       audio=audios, mm_processor_kwargs=dataset.mm_processor_kwargs)
            lengths.append(len(inputs["input_ids"][0]))
        over = sum(n > limit for n in lengths)
        summary = (f"{path}: prompt tokens over {len(lengths)} rows: median {int(np.median(lengths))}, "
                   f"p95 {int(np.percentile(lengths, 95))}, max {max(lengths)}; limit {limit}")
        if over == 0:
            yield Finding("OK", "data.max_prompt_length", summary)
        elif cfg.data.filter_overlong_prompts and over < len(lengths):
            yield Finding("WARN", "data.max_prompt_length", f"{summary}; {over} rows would be filtered out")
        else:
            yield Finding("BLOCKER", "data.max_prompt_length",
                          f"{summary}; {over} rows are too long (raise the limit, lower pixels.max_pixels, "
                          "or set data.filter_overlong_prompts=true)")


def check_gpus(cfg: DictConfig, visible_gpus: int) -> Iterator[Finding]:
    """Declared GPUs exist, and the rollout's tensor-parallel size divides them."""
    trainer = cfg.trainer
    declared = trainer.nnodes * trainer.n_gpus_per_node
    tp = cfg.actor_rollout_ref.rollout.tensor_model_parallel_size
    if trainer.n_gpus_per_node % tp:
        yield Finding("BLOCKER", "actor_rollout_ref.rollout.tensor_model_parallel_size",
                      f"{tp} does not divide trainer.n_gpus_per_node={trainer.n_gpus_per_node}")
    virtual = OmegaConf.select(cfg, "ray_kwargs.ray_init.num_gpus")
    available = virtual if virtual is not None else visible_gpus
    if trainer.nnodes == 1 and available < trainer.n_gpus_per_node:
        yield Finding("BLOCKER", "trainer.n_gpus_per_node",
                      f"{trainer.n_gpus_per_node} GPUs declared but {available} available on this node")
    else:
        yield Finding("OK", "trainer.n_gpus_per_node", f"{declared} GPUs declared ({trainer.nnodes} node(s)), tp={tp}")


def estimate_memory_gib(n_params: int, world_size: int, rollout_utilization: float, gpu_gib: float) -> dict:
    """Per-GPU memory of the colocated actor (fp32 weights, grads, Adam), bf16 ref and vLLM rollout."""
    gib = 1024**3
    actor = n_params * (4 + 4 + 8) / world_size / gib
    ref = n_params * 2 / world_size / gib
    return {"actor": actor, "ref": ref, "rollout": rollout_utilization * gpu_gib}


def check_memory(cfg: DictConfig, gpu_gib: float) -> Iterator[Finding]:
    n_params = _count_parameters(cfg.actor_rollout_ref.model.path)
    world = cfg.trainer.nnodes * cfg.trainer.n_gpus_per_node
    est = estimate_memory_gib(n_params, world, cfg.actor_rollout_ref.rollout.gpu_memory_utilization, gpu_gib)
    summary = (f"{n_params / 1e9:.2f}B parameters over {world} GPU(s) of {gpu_gib:g} GiB: actor {est['actor']:.1f} "
               f"+ ref {est['ref']:.1f} GiB per GPU (sharded, before activations), rollout reserves "
               f"{est['rollout']:.1f} GiB while generating")
    # The actor and ref stay resident next to the rollout's reservation unless offloaded.
    offloaded = cfg.actor_rollout_ref.actor.fsdp_config.get("param_offload", False)
    if not offloaded and est["actor"] + est["ref"] + est["rollout"] > gpu_gib:
        yield Finding("BLOCKER", "actor_rollout_ref.rollout.gpu_memory_utilization",
                      f"{summary}: exceeds the GPU; lower it, add GPUs or enable actor param_offload")
    else:
        yield Finding("OK", "trainer.n_gpus_per_node", summary)


# ---------------------------------------------------------------- SFT (stage 1)


def check_sft_dataset(cfg: DictConfig, rows: int) -> Iterator[Finding]:
    """Rows load through verl's SFT dataset with the model's processor and fit data.max_length."""
    from verl.trainer.sft_trainer import create_sft_dataset
    from verl.utils import hf_processor, hf_tokenizer

    tokenizer, processor = hf_tokenizer(cfg.model.path), hf_processor(cfg.model.path)
    for path in _as_list(cfg.data.train_files):
        try:
            dataset = create_sft_dataset([path], cfg.data, tokenizer, processor, max_samples=rows)
            lengths = [int(dataset[i]["input_ids"].shape[-1]) for i in range(len(dataset))]
        except Exception as err:  # noqa: BLE001
            yield Finding("BLOCKER", "data.train_files", f"{path}: verl's SFT dataset fails: {_first_line(err)}")
            continue
        yield Finding("OK", "data.max_length", f"{path}: {len(lengths)} rows load, max {max(lengths)} tokens "
                                               f"(limit {cfg.data.max_length})")


# ---------------------------------------------------------------- driver


def run_checks(
    cfg: DictConfig, rows: int = 32, gpu_gib: float = 80.0, visible_gpus: int | None = None
) -> list[Finding]:
    """All checks for the composed stage config, in the order a launch would meet them."""
    visible_gpus = _visible_gpus() if visible_gpus is None else visible_gpus
    checks: list[Callable[[], Iterator[Finding]]]
    if is_rl_config(cfg):
        model = cfg.actor_rollout_ref.model.path
        train_files = cfg.data.train_files
        first_row = _first_row(train_files)
        checks = [
            lambda: check_legacy_reward_key(cfg),
            lambda: check_verl_validation(cfg),
            lambda: check_parquet_files(train_files, "data.train_files"),
            lambda: check_parquet_files(cfg.data.val_files, "data.val_files"),
            lambda: check_model(model, "actor_rollout_ref.model.path"),
            lambda: check_reward(cfg, first_row),
            lambda: check_placeholders(train_files, cfg.data.prompt_key, cfg.data.image_key, "data.train_files", rows),
            lambda: check_prompt_lengths(cfg, rows),
            lambda: check_gpus(cfg, visible_gpus),
            lambda: check_memory(cfg, gpu_gib),
        ]
    else:
        checks = [
            lambda: check_parquet_files(cfg.data.train_files, "data.train_files"),
            lambda: check_model(cfg.model.path, "model.path"),
            lambda: check_placeholders(cfg.data.train_files, cfg.data.messages_key, "images", "data.train_files", rows),
            lambda: check_sft_dataset(cfg, rows),
        ]
    findings: list[Finding] = []
    for check in checks:
        findings.extend(check())
        if any(f.level == "BLOCKER" for f in findings):
            break  # later checks depend on what just failed
    return findings


def _first_row(files) -> dict | None:
    path = _as_list(files)[0]
    if not Path(path).is_file():
        return None
    return pq.ParquetFile(path).read_row_group(0).slice(0, 1).to_pylist()[0]


def _count_parameters(model_path: str) -> int:
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    config = AutoConfig.from_pretrained(model_path)
    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(config)
    return sum(p.numel() for p in model.parameters())


def _visible_gpus() -> int:
    import torch

    return torch.cuda.device_count()


def _as_list(files) -> list[str]:
    return [files] if isinstance(files, str) else list(files)


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-name", required=True, help="pathvlm_sft or pathvlm_grpo")
    parser.add_argument("--config-dir", type=Path, default=None, help="default: the installed pathvlm_conf")
    parser.add_argument("--rows", type=int, default=32, help="rows of each Parquet to load and measure")
    parser.add_argument("--gpu-memory-gib", type=float, default=80.0, help="memory of one GPU of the cluster")
    args, overrides = parser.parse_known_args(argv)
    cfg = compose_stage(args.config_name, overrides, args.config_dir)
    findings = run_checks(cfg, rows=args.rows, gpu_gib=args.gpu_memory_gib)
    for finding in findings:
        print(finding)
    blockers = sum(f.level == "BLOCKER" for f in findings)
    print(f"preflight: {blockers} blocker(s), {sum(f.level == 'WARN' for f in findings)} warning(s)")
    return 1 if blockers else 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
