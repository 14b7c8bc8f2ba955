"""scripts/speech_transfer_table.py --paired: differences of two evaluations of the same mixtures."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from conftest import load_script


def _evaluation(folder: Path, rows: list[tuple[str, float, float]]) -> Path:
    """A `separation evaluate` metrics.csv with (id, si_snri, mixture_si_snr) rows."""
    folder.mkdir(parents=True)
    with open(folder / "metrics.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "si_snri", "sdri", "mixture_si_snr"])
        for key, si_snri, baseline in rows:
            writer.writerow([key, si_snri, si_snri, baseline])
    return folder


def test_paired_differences_are_per_mixture_whatever_the_row_order(tmp_path):
    table = load_script("speech_transfer_table")
    a = _evaluation(tmp_path / "a__t", [("m1", 3.0, 0.1), ("m2", 1.0, -0.2), ("m3", 2.5, 0.0)])
    b = _evaluation(tmp_path / "b__t", [("m3", 2.0, 0.0), ("m1", 1.0, 0.1), ("m2", 1.5, -0.2)])
    differences = table.paired_differences(a, b)
    assert differences == {"m1": 2.0, "m2": -0.5, "m3": 0.5}
    model_a, model_b, count, mean, share = table.paired_row(a, b, differences)
    assert (model_a, model_b, count, share) == ("a__t", "b__t", "3", "0.67")
    assert mean.startswith("+0.67 [")


def test_paired_differences_refuse_evaluations_of_other_mixtures(tmp_path):
    table = load_script("speech_transfer_table")
    a = _evaluation(tmp_path / "a__t", [("m1", 3.0, 0.1), ("m2", 1.0, -0.2)])
    other_ids = _evaluation(tmp_path / "b__t", [("m1", 1.0, 0.1), ("m9", 1.0, -0.2)])
    with pytest.raises(SystemExit, match="different mixtures"):
        table.paired_differences(a, other_ids)
    other_audio = _evaluation(tmp_path / "c__t", [("m1", 1.0, 0.1), ("m2", 1.0, 4.0)])
    with pytest.raises(SystemExit, match="mixture m2 has another baseline"):
        table.paired_differences(a, other_audio)
