"""Run a grid: every trial of a spec, skipping finished ones, resuming interrupted ones.

The embedded engine runs trials one after another in this process (on the GPU
when there is one); `separation.grid.ray_engine` runs the same trials through
Ray Tune. Both call `run_trial`, so a trial directory looks the same whichever
engine produced it, and both go through the trial claims: any number of local
workers, Ray runs and machines sharing the runs folder can work on one study,
each trial trained by exactly one of them.

Exit status of `separation grid` (see `exit_status`): 0 when every planned trial
ended as an outcome (completed, diverged, collapsed, stopped at target, pruned) or is being trained by
another live worker; 3 when any ended failed or was left interrupted (or paused at a rung).

A pruned study (`pruning` in the spec) is run rung by rung (`separation.grid.pruning`):
each trial trains to the rung it is due at and pauses; a worker takes a rung's decision
as soon as the last trial of its group gets there, then trains the promoted trials on.
A worker with nothing to train waits while another live worker trains a trial a
decision needs, so every worker stays busy until the study ends.
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from separation.errors import UserError
from separation.grid.spec import GridSpec
from separation.grid.claim import DEFAULT_TIMEOUT, read_claim
from separation.grid.continuation import needs_seed, shorter_trial
from separation.grid.pruning import FOLDER as DECISIONS, WAIT, decide_ready, next_stop, rung_cell
from separation.grid.trial import (FINISHED, OK, OUTCOMES, PAUSED, PRUNED, RUNNING, clear_marker, read_json, run_trial,
                                   trial_status)
from separation.outcomes import Status
from separation.tasks import TASKS
from separation.training.interrupt import raise_if_requested

# `separation grid` exits with this when a planned trial failed or was left interrupted.
EXIT_TRIALS_FAILED = 3
STATES = (Status.COMPLETED, Status.DIVERGED, Status.COLLAPSED, Status.STOPPED_AT_TARGET, PRUNED, Status.FAILED, RUNNING,
          PAUSED, Status.INTERRUPTED, Status.MISSING)
# Seconds a worker of a pruned study waits before looking again for a decision another worker's trial holds up.
POLL_SECONDS = 2.0


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


def statuses(spec: GridSpec, study_dir: Path, claim_timeout: float = DEFAULT_TIMEOUT) -> dict[str, str]:
    return {trial.id: trial_status(study_dir / trial.id, claim_timeout) for trial in spec.trials}


def count_line(state: dict[str, str]) -> str:
    """'4 trials: 3 completed, 1 failed' (every state that occurs, in a fixed order)."""
    counts = Counter(state.values())
    order = [s for s in STATES if counts.get(s)] + sorted(s for s in counts if s not in STATES)
    return f"{len(state)} trials: " + ", ".join(f"{counts[s]} {s}" for s in order)


def exit_status(state: dict[str, str]) -> int:
    """0 when every trial is an outcome or running in another worker, else EXIT_TRIALS_FAILED."""
    return 0 if all(s in OUTCOMES or s in (RUNNING, PRUNED) for s in state.values()) else EXIT_TRIALS_FAILED


def _short(value) -> str:
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{v}" for k, v in value.items()) + "}" if value else "-"
    return "-" if value is None else str(value)


def _claim_cell(trial_dir: Path, claim_timeout: float) -> str:
    claim = read_claim(trial_dir, claim_timeout)
    return "-" if claim is None else claim.describe()


def format_table(spec: GridSpec, study_dir: Path, claim_timeout: float = DEFAULT_TIMEOUT) -> str:
    """The dry-run table: one row per trial with its axis values, state and claim, then the counts."""
    state = statuses(spec, study_dir, claim_timeout)
    keys: list[str] = []
    for trial in spec.trials:
        for key in trial.overrides:
            if key not in keys:
                keys.append(key)
    pruned, continues = spec.pruning is not None, spec.continue_shorter
    header = ["trial", *keys, "status", *(["rung"] if pruned else []), *(["continues"] if continues else []),
              "claimed by"]
    rows = [[t.id, *(_short(t.overrides.get(k)) for k in keys), state[t.id],
             *([rung_cell(t, spec, study_dir)] if pruned else []),
             *([_continues_cell(t, study_dir)] if continues else []), _claim_cell(study_dir / t.id, claim_timeout)]
            for t in spec.trials]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    counts = Counter(state.values())
    summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in STATES if s not in (PRUNED, PAUSED) or pruned)
    lines.append(f"{len(spec.trials)} trials in {study_dir}: {summary}")
    if pruned:
        rungs = spec.pruning
        lines.append(f"pruning: rungs {', '.join(map(str, rungs.steps))} steps, keep {rungs.keep:g} of the cells "
                     f"within each {rungs.within} by the median {rungs.metric} over seeds")
    return "\n".join(lines)


def _continues_cell(trial, study_dir: Path) -> str:
    """The shorter trial this one continued (meta.json) or will continue (`continue_shorter`), else '-'."""
    trial_dir = study_dir / trial.id
    recorded = read_json(trial_dir / "meta.json").get("continued_from")
    if recorded:
        return recorded
    source = shorter_trial(trial, study_dir) if needs_seed(trial_dir) and study_dir.is_dir() else None
    return source.name if source else "-"


def _metric_cell(metrics: dict, name: str) -> str:
    value = metrics.get(name)
    return f"{name} {value:+.2f}" if isinstance(value, (int, float)) and math.isfinite(value) else ""


def trial_line(spec: GridSpec, trial, status: str, meta: dict, seconds: float, left: int,
               seconds_per_trial: float | None) -> str:
    """One trial this worker finished, e.g. `[grid quick]  3/16  <id>  completed  val/si_snri +4.21
    test/si_snri +3.98  1.2 min  ETA 15.6 min (13 left)`: its place in the spec, outcome, the task's
    headline metrics (validation at the last epoch, test when tested), minutes, and the time this
    worker still needs (mean minutes of its trials in this call times the trials left to it)."""
    total = len(spec.trials)
    index = next(i for i, t in enumerate(spec.trials, 1) if t.id == trial.id)
    width = max(len(t.id) for t in spec.trials)
    head = f"[grid {spec.study}] {index:>{len(str(total))}}/{total}  {trial.id:<{width}}"
    if status == RUNNING:
        return f"{head}  {RUNNING} in another worker"
    headline = TASKS[trial.config.task].headline
    metrics = (meta.get("result") or {}).get("metrics") or {}
    cells = [status.ljust(9), _metric_cell(metrics, headline.val), _metric_cell(metrics, headline.test),
             f"{seconds / 60:.1f} min"]
    if not left:
        cells.append("none left")
    elif seconds_per_trial:
        cells.append(f"ETA {seconds_per_trial * left / 60:.1f} min ({left} left)")
    else:
        cells.append(f"{left} left")
    if status not in OK and meta.get("reason"):
        cells.append(f"reason: {str(meta['reason']).splitlines()[0][:120]}")
    return "  ".join([head, *(c for c in cells if c)])


def pending_trials(spec: GridSpec, study_dir: Path, retry_failed: bool = False, claim_timeout: float = DEFAULT_TIMEOUT):
    """Trials still to run (not finished, not held by a live worker, not paused at a rung whose decision
    is not taken); failed ones only when asked."""
    todo = []
    for trial in spec.trials:
        status = trial_status(study_dir / trial.id, claim_timeout)
        if status == RUNNING or (status in FINISHED and not (status == Status.FAILED and retry_failed)):
            continue
        if spec.pruning is not None and status == PAUSED and next_stop(trial, spec, study_dir) == WAIT:
            continue
        todo.append(trial)
    return todo


def run_one(trial, study_dir: Path, retry_failed: bool, claim_timeout: float = DEFAULT_TIMEOUT, spec: GridSpec | None = None,
            **kwargs) -> str:
    """`run_trial`, clearing a failed trial's marker first when asked to retry it. In a pruned study
    (`spec.pruning`) it trains the trial's next segment only, then takes the decisions that are due."""
    if retry_failed and trial_status(study_dir / trial.id, claim_timeout) == Status.FAILED:
        clear_marker(study_dir / trial.id)
    if spec is None or spec.pruning is None:
        return run_trial(trial, study_dir, claim_timeout=claim_timeout,
                         continue_shorter=spec is not None and spec.continue_shorter, **kwargs)
    decide_ready(spec, study_dir)  # one a killed worker left untaken
    stop = next_stop(trial, spec, study_dir)
    if stop in (WAIT, PRUNED):
        return trial_status(study_dir / trial.id, claim_timeout)
    rung = None if stop is None else (stop, spec.pruning.metric)
    status = run_trial(trial, study_dir, claim_timeout=claim_timeout, rung=rung, **kwargs)
    decide_ready(spec, study_dir)
    return status


def _others_training(spec: GridSpec, study_dir: Path, claim_timeout: float) -> bool:
    return spec.pruning is not None and RUNNING in statuses(spec, study_dir, claim_timeout).values()


def run_local(spec: GridSpec, runs_root: str | Path = "runs", retry_failed: bool = False, out=sys.stderr,
              claim_timeout: float = DEFAULT_TIMEOUT) -> dict[str, str]:
    """Run every pending trial in this process, one after another; returns id -> status.

    Trials another live worker holds are skipped; after a pass, the list is read again,
    so a trial whose worker died meanwhile is taken over. Each trial is tried at most
    once per call. Prints to `out` the study's state once, then one line per trial it ends
    (`trial_line`); Lightning's own output goes to each trial's train.log. Raises
    `TrainingInterrupted` on SIGINT/SIGTERM (the trial is saved).
    """
    study_dir = study_dir_for(spec, runs_root)
    check_writable(study_dir)
    durations: list[float] = []
    tried: set[tuple] = set()
    told: set[Path] = set(_decision_files(study_dir))  # rung decisions already on the terminal
    todo = pending_trials(spec, study_dir, retry_failed, claim_timeout)
    print(f"[grid {spec.study}] {count_line(statuses(spec, study_dir, claim_timeout))}; {len(todo)} to run in this "
          f"worker ({study_dir})", file=out, flush=True)
    while todo or _others_training(spec, study_dir, claim_timeout):
        if not todo:  # a rung's decision waits for another worker's trial
            time.sleep(POLL_SECONDS)
        for trial in todo:
            raise_if_requested("before the next trial")
            tried.add(_attempt(spec, trial, study_dir))
            started = time.time()
            status = run_one(trial, study_dir, retry_failed, claim_timeout, spec=spec)
            seconds = time.time() - started
            if status != RUNNING:
                durations.append(seconds)
            left = len([t for t in pending_trials(spec, study_dir, retry_failed, claim_timeout)
                        if _attempt(spec, t, study_dir) not in tried])
            mean = sum(durations) / len(durations) if durations else None
            meta = read_json(study_dir / trial.id / "meta.json")
            print(trial_line(spec, trial, status, meta, seconds, left, mean), file=out, flush=True)
            for line in _new_decisions(spec, study_dir, told):
                print(line, file=out, flush=True)
        todo = [t for t in pending_trials(spec, study_dir, retry_failed, claim_timeout)
                if _attempt(spec, t, study_dir) not in tried]
    return statuses(spec, study_dir, claim_timeout)


def _decision_files(study_dir: Path) -> list[Path]:
    return sorted((study_dir / DECISIONS).glob("rung-*/*.json"))


def _new_decisions(spec: GridSpec, study_dir: Path, told: set[Path]) -> list[str]:
    """One line per rung decision recorded since the last call (by any worker), e.g.
    `[grid g] rung 256, adam: 2 of 3 cells go on, 2 trials pruned`."""
    lines = []
    for path in _decision_files(study_dir):
        if path in told:
            continue
        told.add(path)
        record = read_json(path)
        if record:
            kept = sum(cell["kept"] for cell in record["cells"])
            lines.append(f"[grid {spec.study}] rung {record['rung']}, {record['group']}: {kept} of {len(record['cells'])} "
                         f"cells go on, {len(record['pruned'])} trials pruned")
    return lines


def _attempt(spec: GridSpec, trial, study_dir: Path) -> tuple:
    """What one try trains: the trial, and in a pruned study the segment (its next stop)."""
    return (trial.id, next_stop(trial, spec, study_dir) if spec.pruning is not None else None)
