"""What pruning would have cost: successive-halving rules replayed on a full-budget study's own curves.

Every trial of a study that ran to its full budget logged its validation metric
along the way (`steps.csv`). A rule is replayed on those curves as the grid would
have run it (`separation.grid.pruning`): at each rung, within each group (each
optimizer, or the whole study), the cells are ranked by the median over seeds of
the last validation logged before the rung (a trial that diverged before it ranks
as the worst) and the best `floor(keep * cells)`, at least one, go on. The
replayed study then selects as the full one does (`select_best`: conservative
median of the final validation over seeds) among the cells that survived.

- compute saved: 1 - (optimizer steps the pruned study trains) / (steps the full study trained);
  a trial pruned at a rung costs the rung's steps.
- regret: the selection metric (final validation, dB) of the cell the full study selected minus
  that of the cell the pruned study selects, overall and per optimizer (each optimizer's best
  surviving cell against its final-best one), with a percentile-bootstrap interval over seeds
  (`bootstrap_difference`); 0 when the same cell is selected.
- survived: whether each optimizer's final-best setting (its learning rate) was still there at
  full budget.

The ladder: successive halving from a first rung at about 1/16, 1/8 and 1/4 of the budget,
keeping 1/2 or 1/3 of the cells at each rung (rungs grow by 1/keep), within each optimizer and
globally; and the one-short-budget baseline of Egele et al. (2024): after the first validation
(one epoch here), keep the global top quarter or half of the cells. Rungs sit at validation steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from separation.analysis.cells import best_per, seed_values, select_best
from separation.analysis.stats import Interval, bootstrap_difference
from separation.analysis.study import Study
from separation.outcomes import LOST, OUTCOMES, Status

FILE = "pruning.csv"
FIRST_RUNG_FRACTIONS = (1 / 16, 1 / 8, 1 / 4)
KEEPS = (1 / 2, 1 / 3)
BASELINE_KEEPS = (1 / 4, 1 / 2)
GLOBAL = "global"


@dataclass(frozen=True)
class Rule:
    family: str  # "halving" or "one short budget"
    rungs: tuple[int, ...]  # optimizer steps
    keep: float
    within: str  # a factor (the study's hue) or GLOBAL

    @property
    def name(self) -> str:
        keep = f"1/{round(1 / self.keep)}" if abs(1 / self.keep - round(1 / self.keep)) < 1e-9 else f"{self.keep:g}"
        where = "global" if self.within == GLOBAL else f"within {self.within}"
        if self.family == "halving":
            return f"halving at {', '.join(map(str, self.rungs))}, keep {keep}, {where}"
        return f"top {keep} after {self.rungs[0]} steps, {where}"


@dataclass
class Outcome:
    """One rule replayed on one study."""

    rule: Rule
    survivors: list[str]  # cells trained to full budget
    pruned_at: dict[str, int]  # cell -> rung it stopped at
    saved: float  # fraction of optimizer steps saved
    selected: str | None
    full_selected: str | None
    regret: Interval
    # per value of the grouping factor: (full best cell, pruned-study best cell or None, regret, survived)
    per_group: dict[str, tuple[str, str | None, Interval | None, bool]] = field(default_factory=dict)


def _validation_points(study: Study) -> list[int]:
    """Optimizer steps after which the study validated (a value logged at step n follows n + 1 steps)."""
    rows = study.steps[study.steps["metric"] == study.headline.val]
    return sorted({int(s) + 1 for s in rows["step"]})


def _snap(points: list[int], step: float) -> int | None:
    """The latest validation point at or before `step`."""
    before = [p for p in points if p <= step + 1e-9]
    return before[-1] if before else None


def ladder(study: Study, budget: int) -> list[Rule]:
    points = [p for p in _validation_points(study) if p < budget]
    if not points:
        return []
    groups = ([study.hue] if study.hue in study.varying else []) + [GLOBAL]
    rules: list[Rule] = []
    for fraction in FIRST_RUNG_FRACTIONS:
        first = _snap(points, budget * fraction)
        if first is None:
            continue
        for keep in KEEPS:
            rungs, step = [], float(first)
            while step < budget:
                snapped = _snap(points, step)
                if snapped is not None and snapped not in rungs:
                    rungs.append(snapped)
                step /= keep
            for within in groups:
                rule = Rule("halving", tuple(rungs), keep, within)
                if rule not in rules:
                    rules.append(rule)
    for keep in BASELINE_KEEPS:
        rules.append(Rule("one short budget", (points[0],), keep, GLOBAL))
    return rules


def _scores(study: Study, trials: pd.DataFrame, rung: int) -> dict[str, float]:
    """Each trial's metric at the rung: the last validation logged before it; -inf if none (or it diverged before)."""
    rows = study.steps[(study.steps["metric"] == study.headline.val) & (study.steps["step"] < rung)]
    last = rows.sort_values("step").groupby("trial")["value"].last()
    scores = {}
    for trial in trials.itertuples():
        value = float(last.get(trial.trial, np.nan))
        if trial.status in LOST and float(trial.steps) < rung:
            value = np.nan
        scores[trial.trial] = value if math.isfinite(value) else -math.inf
    return scores


def replay(study: Study, rule: Rule, trials: pd.DataFrame) -> Outcome:
    cells = list(dict.fromkeys(trials["cell"]))
    # By column name, not itertuples' attributes: an axis such as `trainer.max_epochs` is no identifier.
    group = {row["cell"]: (row[rule.within] if rule.within != GLOBAL else GLOBAL)
             for _, row in trials.drop_duplicates("cell").iterrows()}
    alive, pruned_at = list(cells), {}
    for rung in rule.rungs:
        scores = _scores(study, trials, rung)
        medians = {c: float(np.median([scores[t] for t in trials.loc[trials["cell"] == c, "trial"]])) for c in alive}
        kept = []
        for value in dict.fromkeys(group[c] for c in alive):
            members = sorted((c for c in alive if group[c] == value), key=lambda c: -medians[c])  # stable
            kept += members[:max(1, int(rule.keep * len(members) + 1e-9))]
        pruned_at.update({c: rung for c in alive if c not in kept})
        alive = [c for c in alive if c in kept]
    full = trials["steps"].to_numpy(dtype=float)
    cost = np.minimum(full, [pruned_at.get(c, math.inf) for c in trials["cell"]])
    full_selected = select_best(study, cells)
    selected = select_best(study, alive)
    outcome = Outcome(rule, alive, pruned_at, float(1 - cost.sum() / full.sum()), selected, full_selected,
                      _regret(study, full_selected, selected))
    if study.hue in study.varying:
        ours = best_per(study, study.hue, alive)
        for value, best in best_per(study, study.hue, cells).items():
            chosen = ours.get(value)
            outcome.per_group[str(value)] = (best, chosen, _regret(study, best, chosen) if chosen else None, best in alive)
    return outcome


def _regret(study: Study, full: str | None, pruned: str | None) -> Interval:
    if full is None or pruned is None:
        return Interval(float("nan"), float("nan"), float("nan"))
    if full == pruned:
        return Interval(0.0, 0.0, 0.0)
    return bootstrap_difference(seed_values(study, full, "val_final", True), seed_values(study, pruned, "val_final", True))


def full_budget_trials(study: Study) -> pd.DataFrame | str:
    """The trials a replay can use, or why the study cannot be replayed."""
    trials = study.trials
    if (trials["status"] == Status.PRUNED).any():
        return "the study was pruned: its pruned trials' curves stop at their rungs"
    finished = trials[trials["status"].isin(OUTCOMES)]
    if finished["cell"].nunique() < 2:
        return "fewer than two cells finished: there is nothing to prune"
    if study.headline.val not in set(study.steps["metric"]):
        return f"no {study.headline.val} curve in steps.csv"
    return finished


def replay_ladder(study: Study) -> list[Outcome] | str:
    trials = full_budget_trials(study)
    if isinstance(trials, str):
        return trials
    budget = int(np.nanmax(trials["steps"].to_numpy(dtype=float)))
    rules = ladder(study, budget)
    if not rules:
        return "no validation before the end of training: no rung to prune at"
    return [replay(study, rule, trials) for rule in rules]


def table(outcomes: list[Outcome]) -> pd.DataFrame:
    """pruning.csv: one row per rule and scope (overall, then each optimizer)."""
    rows = []
    for o in outcomes:
        base = {"rule": o.rule.name, "family": o.rule.family, "rungs": " ".join(map(str, o.rule.rungs)),
                "keep": o.rule.keep, "within": o.rule.within, "compute_saved": o.saved}
        rows.append({**base, "scope": "overall", "full_selected": o.full_selected, "pruned_selected": o.selected,
                     "regret": o.regret.estimate, "regret_low": o.regret.low, "regret_high": o.regret.high,
                     "best_survived": o.full_selected in o.survivors})
        for value, (best, chosen, regret, survived) in o.per_group.items():
            rows.append({**base, "scope": value, "full_selected": best, "pruned_selected": chosen,
                         "regret": regret.estimate if regret else np.nan, "regret_low": regret.low if regret else np.nan,
                         "regret_high": regret.high if regret else np.nan, "best_survived": survived})
    return pd.DataFrame(rows)
