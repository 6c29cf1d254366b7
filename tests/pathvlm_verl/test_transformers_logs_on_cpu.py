"""verl's SFT dataset tokenizes our rows without a transformers warning per item, and the pixel budget the
silenced warning is about still applies."""

import io
import logging

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from recipes.preflight import compose_stage

IMAGE_PAD = 151655
# One image token covers a 28 x 28 patch after Qwen2.5-VL's 2 x 2 merge.
PIXELS_PER_IMAGE_TOKEN = 28 * 28


@pytest.fixture
def transformers_warnings(caplog):
    """The warnings logged under transformers' logger tree while the test runs (that tree does not propagate
    to the root logger, so caplog's handler is attached to it)."""
    logger = logging.getLogger("transformers")
    logger.addHandler(caplog.handler)
    yield lambda: [record.getMessage() for record in caplog.records
                   if record.name.split(".")[0] == "transformers" and record.levelno >= logging.WARNING]
    logger.removeHandler(caplog.handler)


def _sft_rows(path, sides: list[int]) -> None:
    rows = []
    for side in sides:
        buffer = io.BytesIO()
        Image.fromarray(np.random.default_rng(side).integers(0, 256, (side, side, 3), dtype=np.uint8)).save(
            buffer, format="PNG")
        rows.append({"messages": [{"role": "user", "content": "<image>Which tissue?\nA) epithelium\nB) muscle"},
                                  {"role": "assistant", "content": "<think>A lining.</think><answer>A</answer>"}],
                     "images": [{"bytes": buffer.getvalue(), "path": f"{side}.png"}]})
    pq.write_table(pa.Table.from_pylist(rows), path)


def test_sft_items_log_no_transformers_warning_and_keep_the_budget(tiny_ckpt, tmp_path, transformers_warnings):
    from verl.trainer.sft_trainer import create_sft_dataset
    from verl.utils import hf_processor, hf_tokenizer
    from verl.utils.import_utils import import_external_libs

    cfg = compose_stage("pathvlm_sft", ["pixels=tiny", f"model.path={tiny_ckpt}"])
    # What verl's model config does in every SFT process before the dataset is built.
    import_external_libs(cfg.model.external_lib)
    # 1024: an image data_prep did not resize, so only the processor's budget keeps it small.
    _sft_rows(tmp_path / "sft.parquet", [56, 1024])
    dataset = create_sft_dataset([str(tmp_path / "sft.parquet")], cfg.data, hf_tokenizer(tiny_ckpt),
                                 hf_processor(tiny_ckpt))
    items = [dataset[i] for i in range(len(dataset))]
    assert transformers_warnings() == []
    for item in items:
        image_tokens = int((item["input_ids"] == IMAGE_PAD).sum())
        assert image_tokens == int(item["multi_modal_inputs"]["image_grid_thw"].prod()) // 4
        assert 0 < image_tokens <= cfg.pixels.max_pixels // PIXELS_PER_IMAGE_TOKEN


@pytest.mark.parametrize("message,kept", [
    # The one repeated warning: dropped.
    ("Kwargs passed to `processor.__call__` have to be in `processor_kwargs` dict, not in `**kwargs`", False),
    # Any other warning of the same logger still reaches the log.
    ("Keyword argument `foo` is not a valid argument for this processor and will be ignored.", True),
])
def test_only_the_processor_kwargs_warning_is_dropped(message, kept):
    from pathvlm_verl.transformers_logs import PROCESSOR_LOGGER, keep_record

    record = logging.LogRecord(PROCESSOR_LOGGER, logging.WARNING, __file__, 1, message, None, None)
    assert keep_record(record) is kept
    assert logging.getLogger(PROCESSOR_LOGGER).filter(record) is kept
