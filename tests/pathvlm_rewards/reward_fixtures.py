"""Helpers for the reward tests: realistic rows, judge reward_kwargs, the served tiny judge (a real
`transformers serve`) with replies chosen by the test, and a scripted OpenAI-protocol server for the
misbehaviour a real server cannot produce on cue (error statuses, delays, malformed bodies)."""

from __future__ import annotations

import io
import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml
from hydra import compose, initialize_config_dir
from judge_replies import forced_reply
from PIL import Image

OPTIONS = ["A) Squamous cell carcinoma", "B) Adenocarcinoma", "C) Type B cells", "D) A benign neoplasm"]


def png_bytes(size=(48, 32), color=(200, 90, 140)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def mcq_info(**extra) -> dict:
    info = {"answer_type": "mcq", "options": list(OPTIONS), "index": 7, "split": "grpo_train",
            "question": "What is the most likely diagnosis for this colon biopsy?", "image_bytes": png_bytes()}
    info.update(extra)
    return info


def verl_batch(tokenizer, responses: list[str], ground_truths: list[str], extra_infos: list[dict],
               data_source: str = "pathmmu"):
    """A DataProto shaped like the trainer's: left-padded prompts, right-padded responses ending in EOS."""
    import numpy as np
    import torch
    from verl import DataProto

    prompts = [tokenizer(f"Question {i}").input_ids for i in range(len(responses))]
    answers = [tokenizer(r).input_ids + [tokenizer.eos_token_id] for r in responses]
    plen, rlen, pad = max(map(len, prompts)), max(map(len, answers)), tokenizer.pad_token_id
    prompt_ids = torch.tensor([[pad] * (plen - len(p)) + p for p in prompts])
    response_ids = torch.tensor([r + [pad] * (rlen - len(r)) for r in answers])
    mask = torch.tensor([[0] * (plen - len(p)) + [1] * len(p) + [1] * len(r) + [0] * (rlen - len(r))
                         for p, r in zip(prompts, answers, strict=True)])
    return DataProto.from_dict(
        tensors={"prompts": prompt_ids, "responses": response_ids, "attention_mask": mask,
                 "input_ids": torch.cat([prompt_ids, response_ids], dim=1)},
        non_tensors={
            "data_source": np.array([data_source] * len(responses), dtype=object),
            "reward_model": np.array([{"style": "rule", "ground_truth": g} for g in ground_truths], dtype=object),
            "extra_info": np.array(extra_infos, dtype=object),
        },
    )


def served_kwargs(served, cache_dir, reply: str | None, **judge) -> dict:
    """reward_kwargs judging with the served tiny model (tests/conftest.py ServedModel), which replies `reply`
    (None: its own garbage)."""
    settings = {"backend": "openai", "model": served.model, "base_url": served.url, "api_key_env": None,
                "temperature": 0.0, "max_tokens": 40 if reply else 6, "timeout_s": 120.0, "max_retries": 0,
                "call_cap_s": 300.0, "cache_dir": str(cache_dir) if cache_dir else None,
                "extra_body": forced_reply(served.model, reply) if reply else None}
    settings.update(judge)
    return {"weights": {"accuracy": 1.0, "format": 1.0, "process": 1.0}, "judge": settings}


def judge_kwargs(server_url: str | None, cache_dir, **judge) -> dict:
    """reward_kwargs with the process reward on, judging through `server_url` (the scripted server)."""
    settings = {"backend": "openai", "model": "judge-vl", "base_url": server_url, "api_key_env": "PATHVLM_TEST_KEY",
                "timeout_s": 5.0, "max_retries": 2, "call_cap_s": 10.0, "max_concurrency": 4,
                "cache_dir": str(cache_dir) if cache_dir else None}
    settings.update(judge)
    return {"weights": {"accuracy": 1.0, "format": 1.0, "process": 1.0}, "judge": settings}


class ScriptedJudgeServer:
    """Speaks POST /v1/chat/completions. Each request takes the next planned behaviour (else `default`):
    {"status": int, "delay": seconds, "content": reply text, "body": raw bytes, "headers": {...}}."""

    def __init__(self):
        self.plan: deque[dict] = deque()
        self.default = {"content": json.dumps({"integrity_score": 0.6, "knowledge_score": 1.0})}
        self.requests: list[dict] = []
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall between header and body writes

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with server._lock:
                    behaviour = server.plan.popleft() if server.plan else dict(server.default)
                    headers = {name.lower(): value for name, value in self.headers.items()}
                    server.requests.append({"path": self.path, "headers": headers, "json": json.loads(body)})
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    time.sleep(behaviour.get("delay", 0.0))
                    self._reply(behaviour)
                except OSError:  # the client gave up (timeout): nothing to answer
                    pass
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _reply(self, behaviour):
                status = behaviour.get("status", 200)
                if "body" in behaviour:
                    payload = behaviour["body"]
                elif status == 200:
                    payload = json.dumps({
                        "id": "cmpl-1", "object": "chat.completion", "created": 0, "model": "judge-vl",
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": behaviour["content"]}}],
                        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
                    }).encode()
                else:
                    payload = json.dumps({"error": {"message": f"status {status}", "type": "test"}}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in behaviour.get("headers", {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self):
        self._server.shutdown()
        self._server.server_close()


def compose_trainer(folder, tiny_ckpt, reward_kwargs: dict):
    """verl's trainer config with our reward and `reward_kwargs`, composed as main_ppo composes it."""
    trainer = {"hydra": {"searchpath": ["pkg://verl.trainer.config"]}, "defaults": ["ppo_trainer", "_self_"],
               "reward": {"custom_reward_function": {"reward_kwargs": reward_kwargs}}}
    (folder / "trainer.yaml").write_text(yaml.safe_dump(trainer))
    with initialize_config_dir(config_dir=str(folder), version_base=None):
        return compose("trainer", overrides=[
            "reward.custom_reward_function.path=pkg://pathvlm_rewards",
            "reward.custom_reward_function.name=compute_score",
            "reward.num_workers=1",
            f"actor_rollout_ref.model.path={tiny_ckpt}",
        ])
