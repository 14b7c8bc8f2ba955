"""`separation report`: a study folder in, `results/<study>/` out.

    runs/<study>/<trial>/...  ->  trials.csv    one row per trial (missing ones included)
                                  steps.csv     every logged value: trial, cell, step, metric, value, wall_time
                                  cells.csv     per cell: counts by status, median and IQR, time to target
                                  comparisons.csv  every cell against the best one (bootstrap CI, P(better))
                                  evaluation.csv   `separation evaluate` scores per evaluated trial and baseline
                                  figures/*.png
                                  REPORT.md     question, setup, tables, figures, findings

Everything is written into a fresh temporary folder first, then moved into the
output folder file by file, REPORT.md last (`separation.outputs.install_files`).
The output folder may hold files the report does not write (a hand-written
README.md): they are kept. A folder that is not a report of this suite (see
`is_report_folder`) is written into only with `force`; a file is never replaced.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from separation.analysis.cells import best_per, cell_table, compare, comparison_table, lost_seeds, profile_times, seed_values, select_best
from separation.analysis.collect import OK, OUTCOMES, PROVENANCE_FILE, Study, collect_study, collect_tables
from separation.analysis import evaluation, pruning_section, within
from separation.atomic import write_text_atomic
from separation.analysis.figures import FIGURES, draw_all
from separation.analysis.findings import claims, describe, hue_comparisons, report_column
from separation.analysis.ranking import FIRST_LOSS_STEP, RESAMPLES as RANK_RESAMPLES, early_ranking
from separation.analysis.stats import LEVEL, MIN_SEEDS, RESAMPLES, median_iqr
from separation.errors import UserError
from separation.outputs import fresh_folder, install_files, refuse_file
from separation.tasks import get_task

DATA_KEYS = (
    "root", "layout", "n_src", "stems", "sample_rate", "segment_seconds", "batch_size",
    "train_items_per_epoch", "valid_max_items", "valid_seconds", "test_seconds", "dynamic_mixing",
)


def _num(value, digits: int = 2) -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "n/a"
    if np.isnan(value):
        return "n/a"
    if np.isinf(value):
        return "not reached" if value > 0 else "-inf"
    return f"{value:.{digits}f}"


def _seconds(value) -> str:
    value = float(value)
    if np.isnan(value):
        return "n/a"
    return "not reached" if np.isinf(value) else f"{value:.3g}"


def _md(text) -> str:
    return str(text).replace("|", "\\|")


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _median_iqr_text(median: float, q25: float, q75: float) -> str:
    if not np.isfinite(median):
        return "n/a"
    return f"{median:.2f} [{q25:.2f}, {q75:.2f}]"


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def parameter_count(config: dict) -> int:
    """Parameters of the model a trial trains, built as its system builds it (data sizes included)."""
    from separation.config import config_from_dict
    from separation.models import build_model

    resolved = config_from_dict(config)
    model = build_model(resolved.model.name, get_task(resolved.task).model_args(resolved))
    return sum(p.numel() for p in model.parameters())


def _question(spec_path: Path | None) -> str:
    """The spec's leading comment block (the committed specs state their question there)."""
    if spec_path is None:
        return ""
    lines = []
    for line in Path(spec_path).read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return " ".join(lines).strip()


# ---------------------------------------------------------------------------- sections


def _header(study: Study, spec_path, study_dir_arg: str, out_dir_arg: str) -> str:
    parts = [f"# Study report: {study.name}", ""]
    if study.spec is not None and study.spec.description:
        parts += [study.spec.description, ""]
    question = _question(spec_path)
    if question:
        parts += [f"**Question.** {question}", ""]
    if spec_path is None:
        parts += [
            "**No spec was given** (`--spec`): this report covers the trial folders found, and cannot tell which "
            "planned trials were never started.", "",
        ]
    spec_arg = str(spec_path) if spec_path is not None else "<the study's spec>"
    parts += [
        "**Reproduce.**", "", "```",
        f"separation grid {spec_arg}",
        f"separation report {study_dir_arg} -o {out_dir_arg}" + (f" --spec {spec_path}" if spec_path is not None else ""),
        "```", "",
    ]
    if study.source == "tables":
        parts += [
            "This report was regenerated from its committed tables (`trials.csv`, `steps.csv`) and the spec, "
            "without the trial folders; the Setup lines on devices, engine, code, versions and compute are carried over "
            "from the report it replaces:", "", "```",
            f"python scripts/report_from_tables.py {out_dir_arg} --spec {spec_path}", "```", "",
        ]
    return "\n".join(parts)


def _status(study: Study) -> str:
    trials = study.trials
    counts = Counter(trials["status"])
    order = ("completed", "stopped-at-target", "diverged", "collapsed", "failed", "interrupted", "missing")
    # A pruned study's own states, listed only where they occur: the other reports keep their table.
    order = (*order[:4], *(s for s in ("pruned", "paused") if counts.get(s)), *order[4:])
    lines = ["## Status", "", _table(["status", "trials"], [[s, counts.get(s, 0)] for s in order] + [["total", len(trials)]]), ""]
    unfinished = counts.get("interrupted", 0) + counts.get("missing", 0)
    if unfinished:
        lines.append(f"**Incomplete grid:** {unfinished} of {len(trials)} trials have not finished; "
                     "everything below uses the finished trials only.")
        lines.append("")
        empty = [c for c in study.cells if trials.loc[trials["cell"] == c, "status"].isin(("missing", "interrupted")).all()]
        if empty:
            lines.append(f"Cells with no finished trial ({len(empty)}): " + ", ".join(f"`{c}`" for c in empty) + ".")
            lines.append("")
        partial = []
        for cell in study.cells:
            rows = trials[trials["cell"] == cell]
            pending = rows[rows["status"].isin(("missing", "interrupted"))]
            if len(pending) and cell not in empty:
                seeds = ", ".join(f"{s} ({st})" for s, st in zip(pending["seed"], pending["status"]))
                partial.append(f"- `{cell}`: seed{'s' if len(pending) > 1 else ''} {seeds}")
        if partial:
            lines += ["Cells with seeds not finished:", *partial, ""]
    else:
        lines += ["Every planned trial has finished." if study.spec is not None else "Every trial folder found has finished.", ""]
    for status, what in (("diverged", "Diverged (an outcome: counted, never dropped)"),
                         ("collapsed", "Collapsed (trivial estimates on the test split: an outcome, counted like divergence)"),
                         ("failed", "Failed (crashed; see the trial's error.log; excluded from statistics)")):
        rows = trials[trials["status"] == status]
        if len(rows):
            lines.append(f"{what}:")
            lines += [f"- `{r.trial}` (`{r.cell}`, seed {r.seed}): {r.reason or 'no reason recorded'}" for r in rows.itertuples()]
            lines.append("")
    for note in study.notes:
        lines += [f"Note: {note}.", ""]
    return "\n".join(lines)


def _distinct(values) -> list:
    return list(dict.fromkeys(v for v in values if v not in (None, "")))


def provenance_lines(study: Study) -> list[str]:
    """Setup lines from the trials' meta.json: devices, engine, code, versions, compute (kept in provenance.json)."""
    if study.provenance is not None:
        return list(study.provenance)
    metas = [m for m in study.metas.values() if m]
    if not metas:
        return []
    lines = []
    devices = Counter(m.get("device", "unknown") for m in metas)
    lines.append("- Devices: " + "; ".join(f"{d} ({n} trials)" for d, n in devices.items()) + ".")
    engines = Counter(f"{m.get('engine', '?')}, {m.get('packing', 1)} trial(s) per device" for m in metas)
    lines.append("- Engine: " + "; ".join(f"{e} ({n})" for e, n in engines.items()) + ".")
    commits = Counter(m.get("git_commit") or "unknown" for m in metas)
    lines.append("- Code: " + "; ".join(f"`{c}` ({n})" for c, n in commits.items())
                 + (" **(several commits: trials ran different code)**" if len(commits) > 1 else "") + ".")
    versions = _distinct(", ".join(f"{k} {v}" for k, v in (m.get("versions") or {}).items()) for m in metas)
    if versions:
        lines.append("- Versions: " + " / ".join(versions) + ".")
    train = np.nansum(study.trials["train_seconds"].to_numpy(dtype=float))
    val = np.nansum(study.trials["val_seconds"].to_numpy(dtype=float))
    times = [datetime.fromisoformat(t) for m in metas for t in (m.get("start"), m.get("end")) if t]
    span = f"; wall clock {min(times).isoformat()} to {max(times).isoformat()}" if times else ""
    lines.append(f"- Compute: {_hours(train)} of training and {_hours(val)} of validation over all trials{span}.")
    return lines + _test_snr_lines(study)


def _test_snr_lines(study: Study) -> list[str]:
    """The test split's input SNRs from the enhancement corpus's corpus.json (recorded by corpora since #28);
    kept in provenance.json with the lines above, so a report regenerated later still states the corpus it ran on."""
    lines = []
    for root in _distinct(str((c.get("data") or {}).get("root") or "") for c in study.configs.values()):
        path = Path(root) / "corpus.json"
        try:
            corpus = json.loads(path.read_text())
            snr, (low, high) = corpus["snr_db"]["test"], corpus["snr_range"]
            lines.append(f"- Test input SNR ({path}): median {snr['median']:g} dB, quartiles {snr['q1']:g} to "
                         f"{snr['q3']:g} dB, range {snr['min']:g} to {snr['max']:g} dB over {snr['count']} items "
                         f"(drawn uniformly from {low:g} to {high:g} dB).")
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not an enhancement corpus, or one from before the SNRs were recorded
    return lines


def _precision(study: Study, trainer: dict) -> str:
    """As configured; with `auto`, what the trials resolved it to (their summaries say, runs since #25)."""
    requested = trainer.get("precision")
    if "precision" not in study.trials:
        return str(requested)
    resolved = study.trials["precision"].astype(str).replace("", "not recorded").value_counts()
    counts = ", ".join(f"{value} in {count} trial{'s' if count > 1 else ''}" for value, count in resolved.items())
    return f"{requested} (trained in: {counts})"


def _setup(study: Study) -> str:
    configs = list(study.configs.values())
    first = configs[0]
    lines = ["## Setup", ""]
    lines.append(f"- Task: {study.task} ({get_task(study.task).description}); selection metric `{study.headline.val}`, reported metric `{study.headline.test}` (dB, higher is better).")
    models = {}
    for config in configs:
        models.setdefault(repr((config["model"], config.get("data"))), config)
    for config in list(models.values())[:3]:
        try:
            count = f"{parameter_count(config):,} parameters"
        except Exception as error:  # the count is a courtesy; a report must not fail over it
            count = f"parameter count unavailable ({type(error).__name__}: {error})"
        args = ", ".join(f"{k}={v}" for k, v in (config["model"].get("args") or {}).items()) or "defaults"
        lines.append(f"- Model: {config['model']['name']} ({args}): {count}.")
    data = first.get("data", {})
    shown = []
    for key in DATA_KEYS:
        if key in data:
            values = _distinct(str(c.get("data", {}).get(key)) for c in configs)
            shown.append(f"{key}={values[0] if len(values) == 1 else '/'.join(values)}")
    lines.append(f"- Data: {', '.join(shown)}.")
    trainer = first.get("trainer", {})
    budget = [f"max_epochs={trainer.get('max_epochs')}"]
    if trainer.get("max_steps", -1) not in (-1, None):
        budget.append(f"max_steps={trainer['max_steps']}")
    if trainer.get("max_minutes"):
        budget.append(f"max_minutes={trainer['max_minutes']}")
    done = study.trials[study.trials["status"].isin(OK)]
    ran = f"; finished trials that neither diverged nor collapsed ran a median of {np.nanmedian(done['steps']):.0f} steps" if len(done) and done["steps"].notna().any() else ""
    lines.append(f"- Budget per trial: {', '.join(budget)}; precision {_precision(study, trainer)}, deterministic={trainer.get('deterministic')}{ran}.")
    fixed = [f for f in ("optimizer", "lr", "scheduler", "clipping") if f not in study.varying]
    if fixed:
        opt, sched = first["optimizer"], first["scheduler"]
        descriptions = {
            "optimizer": f"optimizer {opt['name']} (weight_decay={opt.get('weight_decay', 0)}, args={opt.get('args') or {}})",
            "lr": f"lr {opt['lr']:g}",
            "scheduler": f"scheduler {sched['name']} (args={sched.get('args') or {}})",
            "clipping": f"clipping {study.trials['clipping'].iloc[0]}",
        }
        lines.append(f"- Fixed: {'; '.join(descriptions[f] for f in fixed)}.")
    for factor in study.varying:
        values = _distinct(study.trials[factor])
        shown = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)
        lines.append(f"- Axis `{factor}`: {shown} ({len(values)} values).")
    seeds = sorted(set(study.trials["seed"]))
    lines.append(f"- Seeds: {', '.join(map(str, seeds))} ({len(seeds)} per cell); {len(study.cells)} cells, {len(study.trials)} trials.")
    if study.targets:
        lines.append(f"- Targets (time-to-target): {', '.join(f'`{t}`' for t in study.targets)}.")
    lines += provenance_lines(study)
    lines.append("")
    return "\n".join(lines)


def _method(study: Study, column: str) -> str:
    split = "test" if column == "test" else "validation (no trial has a test metric)"
    stopped = int((study.trials["status"] == "stopped-at-target").sum())
    early = [
        f"- {stopped} trial(s) stopped once every target was reached (`stop_at_target`): their final metrics are at "
        "that stop, not at the end of the budget, so compare them by time to target.",
    ] if stopped else []
    return "\n".join([
        "## How the numbers are computed",
        "",
        "- A cell is one setting of every axis but the seed; its statistics are over its seeds.",
        f"- The final metric is the value at the end of training (the weights the test split was scored with), "
        f"not the best epoch; the best validation value is in `cells.csv` (`val_best_*`). Selection uses validation, "
        f"reported numbers use {split}.",
        "- Per cell: median and interquartile range [25th, 75th percentile] over the seeds that finished without diverging.",
        "- Diverged and collapsed trials are outcomes, never dropped. A collapsed trial finished but separates nothing: on "
        "every test item its estimates are silent or one signal up to scale (the mixture scaled, a constant mask; "
        "`separation.evaluation.collapse`). Each cell reports how many seeds diverged and collapsed; primary statistics "
        "use the other finished seeds; the conservative variant counts a diverged or collapsed seed at the worst value any "
        "trial of the study reached; the best settings are selected on the conservative validation median, so a setting "
        "that often diverges or collapses cannot win on its surviving seeds. "
        "Failed (crashed), interrupted and missing trials are listed above and enter no statistic.",
        f"- Differences between cells: difference of medians with a {LEVEL:.0%} percentile-bootstrap interval "
        f"({RESAMPLES:,} resamples of the seeds within each cell, unpaired, `numpy.random.default_rng(0)`). "
        f"A difference is resolved when the interval excludes 0; with fewer than {MIN_SEEDS} seeds per cell there is no interval. "
        "P(A > B) is the fraction of seed pairs where A beats B, ties counting one half.",
        "- Time to target: training seconds (validation time excluded) until the first validation at or above the "
        "threshold; a trial that never reached it, diverged before it or stopped counts as infinite time "
        "(a hit before a later divergence counts). Medians include those infinities, so a cell reaching a target on "
        "fewer than half its seeds has an infinite median.",
        "- Clipping rate: the fraction of logged steps (every `trainer.log_every_n_steps`) whose gradient norm the clip reduced.",
        *early,
        "",
    ])


def _cells_section(study: Study, table: pd.DataFrame, column: str) -> str:
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
            _median_iqr_text(row["val_final_median"], row["val_final_q25"], row["val_final_q75"]),
            *(_median_iqr_text(row[f"{c}_median"], row[f"{c}_q25"], row[f"{c}_q75"]) for c in reported),
            _num(row[f"{column}_median_conservative"]),
            *(_num(row[c]) for c in per_stem),
        ]
        for key in study.targets:
            outcomes = finished + row["n_diverged"] + row["n_collapsed"]
            cells.append(f"{_seconds(row[f'seconds_to[{key}]_median'])} ({row[f'reached[{key}]']}/{outcomes})")
        clip = row["clip_rate_mean"]
        cells += [_num(row["lr_reductions_median"], 0), _num(100 * clip, 0), _num(row["sec_per_step_median"], 3)]
        rows.append(cells)
    return "\n".join(["## Results per cell", "", _table(header, rows), "", *_references(study)])


def _references(study: Study) -> list[str]:
    """Reference rows on the same test excerpts (the mixture, the oracle mask), from the trials' test runs."""
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
            per_stem.append(_num(np.nanmedian(stem_values.to_numpy(dtype=float))) if stem_values is not None else "n/a")
        mixture = f"ref[{headline.references[0][1]}]"
        improvement = np.nanmedian(finished[column].to_numpy(dtype=float) - finished[mixture].to_numpy(dtype=float))
        rows.append([label, _num(np.median(values)), _num(improvement), *per_stem])
    if not rows:
        return []
    name = headline.name
    lines = [
        f"Reference rows, scored by every trial's test run on the same test excerpts (median over {len(finished)} trials): "
        f"the mixture as every stem's estimate ({headline.improvement_name} 0 by definition), and the oracle ratio mask "
        f"(the references' ideal soft mask in the model's STFT, every bin: the ceiling of a mask-based model)."
        + (f" With two stems the mixture's {name}s for the two stems are opposite, so a mean {headline.improvement_name} equals "
           f"the mean {name}; the per-stem {headline.improvement_name} columns above tell the stems apart." if len(stems) == 2 else ""),
        "",
        _table(["reference", f"test {name}", f"test {headline.improvement_name}", *(f"{name} {s}" for s in stems)], rows),
        "",
    ]
    if varies:
        lines += [f"The reference values differ between trials (their STFTs or excerpts differ): {'; '.join(varies)}.", ""]
    return lines


def _score_text(values: tuple[float, float, float], digits: int) -> str:
    median, q25, q75 = values
    return "n/a" if not np.isfinite(median) else f"{median:.{digits}f} [{q25:.{digits}f}, {q75:.{digits}f}]"


def _evaluation_section(study: Study) -> str:
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
             *(_score_text((row[f"{n}_median"], row[f"{n}_q25"], row[f"{n}_q75"]), digits[n]) for n in names)]
            for _, row in summary.iterrows()]
    references = evaluation.baselines(study)
    notes = []
    for label, scores, differs in references:
        note = "same data as the trials" if not differs else "NOT comparable: " + "; ".join(differs)
        rows.append([label, "baseline", "", *(_num(scores.get(n), digits[n]) for n in names)])
        notes.append(f"- `{label}`: {note}.")
    if rows:
        lines += [_table(header, rows), ""]
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
    missing = evaluation.not_evaluated(study)
    if len(missing):
        shown = [f"`{r.trial}` ({r.status})" for r in missing.head(12).itertuples()]
        more = f", and {len(missing) - 12} more" if len(missing) > 12 else ""
        lines += [f"Not evaluated: {len(missing)} of {finished} finished trials: {', '.join(shown)}{more}.", ""]
    return "\n".join(lines)


def _within_section(study: Study, column: str, ranked: dict | None) -> str:
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
    shown = [n for n in names if n in ("SI-SNRi", "STOI", "PESQ", "SDR", "SDRi")] or names
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
            rows.append([f"{label}{' (other data)' if differs else ''}", "", "", *(_num(scores.get(n), digits[n]) for n in shown)])
        lines += [f"The best cell of each {factor}, scored by the full test evaluation (mean over its seeds that "
                  "neither diverged nor collapsed, 95% bootstrap interval over those seeds; baseline rows are fixed methods "
                  "scored once):", "", _table(header, rows), ""]
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
                bounds = f" [{_num(interval.low)}, {_num(interval.high)}]" if np.isfinite(interval.low) else ""
                difference = f"{interval.estimate:+.2f}{bounds}"
            rows.append([value, rank, entry.optimizer, _num(entry.val_conservative),
                         _median_iqr_text(*median_iqr(values)), f"{len(values)}/{lost}", difference,
                         "yes" if entry.tied else "no"])
    lines += [f"Ranking within each {factor} ({split} {metric}, dB):", "", _table(header, rows), ""]
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


def _selection(study: Study, column: str) -> str:
    lines = ["## Selected settings (on validation)", ""]
    best = select_best(study, study.cells)
    if best is None:
        return "\n".join(lines + ["No cell has a finished trial that neither diverged nor collapsed: nothing to select.", ""])
    split = "test" if column == "test" else "validation"
    val = median_iqr(seed_values(study, best, "val_final"))
    reported = median_iqr(seed_values(study, best, column))
    lines.append(f"Best cell on validation: **`{best}`**, validation {study.headline.name} {_median_iqr_text(*val)} dB, "
                 f"{split} {_median_iqr_text(*reported)} dB (median [IQR]).")
    lines.append("")
    per = best_per(study, study.hue)
    if len(per) > 1:
        rows = []
        for value, cell in per.items():
            n = len(seed_values(study, cell, "val_final"))
            rows.append([value, cell, _median_iqr_text(*median_iqr(seed_values(study, cell, "val_final"))),
                         _median_iqr_text(*median_iqr(seed_values(study, cell, column))), n])
        lines += [f"Each {study.hue} at its best setting:", "",
                  _table([study.hue, "selected cell", "val median [IQR]", f"{split} median [IQR]", "seeds"], rows), ""]
    return "\n".join(lines)


def _findings(study: Study, column: str) -> str:
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
        lines.append(f"- Clipping {clipping} reduced the gradient on {_num(100 * rate, 0)}% of logged steps "
                     f"(median pre-clip norm {_num(norm)}, over {len(rows)} trials).")
    for scheduler, rows in finished.groupby("scheduler", sort=False):
        cuts = rows["lr_reductions"].to_numpy(dtype=float)
        if np.isfinite(cuts).any() and np.nanmax(cuts) > 0:
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


def _tau_text(interval) -> str:
    if not np.isfinite(interval.estimate):
        return "n/a (ties)"
    bounds = f" [{interval.low:.2f}, {interval.high:.2f}]" if np.isfinite(interval.low) else ""
    return f"{interval.estimate:.2f}{bounds}"


def _early_ranking(study: Study) -> str:
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
    rows = [[p.source, p.step, _tau_text(p.tau), p.top, "yes" if p.agrees(analysis.final_top) else "no"] for p in analysis.points]
    lines += [_table(["ranked by", "step", "Kendall tau [95% CI]", "top cell there", "top = final top"], rows), ""]
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
                     f"{verdict}: its top is `{first.top}`, and its tau with the final ranking is {_tau_text(first.tau)}.")
    correct = [p.step for p in analysis.at("training loss") if p.agrees(analysis.final_top)]
    if correct:
        lines.append(f"- By training loss the top cell is the final one at step(s) {', '.join(map(str, correct))}.")
    lines.append("")
    return "\n".join(lines)


def _figures(drawn: list[tuple[str, str, str | None]]) -> str:
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
           ranked: dict | None, pruning: str = "") -> str:
    column = report_column(study)
    return "\n".join([
        _header(study, spec_path, study_dir_arg, out_dir_arg),
        _status(study),
        _setup(study),
        _method(study, column),
        _cells_section(study, table, column),
        *filter(None, [_evaluation_section(study)]),
        _selection(study, column),
        *filter(None, [_within_section(study, column, ranked)]),
        _findings(study, column),
        _early_ranking(study),
        *filter(None, [pruning]),
        _figures(drawn),
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
        text = render(study, table, drawn, spec_path, study_dir_arg, str(out_dir), ranked, pruning)
        (temporary / REPORT_FILE).write_text(text)
        write_text_atomic(temporary / PROVENANCE_FILE, json.dumps({"lines": provenance_lines(study)}, indent=2) + "\n")
        install_files(temporary, out_dir, OWN_FILES, last=(REPORT_FILE,))
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return out_dir / REPORT_FILE
