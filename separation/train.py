"""Train one run from a validated Config: the whole path, top to bottom.

    seed -> data -> model (seeded, so initial weights follow the seed) -> trainer -> fit
    -> optional test -> summary.json

Everything a run writes lives in `config.run_dir`: `config.yaml`, TensorBoard
events, `metrics.csv`, `last.ckpt` / `best.ckpt` and `summary.json` (its outcome:
completed, diverged or collapsed, with the reason). Calling `train` again on the same
directory resumes from `last.ckpt`.
"""

from __future__ import annotations

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
from separation.config import Config, config_to_dict
from separation.training.callbacks import LrTracker, StepTimer, TargetTracker
from separation.training.metrics_csv import MetricsCsvLogger

# The run folder holds config.yaml before the first checkpoint, and a diverged step
# returns no loss on purpose: both are expected, so Lightning's warnings are noise.
warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
warnings.filterwarnings("ignore", message=r"`training_step` returned `None`")


# Config value -> (LightningModule class, DataModule factory). One entry per task.
def _task_parts(config: Config):
    if config.task == "speech":
        from separation.data.speech_datamodule import SpeechDataModule
        from separation.systems.speech import SpeechSeparationSystem

        return SpeechSeparationSystem, SpeechDataModule(config.data, seed=config.seed)
    if config.task == "music":
        from separation.data.music_datamodule import MusicDataModule
        from separation.systems.music import MusicSeparationSystem

        return MusicSeparationSystem, MusicDataModule(config.data, seed=config.seed)
    raise ValueError(f"unknown task '{config.task}'")


@dataclass
class TrainResult:
    status: str  # completed | diverged | collapsed | stopped-at-target
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


def build_trainer(config: Config, run_dir: Path, selection_metric: str, extra_callbacks=(), plugins=None):
    """The Lightning trainer of a run; `best.ckpt` follows `selection_metric` (higher is better)."""
    cfg = config.trainer
    timer = StepTimer()
    instruments = Instruments(timer, TargetTracker(config.targets, timer, cfg.stop_at_target), LrTracker())
    callbacks = [
        timer,
        instruments.targets,
        instruments.lr,
        ModelCheckpoint(dirpath=run_dir, filename="best", monitor=selection_metric, mode="max", save_top_k=1, save_last=True,
                        enable_version_counter=False),
        *extra_callbacks,
    ]
    loggers = [
        TensorBoardLogger(save_dir=str(run_dir), name="", version="", default_hp_metric=False),
        MetricsCsvLogger(run_dir),
    ]
    clip_val = None if config.clipping.mode == "none" else config.clipping.value
    trainer = pl.Trainer(
        default_root_dir=str(run_dir),
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        precision=cfg.precision,
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
        plugins=plugins,
    )
    return trainer, instruments


def train(config: Config, resume: bool = True, extra_callbacks=(), plugins=None, test: bool = True) -> TrainResult:
    run_dir = Path(config.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_dir / "config.yaml", yaml.safe_dump(config_to_dict(config), sort_keys=False))
    if config.trainer.deterministic and torch.cuda.is_available():
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuDNN LSTMs need it for determinism

    # Seed before anything random is built: the model's initial weights follow the seed.
    pl.seed_everything(config.seed, workers=True, verbose=False)
    system_class, datamodule = _task_parts(config)
    system = system_class(config)
    trainer, instruments = build_trainer(config, run_dir, system.selection_metric, extra_callbacks, plugins)

    last = run_dir / "last.ckpt"
    ckpt_path = str(last) if resume and last.exists() else None
    trainer.fit(system, datamodule=datamodule, ckpt_path=ckpt_path)

    status = "completed"
    if system.divergence_reason:
        status = "diverged"
    elif instruments.targets.stopped:
        status = "stopped-at-target"
    metrics = _scalar_metrics(trainer.callback_metrics)
    if test and status != "diverged":
        test_metrics = trainer.test(system, datamodule=datamodule, verbose=False)
        if test_metrics:
            metrics.update(_scalar_metrics(test_metrics[0]))
    reason = system.divergence_reason
    if status == "completed" and system.collapse_reason:  # trivial estimates: an outcome, like divergence
        status, reason = "collapsed", system.collapse_reason
    result = TrainResult(
        status=status,
        reason=reason,
        run_dir=str(run_dir),
        global_step=int(trainer.global_step),
        epochs=int(trainer.current_epoch),
        train_seconds=instruments.timer.train_seconds,
        val_seconds=instruments.timer.val_seconds,
        metrics={k: v for k, v in metrics.items() if math.isfinite(v) or status == "diverged"},
        time_to_target=instruments.targets.reached,
        lr_reductions=instruments.lr.reductions,
        final_lr=float(trainer.optimizers[0].param_groups[0]["lr"]) if trainer.optimizers else None,
        skipped_steps=system.skipped_steps,
    )
    write_text_atomic(run_dir / "summary.json", json.dumps(result.to_dict(), indent=2, default=str))
    return result
