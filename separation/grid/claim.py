"""Trial claims: several grid workers on one study folder train each trial once.

Before a worker trains a trial it creates `<trial>/CLAIM` with `O_CREAT | O_EXCL`
(atomic on local disks and on NFSv3+), holding who it is: host, boot id, pid,
a random token and the start time. While it trains, a thread refreshes the
file's modification time (the heartbeat). Another worker that finds the file
skips the trial, unless the claim is dead:

- same machine (host name and boot id agree) and the pid is gone: dead at once;
- any machine: heartbeat older than `timeout` seconds (hosts sharing a folder
  must keep their clocks in step, as NTP does, to well within the timeout).

A dead claim is taken over under a short-lived takeover lock, so two workers
never both take over the same claim; the takeover is returned to the caller,
which records it in `meta.json`. The lock is `CLAIM.takeover`, created with
`O_EXCL`. A lock left by a crashed worker (its process gone, or older than
`TAKEOVER_LOCK_SECONDS`) is never deleted and created again under the same
name, since two workers that both judged it stale would then both hold "the"
lock; they race for the next name, `CLAIM.takeover.1`, which `O_EXCL` gives to
exactly one of them. The owner deletes its claim after
writing the trial's `DONE` marker, so no worker sees an unclaimed unfinished trial
that is in fact finished.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

CLAIM = "CLAIM"
DEFAULT_TIMEOUT = 300.0  # seconds without a heartbeat before a claim on another machine is dead
TAKEOVER_LOCK_SECONDS = 60.0  # a takeover lock older than this was left by a crashed worker
TAKEOVER_LOCK = f"{CLAIM}.takeover"
MAX_TAKEOVER_LOCKS = 100  # names tried past stale locks; each crash mid-takeover leaves one


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return True
    return True


def whoami() -> dict:
    return {"host": socket.gethostname(), "boot_id": _boot_id(), "pid": os.getpid()}


@dataclass
class ClaimState:
    """What a claim file says, and whether its owner is still there."""

    owner: dict
    heartbeat_age: float  # seconds since the owner last refreshed it
    alive: bool
    reason: str = ""  # why it is dead

    def describe(self) -> str:
        who = f"{self.owner.get('host', '?')}:{self.owner.get('pid', '?')}"
        if self.alive:
            return f"{who}, heartbeat {self.heartbeat_age:.0f} s ago"
        return f"{who}, dead ({self.reason})"


def read_claim(trial_dir: Path, timeout: float = DEFAULT_TIMEOUT) -> ClaimState | None:
    """The claim on a trial, or None when nobody holds one."""
    path = trial_dir / CLAIM
    try:
        stat = path.stat()
        owner = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        # Half-created by a worker that died between create and write: judged by age alone.
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        owner = {}
    if not isinstance(owner, dict):
        owner = {}
    age = max(0.0, time.time() - stat.st_mtime)
    me = whoami()
    same_machine = owner.get("host") == me["host"] and owner.get("boot_id") == me["boot_id"] and owner.get("boot_id")
    if same_machine and isinstance(owner.get("pid"), int) and not _pid_alive(owner["pid"]):
        return ClaimState(owner, age, False, f"process {owner['pid']} is gone")
    if age > timeout:
        return ClaimState(owner, age, False, f"no heartbeat for {age:.0f} s (timeout {timeout:.0f} s)")
    return ClaimState(owner, age, True)


def _create_exclusive(path: Path, content: dict) -> bool:
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w") as handle:
        json.dump(content, handle)
        handle.flush()
        os.fsync(handle.fileno())
    return True


def _lock_stale(lock: Path) -> bool:
    """Left by a crashed worker: its process is gone (same machine), or it is older than `TAKEOVER_LOCK_SECONDS`."""
    try:
        age = time.time() - lock.stat().st_mtime
        owner = json.loads(lock.read_text())
    except FileNotFoundError:
        return False  # released just now: its holder finished the takeover
    except (OSError, ValueError):
        owner = {}  # created, not yet written (or never: judged by age)
    me = whoami()
    if (isinstance(owner, dict) and owner.get("host") == me["host"] and owner.get("boot_id") == me["boot_id"]
            and owner.get("boot_id") and isinstance(owner.get("pid"), int) and not _pid_alive(owner["pid"])):
        return True
    return age > TAKEOVER_LOCK_SECONDS


def _lock_takeover(trial_dir: Path) -> Path | None:
    """The takeover lock this worker now holds, or None when a live worker holds it.

    Each name is created with `O_EXCL` and removed only by its creator, so one worker
    at a time holds it; past a stale name the workers race for the next one.
    """
    for number in range(MAX_TAKEOVER_LOCKS):
        lock = trial_dir / (TAKEOVER_LOCK if number == 0 else f"{TAKEOVER_LOCK}.{number}")
        if _create_exclusive(lock, whoami()):
            return lock
        if not _lock_stale(lock):
            return None
    return None


@dataclass
class TrialClaim:
    """One worker's claim on one trial folder; `acquire` it, then `release` it when done.

    `interval` is the heartbeat period (default: a tenth of the timeout).
    """

    trial_dir: Path
    timeout: float = DEFAULT_TIMEOUT
    interval: float | None = None
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    takeover: dict | None = None  # the dead claim this one replaced, if any
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def path(self) -> Path:
        return self.trial_dir / CLAIM

    def _content(self) -> dict:
        return {**whoami(), "token": self.token, "started": time.time(),
                "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

    def acquire(self) -> bool:
        """True when this worker now owns the trial (possibly by taking over a dead claim)."""
        self.trial_dir.mkdir(parents=True, exist_ok=True)
        if not _create_exclusive(self.path, self._content()):
            state = read_claim(self.trial_dir, self.timeout)
            if state is None:  # released between our attempt and the read
                if not _create_exclusive(self.path, self._content()):
                    return False
            elif state.alive or not self._take_over(state):
                return False
        self._start_heartbeat()
        return True

    def _take_over(self, dead: ClaimState) -> bool:
        lock = _lock_takeover(self.trial_dir)
        if lock is None:
            return False  # another worker is taking it over right now
        try:
            again = read_claim(self.trial_dir, self.timeout)
            if again is not None and (again.alive or again.owner.get("token") != dead.owner.get("token")):
                return False  # revived or replaced since we looked
            self.path.unlink(missing_ok=True)
            if not _create_exclusive(self.path, self._content()):
                return False
            self.takeover = {"previous_owner": dead.owner, "reason": dead.reason,
                             "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "by": whoami()}
            return True
        finally:
            lock.unlink(missing_ok=True)

    def owned(self) -> bool:
        try:
            return json.loads(self.path.read_text()).get("token") == self.token
        except (OSError, ValueError, AttributeError):
            return False

    def _start_heartbeat(self) -> None:
        period = self.interval if self.interval is not None else max(1.0, self.timeout / 10)

        def beat():
            while not self._stop.wait(period):
                if not self.owned():
                    return  # taken over (we were judged dead): leave the new owner's file alone
                try:
                    os.utime(self.path)
                except OSError:
                    pass

        self._thread = threading.Thread(target=beat, name=f"claim-heartbeat-{self.trial_dir.name}", daemon=True)
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.owned():
            self.path.unlink(missing_ok=True)
