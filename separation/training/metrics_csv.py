"""`metrics.csv`: every logged scalar of a run, one row per (step, metric).

A long table survives metrics appearing mid-run (a column-per-metric CSV must be
rewritten whenever a new name shows up). Rows are buffered and appended only when
a checkpoint is written or the run finishes, so after a crash the file holds
exactly what the last checkpoint had seen: resuming appends from there without
duplicate steps.
"""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path

from pytorch_lightning.loggers.logger import Logger, rank_zero_experiment
from pytorch_lightning.utilities import rank_zero_only

from separation.training.metrics_reader import COLUMNS


class MetricsCsvLogger(Logger):
    def __init__(self, run_dir: str | Path, filename: str = "metrics.csv"):
        super().__init__()
        self.path = Path(run_dir) / filename
        self._pending: list[tuple] = []
        # Data rows already on disk (a resumed run appends after them).
        self.rows_written = self._count_rows()

    def _count_rows(self) -> int:
        if not self.path.exists():
            return 0
        with open(self.path, newline="") as handle:
            return max(0, sum(1 for _ in csv.reader(handle)) - 1)

    @property
    def rows_at_checkpoint(self) -> int:
        """Rows the file will hold once the checkpoint being written now is flushed."""
        return self.rows_written + len(self._pending)

    @property
    def name(self) -> str:
        return "metrics_csv"

    @property
    def version(self) -> str:
        return ""

    @property
    @rank_zero_experiment
    def experiment(self):
        return self

    @rank_zero_only
    def log_hyperparams(self, params, *args, **kwargs) -> None:
        pass  # the resolved config is stored beside the metrics (config.yaml / checkpoint)

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        now = time.time()
        for name, value in metrics.items():
            self._pending.append((step, name, float(value), now))

    def _flush(self) -> None:
        if not self._pending:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new_file = not self.path.exists()
        with open(self.path, "a", newline="") as handle:
            writer = csv.writer(handle)
            if new_file:
                writer.writerow(COLUMNS)
            writer.writerows(self._pending)
            handle.flush()
            os.fsync(handle.fileno())
        self.rows_written += len(self._pending)
        self._pending.clear()

    @rank_zero_only
    def after_save_checkpoint(self, checkpoint_callback) -> None:
        self._flush()

    def flush(self) -> None:
        """Write what the checkpoint just saved has seen (for checkpoints saved outside ModelCheckpoint)."""
        self._flush()

    @rank_zero_only
    def finalize(self, status: str) -> None:
        # A failed run will be resumed from its last checkpoint: its later rows would be duplicates.
        if status == "success":
            self._flush()
        else:
            self._pending.clear()
