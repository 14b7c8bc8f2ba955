"""Markdown tables of results/speech_transfer from its `separation evaluate` folders.

    .venv/bin/python scripts/speech_transfer_table.py results/speech_transfer

Reads every `<model>__<test>/` folder (metrics.csv, summary.json) under the
results folder and prints one row per (model, test split) with the mean and
median SI-SNRi and SDRi and a bootstrap 95% interval of the mean SI-SNRi
(10,000 resamples of the utterances, `numpy.random.default_rng(0)`). With
`--families CORPUS_ROOT` it also breaks one evaluation down by the families
of its mixtures (from the corpus's `metadata/mixture_info_<split>.csv`), and with
`--voices` by the voices (for recorded families, the speakers) of its mixtures.
With `--paired A B` it gives the mean per-mixture difference A - B of two
evaluations of the same mixtures, with its bootstrap interval (the same
resampling), overall and by the voices of the mixtures when `--paired-voices
CORPUS_ROOT` names the corpus.
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


def mixture_groups(folder: Path, corpus: Path, column: str) -> dict[str, str]:
    """Mixture id -> its `mixture_info` `column` value (`families` or `voices`), members sorted, for the evaluated split."""
    summary = json.loads((folder / "summary.json").read_text())
    split = summary["data"]["split"]
    info_path = corpus / f"Libri{summary['data']['n_src']}Mix" / "wav8k" / "min" / "metadata" / f"mixture_info_{split}.csv"
    with open(info_path) as handle:
        return {r["mixture_ID"]: "+".join(sorted(r[column].split("+"))) for r in csv.DictReader(handle)}


def grouped(values: dict[str, float], group_of: dict[str, str]) -> dict[str, list[float]]:
    """Per-mixture values (keyed by mixture id) gathered by each mixture's group, groups sorted by name."""
    groups: dict[str, list[float]] = defaultdict(list)
    for key, value in values.items():
        groups[group_of[key]].append(value)
    return dict(sorted(groups.items()))


def group_rows(folder: Path, corpus: Path, column: str) -> list[list[str]]:
    """Mean SI-SNRi of the evaluation's mixtures grouped by a `mixture_info` column (`families` or `voices`)."""
    si_snri = {row["id"]: float(row["si_snri"]) for row in read_metrics(folder)}
    return [[name, str(len(v)), f"{np.mean(v):.2f}"] for name, v in grouped(si_snri, mixture_groups(folder, corpus, column)).items()]


def paired_differences(folder_a: Path, folder_b: Path) -> dict[str, float]:
    """Per-mixture SI-SNRi of evaluation A minus that of B, keyed by mixture id.

    The two must have scored the same mixtures: the same ids with the same
    mixture baseline (`mixture_si_snr`, to 1e-3 dB), or this exits naming both folders.
    """
    a = {r["id"]: r for r in read_metrics(folder_a)}
    b = {r["id"]: r for r in read_metrics(folder_b)}
    if a.keys() != b.keys():
        raise SystemExit(f"--paired: {folder_a} and {folder_b} scored different mixtures "
                         f"({len(a.keys() - b.keys())} and {len(b.keys() - a.keys())} ids of their own)")
    for key in a:
        if abs(float(a[key]["mixture_si_snr"]) - float(b[key]["mixture_si_snr"])) > 1e-3:
            raise SystemExit(f"--paired: mixture {key} has another baseline in {folder_a} than in {folder_b}: "
                             "not the same audio")
    return {key: float(a[key]["si_snri"]) - float(b[key]["si_snri"]) for key in sorted(a)}


def paired_row(folder_a: Path, folder_b: Path, differences: dict[str, float]) -> list[str]:
    diff = np.array(list(differences.values()))
    interval = bootstrap_mean(diff)
    return [folder_a.name, folder_b.name, str(diff.size), f"{interval.estimate:+.2f} [{interval.low:+.2f}, {interval.high:+.2f}]",
            f"{(diff > 0).mean():.2f}"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("results")
    parser.add_argument("--families", nargs=2, action="append", default=[], metavar=("EVAL_FOLDER", "CORPUS_ROOT"),
                        help="break this evaluation down by mixture families of this corpus")
    parser.add_argument("--voices", nargs=2, action="append", default=[], metavar=("EVAL_FOLDER", "CORPUS_ROOT"),
                        help="break this evaluation down by the voices of its mixtures")
    parser.add_argument("--paired", nargs=2, action="append", default=[], metavar=("EVAL_A", "EVAL_B"),
                        help="mean per-mixture SI-SNRi difference A - B of two evaluations of the same mixtures")
    parser.add_argument("--paired-voices", metavar="CORPUS_ROOT",
                        help="also break each --paired difference down by the voices of the mixtures in this corpus")
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
    differences = {(a, b): paired_differences(Path(a), Path(b)) for a, b in args.paired}
    if differences:
        print("\nPaired over the same mixtures (A - B, SI-SNRi dB; bootstrap 95% interval of the mean difference):\n")
        print("| A | B | mixtures | mean difference [95% CI] | share of mixtures where A is better |")
        print("|---|---|---:|---|---:|")
        for (folder_a, folder_b), diff in differences.items():
            print("| " + " | ".join(paired_row(Path(folder_a), Path(folder_b), diff)) + " |")
    if args.paired_voices:
        for (folder_a, folder_b), diff in differences.items():
            group_of = mixture_groups(Path(folder_a), Path(args.paired_voices), "voices")
            print(f"\n{Path(folder_a).name} - {Path(folder_b).name}, by the voices of each mixture:\n")
            print("| voices | mixtures | mean difference |")
            print("|---|---:|---:|")
            for name, values in grouped(diff, group_of).items():
                print(f"| {name} | {len(values)} | {np.mean(values):+.2f} |")

if __name__ == "__main__":
    main()
