"""`separation evaluate-study`: `separation evaluate` on the final weights of every finished trial of a study.

For each trial folder of RUNS/STUDY whose training finished well (status
completed or stopped-at-target; `include_lost` adds diverged and collapsed
ones, which the report counts but never scores) and has `last.ckpt`, runs

    python -m separation evaluate <trial>/last.ckpt --split SPLIT -o <temporary> [evaluate options]

as a subprocess (an argument list, no shell) from the current directory (the
repository root, where the trials' relative data roots resolve), so that one
evaluation's crash or memory never takes the others down. Each evaluation
writes into a fresh temporary folder beside the trial's that replaces
`eval_SPLIT/` only once complete, so an interrupted evaluation never leaves a
folder the report would read; an `eval_SPLIT/` holding files `separation
evaluate` does not write (the user's notes) is not replaced (FAILED, nothing
deleted). `separation report` then reads every `<trial>/eval_test/`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import separation
from separation.errors import UserError
from separation.grid.trial_folder import is_trial_folder, trial_status
from separation.outcomes import OK, OUTCOMES
from separation.outputs import fresh_folder, refuse_foreign

CHECKPOINT = "last.ckpt"  # the final weights, those the training-time test metric scored
# The child process imports this very package (a checkout run without installing it included).
PACKAGE_ROOT = Path(separation.__file__).resolve().parents[1]


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _evaluation_file(relative) -> bool:
    """A file `separation evaluate` writes: its tables and summaries, and example wavs under examples/."""
    parts = relative.parts
    return (len(parts) == 2 and relative.suffix in (".csv", ".json")) or (
        len(parts) > 2 and parts[1] == "examples" and relative.suffix == ".wav")


def _swap_in(temporary: Path, out_dir: Path) -> None:
    """Replace `out_dir` by the finished `temporary`; an older evaluation is removed only after,
    and only when it holds nothing but what `separation evaluate` writes (else UserError, nothing changed)."""
    refuse_foreign(out_dir.parent, [out_dir.name], _evaluation_file, "an evaluation (tables, summaries, examples/)")
    aside = fresh_folder(out_dir.parent, f"{out_dir.name}.old")
    old = aside / out_dir.name
    if out_dir.exists():
        os.replace(out_dir, old)
    try:
        os.replace(temporary, out_dir)
    except BaseException:
        if old.exists():
            os.replace(old, out_dir)
        raise
    finally:
        shutil.rmtree(aside, ignore_errors=True)


def evaluate_trial(trial: Path, split: str, extra: list[str], run=subprocess.run) -> tuple[bool, str]:
    """Evaluate one trial's last.ckpt into `<trial>/eval_<split>/`; returns (ok, what to print)."""
    out_dir = trial / f"eval_{split}"
    temporary = fresh_folder(trial, f"eval_{split}")  # a new name: nothing of anyone's is removed
    temporary.rmdir()  # `separation evaluate` creates it: whether it did tells whether it wrote anything
    command = [sys.executable, "-m", "separation", "evaluate", str(trial / CHECKPOINT), "--split", split,
               "-o", str(temporary), *extra]
    path = os.pathsep.join([str(PACKAGE_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    started = time.perf_counter()
    try:
        result = run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": path})
        if result.returncode != 0:
            why = _last_line(result.stderr) or _last_line(result.stdout) or "no output"
            return False, f"FAILED (exit {result.returncode}): {why}"
        if not temporary.is_dir():
            return False, f"FAILED: `separation evaluate` wrote nothing into {temporary}"
        try:
            _swap_in(temporary, out_dir)
        except UserError as error:
            return False, f"FAILED: {error}"
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    said = _last_line(result.stdout).replace(str(temporary), str(out_dir))
    return True, f"evaluated in {time.perf_counter() - started:.0f} s: {said}"


def plan(study_dir: Path, split: str, only_missing: bool, include_lost: bool,
         trials: Collection[str] | None = None) -> list[tuple[Path, str | None]]:
    """(trial folder, reason it is skipped or None) for every trial folder of the study, by name; only the
    folders named in `trials` when it is given (a spec's trials in a folder several specs share)."""
    wanted = OUTCOMES if include_lost else OK
    entries = []
    for trial in sorted(p for p in study_dir.iterdir() if p.is_dir() and not p.name.startswith(".") and is_trial_folder(p)
                        and (trials is None or p.name in trials)):
        status = trial_status(trial)
        if status not in wanted:
            entries.append((trial, f"skipped ({status})"))
        elif not (trial / CHECKPOINT).is_file():
            entries.append((trial, f"skipped ({status}, no {CHECKPOINT})"))
        elif only_missing and (trial / f"eval_{split}").is_dir():
            entries.append((trial, f"skipped (eval_{split}/ exists)"))
        else:
            entries.append((trial, None))
    return entries


def evaluate_study(study_dir: str | Path, split: str = "test", extra: list[str] = (), processes: int = 1,
                   only_missing: bool = False, include_lost: bool = False, run=subprocess.run,
                   log: Callable[[str], None] = print, trials: Collection[str] | None = None) -> list[str]:
    """Evaluate every trial `plan` keeps (of `trials` only, when given), `processes` at a time, one line per
    trial to `log`; returns the names of the trials whose evaluation failed. UserError for a folder that is no study."""
    study_dir = Path(study_dir)
    if not study_dir.is_dir():
        raise UserError(f"{study_dir}: no such study folder (expected runs/<study>/ written by `separation grid`)")
    if processes < 1:
        raise UserError(f"--processes must be at least 1, got {processes}")
    entries = plan(study_dir, split, only_missing, include_lost, trials)
    lock = threading.Lock()
    failed: list[str] = []

    def one(trial: Path) -> None:
        ok, line = evaluate_trial(trial, split, list(extra), run)
        with lock:
            if not ok:
                failed.append(trial.name)
            log(f"{trial.name}: {line}")

    for trial, skipped in entries:
        if skipped:
            log(f"{trial.name}: {skipped}")
    todo = [trial for trial, skipped in entries if skipped is None]
    # Threads only wait on the child processes, which do the work.
    with ThreadPoolExecutor(max_workers=processes) as pool:
        list(pool.map(one, todo))
    log(f"{study_dir}: {len(todo) - len(failed)} evaluated, {len(failed)} failed, {len(entries) - len(todo)} skipped")
    return failed
