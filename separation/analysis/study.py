"""A study as the analysis sees it: its trials, their logged values and configs, and how cells are formed.

Collection builds one (`separation.analysis.collect`: from the trial folders, or
from a committed report's tables); everything else of the analysis, the full
test evaluation (`separation.analysis.evaluation`) included, reads it. Outcome
statuses are `separation.outcomes`'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from separation.grid.spec import GridSpec
from separation.tasks import Headline

# The factor columns every study has, whatever its spec varied (other axes follow, by their dotted key).
FACTORS = ("optimizer", "lr", "scheduler", "clipping")


# Schedules that change the LR at every optimizer step (separation.optim.SCHEDULERS): the trial's
# `lr_reductions` counts the steps whose LR fell below the previous step's (training.callbacks.LrTracker;
# trials before 2026-12-07 counted epochs), nearly one per step for these, which is no count of
# reductions; the report says "every step" instead (tests/test_report.py checks this list against the
# registry). Step, plateau and exponential schedules reduce on events and are counted.
CONTINUOUS_SCHEDULES = ("cosine_warmup",)


def decays_every_step(trials) -> bool:
    """Whether every one of these trial rows (a DataFrame of `trials.csv`) ran a continuous schedule."""
    column = "scheduler_name" if "scheduler_name" in trials else "scheduler"  # `scheduler` is the label, args included
    names = set(trials[column].dropna().astype(str))
    return bool(names) and names <= set(CONTINUOUS_SCHEDULES)


@dataclass
class Study:
    name: str
    study_dir: Path
    spec: GridSpec | None
    task: str
    headline: Headline
    trials: pd.DataFrame  # one row per trial, see `separation.analysis.collect.trial_row`
    steps: pd.DataFrame  # trial, cell, step, metric, value, wall_time
    configs: dict[str, dict]  # trial id -> resolved config
    metas: dict[str, dict]  # trial id -> meta.json (empty when missing)
    factors: list[str]  # factor columns, fixed ones included
    varying: list[str]  # factors with more than one value in this study
    hue: str  # the factor that colours figures: the optimizer when it varies
    targets: list[str]  # time-to-target keys, e.g. "val/si_snri>=5"
    notes: list[str] = field(default_factory=list)  # folders ignored and why
    # Setup lines on devices, engine, code, versions and compute, when they come from a
    # committed report rather than the trials' meta.json (see `collect_tables`).
    provenance: list[str] | None = None
    source: str = "runs"  # "runs" (trial folders) or "tables" (a committed report's CSVs)
    # `separation evaluate` scores per evaluated trial and spec baseline (separation.analysis.evaluation);
    # None until a collector reads them.
    evaluations: pd.DataFrame | None = None

    @property
    def cells(self) -> list[str]:
        return list(dict.fromkeys(self.trials["cell"]))

    @cached_property
    def by_cell(self) -> dict[str, pd.DataFrame]:
        """The trial rows of each cell (the statistics ask for them many times)."""
        return {cell: rows for cell, rows in self.trials.groupby("cell", sort=False)}

    @property
    def panels(self) -> list[str]:
        """Factors that split figures into panels: everything varying but the hue and the LR."""
        return [f for f in self.varying if f not in (self.hue, "lr")]

    def series(self, trial: str, metric: str) -> pd.DataFrame:
        """(step, value) of one metric of one trial, by step."""
        rows = self.steps[(self.steps["trial"] == trial) & (self.steps["metric"] == metric)]
        return rows[["step", "value"]].sort_values("step")
