"""compute_score: the contract verl relies on (same keys always, weights by name, never raises on model output)."""

import asyncio
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf
from ray import cloudpickle
from reward_fixtures import OPTIONS, mcq_info

from pathvlm_rewards import RESULT_KEYS, answer_accuracy, answer_block, compute_score, parse_reward_kwargs
from pathvlm_rewards.config import defaults
from pathvlm_rewards.judge import JudgeConfigError

GOLD = "B) Adenocarcinoma"
WELL_FORMED = "<think>Crowded glands with nuclear atypia.</think><answer>B) Adenocarcinoma</answer>"


def score(response, ground_truth=GOLD, info=None, **reward_kwargs):
    return asyncio.run(compute_score("pathmmu", response, ground_truth, info or mcq_info(), **reward_kwargs))


def test_defaults_are_the_documented_ones():
    assert defaults()["weights"] == {"accuracy": 1.0, "format": 1.0, "process": 0.0}
    config = parse_reward_kwargs({})
    assert (config.judge.backend, config.judge.model, config.judge.temperature, config.judge.max_tokens) == \
        ("openai", "gpt-4o", 0.1, 200)


@pytest.mark.parametrize("response, accuracy, form", [
    (WELL_FORMED, 1.0, 1.0),
    ("<think>Keratin pearls.</think><answer>A) Squamous cell carcinoma</answer>", 0.0, 1.0),  # well formed, wrong
    ("<answer>B</answer>", 1.0, 0.0),  # right, not well formed
    ("<think>x</think><answer>A or B</answer>", 0.0, 1.0),
    ("B) Adenocarcinoma", 0.0, 0.0),
])
def test_accuracy_and_format_are_independent(response, accuracy, form):
    result = score(response)
    assert (result["accuracy"], result["format"], result["score"]) == (accuracy, form, accuracy + form)
    assert tuple(result) == RESULT_KEYS and result["acc"] == result["accuracy"]


def test_weights_by_name_and_zero_weight_not_computed():
    result = score(WELL_FORMED, weights={"accuracy": 2.0, "format": 0.5})
    assert result["score"] == pytest.approx(2.5)
    result = score(WELL_FORMED, weights={"format": 0.0})
    assert (result["format"], result["accuracy"], result["score"]) == (0.0, 1.0, 1.0)
    result = score(WELL_FORMED, weights={"accuracy": 0.0})
    assert (result["accuracy"], result["acc"], result["score"]) == (0.0, 0.0, 1.0)


def test_weights_and_judge_from_omegaconf_containers():
    kwargs = OmegaConf.create({"weights": {"accuracy": 1, "format": 0.25, "process": 0}, "judge": {"max_tokens": 64}})
    result = score(WELL_FORMED, weights=kwargs.weights, judge=kwargs.judge)
    assert result["score"] == pytest.approx(1.25)
    assert parse_reward_kwargs(kwargs).judge.max_tokens == 64


@pytest.mark.parametrize("kwargs, message", [
    ({"weights": {"acuracy": 1.0}}, r"unknown reward_kwargs.weights key\(s\) \['acuracy'\]; valid: \['accuracy', "),
    ({"weights": {"format": -1}}, "reward_kwargs.weights.format must be a finite number >= 0"),
    ({"weights": {"format": "1"}}, "reward_kwargs.weights.format must be int or float"),
    ({"weights": {"format": True}}, "reward_kwargs.weights.format"),
    ({"weights": [1, 2]}, "reward_kwargs.weights must be a mapping"),
    ({"judge": {"backend": "vllm"}}, "reward_kwargs.judge.backend must be one of"),
    ({"judge": {"modle": "x"}}, r"unknown reward_kwargs.judge key\(s\) \['modle'\]"),
    ({"judge": {"max_concurrency": 0}}, "reward_kwargs.judge.max_concurrency"),
    ({"judge": {"call_cap_s": 0}}, "call_cap_s"),
    ({"judge": {"dtype": "fp8"}}, "reward_kwargs.judge.dtype"),
    ({"wieghts": {}}, r"unknown reward_kwargs key\(s\) \['wieghts'\]"),
])
def test_bad_reward_kwargs_raise_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        parse_reward_kwargs(kwargs)
    with pytest.raises(ValueError, match=message):
        score(WELL_FORMED, **kwargs)


def test_bad_rows_raise_errors_naming_the_field_and_row():
    with pytest.raises(ValueError, match=r"answer_type.*row index 7"):
        score(WELL_FORMED, info=mcq_info(answer_type=None))
    with pytest.raises(ValueError, match="not one of the options"):
        score(WELL_FORMED, ground_truth="E) Lymphoma")
    with pytest.raises(ValueError, match=r"extra_info\['question'\].*row index 7"):
        score(WELL_FORMED, info=mcq_info(question=""), weights={"process": 1.0}, judge={"api_key_env": None})


def test_missing_api_key_env_is_a_config_error(monkeypatch, tmp_path):
    monkeypatch.delenv("PATHVLM_ABSENT_KEY", raising=False)
    with pytest.raises(JudgeConfigError, match="PATHVLM_ABSENT_KEY"):
        score(WELL_FORMED, weights={"process": 1.0},
              judge={"api_key_env": "PATHVLM_ABSENT_KEY", "cache_dir": str(tmp_path)})


def test_yesno_and_open_rows():
    yesno = {"answer_type": "yesno", "options": [], "index": 1}
    assert score("<think>Mitoses.</think><answer>Yes, malignant.</answer>", "yes", yesno)["accuracy"] == 1.0
    assert score("<think>Mitoses.</think><answer>Yes, malignant.</answer>", "yes", yesno)["pred"] == "yes"
    opened = {"answer_type": "open", "index": 2}
    result = score("<think>t</think><answer>carcinoma</answer>", "squamous cell carcinoma", opened)
    assert result["accuracy"] == pytest.approx(1 / 3) and result["pred"] == "carcinoma"


def test_pred_is_the_single_designated_letter_or_empty():
    assert score(WELL_FORMED)["pred"] == "B"
    assert score("<think>x</think><answer>A or B</answer>")["pred"] == ""
    assert score("no answer")["pred"] == ""


def test_picklable_as_ray_ships_it():
    assert pickle.loads(pickle.dumps(compute_score)) is compute_score
    restored = cloudpickle.loads(cloudpickle.dumps(compute_score))
    assert asyncio.run(restored("pathmmu", WELL_FORMED, GOLD, mcq_info()))["score"] == 2.0


FRAGMENTS = ["<think>", "</think>", "<answer>", "</answer>", "<ANSWER>", "</Think>", "<|im_end|>", "<|endoftext|>",
             "B", "(C)", "A or B", "D.", "Option ", "yes", "no", " ", "\n", "**", ",", "Type B cells",
             "Adenocarcinoma", "{\"integrity_score\": 1, \"knowledge_score\": 1}", "The answer is "]
responses = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=12)), max_size=14).map("".join)


@settings(max_examples=250, deadline=None)
@given(response=responses, answer_type=st.sampled_from(["mcq", "yesno", "open"]))
def test_never_raises_and_always_same_keys(response, answer_type):
    info = {"answer_type": answer_type, "options": OPTIONS if answer_type == "mcq" else [], "index": 0}
    gold = {"mcq": GOLD, "yesno": "no", "open": "adenocarcinoma"}[answer_type]
    result = score(response, gold, info)
    assert tuple(result) == RESULT_KEYS
    assert all(isinstance(result[key], float) for key in RESULT_KEYS if key != "pred")
    assert isinstance(result["pred"], str)
    assert 0.0 <= result["accuracy"] <= 1.0 and result["format"] in (0.0, 1.0)
    assert result["score"] == pytest.approx(result["accuracy"] + result["format"])
    block = answer_block(response)
    if result["format"] == 1.0:
        assert block is not None
    assert result["accuracy"] == (0.0 if block is None else answer_accuracy(block, gold, info))


letters = st.sampled_from("ABCD")


@settings(max_examples=150, deadline=None)
@given(gold=letters, other=letters, joiner=st.sampled_from([" or ", ", ", "/", " and ", " ", "; "]),
       form=st.sampled_from(["{l}", "({l})", "{l})", "{l}) {t}", "Option {l}", "{t}"]))
def test_single_designation_scores_and_any_hedge_does_not(gold, other, joiner, form):
    texts = {option[0]: option[3:] for option in OPTIONS}
    gold_option = f"{gold}) {texts[gold]}"
    info = {"answer_type": "mcq", "options": OPTIONS, "index": 0}
    single = form.format(l=gold, t=texts[gold])
    assert score(f"<think>r</think><answer>{single}</answer>", gold_option, info)["accuracy"] == 1.0
    hedge = single + joiner + form.format(l=other, t=texts[other])
    expected = 1.0 if other == gold else 0.0
    assert score(f"<think>r</think><answer>{hedge}</answer>", gold_option, info)["accuracy"] == expected
