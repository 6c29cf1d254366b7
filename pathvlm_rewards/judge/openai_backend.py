"""Judge over any OpenAI-compatible chat endpoint with image input, through the `openai` async client.

Timeouts, retries and backoff (408/409/429/5xx, connection errors; Retry-After honoured) are the
client's own. The API key is read from the environment variable named in config, never stored in
config or logged.
"""

from __future__ import annotations

import asyncio
import base64
import os
import weakref

import openai

from pathvlm_rewards.config import JudgeConfig
from pathvlm_rewards.judge.prompt import JudgeRequest

# Key sent to endpoints configured without authentication (`api_key_env: null`).
_NO_KEY = "no-key"


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


class OpenAIBackend:
    """One AsyncOpenAI client per event loop (the client's connection pool is bound to its loop)."""

    def __init__(self, config: JudgeConfig):
        self.config = config
        self._key = _api_key(config)
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, openai.AsyncOpenAI] = (
            weakref.WeakKeyDictionary()
        )

    def redact(self, text: str) -> str:
        """`text` with the API key masked (for log lines that quote server messages)."""
        return text.replace(self._key, "***") if self._key != _NO_KEY else text

    def _client(self) -> openai.AsyncOpenAI:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = openai.AsyncOpenAI(
                api_key=self._key,
                base_url=self.config.base_url,
                timeout=self.config.timeout_s,
                max_retries=self.config.max_retries,
            )
            self._clients[loop] = client
        return client

    async def complete(self, request: JudgeRequest) -> str:
        """The judge's reply text ("" when the endpoint returns no content)."""
        image_url = f"data:{request.image_mime};base64,{base64.b64encode(request.image).decode('ascii')}"
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
            )
        except (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError) as error:
            raise JudgeConfigError(
                f"judge endpoint refused the call (HTTP {error.status_code}, model {self.config.model!r}); "
                f"check reward_kwargs.judge.model/base_url and the key in ${self.config.api_key_env}"
            ) from None
        if not completion.choices:
            return ""
        return completion.choices[0].message.content or ""
