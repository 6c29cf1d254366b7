"""Judge over any OpenAI-compatible chat endpoint with image input, through the `openai` async client.

The client, its retries and the usage accounting are pathvlm_rewards.openai_client's (shared with
pathvlm_eval's `openai` engine). The API key is read from the environment variable named in config,
never stored in config or logged.
"""

from __future__ import annotations

import asyncio
import json
import weakref

import openai

from pathvlm_rewards.config import JudgeConfig
from pathvlm_rewards.judge.prompt import JudgeRequest
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


class JudgeConfigError(RuntimeError):
    """The judge endpoint refuses every call (credentials, model name): a configuration error."""


class OpenAIBackend:
    """One AsyncOpenAI client per event loop (the client's connection pool is bound to its loop)."""

    def __init__(self, config: JudgeConfig):
        self.config = config
        self._key = read_api_key(config.api_key_env, "reward_kwargs.judge.api_key_env", JudgeConfigError)
        self._extra_body = json.loads(config.extra_body) if config.extra_body else None
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, openai.AsyncOpenAI] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def endpoint(self) -> str:
        """The URL calls go to, as the client resolves it (part of the cache key)."""
        return endpoint_url(self.config.base_url)

    def redact(self, text: str) -> str:
        """`text` with the API key masked (for log lines that quote server messages)."""
        return redact(text, self._key)

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
            client = self._clients[loop] = async_client(self._key, self.config.base_url, self.config.timeout_s,
                                                        self.config.max_retries)
        return client

    async def complete(self, request: JudgeRequest, usage: CallUsage) -> str:
        """The judge's reply text ("" when the endpoint returns no content); attempts and tokens go to `usage`."""
        try:
            with counted_into(usage):
                completion = await self._client().chat.completions.create(
                    model=self.config.model,
                    messages=[
                        {"role": "system", "content": request.system},
                        {
                            "role": "user",
                            "content": [
                                {"type": "image_url",
                                 "image_url": {"url": image_data_url(request.image, request.image_mime)}},
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
        add_reply_tokens(usage, completion)
        if not completion.choices:
            return ""
        return completion.choices[0].message.content or ""
