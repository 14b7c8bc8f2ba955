"""A config's plain data as it arrives: YAML files, dotted `key.path=value` overrides, flattened keys.

The CLI's `--set` and the grid runner's axes both patch a config through
`apply_overrides`; `flatten` names every leaf by its dotted key (trial tables,
hyperparameters).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from separation.errors import ConfigError


def flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; used for overrides, hparams and trial tables."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def apply_overrides(data: dict, overrides: dict[str, Any]) -> dict:
    """Return a deep copy of `data` with each dotted key set to its value.

    Keys inside `args` mappings may be new (they are checked against the
    constructor later); any other unknown key is reported by validation.
    """
    result = copy.deepcopy(data)
    for dotted, value in overrides.items():
        node = result
        parts = dotted.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"config key '{dotted}': '{part}' is not a section")
            node = child
        node[parts[-1]] = value
    return result


def parse_set_arguments(items: list[str]) -> dict[str, Any]:
    """Parse CLI `key.path=value` pairs; values are read as YAML scalars."""
    overrides = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got '{item}'")
        key, raw = item.split("=", 1)
        try:
            overrides[key.strip()] = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            raise ConfigError(f"--set {item}: the value of '{key.strip()}' is not a YAML scalar, list or mapping") from None
    return overrides


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml's safe loader, refusing a key written twice in one mapping: plain YAML keeps the last one
    silently, so a spec edited by hand could run a study other than the one its reader sees."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' appears twice in one mapping", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path) -> dict:
    """Read a YAML mapping, with one-line errors naming the file."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; expected a YAML file")
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    try:
        data = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)  # a SafeLoader: builds plain data only
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file; expected YAML") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{path}: malformed YAML{where}: {getattr(error, 'problem', error)}") from None
    if data is None:
        raise ConfigError(f"{path}: empty; expected a YAML mapping")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data
