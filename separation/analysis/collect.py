"""Read a study folder into tidy tables: one row per trial, one row per logged value.

A trial's truth is its folder (`config.yaml`, `meta.json`, `metrics.csv`, `DONE`),
not TensorBoard. With the grid spec every planned trial gets a row, those never
started included (status `missing`); without it only the folders are known.

Trials are grouped into *cells*: every axis value except the seed. Each trial is
described by the same factor columns whatever the spec varied (`optimizer`,
`lr`, `scheduler`, `clipping`, then any other axis by its dotted key), so a
cell is the tuple of its factors and its label names only those that vary.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from separation.analysis.evaluation import collect_evaluations, read_evaluations
from separation.analysis.study import FACTORS, Study
from separation.config import Config, config_to_dict, flatten
from separation.errors import ConfigError, UserError
from separation.grid.spec import GridSpec, load_spec
from separation.grid.trial_folder import is_trial_folder, read_json, trial_status
# LOST and OK are not used here: scripts/headline_figure.py imports them from this module.
from separation.outcomes import LOST, OK, OUTCOMES  # noqa: F401
from separation.tasks import TASKS, Headline
from separation.training.metrics_reader import COLUMNS

SECTIONS = ("optimizer.", "scheduler.", "clipping.")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def _clip_label(clipping: dict) -> str:
    if clipping.get("mode", "none") == "none":
        return "none"
    return f"{clipping['mode']} {_fmt(float(clipping['value']))}"


def _other_axes(axes: list[dict]) -> list[str]:
    """Axes outside the optimizer, scheduler, clipping and seed (e.g. `data.batch_size`), in spec order."""
    keys = dict.fromkeys(key for axis in axes for key in axis)
    return [key for key in keys if key != "seed" and not key.startswith(SECTIONS)]


def _factor_rows(configs: list[dict], others: list[str]) -> list[dict]:
    """The factor values of every trial, read from its resolved config.

    Optimizer and scheduler names get their arguments only where the name alone
    is ambiguous in this study (two `adam` entries with different betas).
    """

    def opt_args(opt: dict) -> str:
        return _fmt({**(opt.get("args") or {}), "weight_decay": opt.get("weight_decay", 0.0)})

    opt_variants: dict[str, set] = {}
    sched_variants: dict[str, set] = {}
    for config in configs:
        opt_variants.setdefault(config["optimizer"]["name"], set()).add(opt_args(config["optimizer"]))
        sched_variants.setdefault(config["scheduler"]["name"], set()).add(_fmt(config["scheduler"].get("args") or {}))
    rows = []
    for config in configs:
        opt, sched, clipping = config["optimizer"], config["scheduler"], config["clipping"]
        opt_label, sched_label = opt["name"], sched["name"]
        if len(opt_variants[opt["name"]]) > 1:
            opt_label += f"({opt_args(opt)})"
        if len(sched_variants[sched["name"]]) > 1:
            sched_label += f"({_fmt(sched.get('args') or {})})"
        flat = flatten(config)
        rows.append({
            "optimizer": opt_label,
            "lr": float(opt["lr"]),
            "scheduler": sched_label,
            "clipping": _clip_label(clipping),
            **{key: _fmt(flat.get(key)) for key in others},
            "seed": int(config["seed"]),
            "optimizer_name": opt["name"],
            "scheduler_name": sched["name"],
            "clipping_mode": clipping.get("mode", "none"),
            "clipping_value": clipping.get("value"),
        })
    return rows


def _cell_label(row: dict, varying: list[str]) -> str:
    parts = []
    for factor in varying:
        value = row[factor]
        if factor == "lr":
            parts.append(f"lr {value:g}")
        elif factor == "scheduler":
            parts.append(f"sched {value}")
        elif factor == "clipping":
            parts.append(f"clip {value}")
        elif factor == "optimizer":
            parts.append(str(value))
        else:
            parts.append(f"{factor}={value}")
    return ", ".join(parts) or "all trials"


def _no_metrics() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object" if c == "metric" else "float64") for c in COLUMNS})


def read_metrics(path: Path) -> pd.DataFrame:
    """A trial's metrics.csv (step, metric, value, wall_time); empty when absent or unreadable."""
    empty = _no_metrics()
    if not path.is_file():
        return empty
    try:
        frame = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError):
        return empty
    if list(frame.columns) != list(COLUMNS):
        return empty
    for column in ("step", "value", "wall_time"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame = frame.dropna(subset=["step", "metric"])
    # `epoch` is logged by validation and by the end of the training epoch at the same step.
    return frame.drop_duplicates(["step", "metric"], keep="last").reset_index(drop=True)


def _mean(series: pd.Series) -> float:
    values = series.to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")


def task_of(config: dict) -> str:
    """The task of a trial's config mapping; a config without the key trains the schema's default task."""
    return config.get("task", Config.task)


def trial_row(trial_id: str, status: str, meta: dict, metrics: pd.DataFrame, headline: Headline, targets: list[str]) -> dict:
    """The outcome columns of one trial (its factors come from `_factor_rows`)."""
    result = meta.get("result") or {}
    final = result.get("metrics") or {}

    def logged(name: str) -> pd.Series:
        return metrics.loc[metrics["metric"] == name].sort_values("step")["value"]

    val = logged(headline.val)
    finite_val = val[np.isfinite(val)]
    val_final = final.get(headline.val, float("nan")) if result else (float(val.iloc[-1]) if len(val) else float("nan"))
    steps = result.get("global_step")
    if steps is None and len(metrics):
        steps = int(metrics["step"].max())
    train_seconds = result.get("train_seconds", float("nan"))
    sec_per_step = train_seconds / steps if steps and math.isfinite(train_seconds) and train_seconds > 0 else _mean(logged("train/sec_per_step"))
    row = {
        "trial": trial_id,
        "status": status,
        "reason": meta.get("reason") or "",
        "val_final": float(val_final),
        "val_best": float(finite_val.max()) if len(finite_val) else float("nan"),
        "test": float(final.get(headline.test, float("nan"))),
        "steps": steps if steps is not None else float("nan"),
        "epochs": result.get("epochs", float("nan")),
        "train_seconds": train_seconds,
        "val_seconds": result.get("val_seconds", float("nan")),
        "sec_per_step": sec_per_step,
        "lr_reductions": result.get("lr_reductions", float("nan")),
        "final_lr": result.get("final_lr", float("nan")),
        "clip_rate": _mean(logged("train/clipped")),
        "grad_norm_pre_median": float(np.nanmedian(logged("train/grad_norm_pre_clip"))) if len(logged("train/grad_norm_pre_clip")) else float("nan"),
        "skipped_steps": result.get("skipped_steps", float("nan")),
        "device": meta.get("device", ""),
        "git_commit": meta.get("git_commit") or "",
    }
    if result.get("precision"):  # runs since `trainer.precision: auto`: what the run trained in
        row["precision"] = result["precision"].get("resolved", "")
    if headline.improvement:
        row["test_improvement"] = float(final.get(headline.improvement, float("nan")))
        # Per stem (music: `test/sdri_vocals`): with two stems the mean SDRi equals the mean SDR, the stems' do not.
        prefix = headline.improvement + "_"
        for stem in [key[len(prefix):] for key in final if key.startswith(prefix)]:
            row[f"test[{stem}]"] = float(final.get(f"{headline.test}_{stem}", float("nan")))
            row[f"test_improvement[{stem}]"] = float(final[prefix + stem])
    for _, metric in headline.references:
        for key, value in final.items():
            if key == metric or (key.startswith(metric + "_") and "/" not in key[len(metric) + 1:]):
                row[f"ref[{key}]"] = float(value)
    reached = result.get("time_to_target") or {}
    for key in targets:
        hit = reached.get(key)
        if hit is not None:  # a hit counts even when the run diverged later: the target was reached
            seconds, step = float(hit["train_seconds"]), float(hit["step"])
        elif status in OUTCOMES:
            seconds = step = math.inf  # never reached: AlgoPerf's infinite time
        else:
            seconds = step = float("nan")  # failed or not run: no outcome to count
        row[f"seconds_to[{key}]"] = seconds
        row[f"steps_to[{key}]"] = step
    return row


def _target_keys(configs: list[dict]) -> list[str]:
    keys = []
    for config in configs:
        for metric, thresholds in (config.get("targets") or {}).items():
            for threshold in sorted(float(t) for t in thresholds):
                key = f"{metric}>={threshold:g}"  # as separation.training.callbacks.TargetTracker.key
                if key not in keys:
                    keys.append(key)
    return keys


def _read_config(path: Path) -> dict | None:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) and "optimizer" in data else None


def _entries(study_dir: Path, spec: GridSpec | None, notes: list[str]) -> list[tuple[str, dict, dict, dict, str]]:
    """(id, config, axes, meta, status) for every trial of the study, in spec (or folder) order."""
    folders = sorted(p for p in study_dir.iterdir() if p.is_dir() and not p.name.startswith(".") and is_trial_folder(p))
    entries = []
    if spec is not None:
        planned = {trial.id for trial in spec.trials}
        for trial in spec.trials:
            folder = study_dir / trial.id
            config = _read_config(folder / "config.yaml") or config_to_dict(trial.config)
            entries.append((trial.id, config, dict(trial.overrides), read_json(folder / "meta.json"), trial_status(folder)))
        extra = [p.name for p in folders if p.name not in planned]
        if extra:
            # Several specs may share one study folder (a phase-2 spec reusing phase 1's baseline trials):
            # then the others' trials are many, and a count with a few names says enough.
            named = ", ".join(extra) if len(extra) <= 6 else ", ".join(extra[:3]) + f" and {len(extra) - 3} more"
            notes.append(f"{len(extra)} folder(s) in {study_dir} are not trials of the spec and were left out: {named}")
        return entries
    for folder in folders:
        config = _read_config(folder / "config.yaml")
        meta = read_json(folder / "meta.json")
        if config is None:
            notes.append(f"{folder.name}: no readable config.yaml, left out")
            continue
        entries.append((folder.name, config, dict(meta.get("axes") or {}), meta, trial_status(folder)))
    return entries


def _own_seconds(study_dir: Path, meta: dict, row: dict) -> dict:
    """The training and validation seconds a trial spent itself: a trial that continued a shorter one
    (`continue_shorter`, meta.json's `continued_from`) carries that trial's time in its checkpoint, so
    the study's compute would count those steps twice."""
    source = meta.get("continued_from")
    inherited = (read_json(study_dir / source / "meta.json").get("result") or {}) if source else {}
    return {"continued_from": source or "",
            **{f"own_{key}": row[key] - inherited.get(key, 0.0) for key in ("train_seconds", "val_seconds")}}


def collect_study(study_dir: str | Path, spec_path: str | Path | None = None, evaluation_folder: str = "eval_test") -> Study:
    """Every trial of a study as tidy tables; raises UserError for a folder that is no study.

    `evaluation_folder`: where in each trial folder `separation evaluate` wrote its scores.
    """
    study_dir = Path(study_dir)
    if not study_dir.is_dir():
        raise UserError(f"{study_dir}: no such study folder (expected runs/<study>/ written by `separation grid`)")
    spec = load_spec(spec_path) if spec_path is not None else None
    notes: list[str] = []
    if spec is not None and spec.study != study_dir.name:
        if not any((study_dir / trial.id).exists() for trial in spec.trials):
            raise UserError(f"{spec_path} is the spec of study '{spec.study}', and none of its trials is in {study_dir}")
        notes.append(f"the spec names study '{spec.study}' but the folder is '{study_dir.name}'")
    entries = _entries(study_dir, spec, notes)
    if not entries:
        raise UserError(f"{study_dir}: no trial folders (each holds config.yaml and meta.json)")

    configs = [config for _, config, _, _, _ in entries]
    tasks = Counter(task_of(config) for config in configs)
    if len(tasks) > 1:
        raise UserError(f"{study_dir}: trials of several tasks ({', '.join(tasks)}); a study compares one task")
    task = next(iter(tasks))
    if task not in TASKS:
        raise ConfigError(f"{study_dir}: task '{task}' is unknown; known: {', '.join(TASKS)}")
    headline = TASKS[task].headline
    targets = _target_keys(configs)

    others = _other_axes([axes for _, _, axes, _, _ in entries])
    factor_rows = _factor_rows(configs, others)
    factors = [*FACTORS, *others]
    varying = [f for f in factors if len({str(row.get(f)) for row in factor_rows}) > 1]
    hue = next((f for f in ("optimizer", "scheduler", "clipping", *others) if f in varying), "optimizer")

    rows, frames = [], []
    for (trial_id, config, _, meta, status), factor_row in zip(entries, factor_rows):
        metrics = read_metrics(study_dir / trial_id / "metrics.csv")
        cell = _cell_label(factor_row, varying)
        row = trial_row(trial_id, status, meta, metrics, headline, targets)
        rows.append({"trial": trial_id, "cell": cell, **factor_row, **row, **_own_seconds(study_dir, meta, row)})
        if len(metrics):
            frames.append(metrics.assign(trial=trial_id, cell=cell))
    trials = pd.DataFrame(rows)
    steps = pd.concat(frames, ignore_index=True) if frames else _no_metrics().assign(trial="", cell="")
    steps = steps[["trial", "cell", *COLUMNS]]
    study = Study(
        name=spec.study if spec is not None else study_dir.name,
        study_dir=study_dir,
        spec=spec,
        task=task,
        headline=headline,
        trials=trials,
        steps=steps,
        configs={trial_id: config for trial_id, config, _, _, _ in entries},
        metas={trial_id: meta for trial_id, _, _, meta, _ in entries},
        factors=factors,
        varying=varying,
        hue=hue,
        targets=targets,
        notes=notes,
    )
    study.evaluations = collect_evaluations(study, evaluation_folder)
    return study


PROVENANCE_FILE = "provenance.json"
# The Setup lines of REPORT.md that come from meta.json, not from the tables.
PROVENANCE_PREFIXES = ("- Devices:", "- Engine:", "- Code:", "- Versions:", "- Compute:")


def _read_provenance(results_dir: Path) -> list[str] | None:
    """The report's provenance lines: its provenance.json, else those lines of its REPORT.md (older reports)."""
    path = results_dir / PROVENANCE_FILE
    if path.is_file():
        lines = read_json(path).get("lines")
        if isinstance(lines, list):
            return [str(line) for line in lines]
    report = results_dir / "REPORT.md"
    if report.is_file():
        lines = [line for line in report.read_text().splitlines() if line.startswith(PROVENANCE_PREFIXES)]
        return lines or None
    return None


def collect_tables(results_dir: str | Path, spec_path: str | Path) -> Study:
    """A study rebuilt from a committed report (`trials.csv`, `steps.csv`) and its spec, without the runs.

    The tables hold every outcome and every logged value; the spec gives each
    trial's resolved config (the trial ids must match: an id hashes its config).
    What only meta.json knew (engine, package versions, wall clock) is taken
    from the report's `provenance.json`, or from the Setup lines of its REPORT.md;
    the trials' full test evaluation from its `evaluation.csv` (none when absent), the
    spec's baselines from their folders.
    """
    results_dir = Path(results_dir)
    paths = {name: results_dir / f"{name}.csv" for name in ("trials", "steps")}
    for path in paths.values():
        if not path.is_file():
            raise UserError(f"{path}: no such file (expected a report folder written by `separation report`)")
    spec = load_spec(spec_path)
    trials = pd.read_csv(paths["trials"], keep_default_na=True)
    steps = pd.read_csv(paths["steps"])
    planned = {trial.id: trial for trial in spec.trials}
    unknown = [t for t in trials["trial"] if t not in planned]
    if unknown:
        raise UserError(f"{paths['trials']}: {len(unknown)} trial id(s) are not trials of {spec_path} (their configs changed "
                        f"since the report was written?), e.g. {unknown[0]}")
    for column in ("reason", "device", "git_commit", "precision"):
        if column in trials:
            # An all-empty column reads as float NaN: fill as objects (pandas refuses "" in a float column).
            trials[column] = trials[column].astype(object).fillna("").astype(str)
    configs = {t: config_to_dict(planned[t].config) for t in trials["trial"]}
    tasks = {task_of(config) for config in configs.values()}
    task = next(iter(tasks))
    if len(tasks) > 1 or task not in TASKS:
        raise UserError(f"{paths['trials']}: trials of task(s) {', '.join(sorted(tasks))}; expected one of {', '.join(TASKS)}")
    others = _other_axes([dict(planned[t].overrides) for t in trials["trial"]])
    for column in (c for c in others if c in trials):
        # The text `_fmt` wrote (collect_study's values): "" for an empty value, and "None" or "3" as written, not NaN or 3.0.
        trials[column] = pd.read_csv(paths["trials"], usecols=[column], dtype=str, keep_default_na=False)[column]
    factors = [*FACTORS, *others]
    varying = [f for f in factors if f in trials and trials[f].astype(str).nunique() > 1]
    hue = next((f for f in ("optimizer", "scheduler", "clipping", *others) if f in varying), "optimizer")
    metas = {row.trial: {"device": row.device, "git_commit": row.git_commit} for row in trials.itertuples()}
    study = Study(
        name=spec.study,
        study_dir=results_dir,
        spec=spec,
        task=task,
        headline=TASKS[task].headline,
        trials=trials,
        steps=steps[["trial", "cell", *COLUMNS]],
        configs=configs,
        metas=metas,
        factors=factors,
        varying=varying,
        hue=hue,
        targets=_target_keys(list(configs.values())),
        provenance=_read_provenance(results_dir),
        source="tables",
    )
    study.evaluations = read_evaluations(study, results_dir)
    return study
