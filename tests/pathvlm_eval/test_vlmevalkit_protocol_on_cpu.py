"""VLMEvalKit's multiple-choice protocol: its prompt and its exact-matching extraction, rule by rule on
hand-made responses (the rules are listed in pathvlm_eval/vlmevalkit.py's docstring)."""

from __future__ import annotations

import json

import pytest
from eval_fixtures import make_row, pathmmu_rows, write_rl_parquet

from pathvlm_eval.data import load_items
from pathvlm_eval.vlmevalkit import NO_ANSWER, build_prompt, extract_choice, item_prompt, question_text, score

CHOICES = {"A": "Adenocarcinoma", "B": "Squamous cell carcinoma", "C": "Lymphoma", "D": "Melanoma"}


@pytest.mark.parametrize(("response", "expected"), [
    # rule 2: a lone choice letter
    ("B", "B"),
    # rule 2: punctuation around the letter is removed before splitting
    ("The answer is (C).", "C"),
    # rule 2: the letter first, but still within the last 4 tokens
    ("B. Squamous cell carcinoma", "B"),
    # rule 2: the letter is too early (5th token from the end) -> rule 4 finds the option text instead
    ("B) Squamous cell carcinoma of lung", "B"),
    # rule 2 fails (letter too early), no 'answer is', no option text -> no answer (wrong, no random letter)
    ("C is my choice because the nodes show sheets of atypical cells", None),
    # rule 2: a lower-case letter is no choice token; nothing else matches
    ("b", None),
    # rule 2: two choice letters; rule 3 and 4 find nothing
    ("A or B", None),
    # rule 2: an article `A` counts as a letter, making two; `answer:` is not `answer is`
    ("A nodular lesion, answer: D", None),
    # rule 2: lower-case `a` is no letter, so C is the only one and within the last 4 tokens
    ("I think it is a lymphoma, so C", "C"),
    # rule 2: a letter that is no option (E of four) is ignored
    ("E", None),
    # rule 2: no choice letter but a `Z` token -> the non-answer Z
    ("Z", NO_ANSWER),
    # rule 1: a refusal phrase wins over a letter
    ("Cannot determine the answer from this image. B", NO_ANSWER),
    # rule 3: two letters, but `answer is X` names one
    ("Answer is A, not C", "A"),
    # rule 3: any case, asterisks around the letter
    ("the correct answer is **d** here, not A or B", "D"),
    # rule 3 as written upstream: no word boundary after the letter, so `answer is based` reads B
    ("The answer is based on the nuclear features.", "B"),
    # rule 4: the option text, case-folded, inside the response
    ("adenocarcinoma", "A"),
    # rule 4: our <answer> format: `<answer>B` is no `B` token, the option text decides
    ("<answer>B) Squamous cell carcinoma</answer>", "B"),
    # rule 4: two option texts -> none
    ("Adenocarcinoma or melanoma", None),
    # rule 4: a response longer than twice the options' texts (2 x 53 chars) is not searched
    ("Lymphoma. " + "The cells are large and atypical. " * 4, None),
])
def test_extraction_follows_vlmevalkit_rules(response, expected):
    assert extract_choice(response, dict(CHOICES)) == expected


def test_prompt_has_hint_question_options_and_instruction_in_vlmevalkit_layout():
    assert build_prompt("Which tumour?", {"A": "x", "B": "y"}) == (
        "Question: Which tumour?\nOptions:\nA. x\nB. y\nPlease select the correct answer from the options above. \n")
    assert build_prompt("Which tumour?", {"A": "x", "B": "y"}, hint="Lung biopsy").startswith(
        "Hint: Lung biopsy\nQuestion: Which tumour?\n")
    assert build_prompt("Describe it.", {}) == "Question: Describe it.\n"  # no options: no instruction


def test_item_prompt_rebuilds_the_question_from_the_row(tmp_path):
    item = load_items([write_rl_parquet(tmp_path / "p.parquet", pathmmu_rows(1))])[0]
    assert item_prompt(item) == [{"role": "user", "content": (
        "<image>Question: Question 0: what does the image show?\nOptions:\nA. Adenocarcinoma\n"
        "B. Squamous cell carcinoma\nC. Lymphoma\nD. Melanoma\n"
        "Please select the correct answer from the options above. \n")}]


def test_rows_the_protocol_cannot_ask_are_refused_with_their_location(tmp_path):
    yesno = load_items([write_rl_parquet(tmp_path / "y.parquet", [make_row("pathvqa", 0, "yesno", "yes")])])[0]
    with pytest.raises(ValueError, match=r"y\.parquet: row 0: .*multiple-choice.*'yesno'"):
        item_prompt(yesno)
    with pytest.raises(ValueError, match="row 0: the prompt does not hold"):  # options not under the question
        question_text("A) x\nB) y\nWhich?", ["A) x", "B) y"], "row 0")


def test_score_is_an_exact_letter_match_and_unparsed_is_wrong(tmp_path):
    rows = [*pathmmu_rows(1), make_row("pathvqa", 1, "yesno", "yes")]
    mcq, yesno = load_items([write_rl_parquet(tmp_path / "p.parquet", rows)])  # mcq gold: A) Adenocarcinoma
    assert score(mcq, "A") == {"answer": "A", "accuracy": 1.0, "hedge": None, "vote": "A"}
    assert score(mcq, "B")["accuracy"] == 0.0
    assert score(mcq, "A or B") == {"answer": None, "accuracy": 0.0, "hedge": None, "vote": None}
    assert score(mcq, "Z")["answer"] is None  # the non-answer is never a vote
    assert score(yesno, "yes") is None  # not a multiple-choice question


def test_a_run_under_the_vlmevalkit_protocol_asks_its_prompt_and_reports_it(tiny_ckpt, tmp_path):
    """The tiny checkpoint answers VLMEvalKit's prompt; the headline is its extraction, named with its version
    in results.json, report.md and the lmms-eval files; the folder cannot be resumed under another protocol."""
    from eval_fixtures import compose_eval, tiny_overrides

    from pathvlm_eval import evaluate

    data = write_rl_parquet(tmp_path / "p.parquet", pathmmu_rows(2))
    out = tmp_path / "run"
    overrides = [*tiny_overrides(tiny_ckpt, [data], out), "generation.max_new_tokens=3", "report.plots=false"]
    evaluate(compose_eval([*overrides, "scoring.protocol=vlmevalkit"]))
    results = json.loads((out / "results.json").read_text())
    assert results["scoring"]["protocol"] == "vlmevalkit" and results["scoring"]["headline"] == "vlmevalkit"
    assert results["scoring"]["vlmevalkit"]["commit"].startswith("e8e78f05")
    records = [json.loads(line) for line in (out / "samples" / "tiny.jsonl").read_text().splitlines()]
    overall = results["models"][0]["groups"][0]["metrics"]["vlmevalkit"]
    assert overall["accuracy"] == sum(r["vlmevalkit"]["accuracy"] for r in records) / 2
    assert "VLMEvalKit-comparable accuracy" in (out / "report.md").read_text()
    samples_file = out / "lmms_eval" / "tiny" / "samples_pathmmu.jsonl"
    lines = [json.loads(line) for line in samples_file.read_text().splitlines()]
    assert lines[0]["input"].startswith("<image>Question: Question 0:") and "Options:\nA. " in lines[0]["input"]
    lmms = json.loads((out / "lmms_eval" / "tiny" / "results.json").read_text())
    assert lmms["results"]["pathmmu"]["acc,none"] == overall["accuracy"]
    with pytest.raises(ValueError, match="protocol"):
        evaluate(compose_eval(overrides))
