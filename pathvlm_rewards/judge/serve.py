"""Serve a local model folder as an OpenAI-compatible judge with `transformers serve`.

The judge is then called over HTTP exactly as a remote one on a cluster (backend `openai`, base_url
`http://HOST:PORT/v1`, model = the folder as given here, api_key_env null). The server is pinned to the
folder (requests naming another model get HTTP 400), runs offline (HF_HUB_OFFLINE=1), and accepts
`image_url` content parts, which Qwen2.5-VL's processor reads.

    python -m pathvlm_rewards.judge.serve start MODEL_DIR --pid-file judge.pid [--log judge.log]   # prints the URL
    python -m pathvlm_rewards.judge.serve stop --pid-file judge.pid
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO


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


class JudgeServer:
    """`transformers serve MODEL` on HOST:PORT in its own process group; a context manager."""

    def __init__(self, model: str | Path, *, host: str = "127.0.0.1", port: int | None = None,
                 device: str = "cpu", dtype: str = "float32", log: str | Path | None = None):
        self.model = str(model)
        self.host = host
        self.port = port or free_port(host)
        self.device, self.dtype = device, dtype
        self.log = Path(log) if log else None
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "transformers.cli.transformers", "serve", self.model, "--host", self.host,
                "--port", str(self.port), "--device", self.device, "--dtype", self.dtype]

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.host}:{self.port}/health", timeout=2) as reply:
                return reply.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log and self.log.exists() else ""

    def start(self, timeout_s: float = 300.0) -> JudgeServer:
        """Launch the server and wait until /health answers; RuntimeError (with the log's tail) otherwise."""
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
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
                raise RuntimeError(f"transformers serve {self.model} {state}:\n{self._log_tail()}")
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
    start.add_argument("model", help="local model folder (the model name clients must send)")
    start.add_argument("--pid-file", type=Path, required=True)
    start.add_argument("--log", type=Path, help="server log (default: discarded)")
    start.add_argument("--host", default="127.0.0.1")
    start.add_argument("--port", type=int, help="default: a free port")
    start.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    start.add_argument("--dtype", default="float32", help="float32, bfloat16, float16 or auto")
    start.add_argument("--timeout-s", type=float, default=300.0, help="how long to wait for /health")
    stop = commands.add_parser("stop", help="stop the server named by a pid file")
    stop.add_argument("--pid-file", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "start":
        server = JudgeServer(args.model, host=args.host, port=args.port, device=args.device, dtype=args.dtype,
                             log=args.log).start(args.timeout_s)
        args.pid_file.write_text(f"{server.process.pid}\n")
        print(server.base_url)
    else:
        if args.pid_file.exists():
            stop_process_group(int(args.pid_file.read_text()))
            args.pid_file.unlink()


if __name__ == "__main__":
    main()
