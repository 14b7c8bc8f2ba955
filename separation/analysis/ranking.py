"""How early can a study's ranking be read? Kendall tau of early rankings against the final one.

The first Spleeter optimizer comparison ranked optimizers by the training loss
of their first 8 steps. For any study this module asks how far such an early
ranking agrees with the one the study ends with:

- the cells compared are those the selection compares (`select_best`: the
  cells planned over at least MIN_SEEDS seeds when there are any, else all);
- the final ranking orders them by the conservative median over seeds of the
  final validation metric (diverged and collapsed seeds at the study's worst
  value), as selection does;
- an early ranking orders them by the median over seeds of the validation
  metric at one validation point, or of the logged training loss (lower is
  better) at step 8, 32, 128, ... (the last logged value at or before it);
  a seed with no value there (it diverged earlier) counts at the worst value
  of that point;
- agreement is Kendall's tau-b between the two orders (1: identical, -1:
  reversed; ties count as neither), with a percentile-bootstrap interval that
  resamples each cell's seeds, early and final values of a seed together
  (no interval unless every compared cell has MIN_SEEDS seeds, as for the
  study's other intervals);
- the top cell is read at every validation point, and the report gives the
  earliest point from which it no longer changes.

Steps are optimizer steps: Lightning logs a training loss at step k for the
batch taken after k updates, and a validation at the end of update k + 1, so
a logged step k is shown as step k + 1 (the 8th step's loss is logged at 7).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from separation.analysis.cells import seeds_planned, worst_value
from separation.analysis.stats import LEVEL, MIN_SEEDS, Interval
from separation.analysis.study import Study
from separation.outcomes import OK, OUTCOMES

TRAIN_LOSS = "train/loss_step"
FIRST_LOSS_STEP = 8  # the original Spleeter comparison's budget
RESAMPLES = 2000


def kendall_tau(a, b) -> np.ndarray:
    """Kendall's tau-b between orders over the last axis (broadcast over the others); NaN when one order is all ties."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    sign_a = np.sign(a[..., :, None] - a[..., None, :])
    sign_b = np.sign(b[..., :, None] - b[..., None, :])
    upper = np.triu(np.ones(a.shape[-1], dtype=bool), k=1)
    sa, sb = sign_a[..., upper], sign_b[..., upper]
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sa * sb).sum(axis=-1) / np.sqrt((sa != 0).sum(axis=-1) * (sb != 0).sum(axis=-1))


@dataclass(frozen=True)
class RankPoint:
    source: str  # "validation" or "training loss"
    step: int  # optimizer steps
    tau: Interval  # against the final ranking; bootstrap interval over seeds
    top: str  # the top cell at this point (point estimate)

    def agrees(self, final_top: str) -> bool:
        return self.top == final_top


@dataclass(frozen=True)
class EarlyRanking:
    cells: list[str]
    seeds: int  # most seeds of any compared cell
    final_top: str
    points: list[RankPoint]
    stable_from: int | None  # earliest validation step from which the top cell is the final one

    def at(self, source: str) -> list[RankPoint]:
        return [p for p in self.points if p.source == source]


def compared_cells(study: Study) -> list[str]:
    """The cells selection compares: replicated ones when there are any, among cells with a finished outcome."""
    finished = set(study.trials.loc[study.trials["status"].isin(OUTCOMES), "cell"])
    cells = [c for c in study.cells if c in finished]
    replicated = [c for c in cells if seeds_planned(study, c) >= MIN_SEEDS]
    return replicated if len(replicated) >= 3 else cells


def _series(study: Study, metric: str) -> dict[str, dict[int, float]]:
    rows = study.steps[study.steps["metric"] == metric]
    table: dict[str, dict[int, float]] = {}
    for trial, step, value in zip(rows["trial"], rows["step"], rows["value"]):
        table.setdefault(trial, {})[int(step)] = float(value)
    return table


def _loss_steps(logged: dict[str, dict[int, float]]) -> list[int]:
    """8, 32, 128, ... up to the last logged step of any compared trial."""
    last = max((max(steps) for steps in logged.values() if steps), default=-1) + 1
    steps, step = [], FIRST_LOSS_STEP
    while step <= last:
        steps.append(step)
        step *= 4
    return steps


def _value_at_or_before(series: dict[int, float], logged_step: int) -> float:
    keys = [s for s in series if s <= logged_step]
    return series[max(keys)] if keys else float("nan")


def _fill_worst(column: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Seeds with no finite value at a point get that point's worst finite value."""
    finite = column[np.isfinite(column)]
    if finite.size == 0:
        return column
    worst = finite.min() if higher_is_better else finite.max()
    return np.where(np.isfinite(column), column, worst)


def early_ranking(study: Study, resamples: int = RESAMPLES, seed: int = 0) -> EarlyRanking | str:
    """The early-ranking analysis, or why the study has none."""
    cells = compared_cells(study)
    if len(cells) < 3:
        return f"it compares {len(cells)} cell(s) with a finished trial; a rank correlation needs at least 3"
    trials = study.trials[study.trials["cell"].isin(cells) & study.trials["status"].isin(OUTCOMES)]
    val = _series(study, study.headline.val)
    loss = _series(study, TRAIN_LOSS)
    val_steps = sorted({s for t in trials["trial"] for s in val.get(t, {})})
    loss_steps = _loss_steps({t: loss.get(t, {}) for t in trials["trial"]})
    if not val_steps:
        return f"no compared trial logged {study.headline.val}"

    worst_final = worst_value(study, "val_final")
    columns: list[tuple[str, int]] = [("validation", s + 1) for s in val_steps] + [("training loss", s) for s in loss_steps]
    rows = []  # per trial: the early values in `columns` order, then the final value
    for trial in trials.itertuples():
        early = [val.get(trial.trial, {}).get(s, float("nan")) for s in val_steps]
        early += [-_value_at_or_before(loss.get(trial.trial, {}), s - 1) for s in loss_steps]  # higher is better
        final = trial.val_final if trial.status in OK else worst_final
        rows.append(early + [final if np.isfinite(final) else worst_final])
    values = np.array(rows, dtype=float)
    for j in range(values.shape[1]):
        values[:, j] = _fill_worst(values[:, j], True)
    keep = [j for j in range(len(columns)) if np.isfinite(values[:, j]).all()]
    groups = [np.flatnonzero(trials["cell"].to_numpy() == cell) for cell in cells]

    medians = np.stack([np.median(values[g], axis=0) for g in groups], axis=-1)  # (points + 1, cells)
    rng = np.random.default_rng(seed)
    draws = np.stack([np.median(values[g][rng.integers(0, g.size, (resamples, g.size))], axis=1) for g in groups], axis=-1)
    taus = kendall_tau(draws[:, :-1, :], draws[:, -1:, :])  # (resamples, points)
    estimate = kendall_tau(medians[:-1], medians[-1:])
    tail = (1 - LEVEL) / 2 * 100

    final_top = cells[int(np.argmax(medians[-1]))]
    points = []
    replicated = min(g.size for g in groups) >= MIN_SEEDS
    for j in keep:
        finite = taus[:, j][np.isfinite(taus[:, j])]
        low, high = np.percentile(finite, [tail, 100 - tail]) if finite.size and replicated else (np.nan, np.nan)
        source, step = columns[j]
        points.append(RankPoint(source, step, Interval(float(estimate[j]), float(low), float(high)), cells[int(np.argmax(medians[j]))]))
    stable_from = None
    for point in reversed([p for p in points if p.source == "validation"]):
        if not point.agrees(final_top):
            break
        stable_from = point.step
    return EarlyRanking(cells, max(g.size for g in groups), final_top, points, stable_from)
