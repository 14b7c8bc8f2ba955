"""Checks on one configuration value, each failing as a one-line `ConfigError` that names the key.

The config's schema (`separation.configuration`), each task's data section
(`separation.data_config`) and training (`refused_by`) share these; they import
nothing of the package but its errors, so every layer above may use them.
"""

from __future__ import annotations

import inspect
import math
import re
from typing import Any

from separation.errors import ConfigError

# Integers a config may hold: what torch, numpy and Lightning take as a size or count (int64).
INT_LIMIT = 2**63


def short(value: Any) -> str:
    """`repr(value)`, cut to a readable length: a message quoting a huge value stays one short line."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


def check_finite(value: Any, key: str) -> None:
    """Refuse NaN, infinities and integers beyond int64 anywhere in a value (mappings and lists walked).

    A NaN learning rate or threshold would otherwise reach training and end the run as `diverged`,
    an outcome the report blames on the optimizer.
    """
    if isinstance(value, dict):
        for name, item in value.items():
            check_finite(item, f"{key}.{name}")
    elif isinstance(value, (list, tuple)):
        for item in value:
            check_finite(item, key)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"config key '{key}' must be a finite number, got {value!r}")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= INT_LIMIT:
        raise ConfigError(f"config key '{key}' must be below 2**63 in size, got {short(value)}")


def choice(key: str, value: str, allowed) -> None:
    """`value` is one of `allowed` (a registry or a tuple of names)."""
    allowed = list(allowed)
    if value not in allowed:
        raise ConfigError(f"config key '{key}' is '{value}'; allowed: {', '.join(map(str, allowed))}")


def positive(key: str, value: float | None, allow_none: bool = False) -> None:
    """`value` is a finite number above 0 (or None, where `allow_none`)."""
    if value is None and allow_none:
        return
    if value is None or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"config key '{key}' must be a positive number, got {value!r}")


def at_least(key: str, value: int, low: int, also: tuple[int, ...] = ()) -> None:
    """`value >= low`, or one of the special values `also` (-1: unlimited)."""
    if value < low and value not in also:
        allowed = f"at least {low}" + "".join(f" or {v}" for v in also)
        raise ConfigError(f"config key '{key}' must be {allowed}, got {value}")


FLAG, NUMBER, TEXT, LIST = "true or false", "a number", "text", "a list"
# Words of a type annotation -> the kind of config value they take.
_ANNOTATION_KINDS = {"bool": FLAG, "int": NUMBER, "float": NUMBER, "str": TEXT, "list": LIST, "List": LIST,
                     "tuple": LIST, "Tuple": LIST, "Sequence": LIST, "Iterable": LIST}


def _kind(value: Any) -> str | None:
    """What a default stands for: a flag, a number, text or a sequence (None: anything goes)."""
    if isinstance(value, bool):
        return FLAG
    if isinstance(value, (int, float)):
        return NUMBER
    if isinstance(value, str):
        return TEXT
    if isinstance(value, (list, tuple)):
        return LIST
    return None


def _kinds(parameter: inspect.Parameter) -> set[str]:
    """The kinds a parameter takes: from its annotation (`int | Sequence[str]`: a number or a list), else
    from its default; empty when either says nothing checkable (`Any`, a tensor, a None default)."""
    annotation = parameter.annotation
    if annotation is not inspect.Parameter.empty:
        words = set(re.findall(r"[A-Za-z_]+", annotation if isinstance(annotation, str) else str(annotation)))
        if "Any" in words:
            return set()
        kinds = {kind for word, kind in _ANNOTATION_KINDS.items() if word in words}
        if kinds:
            return kinds
    default = _kind(parameter.default) if parameter.default is not inspect.Parameter.empty else None
    return {default} if default else set()


def _is_kind(value: Any, kind: str | None) -> bool:
    if kind == FLAG:
        return isinstance(value, bool)
    if kind == NUMBER:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == TEXT:
        return isinstance(value, str)
    if kind == LIST:
        return isinstance(value, (list, tuple))
    return True


def check_argument_kinds(key: str, args: dict[str, Any], function) -> None:
    """Each argument of a kind its parameter takes (annotation, else default): a number for a number,
    true/false for a flag, text for text, a list for a tuple, and a list's items as the default's.
    `nesterov: "no"` would otherwise train with Nesterov momentum on."""
    parameters = inspect.signature(function).parameters
    for name, value in args.items():
        if name not in parameters:
            continue  # reported by the registry's own check
        kinds, default = _kinds(parameters[name]), parameters[name].default
        if value is None and (default is None or re.search(r"\b(None|Optional)\b", str(parameters[name].annotation))):
            continue
        if kinds and not any(_is_kind(value, kind) for kind in kinds):
            raise ConfigError(f"config key '{key}.{name}' must be {' or '.join(sorted(kinds))}, got {short(value)}")
        if isinstance(value, (list, tuple)) and isinstance(default, (list, tuple)) and default:
            item_kind = _kind(default[0])
            if not all(_is_kind(item, item_kind) for item in value):
                raise ConfigError(f"config key '{key}.{name}' must hold {item_kind} items like {default!r}, got {short(value)}")


def refused_by(key: str, what: str, build) -> Any:
    """`build()`; whatever it raises becomes one ConfigError naming `key`.

    The constructors and step functions of torch's optimizers and schedulers check their own
    arguments (a momentum below 0, a factor above 1, a tuple too short): any exception from them
    with arguments that passed the checks above is the configuration's, so it is reported as such
    instead of as a traceback in the middle of a run.
    """
    try:
        return build()
    except Exception as error:  # noqa: BLE001 - see the docstring
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(f"config key '{key}' is refused by {what}: {message}") from None
