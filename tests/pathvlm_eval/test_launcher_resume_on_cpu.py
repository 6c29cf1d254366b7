"""recipes/evaluate in a real subprocess, killed (SIGKILL) midway, then re-run: it resumes, nothing twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from eval_fixtures import pathmmu_rows, write_rl_parquet

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = REPO / "recipes" / "evaluate"
ROWS = 8


def _launch(ckpt: Path, data: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHON": sys.executable, "MODEL_NAME": "tiny", "MODEL": str(ckpt),
           "MODEL_REFERENCE": "null", "DATA_FILES": str(data), "OUT_DIR": str(out), "HF_HUB_OFFLINE": "1"}
    # Extra Hydra overrides pass through "$@": one sample per generate call, so the store grows line by line.
    return subprocess.Popen(["bash", str(LAUNCHER), "pixels=tiny", "engine.name=hf", "engine.hf.batch_size=1",
                             "generation.max_new_tokens=16", "metrics.bootstrap_resamples=100"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _complete_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_launcher_header_documents_the_command():
    header = LAUNCHER.read_text()
    assert "set -euo pipefail" in header and '"$@"' in header and "# Launch" in header
    assert subprocess.run(["bash", "-n", str(LAUNCHER)], check=False).returncode == 0


def test_killed_run_resumes_without_regenerating(tiny_ckpt, tmp_path):
    data = write_rl_parquet(tmp_path / "p.parquet", pathmmu_rows(ROWS))
    out = tmp_path / "run"
    jsonl = out / "samples" / "tiny.jsonl"

    first = _launch(tiny_ckpt, data, out)
    deadline = time.monotonic() + 240
    while _complete_lines(jsonl) < 2 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(first.pid, signal.SIGKILL)
    log = first.communicate()[0].decode(errors="replace")
    assert first.returncode == -signal.SIGKILL, f"the run ended before it could be interrupted:\n{log[-3000:]}"
    kept = jsonl.read_text().split("\n")[:-1]  # whole lines only; a torn tail is the store's to drop
    assert 2 <= len(kept) < ROWS and not (out / "results.json").exists()

    second = _launch(tiny_ckpt, data, out)
    log = second.communicate(timeout=300)[0].decode(errors="replace")
    assert second.returncode == 0, log[-3000:]
    assert f"{len(kept)} samples stored, {ROWS - len(kept)} to generate" in log
    lines = jsonl.read_text().splitlines()
    assert lines[:len(kept)] == kept  # the interrupted run's samples were kept, not generated again
    keys = [(json.loads(line)["prompt_id"], json.loads(line)["sample"]) for line in lines]
    assert sorted(keys) == sorted((f"pathmmu/test/{i}", 0) for i in range(ROWS))
    assert (out / "report.md").stat().st_size > 0 and (out / "results.json").exists()
