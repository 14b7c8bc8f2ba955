"""Markdown tables of fixed-baseline evaluations, from the summary.csv each `separation evaluate --baseline` writes.

    .venv/bin/python scripts/baseline_tables.py results/enhance_baselines_field/{noisy,noisereduce,rnnoise,deepfilternet}

Prints three tables: all items (means of every metric), by input SNR band and by noise kind (SI-SNRi,
STOI and PESQ means), one row per folder, named by the folder. The folders must have scored the same
items (same groups and counts), which is checked: rows over different items would not compare.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ALL_COLUMNS = (("si_snri", "SI-SNRi (dB)"), ("si_snr", "SI-SNR (dB)"), ("sdr", "SDR (dB)"), ("stoi", "STOI"), ("pesq", "PESQ (wb)"))
SNR_ORDER = ("<0", "0-10", "10-20", "20-30", "30-40", ">=40")


def read_summary(folder: Path) -> dict[tuple[str, str], dict[str, str]]:
    path = folder / "summary.csv"
    try:
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as error:
        raise SystemExit(f"{path}: cannot read ({error.strerror}); expected the summary.csv of `separation evaluate`")
    if not rows or "group_by" not in rows[0]:
        raise SystemExit(f"{path}: expected a summary.csv with columns group_by, group, count and the metrics")
    return {(row["group_by"], row["group"]): row for row in rows}


def _groups(summary: dict, kind: str) -> list[str]:
    groups = [group for (by, group) in summary if by == kind]
    if kind == "snr":
        return sorted(groups, key=lambda g: SNR_ORDER.index(g) if g in SNR_ORDER else len(SNR_ORDER))
    return sorted(groups)


def tables(folders: list[Path]) -> str:
    summaries = {folder.name: read_summary(folder) for folder in folders}
    first_name, first = next(iter(summaries.items()))
    for name, summary in summaries.items():
        counts = {key: row["count"] for key, row in summary.items()}
        if counts != {key: row["count"] for key, row in first.items()}:
            raise SystemExit(f"{name}: its groups or item counts differ from {first_name}'s: not the same items")
    out = ["## All test items (means)", "", "| baseline | " + " | ".join(label for _, label in ALL_COLUMNS) + " |",
           "|---|" + "---:|" * len(ALL_COLUMNS)]
    for name, summary in summaries.items():
        row = summary[("all", "all")]
        out.append(f"| {name} | " + " | ".join(f"{float(row[key]):.2f}" for key, _ in ALL_COLUMNS) + " |")
    for kind, title in (("snr", "By input SNR (dB)"), ("kind", "By noise kind")):
        groups = _groups(first, kind)
        if not groups:
            continue
        out += ["", f"## {title}: SI-SNRi (dB); STOI; PESQ (means)", "",
                "| baseline | " + " | ".join(f"{g} (n={first[(kind, g)]['count']})" for g in groups) + " |",
                "|---|" + "---:|" * len(groups)]
        for name, summary in summaries.items():
            cells = [summary[(kind, g)] for g in groups]
            out.append(f"| {name} | " + " | ".join(
                f"{float(c['si_snri']):.2f}; {float(c['stoi']):.2f}; {float(c['pesq']):.2f}" for c in cells) + " |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="evaluation folders (each holding summary.csv)")
    args = parser.parse_args(argv)
    sys.stdout.write(tables(args.folders))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
