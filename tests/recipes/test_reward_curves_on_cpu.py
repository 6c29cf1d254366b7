"""Reward curves aggregate verl's rollout dumps per step and component."""

import json

import pytest

from recipes.reward_curves import plot, step_means


def _dump(directory, step, rows):
    directory.mkdir(exist_ok=True)
    with open(directory / f"{step}.jsonl", "w") as f:
        for row in rows:
            f.write(json.dumps({"input": "q", "output": "a", "gts": "B", "step": step, **row}) + "\n")


def test_means_per_step_and_component(tmp_path):
    _dump(tmp_path, 1, [{"score": 1.0, "accuracy": 0.0, "format": 1.0}, {"score": 0.0, "accuracy": 0.0, "format": 0.0}])
    _dump(tmp_path, 2, [{"score": 2.0, "accuracy": 1.0, "format": 1.0}, {"score": 1.0, "accuracy": 0.0, "format": 1.0}])
    curves = step_means(tmp_path)
    assert curves["score"] == {1: 0.5, 2: 1.5}
    assert curves["accuracy"] == {1: 0.0, 2: 0.5}
    assert curves["format"] == {1: 0.5, 2: 1.0}
    out = plot(curves, tmp_path / "curves.png", "t")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_errors_name_the_file_and_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="no <step>.jsonl"):
        step_means(tmp_path)
    (tmp_path / "3.jsonl").write_text('{"step": 3, "score": 1}\nnot json\n')
    with pytest.raises(ValueError, match=r"3\.jsonl:2"):
        step_means(tmp_path)
