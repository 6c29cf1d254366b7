"""Replies chosen by a test from a served random model (shared by every test that talks to a served tiny judge):
its own replies are garbage, so a test that needs a verdict steers its greedy decoding to the verdict's tokens."""

from __future__ import annotations

import json
from functools import cache


@cache
def _tokenizer(model: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model)


def reply_tokens(model: str, text: str) -> list[int]:
    """The token ids of `text` as the served model's reply, end of turn included."""
    tokenizer = _tokenizer(model)
    return tokenizer(text).input_ids + [tokenizer.convert_tokens_to_ids("<|im_end|>")]


def forced_reply(model: str, text: str) -> dict:
    """extra_body making the served (random) model reply exactly `text`: transformers serve accepts a
    generation_config, whose sequence_bias lifts each next token of `text` (a larger bias per longer
    prefix) under greedy decoding. The server still runs the model on the real prompt and image."""
    ids = reply_tokens(model, text)
    bias = [[ids[: i + 1], 100.0 * (i + 1)] for i in range(len(ids))]
    return {"generation_config": json.dumps({"sequence_bias": bias, "do_sample": False, "eos_token_id": ids[-1]})}
