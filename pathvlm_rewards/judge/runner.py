"""One judge per (process, judge config): cache, de-duplication, bounded concurrency, the per-call cap,
parsing, and the paper's fallback (0.5 per dimension if the answer was correct, else 0)."""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

from pathvlm_rewards.config import JudgeConfig
from pathvlm_rewards.judge.cache import CachedVerdict, JudgeCache, cache_key
from pathvlm_rewards.judge.image import JudgeImage
from pathvlm_rewards.judge.openai_backend import JudgeConfigError, OpenAIBackend
from pathvlm_rewards.judge.parse import parse_judge_reply
from pathvlm_rewards.judge.prompt import build_request, rubric_id
from pathvlm_rewards.judge.transformers_backend import TransformersBackend

logger = logging.getLogger(__name__)

FALLBACK_IF_CORRECT = 0.5


@dataclass(frozen=True)
class JudgeSample:
    """Everything the judge sees about one response."""

    question: str
    options: Sequence[str]
    gold: str
    correct: bool
    response: str
    image: JudgeImage


@dataclass(frozen=True)
class Verdict:
    integrity: float
    knowledge: float
    fallback: bool  # the paper's fallback was used (unparseable reply, or no reply at all)
    error: bool  # no reply: timeout, cap, transport or server error (not cached; retried next time)

    @property
    def process(self) -> float:
        return (self.integrity + self.knowledge) / 2


def fallback_verdict(correct: bool, error: bool) -> Verdict:
    value = FALLBACK_IF_CORRECT if correct else 0.0
    return Verdict(value, value, fallback=True, error=error)


@dataclass
class _LoopState:
    semaphore: asyncio.Semaphore
    in_flight: dict[str, asyncio.Future] = field(default_factory=dict)


class Judge:
    def __init__(self, config: JudgeConfig):
        self.config = config
        self.backend = OpenAIBackend(config) if config.backend == "openai" else TransformersBackend(config)
        self.cache = JudgeCache(config.cache_dir) if config.cache_dir else None
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()
        self._warned_without_image = False

    def key(self, sample: JudgeSample) -> str:
        config = self.config
        return cache_key(
            image=sample.image.sha256, question=sample.question, options=list(sample.options), gold=sample.gold,
            correct=sample.correct, response=sample.response, model=config.model, rubric=rubric_id(),
            temperature=config.temperature, max_tokens=config.max_tokens,
            max_response_chars=config.max_response_chars, max_image_pixels=config.max_image_pixels,
        )

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            state = self._loops[loop] = _LoopState(asyncio.Semaphore(self.config.max_concurrency))
        return state

    def without_image(self, correct: bool, reason: str) -> Verdict:
        """The fallback for a response whose row has no usable image: no call, counted as an error.

        Logged once per judge (a worker would otherwise repeat it for every response of a bad data set).
        """
        if not self._warned_without_image:
            self._warned_without_image = True
            logger.warning("the judge cannot see the row's image (%s); using the paper's fallback, counted in "
                           "judge_error (logged once; rebuild the Parquet with data_prep so rows carry "
                           "extra_info.image_bytes)", reason)
        return fallback_verdict(correct, error=True)

    async def score(self, sample: JudgeSample) -> Verdict:
        """The verdict on one response: from the cache, a call already in flight, or a new call."""
        key = self.key(sample)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                return Verdict(hit.integrity, hit.knowledge, fallback=hit.fallback, error=False)
        state = self._state()
        pending = state.in_flight.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._call(key, sample, state.semaphore))
            state.in_flight[key] = pending
            pending.add_done_callback(lambda _: state.in_flight.pop(key, None))
        return await asyncio.shield(pending)

    async def _call(self, key: str, sample: JudgeSample, semaphore: asyncio.Semaphore) -> Verdict:
        async with semaphore:
            request = build_request(
                question=sample.question, options=sample.options, gold=sample.gold, correct=sample.correct,
                response=sample.response, image=sample.image.data, image_mime=sample.image.mime,
                max_response_chars=self.config.max_response_chars,
            )
            try:
                reply = await asyncio.wait_for(self.backend.complete(request), self.config.call_cap_s)
            except JudgeConfigError:
                raise
            except asyncio.TimeoutError:
                logger.warning("judge call exceeded call_cap_s=%.1fs; using the fallback", self.config.call_cap_s)
                return fallback_verdict(sample.correct, error=True)
            except Exception as error:  # any failure of one call must not stop training
                message = self.backend.redact(f"{type(error).__name__}: {error}")
                logger.warning("judge call failed (%s); using the fallback", message)
                return fallback_verdict(sample.correct, error=True)
        scores = parse_judge_reply(reply, sample.response)
        verdict = fallback_verdict(sample.correct, error=False) if scores is None \
            else Verdict(scores[0], scores[1], fallback=False, error=False)
        if self.cache is not None:
            self.cache.put(key, CachedVerdict(verdict.integrity, verdict.knowledge, verdict.fallback), reply)
        return verdict


_judges: dict[tuple[int, JudgeConfig], Judge] = {}


def get_judge(config: JudgeConfig) -> Judge:
    """The process's judge for `config` (backends, clients, models and the cache are built once)."""
    key = (os.getpid(), config)
    judge = _judges.get(key)
    if judge is None:
        judge = _judges[key] = Judge(config)
    return judge
