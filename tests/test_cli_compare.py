"""`separation compare` on committed studies' tables: a difference the report printed comes out with
the same interval and P(A > B); across two studies the numbers are those of the seeds' own values."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from separation.analysis.cells import best_per, compare
from separation.analysis.compare import load_study, run_compare, select
from separation.analysis.stats import bootstrap_difference, probability_of_improvement
from separation.cli import main
from separation.errors import UserError

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results"


@pytest.fixture(scope="module")
def optimizers():
    return load_study(RESULTS / "svoice_optimizers")  # its spec: the one its REPORT.md names


def _row(study: str, a: str, b: str) -> pd.Series:
    table = pd.read_csv(RESULTS / study / "comparisons.csv")
    rows = table[(table["a"] == a) & (table["b"] == b)]
    assert len(rows) == 1, (a, b)
    return rows.iloc[0]


def _compare(argv, capsys, monkeypatch) -> str:
    monkeypatch.chdir(REPO)  # the reports name their specs from the repository root
    assert main(["compare", *argv]) == 0
    return capsys.readouterr().out


def test_a_resolved_difference_of_the_report_is_reproduced(capsys, monkeypatch):
    out = _compare(["results/svoice_optimizers", "--a", "optimizer=rmsprop", "--b", "optimizer=sgd_momentum"],
                   capsys, monkeypatch)
    # REPORT.md: "rmsprop vs sgd_momentum: ... difference +0.57 dB [95% CI 0.47, 0.69], P(rmsprop > sgd_momentum) = 1.00"
    assert "A - B: +0.57 dB [95% CI 0.47, 0.69], P(A > B) = 1.00" in out
    assert "difference +0.57 dB [95% CI 0.47, 0.69], P(rmsprop > sgd_momentum) = 1.00; rmsprop is better." in \
        (RESULTS / "svoice_optimizers" / "REPORT.md").read_text()
    assert "`rmsprop, lr 0.001` (best of the 4 cells optimizer=rmsprop matches, on validation)" in out
    assert "`sgd_momentum, lr 0.001`" in out and out.strip().endswith("verdict: A is better (the interval excludes 0)")


def test_the_numbers_are_the_reports_to_the_last_digit(optimizers):
    row = _row("svoice_optimizers", "rmsprop, lr 0.001", "adam, lr 0.001")  # resolved: [0.02, 0.34]
    assert row["resolved"]
    result = run_compare(optimizers, "rmsprop, lr 0.001", "optimizer=adam,lr=1e-3")  # a label; lr given as 1e-3
    c = result.comparison
    assert (c.a, c.b, c.column) == ("rmsprop, lr 0.001", "adam, lr 0.001", "test")
    got = [c.median_a, c.median_b, c.difference.estimate, c.difference.low, c.difference.high, c.p_better]
    want = row[["median_a", "median_b", "difference", "ci_low", "ci_high", "p_a_better"]].astype(float).tolist()
    assert got == pytest.approx(want, abs=1e-12)
    assert (c.n_a, c.n_b) == (row["n_a"], row["n_b"]) == (5, 5)


def test_a_group_is_its_best_cell_on_validation_as_in_the_report(optimizers):
    best = best_per(optimizers, "optimizer")
    for optimizer, cell in best.items():
        chosen = select(optimizers, f"optimizer={optimizer}")
        assert chosen.cell == cell and chosen.matched == sum(c.startswith(f"{optimizer},") for c in optimizers.cells)


def test_one_cell_across_two_studies_from_the_seeds_values(capsys, monkeypatch):
    out = _compare(["results/svoice_schedulers", "results/svoice_schedulers_v2", "--cell", "scheduler_name=plateau"],
                   capsys, monkeypatch)
    values = []
    for study in ("svoice_schedulers", "svoice_schedulers_v2"):
        trials = pd.read_csv(RESULTS / study / "trials.csv")
        mine = trials[(trials["scheduler_name"] == "plateau") & trials["status"].isin(["completed", "stopped-at-target"])]
        assert mine["cell"].nunique() == 1 and len(mine) >= 3
        values.append(mine["test"].to_numpy())
    interval = bootstrap_difference(*values)
    p = probability_of_improvement(*values)
    assert f"A - B: {interval.estimate:+.2f} dB [95% CI {interval.low:.2f}, {interval.high:.2f}], P(A > B) = {p:.2f}" in out
    assert "A: svoice_schedulers: `sched plateau`" in out and "B: svoice_schedulers_v2: `sched plateau`" in out


def test_lost_seeds_are_counted_at_the_worst_value_as_in_the_report(capsys, monkeypatch):
    a = "adagrad, lr 0.01, sched none, clip none"
    out = _compare(["results/unet_optimizers_cpu", "--a", a, "--b", "optimizer=sgd_momentum"], capsys, monkeypatch)
    row = _row("unet_optimizers_cpu", a, "sgd_momentum, lr 0.1, sched none, clip none")
    assert row["diverged_b"] == 2
    line = (f"{row['difference_conservative']:+.2f} dB [95% CI {row['ci_low_conservative']:.2f}, "
            f"{row['ci_high_conservative']:.2f}], P(A > B) = {row['p_a_better_conservative']:.2f}")
    trials = pd.read_csv(RESULTS / "unet_optimizers_cpu" / "trials.csv")
    finished = trials[trials["status"].isin(["completed", "stopped-at-target", "diverged", "collapsed"])]
    worst = finished["test"].min()  # a collapsed trial's own value counts: 1.29 dB, below every surviving seed's 1.31
    assert f"({worst:.2f} dB): {line}" in out  # REPORT.md: "at the study's worst test SDR (1.29 dB): difference +6.70 dB [95% CI 5.53, 7.17]"
    assert "2 more diverged or collapsed" in out and "verdict (on the interval counting lost seeds): A is better" in out


@pytest.mark.parametrize("text, says", [
    ("optimiser=adam", "no factor 'optimiser'"),
    ("optimizer=adamax", "no cell of svoice_optimizers matches"),
    ("adam", "expected KEY=VALUE"),
    ("=adam", "expected KEY=VALUE"),
])
def test_a_cell_that_is_not_there_is_named(optimizers, text, says):
    with pytest.raises(UserError, match=says):
        select(optimizers, text)


def test_a_study_still_in_its_trial_folders(tmp_path, capsys, monkeypatch):
    """runs/<study> (no report yet): the seeds' own test values, and a diverged seed at the study's worst."""
    from test_report import BASE, SPEC, find, known_test, write_trial

    from separation.grid.spec import load_spec

    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / "synth.yaml").write_text(SPEC)
    spec = load_spec(tmp_path / "synth.yaml")
    diverged = find(spec, "sgd_momentum", 0.1, "none", "none", 2)
    for trial in spec.trials:
        write_trial(tmp_path / "runs" / "synth" / trial.id, trial, "diverged" if trial is diverged else "completed",
                    last_epoch=2 if trial is diverged else 4)
    out = _compare([str(tmp_path / "runs" / "synth"), "--spec", str(tmp_path / "synth.yaml"),
                    "--a", "optimizer=adam,scheduler=none,clipping=none",
                    "--b", "optimizer=sgd_momentum,lr=0.1,scheduler=none,clipping=none"], capsys, monkeypatch)
    a = [known_test(find(spec, "adam", 1e-3, "none", "none", seed).config) for seed in (0, 1, 2)]
    b = [known_test(find(spec, "sgd_momentum", 0.1, "none", "none", seed).config) for seed in (0, 1)]
    worst = min(known_test(trial.config) for trial in spec.trials if trial is not diverged)
    for values_b, prefix in ((b, "A - B: "), ([*b, worst], f"seeds at the worst test SI-SNRi ({worst:.2f} dB): ")):
        interval, p = bootstrap_difference(a, values_b), probability_of_improvement(a, values_b)
        line = f"{interval.estimate:+.2f} dB"
        if np.isfinite(interval.low):
            line += f" [95% CI {interval.low:.2f}, {interval.high:.2f}]"
        assert f"{prefix}{line}, P(A > B) = {p:.2f}" in out, out
    assert "median 2.90 dB over 2 seeds, 1 more diverged or collapsed" in out
