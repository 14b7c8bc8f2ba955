"""The report's opening sections: what was asked, how far the grid got, what ran, and how the numbers are computed.

`header_section` (title, the spec's question, the commands that reproduce it),
`status_section` (trials by status, the unfinished and the lost named),
`setup_section` (task, model, data, budget, axes, seeds; the provenance lines
from the trials' meta.json, kept in provenance.json) and `method_section`
(the statistical rules the later sections follow).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path

import numpy as np

from separation.analysis import markdown as md
from separation.analysis.spec_comment import question_markdown
from separation.analysis.stats import LEVEL, MIN_SEEDS, RESAMPLES
from separation.analysis.study import FACTORS, Study
from separation.outcomes import LOST, NOT_RUN, OK, TRAINING, Status
from separation.tasks import get_task

DATA_KEYS = (
    "root", "layout", "n_src", "stems", "sample_rate", "segment_seconds", "batch_size",
    "train_items_per_epoch", "valid_max_items", "valid_seconds", "test_seconds", "dynamic_mixing",
)


def header_section(study: Study, spec_path, study_dir_arg: str, out_dir_arg: str) -> str:
    parts = [f"# Study report: {study.name}", ""]
    if study.spec is not None and study.spec.description:
        parts += [study.spec.description, ""]
    question = question_markdown(spec_path) if spec_path is not None else ""
    if question:
        parts += [question, ""]
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


def status_section(study: Study) -> str:
    trials = study.trials
    counts = Counter(trials["status"])
    # A pruned study's own states, and the trials a live worker holds (a report of a study still being
    # trained), are listed only where they occur: the other reports keep their table.
    occurring = (s for s in (Status.PRUNED, *TRAINING) if counts.get(s))
    order = (*OK, *LOST, *occurring, Status.FAILED, *NOT_RUN)
    lines = ["## Status", "", md.table(["status", "trials"], [[s, counts.get(s, 0)] for s in order] + [["total", len(trials)]]), ""]
    in_progress = sum(counts.get(s, 0) for s in TRAINING)
    if in_progress:
        lines.append(f"**Study in progress:** {in_progress} of {len(trials)} trials are still training "
                     f"({counts.get(Status.RUNNING, 0)} running, {counts.get(Status.PAUSED, 0)} paused at a rung); "
                     "everything below uses the finished trials only.")
        lines.append("")
    unfinished = sum(counts.get(s, 0) for s in NOT_RUN)
    if unfinished:
        lines.append(f"**Incomplete grid:** {unfinished} of {len(trials)} trials have not finished; "
                     "everything below uses the finished trials only.")
        lines.append("")
        empty = [c for c in study.cells if trials.loc[trials["cell"] == c, "status"].isin(NOT_RUN).all()]
        if empty:
            lines.append(f"Cells with no finished trial ({len(empty)}): " + ", ".join(f"`{c}`" for c in empty) + ".")
            lines.append("")
        partial = []
        for cell in study.cells:
            rows = trials[trials["cell"] == cell]
            pending = rows[rows["status"].isin(NOT_RUN)]
            if len(pending) and cell not in empty:
                seeds = ", ".join(f"{s} ({st})" for s, st in zip(pending["seed"], pending["status"]))
                partial.append(f"- `{cell}`: seed{'s' if len(pending) > 1 else ''} {seeds}")
        if partial:
            lines += ["Cells with seeds not finished:", *partial, ""]
    elif not in_progress:
        lines += ["Every planned trial has finished." if study.spec is not None else "Every trial folder found has finished.", ""]
    for status, what in ((Status.DIVERGED, "Diverged (an outcome: counted, never dropped)"),
                         (Status.COLLAPSED, "Collapsed (trivial estimates on the test split: an outcome, counted like divergence)"),
                         (Status.FAILED, "Failed (crashed; see the trial's error.log; excluded from statistics)")):
        rows = trials[trials["status"] == status]
        if len(rows):
            lines.append(f"{what}:")
            lines += [f"- `{r.trial}` (`{r.cell}`, seed {r.seed}): {r.reason or 'no reason recorded'}" for r in rows.itertuples()]
            lines.append("")
    for note in study.notes:
        lines += [f"Note: {note}.", ""]
    return "\n".join(lines)


def own_seconds(trials, key: str) -> float:
    """The study's total of `key` (train_seconds, val_seconds), each continued trial counted beyond the trial it
    continued (`own_<key>`; tables written before continue_shorter have only `key`)."""
    column = f"own_{key}" if f"own_{key}" in trials else key
    return float(np.nansum(trials[column].to_numpy(dtype=float)))


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
    versions = md.distinct(", ".join(f"{k} {v}" for k, v in (m.get("versions") or {}).items()) for m in metas)
    if versions:
        lines.append("- Versions: " + " / ".join(versions) + ".")
    train, val = own_seconds(study.trials, "train_seconds"), own_seconds(study.trials, "val_seconds")
    times = [datetime.fromisoformat(t) for m in metas for t in (m.get("start"), m.get("end")) if t]
    span = f"; wall clock {min(times).isoformat()} to {max(times).isoformat()}" if times else ""
    continued = sum(1 for source in study.trials.get("continued_from", []) if isinstance(source, str) and source)
    counted = f" ({continued} continued trials count only the steps beyond the trial they continued)" if continued else ""
    lines.append(f"- Compute: {md.hours(train)} of training and {md.hours(val)} of validation over all trials{counted}{span}.")
    return lines + _test_snr_lines(study)


def _test_snr_lines(study: Study) -> list[str]:
    """The test split's input SNRs from the enhancement corpus's corpus.json (recorded by corpora since #28);
    kept in provenance.json with the lines above, so a report regenerated later still states the corpus it ran on."""
    lines = []
    for root in md.distinct(str((c.get("data") or {}).get("root") or "") for c in study.configs.values()):
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


def setup_section(study: Study) -> str:
    configs = list(study.configs.values())
    first = configs[0]
    lines = ["## Setup", ""]
    lines.append(f"- Task: {study.task} ({get_task(study.task).description}); selection metric `{study.headline.val}`, reported metric `{study.headline.test}` (dB, higher is better).")
    models = {}
    for config in configs:
        models.setdefault(repr((config["model"], config.get("data"))), config)
    for config in list(models.values())[:3]:
        try:
            # Imported here: the count builds a torch model, and importing the report must not load torch.
            from separation.systems.model_size import parameter_count

            count = f"{parameter_count(config):,} parameters"
        except Exception as error:  # the count is a courtesy; a report must not fail over it
            count = f"parameter count unavailable ({type(error).__name__}: {error})"
        args = ", ".join(f"{k}={v}" for k, v in (config["model"].get("args") or {}).items()) or "defaults"
        lines.append(f"- Model: {config['model']['name']} ({args}): {count}.")
    data = first.get("data", {})
    shown = []
    for key in DATA_KEYS:
        if key in data:
            values = md.distinct(str(c.get("data", {}).get(key)) for c in configs)
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
    fixed = [f for f in FACTORS if f not in study.varying]
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
        values = md.distinct(study.trials[factor])
        shown = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)
        lines.append(f"- Axis `{factor}`: {shown} ({len(values)} values).")
    seeds = sorted(set(study.trials["seed"]))
    lines.append(f"- Seeds: {', '.join(map(str, seeds))} ({len(seeds)} per cell); {len(study.cells)} cells, {len(study.trials)} trials.")
    if study.targets:
        lines.append(f"- Targets (time-to-target): {', '.join(f'`{t}`' for t in study.targets)}.")
    lines += provenance_lines(study)
    lines.append("")
    return "\n".join(lines)


def method_section(study: Study, column: str) -> str:
    split = "test" if column == "test" else "validation (no trial has a test metric)"
    stopped = int((study.trials["status"] == Status.STOPPED_AT_TARGET).sum())
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
