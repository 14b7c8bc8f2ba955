"""Regenerate a committed study report from its own tables, without the trial folders.

    .venv/bin/python scripts/report_from_tables.py results/svoice_optimizers --spec experiments/svoice_optimizers.yaml

`results/<study>/trials.csv` and `steps.csv` hold every outcome and every
logged value; the spec gives each trial's resolved config. The report is
rewritten in place (or into `-o`), with every section the report writer has
now: a committed report gains sections added after its runs were deleted.
Only the report's own files are replaced; a hand-written README.md beside them is kept.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's package, not an installed one

from separation.analysis.report import write_report_from_tables  # noqa: E402
from separation.errors import UserError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="a report folder holding trials.csv and steps.csv, e.g. results/quick")
    parser.add_argument("--spec", required=True, help="the study's grid spec, e.g. experiments/quick.yaml")
    parser.add_argument("-o", "--output", help="output folder (default: the report folder itself)")
    parser.add_argument("--force", action="store_true",
                        help="write into a non-empty -o folder that is not a report (its other files are kept)")
    args = parser.parse_args(argv)
    try:
        report = write_report_from_tables(args.results, args.spec, args.output, force=args.force)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
