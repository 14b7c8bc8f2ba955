"""Run a grid: every trial of a spec, skipping finished ones, resuming interrupted ones.

The embedded engine runs trials one after another in this process (on the GPU
when there is one); `separation.grid.ray_engine` runs the same trials through
Ray Tune. Both call `run_trial`, so a trial directory looks the same whichever
engine produced it.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from separation.errors import UserError
from separation.grid.spec import GridSpec
from separation.grid.trial import FINISHED, clear_marker, run_trial, trial_status


def study_dir_for(spec: GridSpec, runs_root: str | Path) -> Path:
    return Path(runs_root) / spec.study


def check_writable(directory: Path) -> None:
    """Fail before any trial directory exists if the study folder cannot be written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-check-"):
            pass
    except OSError as error:
        raise UserError(f"run directory '{directory}' is not writable ({error.strerror or error})") from None


def statuses(spec: GridSpec, study_dir: Path) -> dict[str, str]:
    return {trial.id: trial_status(study_dir / trial.id) for trial in spec.trials}


def _short(value) -> str:
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{v}" for k, v in value.items()) + "}" if value else "-"
    return "-" if value is None else str(value)


def format_table(spec: GridSpec, study_dir: Path) -> str:
    """The dry-run table: one row per trial with its axis values and state, then the counts."""
    state = statuses(spec, study_dir)
    keys: list[str] = []
    for trial in spec.trials:
        for key in trial.overrides:
            if key not in keys:
                keys.append(key)
    header = ["trial", *keys, "status"]
    rows = [[t.id, *(_short(t.overrides.get(k)) for k in keys), state[t.id]] for t in spec.trials]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    counts = Counter(state.values())
    summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("completed", "diverged", "collapsed", "failed", "stopped-at-target", "interrupted", "missing"))
    lines.append(f"{len(spec.trials)} trials in {study_dir}: {summary}")
    return "\n".join(lines)


def _progress(spec: GridSpec, study_dir: Path, running: str | None, seconds_per_trial: float | None) -> str:
    state = statuses(spec, study_dir)
    counts = Counter(state.values())
    finished = sum(counts[s] for s in FINISHED)
    left = len(spec.trials) - finished
    eta = f", ETA {seconds_per_trial * left / 60:.1f} min" if seconds_per_trial and left else ""
    now = f", running {running}" if running else ""
    return (
        f"[grid {spec.study}] {finished}/{len(spec.trials)} done: {counts['completed']} completed, "
        f"{counts['diverged']} diverged, {counts['collapsed']} collapsed, {counts['failed']} failed, {counts['stopped-at-target']} at target{now}{eta}"
    )


def pending_trials(spec: GridSpec, study_dir: Path, retry_failed: bool = False):
    """Trials still to run; failed ones only when asked (their marker is cleared then)."""
    todo = []
    for trial in spec.trials:
        status = trial_status(study_dir / trial.id)
        if status == "failed" and retry_failed:
            clear_marker(study_dir / trial.id)
            status = "interrupted"
        if status not in FINISHED:
            todo.append(trial)
    return todo


def run_local(spec: GridSpec, runs_root: str | Path = "runs", retry_failed: bool = False, out=sys.stderr) -> dict[str, str]:
    """Run every pending trial in this process, one after another; returns id -> status."""
    study_dir = study_dir_for(spec, runs_root)
    check_writable(study_dir)
    todo = pending_trials(spec, study_dir, retry_failed)
    durations: list[float] = []
    for trial in todo:
        mean = sum(durations) / len(durations) if durations else None
        print(_progress(spec, study_dir, trial.id, mean), file=out, flush=True)
        started = time.time()
        run_trial(trial, study_dir)
        durations.append(time.time() - started)
    print(_progress(spec, study_dir, None, None), file=out, flush=True)
    return statuses(spec, study_dir)


def default_runs_root() -> str:
    return os.environ.get("SEPARATION_RUNS", "runs")
