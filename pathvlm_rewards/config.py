"""`reward_kwargs` → typed, validated configuration (defaults from defaults.yaml, merged key by key).

Values may arrive as OmegaConf containers (verl binds them with functools.partial); any Mapping works.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

# Keyword arguments verl itself may add to the call (reward-model router); accepted and ignored.
VERL_CALL_KWARGS = frozenset({"reward_router_address", "reward_model_tokenizer"})
SECTIONS = ("weights", "judge")
BACKENDS = ("openai", "transformers")
DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass(frozen=True)
class Weights:
    accuracy: float
    format: float
    process: float


@dataclass(frozen=True)
class JudgeConfig:
    backend: str
    model: str
    base_url: str | None
    api_key_env: str | None
    temperature: float
    max_tokens: int
    timeout_s: float
    max_retries: int
    reasks: int
    call_cap_s: float
    max_concurrency: int
    cache_dir: str | None
    max_response_chars: int
    max_image_pixels: int | None
    device: str
    dtype: str
    extra_body: str | None  # canonical JSON of the extra request fields (hashable, part of the cache key)
    price_per_million_input_tokens: float
    price_per_million_output_tokens: float


@dataclass(frozen=True)
class RewardConfig:
    weights: Weights
    judge: JudgeConfig


# Field kinds: (accepted python types, nullable, lower bound for numbers).
_NUMBER, _COUNT, _TEXT, _MAPPING = (int, float), (int,), (str,), (Mapping,)
_SPEC: dict[str, dict[str, tuple[tuple[type, ...], bool, float | None]]] = {
    "weights": {name: (_NUMBER, False, 0.0) for name in ("accuracy", "format", "process")},
    "judge": {
        "backend": (_TEXT, False, None),
        "model": (_TEXT, False, None),
        "base_url": (_TEXT, True, None),
        "api_key_env": (_TEXT, True, None),
        "temperature": (_NUMBER, False, 0.0),
        "max_tokens": (_COUNT, False, 1),
        "timeout_s": (_NUMBER, False, 0.0),
        "max_retries": (_COUNT, False, 0),
        "reasks": (_COUNT, False, 0),
        "call_cap_s": (_NUMBER, False, 0.0),
        "max_concurrency": (_COUNT, False, 1),
        "cache_dir": (_TEXT, True, None),
        "max_response_chars": (_COUNT, False, 1),
        "max_image_pixels": (_COUNT, True, 1),
        "device": (_TEXT, False, None),
        "dtype": (_TEXT, False, None),
        "extra_body": (_MAPPING, True, None),
        "price_per_million_input_tokens": (_NUMBER, False, 0.0),
        "price_per_million_output_tokens": (_NUMBER, False, 0.0),
    },
}


@cache
def defaults() -> dict[str, dict[str, Any]]:
    """The packaged defaults (defaults.yaml)."""
    text = (resources.files("pathvlm_rewards") / "defaults.yaml").read_text(encoding="utf-8")
    loaded = yaml.safe_load(text)
    for section, spec in _SPEC.items():
        if set(loaded.get(section, {})) != set(spec):
            raise RuntimeError(f"defaults.yaml section {section!r} must define exactly {sorted(spec)}")
    return loaded


def _plain(value: Any) -> Any:
    """Mappings and sequences (OmegaConf containers included) as dicts and lists, for JSON."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(item) for item in value]
    return value


def _check(section: str, name: str, value: Any) -> Any:
    types, nullable, lower = _SPEC[section][name]
    where = f"reward_kwargs.{section}.{name}"
    if value is None:
        if not nullable:
            raise ValueError(f"{where} must not be null")
        return None
    if isinstance(value, bool) or not isinstance(value, types):
        kinds = " or ".join(t.__name__ for t in types)
        raise ValueError(f"{where} must be {kinds}{' or null' if nullable else ''}, got {value!r}")
    if lower is not None and (not math.isfinite(value) or value < lower):
        raise ValueError(f"{where} must be a finite number >= {lower}, got {value!r}")
    if types is _MAPPING:
        try:
            return json.dumps(_plain(value), sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where} must hold JSON values only: {error}") from error
    return float(value) if types is _NUMBER else value


def _section(section: str, given: Any) -> dict[str, Any]:
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        raise ValueError(f"reward_kwargs.{section} must be a mapping, got {type(given).__name__}")
    unknown = sorted(str(key) for key in given if key not in _SPEC[section])
    if unknown:
        raise ValueError(f"unknown reward_kwargs.{section} key(s) {unknown}; valid: {sorted(_SPEC[section])}")
    merged = {**defaults()[section], **{str(key): given[key] for key in given}}
    return {name: _check(section, name, value) for name, value in merged.items()}


def _judge(values: dict[str, Any]) -> JudgeConfig:
    if values["backend"] not in BACKENDS:
        raise ValueError(f"reward_kwargs.judge.backend must be one of {BACKENDS}, got {values['backend']!r}")
    if values["dtype"] not in DTYPES:
        raise ValueError(f"reward_kwargs.judge.dtype must be one of {DTYPES}, got {values['dtype']!r}")
    if values["device"] not in ("auto", "cpu") and not values["device"].startswith("cuda"):
        raise ValueError(f"reward_kwargs.judge.device must be auto, cpu or cuda[:N], got {values['device']!r}")
    if values["call_cap_s"] <= 0 or values["timeout_s"] <= 0:
        raise ValueError("reward_kwargs.judge.call_cap_s and timeout_s must be > 0")
    return JudgeConfig(**values)


def parse_reward_kwargs(reward_kwargs: Mapping[str, Any]) -> RewardConfig:
    """Validate `reward_kwargs` and merge it over the defaults; a clear ValueError on any bad key/value."""
    unknown = sorted(str(key) for key in reward_kwargs if key not in SECTIONS and key not in VERL_CALL_KWARGS)
    if unknown:
        raise ValueError(f"unknown reward_kwargs key(s) {unknown}; valid: {list(SECTIONS)}")
    weights = Weights(**_section("weights", reward_kwargs.get("weights")))
    return RewardConfig(weights=weights, judge=_judge(_section("judge", reward_kwargs.get("judge"))))


_MEMO_SIZE = 64
_memo: dict[tuple[int, int], tuple[Any, Any, RewardConfig]] = {}


def config_for_call(reward_kwargs: Mapping[str, Any]) -> RewardConfig:
    """`parse_reward_kwargs`, memoised on the identity of the `weights`/`judge` objects.

    verl binds the same config objects to every call, so each process parses them once. (A mapping
    mutated in place after its first use is not re-read: build a new one instead.)
    """
    weights, judge = reward_kwargs.get("weights"), reward_kwargs.get("judge")
    key = (id(weights), id(judge))
    hit = _memo.get(key)
    known = all(name in SECTIONS or name in VERL_CALL_KWARGS for name in reward_kwargs)
    if hit is not None and hit[0] is weights and hit[1] is judge and known:
        return hit[2]
    parsed = parse_reward_kwargs(reward_kwargs)
    if len(_memo) >= _MEMO_SIZE:
        _memo.clear()
    _memo[key] = (weights, judge, parsed)
    return parsed
