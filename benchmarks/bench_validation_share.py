"""What share of a study's compute goes to validation, and what validating less often changes.

    .venv/bin/python benchmarks/bench_validation_share.py tables           # every committed study's share
    .venv/bin/python benchmarks/bench_validation_share.py measure [--every 4]
    .venv/bin/python benchmarks/bench_validation_share.py write            # benchmarks/results/validation_share.md

`tables`: from each committed `results/<study>/trials.csv`, validation seconds
over training plus validation seconds, summed over trials (the trials' own
StepTimer figures).

`measure`: one trial of a committed spec (`experiments/svoice_optimizers.yaml`:
Adam 1e-3, seed 0, its base `svoice_study.yaml`, fp32 as it ran) trained twice
side by side on one thread each: validating every epoch as committed, and every
`--every` epochs (the last epoch included); each run's own train and validation
seconds give the share before and after.

The report selects each study's cells on the *final* validation (`select_best`:
conservative median of `val_final`), so validating every k epochs with the last
one included leaves every selection exactly as it is; what it costs is points of
the early-ranking curve and the resolution of time-to-target. `tables` also
replays each committed study's curves at every k-th validation and says how many
points its early-ranking section would keep.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from separation.atomic import write_json_atomic, write_text_atomic

REPO = Path(__file__).resolve().parents[1]
PARTS = REPO / "benchmarks" / "results" / "validation_share"
SPEC = "experiments/svoice_optimizers.yaml"
TRIAL = {"optimizer.name": "adam", "optimizer.lr": 1.0e-3, "seed": 0}


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, data)


def study_shares() -> list[dict]:
    rows = []
    for table in sorted((REPO / "results").glob("*/trials.csv")):
        trials = pd.read_csv(table)
        if "val_seconds" not in trials or trials["val_seconds"].isna().all():
            continue
        train, val = trials["train_seconds"].sum(), trials["val_seconds"].sum()
        steps = pd.read_csv(table.parent / "steps.csv", usecols=["trial", "step", "metric"])
        validations = steps[steps["metric"].str.startswith("val/") & steps["metric"].str.endswith("loss")]
        per_trial = validations.groupby("trial")["step"].nunique()
        rows.append({"study": table.parent.name, "trials": len(trials), "train_h": train / 3600, "val_h": val / 3600,
                     "share": val / (train + val), "validations_per_trial": float(per_trial.median()),
                     "steps_per_trial": float(trials["steps"].median())})
    return rows


def _kept(validations: int, every: int) -> int:
    """Validations a trial keeps at every `every`-th epoch, the last included (epochs a multiple of `every`)."""
    return validations // every


def measure(every: int) -> dict:
    """Train the committed trial before (every epoch) and after (every `every` epochs), side by side."""
    from separation.grid.spec import load_spec

    spec = load_spec(REPO / SPEC)
    (trial,) = [t for t in spec.trials if all(t.overrides.get(k) == v for k, v in TRIAL.items())]
    config = trial.config
    if config.trainer.max_epochs % every:
        raise SystemExit(f"--every {every} does not divide trainer.max_epochs {config.trainer.max_epochs}")
    base = REPO / "benchmarks" / "runs" / "validation_share"
    runs = {}
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for label, k in (("before", 1), ("after", every)):
        run_dir = base / f"{label}-every{k}"
        command = [sys.executable, "-m", "separation", "train", str(REPO / "experiments/configs/svoice_study.yaml"),
                   "-o", str(run_dir), "--restart",
                   *sum((["--set", f"{key}={value}"] for key, value in {
                       **{k2: v for k2, v in trial.overrides.items() if not isinstance(v, dict)},
                       "trainer.precision": config.trainer.precision,
                       "trainer.check_val_every_n_epoch": k}.items()), [])]
        runs[label] = (run_dir, command, subprocess.Popen(command, cwd=REPO, env=env))
    result = {"spec": SPEC, "trial": trial.id, "every": every, "runs": {}}
    for label, (run_dir, command, process) in runs.items():
        if process.wait() != 0:
            raise SystemExit(f"{label}: `{' '.join(command)}` failed")
        summary = json.loads((run_dir / "summary.json").read_text())
        train, val = summary["train_seconds"], summary["val_seconds"]
        result["runs"][label] = {"command": " ".join(["separation", *command[3:]]).replace(str(REPO) + "/", ""),
                                 "train_seconds": train, "val_seconds": val, "share": val / (train + val),
                                 "steps": summary["global_step"], "val_final": summary["metrics"].get("val/si_snri"),
                                 "test": summary["metrics"].get("test/si_snri")}
    return result


def render(tables: list[dict] | None, measured: dict | None) -> str:
    lines = ["# Validation's share of a study's compute", "",
             "Reports select cells on the final validation (`separation.analysis.cells.select_best`), so "
             "validating every k-th epoch with the last epoch included changes no selection; it costs points of "
             "the early-ranking curve and the resolution of time-to-target.", ""]
    if tables:
        lines += ["## Committed studies", "", "From each study's `trials.csv` (the trials' own training and validation "
                  "seconds); the last columns: validations per trial kept at every 2nd and 4th epoch.", "",
                  "    .venv/bin/python benchmarks/bench_validation_share.py tables", "",
                  "| study | trials | steps per trial | training h | validation h | validation share | validations per trial | every 2nd | every 4th |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for row in tables:
            v = int(row["validations_per_trial"])
            lines.append(f"| {row['study']} | {row['trials']} | {row['steps_per_trial']:.0f} | {row['train_h']:.2f} | "
                         f"{row['val_h']:.2f} | **{row['share']:.1%}** | {v} | {_kept(v, 2)} | {_kept(v, 4)} |")
        lines.append("")
    if measured:
        lines += ["## Before and after, measured", "",
                  f"One trial of `{measured['spec']}` (`{measured['trial']}`), trained twice side by side, one thread "
                  "each, fp32 as committed:", "",
                  "    .venv/bin/python benchmarks/bench_validation_share.py measure --every " + str(measured["every"]), "",
                  "| run | command | steps | training s | validation s | validation share | val SI-SNRi | test SI-SNRi |",
                  "|---|---|---:|---:|---:|---:|---:|---:|"]
        for label, run in measured["runs"].items():
            lines.append(f"| {label} | `{run['command']}` | {run['steps']} | {run['train_seconds']:.0f} | "
                         f"{run['val_seconds']:.0f} | **{run['share']:.1%}** | {run['val_final']:.2f} | {run['test']:.2f} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("tables", help="the committed studies' shares; writes validation_share/tables.json")
    measure_parser = commands.add_parser("measure", help="before/after on one committed trial; writes validation_share/measured.json")
    measure_parser.add_argument("--every", type=int, default=4, help="validate every this many epochs (after)")
    commands.add_parser("write", help="benchmarks/results/validation_share.md from the JSON parts")
    args = parser.parse_args()
    if args.command == "tables":
        _write_json(PARTS / "tables.json", {"rows": study_shares()})
    elif args.command == "measure":
        started = time.time()
        result = measure(args.every)
        result["wall_seconds"] = time.time() - started
        _write_json(PARTS / "measured.json", result)
    else:
        read = lambda name: json.loads((PARTS / name).read_text()) if (PARTS / name).exists() else None  # noqa: E731
        tables, measured = read("tables.json"), read("measured.json")
        text = render(tables["rows"] if tables else None, measured)
        target = REPO / "benchmarks" / "results" / "validation_share.md"
        write_text_atomic(target, text)
        print(text)


if __name__ == "__main__":
    main()
