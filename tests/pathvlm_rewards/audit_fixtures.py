"""Inputs of the audit tests: data_prep-shaped Parquet rows and verl-shaped validation dumps."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from reward_fixtures import OPTIONS, png_bytes

from data_prep.rows import SCHEMA
from pathvlm_rewards.judge.verdict import JUDGE_KEYS

INSTRUCTION = "Analyse the image and each option step by step inside <think> </think> tags, then answer."
# One distinct colour per image, so a screenshot shows whether the image was drawn.
COLOURS = [(20, 200, 60), (230, 40, 40), (40, 60, 230), (240, 200, 20)]


def question_text(number: int) -> str:
    return f"Case {number}: what is the most likely diagnosis for this colon biopsy?\n" + "\n".join(OPTIONS) + \
        f"\n{INSTRUCTION}"


def row(number: int) -> dict:
    image = png_bytes((64, 64), COLOURS[number % len(COLOURS)])
    text = question_text(number)
    user = {"role": "user", "content": "<image>" + text}
    info = {"index": number, "split": "val", "answer_type": "mcq", "options": list(OPTIONS), "question": text,
            "image_bytes": image, "image_path": f"/nowhere/{number}.png", "image_file": f"{number}.png",
            "image_sha256": hashlib.sha256(image).hexdigest(), "dataset": "pathmmu", "category": "PubMed",
            "original_id": str(number), "source_split": "val", "modality": ""}
    return {"data_source": "pathmmu", "prompt": [user], "messages": [user, {"role": "assistant", "content": "x"}],
            "images": [{"bytes": image, "path": info["image_path"]}], "ability": "pathology",
            "reward_model": {"style": "rule", "ground_truth": OPTIONS[1]}, "extra_info": info}


def write_rows(path: Path, count: int) -> Path:
    pq.write_table(pa.Table.from_pylist([row(number) for number in range(count)], schema=SCHEMA), path)
    return path


def response(number: int, step: int) -> str:
    return (f"<think>Step {step}: glands with mucin in case {number}; not squamous, not lymphoid.</think>"
            f"<answer>{OPTIONS[number % 2]}</answer>")


def dump_line(number: int, step: int) -> dict:
    """One line as verl's _dump_generations writes it for validation (the reward's keys included)."""
    scores = {"score": 1.0, "accuracy": 1.0, "format": 1.0, "process": 0.0, "integrity": 0.0, "knowledge": 0.0}
    return {"input": f"system\nYou are a helpful assistant.\nuser\n{question_text(number)}\nassistant\n",
            "output": response(number, step), "gts": OPTIONS[1], "score": 2.0, "step": step, "reward": 2.0,
            **scores, **dict.fromkeys(JUDGE_KEYS, 0.0), "acc": 1.0, "pred": "B", "uid": f"uid-{number}_0_0"}


def write_validation_dumps(folder: Path, count: int, steps: tuple[int, ...] = (0, 2)) -> Path:
    """<folder>/<step>.jsonl for each step, `count` responses each (as trainer.validation_data_dir holds them)."""
    folder.mkdir(parents=True, exist_ok=True)
    for step in steps:
        lines = [json.dumps(dump_line(number, step), ensure_ascii=False) for number in range(count)]
        (folder / f"{step}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder
