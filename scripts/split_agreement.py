"""Would another split have selected the same cell? Validation during training against full evaluations.

    .venv/bin/separation evaluate-study runs/svoice_long --spec experiments/svoice_long_clipping.yaml --split dev --only-missing --device cpu
    .venv/bin/python scripts/split_agreement.py runs/svoice_long --spec experiments/svoice_long_clipping.yaml --splits dev test -o results/svoice_long_clipping/SPLITS.md

A study selects on the validation the trainer scored (often a few items: `data.valid_max_items`) and
reports test. When the two disagree, is it the few items or the split itself? This scores each finished
trial's final weights on whole splits (`separation evaluate-study --split S` writes `<trial>/eval_S/`)
and writes, per cell, the median over seeds of each column (the best cell of each column in bold: what
that split would select), the Spearman rank correlation of the trials between columns, and the per-trial
values. The score is the task's first evaluation score (SI-SNRi for speech). Diverged and collapsed
trials enter no column, as in the report.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the checkout's package, not an installed one

import numpy as np  # noqa: E402

from separation.analysis.collect import collect_study  # noqa: E402
from separation.analysis.evaluation import META, collect_evaluations  # noqa: E402
from separation.analysis.stats import median_iqr  # noqa: E402
from separation.atomic import write_text_atomic  # noqa: E402
from separation.errors import ConfigError, UserError  # noqa: E402
from separation.outcomes import OK  # noqa: E402


def agreement_table(study_dir: Path, spec: Path, splits: list[str]) -> str:
    study = collect_study(study_dir, spec)
    trials = study.trials.loc[study.trials["status"].isin(OK), ["trial", "cell", "seed", "val_final"]]
    items = {(study.configs[t].get("data") or {}).get("valid_max_items") for t in trials["trial"]}
    items = items.pop() if len(items) == 1 else None
    val_name = f"val ({items} items, trainer)" if items else "val (trainer)"
    table = trials.rename(columns={"val_final": val_name}).set_index("trial")
    score = None
    for split in splits:
        evaluated = collect_evaluations(study, f"eval_{split}")
        evaluated = evaluated[evaluated["kind"] == "trial"]
        if evaluated.empty:
            raise UserError(f"{study_dir}: no trial of {spec} has eval_{split}/ (run `separation evaluate-study "
                            f"{study_dir} --spec {spec} --split {split}` first)")
        score = score or next(c for c in evaluated.columns if c not in META)
        items = ", ".join(str(n) for n in sorted(set(evaluated["items"].dropna())))
        table[f"{split} ({items} items)"] = evaluated.set_index("trial")[score]
    columns = [c for c in table.columns if c not in ("cell", "seed")]
    cells = list(dict.fromkeys(table["cell"]))
    medians = {cell: {c: median_iqr(table.loc[table["cell"] == cell, c])[0] for c in columns} for cell in cells}
    best = {c: max(cells, key=lambda cell: -np.inf if np.isnan(medians[cell][c]) else medians[cell][c]) for c in columns}

    lines = [f"# Does the selection split agree with the others? ({study.name}, {spec.name})", "",
             f"{score} in dB, median over the finished seeds of each cell; **bold**: the cell that column would "
             f"select. The trainer's validation is the final `{study.headline.val}`; the others are "
             "`separation evaluate` on the whole split, from the same final weights.", "",
             "| cell | seeds | " + " | ".join(columns) + " |", "|---|---|" + "---|" * len(columns)]
    for cell in cells:
        seeds = int(table["cell"].eq(cell).sum())
        shown = [f"**{medians[cell][c]:.2f}**" if best[c] == cell else f"{medians[cell][c]:.2f}" for c in columns]
        lines.append(f"| {cell} | {seeds} | " + " | ".join(shown) + " |")
    ranks = table[columns].corr(method="spearman")
    lines += ["", f"Spearman rank correlation over the {len(table)} trials:", "",
              "| | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    lines += [f"| {a} | " + " | ".join(f"{ranks.loc[a, b]:+.2f}" for b in columns) + " |" for a in columns]
    lines += ["", "Per trial:", "", "| trial | cell | seed | " + " | ".join(columns) + " |", "|---|---|---|" + "---|" * len(columns)]
    for trial, row in table.sort_values(["seed", "cell"]).iterrows():
        lines.append(f"| {trial} | {row['cell']} | {row['seed']} | " + " | ".join(f"{row[c]:.2f}" for c in columns) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study_dir", type=Path, help="a study folder written by `separation grid`, e.g. runs/svoice_long")
    parser.add_argument("--spec", type=Path, required=True, help="the grid spec whose trials to compare")
    parser.add_argument("--splits", nargs="+", default=["dev", "test"], help="evaluated splits (<trial>/eval_<split>/)")
    parser.add_argument("-o", "--output", type=Path, help="markdown file to write (default: print)")
    args = parser.parse_args(argv)
    try:
        text = agreement_table(args.study_dir, args.spec, args.splits)
    except (UserError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.output:
        write_text_atomic(args.output, text)
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
