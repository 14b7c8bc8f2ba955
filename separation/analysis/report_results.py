"""The report's result sections: the per-cell table, the selected settings, the findings and how early the ranking shows.

`cells_section` (one row per cell from `cells.csv`, with the task's reference
rows), `selection_section` (the best cell on validation, and each hue value at
its best), `findings_section` (each hue value against the best, the study's
claims, what the training instruments saw) and `early_ranking_section`
(separation.analysis.ranking's Kendall taus).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from separation.analysis import markdown as md
from separation.analysis.cells import best_per, profile_times, seed_values, select_best
from separation.analysis.findings import claims, describe, hue_comparisons
from separation.analysis.ranking import FIRST_LOSS_STEP, RESAMPLES as RANK_RESAMPLES, early_ranking
from separation.analysis.stats import LEVEL, MIN_SEEDS, median_iqr
from separation.analysis.study import Study, decays_every_step
from separation.outcomes import OUTCOMES


def cells_section(study: Study, table: pd.DataFrame, column: str) -> str:
    # Without test metrics the reported column is the validation one: shown once, with its conservative median.
    reported = ["test"] if column == "test" else []
    if reported and "test_improvement_median" in table and table["test_improvement_median"].notna().any():
        reported.append("test_improvement")
    names = {"test": "test", "test_improvement": f"test {study.headline.improvement_name}"}
    header = ["cell", "finished/seeds", "diverged", "collapsed", "failed", "not run", "val median [IQR]"]
    header += [f"{names[c]} median [IQR]" for c in reported] + [f"{'test' if reported else 'val'} (lost=worst)"]
    per_stem = [c for c in table.columns if c.startswith("test_improvement[") and table[c].notna().any()] if reported else []
    header += [f"{study.headline.improvement_name} {c[len('test_improvement['):-len(']_median')]}" for c in per_stem]
    header += [f"s to {t} (reached)" for t in study.targets]
    header += ["LR cuts", "clipped %", "s/step"]
    rows = []
    for _, row in table.iterrows():
        finished = row["n_completed"] + row["n_stopped_at_target"]
        cells = [
            row["cell"], f"{finished}/{row['seeds']}", row["n_diverged"], row["n_collapsed"], row["n_failed"],
            row["n_interrupted"] + row["n_missing"],
            md.median_iqr_text(row["val_final_median"], row["val_final_q25"], row["val_final_q75"]),
            *(md.median_iqr_text(row[f"{c}_median"], row[f"{c}_q25"], row[f"{c}_q75"]) for c in reported),
            md.number(row[f"{column}_median_conservative"]),
            *(md.number(row[c]) for c in per_stem),
        ]
        for key in study.targets:
            outcomes = finished + row["n_diverged"] + row["n_collapsed"]
            cells.append(f"{md.seconds(row[f'seconds_to[{key}]_median'])} ({row[f'reached[{key}]']}/{outcomes})")
        clip = row["clip_rate_mean"]
        continuous = decays_every_step(study.trials[study.trials["cell"] == row["cell"]])
        cuts = "every step" if continuous else md.number(row["lr_reductions_median"], 0)
        cells += [cuts, md.number(100 * clip, 0), md.number(row["sec_per_step_median"], 3)]
        rows.append(cells)
    return "\n".join(["## Results per cell", "", md.table(header, rows), "", *_references(study)])


def _references(study: Study) -> list[str]:
    """Reference rows on the same test excerpts (the task's `Headline.references`, e.g. the mixture and the
    oracle mask), from the trials' test runs; the first is the input that the improvement column is over."""
    headline = study.headline
    if not headline.references:
        return []
    finished = study.trials[study.trials["status"].isin(OUTCOMES)]
    prefix = f"ref[{headline.references[0][1]}_"
    stems = [c[len(prefix):-1] for c in finished.columns if c.startswith(prefix) and finished[c].notna().any()]
    rows, varies = [], []
    for label, metric in headline.references:
        column = f"ref[{metric}]"
        if column not in finished or not finished[column].notna().any():
            continue
        values = finished[column].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if values.max() - values.min() > 0.01:
            varies.append(f"{label} {values.min():.2f} to {values.max():.2f} dB")
        per_stem = []
        for stem in stems:
            stem_values = finished.get(f"ref[{metric}_{stem}]")
            per_stem.append(md.number(np.nanmedian(stem_values.to_numpy(dtype=float))) if stem_values is not None else "n/a")
        mixture = f"ref[{headline.references[0][1]}]"
        improvement = np.nanmedian(finished[column].to_numpy(dtype=float) - finished[mixture].to_numpy(dtype=float))
        rows.append([label, md.number(np.median(values)), md.number(improvement), *per_stem])
    if not rows:
        return []
    name = headline.name
    lines = [
        f"Reference rows, scored by every trial's test run on the same test excerpts (median over {len(finished)} trials): "
        f"{headline.references_note}"
        + (f" With two stems the {headline.references[0][0]}'s {name}s for the two stems are opposite, so a mean {headline.improvement_name} equals "
           f"the mean {name}; the per-stem {headline.improvement_name} columns above tell the stems apart." if len(stems) == 2 else ""),
        "",
        md.table(["reference", f"test {name}", f"test {headline.improvement_name}", *(f"{name} {s}" for s in stems)], rows),
        "",
    ]
    if varies:
        lines += [f"The reference values differ between trials (their STFTs or excerpts differ): {'; '.join(varies)}.", ""]
    return lines


def selection_section(study: Study, column: str) -> str:
    lines = ["## Selected settings (on validation)", ""]
    best = select_best(study, study.cells)
    if best is None:
        return "\n".join(lines + ["No cell has a finished trial that neither diverged nor collapsed: nothing to select.", ""])
    split = "test" if column == "test" else "validation"
    val = median_iqr(seed_values(study, best, "val_final"))
    reported = median_iqr(seed_values(study, best, column))
    lines.append(f"Best cell on validation: **`{best}`**, validation {study.headline.name} {md.median_iqr_text(*val)} dB, "
                 f"{split} {md.median_iqr_text(*reported)} dB (median [IQR]).")
    lines.append("")
    per = best_per(study, study.hue)
    if len(per) > 1:
        rows = []
        for value, cell in per.items():
            n = len(seed_values(study, cell, "val_final"))
            rows.append([value, cell, md.median_iqr_text(*median_iqr(seed_values(study, cell, "val_final"))),
                         md.median_iqr_text(*median_iqr(seed_values(study, cell, column))), n])
        lines += [f"Each {study.hue} at its best setting:", "",
                  md.table([study.hue, "selected cell", "val median [IQR]", f"{split} median [IQR]", "seeds"], rows), ""]
    return "\n".join(lines)


def findings_section(study: Study, column: str) -> str:
    lines = ["## Findings", ""]
    overall, comparisons = hue_comparisons(study, column)
    if overall is not None and comparisons:
        lines += [f"### Each {study.hue} against the best (`{overall}`)", ""]
        winner = study.trials.loc[study.trials["cell"] == overall, study.hue].iloc[0]
        lines += [f"- {describe(study, c, str(winner), str(value))}" for value, c in comparisons]
        lines.append("")
    lines += ["### The study's claims", ""]
    for claim in claims(study, column):
        lines += [f"**{claim.statement}:** *{claim.verdict}*.", "", claim.text, ""]
    lines += _dynamics(study)
    return "\n".join(lines)


def _dynamics(study: Study) -> list[str]:
    """What the instruments saw: how often clipping acted, how often schedules cut the LR, who reached targets."""
    finished = study.trials[study.trials["status"].isin(OUTCOMES)]
    if finished.empty:
        return []
    lines = ["### Training dynamics", ""]
    for clipping, rows in finished.groupby("clipping", sort=False):
        if clipping == "none":
            continue
        rate = rows["clip_rate"].mean()
        norm = rows["grad_norm_pre_median"].median()
        lines.append(f"- Clipping {clipping} reduced the gradient on {md.number(100 * rate, 0)}% of logged steps "
                     f"(median pre-clip norm {md.number(norm)}, over {len(rows)} trials).")
    for scheduler, rows in finished.groupby("scheduler", sort=False):
        cuts = rows["lr_reductions"].to_numpy(dtype=float)
        if decays_every_step(rows):
            lines.append(f"- Scheduler {scheduler}: the LR changes at every step (a continuous decay, no reductions to count).")
        elif np.isfinite(cuts).any() and np.nanmax(cuts) > 0:
            lines.append(f"- Scheduler {scheduler}: {np.nanmedian(cuts):g} LR reductions per trial (median; max {np.nanmax(cuts):g}).")
    if study.targets:
        methods, problems, times = profile_times(study)
        for key in study.targets:
            column = f"seconds_to[{key}]"
            reached = np.isfinite(finished[column].to_numpy(dtype=float))
            lines.append(f"- Target `{key}`: reached by {int(reached.sum())} of {len(finished)} finished trials.")
        if len(methods) > 1 and times.size:
            fastest = Counter()
            for j in range(times.shape[1]):
                if np.isfinite(times[:, j]).any():
                    fastest[methods[int(np.argmin(times[:, j]))]] += 1
            solved = {m: int(np.isfinite(times[i]).sum()) for i, m in enumerate(methods)}
            lines.append(f"- Time-to-target problems ({len(problems)}: setting x target): "
                         + "; ".join(f"{m} reached {solved[m]}, fastest on {fastest.get(m, 0)}" for m in methods) + ".")
    lines.append("")
    return lines if len(lines) > 3 else []


def tau_text(interval) -> str:
    if not np.isfinite(interval.estimate):
        return "n/a (ties)"
    bounds = f" [{interval.low:.2f}, {interval.high:.2f}]" if np.isfinite(interval.low) else ""
    return f"{interval.estimate:.2f}{bounds}"


def early_ranking_section(study: Study) -> str:
    """How early the study's ranking could have been read (separation.analysis.ranking)."""
    lines = ["## How early can the ranking be read?", ""]
    analysis = early_ranking(study)
    if isinstance(analysis, str):
        return "\n".join(lines + [f"Not computed: {analysis}.", ""])
    name = study.headline.name
    lines += [
        f"Kendall's tau-b between the ranking of the {len(analysis.cells)} compared cells (those selection compares) at a "
        f"point of training and their final ranking (conservative median of the final validation {name} over seeds, as "
        f"selection ranks them); at a validation point cells are ranked by their median validation {name}, at step 8, 32, "
        f"128, ... by their median logged training loss (lower is better; the last value logged at or before the step). "
        f"Intervals: {LEVEL:.0%} percentile bootstrap, {RANK_RESAMPLES:,} resamples of each cell's seeds "
        f"(up to {analysis.seeds} per cell; no interval unless every compared cell has {MIN_SEEDS} seeds). "
        "Steps are optimizer steps. `separation.analysis.ranking` states the rules.",
        "",
    ]
    rows = [[p.source, p.step, tau_text(p.tau), p.top, "yes" if p.agrees(analysis.final_top) else "no"] for p in analysis.points]
    lines += [md.table(["ranked by", "step", "Kendall tau [95% CI]", "top cell there", "top = final top"], rows), ""]
    lines.append(f"Final top cell: `{analysis.final_top}`.")
    validation = analysis.at("validation")
    if analysis.stable_from is not None:
        later = "the first validation" if validation and analysis.stable_from == validation[0].step else f"step {analysis.stable_from}"
        lines.append(f"- By validation {name}, the top cell is the final one from {later} on "
                     f"(validations every {validation[1].step - validation[0].step if len(validation) > 1 else 'n/a'} steps).")
    first = next((p for p in analysis.at("training loss") if p.step == FIRST_LOSS_STEP), None)
    if first is not None:
        verdict = "would have picked the final top cell" if first.agrees(analysis.final_top) else "would have picked the wrong cell"
        lines.append(f"- The ranking by training loss at step {FIRST_LOSS_STEP} (the original Spleeter comparison's budget) "
                     f"{verdict}: its top is `{first.top}`, and its tau with the final ranking is {tau_text(first.tau)}.")
    correct = [p.step for p in analysis.at("training loss") if p.agrees(analysis.final_top)]
    if correct:
        lines.append(f"- By training loss the top cell is the final one at step(s) {', '.join(map(str, correct))}.")
    lines.append("")
    return "\n".join(lines)
