"""A multi-node Ray cluster on this machine, for rehearsing cluster runs on a CPU (Ray's own `Cluster`).

    python -m pathvlm_cpu.local_cluster --nodes 2 --env-file /tmp/cluster.env    # runs until SIGTERM/SIGINT

Each node is a real raylet with its own virtual GPU; the head serves the job API. Everything binds to the
loopback address, and the cluster uses Ray's token authentication with a fresh token, as a production
cluster does. `--env-file` receives the `RAY_ADDRESS` and `RAY_AUTH_TOKEN_PATH` a client needs (written once
the cluster is up, via a temp file and a rename).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

# Ray resolves "127.0.0.1" to the machine's address unless told it runs without remote nodes; every process of
# the cluster (dashboard agents included) must then stay on the loopback address.
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
# verl asks each GPU bundle for up to 10 CPUs (max_colocate_count) plus ~10 one-CPU helper actors: advertise
# enough logical CPUs per node that they are all scheduled (they mostly wait).
CPUS_PER_NODE = 24
OBJECT_STORE_BYTES = 256 << 20
# How long the head's job agent may take to accept jobs once the nodes are up.
JOB_AGENT_WAIT_S = 180


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalCluster:
    """`nodes` Ray nodes (the first is the head), `gpus_per_node` virtual GPUs each; a context manager."""

    def __init__(self, nodes: int = 2, gpus_per_node: int = 1, temp_root: str = "/tmp") -> None:
        # A short root: Ray's socket paths live under it and AF_UNIX paths stop at 107 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="pvr", dir=temp_root))
        self.token_path = self.root / "auth_token"
        self.token_path.write_text(secrets.token_hex(32))
        self.token_path.chmod(0o600)
        self.nodes, self.gpus_per_node = nodes, gpus_per_node
        self.dashboard_port = _free_port()
        self._cluster = None

    @property
    def address(self) -> str:
        """The job server, for RAY_ADDRESS."""
        return f"http://127.0.0.1:{self.dashboard_port}"

    def client_env(self) -> dict[str, str]:
        """What a client (a launcher, `ray job`) needs to reach the cluster."""
        return {"RAY_ADDRESS": self.address, "RAY_AUTH_TOKEN_PATH": str(self.token_path)}

    def start(self) -> LocalCluster:
        from ray.cluster_utils import Cluster

        # RAY_TMPDIR keeps the sessions and Ray's record of the head's address inside our own folder.
        os.environ.update(LOOPBACK_ENV, RAY_TMPDIR=str(self.root), RAY_AUTH_TOKEN_PATH=str(self.token_path))
        # Jobs run `python` on the nodes: this interpreter's environment, as a node image would have it.
        os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        (self.root / "ray").mkdir()
        node = {"num_cpus": CPUS_PER_NODE, "num_gpus": self.gpus_per_node, "node_ip_address": "127.0.0.1",
                "object_store_memory": OBJECT_STORE_BYTES}
        self._cluster = Cluster(initialize_head=True, head_node_args={
            **node, "include_dashboard": True, "dashboard_port": self.dashboard_port})
        for index in range(1, self.nodes):
            # Its own temp dir, as a separate machine has: nodes sharing one would unpack each job's working
            # directory into the same folder, replacing it under the processes of the other node.
            self._cluster.add_node(**node, temp_dir=str(self.root / f"node{index}"))
        self._cluster.wait_for_nodes()
        self._wait_for_job_agent()
        return self

    def _wait_for_job_agent(self) -> None:
        """Ray's job server answers before an agent accepts jobs ("No available agent to submit job, please try
        again later"): run a no-op job, retrying until one is accepted, so no real submission races the start."""
        from ray.job_submission import JobSubmissionClient

        client = JobSubmissionClient(self.address)
        deadline = time.monotonic() + JOB_AGENT_WAIT_S
        while True:
            try:
                probe = client.submit_job(entrypoint="true")
                break
            except RuntimeError as error:
                if "No available agent" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(1)
        while not client.get_job_status(probe).is_terminal():
            time.sleep(0.5)
        for job in client.list_jobs():  # the probes (a refused one may be listed FAILED): start with no jobs
            client.delete_job(job.submission_id)

    def stop(self) -> None:
        """Stop every process this cluster started (Ray tracks them by pid), then remove its folder."""
        if self._cluster is not None:
            self._cluster.shutdown()
            self._cluster = None
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def write_env_file(path: Path, env: dict[str, str]) -> None:
    """`export NAME=value` lines, written whole (temp file, then rename)."""
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text("".join(f"export {name}={shlex.quote(value)}\n" for name, value in env.items()))
    staging.rename(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--gpus-per-node", type=int, default=1, help="virtual GPUs per node")
    parser.add_argument("--env-file", type=Path, required=True, help="where to write RAY_ADDRESS etc. once up")
    args = parser.parse_args(argv)
    if os.environ.get("RAY_AUTH_MODE") != "token":
        # Ray's core fixes its authentication mode when the process starts: start again with it set.
        os.execve(sys.executable, [sys.executable, "-m", __spec__.name, *sys.argv[1:]],
                  {**os.environ, "RAY_AUTH_MODE": "token"})
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    with LocalCluster(args.nodes, args.gpus_per_node) as cluster:
        write_env_file(args.env_file, cluster.client_env())
        print(f"local Ray cluster: {args.nodes} nodes x {args.gpus_per_node} virtual GPU(s) at {cluster.address}",
              flush=True)
        while not stopped.wait(1):
            pass
    print("local Ray cluster stopped", flush=True)


if __name__ == "__main__":
    main()
