"""What state a trial is in: one vocabulary for training, the grid and the analysis.

Training returns a status (`separation.train`), the grid records it in the
trial's `DONE` marker and `meta.json` (`separation.grid.trial`), and the
analysis counts trials by it (`separation.analysis`). The statuses are a
string enum, so a status is written, compared and hashed as its plain string:
markers, `meta.json` and `trials.csv` hold the same words as before this enum,
and a string read back from them equals its member (`enum.StrEnum` behaves so
from Python 3.11; it is written out here for 3.10).

This module imports nothing of the package: every layer may use it.
"""

from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    __str__ = str.__str__
    __format__ = str.__format__
    __hash__ = str.__hash__

    # Finished: the trial's DONE marker names one of these.
    COMPLETED = "completed"  # trained its whole budget
    STOPPED_AT_TARGET = "stopped-at-target"  # reached every target with `stop_at_target`
    DIVERGED = "diverged"  # a non-finite loss stopped it
    COLLAPSED = "collapsed"  # finished, but its estimates separate nothing (separation.evaluation.collapse)
    FAILED = "failed"  # crashed: an error of the run, not a result
    # A pruned study's trial stopped at a rung for good: an outcome of the study's design (the grid exits 0),
    # not of the optimizer, so no statistic but the report's pruning section counts it.
    PRUNED = "pruned"
    # Not finished.
    PAUSED = "paused"  # at a rung of a pruned study, its checkpoint kept, until the rung's decision
    RUNNING = "running"  # a live worker holds its claim
    INTERRUPTED = "interrupted"  # stopped before its marker; the next run resumes it
    MISSING = "missing"  # planned by the spec, never started


# Finished trials whose status is a result of the study, not an error of the run: those whose final
# metrics mean something (OK) and those whose metrics do not count (LOST: a diverged run has none, a
# collapsed one separates nothing). OUTCOMES: what the optimizer did; failed, interrupted and missing
# trials say nothing about it.
OK = (Status.COMPLETED, Status.STOPPED_AT_TARGET)
LOST = (Status.DIVERGED, Status.COLLAPSED)
OUTCOMES = (*OK, *LOST)
# Every status a DONE marker may hold: the trial is not run again.
FINISHED = (Status.COMPLETED, Status.DIVERGED, Status.COLLAPSED, Status.FAILED, Status.STOPPED_AT_TARGET, Status.PRUNED)
# Planned trials that have not finished and are not training now: the report's "not run".
NOT_RUN = (Status.INTERRUPTED, Status.MISSING)
# Planned trials still being trained: waiting at a rung of a pruned study, or held by a live worker.
TRAINING = (Status.PAUSED, Status.RUNNING)
