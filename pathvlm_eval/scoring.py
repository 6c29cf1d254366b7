"""Score responses with the reward package's own code, strict (as trained) and lenient, and with VLMEvalKit's
multiple-choice extraction, side by side."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pathvlm_eval import vlmevalkit
from pathvlm_eval.data import EvalItem

REQUIRED_FUNCTIONS = ("compute_score", "answer_block", "lenient_answer", "designated_options", "answer_accuracy")
YES_NO = ("yes", "no")


def _plain(value: Any) -> Any:
    """JSON-ready copy of a reward value (numbers as floats, NaN kept out)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    return value if isinstance(value, str | type(None)) else str(value)


class Scorer:
    """Binds the reward module (default `pathvlm_rewards`) and its `reward_kwargs` (weights, judge).

    Strict = `compute_score`'s accuracy and format, exactly what training optimises. Lenient =
    `answer_accuracy(lenient_answer(response))` for models that ignore the output format. VLMEvalKit =
    its exact-matching letter extraction on the whole response (mcq only, see pathvlm_eval/vlmevalkit.py). Reasoning
    scores (integrity, knowledge) exist only when the process weight is above 0."""

    def __init__(self, module: str, reward_kwargs: Mapping[str, Any]) -> None:
        self.module = importlib.import_module(module)
        missing = [name for name in REQUIRED_FUNCTIONS if not callable(getattr(self.module, name, None))]
        if missing:
            raise ImportError(f"scoring.module={module!r} lacks {missing}; it must provide {REQUIRED_FUNCTIONS}")
        self.reward_kwargs = dict(reward_kwargs)
        weights = self.reward_kwargs.get("weights") or {}
        zeroed = [name for name in ("accuracy", "format") if name in weights and not float(weights[name]) > 0]
        if zeroed:
            raise ValueError(f"scoring.reward_kwargs.weights {zeroed} must be > 0: the reward reports a component "
                             "with weight 0 as 0.0, and strict scoring reads accuracy and format from it")
        self.reasoning = float(weights.get("process", 0.0)) > 0
        self.version = getattr(self.module, "REWARD_VERSION", None)
        self._loop: asyncio.AbstractEventLoop | None = None

    def score(self, items: Sequence[EvalItem], responses: Sequence[str]) -> list[dict[str, Any]]:
        """Scores of `responses[i]` for `items[i]`; an async reward function's calls run concurrently on one
        event loop kept for the scorer's life (judge clients stay bound to it, as in verl's reward workers)."""
        rewards = [self.module.compute_score(item.data_source, response, item.ground_truth,
                                             extra_info=self._extra_info(item), **self.reward_kwargs)
                   for item, response in zip(items, responses, strict=True)]
        if any(inspect.isawaitable(reward) for reward in rewards):
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
            rewards = self._loop.run_until_complete(_await_all(rewards))
        return [self._sample_scores(item, response, reward)
                for item, response, reward in zip(items, responses, rewards, strict=True)]

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None

    def _extra_info(self, item: EvalItem) -> dict[str, Any]:
        """The row's extra_info; with reasoning scores also the image bytes, so the judge needs no image file."""
        extra = dict(item.extra_info)
        if self.reasoning:
            image = item.first_image_bytes()
            if image is not None:
                extra["image_bytes"] = image
        return extra

    def _sample_scores(self, item: EvalItem, response: str, reward: Mapping[str, Any]) -> dict[str, Any]:
        strict_answer = self.module.answer_block(response)
        lenient_answer = self.module.lenient_answer(response)
        try:
            lenient_accuracy = self.module.answer_accuracy(lenient_answer, item.ground_truth, dict(item.extra_info))
        except ValueError as err:  # a row breaking the data contract (e.g. gold not among the options)
            raise ValueError(f"{item.location}: {err}") from err
        return {
            "strict": {"answer": strict_answer, "accuracy": float(reward["accuracy"]),
                       "format": float(reward["format"]), **self._answer_traits(item, strict_answer)},
            "lenient": {"answer": lenient_answer, "accuracy": float(lenient_accuracy),
                        **self._answer_traits(item, lenient_answer)},
            "vlmevalkit": vlmevalkit.score(item, response),
            "reward": {key: _plain(value) for key, value in reward.items()},
        }

    def _answer_traits(self, item: EvalItem, answer: str | None) -> dict[str, Any]:
        """`hedge`: an mcq answer designating several options (None for other answer types);
        `vote`: the key majority voting groups answers by (one option letter, yes/no, or normalised text)."""
        if item.answer_type == "mcq":
            letters = self.module.designated_options(answer, item.extra_info["options"]) if answer else frozenset()
            return {"hedge": len(letters) > 1, "vote": next(iter(letters)) if len(letters) == 1 else None}
        words = re.findall(r"\w+", (answer or "").casefold())
        if item.answer_type == "yesno":
            return {"hedge": None, "vote": words[0] if words and words[0] in YES_NO else None}
        return {"hedge": None, "vote": " ".join(words) or None}


async def _await_all(values: list[Any]) -> list[Any]:
    async def resolve(value: Any) -> Any:
        return await value if inspect.isawaitable(value) else value

    return list(await asyncio.gather(*(resolve(value) for value in values)))
