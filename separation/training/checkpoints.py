"""Training checkpoints that survive crashes: atomic writes, and a resume point that loads.

Lightning writes a checkpoint straight into its final name, so a process killed
mid-write leaves a truncated `last.ckpt` that fails every later resume. Here a
checkpoint is written beside its name, flushed to disk and renamed over it.

At resume, `choose_resume_point` opens every checkpoint of the run folder the way
the suite always does (`torch.load(weights_only=True)`, so no file can run code),
moves each one that does not load aside as `<name>.corrupt-<UTC time>` (saying so
on stderr: which file, its new name, the step training resumes from), and picks
the loadable one furthest into training. Each checkpoint records how many
`metrics.csv` rows existed when it was written, so resuming from an older one
first cuts `metrics.csv` back to that point (no step is ever logged twice).
"""

from __future__ import annotations

import csv
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning import Callback

from separation.lightning_compat import TRAINING_STATE_KEYS

CHECKPOINT_NAMES = ("last.ckpt", "best.ckpt")
METRICS_ROWS_KEY = "metrics_csv_rows"


class AtomicCheckpointIO(TorchCheckpointIO):
    """`TorchCheckpointIO` that writes to a temporary name and renames, so a reader never sees half a file."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp{os.getpid()}")
        try:
            with open(temporary, "wb") as handle:
                torch.save(checkpoint, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)


def _utc_stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def _unused(path: Path) -> Path:
    """`path`, or `path-2`, `path-3`, ...: the first name nothing holds (two set-asides in
    one second must not overwrite the first)."""
    candidate, number = path, 1
    while candidate.exists() or candidate.is_symlink():
        number += 1
        candidate = path.with_name(f"{path.name}-{number}")
    return candidate


def _loadable(path: Path) -> dict | None:
    """The checkpoint's training state, or None when it is not a weights-only training checkpoint."""
    try:
        with warnings.catch_warnings():
            # PyTorch warns about the pickle protocol of a file it then refuses: our line says why.
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # truncated, random bytes, a pickle with code: all the same to a resume
        return None
    if not isinstance(state, dict) or not TRAINING_STATE_KEYS <= set(state):
        return None
    return state


@dataclass
class ResumePoint:
    """Where a run continues from: `path` None means step 0."""

    path: Path | None = None
    global_step: int = 0
    metrics_rows: int | None = None  # metrics.csv data rows the checkpoint had seen
    set_aside: list[str] = field(default_factory=list)  # corrupt files moved away, by their new names
    superseded: str | None = None  # folder the old curves went to when training starts again from step 0
    trimmed_rows: list = field(default_factory=list, repr=False)  # metrics.csv rows cut back (not recorded)

    def to_dict(self) -> dict:
        return {
            "resumed_from": self.path.name if self.path else None,
            "global_step": self.global_step,
            "set_aside": list(self.set_aside),
            "superseded": self.superseded,
        }


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def choose_resume_point(run_dir: Path, log: Callable[[str], None] | None = _stderr) -> ResumePoint:
    """Set corrupt checkpoints aside and return the newest one that loads (or step 0).

    `log` gets one line per checkpoint set aside: a run that silently starts again
    from step 0 would look like a resumed one everywhere but in meta.json.
    """
    point = ResumePoint()
    best_key = None
    moved: list[tuple[Path, Path]] = []
    for name in CHECKPOINT_NAMES:
        path = run_dir / name
        if not path.exists():
            continue
        state = _loadable(path)
        if state is None:
            aside = _unused(path.with_name(f"{name}.corrupt-{_utc_stamp()}"))
            os.replace(path, aside)
            point.set_aside.append(aside.name)
            moved.append((path, aside))
            continue
        key = (int(state.get("global_step", 0)), name == "last.ckpt")
        if best_key is None or key > best_key:
            best_key = key
            rows = state.get(METRICS_ROWS_KEY)
            point.path, point.global_step = path, key[0]
            point.metrics_rows = int(rows) if isinstance(rows, int) else None
    if log is not None:
        resumes = f"step {point.global_step} ({point.path.name})" if point.path else "step 0 (no checkpoint loads)"
        for path, aside in moved:
            log(f"separation: {path}: not a loadable training checkpoint, moved aside to {aside.name}; "
                f"training resumes from {resumes}")
    return point


def trim_metrics_csv(path: Path, keep_rows: int) -> list[list[str]]:
    """Keep the header and the first `keep_rows` rows of a metrics.csv (rewritten atomically);
    returns the rows cut off."""
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    if len(rows) <= keep_rows + 1:
        return []
    _write_rows(path, rows[: keep_rows + 1])
    return rows[keep_rows + 1:]


def restore_metrics_rows(path: Path, rows: list[list[str]]) -> None:
    """Put back rows `trim_metrics_csv` cut when the resumed run logged nothing after all
    (it resumed at the end of training, so nothing it cut is logged again)."""
    if not rows:
        return
    with open(path, newline="") as handle:
        current = list(csv.reader(handle))
    _write_rows(path, current + rows)


TEST_PREFIXES = ("test/", "hp/test_")


def drop_previous_test_rows(path: Path) -> None:
    """Before the test pass runs again on a resumed run: remove the rows an earlier test pass
    logged (from its first test metric to its last), so metrics.csv holds one test pass."""
    if not path.exists():
        return
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    marks = [i for i, row in enumerate(rows[1:], start=1) if len(row) > 1 and row[1].startswith(TEST_PREFIXES)]
    if marks:
        end = marks[-1] + 1
        # Lightning adds an `epoch` row to each logging call, after its metrics.
        while end < len(rows) and len(rows[end]) > 1 and rows[end][1] == "epoch" and rows[end][0] == rows[marks[-1]][0]:
            end += 1
        _write_rows(path, rows[: marks[0]] + rows[end:])


def _write_rows(path: Path, rows: list[list[str]]) -> None:
    temporary = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(temporary, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def set_aside_history(run_dir: Path) -> str | None:
    """Before training again from step 0: move the old metrics and TensorBoard events into
    `superseded-<UTC time>/` (kept, not deleted), so the new curves are not mixed with them."""
    old = [p for p in run_dir.glob("events.out.tfevents.*")] + [p for p in (run_dir / "metrics.csv",) if p.exists()]
    if not old:
        return None
    target = _unused(run_dir / f"superseded-{_utc_stamp()}")  # a fresh folder: nothing in it is overwritten
    target.mkdir()
    for path in old:
        shutil.move(str(path), target / path.name)
    return target.name


class RecordMetricsRows(Callback):
    """Stores in each checkpoint how many metrics.csv rows it has seen (see `trim_metrics_csv`)."""

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        from separation.training.metrics_csv import MetricsCsvLogger

        for logger in trainer.loggers:
            if isinstance(logger, MetricsCsvLogger):
                checkpoint[METRICS_ROWS_KEY] = logger.rows_at_checkpoint
