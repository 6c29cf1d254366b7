"""Fixtures for the CPU-backend tests."""

import shutil
import tempfile
from pathlib import Path

import pytest


@pytest.fixture
def ray_tmpdir():
    """A private, short Ray temp dir (Ray's socket paths must stay under 108 bytes), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="pvcpu-ray-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
