"""Judge over any OpenAI-compatible chat endpoint with image input, through the `openai` async client.

Timeouts, retries and backoff (408/409/429/5xx, connection errors; Retry-After honoured) are the
client's own; every HTTP attempt is counted into the call's usage, and the reply's token counts are
added to it. The API key is read from the environment variable named in config, never stored in
config or logged.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import weakref
from contextvars import ContextVar
from typing import Any

import openai

from pathvlm_rewards.config import JudgeConfig
from pathvlm_rewards.judge.prompt import JudgeRequest
from pathvlm_rewards.judge.usage import CallUsage

# Key sent to endpoints configured without authentication (`api_key_env: null`).
_NO_KEY = "no-key"
# The openai client's own default endpoint (when neither base_url nor $OPENAI_BASE_URL is set).
_DEFAULT_ENDPOINT = "https://api.openai.com/v1"
# The usage of the call in progress in this task: the client's request hook counts attempts into it.
_current_usage: ContextVar[CallUsage | None] = ContextVar("judge_call_usage", default=None)


class JudgeConfigError(RuntimeError):
    """The judge endpoint refuses every call (credentials, model name): a configuration error."""


def _api_key(config: JudgeConfig) -> str:
    if config.api_key_env is None:
        return _NO_KEY
    key = os.environ.get(config.api_key_env)
    if not key:
        raise JudgeConfigError(
            f"reward_kwargs.judge.api_key_env names {config.api_key_env!r}, which is not set in the environment"
        )
    return key


def _tokens(count: Any) -> int:
    """A token count from the reply's usage; 0 when the server sent none or nonsense."""
    return count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else 0


async def _count_attempt(_request: Any) -> None:
    usage = _current_usage.get()
    if usage is not None:
        usage.attempts += 1


class OpenAIBackend:
    """One AsyncOpenAI client per event loop (the client's connection pool is bound to its loop)."""

    def __init__(self, config: JudgeConfig):
        self.config = config
        self._key = _api_key(config)
        self._extra_body = json.loads(config.extra_body) if config.extra_body else None
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, openai.AsyncOpenAI] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def endpoint(self) -> str:
        """The URL calls go to, as the client resolves it (part of the cache key)."""
        return (self.config.base_url or os.environ.get("OPENAI_BASE_URL") or _DEFAULT_ENDPOINT).rstrip("/")

    def redact(self, text: str) -> str:
        """`text` with the API key masked (for log lines that quote server messages)."""
        return text.replace(self._key, "***") if self._key != _NO_KEY else text

    @staticmethod
    def failure_reason(error: Exception) -> str:
        """The fallback reason for a call that raised `error` (verdict.ERROR_REASONS)."""
        if isinstance(error, openai.APITimeoutError):
            return "timeout"
        if isinstance(error, openai.APIConnectionError):
            return "network"
        if isinstance(error, openai.APIStatusError):
            return "http"
        return "other"

    def _client(self) -> openai.AsyncOpenAI:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = openai.AsyncOpenAI(
                api_key=self._key,
                base_url=self.config.base_url,
                timeout=self.config.timeout_s,
                max_retries=self.config.max_retries,
                http_client=openai.DefaultAsyncHttpxClient(event_hooks={"request": [_count_attempt]}),
            )
            self._clients[loop] = client
        return client

    async def complete(self, request: JudgeRequest, usage: CallUsage) -> str:
        """The judge's reply text ("" when the endpoint returns no content); attempts and tokens go to `usage`."""
        image_url = f"data:{request.image_mime};base64,{base64.b64encode(request.image).decode('ascii')}"
        token = _current_usage.set(usage)
        try:
            completion = await self._client().chat.completions.create(
                model=self.config.model,
                messages=[
                    {"role": "system", "content": request.system},
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": image_url}},
                            {"type": "text", "text": request.user_text},
                        ],
                    },
                ],
                temperature=self.config.temperature,
                max_tokens=self.config.max_tokens,
                extra_body=self._extra_body,
            )
        except (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError) as error:
            raise JudgeConfigError(
                f"judge endpoint refused the call (HTTP {error.status_code}, model {self.config.model!r}); "
                f"check reward_kwargs.judge.model/base_url and the key in ${self.config.api_key_env}"
            ) from None
        finally:
            _current_usage.reset(token)
        if completion.usage is not None:
            usage.prompt_tokens += _tokens(completion.usage.prompt_tokens)
            usage.completion_tokens += _tokens(completion.usage.completion_tokens)
        if not completion.choices:
            return ""
        return completion.choices[0].message.content or ""
