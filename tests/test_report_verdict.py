"""The verdict box on committed studies' tables: it quotes the findings' own numbers, and says when a study
only read early training (a best cell under +3 dB) or did not beat its noisy input."""

import re
from pathlib import Path

import pytest

from separation.analysis.collect import collect_tables
from separation.analysis.findings import claims, report_column
from separation.analysis.report_results import selection_section
from separation.analysis.report_verdict import MAX_LINES, SMALL_GAIN_DB, first_sentence, verdict_box

ROOT = Path(__file__).resolve().parents[1]


def _box(name: str) -> tuple[object, str, list[str]]:
    spec = ROOT / "experiments" / f"{name}.yaml"
    study = collect_tables(ROOT / "results" / name, spec)
    column = report_column(study)
    return study, column, verdict_box(study, spec, column, None).splitlines()


@pytest.fixture(scope="module")
def clipping():
    return _box("svoice_clipping")


def test_the_box_quotes_the_selection_and_the_claims(clipping):
    study, column, box = clipping
    assert len(box) <= MAX_LINES and box[0] == "> **Verdict.** Does gradient clipping improve SVoice?"
    selected = re.search(r"Best cell on validation: \*\*`(.+?)`\*\*.*?, test (\S+) \[(\S+), (\S+)\] dB",
                         selection_section(study, column))
    cell, median, q25, q75 = selected.groups()
    assert box[1].startswith(f"> - **Selected setting:** `{cell}` (best on validation): "
                             f"test SI-SNRi {float(median):+.2f} [{float(q25):+.2f}, {float(q75):+.2f}] dB")
    for claim in claims(study, column):
        answered = [line for line in box if line.startswith(f"> - **{claim.statement}:**")]
        if claim.verdict == "not testable":
            assert not answered
        else:
            assert answered and answered[0].startswith(f"> - **{claim.statement}:** {claim.verdict}: ")
            assert "[95% CI " in answered[0]


def test_a_best_cell_under_three_db_gets_the_early_training_caveat(clipping):
    _, _, box = clipping
    assert SMALL_GAIN_DB == 3.0
    caveat = [line for line in box if line.startswith("> - **Caveat:**")]
    assert caveat == ["> - **Caveat:** 256 steps of a 0.28 M model whose best cell reaches +1.26 dB SI-SNRi: "
                      "early training only, so the ranking is of how the settings start, not of trained models."]
    assert "beats the mixture" in box[1]


def test_enhancement_says_whether_the_best_cell_beats_the_noisy_input():
    _, _, box = _box("enhance_optimizers")
    assert "SI-SNRi against the noisy input (0 dB): -1.95 dB [95% CI " in box[1]
    assert box[1].endswith("worse than the noisy input.")
    assert any(line.startswith("> - **Caveat:**") and "does not beat the noisy input" in line for line in box)


def test_a_well_trained_best_cell_has_no_caveat():
    _, _, box = _box("unet_optimizers_cpu")  # adagrad's best cell: +8 dB SDRi
    assert not any("Caveat" in line for line in box)
    assert "SDRi against the mixture (0 dB): +8.02 dB" in box[1]


def test_first_sentence_is_not_ended_by_a_decimal_point_or_an_abbreviation():
    assert first_sentence("Adam 1e-4 at 0.5 dB, e.g. here. Then more.") == "Adam 1e-4 at 0.5 dB, e.g. here."
    assert first_sentence("Which is best? More.") == "Which is best?"


def test_the_selected_line_counts_the_cells_lost_seeds(clipping):
    # enhance_cleanunet_long: one cell, seed 2 collapsed at step ~5,700 of 8,192; the svoice_clipping winner lost none.
    _, _, box = _box("enhance_cleanunet_long")
    assert "(median [IQR] of 2 seeds; 1 of 3 seeds lost (collapsed));" in box[1]
    assert "lost" not in clipping[2][1]


def test_a_pass_through_is_not_said_to_beat_its_input():
    # enhance_objectives_field_pu_weighted_prior: the hard mask kept every bin; the one scored seed's gain is ~1e-6 dB.
    _, _, box = _box("enhance_objectives_field_pu_weighted_prior")
    assert box[1].endswith("+0.00 dB [95% CI +0.00, +0.00], the same as the noisy input (a pass-through).")
    assert "beats" not in box[1]


def test_a_collapsed_seed_counts_at_its_own_value_when_that_is_the_study_worst():
    # enhance_cleanunet_long has one cell: two seeds at +2.59/+2.66 dB, the collapsed one at -43.9 dB. Counted at
    # the worst *surviving* seed (+2.59) the collapse would vanish from the interval; counted at its own value the
    # gain over the input is not resolved.
    from separation.analysis.cells import seed_values, worst_value

    study, _, box = _box("enhance_cleanunet_long")
    trials = study.trials
    collapsed = trials.loc[trials["status"] == "collapsed", "test"].iloc[0]
    assert collapsed < trials.loc[trials["status"] == "completed", "test"].min()
    assert worst_value(study, "test") == pytest.approx(collapsed)
    assert sorted(seed_values(study, study.cells[0], "test", conservative=True))[0] == pytest.approx(collapsed)
    assert box[1].endswith("not resolved against the noisy input.")
