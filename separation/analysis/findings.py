"""Findings written from the numbers: comparisons as sentences, and the study's three claims.

Every comparison selects on validation and reports on test: a group (an
optimizer, a scheduler, clipping on/off) is represented by its best cell on the
conservative validation median, and the two representatives are compared on
the test metric. A verdict is only "supported" or "contradicted" when the 95%
bootstrap interval of the difference excludes zero; when a compared cell had
diverged or collapsed seeds, the verdict uses the conservative interval (those seeds = worst).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from separation.analysis.cells import Comparison, best_per, compare, select_best, worst_value
from separation.analysis.stats import MIN_SEEDS
from separation.analysis.study import Study
from separation.outcomes import OK


@dataclass(frozen=True)
class Claim:
    statement: str
    verdict: str  # supported | contradicted | not resolved | not testable
    text: str  # markdown: the evidence, one comparison per line
    # The comparisons the verdict rests on, as (name of a, name of b, comparison): the report's verdict box quotes them.
    evidence: tuple[tuple[str, str, Comparison], ...] = ()


def _num(value: float) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.2f}"


def _signed(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:+.2f}"


def _seeds(n_a: int, n_b: int) -> str:
    return f"{n_a} seed{'s' if n_a != 1 else ''}" if n_a == n_b else f"{n_a} and {n_b} seeds"


def describe(study: Study, c: Comparison, name_a: str, name_b: str) -> str:
    """One sentence: medians, difference with its interval, probability of improvement, and whether it is resolved."""
    split = "test" if c.column == "test" else "validation"
    metric = f"{split} {study.headline.name}"
    if c.n_a == 0 or c.n_b == 0:
        lacking = name_a if c.n_a == 0 else name_b
        return f"{name_a} vs {name_b}: {lacking} has no finished seed that neither diverged nor collapsed with a {metric}; no comparison."
    interval = c.difference
    text = (
        f"{name_a} vs {name_b}: {metric} {_num(c.median_a)} vs {_num(c.median_b)} dB (medians of {_seeds(c.n_a, c.n_b)}), "
        f"difference {_signed(interval.estimate)} dB"
    )
    if np.isfinite(interval.low):
        text += f" [95% CI {_num(interval.low)}, {_num(interval.high)}], P({name_a} > {name_b}) = {c.p_better:.2f}"
        text += "; " + (f"{name_a if interval.estimate > 0 else name_b} is better." if interval.resolved else
                        f"not resolved by the {_seeds(c.n_a, c.n_b)} run (the interval contains 0).")
    else:
        text += f", P({name_a} > {name_b}) = {c.p_better:.2f}; not resolved: fewer than {MIN_SEEDS} seeds per cell give no confidence interval."
    if c.conservative is not None:
        parts = [f"{name} diverged or collapsed on {k} of {k + n} seeds" for name, k, n in ((name_a, c.diverged_a, c.n_a), (name_b, c.diverged_b, c.n_b)) if k]
        cons = c.conservative
        bounds = f" [95% CI {_num(cons.low)}, {_num(cons.high)}]" if np.isfinite(cons.low) else ""
        text += (
            f" Lost seeds: {'; '.join(parts)}. Counting them at the study's worst {metric} "
            f"({_num(worst_value(study, c.column))} dB): difference {_signed(cons.estimate)} dB{bounds}, "
            f"P({name_a} > {name_b}) = {c.p_better_conservative:.2f}."
        )
    return text


def decisive(c: Comparison):
    """The interval a verdict rests on: the conservative one whenever a compared cell diverged."""
    return c.conservative if c.conservative is not None else c.difference


def report_column(study: Study) -> str:
    """Test when any finished trial has a test metric, else validation (said in the report)."""
    ok = study.trials[study.trials["status"].isin(OK)]
    return "test" if np.isfinite(ok["test"].to_numpy(dtype=float)).any() else "val_final"


def _cell_of(study: Study) -> dict:
    return study.trials.drop_duplicates("cell").set_index("cell")


def _matched(study: Study, factor: str, a_values: set, b_values: set, column: str) -> list[Comparison]:
    """Pairs of cells equal in every factor but `factor`, one with a value in a_values, one in b_values."""
    cells = _cell_of(study)
    rest = [f for f in study.factors if f != factor]
    pairs = []
    for _, group in cells.groupby(rest, sort=False, dropna=False):
        for a in group.index[group[factor].isin(a_values)]:
            for b in group.index[group[factor].isin(b_values)]:
                pairs.append(compare(study, a, b, column))
    return pairs


def _matched_summary(pairs: list[Comparison], name_a: str, name_b: str, what: str) -> str:
    if not pairs:
        return ""
    higher = sum(c.difference.estimate > 0 for c in pairs if np.isfinite(c.difference.estimate))
    for_a = sum(decisive(c).resolved and decisive(c).estimate > 0 for c in pairs)
    for_b = sum(decisive(c).resolved and decisive(c).estimate < 0 for c in pairs)
    return (
        f"Matched comparisons ({what}): {name_a} has the higher median in {higher} of {len(pairs)}; "
        f"resolved in favour of {name_a} in {for_a}, of {name_b} in {for_b}."
    )


def _verdict(comparisons: list[Comparison]) -> str:
    intervals = [decisive(c) for c in comparisons]
    if any(i.resolved and i.estimate < 0 for i in intervals):
        return "contradicted"
    if intervals and all(i.resolved and i.estimate > 0 for i in intervals):
        return "supported"
    return "not resolved"


def _adam_is_best(study: Study, column: str) -> Claim:
    statement = "Adam is the best optimizer"
    best = best_per(study, "optimizer_name")
    names = list(dict.fromkeys(study.trials["optimizer_name"]))
    if "adam" not in names or len(names) < 2:
        why = "adam is not in the study" if "adam" not in names else "the study has only one optimizer"
        return Claim(statement, "not testable", f"Not testable by this study's axes: {why} (optimizers: {', '.join(names)}).")
    if "adam" not in best:
        return Claim(statement, "not resolved", "No adam trial finished without diverging; nothing to compare.")
    others = [name for name in best if name != "adam"]
    comparisons = [compare(study, best["adam"], best[name], column) for name in others]
    lines = [
        "Each optimizer at its best setting (selected on the validation median): "
        + "; ".join(f"{name}: `{cell}`" for name, cell in best.items()) + "."
    ]
    lines += [f"- {describe(study, c, 'adam', name)}" for c, name in zip(comparisons, others)]
    return Claim(statement, _verdict(comparisons), "\n".join(lines),
                 tuple(("adam", name, c) for c, name in zip(comparisons, others)))


def _plateau_beats_step(study: Study, column: str) -> Claim:
    statement = "ReduceLROnPlateau beats StepLR"
    names = list(dict.fromkeys(study.trials["scheduler_name"]))
    if "plateau" not in names or "step" not in names:
        return Claim(statement, "not testable",
                     f"Not testable by this study's axes: it needs both the plateau and step schedulers (schedulers: {', '.join(names)}).")
    best = best_per(study, "scheduler_name")
    if "plateau" not in best or "step" not in best:
        return Claim(statement, "not resolved", "One of the two schedulers has no finished, non-diverged trial.")
    main = compare(study, best["plateau"], best["step"], column)
    cells = _cell_of(study)
    pairs = _matched(study, "scheduler", set(cells.loc[cells["scheduler_name"] == "plateau", "scheduler"]),
                     set(cells.loc[cells["scheduler_name"] == "step", "scheduler"]), column)
    return _best_against_best(study, statement, main, pairs, ("plateau", "step"),
                              "same optimizer, learning rate and clipping")


def _clipping_improves(study: Study, column: str) -> Claim:
    statement = "Gradient clipping improves results"
    cells = _cell_of(study)
    unclipped = [c for c in study.cells if cells.loc[c, "clipping_mode"] == "none"]
    clipped = [c for c in study.cells if cells.loc[c, "clipping_mode"] != "none"]
    if not unclipped or not clipped:
        present = ", ".join(dict.fromkeys(cells["clipping"]))
        return Claim(statement, "not testable",
                     f"Not testable by this study's axes: it needs trials with and without clipping (clipping: {present}).")
    best_clipped, best_unclipped = select_best(study, clipped), select_best(study, unclipped)
    if best_clipped is None or best_unclipped is None:
        return Claim(statement, "not resolved", "Clipped or unclipped trials have no finished, non-diverged seed.")
    main = compare(study, best_clipped, best_unclipped, column)
    pairs = _matched(study, "clipping", set(cells.loc[clipped, "clipping"]), {"none"}, column)
    return _best_against_best(study, statement, main, pairs, ("clipped", "unclipped"),
                              "each clipping threshold against no clipping, all else equal")


def _best_against_best(study: Study, statement: str, main: Comparison, pairs, names: tuple[str, str],
                       matched: str) -> Claim:
    """A claim decided by the best cell of one group against the best of the other, with matched pairs as context."""
    a, b = names
    lines = [
        f"Best {a} setting `{main.a}` against best {b} setting `{main.b}` (selected on validation):",
        f"- {describe(study, main, a, b)}",
    ]
    summary = _matched_summary(pairs, a, b, matched)
    if summary and len(pairs) > 1:
        lines.append(f"- {summary}")
    return Claim(statement, _verdict([main]), "\n".join(lines), ((a, b, main),))


def claims(study: Study, column: str) -> list[Claim]:
    return [_adam_is_best(study, column), _plateau_beats_step(study, column), _clipping_improves(study, column)]


def hue_comparisons(study: Study, column: str) -> tuple[str | None, list[tuple[str, Comparison]]]:
    """The overall best cell (on validation) against the best cell of every other value of the hue factor."""
    best = best_per(study, study.hue)
    overall = select_best(study, list(best.values()))
    if overall is None:
        return None, []
    cell_of = _cell_of(study)[study.hue]
    winner = cell_of[overall]
    return overall, [(value, compare(study, overall, cell, column)) for value, cell in best.items() if value != winner]
