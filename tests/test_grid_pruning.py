"""A pruned grid: rung decisions, exact resumption at full budget, several workers, kill -9, dry-run, exit status.

One tiny 2-rung study (adam x 3 LRs, sgd x 2 LRs, 2 seeds; 4 steps per epoch, 12 steps;
rungs at step 6, mid-epoch, and 8, an epoch's end) is run once by one worker and shared.
"""

import csv
import dataclasses
import json
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

from separation.config import ConfigError
from separation.grid.pruning import decision_path, group_of
from separation.grid.runner import exit_status, run_local
from separation.grid.spec import load_spec
from separation.grid.trial import MARKER, trial_status
from test_grid_run import write_spec

AXES = {"optimizer": [{"name": "adam", "lr": [1e-4, 3e-3, 3e-2]}, {"name": "sgd", "lr": [1e-3, 1e-1]}], "seed": [0, 1]}
PRUNING = {"rungs": [6, 8], "keep": 0.67, "within": "optimizer"}


def _spec(folder: Path, corpus: Path, **pruning) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_spec(folder, corpus, AXES, epochs=3, pruning={**PRUNING, **pruning})


@pytest.fixture(scope="module")
def lone(speech_corpus, tmp_path_factory):
    """The study run by one worker: (spec path, study folder, statuses)."""
    folder = tmp_path_factory.mktemp("lone")
    path = _spec(folder, speech_corpus)
    result = run_local(load_spec(path), folder / "runs")
    return path, folder / "runs" / "g", result


def _val_rows(trial_dir: Path, metric: str = "val/si_snri") -> list[tuple[int, float]]:
    with open(trial_dir / "metrics.csv", newline="") as handle:
        return [(int(r["step"]), float(r["value"])) for r in csv.DictReader(handle) if r["metric"] == metric]


def _metric_keys(trial_dir: Path) -> Counter:
    with open(trial_dir / "metrics.csv", newline="") as handle:
        return Counter((row["step"], row["metric"]) for row in csv.DictReader(handle))


def _expected(spec, study_dir: Path) -> dict[int, set[str]]:
    """Hand-computed survivors of each rung: per optimizer, the best floor(0.67 * cells) cells by the median
    over seeds of the last validation logged before the rung's step (the validation after n steps is logged at n - 1)."""
    alive = {t.id for t in spec.trials}
    survivors = {}
    for rung in PRUNING["rungs"]:
        kept = set()
        for optimizer in ("adam", "sgd"):
            trials = [t for t in spec.trials if t.config.optimizer.name == optimizer and t.id in alive]
            by_lr: dict[float, list[float]] = {}
            for t in trials:
                value = [v for step, v in _val_rows(study_dir / t.id) if step < rung][-1]
                by_lr.setdefault(t.config.optimizer.lr, []).append(value)
            ranked = sorted(by_lr, key=lambda lr: -np.median(by_lr[lr]))
            best = ranked[:max(1, int(0.67 * len(ranked) + 1e-9))]
            kept |= {t.id for t in trials if t.config.optimizer.lr in best}
        survivors[rung] = kept
        alive = kept
    return survivors


def test_decisions_follow_the_hand_ranking_and_survivors_equal_unpruned_runs(lone, tmp_path):
    path, study_dir, result = lone
    spec = load_spec(path)
    survivors = _expected(spec, study_dir)
    assert len(survivors[6]) == 6 and len(survivors[8]) == 4  # adam 3 -> 2 -> 1 cells, sgd 2 -> 1 -> 1
    for trial in spec.trials:
        marker = json.loads((study_dir / trial.id / MARKER).read_text())
        if trial.id in survivors[8]:
            assert result[trial.id] == "completed"
        else:
            rung = 6 if trial.id not in survivors[6] else 8
            assert result[trial.id] == "pruned" and marker["rung"] == rung, trial.id
            steps = max(step for step, _ in _val_rows(study_dir / trial.id, "train/loss_step"))
            assert steps == rung - 1  # trained to the rung, not a step further
    for rung in PRUNING["rungs"]:
        for group in ("adam", "sgd"):
            record = json.loads(decision_path(study_dir, rung, group).read_text())
            assert set(record["promoted"]) == {t for t in survivors[rung] if group in t}
    assert exit_status(result) == 0  # pruned is an outcome

    # The survivors' final metrics are those of the same trials trained without pausing.
    from separation.train import train

    for trial in (t for t in spec.trials if t.id in survivors[8]):
        reference = train(dataclasses.replace(trial.config, run_dir=str(tmp_path / trial.id)))
        paused = json.loads((study_dir / trial.id / "summary.json").read_text())
        assert paused["global_step"] == reference.global_step == 12
        for name in ("val/si_snri", "val/loss", "test/si_snri"):
            assert paused["metrics"][name] == reference.metrics[name], (trial.id, name)


def test_pruning_is_validated_and_does_not_change_trial_ids(speech_corpus, tmp_path):
    pruned = load_spec(_spec(tmp_path / "a", speech_corpus))
    (tmp_path / "b").mkdir()
    plain = load_spec(write_spec(tmp_path / "b", speech_corpus, AXES, epochs=3))
    assert [t.id for t in pruned.trials] == [t.id for t in plain.trials] and plain.pruning is None
    assert pruned.pruning.metric == "val/si_snri" and group_of(pruned.trials[0], pruned.pruning) == "adam"
    for bad, key in (({"keep": 1.5}, "pruning.keep"), ({"rungs": [8, 6]}, "pruning.rungs"), ({"within": "lr"}, "pruning.within"),
                     ({"metric": "train/loss"}, "pruning.metric"), ({"eta": 3}, "pruning.eta")):
        with pytest.raises(ConfigError, match=key):
            load_spec(_spec(tmp_path / "c", speech_corpus, **bad))


def _grid(path: Path, runs: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "separation", "grid", str(path), "-o", str(runs), *extra],
                            cwd=path.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _same_as_lone(spec, study_dir: Path, lone_dir: Path) -> None:
    for trial in spec.trials:
        assert trial_status(study_dir / trial.id) == trial_status(lone_dir / trial.id), trial.id
        # Each segment trained once: no (step, metric) row twice, the same rows and sittings as one worker.
        assert _metric_keys(study_dir / trial.id) == _metric_keys(lone_dir / trial.id), trial.id
    for rung in PRUNING["rungs"]:
        for group in ("adam", "sgd"):
            mine, theirs = (json.loads(decision_path(d, rung, group).read_text()) for d in (study_dir, lone_dir))
            assert {k: mine[k] for k in ("promoted", "pruned", "cells")} == {k: theirs[k] for k in ("promoted", "pruned", "cells")}


def test_two_workers_take_each_decision_once_and_train_each_segment_once(lone, tmp_path):
    path, lone_dir, _ = lone
    spec = load_spec(path)
    runs = tmp_path / "runs"
    workers = [_grid(path, runs) for _ in range(2)]
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    _same_as_lone(spec, runs / "g", lone_dir)
    for trial in spec.trials:
        sittings = [len(json.loads((d / trial.id / "meta.json").read_text())["sittings"]) for d in (runs / "g", lone_dir)]
        assert sittings[0] == sittings[1], trial.id
    assert len(list((runs / "g" / "pruning").rglob("*.json"))) == 4  # 2 rungs x 2 optimizers, no stray copies
    # Each worker prints each decision it sees once, e.g. "[grid g] rung 6, adam: 2 of 3 cells go on, 2 trials pruned".
    told = [[line for line in output.splitlines() if "cells go on" in line] for output in outputs]
    assert all(len(lines) == len(set(lines)) for lines in told), outputs
    assert {line.split(":")[0] for lines in told for line in lines} == {
        f"[grid g] rung {rung}, {group}" for rung in (6, 8) for group in ("adam", "sgd")}
    assert "[grid g] rung 6, adam: 2 of 3 cells go on, 2 trials pruned" in outputs[0] + outputs[1]


def test_kill_9_mid_rung_then_rerun_completes_without_retraining_or_a_second_decision(lone, tmp_path):
    path, lone_dir, _ = lone
    spec = load_spec(path)
    runs = tmp_path / "runs"
    study = runs / "g"
    process = _grid(path, runs)
    deadline = time.time() + 300
    # Kill once the first rung is decided for adam and a promoted trial is training towards the next one.
    while time.time() < deadline and process.poll() is None:
        if decision_path(study, 6, "adam").exists() and any((study / t.id / "CLAIM").exists() for t in spec.trials):
            break
        time.sleep(0.05)
    assert process.poll() is None, "grid finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    first = json.loads(decision_path(study, 6, "adam").read_text())
    assert first["decided_by"]["pid"] == process.pid
    done = subprocess.run([sys.executable, "-m", "separation", "grid", str(path), "-o", str(runs)],
                          cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(decision_path(study, 6, "adam").read_text()) == first  # not taken again
    _same_as_lone(spec, study, lone_dir)
    for trial in spec.trials:  # resumed from the checkpoint: the final metrics of the uninterrupted study
        mine, theirs = (json.loads((d / trial.id / "meta.json").read_text()) for d in (study, lone_dir))
        if theirs["status"] == "completed":
            scores = [{k: v for k, v in m["result"]["metrics"].items() if k.startswith(("val/", "test/"))} for m in (mine, theirs)]
            assert scores[0] == scores[1], trial.id


def test_dry_run_shows_each_trials_rung_and_state(lone):
    path, study_dir, _ = lone
    done = subprocess.run([sys.executable, "-m", "separation", "grid", str(path), "-o", str(study_dir.parent), "--dry-run"],
                          capture_output=True, text=True, cwd=path.parent)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "rung" in lines[0].split()
    assert sum("pruned at 6" in line for line in lines) == 4 and sum("pruned at 8" in line for line in lines) == 2
    assert sum("full budget" in line and "completed" in line for line in lines) == 4
    assert "6 pruned" in done.stdout and "pruning: rungs 6, 8 steps" in done.stdout


def test_pruned_counts_in_the_report_status_and_in_no_statistic(lone, tmp_path):
    from separation.analysis.report import write_report

    path, study_dir, _ = lone
    report = write_report(study_dir, tmp_path / "report", path).read_text()
    status = report.split("## Status")[1].split("##")[0]
    assert "| pruned | 6 |" in status and "| completed | 4 |" in status
    section = report.split("## Pruning")[1].split("\n## ")[0]
    assert "6 of 10 trials stopped at a rung" in section and "| 6 | adam | 2 |" in section and "| 8 | adam | 2 |" in section
    cells = {row["cell"]: row for row in csv.DictReader(open(tmp_path / "report" / "cells.csv"))}
    pruned_cell = next(c for c in cells if "0.0001" in c)
    assert cells[pruned_cell]["val_final_median"] == ""  # no statistic from a pruned trial
    assert not (tmp_path / "report" / "pruning.csv").exists()  # no replay of a pruned study


def test_report_of_a_study_still_training_says_so_and_counts_every_trial(lone, tmp_path):
    """A report run while trials are paused at a rung: the status table adds up and says the study is unfinished."""
    from separation.analysis.report import write_report

    path, study_dir, _ = lone
    copy = tmp_path / "g"
    shutil.copytree(study_dir, copy)
    # A full-budget trial with its marker removed reads as paused at its last rung: what a report sees mid-study.
    survivor = next(d for d in sorted(copy.iterdir()) if (d / MARKER).exists()
                    and json.loads((d / MARKER).read_text())["status"] == "completed")
    (survivor / MARKER).unlink()
    status = write_report(copy, tmp_path / "report", path).read_text().split("## Status")[1].split("\n## ")[0]
    assert "| paused | 1 |" in status and "| completed | 3 |" in status and "| total | 10 |" in status
    assert "**Study in progress:** 1 of 10 trials are still training (0 running, 1 paused at a rung)" in status
    assert "Every planned trial has finished" not in status
