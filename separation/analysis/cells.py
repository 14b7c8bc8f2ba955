"""Per-cell summaries, selection on validation, and comparisons reported on test.

How divergence and collapse enter (stated in every report):
- primary statistics use the seeds that finished without diverging or
  collapsing (`LOST`), and every summary says how many of the cell's seeds did;
- the conservative variant gives each diverged or collapsed seed the worst
  value any trial of the study reached on that metric, so a setting that often
  diverges or collapses cannot look good on its few surviving seeds;
- selection uses the conservative validation median, among the cells planned
  over at least MIN_SEEDS seeds when there are any (see `select_best`); failed, interrupted and
  missing trials are counted and listed, and enter no statistic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from separation.analysis.stats import MIN_SEEDS, Interval, bootstrap_difference, median_iqr, probability_of_improvement
from separation.analysis.study import Study
from separation.outcomes import LOST, OK, OUTCOMES, Status

# The statuses cells.csv counts (`n_<status>`), in its column order.
STATUSES = (Status.COMPLETED, Status.STOPPED_AT_TARGET, Status.DIVERGED, Status.COLLAPSED, Status.FAILED,
            Status.INTERRUPTED, Status.MISSING)


def worst_value(study: Study, column: str) -> float:
    """The lowest finite value of `column` any finished trial of the study reached, lost ones included.

    A collapsed trial usually has a value (its silent or pass-through output scored), often far below
    the rest: leaving it out would count the collapse at the worst *surviving* seed, which in a one-cell
    study is the cell's own, and the conservative interval would hide the collapse. A diverged trial
    has no value and takes this worst one.
    """
    values = study.trials.loc[study.trials["status"].isin((*OK, *LOST)), column].to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    return float(values.min()) if values.size else float("nan")


def seed_values(study: Study, cell: str, column: str, conservative: bool = False) -> np.ndarray:
    """One value per seed of a cell: seeds that finished well, plus diverged/collapsed ones at the worst value if conservative."""
    rows = study.by_cell[cell]
    values = rows.loc[rows["status"].isin(OK), column].to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    if conservative:
        lost = int(rows["status"].isin(LOST).sum())
        values = np.concatenate([values, np.full(lost, worst_value(study, column))])
    return values


def cell_table(study: Study) -> pd.DataFrame:
    """One row per cell: counts by status, median and IQR of the final metrics, time-to-target."""
    rows = []
    for cell in study.cells:
        trials = study.by_cell[cell]
        first = trials.iloc[0]
        row = {"cell": cell, **{f: first[f] for f in study.factors}, "seeds": len(trials)}
        counts = trials["status"].value_counts()
        row.update({f"n_{s.replace('-', '_')}": int(counts.get(s, 0)) for s in STATUSES})
        for column in ("val_final", "test", "val_best", "test_improvement"):
            if column not in trials:
                continue  # test_improvement: only where the headline is not an improvement already
            median, q25, q75 = median_iqr(seed_values(study, cell, column))
            row.update({f"{column}_median": median, f"{column}_q25": q25, f"{column}_q75": q75})
        for column in [c for c in trials.columns if c.startswith(("test[", "test_improvement["))]:
            row[f"{column}_median"] = median_iqr(seed_values(study, cell, column))[0]  # per stem
        row["val_final_median_conservative"] = median_iqr(seed_values(study, cell, "val_final", True))[0]
        row["test_median_conservative"] = median_iqr(seed_values(study, cell, "test", True))[0]
        outcomes = trials[trials["status"].isin(OUTCOMES)]
        for key in study.targets:
            seconds = outcomes[f"seconds_to[{key}]"].to_numpy(dtype=float)
            row[f"reached[{key}]"] = int(np.isfinite(seconds).sum())
            # Medians with inf: a target reached by under half the seeds has an infinite median time.
            row[f"seconds_to[{key}]_median"] = float(np.median(seconds)) if seconds.size else float("nan")
            row[f"steps_to[{key}]_median"] = float(np.median(outcomes[f"steps_to[{key}]"].to_numpy(dtype=float))) if seconds.size else float("nan")
        for column in ("lr_reductions", "sec_per_step"):
            row[f"{column}_median"] = float(np.nanmedian(outcomes[column].to_numpy(dtype=float))) if outcomes[column].notna().any() else float("nan")
        row["clip_rate_mean"] = float(np.nanmean(outcomes["clip_rate"].to_numpy(dtype=float))) if outcomes["clip_rate"].notna().any() else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def seeds_planned(study: Study, cell: str) -> int:
    """Seeds the study planned for a cell, whatever became of them (failed and missing included)."""
    return len(study.by_cell[cell])


def select_best(study: Study, cells: list[str]) -> str | None:
    """The cell with the best conservative median of the final validation metric (ties: the first listed).

    When some candidates were planned over at least MIN_SEEDS seeds and others
    were not, only the former compete: in a two-phase study (an LR sweep on one
    seed, then the sweep's choice over more seeds) the sweep already made the
    choice on validation, and one lucky seed must not overturn a median of five.
    """
    replicated = [cell for cell in cells if seeds_planned(study, cell) >= MIN_SEEDS]
    if replicated:
        cells = replicated
    best, best_value = None, -np.inf
    for cell in cells:
        value = median_iqr(seed_values(study, cell, "val_final", conservative=True))[0]
        if np.isfinite(value) and value > best_value:
            best, best_value = cell, value
    return best


def best_per(study: Study, factor: str, cells: list[str] | None = None) -> dict[str, str]:
    """For each value of `factor` (in study order), its best cell selected on validation."""
    cells = study.cells if cells is None else cells
    cell_of = study.trials.drop_duplicates("cell").set_index("cell")[factor]
    chosen = {}
    for value in dict.fromkeys(cell_of[c] for c in cells):
        best = select_best(study, [c for c in cells if cell_of[c] == value])
        if best is not None:
            chosen[value] = best
    return chosen


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    column: str  # "test" or "val_final"
    median_a: float
    median_b: float
    n_a: int  # finished seeds that neither diverged nor collapsed
    n_b: int
    diverged_a: int  # diverged or collapsed seeds (`LOST`)
    diverged_b: int
    difference: Interval  # median(a) - median(b), bootstrap over seeds
    p_better: float  # P(a > b) over seed pairs
    conservative: Interval | None  # same with lost seeds at the worst value; None when none diverged or collapsed
    p_better_conservative: float | None

    @property
    def diverged(self) -> bool:
        return self.conservative is not None


def lost_seeds(study: Study, cell: str) -> int:
    """Seeds of a cell that diverged or collapsed."""
    return int(study.by_cell[cell]["status"].isin(LOST).sum())


def compare(study: Study, a: str, b: str, column: str = "test") -> Comparison:
    """Cell a against cell b on one metric column, with bootstrap interval and probability of improvement."""
    return compare_across(study, a, study, b, column)


def compare_across(study_a: Study, a: str, study_b: Study, b: str, column: str = "test") -> Comparison:
    """Cell a of one study against cell b of another (or the same): each lost seed counts at its own study's worst."""
    values_a, values_b = seed_values(study_a, a, column), seed_values(study_b, b, column)
    diverged_a, diverged_b = lost_seeds(study_a, a), lost_seeds(study_b, b)
    conservative = p_conservative = None
    if diverged_a or diverged_b:
        cons_a, cons_b = seed_values(study_a, a, column, True), seed_values(study_b, b, column, True)
        conservative = bootstrap_difference(cons_a, cons_b)
        p_conservative = probability_of_improvement(cons_a, cons_b)
    return Comparison(
        a=a,
        b=b,
        column=column,
        median_a=median_iqr(values_a)[0],
        median_b=median_iqr(values_b)[0],
        n_a=len(values_a),
        n_b=len(values_b),
        diverged_a=diverged_a,
        diverged_b=diverged_b,
        difference=bootstrap_difference(values_a, values_b),
        p_better=probability_of_improvement(values_a, values_b),
        conservative=conservative,
        p_better_conservative=p_conservative,
    )


def comparison_table(comparisons: list[Comparison]) -> pd.DataFrame:
    rows = []
    for c in comparisons:
        row = {
            "a": c.a, "b": c.b, "metric": c.column, "median_a": c.median_a, "median_b": c.median_b,
            "n_a": c.n_a, "n_b": c.n_b, "diverged_a": c.diverged_a, "diverged_b": c.diverged_b,
            "difference": c.difference.estimate, "ci_low": c.difference.low, "ci_high": c.difference.high,
            "resolved": c.difference.resolved, "p_a_better": c.p_better,
        }
        if c.conservative is not None:
            row.update({
                "difference_conservative": c.conservative.estimate, "ci_low_conservative": c.conservative.low,
                "ci_high_conservative": c.conservative.high, "p_a_better_conservative": c.p_better_conservative,
            })
        rows.append(row)
    return pd.DataFrame(rows)


def profile_times(study: Study) -> tuple[list[str], list[str], np.ndarray]:
    """Time-to-target problems for performance profiles: (methods, problems, seconds `(methods, problems)`).

    A method is a value of the hue factor (the optimizer when it varies); a
    problem is one panel of the other factors (scheduler x clipping ...) and one
    target. A method's time on a problem is, as with AlgoPerf's external tuning,
    the fastest of its cells there (over learning rates) by median training
    seconds over seeds; never reaching, diverging and having no finished trial
    all count as infinite time.
    """
    cells = study.trials.drop_duplicates("cell").set_index("cell")
    table = cell_table(study).set_index("cell")
    methods = list(dict.fromkeys(cells[study.hue]))
    groups = cells.groupby(study.panels, sort=False).groups if study.panels else {"all": cells.index}
    problems, columns = [], []
    for panel, members in groups.items():
        panel_name = " · ".join(map(str, panel)) if isinstance(panel, tuple) else str(panel)
        for key in study.targets:
            times = []
            for method in methods:
                mine = [c for c in members if cells.loc[c, study.hue] == method]
                values = table.loc[mine, f"seconds_to[{key}]_median"].to_numpy(dtype=float) if mine else np.array([])
                values = np.where(np.isnan(values), np.inf, values)
                times.append(float(values.min()) if values.size else np.inf)
            problems.append(f"{panel_name}: {key}" if study.panels else key)
            columns.append(times)
    return methods, problems, np.array(columns, dtype=float).T.reshape(len(methods), len(problems))
