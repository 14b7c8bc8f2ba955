"""Rung decisions of a pruned study: who goes on, who stops, taken once and kept in the study folder.

A decision is taken for one rung and one group (a value of the `within` axis) as
soon as every trial of the group still in the study has reached the rung (or
finished: a diverged trial ranks as the worst). Cells are ranked by the median
over their seeds of the rung metric (a trial without a finite value there counts as
the worst), ties in spec order; the best `floor(keep * cells)` cells, at least one,
go on. The decision is written to `<study>/pruning/rung-<steps>/<group>.json`
with an exclusive create, so of several workers that take it at once exactly one
records it, and all act on the recorded one. The trials it stops then get their
`DONE` marker with status `pruned` (again by whoever finds them unmarked: a worker
killed between the two steps leaves nothing half-decided).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from separation.atomic import write_text_atomic
from separation.grid.claim import DEFAULT_TIMEOUT, whoami
from separation.grid.rungs import GLOBAL, Rungs
from separation.grid.spec import GridSpec, Trial
from separation.grid.trial_folder import MARKER, read_json, reached_rungs, trial_status, utc_now, write_marker
from separation.outcomes import FINISHED, Status
from separation.training.metrics_reader import value_after

FOLDER = "pruning"
WAIT = "wait"  # `next_stop`: at a rung whose decision is not taken yet


def cell_key(trial: Trial) -> str:
    """The trial's cell: its axis values without the seed."""
    return json.dumps({k: v for k, v in trial.overrides.items() if k != "seed"}, sort_keys=True, default=str)


def group_of(trial: Trial, rungs: Rungs) -> str:
    if rungs.within == GLOBAL:
        return GLOBAL
    if rungs.within == "optimizer":
        return str(trial.config.optimizer.name)
    prefix = f"{rungs.within}."
    values = {k: v for k, v in trial.overrides.items() if k == rungs.within or k.startswith(prefix)}
    return json.dumps(values, sort_keys=True, default=str) if len(values) != 1 else str(next(iter(values.values())))


def groups(spec: GridSpec) -> dict[str, list[Trial]]:
    result: dict[str, list[Trial]] = {}
    for trial in spec.trials:
        result.setdefault(group_of(trial, spec.pruning), []).append(trial)
    return result


def decision_path(study_dir: Path, step: int, group: str) -> Path:
    name = re.sub(r"[^A-Za-z0-9_.+-]+", "_", group).strip("_") or "group"
    return study_dir / FOLDER / f"rung-{step}" / f"{name}.json"


def read_decision(study_dir: Path, step: int, group: str) -> dict | None:
    record = read_json(decision_path(study_dir, step, group))
    return record or None


def next_stop(trial: Trial, spec: GridSpec, study_dir: Path) -> int | None | str:
    """Where the trial trains to next: a rung's steps, None (its full budget), WAIT or PRUNED."""
    rungs = spec.pruning
    reached = reached_rungs(study_dir / trial.id)
    if not reached:
        return rungs.steps[0]
    last = max(reached)
    decision = read_decision(study_dir, last, group_of(trial, rungs))
    if decision is None:
        return WAIT
    if trial.id in decision["pruned"]:
        return Status.PRUNED
    return rungs.next_stop(last)


def _score(trial: Trial, study_dir: Path, step: int, metric: str) -> float | None:
    """The trial's metric at rung `step`, or None while it has not got there (running, or not yet started)."""
    trial_dir = study_dir / trial.id
    reached = reached_rungs(trial_dir)
    if step in reached:
        value = reached[step]
    elif trial_status(trial_dir, DEFAULT_TIMEOUT) in FINISHED:  # diverged or failed before the rung, or a short budget
        value = value_after(trial_dir / "metrics.csv", metric, step)
        if read_json(trial_dir / MARKER).get("status") in (Status.DIVERGED, Status.FAILED):
            value = None
    else:
        return None
    return -math.inf if value is None or not math.isfinite(value) else float(value)


def _members(trials: list[Trial], spec: GridSpec, study_dir: Path, step: int) -> list[Trial]:
    """The group's trials that an earlier rung of this group did not prune."""
    members = []
    for trial in trials:
        earlier = [s for s in spec.pruning.steps if s < step]
        if all(trial.id not in (read_decision(study_dir, s, group_of(trial, spec.pruning)) or {}).get("pruned", [])
               for s in earlier):
            members.append(trial)
    return members


@dataclass
class Decision:
    step: int
    group: str
    record: dict
    taken_here: bool  # this process wrote it (False: another worker had)


def decide(spec: GridSpec, study_dir: Path, step: int, group: str, trials: list[Trial]) -> Decision | None:
    """Take (or read) the decision of rung `step` for `group`; None while a member has not reached it."""
    existing = read_decision(study_dir, step, group)
    if existing is not None:
        _apply(study_dir, existing)
        return Decision(step, group, existing, False)
    rungs = spec.pruning
    members = _members(trials, spec, study_dir, step)
    scores = {}
    for trial in members:
        score = _score(trial, study_dir, step, rungs.metric)
        if score is None:
            return None
        scores[trial.id] = score
    cells: dict[str, list[Trial]] = {}
    for trial in members:
        cells.setdefault(cell_key(trial), []).append(trial)
    medians = {cell: float(np.median([scores[t.id] for t in rows])) for cell, rows in cells.items()}
    order = sorted(cells, key=lambda cell: -medians[cell])  # stable: ties keep spec order
    kept = set(order[:max(1, int(rungs.keep * len(order) + 1e-9))])
    finished = {t.id for t in members if trial_status(study_dir / t.id, DEFAULT_TIMEOUT) in FINISHED}
    record = {
        "rung": step, "group": group, "within": rungs.within, "metric": rungs.metric, "keep": rungs.keep,
        "cells": [{"cell": json.loads(cell), "median": _finite(medians[cell]), "kept": cell in kept,
                   "seeds": {t.id: _finite(scores[t.id]) for t in cells[cell]}} for cell in order],
        "promoted": [t.id for cell in order if cell in kept for t in cells[cell] if t.id not in finished],
        "pruned": [t.id for cell in order if cell not in kept for t in cells[cell] if t.id not in finished],
        "decided_by": whoami(), "time": utc_now(),
    }
    path = decision_path(study_dir, step, group)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp{os.getpid()}")
    temporary.write_text(json.dumps(record, indent=2))
    try:
        os.link(temporary, path)  # fails when another worker recorded it first: theirs stands
        taken = True
    except FileExistsError:
        taken = False
    finally:
        temporary.unlink(missing_ok=True)
    recorded = read_decision(study_dir, step, group)
    _apply(study_dir, recorded)
    return Decision(step, group, recorded, taken)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _apply(study_dir: Path, record: dict) -> None:
    """Mark every trial the decision stops as pruned (those already marked are left alone)."""
    medians = {tid: cell["median"] for cell in record["cells"] for tid in cell["seeds"]}
    for tid in record["pruned"]:
        trial_dir = study_dir / tid
        if (trial_dir / MARKER).exists():
            continue
        median = medians.get(tid)
        reason = (f"pruned at rung {record['rung']}: cell median {record['metric']} "
                  f"{'n/a' if median is None else f'{median:.3f}'}, not among the best {record['keep']:g} of "
                  f"group {record['group']}")
        meta = read_json(trial_dir / "meta.json")
        if meta:
            meta.update(status=Status.PRUNED, reason=reason, rung=record["rung"])
            write_text_atomic(trial_dir / "meta.json", json.dumps(meta, indent=2, default=str))
        write_marker(trial_dir, Status.PRUNED, rung=record["rung"], metric=record["metric"], value=median)


def decide_ready(spec: GridSpec, study_dir: Path) -> list[Decision]:
    """Every decision that can be taken now (or was taken and not applied), rung by rung; the ones found."""
    found = []
    for group, trials in groups(spec).items():
        for step in spec.pruning.steps:
            decision = decide(spec, study_dir, step, group, trials)
            if decision is None:
                break  # later rungs of this group wait for this one
            found.append(decision)
    return found


def rung_cell(trial: Trial, spec: GridSpec, study_dir: Path) -> str:
    """The dry-run's rung column: where the trial stands on the ladder."""
    reached = reached_rungs(study_dir / trial.id)
    marker = read_json(study_dir / trial.id / MARKER)
    if marker.get("status") == Status.PRUNED:
        return f"pruned at {marker.get('rung')}"
    target = next_stop(trial, spec, study_dir)
    if target == WAIT:
        return f"at {max(reached)}, awaiting decision"
    if marker:
        return "full budget"
    where = f"at {max(reached)}, " if reached else ""
    return f"{where}to {'full budget' if target is None else target}"
