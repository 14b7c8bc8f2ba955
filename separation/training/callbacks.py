"""Callbacks that measure time: seconds per step, and training vs validation wall time."""

from __future__ import annotations

import time

import pytorch_lightning as pl


class StepTimer(pl.Callback):
    """Logs `train/sec_per_step` and keeps training and validation time apart.

    Cumulative `train_seconds` / `val_seconds` survive resumption (they are
    callback state in the checkpoint), so time-to-target is in training time
    however many sittings a run took.
    """

    def __init__(self):
        self.train_seconds = 0.0
        self.val_seconds = 0.0
        self._step_start: float | None = None
        self._val_start: float | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._step_start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self._step_start is None:
            return
        elapsed = time.perf_counter() - self._step_start
        self.train_seconds += elapsed
        self._step_start = None
        pl_module.log("train/sec_per_step", elapsed)

    def on_validation_start(self, trainer, pl_module):
        self._val_start = time.perf_counter()

    def on_validation_end(self, trainer, pl_module):
        if self._val_start is not None and not trainer.sanity_checking:
            self.val_seconds += time.perf_counter() - self._val_start
        self._val_start = None

    def state_dict(self):
        return {"train_seconds": self.train_seconds, "val_seconds": self.val_seconds}

    def load_state_dict(self, state_dict):
        self.train_seconds = float(state_dict.get("train_seconds", 0.0))
        self.val_seconds = float(state_dict.get("val_seconds", 0.0))
