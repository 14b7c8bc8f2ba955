"""The objective registry: a grid axis over training objectives is one key, `objective.name`."""

from __future__ import annotations

import inspect
from typing import Any

from separation.objectives.base import Objective
from separation.objectives.mixit import MixIT
from separation.objectives.pu import PU
from separation.objectives.supervised import Supervised

OBJECTIVES: dict[str, type[Objective]] = {
    "supervised": Supervised,
    "mixit": MixIT,
    "pu": PU,
}


def objective_arguments(name: str) -> list[str]:
    return [p for p in inspect.signature(OBJECTIVES[name].__init__).parameters if p not in ("self", "args", "kwargs")]


def build_objective(name: str, args: dict[str, Any] | None = None) -> Objective:
    if name not in OBJECTIVES:
        raise KeyError(f"unknown objective '{name}'; allowed: {', '.join(OBJECTIVES)}")
    return OBJECTIVES[name](**(args or {}))


def needs_noise_only(config) -> bool:
    """Whether `config.objective` trains on noise-only clips: what the enhancement task tells its datamodule,
    so the data layer checks its corpus without importing the objectives."""
    return bool(getattr(OBJECTIVES.get(config.objective.name), "needs_noise_only", False))
