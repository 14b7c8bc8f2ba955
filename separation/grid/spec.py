"""Grid specs: a base config and axes, expanded into trials with stable ids.

A spec (YAML) looks like::

    study: svoice_optimizers
    base: configs/svoice_cpu.yaml          # relative to the spec file
    set: {trainer.max_epochs: 20}          # applied to every trial
    axes:
      optimizer:                           # each optimizer with its own learning rates
        - {name: adam, lr: [3.0e-4, 1.0e-3]}
        - {name: sgd_momentum, lr: [0.01, 0.1], args: {momentum: 0.9}}
      scheduler: [{name: none}, {name: plateau, args: {patience: 2}}]
      clipping: [{mode: none}, {mode: norm, value: 5}]
      seed: [0, 1, 2]
      data.batch_size: [4, 8]              # any other config key, by its dotted path
    exclude: [{optimizer.name: sgd_momentum, scheduler.name: plateau}]
    include: [{optimizer.name: adamw, optimizer.lr: 1.0e-3}, {optimizer.name: adam, optimizer.lr: 3.0e-4, seed: [3, 4]}]
    targets: {val/si_snri: [5, 10]}        # time-to-target thresholds: every trial's `targets`
    stop_at_target: false                  # true: every trial's `trainer.stop_at_target`
    baselines: [../results/enhance_baselines/rnnoise]   # reference rows of the report (see below)
    claims: claims/svoice_long.yaml        # the report's "did the early claims hold?" table (see below)
    pruning: {rungs: [256, 1024], keep: 0.34, within: optimizer}   # successive halving (separation.grid.rungs)
    continue_shorter: true                 # start from a finished shorter trial (separation.grid.continuation)

The grid is the product of the axes. `exclude` removes every trial whose
settings match all keys of a rule; `include` adds one trial per rule and seed (the
rule's seed or list of seeds, else every seed of the seed axis) on top of the base
config; an included trial equal to a grid trial is the same trial (same id).
Every trial is validated here, before anything is trained or written.

`baselines` lists evaluation folders written by `separation evaluate` (e.g.
`--baseline rnnoise -o results/enhance_baselines/rnnoise`), relative to the spec
file like `base` (so any working directory, a Ray worker's included, finds
them); the report shows them as reference rows of its full-evaluation
section. They train nothing, so they do not enter trial ids; each must hold the
task's evaluation file, checked here.

`claims` names a claims file (`scripts/verdict_table.py`'s input), relative to the spec
file: the report then carries the verdict table, each claim an earlier study made beside
the same comparison at this study's budget. Like `baselines` it trains nothing and enters
no trial id; here only its existence is checked (the report reads it).

`continue_shorter: true` lets a trial start where a completed trial of the same study
folder stopped when the two differ only by a smaller `trainer.max_epochs` there (a longer
budget of the same recipe: `separation.grid.continuation`); it changes no result, so
it enters no trial id. Not with `pruning`, whose rungs already continue trials.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from separation.config import (
    NON_TRAINING_KEYS,
    Config,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    flatten,
    read_yaml,
)
from separation.errors import ConfigError
from separation.grid.rungs import Rungs, parse_rungs

SPEC_KEYS = ("study", "base", "set", "axes", "include", "exclude", "targets", "stop_at_target", "description", "baselines",
             "pruning", "claims", "continue_shorter")
# Keys that do not change what a trial computes, so they do not enter its id.
ID_EXCLUDED_KEYS = NON_TRAINING_KEYS
# Sections added after studies were committed: left out of the id while at their default,
# so the ids of existing speech and music studies (results/*/trials.csv) stay the same.
ID_DEFAULTS_OMITTED = ("objective",)


@dataclass
class Trial:
    id: str
    overrides: dict[str, Any]  # the axis values that make this trial (dotted keys)
    config: Config


@dataclass
class GridSpec:
    study: str
    path: Path
    trials: list[Trial]
    description: str = ""
    # `baselines` as written in the spec -> the folder it names (resolved against the spec's folder).
    baselines: dict[str, Path] = field(default_factory=dict)
    # Successive halving over the cells (None: every trial trains to its full budget).
    pruning: Rungs | None = None
    # The claims file the report's verdict table reads (the spec's folder joined with it), or None.
    claims: Path | None = None
    # Start a trial from a completed shorter trial of the same recipe in the study folder.
    continue_shorter: bool = False


def trial_id(config: Config) -> str:
    """Stable id from the resolved config: same config, same id, on any machine.

    `clipping.value` means nothing under `clipping.mode: none` (nothing is
    clipped), so there it is hashed as None whatever the config says: two trials
    that differ only in it are one trial. None is what every committed trial
    with mode none holds (the clipping axis writes `{mode: none}` as value None,
    and no committed spec or run sets a value under mode none; checked against
    results/*/trials.csv and every spec's dry run when this was added), so
    hashing it as None changes no committed id.
    """
    data = config_to_dict(config)
    for section in ID_DEFAULTS_OMITTED:
        if data.get(section) == config_to_dict(Config()).get(section):
            data.pop(section)
    flat = flatten(data)
    for key in ID_EXCLUDED_KEYS:
        flat.pop(key, None)
    if flat.get("clipping.mode") == "none":
        flat["clipping.value"] = None
    canonical = json.dumps(flat, sort_keys=True, default=str)
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:10]
    label = f"{config.optimizer.name}-lr{config.optimizer.lr:g}-{config.scheduler.name}-{_clip_label(config)}-s{config.seed}"
    return f"{label}-{digest}"


def _clip_label(config: Config) -> str:
    if config.clipping.mode == "none":
        return "noclip"
    return f"{config.clipping.mode}{config.clipping.value:g}"


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _optimizer_axis(entries: list, where: str) -> list[dict]:
    values = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "name" not in entry:
            raise ConfigError(f"{where}.optimizer[{i}] must be a mapping with a 'name'")
        unknown = set(entry) - {"name", "lr", "args", "weight_decay"}
        if unknown:
            raise ConfigError(f"{where}.optimizer[{i}]: key '{sorted(unknown)[0]}' is unknown; allowed: name, lr, weight_decay, args")
        lrs = _as_list(entry.get("lr", [None]))
        if not lrs:
            raise ConfigError(f"{where}.optimizer[{i}] ({entry['name']}): 'lr' is an empty list")
        for lr in lrs:
            value = {"optimizer.name": entry["name"], "optimizer.args": dict(entry.get("args") or {})}
            if lr is not None:
                value["optimizer.lr"] = lr
            if "weight_decay" in entry:
                value["optimizer.weight_decay"] = entry["weight_decay"]
            values.append(value)
    return values


def _section_axis(section: str, entries: list, where: str, allowed: tuple[str, ...]) -> list[dict]:
    values = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}.{section}[{i}] must be a mapping (e.g. {{{allowed[0]}: ...}})")
        unknown = set(entry) - set(allowed)
        if unknown:
            raise ConfigError(f"{where}.{section}[{i}]: key '{sorted(unknown)[0]}' is unknown; allowed: {', '.join(allowed)}")
        value = {f"{section}.{key}": entry[key] for key in entry}
        if section == "scheduler":
            value.setdefault("scheduler.args", {})
        if section == "clipping":
            value.setdefault("clipping.value", None)
        values.append(value)
    return values


def _expand_axes(axes: dict, where: str) -> tuple[list[str], list[list[dict]]]:
    names, choices = [], []
    for name, entries in axes.items():
        if not isinstance(entries, list) or not entries:
            raise ConfigError(f"{where}.{name} must be a non-empty list")
        if name == "optimizer":
            values = _optimizer_axis(entries, where)
        elif name == "scheduler":
            values = _section_axis("scheduler", entries, where, ("name", "args"))
        elif name == "clipping":
            values = _section_axis("clipping", entries, where, ("mode", "value"))
        elif name == "seed":
            if len(set(map(str, entries))) != len(entries):
                duplicate = next(s for s in entries if entries.count(s) > 1)
                raise ConfigError(f"{where}.seed lists seed {duplicate} more than once")
            values = [{"seed": seed} for seed in entries]
        else:
            values = [{name: value} for value in entries]
        names.append(name)
        choices.append(values)
    return names, choices


def _same(a: Any, b: Any) -> bool:
    try:
        return float(a) == float(b)  # 1e-3 written as a string or a number
    except (TypeError, ValueError):
        return str(a) == str(b)


def _matches(rule: dict, flat: dict) -> bool:
    """A rule matches a trial when every one of its dotted keys has the rule's value."""
    return all(key in flat and _same(flat[key], value) for key, value in rule.items())


def load_spec(path: str | Path) -> GridSpec:
    """Read, expand and validate a grid spec; raises ConfigError naming the file and key."""
    path = Path(path)
    spec = read_yaml(path)
    where = path.name
    unknown = [key for key in spec if key not in SPEC_KEYS]
    if unknown:
        raise ConfigError(f"{path}: key '{unknown[0]}' is unknown; allowed: {', '.join(SPEC_KEYS)}")
    for required in ("study", "base"):
        if required not in spec:
            raise ConfigError(f"{path}: key '{required}' is missing")
    study = str(spec["study"])
    if not study or "/" in study or study.startswith("."):
        raise ConfigError(f"{path}: 'study' must be a plain folder name, got '{study}'")

    base = read_yaml((path.parent / spec["base"]).resolve())
    base = apply_overrides(base, dict(spec.get("set") or {}))
    targets = spec.get("targets") or {}
    if targets:
        base = apply_overrides(base, {"targets": targets})
    if spec.get("stop_at_target"):
        base = apply_overrides(base, {"trainer.stop_at_target": True})

    axes = spec.get("axes") or {}
    if not isinstance(axes, dict):
        raise ConfigError(f"{path}: 'axes' must be a mapping of axis name -> list of values")
    names, choices = _expand_axes(axes, f"{where}: axes")
    combos = [dict(kv for part in product for kv in part.items()) for product in itertools.product(*choices)]

    excludes = spec.get("exclude") or []
    for i, rule in enumerate(excludes):
        if not isinstance(rule, dict) or not rule:
            raise ConfigError(f"{path}: exclude[{i}] must be a non-empty mapping of dotted keys to values")

    seeds = axes.get("seed", [None])
    includes = []
    for i, rule in enumerate(spec.get("include") or []):
        if not isinstance(rule, dict) or not rule:
            raise ConfigError(f"{path}: include[{i}] must be a non-empty mapping of dotted keys to values")
        # A rule's seed may be one seed or a list of them (a two-phase study adds
        # the chosen settings over more seeds); without one, every seed of the axis.
        rule_seeds = _as_list(rule["seed"]) if "seed" in rule else seeds
        if not rule_seeds:
            raise ConfigError(f"{path}: include[{i}].seed is an empty list")
        for seed in rule_seeds:
            includes.append({**rule, **({"seed": seed} if seed is not None else {})})
    combos += includes

    trials, seen = [], set()
    for combo in combos:
        try:
            config = config_from_dict(apply_overrides(base, combo))
        except ConfigError as error:
            raise ConfigError(f"{path}: trial {_describe(combo)}: {error}") from None
        if any(_matches(rule, flatten(config_to_dict(config))) for rule in excludes) and combo not in includes:
            continue
        tid = trial_id(config)
        if tid in seen:
            continue  # an include that repeats a grid cell
        seen.add(tid)
        config.run_dir = ""  # set by the runner: runs/<study>/<id>
        trials.append(Trial(tid, combo, config))
    if not trials:
        raise ConfigError(f"{path}: the grid is empty after include/exclude")
    return GridSpec(
        study=study,
        path=path,
        trials=trials,
        description=str(spec.get("description", "")),
        baselines=_baselines(spec.get("baselines"), path, trials[0].config.task),
        pruning=parse_rungs(spec.get("pruning"), str(path), names, _headline_val(trials[0].config.task)),
        claims=_claims_file(spec.get("claims"), path),
        continue_shorter=_continue_shorter(spec, path),
    )


def _continue_shorter(spec: dict, path: Path) -> bool:
    value = spec.get("continue_shorter", False)
    if not isinstance(value, bool):
        raise ConfigError(f"{path}: 'continue_shorter' must be true or false, got {value!r}")
    if value and spec.get("pruning"):
        raise ConfigError(f"{path}: 'continue_shorter' and 'pruning' do not go together (a pruned study's rungs "
                          "already continue its trials); drop one")
    return value


def _claims_file(entry: Any, path: Path) -> Path | None:
    """The spec's `claims`: a file relative to the spec's folder, which must exist."""
    if entry is None:
        return None
    if not isinstance(entry, str) or not entry:
        raise ConfigError(f"{path}: 'claims' must be the path of a claims file (relative to the spec file), got {entry!r}")
    file = path.parent / entry  # not resolved: the report shows it as the spec's path was given
    if not file.is_file():
        raise ConfigError(f"{path}: claims '{entry}': no such file {file} (paths are relative to the spec file)")
    return file


def _headline_val(task: str) -> str:
    from separation.tasks import TASKS

    return TASKS[task].headline.val


def _baselines(entries: Any, path: Path, task: str) -> dict[str, Path]:
    """The spec's `baselines`: each an evaluation folder holding the task's evaluation file, readable."""
    from separation.errors import UserError
    from separation.tasks import get_task

    if entries is None:
        return {}
    if not isinstance(entries, list) or not all(isinstance(e, str) and e for e in entries):
        raise ConfigError(f"{path}: 'baselines' must be a list of evaluation folders (relative to the spec file)")
    reader = get_task(task)
    folders = {}
    for i, entry in enumerate(entries):
        if entry in folders:
            raise ConfigError(f"{path}: baselines[{i}] '{entry}' is listed twice")
        folder = (path.parent / entry).resolve()
        where = f"{path}: baselines[{i}] '{entry}'"
        if not folder.is_dir():
            raise ConfigError(f"{where}: no such folder {folder} (paths are relative to the spec file)")
        try:
            evaluation = reader.evaluation_scores(folder)
        except UserError as error:
            raise ConfigError(f"{where}: {error}") from None
        if evaluation is None:
            raise ConfigError(f"{where}: no {reader.evaluation_file} in {folder} (written by `separation evaluate ... -o {entry}`)")
        folders[entry] = folder
    return folders


def _describe(combo: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in combo.items() if v not in ({}, None))
