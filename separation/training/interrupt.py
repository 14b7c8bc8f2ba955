"""Ctrl-C and `kill` (SIGINT, SIGTERM) stop a run cleanly at the next step boundary.

The first signal only sets a flag (`requested()`); `StopAtSignal`, a callback,
sees it after the current training step, writes `last.ckpt` at that step and
raises `TrainingInterrupted`, which the CLI turns into exit status 128 + signal
(130 for SIGINT, 143 for SIGTERM). A second signal stops at once, as usual.
Rerunning resumes from that checkpoint mid-epoch: the training loaders are
resumable (`separation.data.resumable`), so the resumed run sees exactly the
batches the uninterrupted one would have.

Handlers are installed by the CLI around `train` and a local `grid` (`handle_signals`), in the main thread only;
library callers (tests, Ray workers) get the callback without the handlers. In a run on several devices
every process installs them, and the processes agree on whether to stop (`agreed_request`): a signal to
any one of them stops all of them after the same step.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from pathlib import Path

import torch
from pytorch_lightning import Callback

from separation.errors import TrainingInterrupted  # defined there so the CLI catches it without importing torch
from separation.lightning_compat import flush_step_metrics

_requested: list[int] = []


def requested() -> int | None:
    """The signal asked for, if any."""
    return _requested[0] if _requested else None


def request(signum: int) -> None:
    if not _requested:
        _requested.append(signum)


def clear() -> None:
    _requested.clear()


def _handler(signum, frame):
    if _requested:  # second signal: the user does not want to wait
        signal.signal(signum, signal.SIG_DFL)
        raise KeyboardInterrupt
    request(signum)
    print(f"\n{signal.Signals(signum).name}: stopping after the current step and saving a checkpoint "
          "(send it again to stop at once)", file=sys.stderr, flush=True)


@contextlib.contextmanager
def handle_signals():
    """Install the SIGINT/SIGTERM handlers for the duration of a CLI command."""
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    clear()
    for signum in previous:
        signal.signal(signum, _handler)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def agreed_request(trainer) -> int | None:
    """The signal asked for in any process of the trainer's run, the same answer in each, or None.

    The processes of a multi-device run must stop after the same step: saving a checkpoint
    and exchanging gradients both wait for every process.
    """
    signum = requested() or 0
    if trainer is not None and trainer.world_size > 1:
        flag = torch.tensor(signum, device=trainer.strategy.root_device)
        signum = int(trainer.strategy.reduce(flag, reduce_op="max"))
    return signum or None


def raise_if_requested(detail: str = "", trainer=None) -> None:
    """Raise `TrainingInterrupted` if a signal came (to any process of `trainer`'s run, when given)."""
    signum = agreed_request(trainer)
    if signum is not None:
        raise TrainingInterrupted(signum, detail)


class StopAtSignal(Callback):
    """After each training step: if a signal came, save `last.ckpt` at this step and stop."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        signum = agreed_request(trainer)
        if signum is None:
            return
        # Lightning sends this step's scalars to the loggers only after this hook; send them
        # now, as it would have, so the resumed run's metrics.csv has no hole at this step.
        flush_step_metrics(trainer)
        path = self.run_dir / "last.ckpt"
        trainer.save_checkpoint(path, weights_only=False)  # the full training state, to resume from
        for logger in trainer.loggers:
            flush = getattr(logger, "flush", None)
            if callable(flush):
                flush()
        raise TrainingInterrupted(signum, f"checkpoint {path} at step {trainer.global_step}")


class KeepSignalHandlers(Callback):
    """In a multi-device run: puts back the SIGTERM handler that Lightning replaces at each fit and test.

    Lightning's own handler broadcasts from inside the handler, on the first process only,
    which leaves the processes' collectives out of step (they hang). `handle_signals` and
    `agreed_request` stop every process after the same step instead.
    """

    def __init__(self):
        self._handler = None

    def setup(self, trainer, pl_module, stage):
        self._handler = signal.getsignal(signal.SIGTERM)  # before Lightning registers its own

    def _restore(self) -> None:
        if self._handler is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._handler)

    def on_train_start(self, trainer, pl_module):
        self._restore()

    def on_test_start(self, trainer, pl_module):
        self._restore()
