"""Print a markdown summary of one training run folder: outcome and the validation curve.

    python scripts/summarize_run.py runs/svoice_cpu_15min [--metric val/si_snri]

Reads `summary.json` and `metrics.csv` (see separation/train.py); used to write
results/ notes for single runs (studies use `separation report`).
"""

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("--metric", default="val/si_snri")
    args = parser.parse_args()
    run = Path(args.run_dir)
    summary = json.loads((run / "summary.json").read_text())
    series = defaultdict(dict)
    with open(run / "metrics.csv") as handle:
        for row in csv.DictReader(handle):
            series[row["metric"]][int(row["step"])] = float(row["value"])
    print(f"status: {summary['status']}, {summary['global_step']} optimizer steps, {summary['epochs']} epochs, "
          f"{summary['train_seconds'] / 60:.1f} min training + {summary['val_seconds'] / 60:.1f} min validation")
    print()
    print(f"| step | {args.metric} (dB) | val/loss |")
    print("|---:|---:|---:|")
    for step, value in sorted(series[args.metric].items()):
        print(f"| {step} | {value:.2f} | {series['val/loss'].get(step, float('nan')):.3f} |")
    print()
    shown = {k: round(v, 2) for k, v in sorted(summary["metrics"].items()) if k.startswith(("val/", "test/"))}
    print("final: " + ", ".join(f"{k} {v}" for k, v in shown.items()))


if __name__ == "__main__":
    main()
