"""The judge sees the row's image wherever the reward runs: the row carries it (extra_info.image_bytes), so the
file named by image_path, which exists only on the machine that built the data, is not needed. A row without a
usable image gets the paper's fallback, counted in judge_error and logged once: it never stops a step."""

import asyncio
import logging
import sqlite3

import pyarrow.parquet as pq
import pytest
from reward_fixtures import compose_trainer, judge_kwargs, mcq_info, served_kwargs, verl_batch

from pathvlm_rewards import RESULT_KEYS, compute_score, parse_reward_kwargs
from pathvlm_rewards.judge import JudgeSample, get_judge
from pathvlm_rewards.judge.cache import FILE_NAME, TABLE
from pathvlm_rewards.judge.image import judge_image

ROWS = 3
MAX_IMAGE_PIXELS = 64 * 64
VERDICT = '{"integrity_score": 0.6, "knowledge_score": 1.0}'


def test_judge_sees_the_stored_image_when_the_image_file_is_gone(demo_data, tiny_ckpt, served_judge, tmp_path):
    from verl.experimental.reward_loop import RewardLoopWorker

    # extra_info as verl's RLHFDataset yields it (tests/data_prep/test_verl_loading_on_cpu.py checks it equal).
    rows = pq.read_table(demo_data / "grpo_train.parquet").slice(0, ROWS).to_pylist()
    stored = [row["images"][0]["bytes"] for row in rows]
    # Another node: the path data_prep recorded does not exist here.
    infos = [{**row["extra_info"], "image_path": str(tmp_path / "data_prep_node" / "gone.png")} for row in rows]
    # The last row has no image at all (no bytes, and its file is gone): fallback, counted, the batch still scores.
    infos[-1]["image_bytes"] = None
    golds = [row["reward_model"]["ground_truth"] for row in rows]
    responses = [f"<think>The image shows it.</think><answer>{gold}</answer>" for gold in golds]
    # The served tiny judge, replying a verdict (so it is cached, keyed by the image it was shown).
    reward_kwargs = served_kwargs(served_judge, tmp_path / "judge", VERDICT, max_image_pixels=MAX_IMAGE_PIXELS)
    reward_kwargs["weights"] = {"process": 1.0}

    worker = RewardLoopWorker(compose_trainer(tmp_path, tiny_ckpt, reward_kwargs))
    batch = verl_batch(worker.input_tokenizer, responses, golds, infos, data_source="demo")
    results = [o["reward_extra_info"] for o in worker.loop.run_until_complete(worker.compute_score_batch(batch))]

    assert all(tuple(result) == RESULT_KEYS for result in results)
    assert [(r["accuracy"], r["judge_error"], r["judge_error_no_image"]) for r in results] == \
        [(1.0, 0.0, 0.0), (1.0, 0.0, 0.0), (1.0, 1.0, 1.0)]
    # The judge's verdict (0.6, 1.0) for the two rows with images; the paper's fallback 0.5 for the last.
    assert [r["score"] for r in results] == pytest.approx([2.8, 2.8, 2.5])
    # The judge was called on exactly the stored images of the first two rows (cache keys hash the image).
    judge_in_worker = get_judge(parse_reward_kwargs(reward_kwargs).judge)
    expected = {judge_in_worker.key(JudgeSample(
        question=infos[i]["question"], options=list(infos[i]["options"]), gold=golds[i], correct=True,
        response=responses[i], image=judge_image({"image_bytes": stored[i]}, MAX_IMAGE_PIXELS),
    )) for i in range(ROWS - 1)}
    with sqlite3.connect(tmp_path / "judge" / FILE_NAME) as db:
        judged = {key: reply for key, reply in db.execute(f"SELECT key, reply FROM {TABLE}")}
    assert set(judged) == expected and set(judged.values()) == {VERDICT}


GOLD = "B) Adenocarcinoma"
RIGHT = "<think>Crowded glands.</think><answer>B) Adenocarcinoma</answer>"
WRONG = "<think>Keratin.</think><answer>A) Squamous cell carcinoma</answer>"


@pytest.mark.parametrize("image, reason", [
    # no image at all
    ({"image_bytes": None}, "needs extra_info['image_bytes'] or ['image_path']"),
    # only a path, whose file is not on this node (a Parquet built before rows carried the bytes)
    ({"image_bytes": None, "image_path": "/nonexistent/img.png"}, "'/nonexistent/img.png' cannot be read"),
    # bytes that are not an image
    ({"image_bytes": b"not an image"}, "not a readable image"),
    # a value of the wrong type
    ({"image_bytes": "aGVsbG8="}, "must be bytes, got str"),
])
def test_a_row_without_a_usable_image_gets_the_fallback(judge_server, tmp_path, caplog, image, reason):
    kwargs = judge_kwargs(judge_server.url, tmp_path)

    async def batch():
        bad = [compute_score("pathmmu", response, GOLD, mcq_info(index=i, **image), **kwargs)
               for i, response in enumerate((RIGHT, WRONG, RIGHT))]
        return await asyncio.gather(*bad, compute_score("pathmmu", RIGHT, GOLD, mcq_info(index=9), **kwargs))

    with caplog.at_level(logging.WARNING, logger="pathvlm_rewards"):
        results = asyncio.run(batch())

    assert all(tuple(result) == RESULT_KEYS for result in results)
    # The paper's fallback (0.5 if correct, else 0) with judge_error; the good row is judged (0.6 and 1.0).
    assert [(r["judge_error"], r["judge_fallback"], r["process"]) for r in results] == \
        [(1.0, 1.0, 0.5), (1.0, 1.0, 0.0), (1.0, 1.0, 0.5), (0.0, 0.0, 0.8)]
    assert [r["score"] for r in results] == pytest.approx([2.5, 1.0, 2.5, 2.8])
    assert len(judge_server.requests) == 1  # rows without an image are never sent
    warnings = [r.getMessage() for r in caplog.records if "cannot see the row's image" in r.getMessage()]
    assert len(warnings) == 1 and reason in warnings[0] and "row index 0" in warnings[0]  # once, naming why
