"""The row contract: every Parquet file data_prep writes has these columns, whatever its split.

    data_source   str                       dataset name: pathmmu | pathvqa | quiltvqa | pmcvqa | omnimedvqa | demo
                                            (r1json: --data-source, default pathmmu)
    prompt        list<{role, content}>     one user turn: "<image>" + the rendered prompt
                                            (verl's RLHFDataset, data.prompt_key)
    messages      list<{role, content}>     the same user turn + the assistant turn "<think>…</think><answer>…</answer>"
                                            (verl's SFT dataset, data.messages_key)
    images        list<{bytes, path}>       one entry per "<image>" (data.image_key)
    ability       str                       pathology | medical
    reward_model  {style: "rule", ground_truth}   for mcq the gold option string ("B) Adenocarcinoma")
    extra_info    struct, fields in EXTRA_INFO below (verl passes only extra_info to the reward function, so
                  extra_info.image_bytes repeats the image for the judge)

Both trainer views live in every file, so the same val.parquet serves SFT validation (messages) and GRPO
validation (prompt).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from data_prep.records import Question

IMAGE_TOKEN = "<image>"


@dataclass(frozen=True)
class RowContext:
    """Everything one output row is made of."""

    question: Question
    split: str
    index: int
    user_text: str
    assistant_text: str
    image_bytes: bytes
    image_path: str
    image_sha256: str


# extra_info, the one place its fields are defined: name -> (Arrow type, value). Add a field with one line.
EXTRA_INFO: dict[str, tuple[pa.DataType, Callable[[RowContext], Any]]] = {
    # position of the row in its file; (data_source, split, index) identifies a question
    "index": (pa.int64(), lambda c: c.index),
    # sft_train | grpo_train | val | test
    "split": (pa.string(), lambda c: c.split),
    # mcq | yesno | open: selects the accuracy rule of the reward
    "answer_type": (pa.string(), lambda c: c.question.answer_type),
    # ["A) text", ...] for mcq, empty otherwise
    "options": (pa.list_(pa.string()), lambda c: list(c.question.options)),
    # the full user text (question, options, instruction) without the <image> placeholder: the judge's question
    "question": (pa.string(), lambda c: c.user_text),
    # the image as stored in `images` (encoded bytes): the judge of the process reward reads it here, since verl
    # gives the reward function extra_info and not the `images` column; it travels with the row to any node
    "image_bytes": (pa.binary(), lambda c: c.image_bytes),
    # absolute path of the image file on the machine that ran data_prep (the source file, or
    # OUT/images/<sha256>.<ext>); provenance only, it may not exist where the row is used
    "image_path": (pa.string(), lambda c: c.image_path),
    # the image as the source names it (relative to the dataset root, or the name recorded in the source)
    "image_file": (pa.string(), lambda c: c.question.image_name),
    # sha256 of the source image bytes: the key of image-disjoint splitting
    "image_sha256": (pa.string(), lambda c: c.image_sha256),
    # source data set (OmniMedVQA: its sub-dataset, e.g. "ISIC2020"; otherwise the data_source)
    "dataset": (pa.string(), lambda c: c.question.dataset or c.question.data_source),
    # subset / question kind (PathMMU: PubMed, EduContent, ...)
    "category": (pa.string(), lambda c: c.question.category),
    # the source's own id of the question
    "original_id": (pa.string(), lambda c: c.question.original_id),
    # split of the source the question came from (PathMMU: test, test_tiny, val)
    "source_split": (pa.string(), lambda c: c.question.source_split),
    # imaging modality when the source gives it (OmniMedVQA modality_type)
    "modality": (pa.string(), lambda c: c.question.modality),
}

MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
SCHEMA = pa.schema([
    ("data_source", pa.string()),
    ("prompt", pa.list_(MESSAGE)),
    ("messages", pa.list_(MESSAGE)),
    ("images", pa.list_(IMAGE)),
    ("ability", pa.string()),
    ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
    ("extra_info", pa.struct([(name, kind) for name, (kind, _) in EXTRA_INFO.items()])),
])


def build_row(context: RowContext, stored_path: str) -> dict[str, Any]:
    """One row of SCHEMA; `stored_path` is the images[].path entry."""
    question = context.question
    user = {"role": "user", "content": IMAGE_TOKEN + context.user_text}
    return {
        "data_source": question.data_source,
        "prompt": [user],
        "messages": [user, {"role": "assistant", "content": context.assistant_text}],
        "images": [{"bytes": context.image_bytes, "path": stored_path}],
        "ability": question.ability,
        "reward_model": {"style": "rule", "ground_truth": question.answer},
        "extra_info": {name: value(context) for name, (_, value) in EXTRA_INFO.items()},
    }
