"""`export`: the blinded rating sheet (HTML + CSV), its stable ids and seeded order, and the page as a real
headless Chromium renders it."""

import csv
import json
import shutil
import subprocess

import numpy as np
import pytest
from audit_fixtures import COLOURS, write_rows, write_validation_dumps
from PIL import Image

from pathvlm_rewards.audit.__main__ import main

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chromium-headless-shell")


@pytest.fixture
def sheet(tmp_path):
    data, dumps = write_rows(tmp_path / "val.parquet", 4), write_validation_dumps(tmp_path / "validation", 4)

    def export(seed: int, n: int = 8):
        out = tmp_path / f"sheet_{seed}_{n}"
        assert main(["export", "--responses", str(dumps), "--data", str(data), "--n", str(n), "--seed", str(seed),
                     "--out", str(out)]) == 0
        with open(out / "ratings.csv", newline="") as file:
            return out, list(csv.DictReader(file))

    return export


def test_the_sheet_is_blinded_self_contained_and_ordered_by_the_seed(sheet):
    out, rows = sheet(seed=0)
    ids = [row["item_id"] for row in rows]
    assert len(set(ids)) == 8 and [row["card"] for row in rows] == [str(i) for i in range(1, 9)]
    assert all(row["integrity"] == row["knowledge"] == "" for row in rows)  # nothing pre-filled
    html = (out / "sheet.html").read_text()
    assert html.count("data:image/png;base64,") == 8 and "src='http" not in html and "file:" not in html
    # in card order, each id once as a card
    assert [html.index(f"id='{item}'") for item in ids] == sorted(html.index(f"id='{item}'") for item in ids)
    # no scores: the dumps' reward keys and values never reach the sheet
    assert not any(word in html.lower() for word in ("judge", "score", "reward", "accuracy"))
    same, _ = sheet(seed=0)
    assert (same / "sheet.html").read_text() == html  # the same seed: the same sheet
    _, shuffled = sheet(seed=1)
    assert sorted(row["item_id"] for row in shuffled) == sorted(ids)  # ids stable across samples
    assert [row["item_id"] for row in shuffled] != ids  # another seed, another order
    key = json.loads((out / "export.json").read_text())["key"]
    assert [entry["item_id"] for entry in key] == ids and key[0]["source"].endswith(".jsonl:" + key[0]["source"][-1])


def test_the_sheet_renders_in_headless_chromium_with_its_images_and_rubric(sheet, tmp_path):
    browser = next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)
    if browser is None:
        pytest.skip(f"no Chromium installed (looked for {', '.join(BROWSERS)}; Debian: apt-get install chromium)")
    out, rows = sheet(seed=0, n=1)
    page = (out / "sheet.html").resolve().as_uri()
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.run([*flags, "--dump-dom", page], capture_output=True, text=True, timeout=120, check=True).stdout
    for text in ("Integrity (completeness of the reasoning)", "Knowledge (correctness of the medical content)",
                 "0 / 0.2 / 0.6 / 1", f"item {rows[0]['item_id']}"):
        assert text in dom
    shot = tmp_path / "sheet.png"
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1000,1400", page], capture_output=True,
                   timeout=120, check=True)
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.std() > 10  # not a blank page
    # the card's image, a solid colour drawn at least 240 px wide: a large block of exactly its colour
    colours = {colour: int((np.abs(pixels - colour).max(axis=2) <= 3).sum()) for colour in COLOURS}
    assert max(colours.values()) >= 200 * 200, colours
    assert sorted(colours.values())[-2] < 100  # and only that one image (one card)
