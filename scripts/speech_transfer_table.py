"""Markdown tables of results/speech_transfer from its `separation evaluate` folders.

    .venv/bin/python scripts/speech_transfer_table.py results/speech_transfer

Reads every `<model>__<test>/` folder (metrics.csv, summary.json) under the
results folder and prints one row per (model, test split) with the mean and
median SI-SNRi and SDRi and a bootstrap 95% interval of the mean SI-SNRi
(10,000 resamples of the utterances, `numpy.random.default_rng(0)`). With
`--families CORPUS_ROOT` it also breaks one evaluation down by the families
of its mixtures (from the corpus's `metadata/mixture_info_<split>.csv`), and with
`--voices` by the voices (for recorded families, the speakers) of its mixtures.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from separation.analysis.stats import bootstrap_mean


def read_metrics(folder: Path) -> list[dict]:
    with open(folder / "metrics.csv") as handle:
        return list(csv.DictReader(handle))


def summary_row(folder: Path) -> list[str]:
    rows = read_metrics(folder)
    si = np.array([float(r["si_snri"]) for r in rows])
    sd = np.array([float(r["sdri"]) for r in rows])
    interval = bootstrap_mean(si)  # 10,000 resamples, default_rng(0), 95%
    low, high = interval.low, interval.high
    summary = json.loads((folder / "summary.json").read_text())
    model, test = folder.name.split("__")
    return [model, test, f"{summary['data']['split']}", str(len(rows)), f"{si.mean():.2f} [{low:.2f}, {high:.2f}]",
            f"{np.median(si):.2f}", f"{sd.mean():.2f}", f"{np.median(sd):.2f}"]


def group_rows(folder: Path, corpus: Path, column: str) -> list[list[str]]:
    """Mean SI-SNRi of the evaluation's mixtures grouped by a `mixture_info` column (`families` or `voices`)."""
    summary = json.loads((folder / "summary.json").read_text())
    split = summary["data"]["split"]
    info_path = corpus / f"Libri{summary['data']['n_src']}Mix" / "wav8k" / "min" / "metadata" / f"mixture_info_{split}.csv"
    with open(info_path) as handle:
        group_of = {r["mixture_ID"]: "+".join(sorted(r[column].split("+"))) for r in csv.DictReader(handle)}
    groups: dict[str, list[float]] = defaultdict(list)
    for row in read_metrics(folder):
        groups[group_of[row["id"]]].append(float(row["si_snri"]))
    return [[name, str(len(v)), f"{np.mean(v):.2f}"] for name, v in sorted(groups.items())]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("results")
    parser.add_argument("--families", nargs=2, action="append", default=[], metavar=("EVAL_FOLDER", "CORPUS_ROOT"),
                        help="break this evaluation down by mixture families of this corpus")
    parser.add_argument("--voices", nargs=2, action="append", default=[], metavar=("EVAL_FOLDER", "CORPUS_ROOT"),
                        help="break this evaluation down by the voices of its mixtures")
    args = parser.parse_args()
    folders = sorted(p.parent for p in Path(args.results).glob("*__*/summary.json"))
    print("| model (training corpus) | test | split | mixtures | SI-SNRi mean [95% CI] | SI-SNRi median | SDRi mean | SDRi median |")
    print("|---|---|---|---:|---|---:|---:|---:|")
    for folder in folders:
        print("| " + " | ".join(summary_row(folder)) + " |")
    for column, pairs in (("families", args.families), ("voices", args.voices)):
        for folder, corpus in pairs:
            print(f"\n{Path(folder).name}, by the {column} of each mixture:\n")
            print(f"| {column} | mixtures | SI-SNRi mean |")
            print("|---|---:|---:|")
            for row in group_rows(Path(folder), Path(corpus), column):
                print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
