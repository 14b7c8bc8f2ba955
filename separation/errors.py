"""The one exception family for bad user input (configs, data folders, files).

The CLI prints these as a single line and exits 2; anything else is a bug and
keeps its traceback. Every layer raises them, so they live here, at the bottom,
and import nothing of the package. `TrainingInterrupted` (a run stopped by a
signal, exit status 128 + signal) is here for the same reason.
"""

import signal


class UserError(ValueError):
    """Bad input from the user; the message names the file or key and what was expected."""


class ConfigError(UserError):
    """A configuration value is missing, unknown or out of range (one-line message)."""

    def __init__(self, message: str = ""):
        # A key or value quoted from the input may hold a line break: shown escaped, the message stays one line.
        super().__init__(str(message).replace("\r", "\\r").replace("\n", "\\n"))


USER_ERRORS = (UserError,)


class TrainingInterrupted(Exception):
    """A run stopped on a signal after saving its checkpoint; `signum` says which (raised by
    separation.training.interrupt; here, below torch, so the CLI can catch it without importing torch)."""

    def __init__(self, signum: int, detail: str = ""):
        self.signum = signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}" + (f": {detail}" if detail else ""))

    @property
    def exit_code(self) -> int:
        return 128 + self.signum
