"""The judge's 1.1 settings: extra request fields and token prices, validated like every other key."""

import json

import pytest
from omegaconf import OmegaConf

from pathvlm_rewards import parse_reward_kwargs


def test_defaults_are_gpt4o_list_prices_and_no_extra_body():
    judge = parse_reward_kwargs({}).judge
    assert (judge.price_per_million_input_tokens, judge.price_per_million_output_tokens, judge.extra_body) == \
        (2.5, 10.0, None)


def test_extra_body_from_an_omegaconf_container_is_stored_as_canonical_json():
    conf = OmegaConf.create({"extra_body": {"structured_outputs": {"json": {"type": "object", "required": ["a"]}}}})
    judge = parse_reward_kwargs({"judge": conf}).judge
    assert json.loads(judge.extra_body) == {"structured_outputs": {"json": {"type": "object", "required": ["a"]}}}
    hash(judge)  # judges are built once per config: it must stay hashable


@pytest.mark.parametrize("judge, message", [
    # a string is not a mapping
    ({"extra_body": "{}"}, "reward_kwargs.judge.extra_body must be Mapping or null"),
    # values must be JSON
    ({"extra_body": {"x": float("nan")}}, "extra_body must hold JSON values only"),
    ({"extra_body": {"x": object()}}, "extra_body must hold JSON values only"),
    # prices are finite and not negative
    ({"price_per_million_input_tokens": -1}, "price_per_million_input_tokens must be a finite number >= 0"),
    ({"price_per_million_output_tokens": "10"}, "price_per_million_output_tokens must be int or float"),
])
def test_bad_values_are_refused(judge, message):
    with pytest.raises(ValueError, match=message):
        parse_reward_kwargs({"judge": judge})
