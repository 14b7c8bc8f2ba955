"""Training configuration as plain typed data, validated once where it enters: the public face.

A run is fully described by one `Config`. It is read from YAML (`load_config`),
optionally patched with `key.path=value` overrides (the CLI's `--set` and the grid
runner's axes both use `apply_overrides`), and checked by `validate`. Every error
names the offending key and what was allowed, so a typo in a grid spec fails
before any trial starts.

The parts live along their seams (see `separation.configuration`): the schema,
coercion of plain data, YAML and overrides, validation; each task's `data`
section beside its task entry (`separation.data_config`). This module is the top
of that stack and the one name the rest of the package imports them by.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from separation.checks import INT_LIMIT, check_argument_kinds, check_finite, choice, refused_by
from separation.configuration.coercion import from_dict
from separation.configuration.reading import apply_overrides, flatten, parse_set_arguments, read_yaml
from separation.configuration.schema import (
    CLIPPING_MODES,
    NON_TRAINING_KEYS,
    PRECISIONS,
    ClippingConfig,
    Config,
    ModelConfig,
    ObjectiveConfig,
    OptimizerConfig,
    SchedulerConfig,
    TrainerConfig,
)
from separation.configuration.validation import validate, validate_objective
from separation.data_config.enhance import ENHANCE_LAYOUTS, EnhanceDataConfig, validate_enhance_section
from separation.data_config.music import MusicDataConfig, validate_music_data, validate_music_section
from separation.data_config.speech import LAYOUTS, DataConfig, validate_speech_section
from separation.errors import ConfigError  # re-exported: `from separation.config import ConfigError` keeps working
from separation.tasks import TASKS

__all__ = [
    "CLIPPING_MODES", "ENHANCE_LAYOUTS", "INT_LIMIT", "LAYOUTS", "NON_TRAINING_KEYS", "PRECISIONS",
    "ClippingConfig", "Config", "ConfigError", "DataConfig", "EnhanceDataConfig", "ModelConfig", "MusicDataConfig",
    "ObjectiveConfig", "OptimizerConfig", "SchedulerConfig", "TrainerConfig",
    "apply_overrides", "check_argument_kinds", "check_finite", "config_from_dict", "config_to_dict", "flatten",
    "load_config", "parse_set_arguments", "read_yaml", "refused_by", "validate", "validate_enhance_section",
    "validate_music_data", "validate_music_section", "validate_objective", "validate_speech_section",
]


def config_from_dict(data: dict) -> Config:
    """Build and validate a Config from nested plain data."""
    if not isinstance(data, dict):
        raise ConfigError("config must be a mapping of sections (model, data, optimizer, ...)")
    task = data.get("task", Config.task)
    choice("task", task, TASKS)
    data_section = TASKS[task].data_config()
    config = from_dict(Config, data, hints={"data": data_section})
    if "data" not in data:
        config.data = data_section()
    validate(config)
    return config


def config_to_dict(config: Config) -> dict:
    return dataclasses.asdict(config)


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> Config:
    """The config of a YAML file with `overrides` (dotted keys) applied; errors name the file."""
    data = apply_overrides(read_yaml(path), overrides or {})
    try:
        return config_from_dict(data)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
