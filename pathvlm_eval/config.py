"""The evaluation settings, read once from the composed Hydra config and checked."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from pathvlm_eval.engines import ENGINES, PixelBudget, SamplingSettings

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
PROTOCOLS = ("ours", "vlmevalkit")


@dataclass(frozen=True)
class ModelSpec:
    """A checkpoint to evaluate: `name` labels it in every output, `reference` is a row id of the paper's
    tables (pathvlm_eval/paper_reference.yaml) to print beside it."""

    name: str
    path: str
    reference: str | None


@dataclass(frozen=True)
class MetricSettings:
    confidence: float
    bootstrap_resamples: int
    seed: int
    pass_k: tuple[int, ...]
    breakdowns: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class EvalConfig:
    models: tuple[ModelSpec, ...]
    files: tuple[str, ...]
    limit: int | None
    output_dir: Path
    engine: str
    engine_options: dict[str, dict[str, Any]]
    isolate_models: str | bool
    n: int
    sampling: SamplingSettings
    pixels: PixelBudget
    scoring_module: str
    protocol: str
    reward_kwargs: dict[str, Any]
    rescore: bool
    metrics: MetricSettings
    reference: str | None
    plots: bool

    def batch_size(self, engine: str) -> int:
        return int(self.engine_options[engine]["batch_size"])

    def engine_kwargs(self, engine: str) -> dict[str, Any]:
        """The engine's config section without `batch_size` (the runner's business)."""
        return {k: v for k, v in self.engine_options[engine].items() if k != "batch_size"}

    def isolates_models(self, engine: str) -> bool:
        """Whether each model generates in its own child process with this (resolved) engine."""
        return engine == "vllm" if self.isolate_models == "auto" else bool(self.isolate_models)


def _fail(key: str, message: str) -> None:
    raise ValueError(f"pathvlm_eval config: {key}: {message}")


def _models(section: Any) -> tuple[ModelSpec, ...]:
    if not isinstance(section, dict) or not section:
        _fail("models", "no model to evaluate; add one with +models.NAME.path=CHECKPOINT")
    specs = []
    for name, spec in section.items():
        if not MODEL_NAME.match(str(name)):
            _fail(f"models.{name}", "a model name may hold letters, digits, '.', '_' and '-' only")
        if not isinstance(spec, dict) or not spec.get("path"):
            _fail(f"models.{name}.path", "is missing (an HF checkpoint folder)")
        unknown = set(spec) - {"path", "reference"}
        if unknown:
            _fail(f"models.{name}", f"unknown keys {sorted(unknown)} (allowed: path, reference)")
        specs.append(ModelSpec(name=str(name), path=str(spec["path"]), reference=spec.get("reference")))
    return tuple(specs)


def load_config(cfg: DictConfig) -> EvalConfig:
    """Resolve and validate the Hydra config (`conf/pathvlm_eval.yaml`)."""
    c = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    files = c["data"]["files"]
    if isinstance(files, str):
        files = [files]
    if not files:
        _fail("data.files", "no RL Parquet file given")
    gen = c["generation"]
    n = int(gen["n"])
    if n < 1:
        _fail("generation.n", "must be at least 1")
    if n > 1 and float(gen["temperature"]) == 0:
        _fail("generation.n", "n > 1 samples need generation.temperature > 0 (greedy samples are identical)")
    engine = c["engine"]
    if engine["name"] not in ENGINES:
        _fail("engine.name", f"{engine['name']!r} is not one of {ENGINES}")
    if not (isinstance(engine["isolate_models"], bool) or engine["isolate_models"] == "auto"):
        _fail("engine.isolate_models", f"{engine['isolate_models']!r} is not one of auto, true, false")
    if c["scoring"]["protocol"] not in PROTOCOLS:
        _fail("scoring.protocol", f"{c['scoring']['protocol']!r} is not one of {PROTOCOLS}")
    metrics = c["metrics"]
    if not 0 < float(metrics["confidence"]) < 1:
        _fail("metrics.confidence", "must lie in (0, 1)")
    if int(metrics["bootstrap_resamples"]) < 1:
        _fail("metrics.bootstrap_resamples", "must be at least 1")
    return EvalConfig(
        models=_models(c["models"]),
        files=tuple(str(f) for f in files),
        limit=c["data"]["limit"],
        output_dir=Path(c["output_dir"]),
        engine=engine["name"],
        engine_options={name: dict(engine[name]) for name in ENGINES if name != "auto"},
        isolate_models=engine["isolate_models"],
        n=n,
        sampling=SamplingSettings(temperature=float(gen["temperature"]), top_p=float(gen["top_p"]),
                                  top_k=int(gen["top_k"]), max_new_tokens=int(gen["max_new_tokens"]),
                                  seed=int(gen["seed"])),
        pixels=PixelBudget(min_pixels=int(c["pixels"]["min_pixels"]), max_pixels=int(c["pixels"]["max_pixels"])),
        scoring_module=c["scoring"]["module"],
        protocol=c["scoring"]["protocol"],
        reward_kwargs=dict(c["scoring"]["reward_kwargs"]),
        rescore=bool(c["scoring"]["rescore"]),
        metrics=MetricSettings(
            confidence=float(metrics["confidence"]), bootstrap_resamples=int(metrics["bootstrap_resamples"]),
            seed=int(metrics["seed"]), pass_k=tuple(sorted({int(k) for k in metrics["pass_k"]})),
            breakdowns={str(ds): tuple(fields) for ds, fields in (metrics["breakdowns"] or {}).items()}),
        reference=c["report"]["reference"],
        plots=bool(c["report"]["plots"]),
    )
