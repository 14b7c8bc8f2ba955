"""Reading a run's `metrics.csv` without Lightning (grid workers decide on it between trials)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

# The columns of metrics.csv (written by separation.training.metrics_csv), one row per (step, metric).
COLUMNS = ("step", "metric", "value", "wall_time")


def value_after(path: str | Path, metric: str, steps: int) -> float | None:
    """The last value of `metric` logged once `steps` optimizer steps were done, None if none (or not finite).

    Lightning logs a value at the index of the step it follows (the validation after
    4 steps at step 3), so the rows kept are those logged at steps below `steps`.
    """
    found = None
    try:
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                if row.get("metric") == metric and int(float(row["step"])) < steps:
                    found = float(row["value"])
                    found = found if math.isfinite(found) else None
    except (OSError, ValueError, KeyError, TypeError):
        return found
    return found
