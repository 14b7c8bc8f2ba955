"""One trial directory: run it and record it (`separation.grid.trial_folder` tells later what state it is in).

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
from pathlib import Path

from separation.atomic import write_text_atomic
from separation.grid.claim import DEFAULT_TIMEOUT, TrialClaim, whoami
from separation.grid.continuation import needs_seed, seed_from, shorter_trial
from separation.grid.spec import Trial
# The folder's state is read by separation.grid.trial_folder (no torch); the names the runner, bench/packing.py
# and the tests import from here stay importable.
from separation.grid.trial_folder import (MARKER, RUNGS_FILE, clear_marker, reached_rungs, read_json,  # noqa: F401
                                          trial_status, utc_now)
from separation.outcomes import FINISHED, OK, OUTCOMES, Status  # noqa: F401
from separation.training.interrupt import TrainingInterrupted
from separation.training.metrics_reader import value_after
from separation.training.quiet import quiet_run

# The statuses the runner and the pruning decisions name (separation.outcomes says what each means).
PRUNED = Status.PRUNED
PAUSED = Status.PAUSED
RUNNING = Status.RUNNING


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


def run_trial(trial: Trial, study_dir: Path, packing: int = 1, plugins=None, engine: str = "local",
              claim_timeout: float = DEFAULT_TIMEOUT, rung: tuple[int, str] | None = None,
              continue_shorter: bool = False) -> str:
    """Train one trial (resuming if it was interrupted) and record its outcome; returns the status.

    `rung` (steps, metric): train only to that rung, record the metric there in `rungs.json` and
    return `paused` (no marker); without it the trial trains to its full budget. `continue_shorter`:
    a trial not started yet starts from a completed shorter trial of its recipe in the study folder
    (`separation.grid.continuation`; recorded as `continued_from` in meta.json).

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
        return _run_claimed(trial, trial_dir, study_dir, claim, packing, plugins, engine, rung, continue_shorter)
    finally:
        claim.release()  # after DONE is written: no worker ever sees it unclaimed and unfinished


def _run_claimed(trial: Trial, trial_dir: Path, study_dir: Path, claim: TrialClaim, packing, plugins, engine,
                 rung: tuple[int, str] | None = None, continue_shorter: bool = False) -> str:
    config = dataclasses.replace(trial.config, run_dir=str(trial_dir))
    previous = read_json(trial_dir / "meta.json")
    continued_from = previous.get("continued_from")
    if continue_shorter and needs_seed(trial_dir):
        source = shorter_trial(trial, study_dir)
        if source is not None:
            seed_from(source, trial_dir)
            continued_from = source.name
    meta = {
        "id": trial.id,
        "study": study_dir.name,
        "axes": trial.overrides,
        "git_commit": _git_commit(),
        "versions": _versions(),
        "device": _device(config),
        "engine": engine,
        "packing": packing,
        "start": previous.get("start", utc_now()),
        "attempts": int(previous.get("attempts", 0)) + 1,
        "status": Status.RUNNING,
        "worker": whoami(),
        "takeovers": list(previous.get("takeovers", [])) + ([claim.takeover] if claim.takeover else []),
        # One entry per sitting: where it resumed from and which corrupt checkpoints were set aside.
        "sittings": list(previous.get("sittings", [])),
        **({"continued_from": continued_from} if continued_from else {}),
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
        meta.update(status=Status.INTERRUPTED, reason=str(interruption), end=utc_now(),
                    seconds_this_attempt=round(time.time() - started, 1))
        write_text_atomic(trial_dir / "meta.json", json.dumps(meta, indent=2, default=str))
        raise
    except Exception as error:  # one broken trial must not stop the grid
        (trial_dir / "error.log").write_text(traceback.format_exc())
        meta.update(status=Status.FAILED, reason=f"{type(error).__name__}: {error}".splitlines()[0][:500])
    meta["end"] = utc_now()
    meta["seconds_this_attempt"] = round(time.time() - started, 1)
    write_text_atomic(trial_dir / "meta.json", json.dumps(meta, indent=2, default=str))
    write_text_atomic(trial_dir / MARKER, json.dumps({"status": meta["status"], "end": meta["end"]}))
    return meta["status"]


def _pause(trial_dir: Path, meta: dict, started: float, step: int, metric: str) -> str:
    """Record a segment that stopped at rung `step`: meta.json, then the rung's metric in rungs.json."""
    value = value_after(trial_dir / "metrics.csv", metric, step)
    meta.update(end=utc_now(), seconds_this_attempt=round(time.time() - started, 1), rung=step,
                reason=f"paused at rung {step}: {metric} {value if value is None else round(value, 4)}")
    write_text_atomic(trial_dir / "meta.json", json.dumps(meta, indent=2, default=str))
    reached = {str(k): v for k, v in reached_rungs(trial_dir).items()}
    write_text_atomic(trial_dir / RUNGS_FILE, json.dumps({**reached, str(step): value}))
    return PAUSED
