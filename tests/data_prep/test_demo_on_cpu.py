"""The embedded demo set: sizes, image-disjointness, varied gold letters, fixed option lists, provenance, answers
by construction."""

from __future__ import annotations

import io
import json
from collections import Counter

import numpy as np
import pytest
from dp_fixtures import read_rows
from PIL import Image

from data_prep.sources.demo import SIDES, SOURCES, TECHNIQUES, move, transform

DEMO_SIZES = {"sft_train": 200, "grpo_train": 200, "val": 50, "test": 100}


@pytest.fixture(scope="module")
def demo_rows(demo_data):
    return {split: read_rows(demo_data / f"{split}.parquet") for split in DEMO_SIZES}


def test_sizes_disjointness_and_answer_mix(demo_rows, demo_data):
    owners: dict[str, set] = {}
    for split, rows in demo_rows.items():
        assert len(rows) == DEMO_SIZES[split]
        for row in rows:
            owners.setdefault(row["extra_info"]["image_sha256"], set()).add(split)
        letters = Counter(r["reward_model"]["ground_truth"][0] for r in rows if r["extra_info"]["answer_type"] == "mcq")
        assert set(letters) == set("ABCDEF") and max(letters.values()) <= 0.3 * sum(letters.values()), (split, letters)
        assert Counter(r["extra_info"]["answer_type"] for r in rows)["yesno"] >= 0.05 * len(rows)
    assert all(len(s) == 1 for s in owners.values())
    manifest = json.loads((demo_data / "manifest.json").read_text())
    assert manifest["images_shared_across_splits"] == 0
    assert {s["name"] for s in manifest["image_sources"]} == set(SOURCES)
    assert all(s["license"] and s["source"] for s in manifest["image_sources"])


def test_rows_follow_the_contract(demo_rows):
    for rows in demo_rows.values():
        for row in rows:
            info = row["extra_info"]
            assert row["data_source"] == "demo" and row["prompt"][0]["content"] == "<image>" + info["question"]
            image = Image.open(io.BytesIO(row["images"][0]["bytes"]))
            assert image.mode == "RGB" and image.width * image.height <= 224 * 224
            assert info["image_bytes"] == row["images"][0]["bytes"]  # the judge's copy, carried in extra_info
            if info["answer_type"] == "mcq":
                assert row["reward_model"]["ground_truth"] in info["options"]
            else:
                assert row["reward_model"]["ground_truth"] in ("yes", "no") and info["options"] == []
            assert row["messages"][1]["content"].endswith(f"<answer>{row['reward_model']['ground_truth']}</answer>")


def test_each_question_type_lists_the_same_options(demo_rows):
    """The gold letter follows from the image: one option list per category, technique gold = the source's."""
    lists: dict[str, set] = {}
    for rows in demo_rows.values():
        for row in rows:
            info = row["extra_info"]
            lists.setdefault(info["category"], set()).add(tuple(info["options"]))
            if info["category"] == "technique":
                assert row["reward_model"]["ground_truth"] == TECHNIQUES[list(SOURCES).index(info["dataset"])]
    assert all(len(options) == 1 for options in lists.values()), lists
    assert lists["technique"] == {TECHNIQUES}


@pytest.mark.parametrize("turns", range(4))
@pytest.mark.parametrize("flip", [False, True])
def test_orientation_answers_are_true_by_construction(turns, flip):
    """A marker on one side of an image ends up where `move` says after the same transform."""
    for side in SIDES:
        array = np.zeros((9, 9), dtype=np.uint8)
        index = {"top": (0, 4), "bottom": (8, 4), "left": (4, 0), "right": (4, 8)}[side]
        array[index] = 255
        moved = transform(array, turns, flip)
        row, col = np.argwhere(moved == 255)[0]
        found = {(0, 4): "top", (8, 4): "bottom", (4, 0): "left", (4, 8): "right"}[(int(row), int(col))]
        assert found == move(side, turns, flip)


def test_optic_disc_is_where_the_answer_says(demo_rows):
    """The fundus photograph's brightest region (the optic disc) lies on the gold side."""
    checked = 0
    for rows in demo_rows.values():
        for row in rows:
            if row["extra_info"]["category"] != "optic_disc":
                continue
            image = np.asarray(Image.open(io.BytesIO(row["images"][0]["bytes"])).convert("L"), dtype=float)
            y, x = np.unravel_index(np.argmax(np.convolve(image.ravel(), np.ones(5) / 5, "same")), image.shape)
            h, w = image.shape
            offsets = {"top": -(y - h / 2), "bottom": y - h / 2, "left": -(x - w / 2), "right": x - w / 2}
            gold = row["reward_model"]["ground_truth"][3:].lower()
            assert max(offsets, key=offsets.get) == gold
            checked += 1
    assert checked >= 10
