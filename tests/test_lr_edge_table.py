"""scripts/lr_edge_table.py: a sweep's best LR against one LR beyond it, at the same validation step."""

import pandas as pd
import pytest

from conftest import load_script


def _study(folder, values):
    """values: {(optimizer, lr): [per-seed validation SI-SNRi at step 511]}; a later validation must be ignored."""
    folder.mkdir()
    steps, trials = [], []
    for (optimizer, lr), seeds in values.items():
        for seed, value in enumerate(seeds):
            trial = f"{optimizer}-lr{lr:g}-s{seed}"
            trials.append({"trial": trial, "optimizer_name": optimizer, "lr": lr, "seed": seed})
            steps += [{"trial": trial, "step": 255, "metric": "val/si_snri", "value": value - 1},
                      {"trial": trial, "step": 511, "metric": "val/si_snri", "value": value},
                      {"trial": trial, "step": 1023, "metric": "val/si_snri", "value": value + 5}]
    pd.DataFrame(steps).to_csv(folder / "steps.csv", index=False)
    pd.DataFrame(trials).to_csv(folder / "trials.csv", index=False)
    return folder


def test_the_edge_lr_is_placed_against_the_sweeps_best(tmp_path):
    table = load_script("lr_edge_table").table
    sweep = _study(tmp_path / "sweep", {("adam", 1e-3): [2.0, 2.1, 2.2], ("adam", 3e-3): [3.0, 3.1, 3.2],
                                        ("sgd", 1e-2): [1.0, 1.1, 1.2]})
    edge = _study(tmp_path / "edge", {("adam", 1e-2): [2.5, 2.6, 2.7], ("sgd", 3e-2): [1.5, 1.6, 1.7]})
    text = table(sweep, edge, 512)
    assert "| adam | 0.003 | sweep | +3.10 [+3.00, +3.20] | 3 |" in text  # step 511, not 1023 or 255
    assert "- adam: sweep best 0.003 (+3.10), edge 0.01 (+2.60): bracketed" in text
    assert "- sgd: sweep best 0.01 (+1.10), edge 0.03 (+1.60): not bracketed" in text


def test_overlapping_seeds_are_not_resolved_and_bad_folders_refused(tmp_path):
    table = load_script("lr_edge_table").table
    sweep = _study(tmp_path / "sweep", {("adam", 3e-3): [3.0, 3.1, 3.2]})
    edge = _study(tmp_path / "edge", {("adam", 1e-2): [2.9, 3.3, 3.0]})
    assert "not resolved: the ranges over seeds overlap" in table(sweep, edge, 512)
    with pytest.raises(SystemExit, match="steps.csv: unreadable"):
        table(sweep, tmp_path / "missing", 512)


def test_a_trial_that_stopped_before_the_step_is_left_out_not_read_early(tmp_path):
    """A pruned (or unfinished) trial's last value is from an earlier step: it is no value at the step."""
    table = load_script("lr_edge_table").table
    sweep = _study(tmp_path / "sweep", {("adam", 1e-3): [2.0, 2.1, 2.2], ("adam", 3e-4): [0.5, 0.6, 0.7]})
    edge = _study(tmp_path / "edge", {("adam", 1e-2): [1.0, 1.1, 1.2]})
    for folder, stopped in ((sweep, "adam-lr0.0003"), (edge, "adam-lr0.01-s0")):
        steps = pd.read_csv(folder / "steps.csv")
        steps[~(steps["trial"].str.startswith(stopped) & (steps["step"] > 255))].to_csv(folder / "steps.csv", index=False)
    text = table(sweep, edge, 512)
    assert "| adam | 0.0003 |" not in text  # its three seeds stopped at step 255
    assert "- sweep adam 0.0003: no trial reached the validation at step 511" in text
    assert "| adam | 0.01 | edge | +1.15 [+1.10, +1.20] | 2 |" in text  # seed 0 stopped; seeds 1 and 2 count
    assert "- adam: sweep best 0.001 (+2.10), edge 0.01 (+1.15): bracketed" in text
