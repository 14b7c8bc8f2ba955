"""What a trial folder says about its trial, read (and marked) without training anything.

The grid's runner, its pruning decisions, the study report and the scripts all
ask a folder for its trial's status; only `separation.grid.trial` trains. So
this half imports no Lightning and no torch: reading a study stays cheap.

`DONE` (the completion marker, written last) makes a trial finished and names
its status; `rungs.json` holds the rungs a trial of a pruned study has reached;
a live claim (`separation.grid.claim`) says another worker trains it now.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from separation.atomic import write_text_atomic
from separation.grid.claim import CLAIM, DEFAULT_TIMEOUT, read_claim
from separation.outcomes import Status

MARKER = "DONE"
RUNGS_FILE = "rungs.json"  # in a trial folder: rung (steps) -> its metric there, one entry per rung reached


def trial_status(trial_dir: Path, claim_timeout: float = DEFAULT_TIMEOUT) -> str:
    """completed | diverged | collapsed | failed | stopped-at-target | pruned (finished), running (a live
    worker holds its claim), paused (at a rung of a pruned study), interrupted, or missing."""
    marker = trial_dir / MARKER
    if marker.exists():
        try:
            return json.loads(marker.read_text())["status"]
        except (ValueError, KeyError, OSError):
            return Status.INTERRUPTED  # a marker we cannot read is not trusted
    if not trial_dir.exists():
        return Status.MISSING
    claim = read_claim(trial_dir, claim_timeout)
    if claim is not None and claim.alive:
        return Status.RUNNING
    return Status.PAUSED if reached_rungs(trial_dir) else Status.INTERRUPTED


def reached_rungs(trial_dir: Path) -> dict[int, float | None]:
    """The rungs this trial has reached (steps -> the metric there; None when never validated)."""
    return {int(step): value for step, value in read_json(trial_dir / RUNGS_FILE).items()}


def write_marker(trial_dir: Path, status: str, **details) -> None:
    """The completion marker: the trial is finished with `status`."""
    write_text_atomic(trial_dir / MARKER, json.dumps({"status": status, "end": utc_now(), **details}, default=str))


def clear_marker(trial_dir: Path) -> None:
    """Make a finished trial runnable again (used to retry failed trials)."""
    (trial_dir / MARKER).unlink(missing_ok=True)


def is_trial_folder(folder: Path) -> bool:
    """A folder a trial wrote (its claim comes first, then meta.json; empty: a worker killed before
    its claim), not one that only sits in the study folder, such as a report written there
    (`separation report runs/quick -o runs/quick/report`)."""
    return any((folder / name).exists() for name in (CLAIM, "meta.json", "config.yaml", MARKER)) \
        or not any(folder.iterdir())


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
