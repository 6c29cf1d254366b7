"""verl 0.9.1's own dataset classes load every file data_prep writes, with the tiny Qwen2.5-VL processor,
and yield exactly one image per `<image>`: RLHFDataset for the RL view, MultiTurnSFTDataset (what
`verl.trainer.sft_trainer` builds by default) for the SFT view."""

from __future__ import annotations

import io

import numpy as np
import pytest
from omegaconf import OmegaConf
from PIL import Image

SPLITS = ("sft_train", "grpo_train", "val", "test")
IMAGE_PAD = 151655


@pytest.fixture(scope="module")
def tokenizer_processor(tiny_ckpt):
    from verl.utils import hf_processor, hf_tokenizer

    return hf_tokenizer(tiny_ckpt), hf_processor(tiny_ckpt)


def _rl_dataset(path, tokenizer, processor, tmp_path, filter_long: bool, max_samples: int = -1):
    from verl.utils.dataset.rl_dataset import RLHFDataset

    config = OmegaConf.create({"prompt_key": "prompt", "image_key": "images", "max_prompt_length": 1024,
                               "filter_overlong_prompts": filter_long, "filter_overlong_prompts_workers": 1,
                               "cache_dir": str(tmp_path / "verl_cache")})
    return RLHFDataset(str(path), tokenizer, config, processor=processor, max_samples=max_samples)


def _sft_dataset(path, tokenizer, processor, max_samples: int):
    from verl.trainer.sft_trainer import create_sft_dataset

    config = OmegaConf.create({"messages_key": "messages", "image_key": "images", "max_length": 1024,
                               "truncation": "error", "custom_cls": {"path": None, "name": None}})
    return create_sft_dataset([str(path)], config, tokenizer, processor, max_samples=max_samples)


def _check_rl(dataset, expected_rows: int) -> None:
    assert len(dataset) == expected_rows
    for i in range(len(dataset)):
        item = dataset[i]
        content = item["raw_prompt"][0]["content"]
        images = [c for c in content if c["type"] == "image"]
        assert len(images) == 1 and isinstance(images[0]["image"], Image.Image)
        assert [c["type"] for c in content] == ["image", "text"]
        assert content[1]["text"] == item["extra_info"]["question"]
        assert item["index"] == item["extra_info"]["index"] == i


def _check_sft(dataset) -> None:
    for i in range(len(dataset)):
        item = dataset[i]
        grid = item["multi_modal_inputs"]["image_grid_thw"]
        assert grid.shape[0] == 1  # one image for the one <image>
        assert int((item["input_ids"] == IMAGE_PAD).sum()) == int(grid.prod()) // 4
        assert int(item["loss_mask"].sum()) > 0  # the assistant turn is trained


def test_rl_and_sft_load_pathmmu_files(pathmmu_out, tokenizer_processor, tmp_path):
    import pyarrow.parquet as pq

    tokenizer, processor = tokenizer_processor
    for split in SPLITS:
        path = pathmmu_out / f"{split}.parquet"
        rows = pq.read_metadata(path).num_rows
        _check_rl(_rl_dataset(path, tokenizer, processor, tmp_path, filter_long=split == "test"), rows)
        _check_sft(_sft_dataset(path, tokenizer, processor, max_samples=6))


def test_rl_and_sft_load_demo_files(demo_data, tokenizer_processor, tmp_path):
    import pyarrow.parquet as pq

    tokenizer, processor = tokenizer_processor
    for split in SPLITS:
        path = demo_data / f"{split}.parquet"
        _check_rl(_rl_dataset(path, tokenizer, processor, tmp_path, filter_long=False),
                  pq.read_metadata(path).num_rows)
    _check_sft(_sft_dataset(demo_data / "sft_train.parquet", tokenizer, processor, max_samples=12))


def test_rl_image_is_the_stored_image(pathmmu_out, tokenizer_processor, tmp_path):
    import pyarrow.parquet as pq

    tokenizer, processor = tokenizer_processor
    stored = pq.read_table(pathmmu_out / "grpo_train.parquet", columns=["images"]).to_pylist()
    dataset = _rl_dataset(pathmmu_out / "grpo_train.parquet", tokenizer, processor, tmp_path, filter_long=False)
    for i, row in enumerate(stored):
        item = dataset[i]
        expected = np.asarray(Image.open(io.BytesIO(row["images"][0]["bytes"])).convert("RGB"))
        got = np.asarray(item["raw_prompt"][0]["content"][0]["image"].convert("RGB"))
        assert np.array_equal(expected, got)
        # verl hands the reward function extra_info only: the judge's copy of the image must arrive there intact
        assert item["extra_info"]["image_bytes"] == row["images"][0]["bytes"]
