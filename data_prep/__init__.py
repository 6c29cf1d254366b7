"""data_prep: Parquet builders for verl 0.9.1 (PathMMU, R1-style JSON, PathVQA, Quilt-VQA, PMC-VQA, OmniMedVQA, demo).

    python -m data_prep pathmmu --root ROOT --out-dir OUT --sft-size 3000 --grpo-size 1000 --test-size 1385 \\
        --categories PubMed,EduContent

Every builder writes OUT/<split>.parquet (sft_train, grpo_train, val, test) in one row schema
(`data_prep.rows`: RL `prompt` and SFT `messages` views, `images`, `reward_model`, `extra_info`) and
OUT/manifest.json (counts, skipped items with reasons, duplicates, sha256 of every file).
Splits drawn by a builder are image-disjoint (by sha256 of the image file), stratified by category and
gold answer, deterministic for a seed, and never larger than requested.
"""

from data_prep.build import SPLITS, BuildSettings, SplitPlan, build
from data_prep.config import PixelBudget, Template, load_pixel_budget, load_template
from data_prep.records import Question, Skipped, SourceError
from data_prep.rows import EXTRA_INFO, SCHEMA
from data_prep.splitting import assign_groups

__all__ = [
    "EXTRA_INFO",
    "SCHEMA",
    "SPLITS",
    "BuildSettings",
    "PixelBudget",
    "Question",
    "Skipped",
    "SourceError",
    "SplitPlan",
    "Template",
    "assign_groups",
    "build",
    "load_pixel_budget",
    "load_template",
]
