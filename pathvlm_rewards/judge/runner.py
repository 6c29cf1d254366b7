"""One judge per (process, judge config): cache, de-duplication, bounded concurrency, the per-call cap,
re-asks when a reply holds no scores, usage accounting, and the paper's fallback (0.5 per dimension
if the answer was correct, else 0) with its reason."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from pathvlm_rewards.config import JudgeConfig
from pathvlm_rewards.judge.cache import JudgeCache, cache_key
from pathvlm_rewards.judge.image import JudgeImage
from pathvlm_rewards.judge.openai_backend import JudgeConfigError, OpenAIBackend
from pathvlm_rewards.judge.parse import parse_judge_reply
from pathvlm_rewards.judge.prompt import JudgeRequest, build_request
from pathvlm_rewards.judge.transformers_backend import TransformersBackend
from pathvlm_rewards.judge.usage import CallUsage
from pathvlm_rewards.judge.verdict import UNPARSEABLE, Verdict, fallback_verdict

logger = logging.getLogger(__name__)

# Bump when sanitising or parsing changes what a verdict means (the templates are hashed into keys anyway).
JUDGE_VERSION = "1.1"


@dataclass(frozen=True)
class JudgeSample:
    """Everything the judge sees about one response."""

    question: str
    options: Sequence[str]
    gold: str
    correct: bool
    response: str
    image: JudgeImage


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

    def request(self, sample: JudgeSample) -> JudgeRequest:
        return build_request(
            question=sample.question, options=sample.options, gold=sample.gold, correct=sample.correct,
            response=sample.response, image=sample.image.data, image_mime=sample.image.mime,
            max_response_chars=self.config.max_response_chars,
        )

    def key(self, sample: JudgeSample, request: JudgeRequest | None = None) -> str:
        """Cache key: the judge (backend, endpoint, model, sampling, extra body, parse rules) and all it is shown."""
        request = request or self.request(sample)
        config = self.config
        return cache_key(
            version=JUDGE_VERSION, backend=config.backend, endpoint=self.backend.endpoint, model=config.model,
            temperature=config.temperature, max_tokens=config.max_tokens, extra_body=config.extra_body,
            system=request.system, user=request.user_text, image_mime=request.image_mime,
            image=hashlib.sha256(request.image).hexdigest(),
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
        return fallback_verdict(correct, "no_image")

    async def score(self, sample: JudgeSample) -> Verdict:
        """The verdict on one response: from the cache, a call already in flight, or a new call."""
        request = self.request(sample)
        key = self.key(sample, request)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                return Verdict(*hit, reason=None, cache_hit=True, sanitized=request.sanitized)
        state = self._state()
        pending = state.in_flight.get(key)
        if pending is not None:  # an identical response is being judged: share its verdict, not its cost
            verdict = await asyncio.shield(pending)
            return replace(verdict, usage=CallUsage(), cost_usd=0.0, cache_hit=True)
        pending = asyncio.ensure_future(self._call(key, request, sample.correct, state.semaphore))
        state.in_flight[key] = pending
        pending.add_done_callback(lambda _: state.in_flight.pop(key, None))
        return await asyncio.shield(pending)

    async def _ask(self, request: JudgeRequest, usage: CallUsage) -> tuple[str, tuple[float, float] | None]:
        """The reply and its scores; asked again (`reasks` times), reminded of the format, while it holds none."""
        reply = ""
        for asked in (request, *[request.reask()] * self.config.reasks):
            usage.calls += 1
            reply = await self.backend.complete(asked, usage)
            scores = parse_judge_reply(reply)
            if scores is not None:
                return reply, scores
        return reply, None

    async def _call(self, key: str, request: JudgeRequest, correct: bool, semaphore: asyncio.Semaphore) -> Verdict:
        usage = CallUsage()
        reason: str | None = None
        scores = None
        async with semaphore:
            start = time.monotonic()
            try:
                reply, scores = await asyncio.wait_for(self._ask(request, usage), self.config.call_cap_s)
            except JudgeConfigError:
                raise
            except asyncio.TimeoutError:
                logger.warning("judge call exceeded call_cap_s=%.1fs; using the fallback", self.config.call_cap_s)
                reason = "timeout"
            except Exception as error:  # any failure of one call must not stop training
                reason = self.backend.failure_reason(error)
                logger.warning("judge call failed (%s); using the fallback",
                               self.backend.redact(f"{type(error).__name__}: {error}"))
            usage.latency_s = time.monotonic() - start
        details = {"usage": usage, "cost_usd": usage.cost_usd(self.config), "sanitized": request.sanitized}
        if reason is not None:
            return fallback_verdict(correct, reason, **details)
        if scores is None:
            logger.info("judge reply held no scores after %d re-ask(s); using the fallback (not cached)",
                        self.config.reasks)
            return fallback_verdict(correct, UNPARSEABLE, **details)
        if self.cache is not None:
            self.cache.put(key, scores, reply)
        return Verdict(*scores, reason=None, **details)


_judges: dict[tuple[int, JudgeConfig], Judge] = {}


def get_judge(config: JudgeConfig) -> Judge:
    """The process's judge for `config` (backends, clients, models and the cache are built once)."""
    key = (os.getpid(), config)
    judge = _judges.get(key)
    if judge is None:
        judge = _judges[key] = Judge(config)
    return judge
