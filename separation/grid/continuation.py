"""Start a longer trial where a finished shorter one of the same recipe stopped (spec key `continue_shorter`).

A trial that differs from a completed trial of its study folder only by a larger
`trainer.max_epochs` passes through the same states for as long as the shorter
one trained: same seed, same data order, same updates. So instead of training
those steps again, the longer trial's folder is seeded with the shorter trial's
training state (checkpoints, config, curves) and `train` continues it as a
raised budget (`separation.training.run_folder`: recorded in the trial's
`budget_changes.json`). tests/test_grid_continuation.py checks that the result
equals training the longer trial from step 0.

Only a schedule that does not read the budget can be continued: a cosine laid over
the shorter budget is a different schedule from step 0 (`SHAPED_BY_BUDGET`), so
such a trial trains from scratch. The shorter trial's folder is only read.
"""

from __future__ import annotations

from pathlib import Path

from separation.atomic import write_bytes_atomic
from separation.errors import UserError
from separation.grid.spec import Trial
from separation.grid.trial_folder import MARKER, read_json
from separation.optim import SHAPED_BY_BUDGET
from separation.outcomes import Status
from separation.training.run_folder import budget_changes

# What a run folder holds of its training state; config.yaml is copied last, so a folder that has
# it holds the rest (a worker killed mid-copy leaves no config.yaml, and the copy is made again).
STATE_FILES = ("last.ckpt", "best.ckpt", "metrics.csv", "hparams.yaml", "budget_changes.json")
EVENTS_GLOB = "events.out.tfevents.*"
BUDGET_KEY = "trainer.max_epochs"


def _continues(trial: Trial, folder: Path) -> float | None:
    """The `trainer.max_epochs` of `folder`'s run when `train` would continue it as `trial` with only that
    budget raised (the comparison `train` itself makes: `budget_changes`), else None."""
    try:
        changes = budget_changes(trial.config, folder)
    except UserError:  # another recipe, a lowered budget, or a folder `train` cannot read
        return None
    if [change["key"] for change in changes] != [BUDGET_KEY]:  # the same budget, or another budget raised
        return None
    return float(changes[0]["from"])


def shorter_trial(trial: Trial, study_dir: Path) -> Path | None:
    """The completed trial folder of `study_dir` with the same training config as `trial` but a smaller
    `trainer.max_epochs` (the longest such), or None. None too when the trial's schedule reads the budget."""
    if trial.config.scheduler.name in SHAPED_BY_BUDGET:
        return None
    best, best_epochs = None, -1.0
    for folder in sorted(p for p in study_dir.iterdir() if p.is_dir() and p.name != trial.id):
        if read_json(folder / MARKER).get("status") != Status.COMPLETED or not (folder / "last.ckpt").is_file():
            continue
        epochs = _continues(trial, folder)
        if epochs is not None and epochs > best_epochs:
            best, best_epochs = folder, epochs
    return best


def seed_from(source: Path, trial_dir: Path) -> None:
    """Copy `source`'s training state into `trial_dir` (each file atomically, config.yaml last)."""
    names = [name for name in STATE_FILES if (source / name).is_file()]
    names += sorted(path.name for path in source.glob(EVENTS_GLOB) if path.is_file())
    for name in [*names, "config.yaml"]:
        write_bytes_atomic(trial_dir / name, (source / name).read_bytes())


def needs_seed(trial_dir: Path) -> bool:
    """True for a trial folder that has not trained yet (no config.yaml: `train` writes it before the first step)."""
    return not (trial_dir / "config.yaml").is_file()

