"""The in-process judge runs the real (tiny, random) Qwen2.5-VL on CPU; its garbage reply takes the fallback."""

import asyncio
import sqlite3

from reward_fixtures import mcq_info

from pathvlm_rewards import compute_score
from pathvlm_rewards.judge.cache import FILE_NAME


def test_transformers_judge_on_the_tiny_checkpoint(tiny_ckpt, tmp_path):
    kwargs = {"weights": {"process": 1.0},
              "judge": {"backend": "transformers", "model": str(tiny_ckpt), "device": "cpu", "max_tokens": 12,
                        "temperature": 0.0, "cache_dir": str(tmp_path), "max_image_pixels": 64 * 64}}
    right = "<think>Crowded glands.</think><answer>B) Adenocarcinoma</answer>"
    wrong = "<think>Keratin.</think><answer>A) Squamous cell carcinoma</answer>"

    async def both():
        return await asyncio.gather(*(compute_score("pathmmu", r, "B) Adenocarcinoma", mcq_info(), **kwargs)
                                      for r in (right, wrong)))

    results = asyncio.run(both())
    assert [(r["judge_error"], r["judge_fallback"]) for r in results] == [(0.0, 1.0), (0.0, 1.0)]
    assert [r["process"] for r in results] == [0.5, 0.0]
    assert [r["score"] for r in results] == [2.5, 1.0]
    with sqlite3.connect(tmp_path / FILE_NAME) as db:
        replies = [row[0] for row in db.execute("SELECT reply FROM verdicts")]
    assert len(replies) == 2 and all(replies)  # the model generated text for each response
