"""Plain data (YAML's mappings, lists and scalars) -> the config's dataclasses, each leaf type-checked.

A value is converted only where nothing is lost (`precision: 32` to "32", `lr: 1e-3`
read by YAML as text to 0.001, `max_steps: 100.0` to 100); anything else is a
one-line ConfigError naming the key.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any, get_type_hints

from separation.checks import check_finite, short
from separation.errors import ConfigError


def coerce(value: Any, hint: Any, key: str) -> Any:
    """Check one leaf value against its annotated type, converting where lossless."""
    if is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}' must be a mapping, got {type(value).__name__}")
        return from_dict(hint, value, key + ".")
    text = str(hint)
    if value is None:
        if "None" in text:
            return None
        raise ConfigError(f"config key '{key}' must not be empty")
    check_finite(value, key)
    if text.startswith("dict"):
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}' must be a mapping, got {short(value)}")
        return dict(value)
    if hint is bool or text.startswith("bool"):
        if not isinstance(value, bool):
            raise ConfigError(f"config key '{key}' must be true or false, got {value!r}")
        return value
    if hint is str or text.startswith("str"):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # precision: 32 reads as an int in YAML
        if not isinstance(value, str):
            raise ConfigError(f"config key '{key}' must be a string, got {value!r}")
        return value
    if hint is int or text.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and not value.is_integer()):
            raise ConfigError(f"config key '{key}' must be an integer, got {short(value)}")
        check_finite(int(value), key)  # 1e300 is a whole number, and too big for any size
        return int(value)
    if hint is float or text.startswith("float"):
        if isinstance(value, str):
            try:
                value = float(value)  # YAML reads 1e-3 as a string
            except ValueError:
                pass
            check_finite(value, key)  # "nan" and "inf" read as numbers here
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key '{key}' must be a number, got {short(value)}")
        return float(value)
    return value


def from_dict(cls: type, data: dict, prefix: str = "", hints: dict | None = None) -> Any:
    """An instance of the dataclass `cls` from the mapping `data`; `hints` replaces field types
    (a config's `data` field takes its task's section). Unknown keys are refused, missing ones keep defaults."""
    hints = {**get_type_hints(cls), **(hints or {})}
    names = [f.name for f in fields(cls)]
    unknown = [k for k in data if k not in names]
    if unknown:
        raise ConfigError(
            f"config key '{prefix}{unknown[0]}' is unknown; allowed: {', '.join(names)}"
        )
    values = {k: coerce(v, hints[k], prefix + k) for k, v in data.items()}
    return cls(**values)
