"""Helpers of the evaluation tests: RL Parquet files in data_prep's row format (PIL images made on the spot)
and the composed Hydra config."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

EXTRA_INFO = pa.struct([
    ("index", pa.int64()), ("split", pa.string()), ("answer_type", pa.string()), ("options", pa.list_(pa.string())),
    ("category", pa.string()), ("dataset", pa.string()), ("modality", pa.string()), ("question", pa.string()),
    ("image_path", pa.string()),
])
SCHEMA = pa.schema([
    ("data_source", pa.string()),
    ("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
    ("images", pa.list_(pa.struct([("bytes", pa.binary()), ("path", pa.string())]))),
    ("ability", pa.string()),
    ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
    ("extra_info", EXTRA_INFO),
])
OPTIONS = [["A) Adenocarcinoma", "B) Squamous cell carcinoma", "C) Lymphoma", "D) Melanoma"],
           ["A) H&E", "B) Masson trichrome", "C) PAS", "D) Congo red"]]


def png_bytes(seed: int, size: tuple[int, int] = (56, 84)) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def make_row(data_source: str, index: int, answer_type: str, ground_truth: str, options: list[str] | None = None,
             split: str = "test", **extra: Any) -> dict[str, Any]:
    question = f"Question {index}: what does the image show?"
    body = "\n".join([question, *(options or [])])
    return {
        "data_source": data_source,
        "prompt": [{"role": "user", "content": f"<image>\n{body}\nThink inside <think></think>, answer inside "
                                                f"<answer></answer>."}],
        "images": [{"bytes": png_bytes(index), "path": f"img_{index}.png"}],
        "ability": "pathology",
        "reward_model": {"style": "rule", "ground_truth": ground_truth},
        "extra_info": {"index": index, "split": split, "answer_type": answer_type, "options": options or [],
                       "question": question, "image_path": f"img_{index}.png", **extra},
    }


def write_rl_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    for row in rows:
        row["extra_info"] = {name: row["extra_info"].get(name) for name in EXTRA_INFO.names}
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), path)
    return path


def pathmmu_rows(count: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(count):
        options = OPTIONS[i % 2]
        rows.append(make_row("pathmmu", i, "mcq", options[i % 4], options,
                             category=("PubMed", "EduContent")[i % 2]))
    return rows


def omnimed_rows(count: int) -> list[dict[str, Any]]:
    datasets = [("Chest CT Scan", "CT"), ("ISIC2020", "Dermoscopy")]
    return [make_row("omnimedvqa", i, "mcq", OPTIONS[0][i % 4], OPTIONS[0], dataset=datasets[i % 2][0],
                     modality=datasets[i % 2][1]) for i in range(count)]


def compose_eval(overrides: list[str]):
    """The real Hydra config `pkg://pathvlm_conf/pathvlm_eval` with overrides."""
    from hydra import compose, initialize_config_module

    with initialize_config_module(config_module="pathvlm_conf", version_base=None):
        return compose(config_name="pathvlm_eval", overrides=overrides)


def tiny_overrides(ckpt: Path, files: list[Path], out_dir: Path, models: tuple[str, ...] = ("tiny",)) -> list[str]:
    """A CPU run of the tiny checkpoint: transformers engine, tiny pixel budget, a few tokens."""
    return [*(f"+models.{name}.path={ckpt}" for name in models),
            "data.files=[" + ",".join(f"'{f}'" for f in files) + "]", f"output_dir={out_dir}", "pixels=tiny",
            "engine.name=hf", "generation.max_new_tokens=6", "metrics.bootstrap_resamples=200"]


def scored_records(items: list, responses: list[str], sample: int = 0) -> list[dict[str, Any]]:
    """Sample records as the runner stores them, for hand-written responses scored by the real reward code."""
    from pathvlm_eval.scoring import Scorer

    scorer = Scorer("pathvlm_rewards", {"weights": {"accuracy": 1.0, "format": 1.0, "process": 0.0}})
    try:
        scores = scorer.score(items, responses)
    finally:
        scorer.close()
    return [{"prompt_id": item.prompt_id, "sample": sample, "data_source": item.data_source,
             "ground_truth": item.ground_truth, "response": response,
             "output_tokens": 5, "finish_reason": "stop", "reward_version": scorer.version, **score}
            for item, response, score in zip(items, responses, scores, strict=True)]
