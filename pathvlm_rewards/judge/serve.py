"""Serve a judge model as an OpenAI-compatible endpoint: vLLM's server on GPUs, `transformers serve` elsewhere.

The judge is then called over HTTP exactly as a remote one on a cluster (backend `openai`, base_url
`http://HOST:PORT/v1`, model = the model as given here, api_key_env null). `transformers serve` is pinned to
the model (requests naming another get HTTP 400), runs offline (HF_HUB_OFFLINE=1), and accepts
`image_url` content parts, which Qwen2.5-VL's processor reads. `vllm serve` gets what judging needs: one
image and no video per prompt, the trainers' pixel budget (conf/pixels/) for its processor and its memory
profiling, a context for the rubric, the response and the image, and tensor parallelism.

    python -m pathvlm_rewards.judge.serve start MODEL --pid-file judge.pid [--log judge.log]   # prints the URL
    python -m pathvlm_rewards.judge.serve start MODEL --engine vllm --tensor-parallel-size 4 --host 0.0.0.0 ...
    python -m pathvlm_rewards.judge.serve stop --pid-file judge.pid

Bound to 0.0.0.0, the printed URL carries this node's address as Ray sees it (the one other nodes reach),
unless --advertise names another.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ENGINES = ("auto", "vllm", "transformers")
# Each engine's weights dtype unless --dtype says otherwise: bf16 emulation makes float32 the fast one on CPUs.
DEFAULT_DTYPE = {"vllm": "auto", "transformers": "float32"}
# Addresses that accept connections on every interface: health checks go to loopback, the URL to the node's address.
ANY_ADDRESS = ("0.0.0.0", "::")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def process_running(pid: int) -> bool:
    """Whether `pid` runs (a zombie, which a container's init may never reap, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def stop_process_group(pid: int, grace_s: float = 15.0) -> None:
    """SIGTERM the server's process group (its own session), SIGKILL after `grace_s`; no-op when gone."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our child: reap it
                    return
            except ChildProcessError:  # not our child (the CLI's `stop`): poll
                if not process_running(pid):
                    return
            time.sleep(0.2)


@dataclass(frozen=True)
class VllmSettings:
    """What `vllm serve` needs to judge: GPUs, context, and the pixel budget of conf/pixels/<pixels>.yaml."""

    tensor_parallel_size: int = 1
    # The rubric, the question, a response of up to judge.max_response_chars (8,000 characters, ~2k tokens), the
    # image (at most 512 tokens in the default budget) and the verdict, with room to spare.
    max_model_len: int = 8192
    gpu_memory_utilization: float = 0.9
    pixels: str = "default"

    def args(self) -> list[str]:
        from data_prep.config import load_pixel_budget

        budget = load_pixel_budget(self.pixels)
        return ["--tensor-parallel-size", str(self.tensor_parallel_size), "--max-model-len", str(self.max_model_len),
                "--gpu-memory-utilization", str(self.gpu_memory_utilization),
                # One image per judged response, no video: vLLM profiles memory for exactly that.
                "--limit-mm-per-prompt", json.dumps({"image": 1, "video": 0}),
                "--mm-processor-kwargs", json.dumps({"min_pixels": budget.min_pixels,
                                                     "max_pixels": budget.max_pixels})]


def resolve_engine(engine: str) -> str:
    """`auto` becomes `vllm` where it can run (installed, a CUDA GPU visible), else `transformers`."""
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r}: expected one of {ENGINES}")
    if engine != "auto":
        return engine
    from pathvlm_eval.engines import vllm_usable

    return "vllm" if vllm_usable() else "transformers"


def node_address() -> str:
    """This node's address as Ray's nodes reach each other."""
    import ray.util

    return ray.util.get_node_ip_address()


class JudgeServer:
    """`transformers serve MODEL` or `vllm serve MODEL` on HOST:PORT in its own process group; a context manager."""

    def __init__(self, model: str | Path, *, engine: str = "transformers", host: str = "127.0.0.1",
                 port: int | None = None, advertise: str | None = None, device: str = "cpu",
                 dtype: str | None = None, vllm: VllmSettings | None = None, log: str | Path | None = None):
        if engine not in DEFAULT_DTYPE:
            raise ValueError(f"engine {engine!r}: expected one of {tuple(DEFAULT_DTYPE)} (resolve `auto` first)")
        self.model = str(model)
        self.engine = engine
        self.host = host
        self.port = port or free_port(host)
        self.advertise = advertise or (node_address() if host in ANY_ADDRESS else host)
        self.device, self.dtype = device, dtype or DEFAULT_DTYPE[engine]
        self.vllm = vllm or VllmSettings()
        self.log = Path(log) if log else None
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        """The URL clients use (`judge.base_url`)."""
        return f"http://{self.advertise}:{self.port}/v1"

    def command(self) -> list[str]:
        address = ["--host", self.host, "--port", str(self.port), "--dtype", self.dtype]
        if self.engine == "vllm":
            return [sys.executable, "-m", "vllm.entrypoints.cli.main", "serve", self.model, *address,
                    *self.vllm.args()]
        return [sys.executable, "-m", "transformers.cli.transformers", "serve", self.model, *address,
                "--device", self.device]

    def _healthy(self) -> bool:
        try:
            host = "127.0.0.1" if self.host in ANY_ADDRESS else self.host
            with urllib.request.urlopen(f"http://{host}:{self.port}/health", timeout=2) as reply:
                return reply.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log and self.log.exists() else ""

    def start(self, timeout_s: float = 300.0) -> JudgeServer:
        """Launch the server and wait until /health answers; RuntimeError (with the log's tail) otherwise."""
        # transformers serve stays offline (pinned to its folder); vLLM may fetch a hub id it was given.
        offline = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"} if self.engine == "transformers" else {}
        env = {**os.environ, **offline}
        out: IO | int = open(self.log, "ab") if self.log else subprocess.DEVNULL  # the child keeps its own copy
        try:
            self.process = subprocess.Popen(self.command(), env=env, stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            if self.log:
                out.close()
        deadline = time.monotonic() + timeout_s
        while not self._healthy():
            if self.process.poll() is not None or time.monotonic() > deadline:
                code = self.process.poll()
                self.stop()
                state = f"exited with {code}" if code is not None else f"not healthy after {timeout_s:.0f}s"
                raise RuntimeError(f"{self.engine} serve {self.model} {state}:\n{self._log_tail()}")
            time.sleep(0.5)
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process.pid)
            self.process = None

    def __enter__(self) -> JudgeServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pathvlm_rewards.judge.serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start a server in the background; prints its base URL")
    start.add_argument("model", help="model folder or hub id (the model name clients must send)")
    start.add_argument("--pid-file", type=Path, required=True)
    start.add_argument("--log", type=Path, help="server log (default: discarded)")
    start.add_argument("--engine", choices=ENGINES, default="transformers",
                       help="auto: vllm when installed and a CUDA GPU is visible, else transformers")
    start.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0: every interface)")
    start.add_argument("--port", type=int, help="default: a free port")
    start.add_argument("--advertise", help="host in the printed URL (default: the bound one; for 0.0.0.0 this "
                                           "node's address as Ray sees it)")
    start.add_argument("--device", default="cpu", help="transformers: cpu, cuda, cuda:N or auto")
    start.add_argument("--dtype", help=f"weights dtype (default: {DEFAULT_DTYPE})")
    start.add_argument("--tensor-parallel-size", type=int, default=1, help="vllm: GPUs the judge is split over")
    start.add_argument("--max-model-len", type=int, default=VllmSettings.max_model_len, help="vllm: context length")
    start.add_argument("--gpu-memory-utilization", type=float, default=VllmSettings.gpu_memory_utilization,
                       help="vllm: share of each GPU it takes")
    start.add_argument("--pixels", default="default", help="vllm: pixel budget conf/pixels/<name>.yaml")
    start.add_argument("--timeout-s", type=float, default=300.0, help="how long to wait for /health")
    stop = commands.add_parser("stop", help="stop the server named by a pid file")
    stop.add_argument("--pid-file", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "start":
        vllm = VllmSettings(args.tensor_parallel_size, args.max_model_len, args.gpu_memory_utilization, args.pixels)
        server = JudgeServer(args.model, engine=resolve_engine(args.engine), host=args.host, port=args.port,
                             advertise=args.advertise, device=args.device, dtype=args.dtype, vllm=vllm,
                             log=args.log).start(args.timeout_s)
        args.pid_file.write_text(f"{server.process.pid}\n")
        print(server.base_url)
    else:
        if args.pid_file.exists():
            stop_process_group(int(args.pid_file.read_text()))
            args.pid_file.unlink()


if __name__ == "__main__":
    main()
