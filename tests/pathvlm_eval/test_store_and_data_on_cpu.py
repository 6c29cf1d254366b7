"""The sample store survives interruption; bad Parquet rows fail with the file, row and field named."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from eval_fixtures import make_row, pathmmu_rows, write_rl_parquet

from pathvlm_eval.chat import render_prompt, to_chat_messages
from pathvlm_eval.data import DataError, load_items, read_parquet
from pathvlm_eval.store import SampleStore


def test_store_appends_resumes_and_drops_a_torn_last_line(tmp_path):
    store = SampleStore(tmp_path / "samples" / "m.jsonl")
    with store:
        store.append({"prompt_id": f"p/{i}", "sample": 0, "response": "x"} for i in range(3))
    with store.path.open("a") as handle:
        handle.write('{"prompt_id": "p/3", "sam')  # killed mid-write
    assert store.done() == {("p/0", 0), ("p/1", 0), ("p/2", 0)}
    assert store.path.read_text().endswith("}\n")  # the torn line is gone, appends start on a new line
    with store:
        store.append([{"prompt_id": "p/3", "sample": 0}])
    assert [r["prompt_id"] for r in store.load()] == ["p/0", "p/1", "p/2", "p/3"]


def test_store_rejects_a_corrupt_middle_line(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"prompt_id": "a", "sample": 0}\nnot json\n{"prompt_id": "b", "sample": 0}\n')
    with pytest.raises(ValueError, match=r"m\.jsonl: line 2"):
        SampleStore(path).load()


def test_store_refuses_to_mix_generation_settings(tmp_path):
    store = SampleStore(tmp_path / "m.jsonl")
    store.check_meta({"model_path": "/ckpt", "sampling": {"max_new_tokens": 8}})
    store.check_meta({"model_path": "/ckpt", "sampling": {"max_new_tokens": 8}})
    with pytest.raises(ValueError, match="max_new_tokens"):
        store.check_meta({"model_path": "/ckpt", "sampling": {"max_new_tokens": 16}})


def test_reads_fixture_rows_with_images_and_limit(tmp_path):
    path = write_rl_parquet(tmp_path / "t.parquet", pathmmu_rows(3))
    items = read_parquet(path)
    assert [i.prompt_id for i in items] == ["pathmmu/test/0", "pathmmu/test/1", "pathmmu/test/2"]
    image = items[1].images()[0]
    assert image.mode == "RGB" and image.size == (84, 56)
    assert items[0].extra_info["category"] == "PubMed" and items[0].answer_type == "mcq"
    assert len(read_parquet(path, limit=2)) == 2


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda r: r["prompt"][0].update(content="no image token here"), "prompt"),
    (lambda r: r["extra_info"].update(answer_type="essay"), "extra_info.answer_type"),
    (lambda r: r["extra_info"].update(options=[]), "extra_info.options"),
    (lambda r: r["extra_info"].update(split=None), "extra_info.split"),
])
def test_a_bad_row_names_file_row_and_field(tmp_path, mutate, field):
    rows = pathmmu_rows(3)
    mutate(rows[2])
    path = write_rl_parquet(tmp_path / "bad.parquet", rows)
    with pytest.raises(DataError, match=rf"bad\.parquet: row 2: {field}"):
        read_parquet(path)


def test_missing_column_and_duplicate_ids_are_errors(tmp_path):
    path = write_rl_parquet(tmp_path / "a.parquet", pathmmu_rows(2))
    pq.write_table(pq.read_table(path).drop_columns(["reward_model"]), tmp_path / "no_rm.parquet")
    with pytest.raises(DataError, match="missing columns.*reward_model"):
        read_parquet(tmp_path / "no_rm.parquet")
    copy = write_rl_parquet(tmp_path / "b.parquet", pathmmu_rows(1))
    with pytest.raises(DataError, match=r"b\.parquet: row 0: prompt id 'pathmmu/test/0' already used by .*a\.parquet"):
        load_items([path, copy])


def test_unreadable_image_bytes_name_the_row(tmp_path):
    row = make_row("pathmmu", 0, "yesno", "yes")
    row["images"][0]["bytes"] = b"not an image"
    (item,) = read_parquet(write_rl_parquet(tmp_path / "img.parquet", [row]))
    with pytest.raises(DataError, match=r"img\.parquet: row 0: images\[0\]: unreadable"):
        item.images()


def test_prompt_keeps_image_position_through_the_chat_template(tiny_ckpt):
    from transformers import AutoProcessor

    prompt = [{"role": "user", "content": "Look:<image>\nWhich stain?"}]
    assert to_chat_messages(prompt) == [{"role": "user", "content": [
        {"type": "text", "text": "Look:"}, {"type": "image"}, {"type": "text", "text": "\nWhich stain?"}]}]
    text = render_prompt(AutoProcessor.from_pretrained(tiny_ckpt), prompt)
    assert "Look:<|vision_start|><|image_pad|><|vision_end|>\nWhich stain?" in text
    assert text.endswith("<|im_start|>assistant\n")
    assert json.dumps(to_chat_messages([{"role": "user", "content": "text only"}])) == \
        '[{"role": "user", "content": "text only"}]'
