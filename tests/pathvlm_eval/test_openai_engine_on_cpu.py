"""The `openai` engine against a real `transformers serve` of the tiny Qwen2.5-VL (the session's served_tiny):
the same answers as the transformers engine, resumable after a kill, its usage totals, the key kept out of every
output, and errors that name the setting to fix."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from eval_fixtures import compose_eval
from killing_rewards import KILL_AT_ENV
from transformers import AutoProcessor

from pathvlm_eval import evaluate
from pathvlm_eval.chat import endpoint_messages, render_prompt
from pathvlm_eval.data import load_items
from pathvlm_eval.engines import PixelBudget
from pathvlm_eval.engines.openai_engine import EndpointError
from pathvlm_rewards.judge.serve import free_port

TINY_PIXELS = PixelBudget(min_pixels=3136, max_pixels=12544)  # conf/pixels/tiny.yaml
# The budget for the server's processor, as conf/pathvlm_eval.yaml documents it for `transformers serve`.
SERVER_BUDGET = ("+engine.openai.extra_body.chat_template_kwargs.processor_kwargs.min_pixels=${pixels.min_pixels}",
                 "+engine.openai.extra_body.chat_template_kwargs.processor_kwargs.max_pixels=${pixels.max_pixels}")
KEY_ENV, FAKE_KEY = "PATHVLM_TEST_EVAL_KEY", "sk-fake-eval-key-7f3a9c"  # the server ignores keys
REQUEST_LINE = "[Request received]"  # transformers serve logs one per chat completion
REPO = Path(__file__).resolve().parents[2]


def _records(path: Path) -> list[dict]:
    """The stored samples in question order (an endpoint stores them as its calls finish)."""
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return sorted(records, key=lambda r: (int(r["index"]), r["sample"]))


def _overrides(model_path: str, data: Path, out: Path, limit: int) -> list[str]:
    return [f"+models.tiny.path={model_path}", f"data.files=['{data}']", f"data.limit={limit}", f"output_dir={out}",
            "pixels=tiny", "generation.max_new_tokens=12", "metrics.bootstrap_resamples=50", "report.plots=false"]


def _endpoint(served, *extra: str) -> list[str]:
    return ["engine.name=openai", f"engine.openai.base_url={served.url}", "engine.openai.api_key_env=null",
            *SERVER_BUDGET, *extra]


def _requests_served(served) -> int:
    return served.log.read_text(errors="replace").count(REQUEST_LINE)


def test_endpoint_messages_put_each_image_where_its_token_was():
    prompt = [{"role": "system", "content": "Be brief."},
              {"role": "user", "content": "<image>Left.<image>\nWhich differs?"}]
    assert endpoint_messages(prompt, ["data:a", "data:b"]) == [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:a"}},
                                     {"type": "text", "text": "Left."},
                                     {"type": "image_url", "image_url": {"url": "data:b"}},
                                     {"type": "text", "text": "\nWhich differs?"}]}]
    # a text-only prompt keeps its string contents
    assert endpoint_messages([{"role": "user", "content": "Yes?"}], []) == [{"role": "user", "content": "Yes?"}]


def test_the_served_checkpoint_answers_as_the_transformers_engine(served_tiny, tiny_ckpt, demo_data, tmp_path):
    """Greedy, the demo test split's first 4 questions: the same responses, token counts and scores through
    `transformers serve` + the openai engine as through the transformers engine, because the server's processor
    gets the same pixel budget; its prompt token counts are the local processor's, image tokens included."""
    data = demo_data / "test.parquet"
    evaluate(compose_eval([*_overrides(str(tiny_ckpt), data, tmp_path / "hf", 4), "engine.name=hf"]))
    evaluate(compose_eval([*_overrides(str(tiny_ckpt), data, tmp_path / "api", 4),
                           *_endpoint(served_tiny, "engine.openai.price_per_million_input_tokens=2.5",
                                      "engine.openai.price_per_million_output_tokens=10.0")]))
    local, served = (_records(tmp_path / run / "samples" / "tiny.jsonl") for run in ("hf", "api"))
    same = ("prompt_id", "sample", "response", "output_tokens", "finish_reason", "strict", "lenient")
    assert [{k: r[k] for k in same} for r in served] == [{k: r[k] for k in same} for r in local]
    assert [r["engine"] for r in served] == ["openai"] * 4 and all(r["usage"] is None for r in local)

    processor = AutoProcessor.from_pretrained(tiny_ckpt, **TINY_PIXELS.processor_kwargs())
    for item, record in zip(load_items([data], 4), served, strict=True):
        inputs = processor(text=[render_prompt(processor, item.prompt)], images=item.images(), return_tensors="pt")
        usage = record["usage"]
        assert usage["prompt_tokens"] == inputs["input_ids"].shape[1]
        assert (usage["calls"], usage["retries"], usage["completion_tokens"]) == (1, 0, record["output_tokens"])
        expected_cost = (usage["prompt_tokens"] * 2.5 + usage["completion_tokens"] * 10.0) / 1e6
        assert usage["cost_usd"] == pytest.approx(expected_cost)

    results = json.loads((tmp_path / "api" / "results.json").read_text())
    totals = results["models"][0]["usage"]
    assert (totals["samples"], totals["calls"], totals["retries"]) == (4, 4, 0)
    assert totals["prompt_tokens"] == sum(r["usage"]["prompt_tokens"] for r in served)
    assert totals["cost_usd"] == pytest.approx(sum(r["usage"]["cost_usd"] for r in served))
    assert json.loads((tmp_path / "hf" / "results.json").read_text())["models"][0]["usage"] is None
    report = (tmp_path / "api" / "report.md").read_text()
    assert "## Endpoint usage" in report and f"| {totals['prompt_tokens']} |" in report
    assert "## Endpoint usage" not in (tmp_path / "hf" / "report.md").read_text()

    # Without the budget the server's processor keeps the checkpoint's own: more image tokens, other inputs.
    evaluate(compose_eval([*_overrides(str(tiny_ckpt), data, tmp_path / "unbudgeted", 1), "engine.name=openai",
                           f"engine.openai.base_url={served_tiny.url}", "engine.openai.api_key_env=null"]))
    unbudgeted = _records(tmp_path / "unbudgeted" / "samples" / "tiny.jsonl")[0]["usage"]["prompt_tokens"]
    own = AutoProcessor.from_pretrained(tiny_ckpt)
    item = load_items([data], 1)[0]
    expected = own(text=[render_prompt(own, item.prompt)], images=item.images(), return_tensors="pt")["input_ids"]
    assert unbudgeted == expected.shape[1] > served[0]["usage"]["prompt_tokens"]


def test_a_killed_evaluation_resumes_without_asking_again_and_never_writes_the_key(served_tiny, demo_data, tmp_path,
                                                                                   caplog, monkeypatch):
    """`python -m pathvlm_eval` killed (SIGKILL) while scoring its 3rd sample keeps the 2 stored before; the rerun
    requests exactly the 4 missing samples from the server and leaves the stored lines as they were. The key,
    read from its environment variable, appears in no file of the run, no output of the killed process, no log."""
    data, out = demo_data / "test.parquet", tmp_path / "run"
    overrides = [*_overrides(served_tiny.model, data, out, 6), *_endpoint(served_tiny),
                 f"engine.openai.api_key_env={KEY_ENV}", "engine.openai.max_concurrency=1"]
    env = {**os.environ, KEY_ENV: FAKE_KEY, KILL_AT_ENV: "3",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(REPO)])}
    killed = subprocess.run([sys.executable, "-m", "pathvlm_eval", *overrides, "scoring.module=killing_rewards"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-3000:]
    jsonl = out / "samples" / "tiny.jsonl"
    stored = jsonl.read_text().splitlines()
    assert len(stored) == 2 and not (out / "results.json").exists()

    requests_before = _requests_served(served_tiny)
    monkeypatch.setenv(KEY_ENV, FAKE_KEY)
    caplog.set_level(logging.DEBUG)  # every library's log lines, the HTTP client's included
    evaluate(compose_eval(overrides))
    assert _requests_served(served_tiny) - requests_before == 4
    lines = jsonl.read_text().splitlines()
    assert lines[:2] == stored and len(lines) == 6
    assert sorted(json.loads(line)["prompt_id"] for line in lines) == sorted(i.prompt_id for i in load_items([data], 6))

    written = [path.read_bytes() for path in out.rglob("*") if path.is_file()]
    assert len(written) >= 5  # samples, their meta, results, report, the CLI's .hydra config
    for text in (*written, killed.stdout.encode(), killed.stderr.encode(), caplog.text.encode()):
        assert FAKE_KEY.encode() not in text


def test_n_samples_per_question_are_separate_seeded_calls(served_tiny, demo_data, tmp_path):
    data, out = demo_data / "test.parquet", tmp_path / "run"
    before = _requests_served(served_tiny)
    evaluate(compose_eval([*_overrides(served_tiny.model, data, out, 2), *_endpoint(served_tiny), "generation.n=2",
                           "generation.temperature=1.0", "generation.max_new_tokens=4"]))
    records = _records(out / "samples" / "tiny.jsonl")
    assert _requests_served(served_tiny) - before == 4  # 2 questions x 2 samples, one call each
    assert sorted((r["prompt_id"], r["sample"]) for r in records) == sorted(
        (item.prompt_id, s) for item in load_items([data], 2) for s in (0, 1))
    assert all(r["usage"]["calls"] == 1 for r in records)
    overall = json.loads((out / "results.json").read_text())["models"][0]["groups"][0]["metrics"]
    assert set(overall["strict"]["pass_at_k"]) == {"1", "2"}


@pytest.mark.parametrize("model, override, message", [
    # nothing listens on that port
    (None, "engine.openai.base_url=http://127.0.0.1:{port}/v1",
     r"cannot reach http://127\.0\.0\.1:\d+/v1 \(engine\.openai\.base_url\) after 1 attempt"),
    # the key's variable is not set
    (None, "engine.openai.api_key_env=PATHVLM_ABSENT_KEY", r"engine\.openai\.api_key_env names 'PATHVLM_ABSENT_KEY'"),
    # the server is pinned to the tiny folder: HTTP 400 for any other model name
    ("gpt-4o", "engine.openai.max_retries=0",
     r"rejected the request for model 'gpt-4o' \(HTTP 400; the served model name is models\.<name>\.path"),
    # the OpenAI API has no top_k
    (None, "generation.top_k=5", r"generation\.top_k is not part of the OpenAI chat API"),
])
def test_errors_name_the_setting(served_tiny, demo_data, tmp_path, model, override, message):
    overrides = [*_overrides(model or served_tiny.model, demo_data / "test.parquet", tmp_path / "run", 1),
                 *_endpoint(served_tiny, "engine.openai.max_retries=0"), override.format(port=free_port())]
    with pytest.raises(EndpointError, match=message):
        evaluate(compose_eval(overrides))
