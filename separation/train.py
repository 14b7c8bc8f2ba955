"""Train one run from a validated Config: the whole path, top to bottom.

    seed -> data -> model (seeded, so initial weights follow the seed) -> trainer -> fit
    -> optional test -> summary.json

Everything a run writes lives in `config.run_dir`: `config.yaml`, TensorBoard
events, `metrics.csv`, `last.ckpt` / `best.ckpt` and `summary.json` (its outcome:
completed, diverged or collapsed, with the reason). Calling `train` again on the same
directory resumes from `last.ckpt` if the folder holds a run of the same config; a raised
budget continues it (recorded in `budget_changes.json`), any other difference is refused
(`separation.training.run_folder`), and `restart` moves the old run aside first.

With `trainer.devices > 1` the calling process is the first of that many (Lightning's
DDP, `separation.training.ranks`): it alone prepares the run folder and writes the
summary; every process fits and tests (`fit_and_test`) on its share of the data.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytorch_lightning as pl
import torch
import yaml
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import TensorBoardLogger

from separation.atomic import write_text_atomic
from separation.config import Config, config_to_dict, refused_by
from separation.data.resumable import RestoreLoaderPosition
from separation.errors import UserError
from separation.lightning_compat import last_saved_step
from separation.models import build_model
from separation.outcomes import Status
from separation.tasks import get_task
from separation.training.callbacks import LrTracker, StepTimer, TargetTracker
from separation.training.checkpoints import (
    AtomicCheckpointIO,
    RecordMetricsRows,
    ResumePoint,
    choose_resume_point,
    drop_previous_test_rows,
    restore_metrics_rows,
    set_aside_history,
    trim_metrics_csv,
)
from separation.training.precision import choose_precision, resolve_precision
from separation.training.stop_at_step import PausedAtStep, StopAtStep
from separation.training.interrupt import KeepSignalHandlers, StopAtSignal, raise_if_requested
from separation.training.metrics_csv import MetricsCsvLogger
from separation.training.run_folder import budget_changes, move_aside, record_budget_changes
from separation.training.ranks import DDP, ProcessGroup

# The run folder holds config.yaml before the first checkpoint, and a diverged step
# returns no loss on purpose: both are expected, so Lightning's warnings are noise.
warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
warnings.filterwarnings("ignore", message=r"`training_step` returned `None`")


@dataclass
class TrainResult:
    status: Status  # completed | diverged | collapsed | stopped-at-target | paused (stop_at_step)
    reason: str | None
    run_dir: str
    global_step: int
    epochs: int
    train_seconds: float
    val_seconds: float
    metrics: dict[str, float] = field(default_factory=dict)
    # "metric>=threshold" -> {step, epoch, train_seconds, val_seconds, value} of the first hit
    time_to_target: dict[str, dict] = field(default_factory=dict)
    lr_reductions: int = 0
    final_lr: float | None = None
    skipped_steps: int = 0
    # Where this sitting started: {"resumed_from": "last.ckpt" | "best.ckpt" | None, "global_step",
    # "set_aside": corrupt checkpoints moved away, "superseded": old curves moved away}
    resume: dict = field(default_factory=dict)
    # Budgets raised in this run folder, oldest first: {key, from, to, at_step, time} (budget_changes.json).
    budget_changes: list = field(default_factory=list)
    # Where `restart` moved the folder's previous run (None: nothing was there).
    moved_aside: str | None = None
    # {"requested", "resolved", "reason"}: `trainer.precision: auto` decides per run (separation.training.precision).
    precision: dict = field(default_factory=dict)
    # The step `stop_at_step` paused the run at (status `paused`); None when it ran to its budget.
    paused_at: int | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _scalar_metrics(metrics: dict) -> dict[str, float]:
    result = {}
    for name, value in metrics.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = float(value)
        if isinstance(value, (int, float)):
            result[name] = float(value)
    return result


@dataclass
class Instruments:
    timer: StepTimer
    targets: TargetTracker
    lr: LrTracker


def build_trainer(config: Config, run_dir: Path, selection_metric: str, extra_callbacks=(), plugins=None,
                  precision: str | None = None):
    """The Lightning trainer of a run; `best.ckpt` follows `selection_metric` (higher is better).

    `precision` is the resolved one (`separation.training.precision`); None resolves `auto` without a probe.
    """
    cfg = config.trainer
    if precision is None:
        precision = resolve_precision(cfg.precision, config.model.name, cfg.accelerator).resolved
    timer = StepTimer()
    instruments = Instruments(timer, TargetTracker(config.targets, timer, cfg.stop_at_target), LrTracker())
    callbacks = [
        timer,
        instruments.targets,
        instruments.lr,
        ModelCheckpoint(dirpath=run_dir, filename="best", monitor=selection_metric, mode="max", save_top_k=1, save_last=True,
                        enable_version_counter=False),
        RecordMetricsRows(),
        RestoreLoaderPosition(),
        *extra_callbacks,
        StopAtSignal(run_dir),  # last: every other callback has seen the step it checkpoints
        *([KeepSignalHandlers()] if cfg.devices > 1 else []),
    ]
    loggers = [
        TensorBoardLogger(save_dir=str(run_dir), name="", version="", default_hp_metric=False),
        MetricsCsvLogger(run_dir),
    ]
    clip_val = None if config.clipping.mode in ("none", "autoclip") else config.clipping.value  # the system runs AutoClip
    trainer = pl.Trainer(
        default_root_dir=str(run_dir),
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        # Several devices: the processes are ours (training.ranks), and so are the samplers (data.sharding).
        strategy=DDP() if cfg.devices > 1 else "auto",
        use_distributed_sampler=False,
        precision=precision,
        max_epochs=cfg.max_epochs,
        max_steps=cfg.max_steps,
        max_time={"minutes": cfg.max_minutes} if cfg.max_minutes else None,
        limit_train_batches=cfg.limit_train_batches,
        limit_val_batches=cfg.limit_val_batches,
        check_val_every_n_epoch=cfg.check_val_every_n_epoch,
        log_every_n_steps=cfg.log_every_n_steps,
        deterministic=cfg.deterministic,
        gradient_clip_val=clip_val,
        gradient_clip_algorithm=config.clipping.mode if clip_val is not None else None,
        enable_progress_bar=cfg.enable_progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=callbacks,
        logger=loggers,
        plugins=[*(plugins or []), AtomicCheckpointIO()],
    )
    return trainer, instruments


def prepare_resume(run_dir: Path, resume: bool) -> ResumePoint:
    """Pick the checkpoint this sitting continues from and make the run folder agree with it.

    Corrupt checkpoints are moved aside; `metrics.csv` is cut back to what the chosen
    checkpoint had seen; training from step 0 in a folder with history moves the old
    curves into `superseded-<time>/` first.
    """
    start = choose_resume_point(run_dir) if resume else ResumePoint()
    if start.path is not None:
        if start.metrics_rows is not None:
            start.trimmed_rows = trim_metrics_csv(run_dir / "metrics.csv", start.metrics_rows)
    else:
        superseded = set_aside_history(run_dir)
        if superseded:
            start.superseded = superseded
    return start


def save_final_weights(trainer: pl.Trainer, run_dir: Path) -> None:
    """A run stopped between validations (the `trainer.max_minutes` budget, `max_steps`) ends
    after its last checkpoint: write `last.ckpt` again so it holds the weights the test scores."""
    saver = trainer.checkpoint_callback
    saved_step = last_saved_step(saver)  # Lightning's own record of its last save
    if trainer.global_step > 0 and saved_step != trainer.global_step:
        trainer.save_checkpoint(run_dir / "last.ckpt", weights_only=False)  # the full training state


def check_model_builds(config: Config) -> None:
    """Build the run's model once on the meta device (no memory, no random numbers): arguments its
    constructor refuses (`hidden_size: 0`) fail as one ConfigError naming `model.args`, not mid-setup."""
    args = get_task(config.task).model_args(config)

    def build():
        with torch.device("meta"):
            build_model(config.model.name, args)

    refused_by("model.args", f"model '{config.model.name}'", build)


def train(config: Config, resume: bool = True, extra_callbacks=(), plugins=None, test: bool = True,
          restart: bool = False, stop_at_step: int | None = None) -> TrainResult:
    """Train `config` in `config.run_dir`, continuing the run there when it is one of the same config.

    `restart` first moves a run already in the folder aside (renamed, never deleted); without it a
    folder holding a run of another config is refused. `resume` False trains from step 0 in the
    same folder (its old curves set aside) instead of continuing from `last.ckpt`. `stop_at_step`
    pauses the run at that optimizer step (status `paused`, no test) without touching its config, so
    its schedule stays the full-budget one and a later call continues it (a rung of a pruned grid).
    """
    if not config.run_dir:
        raise UserError("config key 'run_dir' is empty; name the run folder")
    run_dir = Path(config.run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"{run_dir}: is a file; expected a run directory (a folder)")
    changes = [] if restart else budget_changes(config, run_dir)
    task = get_task(config.task)
    system_class, datamodule = task.system(), task.datamodule(config)
    # Bad data folders and model arguments fail here, before the run folder is touched (Lightning's own
    # setup call is then a no-op).
    datamodule.setup("fit")
    check_model_builds(config)
    moved = move_aside(run_dir) if restart else None
    run_dir.mkdir(parents=True, exist_ok=True)
    if config.trainer.deterministic and torch.cuda.is_available():
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuDNN LSTMs need it for determinism

    # Seed before anything random is built: the model's initial weights follow the seed.
    pl.seed_everything(config.seed, workers=True, verbose=False)
    system = system_class(config)
    precision = choose_precision(config.trainer.precision, config.model.name, config.trainer.accelerator,
                                 system.model, system.example_input())
    system.precision_choice = precision
    start = prepare_resume(run_dir, resume)
    # The record first: a config.yaml with the raised budget is never there without it.
    recorded = record_budget_changes(run_dir, changes, start.global_step)
    write_text_atomic(run_dir / "config.yaml", yaml.safe_dump(config_to_dict(config), sort_keys=False))
    multi_device = config.trainer.devices > 1
    stopper = StopAtStep(stop_at_step, run_dir) if stop_at_step is not None else None
    extra_callbacks = (*extra_callbacks, *([stopper] if stopper else []))
    with ProcessGroup(config.trainer.devices) if multi_device else contextlib.nullcontext() as group:
        trainer, instruments = build_trainer(config, run_dir, system.selection_metric, extra_callbacks, plugins,
                                             precision=precision.resolved)
        if multi_device:  # after the trainer: a bad trainer setting fails before any other process exists
            group.start(_train_other_rank, (config, ResumePoint(start.path, start.global_step), test, plugins,
                                            precision.resolved, stop_at_step))
        status, reason, metrics = fit_and_test(trainer, system, datamodule, instruments, start, run_dir, test,
                                               stopper)
    result = TrainResult(
        status=status,
        reason=reason,
        run_dir=str(run_dir),
        global_step=int(trainer.global_step),
        epochs=int(trainer.current_epoch),
        train_seconds=instruments.timer.train_seconds,
        val_seconds=instruments.timer.val_seconds,
        metrics={k: v for k, v in metrics.items() if math.isfinite(v) or status == Status.DIVERGED},
        time_to_target=instruments.targets.reached,
        lr_reductions=instruments.lr.reductions,
        final_lr=float(trainer.optimizers[0].param_groups[0]["lr"]) if trainer.optimizers else None,
        skipped_steps=system.skipped_steps,
        resume=start.to_dict(),
        budget_changes=recorded,
        moved_aside=str(moved) if moved else None,
        precision=precision.to_dict(),
        paused_at=int(trainer.global_step) if status == Status.PAUSED else None,
    )
    write_text_atomic(run_dir / "summary.json", json.dumps(result.to_dict(), indent=2, default=str))
    return result


def fit_and_test(trainer: pl.Trainer, system, datamodule, instruments: Instruments, start: ResumePoint, run_dir: Path,
                 test: bool, stopper: StopAtStep | None = None) -> tuple[Status, str | None, dict[str, float]]:
    """Fit from `start`, save the final weights, test: (status, reason, metrics).

    Every process of a multi-device run calls this with the same arguments; files of
    the run folder are changed by the first process only.
    """
    ckpt_path = str(start.path) if start.path else None
    # Checked loadable with weights_only=True just now; Lightning must not unpickle anything either.
    try:
        trainer.fit(system, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    except PausedAtStep:  # mid-epoch: last.ckpt holds this step already
        return Status.PAUSED, None, _scalar_metrics(trainer.callback_metrics)
    if trainer.is_global_zero and start.trimmed_rows and trainer.global_step == start.global_step:
        restore_metrics_rows(run_dir / "metrics.csv", start.trimmed_rows)
    save_final_weights(trainer, run_dir)
    raise_if_requested("after training, before the test", trainer)

    status = Status.COMPLETED
    if system.divergence_reason:
        status = Status.DIVERGED
    elif instruments.targets.stopped:
        status = Status.STOPPED_AT_TARGET
    elif stopper is not None and stopper.stopped:
        status = Status.PAUSED  # the run goes on later: nothing to test yet
    metrics = _scalar_metrics(trainer.callback_metrics)
    if status == Status.PAUSED:
        return status, None, metrics
    if test and status != Status.DIVERGED:
        if trainer.is_global_zero:
            drop_previous_test_rows(run_dir / "metrics.csv")
        test_metrics = trainer.test(system, datamodule=datamodule, verbose=False)
        if test_metrics:
            metrics.update(_scalar_metrics(test_metrics[0]))
    reason = system.divergence_reason
    if status == Status.COMPLETED and system.collapse_reason:  # trivial estimates: an outcome, like divergence
        status, reason = Status.COLLAPSED, system.collapse_reason
    return status, reason, metrics


def _train_other_rank(config: Config, start: ResumePoint, test: bool, plugins, precision: str,
                      stop_at_step: int | None = None) -> None:
    """Processes 1 .. devices - 1 of a multi-device run (started by `train`): the same seeded system,
    trainer, fit and test as the first process, without its run-folder files (extra callbacks stay there).
    What Lightning says in these processes goes to the run's train.log, not the terminal."""
    from separation.training.quiet import quiet_run

    with quiet_run(config.run_dir):
        task = get_task(config.task)
        system_class, datamodule = task.system(), task.datamodule(config)
        pl.seed_everything(config.seed, workers=True, verbose=False)
        system = system_class(config)
        stopper = StopAtStep(stop_at_step, Path(config.run_dir)) if stop_at_step is not None else None
        trainer, instruments = build_trainer(config, Path(config.run_dir), system.selection_metric,
                                             extra_callbacks=[stopper] if stopper else (), plugins=plugins,
                                             precision=precision)
        fit_and_test(trainer, system, datamodule, instruments, start, Path(config.run_dir), test, stopper)
