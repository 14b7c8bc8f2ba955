"""The optimizer and LR-scheduler axes of a study, each one registry.

Adding an optimizer is one line in `OPTIMIZERS`; adding a schedule is one builder
function in `SCHEDULERS`. A grid spec names entries of these dicts and nothing else.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import torch
from torch.optim import lr_scheduler

from separation.errors import ConfigError


@dataclass(frozen=True)
class OptimizerEntry:
    cls: type[torch.optim.Optimizer]
    # Defaults that make this entry what its name says (e.g. Nesterov momentum).
    defaults: dict[str, Any] = field(default_factory=dict)


OPTIMIZERS: dict[str, OptimizerEntry] = {
    "sgd": OptimizerEntry(torch.optim.SGD),
    "sgd_momentum": OptimizerEntry(torch.optim.SGD, {"momentum": 0.9}),
    "nesterov": OptimizerEntry(torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
    "adam": OptimizerEntry(torch.optim.Adam),
    "adamw": OptimizerEntry(torch.optim.AdamW),
    "rmsprop": OptimizerEntry(torch.optim.RMSprop),
    "adagrad": OptimizerEntry(torch.optim.Adagrad),
    "adadelta": OptimizerEntry(torch.optim.Adadelta),
    "adamax": OptimizerEntry(torch.optim.Adamax),
    "nadam": OptimizerEntry(torch.optim.NAdam),
    "radam": OptimizerEntry(torch.optim.RAdam),
}


def _optimizer_extra_args(name: str) -> list[str]:
    signature = inspect.signature(OPTIMIZERS[name].cls.__init__)
    return [p for p in signature.parameters if p not in ("self", "params", "lr", "weight_decay")]


def check_optimizer_args(name: str, args: dict[str, Any], key: str = "optimizer.args") -> None:
    allowed = _optimizer_extra_args(name)
    for arg in args:
        if arg not in allowed:
            raise ConfigError(f"config key '{key}.{arg}' is unknown for optimizer '{name}'; allowed: {', '.join(allowed)}")


def build_optimizer(
    name: str, parameters: Iterable[torch.nn.Parameter], lr: float, weight_decay: float = 0.0, args: dict | None = None
) -> torch.optim.Optimizer:
    entry = OPTIMIZERS[name]
    kwargs = {**entry.defaults, **(args or {})}
    return entry.cls(parameters, lr=lr, weight_decay=weight_decay, **kwargs)


def try_optimizer(name: str, lr: float, weight_decay: float = 0.0, args: dict | None = None) -> torch.optim.Optimizer:
    """The optimizer on one stand-in parameter after one step: values its constructor or its step refuse
    (a negative momentum, betas of one element, a flag given as text) raise here, before a run starts."""
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = build_optimizer(name, [parameter], lr, weight_decay, args)
    parameter.grad = torch.ones(1)
    optimizer.step()
    return optimizer


# ---------------------------------------------------------------------------
# Schedulers. Each builder takes the optimizer, the run's total number of
# optimizer steps (for schedules defined over the whole run) and its own keyword
# arguments, and returns Lightning's scheduler dict (or None for a constant LR).
# The interval says what one `scheduler.step()` means: an epoch or an optimizer step.

# Validation loss is what ReduceLROnPlateau watches by default (lower is better).
PLATEAU_MONITOR = "val/loss"


def _no_schedule(optimizer, total_steps):
    return None


def _step(optimizer, total_steps, step_size: int = 2, gamma: float = 0.98):
    # SVoice's reference schedule: x0.98 every 2 epochs.
    return {"scheduler": lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma), "interval": "epoch"}


def _plateau(
    optimizer,
    total_steps,
    factor: float = 0.5,
    patience: int = 5,
    threshold: float = 0.01,
    threshold_mode: str = "abs",
    cooldown: int = 0,
    min_lr: float = 0.0,
    monitor: str = PLATEAU_MONITOR,
):
    # Absolute threshold by default: the monitored losses here are in dB (negative SI-SNR),
    # often below zero, where torch's relative mode would count a worse value as progress.
    scheduler = lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=factor, patience=patience, threshold=threshold,
        threshold_mode=threshold_mode, cooldown=cooldown, min_lr=min_lr,
    )
    return {"scheduler": scheduler, "interval": "epoch", "monitor": monitor, "strict": True}


def _cosine_warmup(optimizer, total_steps, warmup_steps: int = 100, min_lr_ratio: float = 0.0):
    """Linear warmup from 0 to the base LR over `warmup_steps`, then cosine to `min_lr_ratio * lr`."""
    total = max(int(total_steps), warmup_steps + 1)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total - warmup_steps))
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return {"scheduler": lr_scheduler.LambdaLR(optimizer, factor), "interval": "step"}


def _exponential(optimizer, total_steps, gamma: float = 0.95):
    return {"scheduler": lr_scheduler.ExponentialLR(optimizer, gamma=gamma), "interval": "epoch"}


SCHEDULERS: dict[str, Callable[..., dict | None]] = {
    "none": _no_schedule,
    "step": _step,
    "plateau": _plateau,
    "cosine_warmup": _cosine_warmup,
    "exponential": _exponential,
}


# Schedules whose shape is laid over the run's total steps: a run continued with a larger budget
# would follow a curve that neither the old nor the new budget gives from step 0.
SHAPED_BY_BUDGET = ("cosine_warmup",)


def _scheduler_args(name: str) -> list[str]:
    return [p for p in inspect.signature(SCHEDULERS[name]).parameters if p not in ("optimizer", "total_steps")]


def check_scheduler_args(name: str, args: dict[str, Any], key: str = "scheduler.args") -> None:
    allowed = _scheduler_args(name)
    for arg in args:
        if arg not in allowed:
            listed = ", ".join(allowed) if allowed else "none"
            raise ConfigError(f"config key '{key}.{arg}' is unknown for scheduler '{name}'; allowed: {listed}")


def build_scheduler(name: str, optimizer: torch.optim.Optimizer, total_steps: int, args: dict | None = None):
    return SCHEDULERS[name](optimizer, total_steps, **(args or {}))


def try_scheduler(name: str, optimizer: torch.optim.Optimizer, args: dict | None = None, total_steps: int = 100) -> None:
    """Build the scheduler on `optimizer` (see `try_optimizer`) and step it twice: a step size of 0 or a
    patience given as text fails in `step`, not in the constructor."""
    built = build_scheduler(name, optimizer, total_steps, args)
    if built is None:
        return
    scheduler = built["scheduler"]
    for _ in range(2):
        optimizer.step()
        if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
            scheduler.step(0.0)
        else:
            scheduler.step()
