"""Reward throughput: our rule components vs verl's geo3k scorer, worst-case latency, judge concurrency.

Prints, all measured in this run:
  * responses/s of `pathvlm_rewards.compute_score` (accuracy + format, no judge) and of verl's
    `verl.utils.reward_score.geo3k.compute_score` on the same few thousand realistic responses, measured
    in alternating rounds, and the median of the rounds' ratios (target: ours faster, ratio > 1);
  * the worst single-call latency of our scorer over realistic and adversarial inputs (200k
    characters, thousands of tags, invisible or markup-only blocks, answers at the length cap for every
    answer type; target: <= 10 ms);
  * judge throughput against a local OpenAI-protocol server with a fixed latency, as a fraction of
    the ideal for the configured concurrency (target: >= 0.8).
Usage: python bench/reward_throughput.py [--n 3000] [--rounds 5] [--judge-calls 256] [--latency-ms 100] [--strict]
(--strict: exit 1 when a target is missed).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import multiprocessing
import random
import statistics
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image

from pathvlm_rewards import compute_score, lenient_answer

OPTIONS = ["A) Squamous cell carcinoma", "B) Adenocarcinoma", "C) Small cell carcinoma", "D) Lymphoma"]
GOLD = "B) Adenocarcinoma"
WORDS = ("glands nuclei crowded atypia mitoses stroma keratin pearls mucin invasion lumen cribriform necrosis "
         "hyperchromatic pleomorphism architecture differentiation basement membrane infiltrative").split()


def realistic(n: int, rng: random.Random) -> list[tuple[str, str, dict]]:
    """(response, ground truth, extra_info) of the shapes a policy produces during GRPO."""
    mcq = {"answer_type": "mcq", "options": OPTIONS, "index": 0}
    yesno = {"answer_type": "yesno", "options": [], "index": 1}
    opened = {"answer_type": "open", "options": [], "index": 2}
    items = []
    for _ in range(n):
        think = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 220)))
        kind = rng.random()
        if kind < 0.55:
            answer = rng.choice(OPTIONS + ["B", "(B)", "Adenocarcinoma", "A or B", "B) Lymphoma"])
            response = f"<think>{think}</think>\n<answer>{answer}</answer>"
            items.append((response, GOLD, mcq))
        elif kind < 0.7:
            response = f"<think>{think}</think><answer>{rng.choice(['Yes.', 'no', 'yes and no'])}</answer>"
            items.append((response, "yes", yesno))
        elif kind < 0.8:
            response = f"<think>{think}</think><answer>{rng.choice(['invasive carcinoma', 'lymphoma'])}</answer>"
            items.append((response, "invasive ductal carcinoma", opened))
        else:  # format failures: missing tags, prose after the answer, the answer only
            response = rng.choice([think, f"{think} The answer is B.", f"<answer>B</answer> {think}",
                                   f"<think>{think}</think><answer>B"])
            items.append((response, GOLD, mcq))
    return items


def adversarial() -> list[tuple[str, str, dict]]:
    mcq = {"answer_type": "mcq", "options": OPTIONS, "index": 0}
    yesno = {"answer_type": "yesno", "options": [], "index": 1}
    opened = {"answer_type": "open", "options": [], "index": 2}
    big = "x" * 200_000
    invisible, markup = "\u200b" * 200_000, "<b>" * 10_000
    cases = [
        big,
        f"<think>{big}</think><answer>B</answer>",
        f"<think>t</think><answer>{'B or ' * 40_000}</answer>",
        "<answer>" * 5_000 + "B" + "</answer>" * 5_000,
        "<think>" * 5_000 + "</think>" * 5_000 + "<answer>B</answer>",
        "<think>a</think>" * 5_000 + "<answer>B</answer>",
        f"<think>t</think><answer>B</answer>{'<|im_end|>' * 20_000}",
        f"<think>t</think><answer>B</answer>{'<|im_end|>' * 20_000}x",
        f"<think>t</think><answer>{'B) Adenocarcinoma ' * 10_000}</answer>",
        f"<think>t</think><answer>{'((((' * 25_000}B</answer>",
        "\u212a" * 100_000 + "<answer>B</answer>",
        f"<think>t</think><answer>{' '.join(['Adenocarcinoma'] * 30_000)}</answer>",
        f"<think>{invisible}</think><answer>{invisible}</answer>",  # nothing visible: whole blocks scanned
        f"<think>{markup}</think><answer>B</answer>",  # markup only
        f"<think>t</think><answer>{('not A, b is wrong, ' * 200)[:1990]}C</answer>",  # negations, at the cap
    ]
    at_cap = {  # answers just under the length cap, for the yes/no and open rules
        "yesno": ("yes, but no " * 200)[:1995],
        "open": ("It is not adenocarcinoma or invasive ductal carcinoma, " * 40)[:1995],
    }
    return [(case, GOLD, mcq) for case in cases] + [
        (f"<think>t</think><answer>{at_cap['yesno']}</answer>", "yes", yesno),
        (f"<think>t</think><answer>{at_cap['open']}</answer>", "invasive ductal carcinoma", opened),
    ]


async def _throughput(items) -> float:
    """Seconds to await compute_score (rule components only) on each item in turn."""
    start = time.perf_counter()
    for response, gold, info in items:
        await compute_score("bench", response, gold, info)
    return time.perf_counter() - start


async def _latencies(items, repeats: int) -> tuple[list[float], float]:
    """(per-item median seconds of one compute_score call over `repeats` calls, the single worst observation).
    The median is robust to scheduler noise on a shared machine; the worst observation is reported beside it."""
    samples = [[] for _ in items]
    for _ in range(repeats):
        for index, (response, gold, info) in enumerate(items):
            start = time.perf_counter()
            await compute_score("bench", response, gold, info)
            samples[index].append(time.perf_counter() - start)
    return [statistics.median(times) for times in samples], max(max(times) for times in samples)


def _geo3k(items) -> float:
    from verl.utils.reward_score import geo3k

    start = time.perf_counter()
    for response, _gold, _info in items:
        geo3k.compute_score(response, "B")
    return time.perf_counter() - start


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # accept every concurrent connection at once


def _serve_fixed_latency(latency_s: float, port_out) -> None:
    """OpenAI-protocol server on 127.0.0.1 answering every chat completion after a fixed delay (runs in a
    child process, as a real judge server would, so it does not share our interpreter)."""
    reply = json.dumps({"id": "b", "object": "chat.completion", "created": 0, "model": "bench", "choices": [
        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": json.dumps(
            {"integrity_score": 0.6, "knowledge_score": 1.0})}}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall between header and body writes

        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(latency_s)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    server = _Server(("127.0.0.1", 0), Handler)
    port_out.put(server.server_address[1])
    server.serve_forever(0.05)


def _judge_throughput(calls: int, latency_s: float, concurrency: int) -> tuple[float, float]:
    """(measured seconds, ideal seconds) for `calls` distinct judge calls."""
    ports = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve_fixed_latency, args=(latency_s, ports), daemon=True)
    server.start()
    url = f"http://127.0.0.1:{ports.get(timeout=60)}/v1"
    buffer = io.BytesIO()
    Image.new("RGB", (224, 224), (180, 80, 150)).save(buffer, format="PNG")
    info = {"answer_type": "mcq", "options": OPTIONS, "index": 0, "question": "Diagnosis?",
            "image_bytes": buffer.getvalue()}
    kwargs = {"weights": {"process": 1.0},
              "judge": {"model": "bench", "base_url": url, "api_key_env": None, "cache_dir": None,
                        "max_concurrency": concurrency, "max_retries": 0, "timeout_s": 30.0}}
    responses = [f"<think>glands {i}</think><answer>B</answer>" for i in range(calls)]

    async def run():
        await compute_score("bench", "<think>warm-up</think><answer>B</answer>", GOLD, info, **kwargs)
        start = time.perf_counter()
        results = await asyncio.gather(*(compute_score("bench", r, GOLD, info, **kwargs) for r in responses))
        elapsed = time.perf_counter() - start
        if any(result["judge_error"] for result in results):
            raise RuntimeError("judge calls failed during the benchmark")
        return elapsed

    try:
        elapsed = asyncio.run(run())
    finally:
        server.terminate()
        server.join()
    return elapsed, math.ceil(calls / concurrency) * latency_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=3000, help="realistic responses")
    parser.add_argument("--judge-calls", type=int, default=256)
    parser.add_argument("--latency-ms", type=float, default=100.0, help="fixed latency of the local judge")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5, help="alternating throughput rounds, ours and geo3k")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()

    items, hostile = realistic(args.n, random.Random(0)), adversarial()
    asyncio.run(_throughput(items[:50]))  # warm-up: loads the defaults, fills caches
    # Ours and geo3k alternate, round by round, so that load from other processes hits both alike.
    rounds = [(asyncio.run(_throughput(items)), _geo3k(items)) for _ in range(args.rounds)]
    ours_s, geo3k_s = statistics.median(o for o, _ in rounds), statistics.median(g for _, g in rounds)
    ratios = sorted(geo3k / ours for ours, geo3k in rounds)
    medians, worst_observed = asyncio.run(_latencies(items + hostile, repeats=5))
    worst_ms = 1000 * max(medians)
    slowest = max(range(len(medians)), key=medians.__getitem__)
    lenient_worst = max(_timed(lenient_answer, response) for response, _, _ in hostile + items[:200])
    judge_s, ideal_s = _judge_throughput(args.judge_calls, args.latency_ms / 1000, args.concurrency)

    ours_rate, geo3k_rate, ratio = len(items) / ours_s, len(items) / geo3k_s, statistics.median(ratios)
    fraction = ideal_s / judge_s
    checks = [
        ("rule components faster than verl geo3k (median ratio > 1)", ratio > 1),
        ("no input slower than 10 ms (per-input median of 5 calls)", worst_ms <= 10),
        ("judge >= 80% of ideal concurrency", fraction >= 0.8),
    ]
    print(f"realistic responses          : {len(items)}   adversarial: {len(hostile)}")
    print(f"ours  compute_score (no judge): {ours_rate:10.0f} responses/s")
    print(f"verl  geo3k.compute_score     : {geo3k_rate:10.0f} responses/s")
    print(f"ratio ours / geo3k            : {ratio:10.2f}x  (median of {len(ratios)} alternating rounds; "
          f"{ratios[0]:.2f}-{ratios[-1]:.2f})")
    kind = "adversarial" if slowest >= len(items) else "realistic"
    print(f"worst single input (median)   : {worst_ms:10.2f} ms  ({kind} input of "
          f"{len((items + hostile)[slowest][0])} chars; worst single observation {1000 * worst_observed:.2f} ms)")
    print(f"worst lenient_answer (eval)   : {1000 * lenient_worst:10.2f} ms")
    print(f"judge: {args.judge_calls} calls, {args.latency_ms:.0f} ms latency, concurrency {args.concurrency}: "
          f"{judge_s:.2f} s vs ideal {ideal_s:.2f} s -> {fraction:.2f} of ideal")
    for name, ok in checks:
        print(f"  [{'PASS' if ok else 'MISS'}] {name}")
    return 1 if args.strict and not all(ok for _, ok in checks) else 0


def _timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
