"""`separation summarize RUN`: one training run folder as markdown, its outcome, its validation curve and its
gradient norms (the number a clipping threshold is chosen from).

Reads the run folder's `summary.json` and `metrics.csv` (written by `separation
train`, see separation/train.py); the results/ notes on single runs quote it
(studies use `separation report`).
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

from separation.analysis.stats import median_iqr
from separation.errors import UserError


def _read(run: Path) -> tuple[dict, dict[str, dict[int, float]]]:
    if not run.is_dir():
        raise UserError(f"{run}: no such run folder (expected one written by `separation train`)")
    for name in ("summary.json", "metrics.csv"):
        if not (run / name).is_file():
            raise UserError(f"{run / name}: no such file (a run writes it when training ends; is {run} a finished run?)")
    try:
        summary = json.loads((run / "summary.json").read_text())
    except json.JSONDecodeError as error:
        raise UserError(f"{run / 'summary.json'}: not JSON ({error.msg}, line {error.lineno})") from None
    series: dict[str, dict[int, float]] = defaultdict(dict)
    with open(run / "metrics.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            try:
                series[row["metric"]][int(row["step"])] = float(row["value"])
            except (KeyError, TypeError, ValueError):
                raise UserError(f"{run / 'metrics.csv'}: expected columns step, metric, value; got {row}") from None
    return summary, series


def summarize_run(run_dir: str | Path, metric: str = "val/si_snri") -> str:
    """Markdown: status and budget, a table of `metric` and val/loss per validation step, the final metrics."""
    run = Path(run_dir)
    summary, series = _read(run)
    if metric not in series:
        known = ", ".join(sorted(m for m in series if m.startswith("val/"))) or "none"
        raise UserError(f"{run / 'metrics.csv'}: no metric '{metric}'; validation metrics logged: {known}")
    try:
        lines = [
            f"status: {summary['status']}, {summary['global_step']} optimizer steps, {summary['epochs']} epochs, "
            f"{summary['train_seconds'] / 60:.1f} min training + {summary['val_seconds'] / 60:.1f} min validation",
            "",
            f"| step | {metric} (dB) | val/loss |",
            "|---:|---:|---:|",
        ]
    except KeyError as error:
        raise UserError(f"{run / 'summary.json'}: no key {error}") from None
    for step, value in sorted(series[metric].items()):
        lines.append(f"| {step} | {value:.2f} | {series['val/loss'].get(step, float('nan')):.3f} |")
    shown = {k: round(v, 2) for k, v in sorted(summary.get("metrics", {}).items()) if k.startswith(("val/", "test/"))}
    lines += _gradient_lines(series)
    lines += ["", "final: " + ", ".join(f"{k} {v}" for k, v in shown.items())]
    return "\n".join(lines)


def _gradient_lines(series: dict[str, dict[int, float]]) -> list[str]:
    """The pre-clip gradient norm over the logged steps: its median is the "clip at the median unclipped
    norm" threshold the studies use; the share of steps clipped says what the run's own clip did."""
    norms = series.get("train/grad_norm_pre_clip")
    if not norms:
        return []
    median, q25, q75 = median_iqr(list(norms.values()))
    line = (f"gradient norm before clipping: median {median:.3g} [IQR {q25:.3g}, {q75:.3g}] over {len(norms)} "
            "logged steps")
    clipped = series.get("train/clipped")
    if clipped:
        line += f"; clipped on {100 * sum(v > 0 for v in clipped.values()) / len(clipped):.0f}% of them"
    return ["", line]
