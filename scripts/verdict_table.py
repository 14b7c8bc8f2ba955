"""Did the early studies' claims hold at a longer budget? A Markdown table: held, flipped or unresolved.

    .venv/bin/python scripts/verdict_table.py experiments/claims/svoice_long.yaml -o results/svoice_long/VERDICTS.md --pending

The claims file names two budgets (a label and the folder holding their report folders, relative to
the working directory) and, per claim, the comparison A - B in an early and in a long study:

    early: {label: "256 steps", results: results}
    long: {label: "2,048 steps", results: results}
    claims:
      - claim: ReduceLROnPlateau beats StepLR
        early: {study: svoice_schedulers_v2, a: sched plateau, b: sched step}
        long: {study: svoice_long, a: "adam, lr 0.001, sched plateau", b: "adam, lr 0.001, sched step"}

Each difference comes from the study's comparisons.csv, else is computed from its tables as
`separation compare` computes it; the rule and the table are `separation.analysis.verdict_table`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's package, not an installed one

from separation.analysis.verdict_table import format_table, format_unavailable, read_plan, verdict_rows  # noqa: E402
from separation.atomic import write_text_atomic  # noqa: E402
from separation.errors import UserError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("claims", help="the claims file (YAML), e.g. experiments/claims/svoice_long.yaml")
    parser.add_argument("--metric", default="test", choices=("test", "val_final"),
                        help="the comparisons' metric column (default: test)")
    parser.add_argument("-o", "--output", help="write the table here (default: standard output)")
    parser.add_argument("--pending", action="store_true",
                        help="list the claims whose study or cells cannot be read yet (a later phase not reported) "
                             "under the table, instead of stopping with an error")
    args = parser.parse_args(argv)
    try:
        plan = read_plan(args.claims)
        unavailable = [] if args.pending else None
        rows = verdict_rows(plan, args.metric, unavailable=unavailable)
        table = format_table(plan, rows, args.metric) if rows else "No claim could be computed yet.\n"
        if unavailable:
            table += "\n" + format_unavailable(unavailable)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.output:
        # The file says what made it, so a committed table can be regenerated and checked.
        command = f".venv/bin/python scripts/verdict_table.py {args.claims} -o {args.output}"
        if args.metric != "test":
            command += f" --metric {args.metric}"
        if args.pending:
            command += " --pending"
        heading = f"# Did the early claims hold?\n\nWritten by `{command}`.\n\n"
        write_text_atomic(args.output, heading + table)
        print(args.output)
    else:
        sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
