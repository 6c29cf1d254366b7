"""PathMMU fixture built once per module, run through the real CLI (`python -m data_prep pathmmu ...`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dp_fixtures import PATHMMU_SIZES, make_pathmmu, run_cli


@pytest.fixture(scope="session")
def pathmmu_root(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("pathmmu")
    return root, make_pathmmu(root)


@pytest.fixture(scope="session")
def pathmmu_out(pathmmu_root, tmp_path_factory) -> Path:
    root, _ = pathmmu_root
    out = tmp_path_factory.mktemp("pathmmu_out")
    result = run_cli("pathmmu", "--root", str(root), "--out-dir", str(out), *PATHMMU_SIZES, "--categories",
                     "PubMed,EduContent,SocialPath", "--seed", "3", "--pixels", "tiny")
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="session")
def pathmmu_manifest(pathmmu_out) -> dict:
    return json.loads((pathmmu_out / "manifest.json").read_text())
