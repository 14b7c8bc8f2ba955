"""The report's full test evaluation: what `separation evaluate` wrote for each trial, and fixed baselines beside it.

The training-time test metric (`trials.csv`'s `test`) is one number scored by
the trainer; `separation evaluate <trial>/last.ckpt --split test` (run for a
whole study by `scripts/evaluate_study.py`) scores the same final weights more
fully into `<trial>/eval_test/`. The task's reader
(`Task.evaluation_scores`, `separation.evaluation.scores`) turns that folder
into flat named scores; this module gathers them into one table
(`evaluation.csv`: one row per evaluated trial, then one per baseline of the
spec's `baselines`, read from their folders again when a report is regenerated
from its tables, so a baseline added to the spec later appears) and
summarises it per cell with the report's rules:
median [IQR] over the seeds that finished without diverging or collapsing,
the lost ones counted, never scored.

A baseline is compared with the trials only where it was scored on the same
data: its data root, split, item count and sample rate against those of the
trials' evaluations (or, before any trial is evaluated, the root in their
configs); a difference is said next to its row.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from separation.analysis.stats import median_iqr
from separation.analysis.study import Study
from separation.errors import UserError
from separation.outcomes import LOST, OK, OUTCOMES
from separation.tasks import get_task

FILE = "evaluation.csv"
DEFAULT_FOLDER = "eval_test"
# Columns of evaluation.csv before the scores (every other column is a score, by its readable name).
META = ("kind", "trial", "cell", "seed", "status", "folder", "method", "data_root", "data_split", "items", "sample_rate")
DATA_KEYS = ("root", "split", "items", "sample_rate")
INTEGERS = ("seed", "items", "sample_rate")
TEXT = ("kind", "trial", "cell", "status", "folder", "method", "data_root", "data_split")


def _row(kind: str, name: str, folder: str, evaluation, cell: str = "", seed=None, status: str = "") -> dict:
    data = evaluation.data
    return {
        "kind": kind, "trial": name, "cell": cell, "seed": seed, "status": status, "folder": folder,
        "method": evaluation.method,
        **{f"data_{key}" if key in ("root", "split") else key: data.get(key) for key in DATA_KEYS},
        **evaluation.scores,
    }


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    """The same dtypes whether the table was just read from folders or from evaluation.csv (for identical output)."""
    for column in META:
        if column not in table:
            table[column] = None
    for column in INTEGERS:
        table[column] = pd.to_numeric(table[column], errors="coerce").round().astype("Int64")
    for column in TEXT:
        table[column] = table[column].fillna("").astype(str)
    for column in [c for c in table.columns if c not in META]:
        table[column] = pd.to_numeric(table[column], errors="coerce").astype(float)
    return table[[*META, *(c for c in table.columns if c not in META)]].reset_index(drop=True)


def empty() -> pd.DataFrame:
    return _typed(pd.DataFrame(columns=list(META)))


def _baseline_rows(study: Study) -> list[dict]:
    """One row per folder of the spec's `baselines`, read now (they are committed files, e.g. results/enhance_baselines/)."""
    task = get_task(study.task)
    rows = []
    for written, path in (study.spec.baselines if study.spec is not None else {}).items():
        evaluation = task.evaluation_scores(path)
        if evaluation is None:  # checked when the spec was loaded; gone since
            raise UserError(f"{study.spec.path}: baselines '{written}': no {task.evaluation_file} in {path}")
        rows.append(_row("baseline", f"baseline: {evaluation.label or Path(written).name}", written, evaluation))
    return rows


def _table(trial_rows: pd.DataFrame | list[dict], baseline_rows: list[dict]) -> pd.DataFrame:
    frames = [frame for frame in (pd.DataFrame(trial_rows), pd.DataFrame(baseline_rows)) if len(frame)]
    return _typed(pd.concat(frames, ignore_index=True)) if frames else empty()


def collect_evaluations(study: Study, folder: str = DEFAULT_FOLDER) -> pd.DataFrame:
    """One row per trial with `<trial>/<folder>/` evaluated, then one per spec baseline; scores as columns."""
    reader = get_task(study.task).evaluation_scores
    rows = []
    for trial in study.trials.itertuples():
        evaluation = reader(study.study_dir / trial.trial / folder)
        if evaluation is not None:
            rows.append(_row("trial", trial.trial, folder, evaluation, trial.cell, int(trial.seed), trial.status))
    return _table(rows, _baseline_rows(study))


def read_evaluations(study: Study, results_dir: Path) -> pd.DataFrame:
    """The trial rows of a committed report's evaluation.csv (none when it has none), then the spec's baselines."""
    path = Path(results_dir) / FILE
    trials = pd.DataFrame()
    if path.is_file():
        try:
            table = pd.read_csv(path, keep_default_na=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
            raise UserError(f"{path}: unreadable ({type(error).__name__})") from None
        missing = [c for c in ("kind", "trial") if c not in table]
        if missing:
            raise UserError(f"{path}: column '{missing[0]}' is missing (expected a table written by `separation report`)")
        trials = table[table["kind"] == "trial"]
    return _table(trials, _baseline_rows(study))


def score_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c not in META]


def normalized(key: str, value) -> str | None:
    """A data field as compared: roots normalised as paths, numbers as integers; None when unknown."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value == "":
        return None
    if key == "root":
        return os.path.normpath(str(value))
    if key in ("items", "sample_rate"):
        return str(int(value))
    return str(value)


def _data(row: pd.Series) -> dict[str, str | None]:
    return {key: normalized(key, row[f"data_{key}" if key in ("root", "split") else key]) for key in DATA_KEYS}


def trial_data(study: Study) -> list[dict[str, str | None]]:
    """What the study's trial evaluations scored, one dict per evaluated trial; else the roots of the trials' configs."""
    trials = study.evaluations[study.evaluations["kind"] == "trial"]
    if len(trials):
        return [_data(row) for _, row in trials.iterrows()]
    roots = {str((config.get("data") or {}).get("root", "")) for config in study.configs.values()}
    return [{"root": normalized("root", root)} for root in sorted(roots) if root]


def differences(data: dict[str, str | None], reference: list[dict[str, str | None]]) -> list[str]:
    """How `data` differs from every reference's data, field by field (fields one side does not know are skipped)."""
    found = []
    for key in DATA_KEYS:
        mine = data.get(key)
        theirs = sorted({r.get(key) for r in reference if r.get(key) is not None})
        if mine is None or not theirs or theirs == [mine]:
            continue
        found.append(f"{key.replace('_', ' ')} {mine} vs the trials' {' / '.join(theirs)}")
    return found


def baselines(study: Study) -> list[tuple[str, dict[str, float], list[str]]]:
    """(label, scores, differences from the trials' evaluated data) per baseline row, in spec order."""
    reference = trial_data(study)
    rows = study.evaluations[study.evaluations["kind"] == "baseline"]
    names = score_columns(study.evaluations)
    result = []
    for _, row in rows.iterrows():
        scores = {name: float(row[name]) for name in names if np.isfinite(row[name])}
        result.append((row["trial"], scores, differences(_data(row), reference)))
    return result


def ok_rows(study: Study, cell: str) -> pd.DataFrame:
    """The evaluation rows of a cell's trials that finished without diverging or collapsing."""
    table = study.evaluations
    rows = table[(table["kind"] == "trial") & (table["cell"] == cell)]
    return rows[study.trials.set_index("trial")["status"].reindex(rows["trial"]).isin(OK).to_numpy()]


def score_digits(table: pd.DataFrame, names: list[str]) -> dict[str, int]:
    """Decimals per score: order-1 scores (STOI) need a third digit to tell methods apart."""
    return {n: 3 if np.nanmax(np.abs(np.append(table[n].to_numpy(dtype=float), 0.0))) < 2 else 2 for n in names}


def cell_summary(study: Study) -> pd.DataFrame:
    """Per cell with an evaluated trial: counts and median / 25th / 75th percentile of each score over its OK seeds."""
    table = study.evaluations[study.evaluations["kind"] == "trial"]
    status = study.trials.set_index("trial")["status"]
    names = score_columns(study.evaluations)
    rows = []
    for cell in study.cells:
        evaluated = table[table["cell"] == cell]
        if evaluated.empty:
            continue
        states = status.reindex(evaluated["trial"]).to_numpy()
        ok = ok_rows(study, cell)
        finished = study.by_cell[cell]["status"].isin(OUTCOMES)
        row = {"cell": cell, "evaluated": int(np.isin(states, OUTCOMES).sum()), "finished": int(finished.sum()),
               "scored": len(ok), "lost": int(study.by_cell[cell]["status"].isin(LOST).sum()),
               "lost_evaluated": int(np.isin(states, LOST).sum())}
        for name in names:
            median, q25, q75 = median_iqr(ok[name].to_numpy(dtype=float))
            row.update({f"{name}_median": median, f"{name}_q25": q25, f"{name}_q75": q75})
        rows.append(row)
    return pd.DataFrame(rows)


def not_evaluated(study: Study) -> pd.DataFrame:
    """Finished trials (an outcome: completed, stopped, diverged, collapsed) with no evaluation folder."""
    evaluated = set(study.evaluations.loc[study.evaluations["kind"] == "trial", "trial"])
    finished = study.trials[study.trials["status"].isin(OUTCOMES)]
    return finished[~finished["trial"].isin(evaluated)]


def headline_baselines(study: Study) -> list[tuple[str, float, bool]]:
    """(label, value, scored on other data) of each baseline that has a score named as the study's headline (SI-SNRi)."""
    if study.evaluations is None or study.evaluations.empty:
        return []
    name = study.headline.name
    return [(label, scores[name], bool(differs)) for label, scores, differs in baselines(study) if name in scores]
