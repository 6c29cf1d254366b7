"""Endpoint engine: any OpenAI-compatible chat endpoint with image input (an API model, a vLLM or
`transformers serve` server of any checkpoint), through pathvlm_rewards.openai_client (the judge's client:
the `openai` async client's own timeouts, retries and backoff, every attempt counted).

Each sample is one call (`n` is not honoured by every server), seeded with generation.seed + its sample number,
so samples of one question differ and a resumed run draws the ones it lacks. Calls run `max_concurrency` at a
time and are handed back as they finish, so the runner stores each at once.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import openai
from PIL import Image

from pathvlm_eval.chat import endpoint_messages
from pathvlm_eval.engines.base import Completed, Generation, Request, SamplingSettings
from pathvlm_rewards.judge.usage import CallUsage
from pathvlm_rewards.openai_client import (
    add_reply_tokens,
    async_client,
    counted_into,
    endpoint_url,
    image_data_url,
    read_api_key,
    redact,
)

SETTINGS = "engine.openai"


class EndpointError(RuntimeError):
    """The endpoint cannot be used as configured, or a call failed after its retries (the message names the
    setting to check)."""


@dataclass(frozen=True)
class Prices:
    """USD per million tokens, for the cost estimate."""

    price_per_million_input_tokens: float
    price_per_million_output_tokens: float


def _positive(name: str, value: float, minimum: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise EndpointError(f"{SETTINGS}.{name} must be a number >= {minimum}, got {value!r}")


def _prices(price_in: float | None, price_out: float | None) -> Prices | None:
    """Both prices, or None when either is unknown (no cost estimate)."""
    if price_in is None or price_out is None:
        return None
    _positive("price_per_million_input_tokens", price_in, 0)
    _positive("price_per_million_output_tokens", price_out, 0)
    return Prices(float(price_in), float(price_out))


def png_data_url(image: Image.Image) -> str:
    """The decoded image as a lossless PNG `data:` URL, so the server sees exactly the pixels a local engine does."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return image_data_url(buffer.getvalue(), "image/png")


class OpenAIEngine:
    """`model` as the endpoint serves it (models.NAME.path), called over HTTP."""

    def __init__(self, model: str, base_url: str | None, api_key_env: str | None, max_concurrency: int,
                 timeout_s: float, max_retries: int, extra_body: Mapping[str, Any] | None,
                 price_per_million_input_tokens: float | None, price_per_million_output_tokens: float | None) -> None:
        _positive("max_concurrency", max_concurrency, 1)
        _positive("timeout_s", timeout_s, 1e-3)
        _positive("max_retries", max_retries, 0)
        self.model = model
        self.endpoint = endpoint_url(base_url)
        self._api_key_env = api_key_env
        self._key = read_api_key(api_key_env, f"{SETTINGS}.api_key_env", EndpointError)
        if extra_body is not None and not isinstance(extra_body, Mapping):
            raise EndpointError(f"{SETTINGS}.extra_body must be a mapping (request fields) or null, got {extra_body!r}")
        self._extra_body = dict(extra_body) if extra_body else None
        self._prices = _prices(price_per_million_input_tokens, price_per_million_output_tokens)
        self._loop = asyncio.new_event_loop()
        self._slots = asyncio.Semaphore(int(max_concurrency))
        self._client = async_client(self._key, base_url, float(timeout_s), int(max_retries))

    def generate(self, requests: Sequence[Request], sampling: SamplingSettings) -> Iterator[list[Completed]]:
        """Every sample of every request, handed back as soon as its call returns; the first failed call raises
        (after its retries) and cancels the rest."""
        if sampling.top_k > 0:
            raise EndpointError("generation.top_k is not part of the OpenAI chat API; set it to -1 (a server that "
                                f"accepts it, e.g. vLLM, takes it through {SETTINGS}.extra_body)")
        calls = {}
        for position, request in enumerate(requests):
            messages = endpoint_messages(request.prompt, [png_data_url(image) for image in request.images])
            for sample in request.samples:
                task = self._loop.create_task(self._sample(messages, sample, sampling))
                calls[task] = (position, sample)
        pending = set(calls)
        try:
            while pending:
                done, pending = self._loop.run_until_complete(
                    asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED))
                failed = [task.exception() for task in done if task.exception() is not None]
                finished = [(*calls[task], task.result()) for task in done if task.exception() is None]
                if finished:
                    yield finished
                if failed:
                    raise failed[0]
        finally:
            if pending:  # a failure, or the caller stopped early: cancel the calls still waiting
                for task in pending:
                    task.cancel()
                self._loop.run_until_complete(asyncio.wait(pending))

    async def _sample(self, messages: list[dict[str, Any]], sample: int, sampling: SamplingSettings) -> Generation:
        usage = CallUsage(calls=1)
        async with self._slots:
            start = time.monotonic()
            try:
                with counted_into(usage):
                    completion = await self._client.chat.completions.create(
                        model=self.model, messages=messages, temperature=sampling.temperature, top_p=sampling.top_p,
                        max_tokens=sampling.max_new_tokens, seed=sampling.seed + sample, extra_body=self._extra_body)
            except openai.OpenAIError as error:
                raise self._explain(error, usage) from None
            usage.latency_s = time.monotonic() - start
        add_reply_tokens(usage, completion)
        if not completion.choices:
            raise EndpointError(f"{self.endpoint} returned no choices for model {self.model!r}")
        choice = completion.choices[0]
        return Generation(text=choice.message.content or "", num_tokens=usage.completion_tokens,
                          finish_reason="length" if choice.finish_reason == "length" else "stop",
                          usage=self._usage_record(usage))

    def _usage_record(self, usage: CallUsage) -> dict[str, float | None]:
        return {"calls": usage.calls, "retries": usage.retries, "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens, "latency_s": usage.latency_s,
                "cost_usd": usage.cost_usd(self._prices) if self._prices else None}

    def _explain(self, error: openai.OpenAIError, usage: CallUsage) -> EndpointError:
        """A failed call as an error naming the setting to check (the key masked in whatever is quoted)."""
        attempts = f"after {usage.attempts} attempt(s)"
        if isinstance(error, openai.APITimeoutError):
            message = f"{self.endpoint} did not answer within {SETTINGS}.timeout_s {attempts}"
        elif isinstance(error, openai.APIConnectionError):
            message = f"cannot reach {self.endpoint} ({SETTINGS}.base_url) {attempts}: {error}"
        elif isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
            message = (f"{self.endpoint} refused the key (HTTP {error.status_code}); check ${self._api_key_env} "
                       f"({SETTINGS}.api_key_env): {error.message}")
        elif isinstance(error, openai.BadRequestError | openai.NotFoundError | openai.UnprocessableEntityError):
            message = (f"{self.endpoint} rejected the request for model {self.model!r} (HTTP {error.status_code}; "
                       f"the served model name is models.<name>.path; other fields: {SETTINGS}.extra_body, "
                       f"generation.*): {error.message}")
        elif isinstance(error, openai.APIStatusError):
            message = f"{self.endpoint} answered HTTP {error.status_code} {attempts}: {error.message}"
        else:
            message = f"{self.endpoint}: {type(error).__name__}: {error}"
        return EndpointError(redact(message, self._key))

    def close(self) -> None:
        self._loop.run_until_complete(self._client.close())
        self._loop.close()
