"""Every reach into PyTorch Lightning's private API, in one place, with the versions it was checked on.

Exact resume, a signal's checkpoint and the final weights of a run stopped
between validations need four things Lightning keeps to itself. Each is one
function here, so a Lightning upgrade is checked in one file, by the tests
named beside each function (run them after changing the pinned range):

- `flush_step_metrics(trainer)`: `trainer._logger_connector`'s per-step logging,
  sent early when a run checkpoints and stops inside a training step, so its
  resumed metrics.csv has no hole.
  tests/test_interrupt.py::test_interrupt_mid_epoch_then_resume_equals_uninterrupted,
  tests/test_interrupt.py::test_sigint_during_train_exits_130_and_the_rerun_resumes,
  tests/test_grid_pruning.py::test_decisions_follow_the_hand_ranking_and_survivors_equal_unpruned_runs
- `last_saved_step(checkpoint_callback)`: `ModelCheckpoint._last_global_step_saved`.
  tests/test_interrupt.py::test_a_run_stopped_between_validations_saves_its_final_weights
- `attached_trainer(module)`: `LightningModule._trainer` (its `trainer` property raises when none).
  tests/test_train.py::test_resume_equals_uninterrupted (a scheduler sized by the trainer's steps),
  tests/test_multi_device.py::test_an_interrupted_two_process_run_resumes_exactly (a reduction across processes)
- `TRAINING_STATE_KEYS` and `saved_loader_states(checkpoint)`: the layout of a full
  checkpoint (`loops` -> `fit_loop` -> `state_dict` -> `combined_loader`).
  tests/test_train.py::test_resume_equals_uninterrupted,
  tests/test_multi_device.py::test_the_loader_position_counts_every_process_and_reads_old_checkpoints,
  tests/test_no_data_lost.py::test_resume_sets_a_pickle_aside_without_a_warning

`check_lightning_version` runs when this module is imported: outside the
verified range it warns once, naming these tests (tests/test_interrupt.py::
test_the_lightning_version_check_warns_outside_the_verified_range guards it).
"""

from __future__ import annotations

import warnings
from typing import Any

import pytorch_lightning as pl

# Lightning versions the private names below were verified with: [lowest, above the highest).
VERIFIED = ((2, 6), (2, 7))

# The keys of a full training checkpoint (not a weights-only one) that a resume needs.
TRAINING_STATE_KEYS = frozenset({"state_dict", "loops", "global_step"})


def _major_minor(version: str) -> tuple[int, int]:
    parts = (version.split("+")[0].split(".") + ["0", "0"])[:2]
    return tuple(int("".join(c for c in part if c.isdigit()) or 0) for part in parts)  # type: ignore[return-value]


def check_lightning_version(version: str = pl.__version__) -> bool:
    """True when `version` is in the verified range; else warn (once per call site) and return False."""
    low, high = VERIFIED
    if low <= _major_minor(version) < high:
        return True
    warnings.warn(
        f"pytorch-lightning {version} is outside {low[0]}.{low[1]} to <{high[0]}.{high[1]}, the versions "
        "separation.lightning_compat was verified with: exact resume may break; run the tests its docstring names",
        RuntimeWarning, stacklevel=2)
    return False


def flush_step_metrics(trainer: pl.Trainer) -> None:
    """Send this training step's logged scalars to the loggers now, as Lightning does after the step's hooks."""
    connector = getattr(trainer, "_logger_connector", None)
    if connector is not None and hasattr(connector, "update_train_step_metrics"):
        connector.on_batch_end()
        connector.update_train_step_metrics()


def last_saved_step(checkpoint_callback: Any) -> int | None:
    """The global step of the checkpoint callback's last save (None when it has no record)."""
    return getattr(checkpoint_callback, "_last_global_step_saved", None)


def attached_trainer(module: pl.LightningModule) -> pl.Trainer | None:
    """The module's trainer, or None outside one (where `module.trainer` raises)."""
    return module._trainer


def saved_loader_states(checkpoint: dict) -> list:
    """The training loaders' saved `state_dict`s in a full checkpoint (empty when it has none)."""
    fit_loop = checkpoint.get("loops", {}).get("fit_loop", {})
    return list(fit_loop.get("state_dict", {}).get("combined_loader", []))


check_lightning_version()
