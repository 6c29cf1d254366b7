"""pathvlm_rewards: the PathVLM-R1 reward for verl 0.9.1 — accuracy, format and the cross-modal process reward.

Load it in the trainer config::

    reward:
      custom_reward_function:
        path: pkg://pathvlm_rewards
        name: compute_score
        reward_kwargs: {weights: {...}, judge: {...}}

`compute_score(data_source, solution_str, ground_truth, extra_info=None, **reward_kwargs)` is
`async` (verl's reward loop awaits it; outside verl use `asyncio.run`). It returns, for every sample,
the keys `score` (weighted total), `accuracy`, `format`, `process` (= mean of `integrity` and
`knowledge`, 0.0 when not computed), `integrity`, `knowledge`, `judge_fallback` (1.0 when the paper's
fallback replaced the judge's scores), `judge_error` (1.0 when the judge gave no reply at all: timeout,
cap, server/transport error, or no usable image in the row), one 0/1 key per fallback reason
(`judge_fallback_unparseable`, `judge_error_{timeout,http,network,no_image,other}`), the judge's usage
(`judge_calls`, `judge_retries`, `judge_prompt_tokens`, `judge_completion_tokens`, `judge_latency_s`,
`judge_cache_hit`, `judge_cost_usd`, `judge_sanitized`; all 0.0 when the process reward is off), `acc`
(= `accuracy`; verl's validation reports `acc` as its core metric) and `pred` (the canonical prediction, a
string, for verl's maj@N).

reward_kwargs (defaults in defaults.yaml, the one place they live; any Mapping, OmegaConf included):

    weights: accuracy 1.0 | format 1.0 | process 0.0       (unknown names → ValueError)
    judge:
      backend            openai | transformers              openai
      model              served model name / local folder   gpt-4o
      base_url           OpenAI-compatible endpoint         null (the openai default)
      api_key_env        env var holding the key            OPENAI_API_KEY (null = no key)
      temperature        sampling temperature               0.1
      max_tokens         reply budget                       200
      timeout_s          one HTTP attempt                   30.0
      max_retries        retries on 408/409/429/5xx/network 3
      call_cap_s         cap on one response's judging      90.0
      max_concurrency    calls in flight per worker process 16
      cache_dir          SQLite judge cache, null = off     ~/.cache/pathvlm_r1/judge
      max_response_chars response cut for the judge         8000
      max_image_pixels   downscale larger images, null = no null
      device, dtype      transformers backend only          auto, auto
      extra_body         extra request fields (openai)      null
      price_per_million_input_tokens / _output_tokens       2.5 / 10.0 (USD; GPT-4o list prices)

Row contract: `extra_info['answer_type']` (mcq | yesno | open), `extra_info['options']` (["A) text", …]
for mcq); with the process reward also `extra_info['question']` (the question text as the policy saw it;
the options are added from `options`, repeating them is harmless) and the image as
`extra_info['image_bytes']` (encoded bytes; data_prep writes them) or `extra_info['image_path']` (a file the
reward worker can read; only read when image_bytes is absent). verl 0.9.1 gives the reward function the row's
extra_info, not its `images` column, so the bytes travel in extra_info to whichever node runs the reward.
A row whose image is absent or unreadable gets the paper's fallback with `judge_error` 1.0; it never raises.
"""

from pathvlm_rewards.answers import answer_accuracy, designated_options, lenient_answer
from pathvlm_rewards.config import RewardConfig, parse_reward_kwargs
from pathvlm_rewards.scoring import RESULT_KEYS, compute_score
from pathvlm_rewards.tags import answer_block, format_reward
from pathvlm_rewards.version import REWARD_VERSION

__all__ = [
    "REWARD_VERSION",
    "RESULT_KEYS",
    "RewardConfig",
    "answer_accuracy",
    "answer_block",
    "compute_score",
    "designated_options",
    "format_reward",
    "lenient_answer",
    "parse_reward_kwargs",
]
