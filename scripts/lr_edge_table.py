"""Is each optimizer's LR optimum bracketed? A pruned sweep's cells at a rung beside one LR beyond the sweep.

    .venv/bin/python scripts/lr_edge_table.py results/enhance_denoisers results/enhance_denoisers_lr_edge --step 512

Reads two committed reports' tables: the sweep's `steps.csv` (every trial's validation curve, pruned
trials included) and the edge study's `steps.csv`. For each optimizer it prints the median over seeds of
the validation metric at the last validation at or before `--step`, for every LR of the sweep and of the
edge study, and says whether the edge LR is below the sweep's best (the optimum is bracketed), above it
(the sweep stopped short), or within the seeds' spread of it (min-max ranges overlap: not resolved).
Both studies must validate at the same steps; rows are cells with the same optimizer name. A trial that
stopped before that validation (pruned at an earlier rung, or still training) is left out, and a cell with
no trial there is named under the table: its earlier value is not a value at the step.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

METRIC = "val/si_snri"


def _curves(results_dir: Path, step: int, metric: str) -> pd.DataFrame:
    path = results_dir / "steps.csv"
    try:
        steps = pd.read_csv(path, usecols=["trial", "step", "metric", "value"])
    except (OSError, ValueError) as error:
        raise SystemExit(f"{path}: unreadable ({error}); expected the steps.csv of `separation report`")
    rows = steps[(steps["metric"] == metric) & (steps["step"] < step)]
    if rows.empty:
        raise SystemExit(f"{path}: no '{metric}' at or before step {step}")
    at = rows["step"].max()  # the last validation before `step`: the one every compared trial must have
    trials = pd.read_csv(results_dir / "trials.csv", usecols=["trial", "optimizer_name", "lr", "seed"])
    return rows[rows["step"] == at].merge(trials, on="trial"), trials, int(at)


def table(sweep_dir: Path, edge_dir: Path, step: int, metric: str = METRIC) -> str:
    (sweep, sweep_trials, at), (edge, edge_trials, edge_at) = _curves(sweep_dir, step, metric), _curves(edge_dir, step, metric)
    if at != edge_at:
        raise SystemExit(f"{sweep_dir} validates last at step {at} before {step}, {edge_dir} at step {edge_at}: "
                         "the two studies must validate at the same steps")
    lines = [f"| optimizer | LR | study | {metric} at step {step}: median [min, max] over seeds | seeds |",
             "|---|---:|---|---|---:|"]
    absent = [f"- {name} {row.optimizer_name} {row.lr:g}: no trial reached the validation at step {at} "
              "(pruned at an earlier rung, or not finished): left out"
              for name, frame, every in (("sweep", sweep, sweep_trials), ("edge", edge, edge_trials))
              for row in every[["optimizer_name", "lr"]].drop_duplicates().itertuples()
              if frame[(frame["optimizer_name"] == row.optimizer_name) & (frame["lr"] == row.lr)].empty]
    verdicts = []
    for optimizer in dict.fromkeys(sweep["optimizer_name"]):
        cells = []
        for name, frame in (("sweep", sweep), ("edge", edge)):
            for lr, group in frame[frame["optimizer_name"] == optimizer].groupby("lr"):
                values = group["value"]
                cells.append((lr, name, values.median(), values.min(), values.max(), len(values)))
        for lr, name, median, low, high, count in sorted(cells):
            lines.append(f"| {optimizer} | {lr:g} | {name} | {median:+.2f} [{low:+.2f}, {high:+.2f}] | {count} |")
        best = max((c for c in cells if c[1] == "sweep"), key=lambda c: c[2])
        beyond = [c for c in cells if c[1] == "edge"]
        if not beyond:
            verdicts.append(f"- {optimizer}: no edge trial")
            continue
        outer = beyond[0]
        if outer[4] < best[3]:
            verdict = "bracketed: the edge LR is below the sweep's best in every seed's range"
        elif outer[3] > best[4]:
            verdict = "not bracketed: the edge LR is above the sweep's best; the sweep stopped short"
        else:
            verdict = "not resolved: the ranges over seeds overlap"
        verdicts.append(f"- {optimizer}: sweep best {best[0]:g} ({best[2]:+.2f}), edge {outer[0]:g} "
                        f"({outer[2]:+.2f}): {verdict}")
    return "\n".join(lines + [""] + verdicts + ([""] + absent if absent else [])) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep", type=Path, help="the pruned study's results folder")
    parser.add_argument("edge", type=Path, help="the edge study's results folder")
    parser.add_argument("--step", type=int, default=512, help="compare at the last validation before this step")
    parser.add_argument("--metric", default=METRIC, help="validation metric (default: %(default)s)")
    args = parser.parse_args(argv)
    sys.stdout.write(table(args.sweep, args.edge, args.step, args.metric))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
