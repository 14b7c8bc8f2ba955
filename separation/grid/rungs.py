"""The `pruning` section of a grid spec: rungs of synchronous successive halving.

    pruning:
      rungs: [256, 1024]        # optimizer steps at which cells are compared, increasing
      keep: 0.34                # fraction of each group's cells that go on to the next rung
      within: optimizer         # group cells by this axis (default optimizer); `global`: one group
      metric: val/si_snri       # higher is better; default: the task's headline validation metric

Every trial first trains to the first rung and pauses there with its checkpoint;
within each group, the best `keep` fraction of cells (at least one), ranked by the
median over seeds of the metric's last validation at or before the rung, goes on
to the next rung, and so on to the full budget. Grouping by the optimizer makes
pruning choose each optimizer's own settings (its learning rate), while the
optimizers are still compared at full budget. Pruning does not change what a
trial computes (its schedule is the full-budget one from the start), so it does
not enter trial ids: a pruned study's full-budget trials are the unpruned ones.
Rungs at validation steps (ends of epochs) rank on a fresh validation; others
use the last one before them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from separation.errors import ConfigError

KEYS = ("rungs", "keep", "within", "metric")
GLOBAL = "global"  # `within: global`: every cell in one group


@dataclass(frozen=True)
class Rungs:
    steps: tuple[int, ...]
    keep: float
    within: str  # an axis name, or GLOBAL
    metric: str

    def next_stop(self, reached: int | None) -> int | None:
        """The step a trial trains to after rung `reached` (None: not yet at any rung); None = full budget."""
        later = [s for s in self.steps if reached is None or s > reached]
        return later[0] if later else None


def parse_rungs(value: Any, where: str, axis_names: list[str], default_metric: str) -> Rungs | None:
    """The spec's `pruning` mapping, validated; None when the spec has none. Errors name `where`'s key."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: 'pruning' must be a mapping with keys {', '.join(KEYS)}")
    unknown = [key for key in value if key not in KEYS]
    if unknown:
        raise ConfigError(f"{where}: pruning.{unknown[0]} is unknown; allowed: {', '.join(KEYS)}")
    steps = value.get("rungs")
    if (not isinstance(steps, list) or not steps
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in steps)
            or any(b <= a for a, b in zip(steps, steps[1:]))):
        raise ConfigError(f"{where}: pruning.rungs must be a non-empty increasing list of positive step counts, got {steps!r}")
    keep = value.get("keep", 0.5)
    if isinstance(keep, bool) or not isinstance(keep, (int, float)) or not 0 < keep < 1:
        raise ConfigError(f"{where}: pruning.keep must be a fraction between 0 and 1 (exclusive), got {keep!r}")
    within = str(value.get("within", "optimizer"))
    if within not in (GLOBAL, "optimizer") and within not in axis_names:  # one optimizer: one group
        raise ConfigError(f"{where}: pruning.within '{within}' is not an axis of the spec; allowed: "
                          f"{', '.join([*(a for a in axis_names if a != 'seed'), GLOBAL])}")
    if within == "seed":
        raise ConfigError(f"{where}: pruning.within cannot be 'seed' (cells are compared by their median over seeds)")
    metric = value.get("metric", default_metric)
    if not isinstance(metric, str) or not metric.startswith("val/"):
        raise ConfigError(f"{where}: pruning.metric must be a validation metric ('val/...'), got {metric!r}")
    return Rungs(tuple(steps), float(keep), within, metric)
