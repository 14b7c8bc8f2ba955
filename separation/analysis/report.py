"""`separation report`: a study folder in, `results/<study>/` out.

    runs/<study>/<trial>/...  ->  trials.csv    one row per trial (missing ones included)
                                  steps.csv     every logged value: trial, cell, step, metric, value, wall_time
                                  cells.csv     per cell: counts by status, median and IQR, time to target
                                  comparisons.csv  every cell against the best one (bootstrap CI, P(better))
                                  evaluation.csv   `separation evaluate` scores per evaluated trial and baseline
                                  figures/*.png
                                  REPORT.md     verdict box, question, setup, tables, figures, findings
                                                (and the earlier claims' verdicts when the spec names `claims`)

Everything is written into a fresh temporary folder first, then moved into the
output folder file by file, REPORT.md last (`separation.outputs.install_files`).
The output folder may hold files the report does not write (a hand-written
README.md): they are kept. A folder that is not a report of this suite (see
`is_report_folder`) is written into only with `force`; a file is never replaced.

This module writes the files and assembles REPORT.md; its sections are
rendered by `report_verdict` (the box of answers under the title), `report_setup`
(header, status, setup, method), `report_results`
(cells, selection, findings, early ranking), `report_evaluation` (full test
evaluation, optimizers within groups) and `pruning_section`, in the Markdown
of `separation.analysis.markdown`. Importing it loads no torch: the model's
parameter count (Setup) loads it when the count is made.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from separation.analysis import evaluation, pruning_section, within
from separation.analysis.report_claims import claims_parts
from separation.analysis.cells import cell_table, compare, comparison_table, select_best
from separation.analysis.collect import PROVENANCE_FILE, collect_study, collect_tables
from separation.analysis.figures import FIGURES, draw_all
from separation.analysis.findings import report_column
from separation.analysis.report_evaluation import evaluation_section, within_section
from separation.analysis.report_results import cells_section, early_ranking_section, findings_section, selection_section
from separation.analysis.report_setup import header_section, method_section, provenance_lines, setup_section, status_section
from separation.analysis.report_verdict import verdict_box
from separation.analysis.study import Study
from separation.atomic import write_text_atomic
from separation.errors import UserError
from separation.outputs import fresh_folder, install_files, refuse_file


def figures_section(drawn: list[tuple[str, str, str | None]]) -> str:
    lines = ["## Figures", ""]
    for name, caption, skipped in drawn:
        title = name.removesuffix(".png").replace("_", " ").capitalize()
        lines += [f"### {title}", ""]
        lines += [f"Skipped: {skipped}.", ""] if skipped else [caption, "", f"![{title}](figures/{name})", ""]
    return "\n".join(lines)


FILES = """## Files

- `trials.csv`: one row per trial (missing ones included): axes, status, final and best validation metric, test metric, steps, time to each target (seconds and steps; inf = never reached), LR reductions, clipping rate, seconds per step, reason.
- `steps.csv`: every logged value of every trial (long: trial, cell, step, metric, value, wall_time).
- `cells.csv`: per cell: counts by status, median and IQR of the final metrics (and the conservative median), median time to target.
- `comparisons.csv`: every cell against the best cell on the reported metric (bootstrap interval, P(better)).
- `evaluation.csv` (when a trial was evaluated or the spec names `baselines`): the scores of `separation evaluate` per evaluated trial (`<trial>/eval_test/`) and per baseline, one row each, scores as columns by name.
- `within.csv` (when one added axis, such as the training objective, groups the cells): the optimizers ranked within each of its values, with the difference from the group's best and the full-evaluation means.
- `provenance.json`: the Setup lines that come from the trials' `meta.json` (devices, engine, code, versions, compute), so the report can be regenerated from these tables alone (`scripts/report_from_tables.py`).
"""


def render(study: Study, table: pd.DataFrame, drawn, spec_path, study_dir_arg: str, out_dir_arg: str,
           ranked: dict | None, pruning: str = "", claims: tuple[str, str] | None = None) -> str:
    """REPORT.md's text. `claims`: `report_claims.claims_parts`'s (box line, section), or None."""
    column = report_column(study)
    # The verdict box opens the report, right under its title: the answer before the evidence.
    title, rest = header_section(study, spec_path, study_dir_arg, out_dir_arg).split("\n", 1)
    claims_line, claims_section = claims if claims is not None else (None, None)
    return "\n".join([
        title, "",
        verdict_box(study, spec_path, column, ranked, claims_line),
        rest.lstrip("\n"),
        status_section(study),
        setup_section(study),
        method_section(study, column),
        cells_section(study, table, column),
        *filter(None, [evaluation_section(study)]),
        selection_section(study, column),
        *filter(None, [within_section(study, column, ranked)]),
        findings_section(study, column),
        *filter(None, [claims_section]),
        early_ranking_section(study),
        *filter(None, [pruning]),
        figures_section(drawn),
        FILES,
    ])


def _trials_csv(study: Study) -> pd.DataFrame:
    first = ["trial", "cell", "status", *study.factors, "seed"]
    return study.trials[first + [c for c in study.trials.columns if c not in first]]


REPORT_FILE = "REPORT.md"
# Every file a report writes: only these are ever replaced or removed in its folder.
OWN_FILES = ("trials.csv", "steps.csv", "cells.csv", "comparisons.csv", evaluation.FILE, "within.csv",
             PROVENANCE_FILE, REPORT_FILE, *(f"figures/{name}" for name, _, _ in FIGURES),
             pruning_section.FILE, f"figures/{pruning_section.FIGURE}")


def is_report_folder(folder: Path) -> bool:
    """A report of this suite: its provenance.json, or (reports older than that file) REPORT.md beside trials.csv."""
    return (folder / PROVENANCE_FILE).is_file() or ((folder / REPORT_FILE).is_file() and (folder / "trials.csv").is_file())


def check_output(out_dir: str | Path, force: bool = False) -> None:
    """Refuse an output that would overwrite what the user wrote: a file, or a non-empty
    folder that is not a report (unless `force`, which still deletes nothing of theirs)."""
    out_dir = Path(out_dir)
    refuse_file(out_dir, "report folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not is_report_folder(out_dir) and not force:
        raise UserError(f"{out_dir}: folder holds files and is not a report of this suite (no {PROVENANCE_FILE}, "
                        f"no {REPORT_FILE} with trials.csv); choose another -o, or pass --force to write the report "
                        "files into it (nothing else in it is touched)")


def write_report(study_dir: str | Path, out_dir: str | Path, spec_path: str | Path | None = None,
                 evaluation_folder: str = evaluation.DEFAULT_FOLDER, force: bool = False) -> Path:
    """Collect the study, write tables, figures and REPORT.md into `out_dir`; returns the REPORT.md path.

    `evaluation_folder`: the folder of each trial where `separation evaluate` wrote its scores.
    `force`: write into a non-empty folder that is not a report (see `check_output`).
    """
    check_output(out_dir, force)  # before the slow collection
    study = collect_study(study_dir, spec_path, evaluation_folder)
    return write_study(study, out_dir, spec_path, str(study_dir), force)


def write_report_from_tables(results_dir: str | Path, spec_path: str | Path, out_dir: str | Path | None = None,
                             force: bool = False) -> Path:
    """Regenerate a committed report from its own tables and the spec (no runs needed); in place by default."""
    out_dir = out_dir if out_dir is not None else results_dir
    check_output(out_dir, force)
    study = collect_tables(results_dir, spec_path)
    return write_study(study, out_dir, spec_path, f"runs/{study.name}", force)


def write_study(study: Study, out_dir: str | Path, spec_path, study_dir_arg: str, force: bool = False) -> Path:
    """Write a collected study's tables, figures, provenance.json and REPORT.md into `out_dir`.

    Only the report's own files (`OWN_FILES`) in `out_dir` are replaced or, when
    this report does not write them (no evaluation.csv this time), removed.
    """
    out_dir = Path(out_dir)
    check_output(out_dir, force)
    temporary = fresh_folder(out_dir.parent, out_dir.name)
    try:
        table = cell_table(study)
        _trials_csv(study).to_csv(temporary / "trials.csv", index=False)
        study.steps.to_csv(temporary / "steps.csv", index=False)
        table.to_csv(temporary / "cells.csv", index=False)
        column = report_column(study)
        best = select_best(study, study.cells)
        others = [c for c in study.cells if c != best] if best is not None else []
        comparison_table([compare(study, best, c, column) for c in others]).to_csv(temporary / "comparisons.csv", index=False)
        if study.evaluations is not None and not study.evaluations.empty:
            study.evaluations.to_csv(temporary / evaluation.FILE, index=False)
        factor = within.grouping_factor(study)
        ranked = within.rank_within(study, factor, column) if factor is not None else None
        if ranked is not None:
            within.table(study, factor, column, ranked).to_csv(temporary / "within.csv", index=False)
        drawn = draw_all(study, temporary / "figures")
        pruning = pruning_section.section(study, temporary)  # writes pruning.csv and its figure when it replays
        claims = claims_parts(study, out_dir, temporary)  # reads this report's new comparisons.csv, not the old
        text = render(study, table, drawn, spec_path, study_dir_arg, str(out_dir), ranked, pruning, claims)
        (temporary / REPORT_FILE).write_text(text)
        write_text_atomic(temporary / PROVENANCE_FILE, json.dumps({"lines": provenance_lines(study)}, indent=2) + "\n")
        install_files(temporary, out_dir, OWN_FILES, last=(REPORT_FILE,))
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return out_dir / REPORT_FILE
