"""The evaluation's pixel budget beats the one a checkpoint ships (official Qwen2.5-VL checkpoints carry
min_pixels/max_pixels in preprocessor_config.json): image tokens follow conf/pixels, as in training."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image
from skimage import data as skimage_data
from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

from pathvlm_eval.chat import render_prompt
from pathvlm_eval.engines import PixelBudget
from pathvlm_eval.engines.hf_engine import HFEngine

BUDGET = PixelBudget(min_pixels=3136, max_pixels=12544)  # conf/pixels/tiny.yaml: 4 to 16 image tokens
PATCH, MERGE = 14, 2
PROMPT = [{"role": "user", "content": "<image>\nWhat stain is this?"}]


def _checkpoint_with_own_budget(tiny_ckpt: Path, dest: Path, layout: str, min_pixels: int, max_pixels: int) -> Path:
    """A copy of the tiny checkpoint (weights linked) whose image processor config carries other pixel limits."""
    dest.mkdir()
    for file in tiny_ckpt.iterdir():
        if file.suffix == ".safetensors":
            (dest / file.name).symlink_to(file)
        else:
            shutil.copy(file, dest / file.name)
    processor_config = json.loads((dest / "processor_config.json").read_text())
    image_config = {**processor_config["image_processor"], "min_pixels": min_pixels, "max_pixels": max_pixels}
    if layout == "preprocessor_config.json":  # the official checkpoints' layout: a file of its own
        del processor_config["image_processor"]
        (dest / "preprocessor_config.json").write_text(json.dumps(image_config))
    else:  # transformers 5's layout: the image_processor section of processor_config.json
        processor_config["image_processor"] = image_config
    (dest / "processor_config.json").write_text(json.dumps(processor_config))
    return dest


@pytest.mark.parametrize(("layout", "min_pixels", "max_pixels"), [
    ("preprocessor_config.json", 200704, 401408),  # the checkpoint allows far more pixels (256-512 tokens)
    ("preprocessor_config.json", 784, 3136),  # the checkpoint allows fewer pixels (at most 4 tokens)
    ("processor_config.json", 200704, 401408),  # the same limits in transformers 5's nested layout
])
def test_image_tokens_follow_our_budget_not_the_checkpoints(tiny_ckpt, tmp_path, layout, min_pixels, max_pixels):
    ckpt = _checkpoint_with_own_budget(tiny_ckpt, tmp_path / "ckpt", layout, min_pixels, max_pixels)
    image = Image.fromarray(skimage_data.immunohistochemistry())  # a real 512 x 512 stained tissue image
    engine = HFEngine(str(ckpt), BUDGET, device="cpu")
    try:
        inputs = engine.processor(text=[render_prompt(engine.processor, PROMPT)], images=[image], return_tensors="pt")
        image_token_id = engine.processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
        n_image_tokens = int((inputs["input_ids"] == image_token_id).sum())
    finally:
        engine.close()

    def grid(low: int, high: int) -> list[int]:
        height, width = smart_resize(image.height, image.width, factor=PATCH * MERGE, min_pixels=low, max_pixels=high)
        return [1, height // PATCH, width // PATCH]

    ours, checkpoints = grid(BUDGET.min_pixels, BUDGET.max_pixels), grid(min_pixels, max_pixels)
    assert ours != checkpoints  # the two budgets give different grids, so the test tells them apart
    assert inputs["image_grid_thw"].tolist() == [ours]
    assert n_image_tokens == ours[1] * ours[2] // MERGE**2 <= BUDGET.max_pixels // (PATCH * MERGE) ** 2
