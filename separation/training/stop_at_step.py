"""Pause a run at a given optimizer step without changing its config (a rung of a pruned grid).

The run's budgets, and so its learning-rate schedule, stay the full-budget ones:
the paused run is the first part of the full run, and `train` continues it from
`last.ckpt` to the same weights and metrics as a run never paused. At the last
batch of an epoch the run stops as Lightning's early stopping does, after the
epoch's validation (the rung is ranked on it); elsewhere it saves `last.ckpt` at
the step and leaves the fit the way an interruption does (`StopAtSignal`), since
a resumed run continues mid-epoch exactly only from such a checkpoint (an epoch
ended early is not resumed where it stopped).
"""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl

from separation.lightning_compat import flush_step_metrics


class PausedAtStep(Exception):
    """Raised out of `trainer.fit` by `StopAtStep` after saving the checkpoint mid-epoch."""


class StopAtStep(pl.Callback):
    """Stops training once `trainer.global_step` reaches `step`; `stopped` says whether it did."""

    def __init__(self, step: int, run_dir: Path):
        self.step = int(step)
        self.run_dir = Path(run_dir)
        self.stopped = False

    def on_train_start(self, trainer, pl_module):
        # A run resumed at or past the step (it paused there, then its worker died) has nothing to train.
        if trainer.global_step >= self.step:
            self.stopped = True
            raise PausedAtStep(f"already at step {trainer.global_step}")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step < self.step:
            return
        self.stopped = True
        if batch_idx + 1 >= trainer.num_training_batches:
            trainer.should_stop = True  # the epoch's validation and checkpoint follow
            return
        flush_step_metrics(trainer)  # this step's scalars, as StopAtSignal sends them
        trainer.save_checkpoint(self.run_dir / "last.ckpt", weights_only=False)
        for logger in trainer.loggers:
            flush = getattr(logger, "flush", None)
            if callable(flush):
                flush()
        raise PausedAtStep(f"checkpoint at step {trainer.global_step}")
