"""One run on several devices (`trainer.devices > 1`): the calling process and its helpers.

The process that calls `train` is rank 0: it alone prepares the run folder, picks
the checkpoint to resume from and writes `summary.json`. `ProcessGroup` starts one
helper process per further device (`multiprocessing`'s spawn: no script is run
again, so it works from the CLI, a grid worker, a notebook or a test) and sets the
environment by which Lightning's "ddp" strategy finds its rank, the world size and
the address where the processes meet, instead of launching processes itself.
Every process then trains and tests the same way: Lightning saves checkpoints from
rank 0 only, the loggers write from rank 0 only, and validation and test metrics
are reduced across processes.

A helper that fails ends the run: the others are stopped, the calling process is
interrupted (it would otherwise wait for the lost process until the process group's
timeout) and reports the failure in one line.
"""

from __future__ import annotations

import _thread
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable

import torch
from pytorch_lightning.strategies import DDPStrategy

from separation.errors import USER_ERRORS, UserError

# What Lightning's LightningEnvironment reads; LOCAL_RANK tells it the processes exist already.
ENVIRONMENT = ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "NODE_RANK", "LOCAL_RANK")
ADDRESS = "127.0.0.1"
EXIT_USER_ERROR = 2  # as the CLI's


class DDP(DDPStrategy):
    """Lightning's DDP, with means of integers across processes taken in floating point.

    A metric logged with `sync_dist=True` is reduced as (mean of the processes' weighted
    sums) / (mean of their item counts); Lightning averages the integer counts in integer
    arithmetic, so when the processes saw different numbers of items (3 validation items
    on 2 processes) the count is truncated and the metric comes out wrong (1.5 times too
    large in that case).
    """

    def reduce(self, tensor, group=None, reduce_op="mean"):
        if isinstance(tensor, torch.Tensor) and not tensor.is_floating_point() and reduce_op in ("mean", "avg"):
            tensor = tensor.double()
        return super().reduce(tensor, group, reduce_op)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((ADDRESS, 0))
        return int(probe.getsockname()[1])


def _helper(target: Callable, args: tuple, environment: dict[str, str]) -> None:
    """A helper process's body: the rank's environment, the CLI's signal handling, one-line user errors."""
    from separation.training.interrupt import TrainingInterrupted, handle_signals

    os.environ.update(environment)
    rank = environment["LOCAL_RANK"]
    try:
        with handle_signals():  # a Ctrl-C reaches every process; all stop after the same step
            target(*args)
    except TrainingInterrupted as interruption:
        sys.exit(interruption.exit_code)
    except USER_ERRORS as error:
        print(f"separation: error in process {rank}: {str(error).strip().splitlines()[0]}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)


class ProcessGroup:
    """`with ProcessGroup(n) as group:` rank 0's environment; `group.start(target, args)` the helpers.

    Build the trainer between the two (Lightning reads the environment when it is built,
    and a bad trainer setting then fails before any helper exists). On leaving, the
    helpers are awaited (after a failure in this process: stopped), the environment is
    put back and the process group is closed, so the same Python process can train again.
    """

    def __init__(self, world_size: int):
        self.world_size = world_size
        self.environment = {"MASTER_ADDR": ADDRESS, "MASTER_PORT": str(_free_port()),
                            "WORLD_SIZE": str(world_size), "NODE_RANK": "0"}
        self.helpers: list[multiprocessing.Process] = []
        self._saved: dict[str, str | None] = {}
        self._done = threading.Event()
        self.helper_failed = False

    def __enter__(self) -> "ProcessGroup":
        if "LOCAL_RANK" in os.environ:
            raise UserError("trainer.devices > 1 starts its own processes: run `separation train` directly, "
                            "not under torchrun or another launcher that sets LOCAL_RANK")
        self._saved = {name: os.environ.get(name) for name in ENVIRONMENT}
        os.environ.update(self.environment, LOCAL_RANK="0")
        return self

    def start(self, target: Callable, args: tuple) -> None:
        """Start ranks 1 .. world_size - 1, each running `target(*args)` (importable and picklable)."""
        context = multiprocessing.get_context("spawn")
        for rank in range(1, self.world_size):
            helper = context.Process(target=_helper, args=(target, args, {**self.environment, "LOCAL_RANK": str(rank)}),
                                     name=f"separation-rank-{rank}")
            helper.start()
            self.helpers.append(helper)
        threading.Thread(target=self._watch, name="separation-rank-watch", daemon=True).start()

    def _watch(self, poll: float = 1.0, grace: float = 60.0) -> None:
        """Interrupt this process when a helper fails; if it is stuck in a collective, end it after `grace`."""
        while not self._done.wait(poll):
            if self.failed():
                break
        else:
            return
        self.helper_failed = True
        for helper in self.helpers:
            if helper.is_alive():
                helper.terminate()
        _thread.interrupt_main()
        if not self._done.wait(grace):
            print(f"separation: error: a run on {self.world_size} devices failed: {'; '.join(self.failed())}",
                  file=sys.stderr, flush=True)
            os._exit(1)

    def failed(self) -> list[str]:
        """How each helper that ended badly ended (a clean stop on a signal, status 128 + n, is not bad)."""
        failures = []
        for rank, helper in enumerate(self.helpers, start=1):
            code = helper.exitcode
            if code is not None and code < 0:
                failures.append(f"process {rank} was killed by {signal.Signals(-code).name}")
            elif code is not None and 0 < code < 128:
                failures.append(f"process {rank} exited with status {code} (its error is printed above)")
        return failures

    def __exit__(self, kind, error, trace) -> bool:
        self._done.set()
        try:
            if kind is None:
                for helper in self.helpers:
                    helper.join()
            else:
                self._stop_helpers()
        finally:
            self._close()
        failures = self.failed()
        if failures and (kind is None or self.helper_failed or not issubclass(kind, (KeyboardInterrupt, SystemExit))):
            # A helper's failure shows here as a broken connection or a timeout: name the cause instead.
            raise UserError(f"a run on {self.world_size} devices failed: {'; '.join(failures)}") from error
        return False

    def _stop_helpers(self, grace: float = 30.0) -> None:
        deadline = time.monotonic() + grace  # time to finish the step and save after a signal
        for helper in self.helpers:
            helper.join(max(0.0, deadline - time.monotonic()))
        for helper in self.helpers:
            if helper.is_alive():
                helper.terminate()
                helper.join(5)
            if helper.is_alive():
                helper.kill()
                helper.join()

    def _close(self) -> None:
        import torch.distributed

        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
