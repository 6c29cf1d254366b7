"""Fixtures of the evaluation tests (helpers live in eval_fixtures.py, a module name no other test folder uses)."""

from __future__ import annotations

from pathlib import Path

import pytest
from eval_fixtures import omnimed_rows, pathmmu_rows, write_rl_parquet


@pytest.fixture()
def fixture_parquets(tmp_path: Path) -> list[Path]:
    """A PathMMU-like file (mcq, two categories) and an OmniMedVQA-like file (two datasets/modalities)."""
    return [write_rl_parquet(tmp_path / "pathmmu_test.parquet", pathmmu_rows(4)),
            write_rl_parquet(tmp_path / "omnimedvqa_test.parquet", omnimed_rows(2))]
