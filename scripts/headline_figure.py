"""The README's headline figure: the three SVoice studies side by side, every seed visible.

Reads the committed per-trial tables (`results/<study>/trials.csv`, written by
`separation report`), so the figure is redrawn from what is in the repository:

    .venv/bin/python scripts/headline_figure.py results/svoice_optimizers results/svoice_schedulers \
        results/svoice_clipping -o results/headline.png

Each panel is one study: the test SI-SNRi of every finished seed of every cell
run over at least 3 seeds (an optimizer study's single-seed LR-sweep cells are
left to its own report), the median as a bar, diverged and collapsed seeds counted under the
axis label.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from separation.analysis.collect import LOST, OK  # noqa: E402
from separation.analysis.stats import MIN_SEEDS  # noqa: E402
from separation.atomic import write_bytes_atomic  # noqa: E402


def _varying_label(table: pd.DataFrame) -> str:
    for column in ("optimizer_name", "scheduler_name", "clipping"):
        if table[column].nunique() > 1:
            return column
    return "cell"


def _panel(ax, table: pd.DataFrame, title: str) -> None:
    planned = table.groupby("cell")["trial"].count()
    cells = [c for c in dict.fromkeys(table["cell"]) if planned[c] >= MIN_SEEDS]
    label_column = _varying_label(table[table["cell"].isin(cells)])
    rng = np.random.default_rng(0)
    for x, cell in enumerate(cells):
        rows = table[table["cell"] == cell]
        values = rows.loc[rows["status"].isin(OK), "test"].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        ax.scatter(x + rng.uniform(-0.12, 0.12, values.size), values, s=18, color="C0", alpha=0.8, zorder=3)
        if values.size:
            ax.hlines(np.median(values), x - 0.3, x + 0.3, color="black", lw=2, zorder=4)
    labels = []
    for cell in cells:
        rows = table[table["cell"] == cell]
        label = str(rows[label_column].iloc[0]).replace("_", "_\n")  # long names on two lines
        if label_column == "optimizer_name":
            label += f"\nlr {rows['lr'].iloc[0]:g}"
        lost = rows["status"][rows["status"].isin(LOST)].value_counts()
        labels.append(label + "".join(f"\n{n} {status}" for status, n in lost.items()))
    ax.set_xticks(range(len(cells)), labels, fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", help="results/<study> folders holding trials.csv")
    parser.add_argument("-o", "--output", required=True, help="PNG to write")
    args = parser.parse_args(argv)
    tables = []
    for folder in map(Path, args.reports):
        path = folder / "trials.csv"
        if not path.is_file():
            print(f"error: {path}: no such file (run `separation report` for that study first)", file=sys.stderr)
            return 2
        tables.append((folder.name, pd.read_csv(path)))
    fig, axes = plt.subplots(1, len(tables), figsize=(4.2 * len(tables), 3.8), sharey=True, squeeze=False)
    for ax, (name, table) in zip(axes[0], tables):
        _panel(ax, table, name)
    axes[0][0].set_ylabel("test SI-SNRi (dB), one dot per seed")
    steps = pd.concat([table["steps"] for _, table in tables]).dropna()
    budget = f"{int(steps.median())} training steps per trial" if len(steps) else "no finished trial"
    fig.suptitle(f"Every seed of every replicated cell ({budget}); bar: median", fontsize=11)
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=120)
    write_bytes_atomic(args.output, png.getvalue())
    print(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
