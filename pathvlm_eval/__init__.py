"""Evaluation of PathVLM-R1 checkpoints: generate on RL Parquet files, score with the reward's own code,
and write per-sample JSONL, `results.json`, a Markdown report beside the paper's numbers, and bar charts.

Entry point: `python -m pathvlm_eval` (Hydra config `pkg://pathvlm_conf/pathvlm_eval`), or `recipes/evaluate`.
"""

from pathvlm_eval.runner import evaluate

__all__ = ["evaluate"]
