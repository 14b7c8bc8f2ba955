"""`separation compare`: is cell A better than cell B, in one study or across two?

A cell is named by its factors (`optimizer=rmsprop,lr=0.001`) or by its label
as the report prints it (`"rmsprop, lr 0.001"`). Factors that match several
cells name a group, represented as the report represents one: by its best cell
on the conservative validation median (`cells.select_best`). The two cells are
then compared on test exactly as the report compares them (`cells.compare`:
difference of medians over seeds, 95% percentile-bootstrap interval, P(A > B)
over seed pairs, and the conservative variant when seeds diverged or
collapsed), so a comparison the report printed comes out with the same numbers.

Across two studies (v1 and v2 of a question, or one cell under two budgets)
the same statistics compare one cell of each; a lost seed is counted at the
worst value of its own study.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from separation.analysis.cells import Comparison, compare, compare_across, select_best, worst_value
from separation.analysis.collect import collect_study, collect_tables
from separation.analysis.findings import decisive, report_column
from separation.analysis.stats import MIN_SEEDS
from separation.analysis.study import Study
from separation.errors import UserError

# Columns of trials.csv that are fixed within a cell besides the factors (the registry names).
NAME_COLUMNS = ("optimizer_name", "scheduler_name", "clipping_mode")
# `KEY=VALUE, KEY=VALUE`: a comma starts a new pair only where a key follows (values may hold commas).
_PAIR_START = re.compile(r",\s*(?=[\w.\[\]/-]+=)")


def spec_named_by_report(results_dir: Path) -> Path:
    """The grid spec a committed report was made from: its Reproduce block's `separation grid SPEC` line."""
    report = results_dir / "REPORT.md"
    match = re.search(r"^separation grid (\S+\.ya?ml)\s*$", report.read_text(), re.M) if report.is_file() else None
    if match is None:
        raise UserError(f"{results_dir}: no REPORT.md naming the study's spec; give it with --spec")
    named = Path(match.group(1))
    # The report names it from the repository root; results/<study>/ sits two levels below that.
    for candidate in (named, results_dir.resolve().parents[1] / named):
        if candidate.is_file():
            return candidate
    raise UserError(f"{report} names the spec {named}, which is not here; give it with --spec")


def load_study(path: str | Path, spec: str | Path | None = None) -> Study:
    """A committed report folder (trials.csv and steps.csv) or a study's trial folders (runs/<study>)."""
    path = Path(path)
    if (path / "trials.csv").is_file():
        return collect_tables(path, spec if spec is not None else spec_named_by_report(path))
    if not path.is_dir():
        raise UserError(f"{path}: no such folder (expected a report folder such as results/<study> or runs/<study>)")
    return collect_study(path, spec)


@dataclass(frozen=True)
class Selection:
    asked: str  # what the user typed
    cell: str  # the cell it names
    matched: int  # cells the factors matched; above 1, `cell` is their best on validation


def _pairs(text: str) -> dict[str, str]:
    pairs = {}
    for part in _PAIR_START.split(text.strip()):
        key, equals, value = part.partition("=")
        if not equals or not key.strip():
            raise UserError(f"{text!r}: expected KEY=VALUE[,KEY=VALUE ...] (e.g. optimizer=adam,lr=0.001) or a cell's label")
        pairs[key.strip()] = value.strip()
    return pairs


def _same(actual, wanted: str) -> bool:
    if str(actual) == wanted:
        return True
    try:
        return float(actual) == float(wanted)  # lr=1e-3 names the cell labelled 0.001
    except (TypeError, ValueError):
        return False


def select(study: Study, text: str) -> Selection:
    """The cell `text` names in `study` (see the module docstring); UserError naming what exists otherwise."""
    if text in study.by_cell:
        return Selection(text, text, 1)
    wanted = _pairs(text)
    keys = [k for k in (*study.factors, *NAME_COLUMNS) if k in study.trials]
    unknown = [key for key in wanted if key not in keys]
    if unknown:
        raise UserError(f"{text!r}: {study.name} has no factor '{unknown[0]}'; its factors: {', '.join(keys)}")
    cells = study.trials.drop_duplicates("cell").set_index("cell")
    matched = [c for c in study.cells if all(_same(cells.loc[c, key], value) for key, value in wanted.items())]
    if not matched:
        shown = "; ".join(study.cells[:8]) + (" ..." if len(study.cells) > 8 else "")
        raise UserError(f"{text!r}: no cell of {study.name} matches; its cells: {shown}")
    if len(matched) == 1:
        return Selection(text, matched[0], 1)
    best = select_best(study, matched)
    if best is None:
        raise UserError(f"{text!r}: none of the {len(matched)} cells it matches in {study.name} has a finished seed "
                        "that neither diverged nor collapsed")
    return Selection(text, best, len(matched))


@dataclass(frozen=True)
class Result:
    study_a: Study
    study_b: Study
    a: Selection
    b: Selection
    comparison: Comparison


def run_compare(study_a: Study, a: str, b: str, study_b: Study | None = None, column: str | None = None) -> Result:
    """Cell `a` of study_a against cell `b` of study_b (default: the same study) on `column` (default: the report's)."""
    if column is None:  # test where every study compared has it, as the reports choose
        columns = {report_column(study) for study in (study_a, study_b) if study is not None}
        column = "test" if columns == {"test"} else "val_final"
    chosen_a = select(study_a, a)
    if study_b is None:
        chosen_b = select(study_a, b)
        comparison = compare(study_a, chosen_a.cell, chosen_b.cell, column)
    else:
        chosen_b = select(study_b, b)
        comparison = compare_across(study_a, chosen_a.cell, study_b, chosen_b.cell, column)
    return Result(study_a, study_b if study_b is not None else study_a, chosen_a, chosen_b, comparison)


def _num(value: float) -> str:
    return f"{value:.2f}" if np.isfinite(value) else "n/a"


def _interval(interval, p: float) -> str:
    bounds = f" [95% CI {_num(interval.low)}, {_num(interval.high)}]" if np.isfinite(interval.low) else ""
    return f"{interval.estimate:+.2f} dB{bounds}, P(A > B) = {p:.2f}"


def _side(name: str, study: Study, chosen: Selection, median: float, n: int, lost: int, show_study: bool) -> str:
    where = f"{study.name}: " if show_study else ""
    how = f" (best of the {chosen.matched} cells {chosen.asked} matches, on validation)" if chosen.matched > 1 else ""
    lost_text = f", {lost} more diverged or collapsed" if lost else ""
    return f"{name}: {where}`{chosen.cell}`{how}: median {_num(median)} dB over {n} seed{'s' * (n != 1)}{lost_text}"


def format_result(result: Result) -> str:
    """The comparison in a few lines: what A and B are, their medians, A - B with its interval, P(A > B), the verdict."""
    c, a_study, b_study = result.comparison, result.study_a, result.study_b
    across = a_study is not b_study
    split = "test" if c.column == "test" else "validation"
    metric = f"{split} {a_study.headline.name}"
    where = f"{a_study.name} ({a_study.study_dir}) against {b_study.name} ({b_study.study_dir})" if across else \
        f"{a_study.name} ({a_study.study_dir})"
    lines = [
        f"{where}: {metric} in dB, medians over seeds, 95% percentile-bootstrap interval over seeds",
        _side("A", a_study, result.a, c.median_a, c.n_a, c.diverged_a, across),
        _side("B", b_study, result.b, c.median_b, c.n_b, c.diverged_b, across),
    ]
    if c.n_a == 0 or c.n_b == 0:
        lacking = "A" if c.n_a == 0 else "B"
        return "\n".join([*lines, f"no comparison: {lacking} has no finished seed that neither diverged nor collapsed"])
    lines.append(f"A - B: {_interval(c.difference, c.p_better)}")
    if c.conservative is not None:
        worst = (f"{_num(worst_value(a_study, c.column))} and {_num(worst_value(b_study, c.column))} dB, each study's own"
                 if across else f"{_num(worst_value(a_study, c.column))} dB")
        lines.append(f"A - B counting diverged and collapsed seeds at the worst {metric} ({worst}): "
                     f"{_interval(c.conservative, c.p_better_conservative)}")
    interval = decisive(c)
    if interval.resolved:
        verdict = f"{'A' if interval.estimate > 0 else 'B'} is better (the interval excludes 0)"
    elif not np.isfinite(interval.low):
        verdict = f"not resolved: fewer than {MIN_SEEDS} seeds per cell give no interval"
    else:
        verdict = "not resolved (the interval contains 0)"
    lines.append(f"verdict{' (on the interval counting lost seeds)' if c.conservative is not None else ''}: {verdict}")
    return "\n".join(lines)
