"""A whole config checked once, where it enters: every choice against its registry, every size against its range.

The registries (models, optimizers, schedulers, objectives) are imported when a
config is checked, not when this module is: reading the CLI's arguments stays
free of torch. The task's own data section is checked by its entry
(`Task.validate`, in `separation.data_config`).
"""

from __future__ import annotations

from separation.checks import at_least, check_argument_kinds, choice, positive, refused_by
from separation.configuration.schema import CLIPPING_MODES, PRECISIONS, Config, ObjectiveConfig
from separation.errors import ConfigError
from separation.tasks import TASKS


def validate(config: Config) -> None:
    """Check every choice against its registry and every size against its range."""
    from separation import models, optim

    choice("task", config.task, TASKS)
    choice("model.name", config.model.name, models.MODELS)
    models.check_model_args(config.model.name, config.model.args, key="model.args")
    check_argument_kinds("model.args", config.model.args, models.MODELS[config.model.name].__init__)
    TASKS[config.task].validate(config, models)
    validate_objective(config, TASKS[config.task].objectives)
    _validate_training(config, optim)


def validate_objective(config: Config, task_has_objectives: bool) -> None:
    """The model's output sources within what the objective trains; `objective.name` from the registry,
    `objective.args` from its constructor's keywords."""
    objective = config.objective
    if not task_has_objectives:
        if objective != ObjectiveConfig():
            raise ConfigError(f"config section 'objective' applies to the enhancement task only, not task '{config.task}'")
        return
    from separation.objectives import OBJECTIVES, build_objective, objective_arguments

    n_src = config.model.args.get("n_src", 1)
    entry = OBJECTIVES.get(objective.name)  # an unknown name is reported just below
    low, high = (entry.min_sources, entry.max_sources) if entry else (1, None)
    if n_src < low or (high is not None and n_src > high):
        allowed = f"{low} to {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"config key 'model.args.n_src' is {n_src}; objective '{objective.name}' trains "
                          f"models of {allowed} output sources")

    choice("objective.name", objective.name, OBJECTIVES)
    allowed = objective_arguments(objective.name)
    for arg in objective.args:
        if arg not in allowed:
            listed = ", ".join(allowed) if allowed else "none"
            raise ConfigError(f"config key 'objective.args.{arg}' is unknown for objective '{objective.name}'; allowed: {listed}")
    check_argument_kinds("objective.args", objective.args, OBJECTIVES[objective.name].__init__)
    refused_by("objective.args", f"objective '{objective.name}'", lambda: build_objective(objective.name, objective.args))


def _validate_counts(config: Config) -> None:
    """The counts Lightning and numpy would refuse mid-run, refused here."""
    if not 0 <= config.seed < 2**32:
        raise ConfigError(f"config key 'seed' must be from 0 to 2**32 - 1 (numpy's seeds), got {config.seed}")
    trainer = config.trainer
    at_least("trainer.max_epochs", trainer.max_epochs, 0, also=(-1,))
    at_least("trainer.max_steps", trainer.max_steps, 0, also=(-1,))
    at_least("trainer.devices", trainer.devices, 1)
    at_least("trainer.check_val_every_n_epoch", trainer.check_val_every_n_epoch, 1)
    at_least("trainer.log_every_n_steps", trainer.log_every_n_steps, 1)
    at_least("trainer.audio_examples", trainer.audio_examples, 0)
    for name in ("limit_train_batches", "limit_val_batches"):
        value = getattr(trainer, name)
        if value > 1 and not value.is_integer():
            raise ConfigError(f"config key 'trainer.{name}' must be a fraction up to 1.0 or a whole number of "
                              f"batches, got {value}")


def _validate_training(config: Config, optim) -> None:
    """Optimizer, scheduler, clipping, trainer and targets; `optim` is the registry module."""
    choice("optimizer.name", config.optimizer.name, optim.OPTIMIZERS)
    positive("optimizer.lr", config.optimizer.lr)
    if config.optimizer.weight_decay < 0:
        raise ConfigError(f"config key 'optimizer.weight_decay' must be >= 0, got {config.optimizer.weight_decay}")
    optim.check_optimizer_args(config.optimizer.name, config.optimizer.args, key="optimizer.args")
    entry = optim.OPTIMIZERS[config.optimizer.name]
    check_argument_kinds("optimizer.args", config.optimizer.args, entry.cls.__init__)
    choice("scheduler.name", config.scheduler.name, optim.SCHEDULERS)
    optim.check_scheduler_args(config.scheduler.name, config.scheduler.args, key="scheduler.args")
    check_argument_kinds("scheduler.args", config.scheduler.args, optim.SCHEDULERS[config.scheduler.name])
    # Built once on a stand-in parameter and stepped: what torch refuses is refused here, not mid-run.
    optimizer = config.optimizer
    stand_in = refused_by("optimizer.*", f"optimizer '{optimizer.name}'", lambda: optim.try_optimizer(
        optimizer.name, optimizer.lr, optimizer.weight_decay, optimizer.args))
    refused_by("scheduler.args", f"scheduler '{config.scheduler.name}'", lambda: optim.try_scheduler(
        config.scheduler.name, stand_in, config.scheduler.args))

    choice("clipping.mode", config.clipping.mode, CLIPPING_MODES)
    if config.clipping.mode != "none":
        positive("clipping.value", config.clipping.value)
    if config.clipping.mode == "autoclip" and config.clipping.value > 100:
        raise ConfigError(f"config key 'clipping.value' is AutoClip's percentile, at most 100, got {config.clipping.value!r}")

    trainer = config.trainer
    choice("trainer.precision", trainer.precision, PRECISIONS)
    choice("trainer.accelerator", trainer.accelerator, ("auto", "cpu", "gpu", "cuda", "mps"))
    if trainer.max_epochs < 1 and trainer.max_steps < 1:
        raise ConfigError("config keys 'trainer.max_epochs' and 'trainer.max_steps' cannot both be unlimited")
    every = trainer.check_val_every_n_epoch
    if every > 1 and trainer.max_steps < 1 and trainer.max_epochs % every:
        # Reports select on the final validation: an epoch budget must end on a validated epoch.
        raise ConfigError(f"config key 'trainer.check_val_every_n_epoch' is {every}, which does not divide "
                          f"'trainer.max_epochs' {trainer.max_epochs}: the last epoch would not be validated")
    positive("trainer.max_minutes", trainer.max_minutes, allow_none=True)
    positive("trainer.limit_train_batches", trainer.limit_train_batches)
    positive("trainer.limit_val_batches", trainer.limit_val_batches)
    _validate_counts(config)

    for metric, thresholds in config.targets.items():
        if not isinstance(thresholds, list) or not thresholds:
            raise ConfigError(f"config key 'targets.{metric}' must be a non-empty list of numbers")
        for value in thresholds:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"config key 'targets.{metric}' must hold numbers, got {value!r}")
