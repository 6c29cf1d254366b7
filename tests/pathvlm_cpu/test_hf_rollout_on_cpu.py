"""The hf rollout server on the tiny Qwen2.5-VL: image prompts in, verl TokenOutputs with log-probs out."""

import asyncio
import io

import pytest
import torch
from cpu_fixtures import png_bytes
from PIL import Image
from verl.workers.config import HFModelConfig, RolloutConfig
from verl.workers.rollout.replica import TokenOutput

from pathvlm_cpu import generation
from pathvlm_cpu.hf_server import HFRolloutServer

RESPONSE_LENGTH = 12
SAMPLE = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "repetition_penalty": 1.0, "logprobs": True}
GREEDY = {**SAMPLE, "temperature": 0}
QUESTION = "Which tissue? A) x B) y"


@pytest.fixture(scope="module")
def server(tiny_ckpt):
    config = RolloutConfig(name="hf", prompt_length=256, response_length=RESPONSE_LENGTH, dtype="float32")
    return HFRolloutServer(config, HFModelConfig(path=str(tiny_ckpt)), replica_rank=0)


def processor_inputs(server, image, question):
    """The processor's outputs for one image prompt as verl's agent loop builds it (chat template)."""
    processor = server.model_config.processor
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return processor(text=[text], images=[image], return_tensors="pt")


def prompt_ids(server, image, question):
    """Prompt ids with the `<|image_pad|>` run expanded."""
    return processor_inputs(server, image, question)["input_ids"][0].tolist()


@pytest.fixture(scope="module")
def image():
    return Image.open(io.BytesIO(png_bytes(0))).convert("RGB")


@pytest.fixture(scope="module")
def image_prompt(server, image):
    return prompt_ids(server, image, QUESTION), image


def run(server, ids, image, params):
    return asyncio.run(server.generate(prompt_ids=ids, sampling_params=dict(params), request_id="t",
                                       image_data=[image]))


def test_generates_a_token_output_with_log_probs(server, image_prompt):
    ids, image = image_prompt
    out = run(server, ids, image, SAMPLE)
    assert isinstance(out, TokenOutput) and out.stop_reason == "completed"
    assert 0 < len(out.token_ids) == len(out.log_probs) <= RESPONSE_LENGTH
    assert all(lp <= 0 for lp in out.log_probs)
    assert not set(out.token_ids) & set(server.suppress_ids)
    assert out.extra_fields["global_steps"] is None
    assert run(server, ids, image, {**SAMPLE, "logprobs": False}).log_probs is None


def test_greedy_log_probs_match_a_teacher_forced_forward(server, image_prompt):
    """The rollout's log-probs are what the model assigns to its tokens in one forward pass over the
    processor's own inputs (image tokens at their 3D rope positions, as in verl's actor)."""
    ids, image = image_prompt
    out = run(server, ids, image, GREEDY)
    inputs = processor_inputs(server, image, QUESTION)
    response = torch.tensor([out.token_ids])
    full = torch.cat([inputs["input_ids"], response], dim=1)
    with torch.no_grad():
        logits = server.model(
            input_ids=full, attention_mask=torch.ones_like(full), pixel_values=inputs["pixel_values"],
            image_grid_thw=inputs["image_grid_thw"],
            mm_token_type_ids=torch.cat([inputs["mm_token_type_ids"], torch.zeros_like(response)], dim=1),
        ).logits[0]
    log_probs = torch.log_softmax(logits[len(ids) - 1:-1].float(), dim=-1)
    expected = log_probs.gather(-1, torch.tensor(out.token_ids)[:, None]).squeeze(-1)
    assert torch.allclose(torch.tensor(out.log_probs), expected, atol=1e-4)
    assert run(server, ids, image, GREEDY).token_ids == out.token_ids  # greedy is deterministic


def test_concurrent_requests_share_one_batch_and_match_single_requests(server, image_prompt, monkeypatch):
    _, image = image_prompt
    prompts = [prompt_ids(server, image, question) for question in
               ("Which tissue? A) x B) y", "Stain?", "Which organ does this section come from? A) liver B) lung")]
    batch_sizes = []
    generate = generation.generate

    def recording(model, requests, *args):
        batch_sizes.append(len(requests))
        return generate(model, requests, *args)

    monkeypatch.setattr(generation, "generate", recording)

    async def concurrently():
        return await asyncio.gather(*(server.generate(prompt_ids=ids, sampling_params=dict(GREEDY), request_id=str(i),
                                                      image_data=[image]) for i, ids in enumerate(prompts)))

    batched = asyncio.run(concurrently())
    assert batch_sizes == [len(prompts)]
    for ids, out in zip(prompts, batched, strict=True):  # left padding changes nothing
        single = run(server, ids, image, GREEDY)
        assert out.token_ids == single.token_ids
        assert torch.allclose(torch.tensor(out.log_probs), torch.tensor(single.log_probs), atol=1e-4)
    assert batch_sizes[1:] == [1] * len(prompts)


def test_load_weights_copies_in_place_and_rejects_unknown_names(server, image_prompt):
    ids, image = image_prompt
    name = "lm_head.weight" if "lm_head.weight" in server.weight_names() else server.weight_names()[0]
    tensor = server._parameters[name]
    before = run(server, ids, image, GREEDY).log_probs
    saved = tensor.detach().clone()
    try:
        assert server.load_weights([(name, torch.zeros_like(saved))]) == 1
        assert server._parameters[name].abs().sum() == 0
        assert run(server, ids, image, GREEDY).log_probs != before
    finally:
        server.load_weights([(name, saved)])
    assert run(server, ids, image, GREEDY).log_probs == before
    with pytest.raises(KeyError, match="no.such"):
        server.load_weights([("no.such.weight", saved)])


def test_image_token_mismatch_is_a_clear_error(server, image_prompt):
    ids, image = image_prompt
    with pytest.raises(ValueError, match="image tokens"):
        run(server, ids + [server.image_token_id], image, GREEDY)
    with pytest.raises(ValueError, match="no image"):
        asyncio.run(server.generate(prompt_ids=ids, sampling_params=dict(GREEDY), request_id="t"))


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"temperature": 0, "top_k": 5}, {"do_sample": False, "repetition_penalty": 1.0}),
        ({"temperature": 0.7, "top_p": 0.9, "top_k": -1},
         {"do_sample": True, "temperature": 0.7, "top_p": 0.9, "top_k": 0, "repetition_penalty": 1.0}),
    ],
)
def test_sampling_params_follow_vllm_conventions(params, expected):
    assert generation.sampling_kwargs(params) == expected


def test_token_budget():
    assert generation.max_new_tokens({}, 100, prompt_length=128, response_length=64, max_model_len=None) == 64
    assert generation.max_new_tokens({}, 100, prompt_length=128, response_length=64, max_model_len=120) == 20
    assert generation.max_new_tokens({"max_tokens": 7}, 100, 128, 64, None) == 7
    assert generation.max_new_tokens({}, 300, prompt_length=128, response_length=64, max_model_len=None) == 1
