"""Judging audit items with the real judge runner: configuration from YAML, the cache off, a progress bar."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from tqdm import tqdm

from pathvlm_rewards.audit.items import AuditInputError, AuditItem
from pathvlm_rewards.config import JudgeConfig, parse_reward_kwargs
from pathvlm_rewards.judge.image import ImageUnavailable, judge_image
from pathvlm_rewards.judge.runner import Judge, JudgeSample
from pathvlm_rewards.judge.verdict import Verdict


def judge_config(config_file: Path | None, settings: Sequence[str]) -> JudgeConfig:
    """The judge of `config_file` (judge keys, at the top or under `judge:`, e.g. a preset of conf/judge/, its
    `${oc.env:...}` resolved) with `key=value` settings over it, validated like reward_kwargs.judge; the cache is
    always off."""
    given: dict[str, Any] = {}
    if config_file is not None:
        try:
            loaded = OmegaConf.to_container(OmegaConf.load(config_file), resolve=True) or {}
        except (OSError, yaml.YAMLError, OmegaConfBaseException) as error:
            raise AuditInputError(f"--judge-config {config_file}: {error}") from error
        if not isinstance(loaded, Mapping):
            raise AuditInputError(f"--judge-config {config_file}: expected a mapping of judge settings")
        given.update(loaded.get("judge", loaded))
    for setting in settings:
        name, equals, value = setting.partition("=")
        if not equals:
            raise AuditInputError(f"--judge-set {setting!r}: expected key=value, e.g. model=gpt-4o")
        given[name.strip()] = yaml.safe_load(value)
    try:
        config = parse_reward_kwargs({"judge": given}).judge
    except ValueError as error:
        raise AuditInputError(str(error)) from error
    return replace(config, cache_dir=None)


async def _verdict(judge: Judge, item: AuditItem) -> Verdict:
    try:
        image = judge_image(item.row.extra_info, judge.config.max_image_pixels)
    except ImageUnavailable as error:
        return judge.without_image(item.correct, str(error))
    return await judge.score(JudgeSample(question=item.row.question, options=item.row.options, gold=item.row.gold,
                                         correct=item.correct, response=item.response, image=image))


async def _run(judge: Judge, items: Sequence[AuditItem], label: str) -> list[Verdict]:
    async def indexed(position: int, item: AuditItem) -> tuple[int, Verdict]:
        return position, await _verdict(judge, item)

    verdicts: list[Verdict | None] = [None] * len(items)
    tasks = [indexed(position, item) for position, item in enumerate(items)]
    for done in tqdm(asyncio.as_completed(tasks), total=len(items), desc=label, unit="response"):
        position, verdict = await done
        verdicts[position] = verdict
    return verdicts


def judge_runs(config: JudgeConfig, items: Sequence[AuditItem], runs: int) -> list[list[Verdict]]:
    """`runs` independent judgings of every item (runs × items), one run after the other, nothing cached."""
    judge = Judge(replace(config, cache_dir=None))

    async def every_run() -> list[list[Verdict]]:
        return [await _run(judge, items, f"run {run + 1}/{runs}") for run in range(runs)]

    return asyncio.run(every_run())
