"""Properties of the split assignment and of image normalization."""

from __future__ import annotations

import io
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from qwen_vl_utils.vision_process import smart_resize

from data_prep.config import PixelBudget, load_pixel_budget, load_template
from data_prep.images import ImageError, inspect, stored_image, target_size
from data_prep.records import find_gold
from data_prep.splitting import assign_groups

groups_strategy = st.dictionaries(
    st.text("0123456789abcdef", min_size=4, max_size=8),
    st.lists(st.sampled_from(["P|A", "P|B", "E|A", "E|C"]), min_size=1, max_size=4),
    min_size=1, max_size=60,
)
sizes_strategy = st.fixed_dictionaries({"sft_train": st.integers(0, 40), "grpo_train": st.integers(0, 20),
                                        "test": st.integers(0, 20)})


@settings(max_examples=150, deadline=None)
@given(groups_strategy, sizes_strategy, st.integers(0, 3))
def test_assignment_is_disjoint_bounded_and_deterministic(groups, sizes, seed):
    out = assign_groups(groups, sizes, seed)
    placed = [key for keys in out.values() for key in keys]
    assert len(placed) == len(set(placed))  # every image group in at most one split
    for split, keys in out.items():
        assert sum(len(groups[k]) for k in keys) <= sizes[split]
    assert out == assign_groups(dict(reversed(list(groups.items()))), sizes, seed)  # input order irrelevant


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 200), sizes_strategy, st.integers(0, 3))
def test_single_question_images_hit_sizes_exactly(n, sizes, seed):
    groups = {f"img{i}": [f"c|{'ABCD'[i % 4]}"] for i in range(n)}
    out = assign_groups(groups, sizes, seed)
    wanted = sum(sizes.values())
    got = {s: len(k) for s, k in out.items()}
    assert sum(got.values()) == min(n, wanted)
    if n >= wanted:
        assert got == sizes


def test_assignment_follows_strata_proportions():
    rng = np.random.default_rng(0)
    labels = [f"{c}|{letter}" for c in ("PubMed", "Edu") for letter in "ABCD"]
    groups = {f"g{i}": list(rng.choice(labels, size=int(rng.integers(1, 3)))) for i in range(800)}
    out = assign_groups(groups, {"sft_train": 600, "grpo_train": 200, "test": 250}, seed=1)
    total = Counter(label for g in groups.values() for label in g)
    n = sum(total.values())
    for split, keys in out.items():
        got = Counter(label for k in keys for label in groups[k])
        size = sum(got.values())
        for label in labels:
            assert abs(got[label] / size - total[label] / n) < 0.03, (split, label)


def _png(mode: str, size: tuple[int, int]) -> bytes:
    rng = np.random.default_rng(1)
    if mode == "I;16":
        image = Image.fromarray(rng.integers(0, 4096, size[::-1], dtype=np.uint16))
    else:
        image = Image.fromarray(rng.integers(0, 255, (*size[::-1], 3), dtype=np.uint8)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG" if mode == "CMYK" else "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "CMYK", "I;16", "RGB"])
def test_every_mode_is_stored_as_8_bit_rgb(mode):
    data = _png(mode, (40, 30))
    stored, _, converted = stored_image(data, inspect(data), load_pixel_budget())
    assert Image.open(io.BytesIO(stored)).mode == "RGB"
    assert converted == (mode != "RGB") and (stored == data) == (mode == "RGB")


@settings(max_examples=200, deadline=None)
@given(st.integers(20, 3000), st.integers(20, 3000), st.sampled_from(["default", "tiny"]))
def test_resize_keeps_aspect_and_the_processor_keeps_our_grid(width, height, preset):
    budget = load_pixel_budget(preset)
    size = target_size(width, height, budget)
    if width * height <= budget.max_pixels:
        assert size is None
        return
    new_w, new_h = size
    assert abs(new_w / new_h - width / height) <= 2 / min(new_w, new_h) * (width / height) + 1e-9
    # qwen_vl_utils' smart_resize with the recipes' budget leaves the grid of our image as it is.
    grid_h, grid_w = smart_resize(new_h, new_w, factor=28, min_pixels=budget.min_pixels,
                                  max_pixels=budget.max_pixels)
    assert grid_h * grid_w <= budget.max_pixels
    assert (grid_h, grid_w) == (max(28, round(new_h / 28) * 28), max(28, round(new_w / 28) * 28))


def test_unreadable_and_extreme_images_are_rejected():
    with pytest.raises(ImageError, match="not a readable image"):
        inspect(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(ImageError, match="aspect ratio"):
        inspect(_png("RGB", (1000, 4)))


def test_pixel_budget_comes_from_the_shared_conf():
    from importlib.resources import files

    from omegaconf import OmegaConf

    conf = OmegaConf.create((files("pathvlm_conf") / "pixels" / "default.yaml").read_text())
    assert load_pixel_budget() == PixelBudget(conf.min_pixels, conf.max_pixels)
    assert load_pixel_budget("tiny", max_pixels=9999).max_pixels == 9999
    with pytest.raises(ValueError, match="unknown pixel preset"):
        load_pixel_budget("huge")


def test_template_renders_the_paper_prompt_and_rejects_placeholders(tmp_path):
    template = load_template()
    text = template.user_text("mcq", " Which? ", ("A) x", "B) y"))
    assert text.startswith("Which?\nA) x\nB) y\n") and "<think>" in text and "<answer>" in text
    assert template.assistant_text(" r ", "B) y") == "<think>r</think><answer>B) y</answer>"
    bad = tmp_path / "t.yaml"
    bad.write_text("prompt: {mcq: '<image>{question}{options}', yesno: '{question}', open: '{question}'}\n"
                   "assistant: '{answer}'\n")
    with pytest.raises(ValueError, match="must not contain <image>"):
        load_template(bad)


@pytest.mark.parametrize(("answer", "expected"), [
    ("B) Adenocarcinoma", "B) Adenocarcinoma"), ("adenocarcinoma", "B) Adenocarcinoma"), ("B", "B) Adenocarcinoma"),
    ("(B)", "B) Adenocarcinoma"), ("B. Adenocarcinoma", "B) Adenocarcinoma"), ("E) Other", None), ("B. Lymphoma", None),
])
def test_gold_answer_forms(answer, expected):
    assert find_gold(answer, ("A) Lymphoma", "B) Adenocarcinoma")) == expected
