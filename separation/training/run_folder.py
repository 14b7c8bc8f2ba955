"""A run folder holds one experiment: `train` continues it only with the config that started it.

The folder's `config.yaml` is compared with the config about to train. Keys that change nothing
that is computed (`NON_TRAINING_KEYS`: the folder's own path, the progress bar, loader workers)
may differ. A raised budget (`BUDGET_KEYS`) continues the run and is recorded in
`budget_changes.json` (and the summary); any other difference is refused, because the folder
would then hold checkpoints and scores that no single config produced. `move_aside` clears the
way for a new run without deleting the old one.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

from separation.atomic import write_json_atomic
from separation.config import NON_TRAINING_KEYS, Config, config_from_dict, config_to_dict, flatten, read_yaml
from separation.errors import ConfigError, UserError
from separation.optim import SHAPED_BY_BUDGET
from separation.training.precision import resolve_precision

# Limits of how long a run trains: raising one continues the same run further.
BUDGET_KEYS = ("trainer.max_epochs", "trainer.max_steps", "trainer.max_minutes")
BUDGET_FILE = "budget_changes.json"
WAYS_OUT = "train into a new folder with -o NEW, or move this run aside with --restart"
_ABSENT = object()


def training_keys(config: Config) -> dict[str, Any]:
    """The flattened config without the keys that change nothing a run computes."""
    flat = flatten(config_to_dict(config))
    for key in NON_TRAINING_KEYS:
        flat.pop(key, None)
    # An empty `args` is the same as one without the key another config sets.
    return {key: value for key, value in flat.items() if value != {}}


def _limit(key: str, value: Any) -> float:
    """A budget as a number; unlimited (-1 epochs or steps, no minutes) is infinite."""
    if value is None or (key != "trainer.max_minutes" and value == -1):
        return math.inf
    return float(value)


def _change(key: str, old: Any, new: Any) -> str:
    def shown(value: Any) -> str:
        return "unset" if value is _ABSENT else repr(value)

    return f"{key} {shown(old)} -> {shown(new)}"


def budget_changes(config: Config, run_dir: Path) -> list[dict[str, Any]]:
    """Compare `config` with the run folder's `config.yaml`; return the raised budgets.

    Returns [] for a folder without `config.yaml` (nothing trained there yet) and for the same
    config. Raises UserError (one line, naming the differing keys and the ways out) for any
    other difference, a lowered budget, and a raised step budget under a schedule laid over it.
    """
    saved = run_dir / "config.yaml"
    if not saved.is_file():
        return []
    read_budget_changes(run_dir)  # an unreadable record is refused now, not after the run is set up
    try:
        previous = config_from_dict(read_yaml(saved))
    except ConfigError as error:
        raise UserError(f"{saved}: not a config this version can continue ({error}); {WAYS_OUT}") from None
    old, new = training_keys(previous), training_keys(config)
    # `auto` is the precision it resolves to here: a run saved with "32" continues under `auto` on a CPU
    # where auto means fp32 (runs from before auto was the default), and is refused where it means bf16.
    for keys, source in ((old, previous), (new, config)):
        keys["trainer.precision"] = resolve_precision(source.trainer.precision, source.model.name,
                                                      source.trainer.accelerator).resolved
    differing = sorted(key for key in old.keys() | new.keys() if old.get(key, _ABSENT) != new.get(key, _ABSENT))
    raised = [key for key in differing if key in BUDGET_KEYS and _limit(key, new[key]) > _limit(key, old[key])]
    refused = [key for key in differing if key not in raised]
    if refused:
        shown = [_change(key, old.get(key, _ABSENT), new.get(key, _ABSENT)) for key in refused[:4]]
        more = f" and {len(refused) - 4} more" if len(refused) > 4 else ""
        lowered = " (a budget may only be raised)" if set(refused) & set(BUDGET_KEYS) else ""
        raise UserError(f"{run_dir}: holds a run of another config ({', '.join(shown)}{more}){lowered}; {WAYS_OUT}")
    stretched = [key for key in raised if key != "trainer.max_minutes"]
    if stretched and config.scheduler.name in SHAPED_BY_BUDGET:
        raise UserError(f"{run_dir}: raising {', '.join(stretched)} would stretch the '{config.scheduler.name}' schedule "
                        f"of a run already under way; {WAYS_OUT}")
    return [{"key": key, "from": old[key], "to": new[key]} for key in raised]


def read_budget_changes(run_dir: Path) -> list[dict[str, Any]]:
    """The folder's record of raised budgets ([] when there is none)."""
    path = run_dir / BUDGET_FILE
    try:
        record = json.loads(path.read_text()) if path.is_file() else []
    except (UnicodeDecodeError, json.JSONDecodeError):
        record = None
    if not isinstance(record, list):
        raise UserError(f"{path}: not the JSON list of budget changes this folder's runs write; {WAYS_OUT}")
    return record


def record_budget_changes(run_dir: Path, changes: list[dict[str, Any]], at_step: int) -> list[dict[str, Any]]:
    """Append `changes` (made when the run stood at `at_step`) to the folder's record; return the whole record."""
    path = run_dir / BUDGET_FILE
    record = read_budget_changes(run_dir)
    if changes:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        record += [{**change, "at_step": at_step, "time": stamp} for change in changes]
        write_json_atomic(path, record)
    return record


def move_aside(run_dir: Path) -> Path | None:
    """Rename a run folder that holds anything to `<name>.restarted-<UTC time>` beside it; never deletes.

    Returns the new name, or None when there was nothing to move.
    """
    if not run_dir.is_dir() or not any(run_dir.iterdir()):
        return None
    run_dir = run_dir.resolve()  # `.` has no name to add a date to
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = run_dir.with_name(f"{run_dir.name}.restarted-{stamp}")
    suffix = 1
    while target.exists():
        suffix += 1
        target = run_dir.with_name(f"{run_dir.name}.restarted-{stamp}-{suffix}")
    os.rename(run_dir, target)
    return target
