"""Paired significance on synthetic outcomes with known answers, and the comparison command on hand-made runs."""

from __future__ import annotations

import json
from math import comb

import numpy as np
import pytest
from eval_fixtures import compose_eval, scored_records

from pathvlm_eval.compare import main
from pathvlm_eval.config import load_config
from pathvlm_eval.data import load_items
from pathvlm_eval.files import write_json
from pathvlm_eval.paired import mcnemar_exact, paired_difference
from pathvlm_eval.reference import load_reference
from pathvlm_eval.results import build_results
from pathvlm_eval.store import SampleStore

RIGHT, WRONG = "<think>t</think><answer>A) Adenocarcinoma</answer>", "<think>t</think><answer>D) Melanoma</answer>"


def _outcomes(both: int, only_a: int, only_b: int, neither: int) -> tuple[list[bool], list[bool]]:
    a = [True] * both + [True] * only_a + [False] * only_b + [False] * neither
    b = [True] * both + [False] * only_a + [True] * only_b + [False] * neither
    return a, b


@pytest.mark.parametrize(("counts", "expected_p"), [
    # identical models: no discordant question -> p = 1
    ((30, 0, 0, 20), 1.0),
    # discordant questions split evenly -> p = 1
    ((10, 4, 4, 10), 1.0),
    # by hand: 1 vs 5 discordant, two-sided exact p = (C(6,0)+C(6,1)+C(6,5)+C(6,6)) / 2^6 = 14/64
    ((3, 1, 5, 2), 14 / 64),
    # by hand: 0 vs 3 -> p = 2 * (1/2)^3 = 0.25 (two-sided)
    ((0, 0, 3, 0), 0.25),
    # A right on 200 questions B misses, never the reverse -> p = 2 * 2^-200
    ((50, 200, 0, 50), 2 * 0.5 ** 200),
])
def test_mcnemar_exact_matches_hand_computed_p_values(counts, expected_p):
    a, b = _outcomes(*counts)
    result = mcnemar_exact(a, b)
    assert (result["only_a"], result["only_b"]) == counts[1:3]
    assert result["p_value"] == pytest.approx(expected_p, rel=1e-9)


def test_mcnemar_is_symmetric_and_refuses_unpaired_outcomes():
    a, b = _outcomes(5, 2, 7, 1)
    assert mcnemar_exact(a, b)["p_value"] == mcnemar_exact(b, a)["p_value"]
    assert mcnemar_exact(a, b)["p_value"] == pytest.approx(sum(comb(9, k) for k in (0, 1, 2, 7, 8, 9)) / 2 ** 9)
    with pytest.raises(ValueError, match="different lengths"):
        mcnemar_exact([True], [True, False])


def test_paired_bootstrap_interval_of_the_difference():
    rng = np.random.default_rng(0)
    a = rng.random(400) < 0.7
    b = a.copy()
    assert paired_difference(a, b, 0.95, 500, 0) == {"difference": 0.0, "ci": [0.0, 0.0]}  # identical
    b[:80] = ~b[:80]  # flips 80 of 400 answers: the difference is known exactly
    result = paired_difference(a, b, 0.95, 500, 0)
    assert result["difference"] == pytest.approx((a.sum() - b.sum()) / 400)
    assert result["ci"][0] <= result["difference"] <= result["ci"][1]


def _run(tmp_path, name, files, limit, responses):
    """A run folder as pathvlm_eval writes it: results.json and samples/<model>.jsonl, from hand-made responses."""
    out = tmp_path / name
    config = load_config(compose_eval([*(f"+models.{m}.path=/ckpt/{m}" for m in responses),
                                       "+models.r1.reference=pathvlm-r1-7b", f"data.limit={limit or 'null'}",
                                       "data.files=[" + ",".join(f"'{f}'" for f in files) + "]",
                                       f"output_dir={out}", "metrics.bootstrap_resamples=100"]))
    items = load_items(config.files, config.limit)
    records = {m: scored_records(items, [r[i % len(r)] for i in range(len(items))]) for m, r in responses.items()}
    for model, model_records in records.items():
        SampleStore(out / "samples" / f"{model}.jsonl").rewrite(model_records)
    write_json(out / "results.json", build_results(config, items, records, load_reference(), "hf", False))
    return out, records


def test_compare_one_run_reports_accuracies_paper_numbers_and_paired_tests(fixture_parquets, tmp_path, capsys):
    run, records = _run(tmp_path, "run", fixture_parquets, None, {"base": [WRONG], "r1": [RIGHT, WRONG]})
    main([str(run), "--out", str(tmp_path / "cmp"), "--resamples", "200"])
    comparison = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    results = json.loads((run / "results.json").read_text())
    assert comparison["n_questions"] == 6 and comparison["groups"] == ["overall", "omnimedvqa", "pathmmu"]
    for model in results["models"]:  # same questions as the run: the same accuracy as results.json
        overall = next(g for g in model["groups"] if g["filter"] == {})["metrics"]["strict"]["accuracy"]
        assert comparison["accuracy"][model["name"]]["overall"]["accuracy"] == pytest.approx(overall)
    assert comparison["accuracy"]["r1"]["pathmmu"]["paper"] == 65.50
    [pair] = comparison["pairs"]
    right = {m: [r["strict"]["accuracy"] == 1 for r in records[m]] for m in records}
    assert pair["mcnemar"] == mcnemar_exact(right["base"], right["r1"])
    report = (tmp_path / "cmp" / "compare.md").read_text()
    assert "(paper 65.50)" in report and "McNemar" in report
    assert (tmp_path / "cmp" / "compare.png").read_bytes()[:4] == b"\x89PNG"
    assert "compare.md" in capsys.readouterr().out


def test_compare_two_runs_uses_only_the_questions_both_answered(fixture_parquets, tmp_path):
    one, _ = _run(tmp_path, "one", fixture_parquets, None, {"r1": [RIGHT]})
    two, _ = _run(tmp_path, "two", fixture_parquets, 2, {"r1": [WRONG]})
    main([str(one), str(two), "--out", str(tmp_path / "cmp"), "--resamples", "100"])
    comparison = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert comparison["n_questions"] == 4  # the second run read 2 rows of each file
    assert set(comparison["accuracy"]) == {"one/r1", "two/r1"}
    with pytest.raises(SystemExit):  # one model alone is nothing to compare
        main([str(one), "--out", str(tmp_path / "x")])
