"""Preflight: compose a stage's config exactly as the trainer will and catch failures on a CPU,
in seconds, before a GPU cluster is spent on them.

    python -m recipes.preflight --config-name pathvlm_grpo  [Hydra overrides as for the stage]
    python -m recipes.preflight --config-name pathvlm_sft   data.train_files=... model.path=...
    python -m recipes.preflight --config-name pathvlm_grpo --nodes 2 --gpus-per-node 8 --gpu-memory-gib 80
    python -m recipes.preflight --plan [--markdown]   # every policy preset x LoRA x stage (recipes/vram_plan.py)

Each problem is one line naming the config key to change; exit status 1 on any blocker.

Planning. `--nodes` / `--gpus-per-node` override trainer.nnodes / trainer.n_gpus_per_node (default: the
config's own), so verl's config validation and the memory plan see the target cluster. This machine's GPUs
are counted only when the run will happen here: no plan flag given and a CUDA GPU visible, or a virtual GPU
count in ray_kwargs.ray_init.num_gpus (the CPU profiles). `--gpu-memory-gib` defaults to this machine's GPU
when the run happens here, else 80 (the paper's hardware class).

Memory model (per GPU, GiB; verl 0.9.1, FSDP/FSDP2 engine, colocated vLLM rollout; rough, upper-bound
leaning). World size W = nodes x GPUs per node; P parameters, T of them trainable (the vision tower is
frozen when model.override_config.freeze_vision_tower is true: no gradients, no Adam moments for it).
- Actor states, FSDP-sharded over W in fsdp_config.model_dtype (fp32): params P, grads T (whole, not sharded,
  with use_no_sync_for_gradient_accumulation), Adam 2T. All are on the GPU while training;
  fsdp_config.offload_policy (FSDP2 CPUOffloadPolicy) keeps them in host memory throughout. Outside
  training, param_offload / optimizer_offload move params / Adam to the CPU (log-prob passes load the params
  back); gradients are freed (zero_grad sets them to None).
- LoRA (model.lora_rank > 0, verl's key): the frozen weights in bf16, the trainable adapters (rank x the in +
  out features of the language model's linear layers, verl's target_modules all-linear without the output head
  and the vision tower) in model_dtype with their gradients and Adam moments; the reference is the actor with
  its adapters off (verl's ref_in_actor), no second model.
- Reference model: forward-only (verl's dp_ref.yaml sets ref.fsdp_config.forward_only), which the FSDP engine
  always wraps with CPU offload (FSDP2 CPUOffloadPolicy, FSDP1 CPUOffload), whatever param_offload says: it
  lives in host memory and only its gathered units and activations reach the GPU.
- Gathered FSDP unit: the largest unit verl wraps (here lm_head / embed_tokens), two in flight in bf16, plus
  its unsharded fp32 gradient during backward.
- Activations of one micro-batch of full-length sequences (prompt + response; the dynamic-batch token budget
  when use_dynamic_bsz) divided by the Ulysses size: each decoder layer keeps ~18 h + 8 i bytes per token
  (h hidden, i intermediate; bf16 with fp32 norm inputs); with gradient checkpointing only the bf16 layer
  inputs are kept and one layer is recomputed at a time; forward-only passes hold one layer. Logits take 6
  bytes per token and vocabulary entry (bf16 logits plus two temporaries of that size). The frozen vision
  tower keeps no activations for backward.
- Rollout: vLLM takes gpu_memory_utilization x GPU memory while generating, all of its footprint (weights,
  activation peak ~VLLM_ACTIVATION_GIB, KV cache; it refuses to start with less free memory). While the
  actor trains it sleeps (free_cache_engine: level 2 drops weights and KV cache); its CUDA context and CUDA
  graphs stay (VLLM_ASLEEP_GIB). Without free_cache_engine it keeps its whole reservation.
- The trainer process's CUDA context, NCCL buffers and fragmentation: TRAINER_RUNTIME_GIB in every phase.
Phases: generation (actor states left on the GPU + vLLM's reservation), log-prob (old and reference
log-probs: actor params and Adam, forward activations of the larger log-prob micro-batch), training (actor
update). A phase above the GPU's memory is a blocker naming the key of its largest part. SFT has one
phase, training, with the same actor terms and no rollout.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import inspect
import ipaddress
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pyarrow.parquet as pq
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

DEFAULT_CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
JUDGE_KEY = "reward.custom_reward_function.reward_kwargs.judge"
# What a judge endpoint that gave no verdict most likely needs, per fallback reason (pathvlm_rewards.judge.verdict).
JUDGE_HINTS = {
    "network": "nothing answers there from this machine; start it (recipes/serve_judge) and give the address "
               "that this machine and every reward worker's node reach",
    "timeout": "no reply within judge.timeout_s / call_cap_s; is the server overloaded or still loading?",
    "http": "the server refused the request (its log says why): a model name it does not serve, or a request it "
            "cannot take (image, context length)",
    "unparseable": "it replied without integrity/knowledge scores, also when asked again: a judge model that does "
                   "not follow the rubric, or judge.max_tokens too small",
    "no_image": "the row carries no image the judge can see; rebuild the Parquet with data_prep",
    "other": "the call failed (the warning above says how)",
}
# GPU memory planned for when neither --gpu-memory-gib nor a local GPU says otherwise (the paper's class).
PLANNING_GPU_GIB = 80.0


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
    conf_dir = conf_dir or default_conf_dir()
    with initialize_config_dir(config_dir=str(conf_dir), version_base=None):
        return compose(config_name=config_name, overrides=overrides)


def default_conf_dir() -> Path:
    """The checkout's conf/ beside recipes/, else the installed package pathvlm_conf (as the launchers choose)."""
    if DEFAULT_CONF_DIR.is_dir():
        return DEFAULT_CONF_DIR
    import pathvlm_conf

    return Path(pathvlm_conf.__file__).parent


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


def without_judge_cache(cfg: DictConfig) -> DictConfig:
    """`cfg` with the judge's cache off, so scoring a row asks the judge itself, not a stored verdict."""
    if OmegaConf.select(cfg, JUDGE_KEY) is None:
        return cfg
    uncached = copy.deepcopy(cfg)
    OmegaConf.update(uncached, f"{JUDGE_KEY}.cache_dir", None, force_add=True)
    return uncached


def is_loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_judge_verdict(cfg: DictConfig, result) -> Iterator[Finding]:
    """With the process reward on and judged by an endpoint (openai backend), the endpoint graded the row: the
    reward's result holds the judge's own scores, not the paper's fallback. On a multi-node run, an endpoint
    on loopback is only this node's."""
    from pathvlm_rewards.config import parse_reward_kwargs
    from pathvlm_rewards.judge.verdict import REASONS, reason_key

    kwargs = OmegaConf.select(cfg, "reward.custom_reward_function.reward_kwargs")
    if kwargs is None or not isinstance(result, dict) or "judge_fallback" not in result:
        return  # not our reward's result
    reward = parse_reward_kwargs(OmegaConf.to_container(kwargs, resolve=True))
    judge = reward.judge
    if reward.weights.process == 0 or judge.backend != "openai":
        return
    endpoint = judge.base_url or "the openai client's default endpoint"
    where = f"the judge at {endpoint} (model {judge.model!r})"
    if result["judge_fallback"]:
        reason = next(reason for reason in REASONS if result[reason_key(reason)])
        yield Finding("BLOCKER", f"{JUDGE_KEY}.base_url",
                      f"{where} gave no verdict on row 0 of data.train_files ({reason}): {JUDGE_HINTS[reason]}")
        return
    yield Finding("OK", f"{JUDGE_KEY}.base_url",
                  f"{where} graded row 0 of data.train_files: integrity {result['integrity']:g}, knowledge "
                  f"{result['knowledge']:g} in {result['judge_latency_s']:.1f} s")
    if cfg.trainer.nnodes > 1 and judge.base_url and is_loopback(judge.base_url):
        yield Finding("WARN", f"{JUDGE_KEY}.base_url",
                      f"{judge.base_url} is this node only; reward workers on the other {cfg.trainer.nnodes - 1} "
                      "node(s) reach their own loopback: give the judge node's cluster address (recipes/serve_judge "
                      "with JUDGE_HOST=0.0.0.0 prints it)")


def check_reward(cfg: DictConfig, row: dict | None) -> Iterator[Finding]:
    """The reward loads the way verl loads it and scores a real row with the configured kwargs (the judge's
    cache off); a process reward judged by an endpoint must get that endpoint's verdict (check_judge_verdict)."""
    from verl.trainer.ppo.reward import get_custom_reward_fn

    key = "reward.custom_reward_function.path"
    try:
        reward_fn = get_custom_reward_fn(without_judge_cache(cfg))
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
    yield from check_judge_verdict(cfg, result)


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


def check_gpus(cfg: DictConfig, visible_gpus: int | None) -> Iterator[Finding]:
    """The rollout's tensor-parallel size divides a node's GPUs; when the run happens here (`visible_gpus`
    given, or virtual GPUs in ray_kwargs.ray_init.num_gpus), the declared GPUs exist on this node."""
    trainer = cfg.trainer
    tp = cfg.actor_rollout_ref.rollout.tensor_model_parallel_size
    if trainer.n_gpus_per_node % tp:
        yield Finding("BLOCKER", "actor_rollout_ref.rollout.tensor_model_parallel_size",
                      f"{tp} does not divide trainer.n_gpus_per_node={trainer.n_gpus_per_node}")
    virtual = OmegaConf.select(cfg, "ray_kwargs.ray_init.num_gpus")
    available = virtual if virtual is not None else visible_gpus
    shape = f"{trainer.nnodes} x {trainer.n_gpus_per_node} GPU(s), tp={tp}"
    if available is None:
        yield Finding("OK", "trainer.n_gpus_per_node", f"planning for {shape}; local GPUs not checked")
    elif trainer.nnodes == 1 and available < trainer.n_gpus_per_node:
        yield Finding("BLOCKER", "trainer.n_gpus_per_node",
                      f"{trainer.n_gpus_per_node} GPUs declared but {available} available on this node")
    else:
        yield Finding("OK", "trainer.n_gpus_per_node", f"{shape} declared, {available} available on this node")


# ---------------------------------------------------------------- memory plan (see the module docstring)

GIB = 1024**3
# The trainer process's CUDA context, NCCL buffers and allocator fragmentation.
TRAINER_RUNTIME_GIB = 1.5
# vLLM asleep while the actor trains: level-2 sleep frees weights and KV cache, not its context and CUDA graphs.
VLLM_ASLEEP_GIB = 2.0
# vLLM's profiled activation peak (language model and vision encoder), taken from its reservation.
VLLM_ACTIVATION_GIB = 2.0
# Bytes per token and vocabulary entry: bf16 logits plus two temporaries of their size (the entropy's
# softmax and product in log-prob passes; the logits' gradient and the loss's copy in training).
LOGIT_BYTES = 6
BF16_BYTES = 2
FP32_BYTES = 4
# Micro-batch settings (micro-batch per GPU, dynamic-batch flag, token budget) of each pass.
ACTOR_FIELDS = ("ppo_micro_batch_size_per_gpu", "use_dynamic_bsz", "ppo_max_token_len_per_gpu")
LOG_PROB_FIELDS = ("log_prob_micro_batch_size_per_gpu", "log_prob_use_dynamic_bsz", "log_prob_max_token_len_per_gpu")
SFT_FIELDS = ("micro_batch_size_per_gpu", "use_dynamic_bsz", "max_token_len_per_gpu")


@dataclass(frozen=True)
class ModelShape:
    """The sizes the memory plan reads from the HF config and the model built on the meta device."""

    params: int
    vision_params: int
    largest_unit_params: int  # the largest module verl's FSDP wraps as one unit
    hidden: int
    intermediate: int
    layers: int
    vocab: int
    kv_values_per_token: int  # K and V of every layer, summed over KV heads
    lora_values_per_rank: int  # LoRA A and B values per unit of rank: inputs + outputs of the LM's linear layers

    def layer_activation_bytes(self, tokens: int) -> int:
        """What one decoder layer keeps for backward (see the module docstring)."""
        return tokens * (18 * self.hidden + 8 * self.intermediate)


@dataclass(frozen=True)
class Part:
    """One consumer of GPU memory in a phase, and the config key that shrinks it ('' if none)."""

    what: str
    gib: float
    key: str


# The trainer process's share of every phase (TRAINER_RUNTIME_GIB).
RUNTIME = Part("runtime", TRAINER_RUNTIME_GIB, "")


@dataclass(frozen=True)
class Phase:
    """What one GPU holds at the peak of one phase of a training step."""

    name: str
    parts: tuple[Part, ...]

    @property
    def gib(self) -> float:
        return sum(part.gib for part in self.parts)

    @property
    def largest(self) -> Part:
        return max((part for part in self.parts if part.key), key=lambda part: part.gib)

    def breakdown(self) -> str:
        return ", ".join(f"{part.what} {part.gib:.1f}" for part in self.parts if part.gib)


@dataclass(frozen=True)
class ShardedStates:
    """Per-GPU GiB of the actor's FSDP-sharded params, gradients and Adam moments."""

    params: float
    grads: float
    optimizer: float


@cache
def model_shape(model_path: str) -> ModelShape:
    """Counted on the meta device (no weights read); FSDP units as verl's FSDP2 wrapping selects them."""
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText
    from verl.utils.fsdp_utils import _select_fsdp2_wrap_targets

    from pathvlm_verl.frozen_vision import _vision_tower

    config = AutoConfig.from_pretrained(model_path)
    text = config.get_text_config()
    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(config)
    tower = _vision_tower(model)
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    return ModelShape(
        params=_numel(model),
        vision_params=_numel(tower),
        largest_unit_params=max(map(_numel, _select_fsdp2_wrap_targets(model, model._no_split_modules))),
        hidden=text.hidden_size,
        intermediate=text.intermediate_size,
        layers=text.num_hidden_layers,
        vocab=text.vocab_size,
        kv_values_per_token=2 * text.num_hidden_layers * text.num_key_value_heads * head_dim,
        lora_values_per_rank=_lora_values_per_rank(model, tower),
    )


def _lora_values_per_rank(model, tower) -> int:
    """in + out features of every linear layer LoRA adapts with verl's `target_modules: all-linear`: the
    language model's (PEFT leaves the output head out; the vision tower is excluded)."""
    import torch

    vision = {id(module) for module in tower.modules()}
    head = model.get_output_embeddings()
    return sum(module.in_features + module.out_features for module in model.modules()
               if isinstance(module, torch.nn.Linear) and id(module) not in vision and module is not head)


def sharded_states(shape: ModelShape, model: DictConfig, world: int, engine: DictConfig) -> ShardedStates:
    """Params, gradients of the trainable ones and their two Adam moments in the FSDP `engine`'s model_dtype,
    sharded over `world` GPUs; with LoRA the frozen base weights are bf16 and only the adapters are trained;
    gradients stay whole while use_no_sync_for_gradient_accumulation defers their reduce-scatter; nothing is
    on the GPU when FSDP2's CPU offload policy keeps it all in host memory."""
    if engine.offload_policy:
        return ShardedStates(0.0, 0.0, 0.0)
    trainable = _trainable_params(shape, model)
    per_param = _dtype_bytes(engine.model_dtype)
    weights = shape.params * BF16_BYTES + trainable * per_param if _lora_rank(model) else shape.params * per_param
    grad_shards = 1 if engine.use_no_sync_for_gradient_accumulation else world
    return ShardedStates(weights / world / GIB, trainable * per_param / grad_shards / GIB,
                         2 * trainable * per_param / world / GIB)


def micro_batch_tokens(node: DictConfig, path: str, fields: tuple[str, str, str], seq_len: int,
                       sp: int) -> tuple[int, str]:
    """Tokens one GPU holds in one micro-batch, and the key that sets them: the token budget when dynamic
    batching is on, else the per-GPU micro-batch of full-length sequences; split over the Ulysses group."""
    micro, dynamic, budget = fields
    if node[dynamic]:
        return -(-node[budget] // sp), f"{path}.{budget}"
    if node[micro] is None:
        raise ValueError(f"{path}.{micro} is not set: preflight plans memory from the per-GPU micro-batch")
    return -(-node[micro] * seq_len // sp), f"{path}.{micro}"


def activation_gib(shape: ModelShape, tokens: int, backward: bool, checkpointing: bool) -> float:
    """One micro-batch's activations and logits (see the module docstring)."""
    layer = shape.layer_activation_bytes(tokens)
    if not backward:
        kept = layer
    elif checkpointing:
        kept = tokens * shape.hidden * BF16_BYTES * shape.layers + layer
    else:
        kept = layer * shape.layers
    return (kept + tokens * shape.vocab * LOGIT_BYTES) / GIB


def gathered_unit_gib(shape: ModelShape, backward: bool) -> float:
    """The largest FSDP unit gathered in bf16, two in flight, plus its unsharded fp32 gradient in backward."""
    return shape.largest_unit_params * (2 * BF16_BYTES + (FP32_BYTES if backward else 0)) / GIB


def training_parts(states: ShardedStates, shape: ModelShape, tokens: tuple[int, str], checkpointing: bool,
                   offload_key: str) -> tuple[Part, ...]:
    """The actor (or SFT model) while it updates: every state on the GPU, one micro-batch in flight."""
    count, key = tokens
    return (
        Part("params", states.params, offload_key),
        Part("grads", states.grads, offload_key),
        Part("optimizer", states.optimizer, offload_key),
        Part("gathered unit", gathered_unit_gib(shape, backward=True), ""),
        Part(f"activations ({count} tokens)", activation_gib(shape, count, True, checkpointing), key),
        RUNTIME,
    )


def rl_memory_phases(cfg: DictConfig, shape: ModelShape, gpu_gib: float) -> list[Phase]:
    """Per-GPU memory of verl's colocated actor, reference and vLLM rollout in each phase of a step."""
    from verl.trainer.ppo.utils import need_reference_policy

    arr = cfg.actor_rollout_ref
    actor, rollout, fsdp = arr.actor, arr.rollout, arr.actor.fsdp_config
    fsdp_key = "actor_rollout_ref.actor.fsdp_config"
    world = cfg.trainer.nnodes * cfg.trainer.n_gpus_per_node
    seq_len = cfg.data.max_prompt_length + cfg.data.max_response_length
    sp = actor.ulysses_sequence_parallel_size
    states = sharded_states(shape, arr.model, world, fsdp)
    log_prob_passes = [(rollout, "actor_rollout_ref.rollout")]
    if need_reference_policy(cfg):
        log_prob_passes.append((arr.ref, "actor_rollout_ref.ref"))
    log_prob_tokens, log_prob_key = max(micro_batch_tokens(node, path, LOG_PROB_FIELDS, seq_len, sp)
                                        for node, path in log_prob_passes)
    reservation = rollout.gpu_memory_utilization * gpu_gib
    rollout_idle = (Part("vLLM asleep", VLLM_ASLEEP_GIB, "") if rollout.free_cache_engine else
                    Part("vLLM awake", reservation, "actor_rollout_ref.rollout.free_cache_engine"))
    resident_optimizer = 0.0 if fsdp.optimizer_offload else states.optimizer
    generation = Phase("generation", (
        Part("params", 0.0 if fsdp.param_offload else states.params, f"{fsdp_key}.param_offload"),
        Part("optimizer", resident_optimizer, f"{fsdp_key}.optimizer_offload"),
        Part("vLLM reservation", reservation, "actor_rollout_ref.rollout.gpu_memory_utilization"),
        RUNTIME,
    ))
    log_prob = Phase("log-prob", (
        Part("params", states.params, f"{fsdp_key}.offload_policy"),
        Part("optimizer", resident_optimizer, f"{fsdp_key}.optimizer_offload"),
        Part("gathered unit", gathered_unit_gib(shape, backward=False), ""),
        Part(f"activations ({log_prob_tokens} tokens)",
             activation_gib(shape, log_prob_tokens, backward=False, checkpointing=False), log_prob_key),
        rollout_idle,
        RUNTIME,
    ))
    train_tokens = micro_batch_tokens(actor, "actor_rollout_ref.actor", ACTOR_FIELDS, seq_len, sp)
    training = Phase("training", (*training_parts(states, shape, train_tokens, arr.model.enable_gradient_checkpointing,
                                                  f"{fsdp_key}.offload_policy"), rollout_idle))
    return [generation, log_prob, training]


def sft_memory_phases(cfg: DictConfig, shape: ModelShape) -> list[Phase]:
    """Per-GPU memory of verl's SFT trainer (FSDP engine): one phase, training."""
    engine = cfg.engine
    world = cfg.trainer.nnodes * cfg.trainer.n_gpus_per_node
    states = sharded_states(shape, cfg.model, world, engine)
    tokens = micro_batch_tokens(cfg.data, "data", SFT_FIELDS, cfg.data.max_length,
                                engine.ulysses_sequence_parallel_size)
    parts = training_parts(states, shape, tokens, cfg.model.enable_gradient_checkpointing, "engine.offload_policy")
    return [Phase("training", parts)]


def phase_finding(phase: Phase, gpu_gib: float) -> Finding:
    """OK when the phase fits the GPU, else a blocker naming the key of its largest part."""
    summary = f"{phase.name}: {phase.gib:.1f} of {gpu_gib:g} GiB per GPU ({phase.breakdown()})"
    if phase.gib <= gpu_gib:
        return Finding("OK", phase.largest.key, summary)
    return Finding("BLOCKER", phase.largest.key,
                   f"{summary} exceeds the GPU by {phase.gib - gpu_gib:.1f} GiB: its largest part "
                   f"({phase.largest.what}) is set by this key; or plan more GPUs (--nodes, --gpus-per-node)")


def check_rollout_kv_cache(cfg: DictConfig, shape: ModelShape, gpu_gib: float) -> Iterator[Finding]:
    """vLLM's reservation holds its weights and activation peak and still leaves a KV cache for one sequence."""
    rollout = cfg.actor_rollout_ref.rollout
    key = "actor_rollout_ref.rollout.gpu_memory_utilization"
    tp, dtype_bytes = rollout.tensor_model_parallel_size, _dtype_bytes(rollout.dtype)
    seq_len = cfg.data.max_prompt_length + cfg.data.max_response_length
    reservation = rollout.gpu_memory_utilization * gpu_gib
    weights = shape.params * dtype_bytes / tp / GIB
    kv_gib = reservation - weights - VLLM_ACTIVATION_GIB
    kv_tokens = int(max(kv_gib, 0.0) * GIB * tp / (shape.kv_values_per_token * dtype_bytes))
    summary = (f"vLLM reserves {reservation:.1f} GiB per GPU: weights {weights:.1f} (tp={tp}), activations "
               f"~{VLLM_ACTIVATION_GIB:g}, KV cache {kv_gib:.1f} GiB = {kv_tokens} tokens")
    if kv_tokens < seq_len:
        yield Finding("BLOCKER", key, f"{summary}, less than one {seq_len}-token sequence: raise it, or "
                                      "actor_rollout_ref.rollout.tensor_model_parallel_size")
    else:
        yield Finding("OK", key, f"{summary} ({kv_tokens // seq_len} full-length sequences at once)")


def policy_model(cfg: DictConfig) -> DictConfig:
    """The trained model's config node: the actor's in stages 2-3, `model` in SFT."""
    return cfg.actor_rollout_ref.model if is_rl_config(cfg) else cfg.model


def stage_phases(cfg: DictConfig, gpu_gib: float) -> list[Phase]:
    """Per-GPU memory of each phase of the stage's step on the configured cluster."""
    shape = model_shape(policy_model(cfg).path)
    return rl_memory_phases(cfg, shape, gpu_gib) if is_rl_config(cfg) else sft_memory_phases(cfg, shape)


def check_memory(cfg: DictConfig, gpu_gib: float) -> Iterator[Finding]:
    """Per-GPU memory of each phase of the stage on the planned cluster (model in the module docstring)."""
    from verl.trainer.ppo.utils import need_reference_policy

    rl = is_rl_config(cfg)
    model = policy_model(cfg)
    shape = model_shape(model.path)
    trainable = _trainable_params(shape, model)
    where = (f"{shape.params / 1e9:.2f}B parameters ({trainable / 1e9:.2f}B trained) on "
             f"{cfg.trainer.nnodes} x {cfg.trainer.n_gpus_per_node} GPU(s) of {gpu_gib:g} GiB")
    if rl and _lora_rank(model):
        where += "; the reference is the actor with its LoRA adapters off (no second model)"
    elif rl and need_reference_policy(cfg):
        ref_dtype = _dtype_bytes(cfg.actor_rollout_ref.ref.fsdp_config.model_dtype)
        where += (f"; the forward-only reference stays in host memory (FSDP CPU offload): "
                  f"{shape.params * ref_dtype / cfg.trainer.nnodes / GIB:.1f} GiB per node")
    yield Finding("OK", "trainer.n_gpus_per_node", where)
    for phase in stage_phases(cfg, gpu_gib):
        yield phase_finding(phase, gpu_gib)
    if rl:
        yield from check_rollout_kv_cache(cfg, shape, gpu_gib)


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
    cfg: DictConfig, rows: int = 32, gpu_gib: float = PLANNING_GPU_GIB, visible_gpus: int | None = None
) -> list[Finding]:
    """All checks for the composed stage config, in the order a launch would meet them. `visible_gpus`: this
    machine's GPUs when the run happens here; None plans for the configured cluster without counting them."""
    checks: list[Callable[[], Iterator[Finding]]]
    if is_rl_config(cfg):
        model = cfg.actor_rollout_ref.model.path
        train_files = cfg.data.train_files
        first_row = read_first_row(train_files)
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
            lambda: check_memory(cfg, gpu_gib),
        ]
    findings: list[Finding] = []
    for check in checks:
        findings.extend(check())
        if any(f.level == "BLOCKER" for f in findings):
            break  # later checks depend on what just failed
    return findings


def read_first_row(files) -> dict | None:
    """Row 0 of the first file (None when it does not exist)."""
    path = _as_list(files)[0]
    if not Path(path).is_file():
        return None
    return pq.ParquetFile(path).read_row_group(0).slice(0, 1).to_pylist()[0]


def plan_overrides(nodes: int | None, gpus_per_node: int | None) -> list[str]:
    """Hydra overrides putting the planned cluster shape into the config (applied last, so they win)."""
    shape = {"trainer.nnodes": nodes, "trainer.n_gpus_per_node": gpus_per_node}
    return [f"{key}={value}" for key, value in shape.items() if value is not None]


def _lora_rank(model: DictConfig) -> int:
    """verl's LoRA rank for the model (0: full fine-tuning)."""
    return OmegaConf.select(model, "lora_rank", default=0) or 0


def _trainable_params(shape: ModelShape, model: DictConfig) -> int:
    """The LoRA adapters' parameters, else every parameter but a frozen vision tower's."""
    from pathvlm_verl.frozen_vision import FREEZE_FLAG

    if _lora_rank(model):
        return _lora_rank(model) * shape.lora_values_per_rank
    frozen = OmegaConf.select(model, f"override_config.{FREEZE_FLAG}", default=False)
    return shape.params - shape.vision_params if frozen else shape.params


def _dtype_bytes(precision: str | None) -> int:
    """Bytes per element of a verl precision name; None is fp32, what verl trains in."""
    from verl.utils.torch_dtypes import PrecisionType

    return PrecisionType.to_dtype(precision or "fp32").itemsize


def _numel(module) -> int:
    return sum(p.numel() for p in module.parameters())


def _visible_gpus() -> int:
    import torch

    return torch.cuda.device_count()


def _local_gpu_gib() -> float:
    import torch

    return torch.cuda.get_device_properties(0).total_memory / GIB


def _positive(kind: type) -> Callable[[str], float]:
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def _as_list(files) -> list[str]:
    return [files] if isinstance(files, str) else list(files)


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def print_plan(conf_dir: Path | None, markdown: bool) -> int:
    from recipes.vram_plan import assumptions, build_plan, render_markdown, render_text

    render = render_markdown if markdown else render_text
    print(render(build_plan(conf_dir), assumptions(conf_dir)), end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-name", help="pathvlm_sft or pathvlm_grpo (not with --plan)")
    parser.add_argument("--config-dir", type=Path, default=None, help="default: the installed pathvlm_conf")
    parser.add_argument("--rows", type=int, default=32, help="rows of each Parquet to load and measure")
    parser.add_argument("--nodes", type=_positive(int), help="nodes of the target cluster (default: trainer.nnodes)")
    parser.add_argument("--gpus-per-node", type=_positive(int),
                        help="GPUs per node of the target cluster (default: trainer.n_gpus_per_node)")
    parser.add_argument("--gpu-memory-gib", type=_positive(float),
                        help="memory of one GPU of the target cluster (default: this machine's GPU when the run "
                             f"happens here, else {PLANNING_GPU_GIB:g})")
    parser.add_argument("--plan", action="store_true",
                        help="print the VRAM plan: the smallest cluster of 24/48/80/96 GB GPUs for every policy "
                             "preset x LoRA off/on x stage (recipes/vram_plan.py)")
    parser.add_argument("--markdown", action="store_true", help="with --plan: as the README's Markdown table")
    args, overrides = parser.parse_known_args(argv)
    if args.plan:
        return print_plan(args.config_dir, args.markdown)
    if args.config_name is None:
        parser.error("--config-name is required (or --plan)")
    cfg = compose_stage(args.config_name, overrides + plan_overrides(args.nodes, args.gpus_per_node), args.config_dir)
    # The run happens here unless a plan flag is given or this machine has no CUDA GPU.
    planning = any(flag is not None for flag in (args.nodes, args.gpus_per_node, args.gpu_memory_gib))
    visible_gpus = None if planning else (_visible_gpus() or None)
    gpu_gib = args.gpu_memory_gib or (_local_gpu_gib() if visible_gpus else PLANNING_GPU_GIB)
    findings = run_checks(cfg, rows=args.rows, gpu_gib=gpu_gib, visible_gpus=visible_gpus)
    for finding in findings:
        print(finding)
    blockers = sum(f.level == "BLOCKER" for f in findings)
    print(f"preflight: {blockers} blocker(s), {sum(f.level == 'WARN' for f in findings)} warning(s)")
    return 1 if blockers else 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
