"""Run `separation evaluate` on the final weights of every finished trial of a study.

    .venv/bin/python scripts/evaluate_study.py runs/enhance_optimizers --only-missing --device cpu

For each trial folder of RUNS/STUDY whose training finished well (status
completed or stopped-at-target; `--include-lost` adds diverged and collapsed
ones, which the report counts but never scores) and has `last.ckpt`, runs

    python -m separation evaluate <trial>/last.ckpt --split SPLIT -o <trial>/eval_SPLIT [extra args]

as a subprocess (an argument list, no shell), from the current directory (run
it from the repository root, where the trials' relative data roots resolve).
Arguments this script does not know are passed on to `separation evaluate`
(`--device cpu`, `--max-items 20`, `--data ROOT`, ...). Each evaluation writes
into a temporary folder beside the trial's that replaces `eval_SPLIT/` only once
it is complete, so an interrupted evaluation never leaves a folder the report
would read; an `eval_SPLIT/` holding files `separation evaluate` does not write
(notes of the user's) is not replaced (FAILED, nothing deleted). Prints one line per trial; exits 1 if any evaluation failed, 2 on
bad arguments. `separation report` then reads every `<trial>/eval_test/`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the checkout's package, not an installed one

from separation.errors import UserError  # noqa: E402
from separation.grid.trial_folder import is_trial_folder, trial_status  # noqa: E402
from separation.outcomes import OK, OUTCOMES  # noqa: E402
from separation.outputs import fresh_folder, refuse_foreign  # noqa: E402

CHECKPOINT = "last.ckpt"  # the final weights, those the training-time test metric scored


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
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    started = time.perf_counter()
    try:
        result = run(command, capture_output=True, text=True, env=env)
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


def plan(study_dir: Path, split: str, only_missing: bool, include_lost: bool) -> list[tuple[Path, str | None]]:
    """(trial folder, reason it is skipped or None) for every trial folder of the study, by name."""
    wanted = OUTCOMES if include_lost else OK
    entries = []
    for trial in sorted(p for p in study_dir.iterdir() if p.is_dir() and not p.name.startswith(".") and is_trial_folder(p)):
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


def main(argv: list[str] | None = None, run=subprocess.run) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="Other arguments are passed on to `separation evaluate`.")
    parser.add_argument("study", help="a study folder written by `separation grid`, e.g. runs/enhance_optimizers")
    parser.add_argument("--split", default="test", help="split to score (default: test); writes <trial>/eval_<split>/")
    parser.add_argument("--jobs", type=int, default=1, help="evaluations at a time (default 1)")
    parser.add_argument("--only-missing", action="store_true", help="skip trials that already have eval_<split>/")
    parser.add_argument("--include-lost", action="store_true", help="also evaluate diverged and collapsed trials")
    args, extra = parser.parse_known_args(argv)
    study_dir = Path(args.study)
    if not study_dir.is_dir():
        print(f"error: {study_dir}: no such study folder (expected runs/<study>/ written by `separation grid`)", file=sys.stderr)
        return 2
    if args.jobs < 1:
        print(f"error: --jobs must be at least 1, got {args.jobs}", file=sys.stderr)
        return 2
    entries = plan(study_dir, args.split, args.only_missing, args.include_lost)
    lock = threading.Lock()
    failed = []

    def one(trial: Path) -> None:
        ok, line = evaluate_trial(trial, args.split, extra, run)
        with lock:
            if not ok:
                failed.append(trial.name)
            print(f"{trial.name}: {line}", flush=True)

    for trial, skipped in entries:
        if skipped:
            print(f"{trial.name}: {skipped}", flush=True)
    todo = [trial for trial, skipped in entries if skipped is None]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(one, todo))
    print(f"{study_dir}: {len(todo) - len(failed)} evaluated, {len(failed)} failed, {len(entries) - len(todo)} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
