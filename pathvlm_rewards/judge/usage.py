"""What one call cost (a response's judging, an evaluation sample from an endpoint): calls, HTTP attempts, tokens,
wall time, and the price of the tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class Prices(Protocol):
    """List prices in USD per million tokens (the judge's config, the evaluation engine's settings)."""

    price_per_million_input_tokens: float
    price_per_million_output_tokens: float


@dataclass
class CallUsage:
    """Filled while a response is judged (the backend adds attempts and tokens); zeros for a cache hit."""

    calls: int = 0  # backend calls: 1, or 2 when the first reply held no scores
    attempts: int = 0  # HTTP requests (or generations), retries included
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0

    @property
    def retries(self) -> int:
        return max(0, self.attempts - self.calls)

    def cost_usd(self, prices: Prices) -> float:
        """The tokens at the configured prices (reward_kwargs.judge.price_per_million_*_tokens)."""
        return (self.prompt_tokens * prices.price_per_million_input_tokens
                + self.completion_tokens * prices.price_per_million_output_tokens) / 1e6
