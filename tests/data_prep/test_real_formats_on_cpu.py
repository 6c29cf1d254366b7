"""The published on-disk formats of MedVLM-R1, VLM-R1, Quilt-VQA, PMC-VQA and PathVQA, errors that name the
file, and the small cases of issue #17 (empty options, sizes beyond the data, entries without an id)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dp_fixtures import (
    PATHMMU_SIZES,
    PMC_V1,
    PMC_V2,
    assert_ok,
    image_bytes,
    make_hf_parquet,
    make_medvlm_r1,
    make_omnimedvqa,
    make_pathmmu,
    make_vlmr1,
    medvlm_item,
    pathmmu_item,
    pathvqa_rows,
    quilt_row,
    read_rows,
    run_cli,
    vlmr1_line,
    write_csv,
)


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def _skips(out: Path) -> dict[str, str]:
    return {s["where"].rsplit(": ", 1)[-1]: s["reason"] for s in _manifest(out)["skipped"]}


# --- MedVLM-R1 -------------------------------------------------------------------------------------------------

def test_medvlm_r1_json_as_published(tmp_path):
    items = [medvlm_item(k, gold=k % 4) for k in range(4)]
    # the options directly under the question, no "Options:" line, "A)Text" without a space
    items.append(medvlm_item(4, gold=1, problem="Which modality?\nA)PET scan\nB)MRI\nC)X-ray\nD)CT"))
    # a one-element list naming a second question on the first image
    items.append({**medvlm_item(0, gold=2), "question": "again?", "problem": "Again?\nA) x\nB) y\nC) z"})
    # an item whose image list is empty is skipped, not fatal
    items.append({**medvlm_item(6, gold=0), "image": []})
    path = make_medvlm_r1(tmp_path / "medvlm", items)
    out = tmp_path / "out"
    assert_ok(run_cli("r1json", "--split-file", f"test={path}", "--out-dir", str(out), "--data-source", "omnimedvqa",
                      "--ability", "medical"))
    rows = read_rows(out / "test.parquet")
    assert len(rows) == 6 and list(_skips(out)) == ["[6]"]
    for item, row in zip(items, rows, strict=False):
        gold = row["reward_model"]["ground_truth"]
        assert gold[0] == item["solution"]  # the bare letter designates the option
        assert row["extra_info"]["image_file"] == item["image"][0]
        assert row["extra_info"]["dataset"] == "OmniMedVQA"
        assert row["extra_info"]["category"] == "MR (Mag-netic Resonance Imaging)"
    assert rows[0]["extra_info"]["options"] == ["A) Finding 0-0.", "B) Finding 0-1", "C) Finding 0-2",
                                                "D) Finding 0-3"]
    assert rows[0]["extra_info"]["question"].startswith("What is apparent in this image 0?\nA) Finding 0-0.\n")
    assert rows[4]["reward_model"]["ground_truth"] == "B) MRI"
    assert rows[5]["reward_model"]["ground_truth"] == "C) z"


# --- VLM-R1 ----------------------------------------------------------------------------------------------------

VLMR1_CASES = [
    # the <image> token before the question; a bare letter answer
    ("<image>What is shown?\nA) tumour\nB) normal", "B", "B) normal"),
    # an Options: block; the answer wrapped in <answer>
    ("<image>What is shown?\nOptions:\nA) tumour\nB) normal\nC) cyst", "<answer>C</answer>", "C) cyst"),
    # an instruction after the options; the answer as the option's text
    ("<image>Which stain?\nA. H&E\nB. PAS\nOutput the thinking process in <think> </think> and final answer "
     "in <answer> </answer> tags.", "PAS", "B) PAS"),
    # reasoning and answer in the gpt turn: the reasoning becomes the SFT thought
    ("What is shown?<image>\n(A) fat\n(B) muscle", "<think>striated fibres</think><answer>B) muscle</answer>",
     "B) muscle"),
]


def test_vlmr1_jsonl_conversations(tmp_path):
    lines = [vlmr1_line(k, human, gpt) for k, (human, gpt, _) in enumerate(VLMR1_CASES)]
    # two images in one item: skipped with a reason (a row holds one image)
    lines.append({**vlmr1_line(9, "<image><image>Which?\nA) a\nB) b", "A"), "image": ["slides/0.png", "x.png"]})
    path = make_vlmr1(tmp_path / "vlmr1", lines)
    out = tmp_path / "out"
    assert_ok(run_cli("r1json", "--split-file", f"grpo_train={path}",
                      "--image-root", str(tmp_path / "vlmr1" / "images"), "--out-dir", str(out)))
    rows = read_rows(out / "grpo_train.parquet")
    assert [r["reward_model"]["ground_truth"] for r in rows] == [gold for *_, gold in VLMR1_CASES]
    assert [r["extra_info"]["original_id"] for r in rows] == ["0", "1", "2", "3"]
    for row in rows:
        assert row["prompt"][0]["content"].count("<image>") == 1  # the source's token is not doubled
        assert "Output the thinking" not in row["extra_info"]["question"]
    assert rows[3]["messages"][1]["content"] == "<think>striated fibres</think><answer>B) muscle</answer>"
    assert "2 images" in _skips(out)["line 5"]


# --- R1 problems (no Options: line) ----------------------------------------------------------------------------
PROBLEM_CASES = [
    # MedVLM-R1: options right after the question
    ("Q?\nA) x\nB) y", ("Q?", ("A) x", "B) y"))),
    # a question line that merely starts with a capital A is no option
    ("A 45-year-old man.\nWhat is it?\nA) x\nB) y", ("A 45-year-old man.\nWhat is it?", ("A) x", "B) y"))),
    # lettered lines inside the question: the last run from "A)" is the options
    ("Panels: A) left B) right\nA: left\nB: right\nWhich?\nA) left\nB) right",
     ("Panels: A) left B) right\nA: left\nB: right\nWhich?", ("A) left", "B) right"))),
    # an instruction after the options is dropped (the template adds its own)
    ("Q?\n(A) x\n(B) y\nAnswer with the letter.", ("Q?", ("A) x", "B) y"))),
    # an Options: block still wins
    ("Q?\nOptions:\nA. x\nB. y\nC. z", ("Q?", ("A) x", "B) y", "C) z"))),
]


@pytest.mark.parametrize(("problem", "expected"), PROBLEM_CASES)
def test_problem_options_without_a_header(problem, expected):
    from data_prep.sources.r1json import parse_problem

    assert parse_problem(problem, "f: [0]") == expected


# --- Quilt-VQA -------------------------------------------------------------------------------------------------

QUILT_CASES = [
    # a CLOSED sentence opening with "Yes," -> yes, the sentence kept as reasoning
    ("Yes, there is necrosis in the centre.", {}, "yes"),
    # "No." then an explanation -> no
    ("No. The margins are clear.", {}, "no"),
    # a `yes_no_answer` column, where an export has one, wins over the sentence
    ("The lesion is benign.", {"yes_no_answer": "no"}, "no"),
    # "Nothing …" / "Not …" do not open with the word no: skipped
    ("Nothing abnormal is seen.", {}, None),
    # no yes/no anywhere at the start: skipped
    ("There is necrosis.", {}, None),
]


def test_quiltvqa_closed_sentences_become_yes_no(tmp_path):
    rows = [quilt_row(10 + i, answer, **{"yes_no_answer": None, **extra})
            for i, (answer, extra, _) in enumerate(QUILT_CASES)]
    rows.append(quilt_row(20, "A granuloma.", kind="OPEN", yes_no_answer=None))
    make_hf_parquet(tmp_path / "quilt" / "quilt_vqa.parquet", rows)
    out = tmp_path / "out"
    assert_ok(run_cli("quiltvqa", "--root", str(tmp_path / "quilt"), "--out-dir", str(out)))
    built = read_rows(out / "test.parquet")
    expected = [(answer, gold) for answer, _, gold in QUILT_CASES if gold]
    assert [r["reward_model"]["ground_truth"] for r in built] == [gold for _, gold in expected] + ["A granuloma."]
    for (answer, gold), row in zip(expected, built, strict=False):
        assert row["extra_info"]["answer_type"] == "yesno"
        assert row["messages"][1]["content"].endswith(f"{answer}</think><answer>{gold}</answer>")
    assert built[-1]["extra_info"]["answer_type"] == "open"
    skips = _skips(out)
    assert set(skips) == {"row 3", "row 4"} and all("no leading yes/no" in r for r in skips.values())


# --- PMC-VQA ---------------------------------------------------------------------------------------------------

def _figures(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        (folder / name).write_bytes(image_bytes(400 + k, fmt="JPEG"))


def test_pmcvqa_v1_bom_label_and_answer_must_agree(tmp_path):
    rows = [
        # " A:text" (leading space) and a label that agrees with the answer text
        ["PMC1_f1.jpg", "Which organ?", "Liver", " A:Liver", " B:Kidney", " C:Spleen", " D:Heart", "A"],
        # "A:text" without the space
        ["PMC2_f1.jpg", "Which stain?", "PAS", "A:H&E", "B:PAS", "C:Gram", "D:Giemsa", "B"],
        # label and answer disagree: skipped with both named
        ["PMC3_f1.jpg", "Which view?", "Axial", " A:Axial", " B:Sagittal", " C:Coronal", " D:Oblique", "C"],
    ]
    _figures(tmp_path / "images", [r[0] for r in rows])
    # the BOM that Excel/pandas(utf-8-sig) put before "Figure_path" is not a missing column
    csv_file = write_csv(tmp_path / "test_clean.csv", PMC_V1, rows, encoding="utf-8-sig")
    out = tmp_path / "out"
    assert_ok(run_cli("pmcvqa", "--csv", str(csv_file), "--images", str(tmp_path / "images"), "--out-dir", str(out)))
    built = read_rows(out / "test.parquet")
    assert [r["reward_model"]["ground_truth"] for r in built] == ["A) Liver", "B) PAS"]
    reason = _skips(out)["row 2"]
    assert "'Axial'" in reason and "'C'" in reason and "disagree" in reason


def test_pmcvqa_v2_letter_answer_wins_over_letter_texts(tmp_path):
    rows = [
        # options that are themselves letters (panel names): Answer "A" is the first choice, not the text "A"
        ["7", "PMC7_f.jpg", "Panels A-D.", "Which panel shows the lesion?", " A:B", " B:C", " C:D", " D:A", "A",
         "test"],
        # an ordinary row of train_2.csv
        ["8", "PMC8_f.jpg", "A CT scan.", "Which modality?", " A:MRI", " B:CT", " C:PET", " D:US", "B", "train"],
    ]
    _figures(tmp_path / "figures", [r[1] for r in rows])
    csv_file = write_csv(tmp_path / "test_2.csv", PMC_V2, rows)
    out = tmp_path / "out"
    assert_ok(run_cli("pmcvqa", "--csv", str(csv_file), "--images", str(tmp_path / "figures"), "--out-dir", str(out)))
    built = read_rows(out / "test.parquet")
    assert [r["reward_model"]["ground_truth"] for r in built] == ["A) B", "B) CT"]
    assert [r["extra_info"]["source_split"] for r in built] == ["test", "train"]  # the `split` column
    assert [r["extra_info"]["original_id"] for r in built] == ["test_2:7", "test_2:8"]  # the `index` column


# --- PathVQA --keep-splits -------------------------------------------------------------------------------------

def test_pathvqa_keep_splits_keeps_the_source_splits(tmp_path):
    data = tmp_path / "path-vqa" / "data"
    for split, n, seed in (("train", 6, 0), ("validation", 3, 100), ("test", 4, 200)):
        make_hf_parquet(data / f"{split}-00000-of-00001.parquet", pathvqa_rows(n, seed=seed))
    out = tmp_path / "out"
    assert_ok(run_cli("pathvqa", "--root", str(tmp_path / "path-vqa"), "--out-dir", str(out), "--keep-splits"))
    counts = {split: v["rows"] for split, v in _manifest(out)["splits"].items()}
    assert counts == {"sft_train": 6, "val": 3, "test": 4}
    for split, source in (("sft_train", "train"), ("val", "validation"), ("test", "test")):
        assert {r["extra_info"]["source_split"] for r in read_rows(out / f"{split}.parquet")} == {source}
    # the source's train split may feed GRPO instead
    assert_ok(run_cli("pathvqa", "--root", str(tmp_path / "path-vqa"), "--out-dir", str(out), "--keep-splits",
                      "--train-split", "grpo_train"))
    assert sorted(_manifest(out)["splits"]) == ["grpo_train", "test", "val"]
    # kept splits and requested sizes contradict each other
    result = run_cli("pathvqa", "--root", str(tmp_path / "path-vqa"), "--out-dir", str(out), "--keep-splits",
                     "--test-size", "2")
    assert result.returncode == 2 and "--keep-splits" in result.stderr


# --- errors that name the file ---------------------------------------------------------------------------------

def _lfs_pointer(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 123\n")
    return path


def _garbage(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PK\x03\x04 a zip, not parquet" * 4)
    return path


def _latin1_csv(path: Path) -> Path:
    return write_csv(path, PMC_V1, [["f.jpg", "Qu'est-ce que c'est ? é", "a", "A:a", "B:b", "", "", "A"]],
                     encoding="latin-1")


def _latin1_json(path: Path) -> Path:
    path.write_bytes(json.dumps([{"image": "x.png", "problem": "é", "solution": "A"}]).encode().replace(
        b"\\u00e9", "é".encode("latin-1")))
    return path


ERROR_CASES = [
    # a git-lfs pointer checked out instead of the Parquet file
    ("pathvqa", _lfs_pointer, "data/train-00000-of-00001.parquet", "git-lfs pointer"),
    # any other file that is not Parquet
    ("quiltvqa", _garbage, "quilt.parquet", "not a readable Parquet file"),
    # a CSV saved in Latin-1
    ("pmcvqa", _latin1_csv, "test_clean.csv", "not UTF-8 text"),
    # a JSON split file saved in Latin-1
    ("r1json", _latin1_json, "test.json", "not UTF-8 text"),
]


@pytest.mark.parametrize(("builder", "make", "name", "message"), ERROR_CASES)
def test_input_errors_name_the_file(tmp_path, builder, make, name, message):
    path = make(tmp_path / name)
    args = {"pathvqa": ["--root", str(tmp_path)], "quiltvqa": ["--root", str(tmp_path)],
            "pmcvqa": ["--csv", str(path), "--images", str(tmp_path)],
            "r1json": ["--split-file", f"test={path}"]}[builder]
    result = run_cli(builder, *args, "--out-dir", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and str(path) in result.stderr and message in result.stderr


# --- small cases -----------------------------------------------------------------------------------------------

def test_pathmmu_empty_option_is_skipped_with_a_reason(tmp_path):
    make_pathmmu(tmp_path)
    data = json.loads((tmp_path / "data.json").read_text())
    item = pathmmu_item(9400, "PubMed_2.jpg", gold=0)
    item["options"][3] = "D) "  # an option without text, as some PathMMU items have
    data["PubMed"]["test"].append(item)
    (tmp_path / "data.json").write_text(json.dumps(data))
    out = tmp_path / "out"
    assert_ok(run_cli("pathmmu", "--root", str(tmp_path), "--out-dir", str(out), *PATHMMU_SIZES, "--pixels", "tiny"))
    reasons = [s["reason"] for s in _manifest(out)["skipped"] if "No=9400" in s["where"]]
    assert reasons == ["option(s) D have no text"]


def test_sizes_beyond_the_data_are_reported_and_strict_stops(tmp_path):
    make_hf_parquet(tmp_path / "pv" / "train.parquet", pathvqa_rows(10, seed=0))
    out = tmp_path / "out"
    assert_ok(run_cli("pathvqa", "--root", str(tmp_path / "pv"), "--out-dir", str(out), "--sft-size", "10",
                      "--val-size", "5", "--test-size", "5"))
    short = _manifest(out)["short_splits"]
    assert {s: v["requested"] for s, v in short.items()} == {"sft_train": 10, "val": 5, "test": 5}
    assert sum(v["rows"] for v in short.values()) == 10
    assert all("10 usable question(s) for 20 requested" in v["reason"] for v in short.values())
    # --strict: an error before anything is written
    strict = tmp_path / "strict"
    result = run_cli("pathvqa", "--root", str(tmp_path / "pv"), "--out-dir", str(strict), "--sft-size", "10",
                     "--val-size", "5", "--test-size", "5", "--strict")
    assert result.returncode == 2 and "exceed the data" in result.stderr and "of 5" in result.stderr
    assert not strict.exists() or not list(strict.glob("*.parquet"))


def test_omnimedvqa_entries_without_question_id(tmp_path):
    make_omnimedvqa(tmp_path)
    path = tmp_path / "QA_information" / "Open-access" / "Chest CT Scan.json"
    entries = json.loads(path.read_text())
    del entries[2]["question_id"]  # some entries of the published files carry no question_id
    path.write_text(json.dumps(entries))
    out = tmp_path / "out"
    assert_ok(run_cli("omnimedvqa", "--root", str(tmp_path), "--out-dir", str(out), "--datasets", "Chest CT Scan"))
    ids = [r["extra_info"]["original_id"] for r in read_rows(out / "test.parquet")]
    assert len(ids) == 6 and "Chest CT Scan:2" in ids
