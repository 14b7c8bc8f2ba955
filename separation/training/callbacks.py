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


class TargetTracker(pl.Callback):
    """Time-to-target: the first validation at which each metric reached each threshold.

    Targets are `{metric: [thresholds]}` with higher-is-better metrics (e.g.
    `val/si_snri`). For each hit it records the optimizer step, the epoch, and
    training and validation seconds separately (from `StepTimer`). With
    `stop_when_reached` the run ends once every target is met.
    """

    def __init__(self, targets: dict[str, list[float]], timer: StepTimer, stop_when_reached: bool = False):
        self.targets = {metric: sorted(float(t) for t in thresholds) for metric, thresholds in targets.items()}
        self.timer = timer
        self.stop_when_reached = stop_when_reached
        self.reached: dict[str, dict] = {}  # "metric>=threshold" -> when
        self.stopped = False

    @staticmethod
    def key(metric: str, threshold: float) -> str:
        return f"{metric}>={threshold:g}"

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        for metric, thresholds in self.targets.items():
            value = trainer.callback_metrics.get(metric)
            if value is None:
                continue
            value = float(value)
            for threshold in thresholds:
                key = self.key(metric, threshold)
                if key not in self.reached and value >= threshold:
                    self.reached[key] = {
                        "step": int(trainer.global_step),
                        "epoch": int(trainer.current_epoch),
                        "train_seconds": self.timer.train_seconds,
                        "val_seconds": self.timer.val_seconds,
                        "value": value,
                    }
        total = sum(len(t) for t in self.targets.values())
        if self.stop_when_reached and total and len(self.reached) == total:
            self.stopped = True
            trainer.should_stop = True

    def state_dict(self):
        return {"reached": self.reached, "stopped": self.stopped}

    def load_state_dict(self, state_dict):
        self.reached = dict(state_dict.get("reached", {}))
        self.stopped = bool(state_dict.get("stopped", False))


class LrTracker(pl.Callback):
    """Counts the learning-rate reductions training saw (how often a plateau or step schedule fired).

    The LR is read as each training step starts, so a cut counts once a step is taken with it: the same
    rule for every schedule, whether Lightning steps it before or after this callback's epoch hooks (it
    steps StepLR at the epoch's end, a plateau schedule after the validation). A cut after the last step
    (StepLR at the final epoch's end, a plateau on the final validation) changed no step and is not
    counted; the run's `final_lr` still shows it.
    """

    def __init__(self):
        self.reductions = 0
        self.last_lr: float | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        lr = float(trainer.optimizers[0].param_groups[0]["lr"])
        if self.last_lr is not None and lr < self.last_lr * (1 - 1e-9):
            self.reductions += 1
        self.last_lr = lr

    def state_dict(self):
        return {"reductions": self.reductions, "last_lr": self.last_lr}

    def load_state_dict(self, state_dict):
        self.reductions = int(state_dict.get("reductions", 0))
        self.last_lr = state_dict.get("last_lr")
