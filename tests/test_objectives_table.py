"""scripts/objectives_table.py: the report's selected cell, its evaluated seeds' means with intervals, lost seeds
(wrong source apart), the sentence on the noisy input, and refusal of baselines over other items."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import load_script

REPO = Path(__file__).resolve().parents[1]
BASELINES = REPO / "results" / "enhance_baselines_field"
SELECTED = "adagrad, lr 0.03"  # results/enhance_denoisers/REPORT.md's selected setting
WRONG = "wrong source on 60 of 106 test items: the speech estimate is the noise (constructed)"


@pytest.fixture(autouse=True)
def _from_repo(monkeypatch):
    monkeypatch.chdir(REPO)  # the reports name their specs from the repository root


def _copy(tmp_path, name, evaluation=True):
    copy = tmp_path / "results" / name
    shutil.copytree(REPO / "results" / name, copy, ignore=shutil.ignore_patterns("figures", *(() if evaluation else ("evaluation.csv",))))
    return copy


def _baseline(tmp_path, name, si_snri=None, count=None, split=None):
    """A copy of a field baseline, its summary.json's mean SI-SNRi, item count or split changed."""
    folder = tmp_path / "baselines" / name
    shutil.copytree(BASELINES / name, folder)
    summary = json.loads((folder / "summary.json").read_text())
    if si_snri is not None:
        summary["metrics"]["all"]["si_snri"]["mean"] = si_snri
    if count is not None:
        summary["items"] = count
    if split is not None:
        summary["data"]["split"] = split
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def _evaluate_every_trial(folder):
    """Give each finished trial of a copied report an evaluation row with known scores (the committed file may lag)."""
    trials = pd.read_csv(folder / "trials.csv")
    old = pd.read_csv(folder / "evaluation.csv")
    meta = old.iloc[0]
    rows = []
    for i, trial in enumerate(trials[trials["status"] == "completed"].itertuples()):
        rows.append({"kind": "trial", "trial": trial.trial, "cell": trial.cell, "seed": trial.seed, "status": trial.status,
                     "folder": "eval_test", "method": meta["method"], "data_root": meta["data_root"],
                     "data_split": meta["data_split"], "items": meta["items"], "sample_rate": meta["sample_rate"],
                     "SI-SNRi": 3.0 + 0.1 * i, "SI-SNR": 11.0, "SDRi": 4.0, "SDR": 12.0, "STOI": 0.8 + 0.001 * i, "PESQ": 1.5 + 0.01 * i})
    table = pd.concat([pd.DataFrame(rows), old[old["kind"] == "baseline"]], ignore_index=True)
    table.to_csv(folder / "evaluation.csv", index=False)
    return table


def _row(text, study):
    return next(line.split(" | ") for line in text.splitlines() if f" | {study} | " in line)


def _bounds(cell):
    estimate, low, high = (float(x) for x in re.match(r"([-+\d.]+) \[([-+\d.]+), ([-+\d.]+)\]", cell).groups())
    return estimate, low, high


def test_selected_cells_as_the_reports_select_them_with_their_seeds_means(tmp_path):
    script = load_script("objectives_table")
    from separation.analysis.cells import select_best
    from separation.analysis.compare import load_study

    training = _copy(tmp_path, "enhance_denoisers_training")
    scores = _evaluate_every_trial(training)
    noisy = _baseline(tmp_path, "noisy", si_snri=0.5)  # read, not assumed 0
    text = script.table([REPO / "results" / "enhance_denoisers", training], [noisy, BASELINES / "deepfilternet"])

    study = load_study(REPO / "results" / "enhance_denoisers")
    assert select_best(study, study.cells) == SELECTED
    assert f"**Selected setting:** `{SELECTED}`" in (REPO / "results" / "enhance_denoisers" / "REPORT.md").read_text()
    row = _row(text, "enhance_denoisers")
    assert row[0] == "| supervised" and row[2] == f"`{SELECTED}`" and row[3] == "3" and row[4] == "none"
    evaluated = pd.read_csv(REPO / "results" / "enhance_denoisers" / "evaluation.csv")
    cell = evaluated[(evaluated["kind"] == "trial") & (evaluated["cell"] == SELECTED)]
    for column, name in ((5, "SI-SNRi"), (6, "PESQ"), (7, "STOI")):
        estimate, low, high = _bounds(row[column])
        assert estimate == pytest.approx(cell[name].mean(), abs=0.006) and low <= estimate <= high
    gain = cell["SI-SNRi"].mean() - 0.5
    assert f"- supervised (`{SELECTED}`): beats the noisy input by {gain:+.2f} dB SI-SNRi [95% CI " in text

    chosen = "sched none, clip norm 5.5"  # results/enhance_denoisers_training/REPORT.md's selected setting
    row = _row(text, "enhance_denoisers_training")
    assert row[0] == "| supervised" and row[2] == f"`{chosen}`" and row[3] == "3"
    estimate, low, high = _bounds(row[5])
    assert estimate == pytest.approx(scores.loc[scores["cell"] == chosen, "SI-SNRi"].mean(), abs=0.006) and low <= estimate <= high
    assert "| noisy (baseline) | | | | | +0.50 |" in text and "| deepfilternet (baseline) | | | | | +0.23 |" in text
    assert "- enhance_denoisers (supervised): 45 trials, 0 wrong source, 0 collapsed, 0 diverged" in text


def test_wrong_source_lost_and_unevaluated_seeds_are_counted(tmp_path):
    script = load_script("objectives_table")
    folder = _copy(tmp_path, "enhance_denoisers")
    trials = pd.read_csv(folder / "trials.csv", dtype=str, keep_default_na=False)
    mine = trials["cell"] == SELECTED
    trials.loc[mine & (trials["seed"] == "2"), ["status", "reason"]] = ["collapsed", WRONG]
    trials.loc[mine & (trials["seed"] != "2"), "val_final"] = "10.0"  # still selected with a seed lost at the worst value
    trials.loc[trials["trial"].str.startswith("adam-lr0.003-none-noclip-s0"), ["status", "reason"]] = ["collapsed", "collapsed on all 106 test items: silent"]
    trials.loc[trials["trial"].str.startswith("sgd_momentum-lr0.01-none-noclip-s1"), ["status", "reason"]] = ["diverged", "non-finite loss"]
    trials.to_csv(folder / "trials.csv", index=False)
    evaluation = pd.read_csv(folder / "evaluation.csv")
    evaluation = evaluation[~evaluation["trial"].str.startswith("adagrad-lr0.03-none-noclip-s1")]
    evaluation.to_csv(folder / "evaluation.csv", index=False)

    text = script.table([folder], [BASELINES / "noisy"])
    row = _row(text, "enhance_denoisers")
    assert row[2] == f"`{SELECTED}`" and row[3] == "1 (1 not evaluated)" and row[4] == "1 wrong source"
    seed0 = evaluation.loc[evaluation["trial"].str.startswith("adagrad-lr0.03-none-noclip-s0"), "SI-SNRi"].iloc[0]
    assert row[5] == f"{seed0:+.2f}"  # one seed: its value, no interval
    assert f"does not beat the noisy input ({seed0:+.2f} dB SI-SNRi (no interval: fewer than 3 seeds))" in text
    assert f'- enhance_denoisers (supervised): 45 trials, 1 wrong source, 1 collapsed, 1 diverged; e.g. "{WRONG}"' in text


def test_a_baseline_over_other_items_is_refused(tmp_path):
    script = load_script("objectives_table")
    with pytest.raises(SystemExit, match=r"summary.json: items 105 vs the trials' 106: not the same items$"):
        script.table([REPO / "results" / "enhance_denoisers"], [_baseline(tmp_path, "noisy", count=105)])
    with pytest.raises(SystemExit, match=r"summary.json: split valid vs the trials' test: not the same items$"):
        script.table([REPO / "results" / "enhance_denoisers"], [_baseline(tmp_path / "split", "noisy", split="valid")])
    with pytest.raises(SystemExit, match=r"rnnoise/summary.json: no such file; expected the summary.json of `separation evaluate --baseline`"):
        script.table([REPO / "results" / "enhance_denoisers"], [tmp_path / "rnnoise"])


def test_a_folder_without_evaluation_or_without_the_selected_cells_is_refused(tmp_path):
    folder = _copy(tmp_path, "enhance_denoisers", evaluation=False)
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "objectives_table.py"), str(folder)],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode != 0 and result.stdout == ""
    assert result.stderr.strip() == (f"{folder / 'evaluation.csv'}: no such file; run `separation evaluate-study "
                                     "runs/enhance_denoisers` then `separation report`")
    evaluation = pd.read_csv(REPO / "results" / "enhance_denoisers" / "evaluation.csv")
    evaluation[evaluation["cell"] != SELECTED].to_csv(folder / "evaluation.csv", index=False)
    with pytest.raises(SystemExit, match=f"evaluation.csv: the selected cell `{SELECTED}` has no evaluated seed"):
        load_script("objectives_table").table([folder])


def test_each_row_against_the_first_is_the_difference_of_its_seeds_means(tmp_path):
    script = load_script("objectives_table")
    training = _copy(tmp_path, "enhance_denoisers_training")
    scores = _evaluate_every_trial(training)
    text = script.table([REPO / "results" / "enhance_denoisers", training])
    line = next(l for l in text.splitlines() if l.startswith("- supervised (enhance_denoisers) minus supervised ("))
    evaluated = pd.read_csv(REPO / "results" / "enhance_denoisers" / "evaluation.csv")
    first = evaluated[(evaluated["kind"] == "trial") & (evaluated["cell"] == SELECTED)]
    other = scores[scores["cell"] == "sched none, clip norm 5.5"]
    for name in ("SI-SNRi", "PESQ", "STOI"):
        estimate, low, high = _bounds(line.split(f"{name} ")[1])
        assert estimate == pytest.approx(first[name].mean() - other[name].mean(), abs=0.006) and low <= estimate <= high
    # one folder alone has nothing to compare
    assert "against the first row" not in script.table([REPO / "results" / "enhance_denoisers"])


@pytest.mark.parametrize("gains, sentence", [
    ([0.001, -0.002, 0.002], "the same as the noisy input, a pass-through"),  # the verdict's rule: inside +-0.005 dB
    ([0.4, 0.5, 0.6], "beats the noisy input by"),
    ([-0.4, 0.5, 0.1], "does not beat the noisy input"),
])
def test_the_sentence_on_the_input_follows_the_verdicts_rule(gains, sentence):
    script = load_script("objectives_table")
    scores = pd.DataFrame({"SI-SNRi": [2.0 + g for g in gains]})
    row = script.Row(Path("x"), "x", "pu", "lr 1", scores, 0, {}, {}, "", 3)
    assert script._beats(row, 2.0).startswith(sentence)
