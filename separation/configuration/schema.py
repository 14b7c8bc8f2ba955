"""The typed sections of a run's config, and which keys do not change what a run computes.

A run is fully described by one `Config`. Its `data` section is the task's
own dataclass (`separation.data_config`, chosen through `separation.tasks`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from separation.data_config.enhance import EnhanceDataConfig
from separation.data_config.music import MusicDataConfig
from separation.data_config.speech import DataConfig


@dataclass
class ModelConfig:
    name: str = "svoice"
    # Constructor arguments of the model class; checked against its signature.
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class ObjectiveConfig:
    # What a training batch teaches the model (registry `separation.objectives.OBJECTIVES`); enhancement only.
    name: str = "supervised"
    # Constructor arguments of the objective; checked against its signature.
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimizerConfig:
    name: str = "adam"
    lr: float = 5e-4
    weight_decay: float = 0.0
    # Extra keyword arguments of the optimizer (momentum, betas, eps ...).
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class SchedulerConfig:
    name: str = "none"
    # Keyword arguments of the scheduler builder in `separation.optim`.
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class ClippingConfig:
    mode: str = "none"  # none | norm | value
    value: float | None = None


@dataclass
class TrainerConfig:
    max_epochs: int = 10
    max_steps: int = -1
    # Wall-clock budget for the whole fit (minutes); None means no limit.
    max_minutes: float | None = None
    accelerator: str = "auto"
    devices: int = 1
    # auto | 32 | bf16-mixed | 16-mixed. auto: bf16 on a bf16 CPU for a model family measured to train as
    # in fp32 and faster, else fp32 (separation.training.precision); each run records what it chose.
    # The committed study specs pin "32", the precision they ran in, so their trial ids stay the same.
    precision: str = "auto"
    limit_train_batches: float = 1.0
    limit_val_batches: float = 1.0
    check_val_every_n_epoch: int = 1
    log_every_n_steps: int = 10
    deterministic: bool = False
    # Separated examples written to TensorBoard at each validation.
    audio_examples: int = 2
    enable_progress_bar: bool = True
    # End the run once every threshold in `targets` is reached (status stopped-at-target).
    stop_at_target: bool = False


@dataclass
class Config:
    task: str = "speech"
    seed: int = 0
    # Where checkpoints, metrics and TensorBoard events of this run go; empty: `separation train`
    # derives runs/<config file stem> (a grid sets its trials' own folders).
    run_dir: str | None = None
    model: ModelConfig = field(default_factory=ModelConfig)
    # DataConfig for task speech, MusicDataConfig for music, EnhanceDataConfig for enhance (picked by `task` when read).
    data: DataConfig | MusicDataConfig | EnhanceDataConfig = field(default_factory=DataConfig)
    # The training objective; tasks without objectives (`Task.objectives` false) keep the default.
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    clipping: ClippingConfig = field(default_factory=ClippingConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    # Time-to-target: metric name -> thresholds (higher is better), e.g. {"val/si_snri": [5, 10]}.
    targets: dict[str, list[float]] = field(default_factory=dict)


# Keys that do not change what a run computes: left out of trial ids (separation.grid.spec) and
# free to differ when `train` continues a run folder (separation.training.run_folder).
NON_TRAINING_KEYS = ("run_dir", "trainer.enable_progress_bar", "data.num_workers")

PRECISIONS = ("auto", "32", "bf16-mixed", "16-mixed")
CLIPPING_MODES = ("none", "norm", "value", "autoclip")  # autoclip: clipping.value is the percentile
