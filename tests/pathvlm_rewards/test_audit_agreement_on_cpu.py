"""`agreement` on ratings with a known answer, and export → filled CSVs → agreement through the CLI."""

import csv
import json

import numpy as np
import pytest
from audit_fixtures import write_rows, write_validation_dumps

from pathvlm_rewards.audit.__main__ import main
from pathvlm_rewards.audit.agreement import compare
from pathvlm_rewards.audit.rubric import scores_of

LEVELS = (0.0, 0.2, 0.6, 1.0)


def ratings(pairs):
    return {str(i): scores_of(integrity, knowledge) for i, (integrity, knowledge) in enumerate(pairs)}


def test_identical_ratings_agree_perfectly():
    rng = np.random.default_rng(0)
    a = ratings(rng.choice(LEVELS, (40, 2)))
    stats = compare(a, a, resamples=200, seed=0)
    for dimension in ("integrity", "knowledge"):
        assert stats[dimension]["spearman"]["value"] == pytest.approx(1.0)
        assert stats[dimension]["quadratic_kappa"]["value"] == pytest.approx(1.0)
        assert stats[dimension]["mae"]["value"] == 0.0
    assert stats["mean"]["quadratic_kappa"]["value"] is None  # κ is for levels, not their mean


@pytest.mark.parametrize(("b_of_a", "rho", "kappa", "mae"), [
    # reversed on two levels: ρ = -1, and κ = 1 - 1 / 0.5 = -1 (worked by hand: all weight off-diagonal)
    ({0.0: 1.0, 1.0: 0.0}, -1.0, -1.0, 1.0),
    # one level higher (0 → 0.2 → 0.6 → 1): strictly monotone, so ρ = 1; MAE = mean gap (0.2 + 0.4 + 0.4) / 3
    ({0.0: 0.2, 0.2: 0.6, 0.6: 1.0}, 1.0, None, (0.2 + 0.4 + 0.4) / 3),
])
def test_a_known_relation_gives_the_expected_statistics(b_of_a, rho, kappa, mae):
    a_levels = list(b_of_a) * 10
    a = ratings([(x, x) for x in a_levels])
    b = ratings([(b_of_a[x], b_of_a[x]) for x in a_levels])
    stats = compare(a, b, resamples=200, seed=0)["integrity"]
    assert stats["spearman"]["value"] == pytest.approx(rho)
    assert stats["mae"]["value"] == pytest.approx(mae)
    if kappa is not None:
        assert stats["quadratic_kappa"]["value"] == pytest.approx(kappa)
    else:
        assert stats["quadratic_kappa"]["value"] < 1.0  # monotone but not equal: agreement below perfect


def test_independent_ratings_give_intervals_covering_zero():
    rng = np.random.default_rng(7)
    a, b = ratings(rng.choice(LEVELS, (150, 2))), ratings(rng.choice(LEVELS, (150, 2)))
    stats = compare(a, b, resamples=1000, seed=0)
    for dimension in ("integrity", "knowledge"):
        for name in ("spearman", "quadratic_kappa"):
            estimate = stats[dimension][name]
            assert estimate["low"] < 0.0 < estimate["high"], (dimension, name, estimate)


def fill(path, out, rate):
    """A rater's copy of ratings.csv with (integrity, knowledge) = rate(card)."""
    with open(path, newline="") as file:
        records = list(csv.DictReader(file))
    for record in records:
        record["integrity"], record["knowledge"] = rate(int(record["card"]))
    with open(out, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    return out


def test_export_then_filled_csvs_then_agreement_through_the_cli(tmp_path, capsys):
    data, dumps = write_rows(tmp_path / "val.parquet", 8), write_validation_dumps(tmp_path / "validation", 8)
    sheet = tmp_path / "sheet"
    assert main(["export", "--responses", str(dumps), "--data", str(data), "--n", "12", "--out", str(sheet)]) == 0
    blank = sheet / "ratings.csv"
    first = fill(blank, tmp_path / "ratings_dr_a.csv", lambda card: (LEVELS[card % 4], LEVELS[(card // 4) % 4]))
    # rater b: the same as a on integrity, the reverse order of levels on knowledge
    second = fill(blank, tmp_path / "ratings_dr_b.csv",
                  lambda card: (LEVELS[card % 4], LEVELS[3 - (card // 4) % 4]))
    out = tmp_path / "agreement"
    assert main(["agreement", "--ratings", str(first), str(second), "--bootstrap", "100", "--out", str(out)]) == 0
    report = json.loads((out / "agreement.json").read_text())
    assert report["raters"] == {"ratings_dr_a": 12, "ratings_dr_b": 12}
    (pair,) = report["pairs"]
    assert pair["kind"] == "human-vs-human" and pair["statistics"]["integrity"]["spearman"]["n"] == 12
    assert pair["statistics"]["integrity"]["quadratic_kappa"]["value"] == pytest.approx(1.0)
    assert pair["statistics"]["knowledge"]["spearman"]["value"] == pytest.approx(-1.0)
    assert "human-vs-human" in (out / "report.md").read_text() and (out / "scores.png").stat().st_size > 0


def test_a_value_outside_the_rubric_is_refused_naming_file_line_and_column(tmp_path, capsys):
    path = tmp_path / "ratings_x.csv"
    path.write_text("card,item_id,integrity,knowledge,comment\n1,abc,0.6,1,\n2,def,0.5,1,\n")
    assert main(["agreement", "--ratings", str(path), str(path.with_name("ratings_y.csv")),
                 "--out", str(tmp_path / "out")]) == 2
    assert f"{path} line 3, column integrity: '0.5' is not one of the allowed values" in capsys.readouterr().err
