"""Does the best optimizer change with another factor? The optimizers ranked within each value of it.

A study that crosses the optimizer with an axis of its own (the training
objective of `experiments/enhance_objectives.yaml`: `objective.name`) asks
whether the optimizer that wins under one value of that axis wins under the
others. The *grouping factor* is found, not declared: an added axis (outside
optimizer, LR, scheduler, clipping) that determines every other added axis of
the study, as `objective.name` sets MixIT's `model.args.n_src` and PU's
`objective.args`; a study without one gets no such section.

Within each value, each optimizer is represented by its best cell, chosen by
the report's rule (conservative validation median, `cells.select_best`), and
the optimizers are ranked by it. The winner is compared on the reported metric
with every other optimizer of its group (`cells.compare`): the optimizers not
separated from it (their difference's interval, conservative where seeds were
lost, contains 0) are *tied with the best*. The best optimizer *changes* with
the factor, resolved, only when two values have disjoint tied sets; different
winners with overlapping tied sets are a change in the medians that the seeds
do not resolve.

The per-value table has the shape of the PULSE paper's (Ito & Sugiyama 2023,
Table 1: SI-SNRi, STOI, PESQ per objective): the best cell's full test
evaluation (`separation evaluate`) as mean [95% bootstrap interval] over its
seeds that neither diverged nor collapsed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from separation.analysis.cells import Comparison, best_per, compare, lost_seeds, seed_values, select_best
from separation.analysis.evaluation import ok_rows, score_columns
from separation.analysis.findings import decisive
from separation.analysis.stats import Interval, bootstrap_mean, median_iqr
from separation.analysis.study import FACTORS, Study


def grouping_factor(study: Study) -> str | None:
    """The added axis that determines every other added axis, when the optimizer varies across its values."""
    added = [f for f in study.varying if f not in FACTORS]
    if "optimizer" not in study.varying or not added:
        return None
    cells = study.trials.drop_duplicates("cell").astype({f: str for f in added})
    for factor in added:
        groups = cells.groupby(factor, sort=False)
        determines = all(groups[other].nunique().max() <= 1 for other in added if other != factor)
        several_optimizers = (groups["optimizer"].nunique() > 1).sum() >= 2
        if determines and several_optimizers:
            return factor
    return None


@dataclass(frozen=True)
class Ranked:
    optimizer: str
    cell: str
    val_conservative: float  # the selection statistic
    comparison: Comparison | None  # the group's winner against this optimizer; None for the winner

    @property
    def tied(self) -> bool:
        """Not separated from the winner (the winner itself included)."""
        return self.comparison is None or not decisive(self.comparison).resolved


def rank_within(study: Study, factor: str, column: str) -> dict[str, list[Ranked]]:
    """Per value of `factor` (study order): its optimizers, best first by the selection rule."""
    cells = study.trials.drop_duplicates("cell")
    result = {}
    for value in dict.fromkeys(cells[factor].astype(str)):
        members = list(cells.loc[cells[factor].astype(str) == value, "cell"])
        per_optimizer = best_per(study, "optimizer", members)
        if not per_optimizer:
            continue
        winner = select_best(study, list(per_optimizer.values()))
        order = sorted(per_optimizer.items(), key=lambda item: -_selection_value(study, item[1]))
        result[value] = [Ranked(optimizer=str(optimizer), cell=cell, val_conservative=_selection_value(study, cell),
                                comparison=None if cell == winner else compare(study, winner, cell, column))
                         for optimizer, cell in order]
    return result


def _selection_value(study: Study, cell: str) -> float:
    value = median_iqr(seed_values(study, cell, "val_final", conservative=True))[0]
    return value if np.isfinite(value) else -np.inf


def evaluated_values(study: Study, cell: str, score: str) -> np.ndarray:
    """One full-evaluation score per seed of a cell, over the seeds that finished without diverging or collapsing."""
    table = study.evaluations
    if table is None or table.empty or score not in table:
        return np.array([])
    values = ok_rows(study, cell)[score].to_numpy(dtype=float)
    return values[np.isfinite(values)]


def verdict(ranked: dict[str, list[Ranked]]) -> str:
    """'changes' (two values with disjoint tied sets), 'not resolved' (different winners, overlapping ties), or 'does not change'."""
    winners = {entries[0].optimizer for entries in ranked.values() if entries}
    if len(winners) <= 1:
        return "does not change"
    tied = [{r.optimizer for r in entries if r.tied} for entries in ranked.values() if entries]
    disjoint = any(not (a & b) for i, a in enumerate(tied) for b in tied[i + 1:])
    return "changes" if disjoint else "not resolved"


def table(study: Study, factor: str, column: str, ranked: dict[str, list[Ranked]]) -> pd.DataFrame:
    """within.csv: one row per (value, optimizer) with its rank, selection value, test median and evaluation means.

    `ranked`: `rank_within(study, factor, column)`, which the report's section also uses (its bootstraps are the cost).
    """
    names = score_columns(study.evaluations) if study.evaluations is not None else []
    rows = []
    for value, entries in ranked.items():
        for rank, entry in enumerate(entries, 1):
            c = entry.comparison
            row = {"factor": factor, "value": value, "rank": rank, "optimizer": entry.optimizer, "cell": entry.cell,
                   "val_final_median_conservative": entry.val_conservative,
                   f"{column}_median": median_iqr(seed_values(study, entry.cell, column))[0],
                   "seeds_ok": len(seed_values(study, entry.cell, column)),
                   "seeds_lost": lost_seeds(study, entry.cell),
                   "tied_with_best": entry.tied,
                   "difference_from_best": decisive(c).estimate if c else 0.0,
                   "ci_low": decisive(c).low if c else np.nan, "ci_high": decisive(c).high if c else np.nan}
            for name in names:
                interval = bootstrap_mean(evaluated_values(study, entry.cell, name))
                row.update({f"{name}_mean": interval.estimate, f"{name}_ci_low": interval.low, f"{name}_ci_high": interval.high})
            rows.append(row)
    return pd.DataFrame(rows)


def interval_text(interval: Interval, digits: int) -> str:
    if not np.isfinite(interval.estimate):
        return "n/a"
    text = f"{interval.estimate:.{digits}f}"
    return text + (f" [{interval.low:.{digits}f}, {interval.high:.{digits}f}]" if np.isfinite(interval.low) else "")
