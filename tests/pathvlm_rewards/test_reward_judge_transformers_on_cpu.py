"""The in-process judge runs the real (tiny, random) Qwen2.5-VL on CPU; its garbage replies are asked once more,
then take the fallback, which is never cached."""

import asyncio

from reward_fixtures import mcq_info

from pathvlm_rewards import compute_score, parse_reward_kwargs
from pathvlm_rewards.judge import get_judge


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
    assert [(r["judge_error"], r["judge_fallback_unparseable"]) for r in results] == [(0.0, 1.0), (0.0, 1.0)]
    assert [r["process"] for r in results] == [0.5, 0.0]
    assert [r["score"] for r in results] == [2.5, 1.0]
    # The model generated for each response twice (the re-ask), and its tokens were counted.
    assert all(r["judge_calls"] == 2 and r["judge_retries"] == 0 for r in results)
    assert all(r["judge_prompt_tokens"] > 100 and 0 < r["judge_completion_tokens"] <= 24 for r in results)
    assert len(get_judge(parse_reward_kwargs(kwargs).judge).cache) == 0  # fallbacks are never cached
