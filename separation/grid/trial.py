"""One trial directory: run it, record it, and tell later what state it is in.

`runs/<study>/<trial-id>/` holds `config.yaml` (resolved), `meta.json`
(provenance and outcome), `metrics.csv`, TensorBoard events, `last.ckpt`,
`summary.json`, `train.log` (what Lightning and other libraries said) and,
written last, the completion marker `DONE`. Only the marker
makes a trial finished: a trial killed at any earlier point is resumed from its
checkpoint next time, never mistaken for a finished one.

In a pruned study (`separation.grid.rungs`) a trial trains in segments: each
stops at a rung with its checkpoint and adds the rung's metric to `rungs.json`
(status `paused`, no marker); the rung's decision (`separation.grid.pruning`)
either sends it on or writes its marker with status `pruned`.

A worker trains a trial only while it holds the trial's claim (`separation.grid.claim`),
so several workers on one study folder train each trial once.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import platform
import subprocess
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from separation.atomic import write_text_atomic
from separation.grid.claim import CLAIM, DEFAULT_TIMEOUT, TrialClaim, read_claim, whoami
from separation.grid.spec import Trial
from separation.training.interrupt import TrainingInterrupted
from separation.training.metrics_reader import value_after
from separation.training.quiet import quiet_run

MARKER = "DONE"
FINISHED = ("completed", "diverged", "collapsed", "failed", "stopped-at-target", "pruned")
# Finished trials whose status is a result of the study, not an error of the run: those whose final
# metrics mean something (OK) and those whose metrics do not count (LOST: a diverged run has none, a
# collapsed one separates nothing, separation.evaluation.collapse).
OK = ("completed", "stopped-at-target")
LOST = ("diverged", "collapsed")
OUTCOMES = (*OK, *LOST)
# A pruned study's trial stopped at a rung for good: an outcome of the study's design (the grid exits 0),
# not of the optimizer, so no statistic but the report's pruning section counts it.
PRUNED = "pruned"
# Stopped at a rung, its checkpoint kept, until the rung's decision sends it on (or prunes it).
PAUSED = "paused"
RUNGS_FILE = "rungs.json"  # in a trial folder: rung (steps) -> its metric there, one entry per rung reached
# Status of a trial another live worker is training (see `run_trial`'s return value).
RUNNING = "running"


def trial_status(trial_dir: Path, claim_timeout: float = DEFAULT_TIMEOUT) -> str:
    """completed | diverged | collapsed | failed | stopped-at-target | pruned (finished), running (a live
    worker holds its claim), paused (at a rung of a pruned study), interrupted, or missing."""
    marker = trial_dir / MARKER
    if marker.exists():
        try:
            return json.loads(marker.read_text())["status"]
        except (ValueError, KeyError, OSError):
            return "interrupted"  # a marker we cannot read is not trusted
    if not trial_dir.exists():
        return "missing"
    claim = read_claim(trial_dir, claim_timeout)
    if claim is not None and claim.alive:
        return RUNNING
    return PAUSED if reached_rungs(trial_dir) else "interrupted"


def reached_rungs(trial_dir: Path) -> dict[int, float | None]:
    """The rungs this trial has reached (steps -> the metric there; None when never validated)."""
    return {int(step): value for step, value in read_json(trial_dir / RUNGS_FILE).items()}


def write_marker(trial_dir: Path, status: str, **details) -> None:
    """The completion marker: the trial is finished with `status`."""
    write_text_atomic(trial_dir / MARKER, json.dumps({"status": status, "end": _now(), **details}, default=str))


def is_trial_folder(folder: Path) -> bool:
    """A folder a trial wrote (its claim comes first, then meta.json; empty: a worker killed before
    its claim), not one that only sits in the study folder, such as a report written there
    (`separation report runs/quick -o runs/quick/report`)."""
    return any((folder / name).exists() for name in (CLAIM, "meta.json", "config.yaml", MARKER)) \
        or not any(folder.iterdir())


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


@functools.lru_cache(maxsize=1)
def _git_commit() -> str | None:
    """HEAD (with -dirty) when the process first asks: once per process, because a
    grid process keeps running the code it imported at launch, whatever is
    committed while it runs (recording HEAD per trial misattributed trials)."""
    try:
        root = Path(__file__).resolve().parents[2]
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    result = {"python": platform.python_version()}
    for package in ("separation", "torch", "torchaudio", "pytorch-lightning", "numpy"):
        try:
            result[package] = version(package)
        except PackageNotFoundError:
            result[package] = "not installed"
    return result


def _device(config) -> str:
    import torch

    if config.trainer.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)}"
    return f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run_trial(trial: Trial, study_dir: Path, packing: int = 1, plugins=None, engine: str = "local",
              claim_timeout: float = DEFAULT_TIMEOUT, rung: tuple[int, str] | None = None) -> str:
    """Train one trial (resuming if it was interrupted) and record its outcome; returns the status.

    `rung` (steps, metric): train only to that rung, record the metric there in `rungs.json` and
    return `paused` (no marker); without it the trial trains to its full budget.

    Returns `running` without touching the trial when another live worker holds it, and
    the trial's status without training when it finished meanwhile. Raises
    `TrainingInterrupted` (after recording the trial as `interrupted`) on SIGINT/SIGTERM.
    """
    trial_dir = study_dir / trial.id
    claim = TrialClaim(trial_dir, timeout=claim_timeout)
    if not claim.acquire():
        return RUNNING
    try:
        status = trial_status(trial_dir, claim_timeout)
        if status in FINISHED:  # finished by another worker between our listing and our claim
            return status
        if rung is not None and rung[0] in reached_rungs(trial_dir):  # so was this segment
            return PAUSED
        return _run_claimed(trial, trial_dir, study_dir, claim, packing, plugins, engine, rung)
    finally:
        claim.release()  # after DONE is written: no worker ever sees it unclaimed and unfinished


def _run_claimed(trial: Trial, trial_dir: Path, study_dir: Path, claim: TrialClaim, packing, plugins, engine,
                 rung: tuple[int, str] | None = None) -> str:
    config = dataclasses.replace(trial.config, run_dir=str(trial_dir))
    previous = read_json(trial_dir / "meta.json")
    meta = {
        "id": trial.id,
        "study": study_dir.name,
        "axes": trial.overrides,
        "git_commit": _git_commit(),
        "versions": _versions(),
        "device": _device(config),
        "engine": engine,
        "packing": packing,
        "start": previous.get("start", _now()),
        "attempts": int(previous.get("attempts", 0)) + 1,
        "status": "running",
        "worker": whoami(),
        "takeovers": list(previous.get("takeovers", [])) + ([claim.takeover] if claim.takeover else []),
        # One entry per sitting: where it resumed from and which corrupt checkpoints were set aside.
        "sittings": list(previous.get("sittings", [])),
    }
    write_text_atomic(trial_dir / "meta.json", json.dumps(meta, indent=2, default=str))
    from separation.train import train  # Lightning loads only when a trial actually runs

    started = time.time()
    try:
        with quiet_run(trial_dir):  # Lightning's banners and warnings go to the trial's train.log
            result = train(config, resume=True, plugins=plugins, stop_at_step=rung[0] if rung else None)
        meta.update(status=result.status, reason=result.reason, precision=result.precision.get("resolved"),
                    result=result.to_dict())
        meta["sittings"].append(result.resume)
        if result.status == PAUSED:
            return _pause(trial_dir, meta, started, *rung)
    except TrainingInterrupted as interruption:
        # Not finished: no DONE marker, so the next run resumes from the checkpoint it just saved.
        meta.update(status="interrupted", reason=str(interruption), end=_now(),
                    seconds_this_attempt=round(time.time() - started, 1))
        write_text_atomic(trial_dir / "meta.json", json.dumps(meta, indent=2, default=str))
        raise
    except Exception as error:  # one broken trial must not stop the grid
        (trial_dir / "error.log").write_text(traceback.format_exc())
        meta.update(status="failed", reason=f"{type(error).__name__}: {error}".splitlines()[0][:500])
    meta["end"] = _now()
    meta["seconds_this_attempt"] = round(time.time() - started, 1)
    write_text_atomic(trial_dir / "meta.json", json.dumps(meta, indent=2, default=str))
    write_text_atomic(trial_dir / MARKER, json.dumps({"status": meta["status"], "end": meta["end"]}))
    return meta["status"]


def _pause(trial_dir: Path, meta: dict, started: float, step: int, metric: str) -> str:
    """Record a segment that stopped at rung `step`: meta.json, then the rung's metric in rungs.json."""
    value = value_after(trial_dir / "metrics.csv", metric, step)
    meta.update(end=_now(), seconds_this_attempt=round(time.time() - started, 1), rung=step,
                reason=f"paused at rung {step}: {metric} {value if value is None else round(value, 4)}")
    write_text_atomic(trial_dir / "meta.json", json.dumps(meta, indent=2, default=str))
    reached = {str(k): v for k, v in reached_rungs(trial_dir).items()}
    write_text_atomic(trial_dir / RUNGS_FILE, json.dumps({**reached, str(step): value}))
    return PAUSED


def clear_marker(trial_dir: Path) -> None:
    """Make a finished trial runnable again (used to retry failed trials)."""
    (trial_dir / MARKER).unlink(missing_ok=True)
