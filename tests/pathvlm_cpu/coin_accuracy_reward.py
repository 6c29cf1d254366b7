"""pathvlm_rewards' score with an accuracy a random-weight model can vary, for the DAPO run on CPU.

The tiny model never writes an `<answer>`, so its accuracy is 0 in every group and DAPO would drop every group,
forever. Here about a quarter of the responses count as correct, fixed by their text (CRC-32), so a group of 4 is
all 0 about a third of the time: DAPO has groups to drop and groups to keep.
"""

import zlib

from pathvlm_rewards import compute_score as pathvlm_compute_score


async def compute_score(data_source, solution_str, ground_truth, extra_info=None, **reward_kwargs):
    result = await pathvlm_compute_score(data_source, solution_str, ground_truth, extra_info, **reward_kwargs)
    accuracy = float(zlib.crc32(solution_str.encode()) % 4 == 0)
    return {**result, "accuracy": accuracy, "acc": accuracy, "score": result["score"] + accuracy}
