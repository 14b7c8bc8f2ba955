"""A quiet terminal during a run: what the libraries say goes to `RUN/train.log` instead.

Lightning prints its banners ("GPU available: ..."), tips and "`Trainer.fit` stopped"
lines through the `logging` loggers `pytorch_lightning` / `lightning_fabric`
(`rank_zero_info`, with a stderr handler of its own), and its warnings, torch's
deprecations among them, through `warnings`. Inside `quiet_run(run_dir)` both are
appended to `run_dir/train.log` (one log per run folder, each sitting after the last),
and so is any other library's logging that would have reached the terminal; on exit
everything is put back. Errors are raised, not logged: the CLI still prints them in one
line. Progress bars (`trainer.enable_progress_bar`) write to the terminal themselves and
are left alone.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import warnings
from pathlib import Path

LOG_FILE = "train.log"
# Lightning's loggers under both package layouts (`pytorch_lightning` and the unified `lightning`).
LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric")
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_DATE = "%Y-%m-%d %H:%M:%S"


class RunLog(logging.Handler):
    """Appends log records and warnings to `path`. Until its folder exists they wait in memory, so a
    run refused before it creates its folder leaves no folder behind (and no log: its error says why)."""

    def __init__(self, path: str | Path | None, header: str = ""):
        super().__init__()
        self.path = Path(path) if path else None  # None: nowhere to write (a run refused for its empty run_dir)
        self.pending: list[str] = [header] if header else []  # written with the first record
        self.setFormatter(logging.Formatter(_FORMAT, _DATE))
        self._write_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        self.write(self.format(record))

    def show_warning(self, message, category, filename, lineno, file=None, line=None) -> None:
        """A `warnings.showwarning` that writes to the log."""
        text = warnings.formatwarning(message, category, filename, lineno, line).strip()
        self.write(f"{time.strftime(_DATE)} WARNING warnings: {text}")

    def write(self, text: str) -> None:
        with self._write_lock:
            self.pending.append(text.rstrip("\n"))
            if self.path is None or not self.path.parent.is_dir():
                return
            try:
                with open(self.path, "a", encoding="utf-8") as log:
                    log.write("\n".join(self.pending) + "\n")
            except OSError:
                pass  # the log is a courtesy: a full disk fails the run at its next checkpoint, not here
            self.pending.clear()


@contextlib.contextmanager
def quiet_run(run_dir: str | Path):
    """Route Lightning's logging, other libraries' logging and `warnings` to `run_dir/train.log`
    for the duration; yields the log's path."""
    handler = RunLog(Path(run_dir) / LOG_FILE if str(run_dir) else None, f"{time.strftime(_DATE)} --- a sitting of {run_dir} starts")
    saved = []
    for name in LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.handlers[:], logger.propagate))
        logger.handlers = [handler]
        logger.propagate = False  # written once, here, not again through the root logger
    root = logging.getLogger()
    root.addHandler(handler)  # a handler on the root: Python's last-resort stderr handler stays silent
    show_warning = warnings.showwarning
    warnings.showwarning = handler.show_warning
    try:
        yield handler.path
    finally:
        warnings.showwarning = show_warning
        root.removeHandler(handler)
        for logger, handlers, propagate in saved:
            logger.handlers = handlers
            logger.propagate = propagate
