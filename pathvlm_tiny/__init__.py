"""A tiny, randomly initialised Qwen2.5-VL checkpoint built offline.

Same architecture, tokenizer and processor as Qwen2.5-VL-7B-Instruct, but with toy
dimensions, so that tests, benchmarks and the CPU demo exercise the real code paths
without downloading weights.
"""

from pathvlm_tiny.checkpoint import SPECIAL_TOKEN_IDS, build_tiny_checkpoint, tiny_checkpoint

__all__ = ["SPECIAL_TOKEN_IDS", "build_tiny_checkpoint", "tiny_checkpoint"]
