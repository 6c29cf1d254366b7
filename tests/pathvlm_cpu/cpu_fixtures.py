"""Tiny Parquet files in verl's RL and SFT row formats, and helpers to run verl's entry points on CPU."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from pathvlm_cpu import env as cpu_env

# 56 x 56 px = the tiny processor's minimum pixel budget: 4 image tokens per image.
IMAGE_SIDE = 56
QUESTIONS = (
    ("Which tissue is shown?", ["A) epithelium", "B) muscle"], "A"),
    ("What stain is used?", ["A) H&E", "B) PAS"], "B"),
    ("Is the lesion benign or malignant?", ["A) benign", "B) malignant"], "A"),
    ("Which organ is this?", ["A) liver", "B) kidney"], "B"),
)


def png_bytes(seed: int) -> bytes:
    """A small random RGB image, PNG-encoded."""
    pixels = np.random.default_rng(seed).integers(0, 256, size=(IMAGE_SIDE, IMAGE_SIDE, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def write_rl_parquet(path: Path, rows: int = 4) -> Path:
    """verl RL rows: prompt with one `<image>`, images [{bytes, path}], reward_model, extra_info (mcq)."""
    records = []
    for index in range(rows):
        question, options, answer = QUESTIONS[index % len(QUESTIONS)]
        text = "<image>" + question + "\n" + "\n".join(options) + "\nAnswer in <think></think><answer></answer>."
        records.append({
            "data_source": "pathmmu_tiny",
            "prompt": [{"role": "user", "content": text}],
            "images": [{"bytes": png_bytes(index), "path": f"img_{index}.png"}],
            "ability": "pathology",
            "reward_model": {"style": "rule", "ground_truth": answer},
            "extra_info": {"index": index, "answer_type": "mcq", "options": options, "question": question},
        })
    pq.write_table(pa.Table.from_pylist(records), path)
    return path


def cpu_process_env(ray_tmpdir: Path) -> dict[str, str]:
    """This process's environment plus the CPU backend's variables, offline, with a private Ray temp dir
    (short: Ray's socket paths must stay under 108 bytes)."""
    return {**os.environ, **cpu_env(), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "HYDRA_FULL_ERROR": "1", "RAY_TMPDIR": str(ray_tmpdir), "TOKENIZERS_PARALLELISM": "false"}


def run_logged(command: list[str], environment: dict[str, str], log: Path, timeout: int) -> str:
    """Run a command, keep its combined output in `log`, fail with the output's tail on a non-zero exit."""
    with open(log, "w") as sink:
        result = subprocess.run(command, env=environment, stdout=sink, stderr=subprocess.STDOUT, timeout=timeout)
    output = log.read_text(errors="replace")
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command[:4])} ... exited {result.returncode}:\n{output[-6000:]}")
    return output


def file_metrics(path: Path) -> list[dict]:
    """verl's `file` logger output (VERL_FILE_LOGGER_PATH): one {"step", "data"} record per line."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes containing `text` (e.g. a run's private Ray temp dir)."""
    listing = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True).stdout
    return [line for line in listing.splitlines() if text in line and "ps -eo" not in line]
