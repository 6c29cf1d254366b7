"""PathMMU builder: the row contract, image-disjoint splits, dedup, determinism, skip-and-report, --strict."""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections import Counter
from pathlib import Path

from dp_fixtures import PATHMMU_SIZES, read_rows, run_cli
from PIL import Image

from data_prep.config import load_pixel_budget
from data_prep.rows import EXTRA_INFO, SCHEMA

SPLIT_FILES = {"sft_train": 20, "grpo_train": 12, "val": 6, "test": 10}


def _all_rows(out: Path) -> dict[str, list[dict]]:
    return {split: read_rows(out / f"{split}.parquet") for split in SPLIT_FILES}


def test_files_schema_and_sizes(pathmmu_out, pathmmu_manifest):
    import pyarrow.parquet as pq

    for split, size in SPLIT_FILES.items():
        path = pathmmu_out / f"{split}.parquet"
        assert pq.read_schema(path).equals(SCHEMA), split
        rows = pq.read_metadata(path).num_rows
        assert rows <= size and pathmmu_manifest["splits"][split]["rows"] == rows
        # The fixture has enough single-question images to hit every size exactly.
        assert rows == size, (split, rows)
        assert pathmmu_manifest["splits"][split]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert not list(pathmmu_out.glob(".*.tmp"))


def test_row_contract(pathmmu_out, pathmmu_root):
    root, _ = pathmmu_root
    source = json.loads((root / "data.json").read_text())
    by_no = {item["No"]: item for cat in source.values() for items in cat.values() for item in items}
    for split, rows in _all_rows(pathmmu_out).items():
        for position, row in enumerate(rows):
            info = row["extra_info"]
            assert set(info) == set(EXTRA_INFO)
            assert info["index"] == position and info["split"] == split
            assert row["data_source"] == "pathmmu" and row["ability"] == "pathology"
            item = by_no[int(info["original_id"])]
            assert info["category"] in ("PubMed", "EduContent")
            # One <image> per image, in the RL prompt and in the SFT user turn.
            user = row["prompt"][0]
            assert [m["role"] for m in row["prompt"]] == ["user"]
            assert user["content"].count("<image>") == 1 == len(row["images"])
            assert user["content"] == "<image>" + info["question"]
            assert row["messages"][0] == user and row["messages"][1]["role"] == "assistant"
            # The prompt: question, options one per line, then the instruction.
            lines = info["question"].split("\n")
            assert lines[0] == item["question"] and lines[1:1 + len(item["options"])] == item["options"]
            assert "<think>" in lines[-1] and "<answer>" in lines[-1]
            # Gold: the option string exactly as PathMMU writes it.
            assert row["reward_model"] == {"style": "rule", "ground_truth": item["answer"]}
            assert info["answer_type"] == "mcq" and info["options"] == item["options"]
            sft_answer = f"<think>{item['explanation']}</think><answer>{item['answer']}</answer>"
            assert row["messages"][1]["content"] == sft_answer
            # The judge's image: a readable file, the same content as hashed.
            assert hashlib.sha256(Path(info["image_path"]).read_bytes()).hexdigest() == info["image_sha256"]
            assert info["image_file"] == f"images/{item['img']}" == row["images"][0]["path"]


def test_splits_are_image_disjoint_by_content(pathmmu_out, pathmmu_root):
    _, facts = pathmmu_root
    owner: dict[str, set[str]] = {}
    twins = set()
    for split, rows in _all_rows(pathmmu_out).items():
        for row in rows:
            owner.setdefault(row["extra_info"]["image_sha256"], set()).add(split)
            if Path(row["extra_info"]["image_file"]).name in facts["twins"]:
                twins.add(split)
    assert all(len(splits) == 1 for splits in owner.values())
    assert len(twins) <= 1  # two file names, one content: never split apart


def test_duplicate_question_kept_once(pathmmu_out, pathmmu_root, pathmmu_manifest):
    _, facts = pathmmu_root
    ids = Counter((r["extra_info"]["category"], r["extra_info"]["original_id"], r["extra_info"]["question"])
                  for rows in _all_rows(pathmmu_out).values() for r in rows)
    assert max(ids.values()) == 1
    assert len(pathmmu_manifest["duplicates"]) == 2  # one test_tiny repeat per category
    assert any(f"(No={facts['duplicated']})" in d["where"] and "test_tiny" in d["where"]
               for d in pathmmu_manifest["duplicates"])


def test_skipped_items_are_reported_with_reasons(pathmmu_manifest):
    reasons = {re.search(r"No=(\d+)", s["where"]).group(1): s["reason"] for s in pathmmu_manifest["skipped"]}
    assert "image missing" in reasons["9200"]
    assert "not a readable image" in reasons["9201"]
    assert "not among the options" in reasons["9202"]
    assert "image missing" in reasons["9300"]  # SocialPath image never fetched
    assert len(reasons) == 4


def test_images_converted_and_resized_once(pathmmu_out, pathmmu_root):
    root, _ = pathmmu_root
    budget = load_pixel_budget("tiny").max_pixels  # the fixture builds with --pixels tiny
    seen = {}
    for rows in _all_rows(pathmmu_out).values():
        for row in rows:
            seen[Path(row["extra_info"]["image_file"]).name] = row["images"][0]["bytes"]
    for name, stored in seen.items():
        image = Image.open(io.BytesIO(stored))
        assert image.mode == "RGB", name
        assert image.width * image.height <= budget, name
        if name.startswith(("PubMed_", "EduContent_")):  # small RGB JPEGs keep their original bytes
            assert stored == (root / "images" / name).read_bytes()
    original = Image.open(root / "images" / "large.png")
    if "large.png" in seen:
        resized = Image.open(io.BytesIO(seen["large.png"]))
        assert abs(resized.width / resized.height - original.width / original.height) < 0.02
        grid = round(resized.width / 28) * 28 * round(resized.height / 28) * 28  # what the processor keeps
        assert 0.8 * budget < grid <= budget


def test_balanced_by_category_and_letter(pathmmu_out):
    """Each split mirrors the pooled input's mix of categories and gold letters (uniform in the fixture)."""
    for split, rows in _all_rows(pathmmu_out).items():
        letters = Counter(r["reward_model"]["ground_truth"][0] for r in rows)
        categories = Counter(r["extra_info"]["category"] for r in rows)
        assert all(abs(letters[x] - len(rows) / 4) <= 2 for x in "ABCD"), (split, letters)
        assert abs(categories["PubMed"] - categories["EduContent"]) <= 2, (split, categories)


def test_deterministic_and_seed_dependent(pathmmu_root, pathmmu_out, tmp_path):
    root, _ = pathmmu_root
    args = ["pathmmu", "--root", str(root), *PATHMMU_SIZES, "--categories", "PubMed,EduContent,SocialPath",
            "--pixels", "tiny"]
    again = tmp_path / "again"
    assert run_cli(*args, "--out-dir", str(again), "--seed", "3").returncode == 0
    for split in SPLIT_FILES:
        first, second = read_rows(pathmmu_out / f"{split}.parquet"), read_rows(again / f"{split}.parquet")
        assert first == second, split
    other = tmp_path / "other"
    assert run_cli(*args, "--out-dir", str(other), "--seed", "4").returncode == 0
    assert {r["extra_info"]["image_sha256"] for r in read_rows(other / "test.parquet")} != \
           {r["extra_info"]["image_sha256"] for r in read_rows(again / "test.parquet")}
    # Rebuilding into the same folder gives byte-identical files.
    hashes = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in again.glob("*.parquet")}
    assert run_cli(*args, "--out-dir", str(again), "--seed", "3").returncode == 0
    assert hashes == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in again.glob("*.parquet")}


def test_strict_turns_skips_into_an_error(pathmmu_root, tmp_path):
    root, _ = pathmmu_root
    out = tmp_path / "strict"
    result = run_cli("pathmmu", "--root", str(root), "--out-dir", str(out), *PATHMMU_SIZES, "--strict")
    assert result.returncode == 2
    assert "--strict" in result.stderr and "No=9200" in result.stderr
    assert not out.exists() or not list(out.glob("*.parquet"))


def test_bad_input_names_the_file_item_and_field(tmp_path):
    (tmp_path / "images").mkdir()
    item = {"No": 5, "img": "x.jpg", "question": "q?", "options": ["A) a", "B) b"]}
    (tmp_path / "data.json").write_text(json.dumps({"PubMed": {"test": [item]}}))
    result = run_cli("pathmmu", "--root", str(tmp_path), "--out-dir", str(tmp_path / "o"), *PATHMMU_SIZES,
                     "--categories", "PubMed")
    assert result.returncode == 2
    assert "data.json: PubMed.test[0]" in result.stderr and "'answer'" in result.stderr
    result = run_cli("pathmmu", "--root", str(tmp_path), "--out-dir", str(tmp_path / "o"), *PATHMMU_SIZES,
                     "--categories", "Atlas")
    assert result.returncode == 2 and "no category 'Atlas'" in result.stderr
