"""The report's sections on the full test evaluation: scores per cell with the baselines, and the optimizers within each group.

`evaluation_section` summarises what `separation evaluate` wrote for each
trial (separation.analysis.evaluation) beside the spec's fixed baselines;
`within_section` ranks the optimizers within each value of a grouping factor
such as the training objective (separation.analysis.within).
"""

from __future__ import annotations

import numpy as np

from separation.analysis import evaluation, markdown as md, within
from separation.analysis.cells import lost_seeds, seed_values, select_best
from separation.analysis.stats import median_iqr
from separation.analysis.study import Study
from separation.outcomes import OUTCOMES
from separation.tasks import get_task


def evaluation_section(study: Study) -> str:
    """Per cell: the full test evaluation's scores over seeds, then the baselines' rows, with what was left out."""
    table = study.evaluations
    if table is None or table.empty:
        return ""
    names = evaluation.score_columns(table)
    summary = evaluation.cell_summary(study)
    trials = table[table["kind"] == "trial"]
    digits = evaluation.score_digits(table, names)
    finished = int(study.trials["status"].isin(OUTCOMES).sum())
    folders = ", ".join(f"`<trial>/{f}/`" for f in dict.fromkeys(trials["folder"])) or "`<trial>/eval_test/`"
    methods = "; ".join(dict.fromkeys(m for m in table["method"] if m))
    lines = [
        "## Full test evaluation (`separation evaluate`)", "",
        f"{len(trials)} of {finished} finished trials have a full test evaluation in {folders}, written by "
        f"`separation evaluate <trial>/last.ckpt --split test` from the same final weights as the test column above "
        f"(`python scripts/evaluate_study.py runs/{study.name}` evaluates every trial not yet evaluated). "
        + (f"Scores: {methods}. " if methods else "")
        + "Per cell: median [IQR] over the evaluated seeds that finished without diverging or collapsing, as in the "
        "tables above; diverged and collapsed seeds are counted (`lost`) and enter no score here (their final weights "
        "are not a result; the conservative statistics above already count them at the worst value). Cells with no "
        "evaluated trial are left out.", "",
    ]
    header = ["cell", "seeds scored/finished", "lost", *(f"{n} median [IQR]" for n in names)]
    rows = [[row["cell"], f"{row['scored']}/{row['finished']}", row["lost"],
             *(md.score_text((row[f"{n}_median"], row[f"{n}_q25"], row[f"{n}_q75"]), digits[n]) for n in names)]
            for _, row in summary.iterrows()]
    references = evaluation.baselines(study)
    notes = []
    for label, scores, differs in references:
        note = "same data as the trials" if not differs else "NOT comparable: " + "; ".join(differs)
        rows.append([label, "baseline", "", *(md.number(scores.get(n), digits[n]) for n in names)])
        notes.append(f"- `{label}`: {note}.")
    if rows:
        lines += [md.table(header, rows), ""]
    if len(trials):
        seen = evaluation.trial_data(study)
        described = []
        for key in evaluation.DATA_KEYS:
            values = sorted({d.get(key) for d in seen if d.get(key) is not None})
            if values:
                described.append(f"{key.replace('_', ' ')} {' / '.join(values)}" + (" (differs between trials)" if len(values) > 1 else ""))
        if described:
            lines += [f"The trials' evaluations scored: {', '.join(described)}.", ""]
    if references:
        basis = "the trials' evaluations" if len(trials) else "the data root of the trials' configs (no trial is evaluated yet)"
        lines += [f"Baseline rows: fixed methods evaluated once (no seeds) by `separation evaluate --baseline NAME`, "
                  f"read from the spec's `baselines`; each is checked against {basis} (data root, split, item count, "
                  "sample rate):", "", *notes, ""]
    lines += best_against_baselines(study, names, digits)
    missing = evaluation.not_evaluated(study)
    if len(missing):
        shown = [f"`{r.trial}` ({r.status})" for r in missing.head(12).itertuples()]
        more = f", and {len(missing) - 12} more" if len(missing) > 12 else ""
        lines += [f"Not evaluated: {len(missing)} of {finished} finished trials: {', '.join(shown)}{more}.", ""]
    return "\n".join(lines)


def best_against_baselines(study: Study, names: list[str], digits: dict[str, int]) -> list[str]:
    """The selected cell (best on validation) against each baseline scored on the same data, seed by seed.

    Each baseline is one number per score (a fixed method, no seeds); the cell has one per evaluated seed. So
    the comparison is the cell's median minus the baseline, and in how many of its seeds it is higher: with
    three seeds, "3 of 3 higher" is the strongest statement the evaluation supports, and "2 of 3" says a
    difference of that size is within the seeds' spread.
    """
    references = [(label, scores) for label, scores, differs in evaluation.baselines(study) if not differs]
    best = select_best(study, study.cells)
    if not references or best is None:
        return []
    rows = evaluation.ok_rows(study, best)
    if rows.empty:
        return [f"The selected cell `{best}` (best on validation) has no full evaluation of a seed that finished well, "
                "so it is not set against the baselines here.", ""]
    # Against a baseline on the same items, a score and its improvement over the input differ by the same
    # amount (SI-SNR and SI-SNRi): the improvement alone is shown.
    names = [name for name in names if f"{name}i" not in names]
    header = ["baseline", *names]
    table = []
    for label, scores in references:
        cells = []
        for name in names:
            values = rows[name].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            if name not in scores or not values.size:
                cells.append("")
                continue
            higher = int((values > scores[name]).sum())
            cells.append(f"{np.median(values) - scores[name]:+.{digits[name]}f} ({higher} of {values.size} higher)")
        table.append([label, *cells])
    return [f"The selected cell `{best}` (best on validation) against each baseline scored on the same items: its "
            "median over the evaluated seeds minus the baseline's score, and in how many seeds it is higher "
            "(higher is better for every score here).", "", md.table(header, table), ""]


def within_section(study: Study, column: str, ranked: dict | None) -> str:
    """The optimizers ranked within each value of the grouping factor (separation.analysis.within), when there is one.

    `ranked`: `within.rank_within`'s result, computed once by write_study (it also goes to within.csv); None
    when no factor groups the cells.
    """
    if ranked is None:
        return ""
    factor = within.grouping_factor(study)
    split = "test" if column == "test" else "validation"
    metric = study.headline.name
    names = evaluation.score_columns(study.evaluations) if study.evaluations is not None else []
    digits = evaluation.score_digits(study.evaluations, names) if names else {}
    lines = [f"## The optimizers within each {factor}", "",
             f"Does the best optimizer change with `{factor}`? Within each value, each optimizer is represented by its "
             "best cell on validation (the report's rule), and the optimizers are ranked by it; the winner is compared on "
             f"{split} {metric} with each other optimizer of its group. Optimizers whose difference from the winner has "
             "an interval containing 0 (conservative where seeds were lost) are *tied with the best*. "
             "(`separation.analysis.within`; the numbers are in `within.csv`.)", ""]
    compared = get_task(study.task).compared_scores
    shown = [n for n in names if n in compared] or names
    if shown:
        header = [factor, "best optimizer (on validation)", "seeds", *(f"{n} mean [95% CI]" for n in shown)]
        rows = []
        for value, entries in ranked.items():
            best = entries[0]
            n = len(within.evaluated_values(study, best.cell, shown[0]))
            rows.append([value, f"`{best.cell}`", n,
                         *(within.interval_text(within.bootstrap_mean(within.evaluated_values(study, best.cell, name)), digits[name])
                           for name in shown)])
        for label, scores, differs in evaluation.baselines(study):
            rows.append([f"{label}{' (other data)' if differs else ''}", "", "", *(md.number(scores.get(n), digits[n]) for n in shown)])
        lines += [f"The best cell of each {factor}, scored by the full test evaluation (mean over its seeds that "
                  "neither diverged nor collapsed, 95% bootstrap interval over those seeds; baseline rows are fixed methods "
                  "scored once):", "", md.table(header, rows), ""]
    header = [factor, "rank", "optimizer", "val median (conservative)", f"{split} median [IQR]", "seeds ok/lost",
              "difference from the best [95% CI]", "tied with the best"]
    rows = []
    for value, entries in ranked.items():
        for rank, entry in enumerate(entries, 1):
            values = seed_values(study, entry.cell, column)
            lost = lost_seeds(study, entry.cell)
            if entry.comparison is None:
                difference = "(best)"
            else:
                interval = within.decisive(entry.comparison)
                bounds = f" [{md.number(interval.low)}, {md.number(interval.high)}]" if np.isfinite(interval.low) else ""
                difference = f"{interval.estimate:+.2f}{bounds}"
            rows.append([value, rank, entry.optimizer, md.number(entry.val_conservative),
                         md.median_iqr_text(*median_iqr(values)), f"{len(values)}/{lost}", difference,
                         "yes" if entry.tied else "no"])
    lines += [f"Ranking within each {factor} ({split} {metric}, dB):", "", md.table(header, rows), ""]
    winners = {value: entries[0].optimizer for value, entries in ranked.items() if entries}
    tied = {value: [r.optimizer for r in entries if r.tied] for value, entries in ranked.items() if entries}
    answer = within.verdict(ranked)
    lines.append("Best optimizer on validation: " + "; ".join(f"{winners[v]} under {v} (tied: {', '.join(tied[v])})" for v in winners) + ".")
    lines.append("")
    meaning = {
        "changes": f"**The best optimizer changes with `{factor}`**: two of its values have no optimizer in common among those tied with their best.",
        "not resolved": f"**Whether the best optimizer changes with `{factor}` is not resolved**: the winners differ, but every two values share an optimizer tied with their best.",
        "does not change": f"**The best optimizer does not change with `{factor}`**: the same optimizer wins under every value.",
    }[answer]
    lines += [meaning, ""]
    return "\n".join(lines)
