"""Small inputs in each data set's exact on-disk format, generated at test time with PIL."""

from __future__ import annotations

import csv
import io
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

LETTERS = "ABCD"
PATHMMU_SIZES = ["--sft-size", "20", "--grpo-size", "12", "--val-size", "6", "--test-size", "10"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """`python -m data_prep ARGS` in a subprocess, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "data_prep", *args], capture_output=True, text=True, timeout=300)


def assert_ok(result: subprocess.CompletedProcess) -> None:
    """The command succeeded; its stderr otherwise."""
    assert result.returncode == 0, result.stderr


def read_rows(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def image_bytes(seed: int, size: tuple[int, int] = (64, 48), mode: str = "RGB", fmt: str = "PNG") -> bytes:
    """A distinct small image (content depends on `seed`)."""
    rng = np.random.default_rng(seed)
    width, height = size
    if mode == "I;16":
        image = Image.fromarray(rng.integers(0, 4096, (height, width), dtype=np.uint16))
    else:
        image = Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def pathmmu_item(no: int, img: str, gold: int, n_options: int = 4, explanation: str = "") -> dict:
    options = [f"{LETTERS[i]}) finding {no}-{i}" for i in range(n_options)]
    return {"No": no, "img": img, "question": f"What does image {img} show (question {no})?", "options": options,
            "answer": options[gold], "explanation": explanation or f"Because of feature {no}."}


def make_pathmmu(root: Path, n_per_category: int = 24) -> dict[str, object]:
    """A PathMMU folder: two categories with val/test/test_tiny, plus the awkward cases a real copy has.

    Returns facts the tests check against: duplicated (test_tiny repeats a test item), the file names
    sharing one content, and the expected skips.
    """
    images = root / "images"
    images.mkdir(parents=True)
    data: dict[str, dict[str, list]] = {}
    no, golds = 0, itertools.count()
    for c, category in enumerate(("PubMed", "EduContent")):
        data[category] = {"val": [], "test": [], "test_tiny": []}
        for i in range(n_per_category):
            no += 1
            name = f"{category}_{i}.jpg"
            (images / name).write_bytes(image_bytes(1000 * c + i, fmt="JPEG"))
            split = "val" if i % 4 == 0 else "test"
            data[category][split].append(pathmmu_item(no, name, gold=next(golds) % 4))
            if i % 3 == 0:  # a second question on the same image
                no += 1
                data[category][split].append(pathmmu_item(no, name, gold=next(golds) % 4))
        data[category]["test_tiny"].append(dict(data[category]["test"][0]))
    # The same content under two names must land in one split.
    twin = image_bytes(77, fmt="PNG")
    for name in ("twin_a.png", "twin_b.png"):
        (images / name).write_bytes(twin)
    data["PubMed"]["test"].append(pathmmu_item(9001, "twin_a.png", gold=0))
    data["EduContent"]["test"].append(pathmmu_item(9002, "twin_b.png", gold=1))
    # Awkward images: CMYK JPEG, 16-bit greyscale PNG, one over the pixel budget.
    (images / "cmyk.jpg").write_bytes(image_bytes(5, mode="CMYK", fmt="JPEG"))
    (images / "grey16.png").write_bytes(image_bytes(6, mode="I;16"))
    (images / "large.png").write_bytes(image_bytes(7, size=(900, 300)))
    for k, name in enumerate(("cmyk.jpg", "grey16.png", "large.png")):
        data["PubMed"]["val"].append(pathmmu_item(9100 + k, name, gold=k % 4))
    # Items to skip: missing image, unreadable image, gold answer not among the options.
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    data["PubMed"]["test"].append(pathmmu_item(9200, "missing.jpg", gold=0))
    data["PubMed"]["test"].append(pathmmu_item(9201, "broken.jpg", gold=0))
    bad = pathmmu_item(9202, "PubMed_1.jpg", gold=0)
    bad["answer"] = "E) not an option"
    data["PubMed"]["test"].append(bad)
    # SocialPath: images must be fetched by the user; here none was.
    data["SocialPath"] = {"test": [{**pathmmu_item(9300, "tw.jpg", gold=2), "tw_id": "1", "img_position": 1,
                                    "ref_web": "https://x.com/a/status/1"}]}
    (root / "data.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
    return {"skipped_numbers": {9200, 9201, 9202}, "twins": {"twin_a.png", "twin_b.png"},
            "duplicated": data["PubMed"]["test"][0]["No"]}


def make_hf_parquet(path: Path, rows: list[dict]) -> None:
    """A Hugging Face `datasets` export: `image` is a struct {bytes, path}."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def pathvqa_rows(n: int, seed: int) -> list[dict]:
    answers = ["yes", "No", "adenocarcinoma", "Yes.", "fibrosis"]
    return [{"image": {"bytes": image_bytes(seed + i), "path": f"img_{seed + i}.jpg"},
             "question": f"question {i}?", "answer": answers[i % len(answers)]} for i in range(n)]


def quilt_rows(n: int, seed: int) -> list[dict]:
    return [{"image": {"bytes": image_bytes(seed + i), "path": None}, "question": f"q{i}?",
             "answer": ["yes", "no", "granuloma"][i % 3], "answer_type": ["CLOSED", "CLOSED", "OPEN"][i % 3],
             "context": f"narration {i}"} for i in range(n)]


def make_pmcvqa(root: Path, n: int) -> tuple[Path, Path]:
    figures = root / "figures"
    figures.mkdir(parents=True)
    csv_path = root / "test_clean.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["Figure_path", "Question", "Answer", "Choice A", "Choice B", "Choice C", "Choice D",
                         "Answer_label"])
        for i in range(n):
            name = f"PMC{i}_fig.jpg"
            (figures / name).write_bytes(image_bytes(300 + i, fmt="JPEG"))
            choices = [f" {LETTERS[k]}:choice {i}-{k} " for k in range(4)]
            label = LETTERS[i % 4]
            writer.writerow([name, f"What is shown {i}?", f"choice {i}-{i % 4}", *choices, label])
    return csv_path, figures


def make_omnimedvqa(root: Path) -> None:
    """Two datasets, one with the `modality` variant of `modality_type`, one restricted-access."""
    for access, dataset, n in (("Open-access", "Chest CT Scan", 6), ("Restricted-access", "ISIC2020", 4)):
        entries = []
        for i in range(n):
            image_path = f"Images/{dataset}/{i}.png"
            (root / image_path).parent.mkdir(parents=True, exist_ok=True)
            (root / image_path).write_bytes(image_bytes(500 + 10 * n + i))
            options = {f"option_{LETTERS[k]}": f"{dataset} answer {k}" for k in range(2 + i % 3)}
            entry = {"dataset": dataset, "question_id": f"{dataset}_{i}", "question_type": "Disease Diagnosis",
                     "question": f"What is seen in {i}?", "gt_answer": options["option_B"], "image_path": image_path,
                     **options}
            entry["modality" if (dataset == "Chest CT Scan" and i == 0) else "modality_type"] = "CT"
            entries.append(entry)
        folder = root / "QA_information" / access
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{dataset}.json").write_text(json.dumps(entries), encoding="utf-8")


def make_r1json(root: Path, split_sizes: dict[str, int]) -> dict[str, Path]:
    """The authors' frozen split files: JSON lists of {image, problem, solution}."""
    (root / "images").mkdir(parents=True)
    files, k = {}, 0
    for split, n in split_sizes.items():
        items = []
        for _ in range(n):
            k += 1
            name = f"images/r1_{k}.jpg"
            (root / name).write_bytes(image_bytes(700 + k, fmt="JPEG"))
            options = [f"{LETTERS[j]}) option {k}-{j}" for j in range(4)]
            gold = options[k % 4]
            problem = f"Question {k} about the slide?\nOptions:\n" + "\n".join(options)
            solution = f"<think>reasoning {k}</think><answer>{gold}</answer>" if k % 2 else gold
            items.append({"image": name, "problem": problem, "solution": solution})
        files[split] = root / f"{split}.json"
        files[split].write_text(json.dumps(items), encoding="utf-8")
    return files


def write_images(root: Path, names: list[str], seed: int) -> None:
    """A distinct small PNG under ROOT for each relative name."""
    for k, name in enumerate(names):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(image_bytes(seed + k))


def medvlm_item(k: int, gold: int, problem: str | None = None) -> dict:
    """One item of MedVLM-R1's MRI_CT_XRAY_300each_dataset.json, field for field."""
    texts = [f"Finding {k}-{j}." if j == 0 else f"Finding {k}-{j}" for j in range(4)]
    return {"image": [f"images/brain{k:06d}.png"],
            "problem": problem or f"What is apparent in this image {k}?\n" + "\n".join(
                f"{LETTERS[j]}) {t}" for j, t in enumerate(texts)),
            "solution": LETTERS[gold], "question": f"What is apparent in this image {k}?", "options": texts,
            "answer": texts[gold], "dataset": "OmniMedVQA", "subset": "MR (Mag-netic Resonance Imaging)"}


def make_medvlm_r1(root: Path, items: list[dict]) -> Path:
    write_images(root, [item["image"][0] for item in items if item["image"]], seed=800)
    path = root / "MRI_CT_XRAY_300each_dataset.json"
    path.write_text(json.dumps(items, indent=4), encoding="utf-8")
    return path


def vlmr1_line(k: int, human: str, gpt: str) -> dict:
    """One line of VLM-R1's grpo_jsonl.py input."""
    return {"id": k, "image": f"slides/{k}.png",
            "conversations": [{"from": "human", "value": human}, {"from": "gpt", "value": gpt}]}


def make_vlmr1(root: Path, lines: list[dict]) -> Path:
    write_images(root / "images", [line["image"] for line in lines if isinstance(line["image"], str)], seed=900)
    path = root / "train.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def quilt_row(seed: int, answer: str, kind: str = "CLOSED", **extra: object) -> dict:
    """A row of wisdomik/Quilt_VQA: CLOSED answers are sentences, as published."""
    return {"image": {"bytes": image_bytes(seed), "path": None}, "question": f"Is there necrosis ({seed})?",
            "answer": answer, "answer_type": kind, "context": f"the narrator describes slide {seed}", **extra}


def write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> Path:
    """A CSV as pandas' to_csv writes it (`utf-8-sig` adds the BOM some copies carry)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding=encoding) as stream:
        csv.writer(stream).writerows([header, *rows])
    return path


PMC_V1 = ["Figure_path", "Question", "Answer", "Choice A", "Choice B", "Choice C", "Choice D", "Answer_label"]
PMC_V2 = ["index", "Figure_path", "Caption", "Question", "Choice A", "Choice B", "Choice C", "Choice D", "Answer",
          "split"]
