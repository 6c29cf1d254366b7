"""What every OpenAI-compatible chat client of the project shares: the process reward's judge backend and
pathvlm_eval's `openai` engine.

The key comes from an environment variable named in config and is never stored or logged. Timeouts, retries
and backoff (408/409/429/5xx, connection errors; Retry-After honoured) are the `openai` async client's own;
every HTTP attempt of a call is counted into its CallUsage, and the reply's token counts are added to it.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import openai

from pathvlm_rewards.judge.usage import CallUsage

# Key sent to endpoints configured without authentication (`api_key_env: null`).
NO_KEY = "no-key"
# The openai client's own default endpoint (when neither base_url nor $OPENAI_BASE_URL is set).
DEFAULT_ENDPOINT = "https://api.openai.com/v1"
# The usage of the call in progress in this task: the client's request hook counts attempts into it.
_current_usage: ContextVar[CallUsage | None] = ContextVar("openai_call_usage", default=None)


def read_api_key(env_name: str | None, setting: str, error: type[Exception]) -> str:
    """The key held by $`env_name` (NO_KEY when `env_name` is None); `error` naming `setting` when it is unset."""
    if env_name is None:
        return NO_KEY
    key = os.environ.get(env_name)
    if not key:
        raise error(f"{setting} names {env_name!r}, which is not set in the environment")
    return key


def endpoint_url(base_url: str | None) -> str:
    """The URL calls go to, as the client resolves it."""
    return (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_ENDPOINT).rstrip("/")


def redact(text: str, key: str) -> str:
    """`text` with the API key masked (for messages that quote a server or a request)."""
    return text.replace(key, "***") if key != NO_KEY else text


def image_data_url(data: bytes, mime: str) -> str:
    """An encoded image as the `data:` URL of an `image_url` content part."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


async def _count_attempt(_request: Any) -> None:
    usage = _current_usage.get()
    if usage is not None:
        usage.attempts += 1


def async_client(api_key: str, base_url: str | None, timeout_s: float, max_retries: int) -> openai.AsyncOpenAI:
    """An AsyncOpenAI client (bound to the event loop it is first used on) that counts HTTP attempts."""
    return openai.AsyncOpenAI(
        api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=max_retries,
        http_client=openai.DefaultAsyncHttpxClient(event_hooks={"request": [_count_attempt]}),
    )


@contextmanager
def counted_into(usage: CallUsage) -> Iterator[CallUsage]:
    """Count the HTTP attempts of the calls made inside the block (in this task) into `usage`."""
    token = _current_usage.set(usage)
    try:
        yield usage
    finally:
        _current_usage.reset(token)


def _tokens(count: Any) -> int:
    """A token count from the reply's usage; 0 when the server sent none or nonsense."""
    return count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else 0


def add_reply_tokens(usage: CallUsage, completion: Any) -> None:
    """Add the reply's prompt and completion token counts (when the server sent them) to `usage`."""
    if completion.usage is not None:
        usage.prompt_tokens += _tokens(completion.usage.prompt_tokens)
        usage.completion_tokens += _tokens(completion.usage.completion_tokens)
