"""Run `separation evaluate` on the final weights of every finished trial of a study.

    .venv/bin/python scripts/evaluate_study.py runs/enhance_optimizers --only-missing --device cpu

The older spelling of `separation evaluate-study` (separation/evaluation/study.py
does the work for both; its docstring says which trials are evaluated and how
an evaluation is swapped in), kept one release with its own contract: `--jobs N`
for `--processes N`, arguments it does not know passed on to `separation
evaluate` (`--device cpu`, `--max-items 20`, `--data ROOT`, ...), one line per
trial, exit status 1 if any evaluation failed (the subcommand's is 3), 2 on bad
arguments. It prints one line on stderr saying which command to use instead.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the checkout's package, not an installed one

from separation.errors import UserError  # noqa: E402
from separation.evaluation.study import evaluate_study  # noqa: E402


def main(argv: list[str] | None = None, run=subprocess.run) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="Other arguments are passed on to `separation evaluate`.")
    parser.add_argument("study", help="a study folder written by `separation grid`, e.g. runs/enhance_optimizers")
    parser.add_argument("--split", default="test", help="split to score (default: test); writes <trial>/eval_<split>/")
    parser.add_argument("--jobs", type=int, default=1, help="evaluations at a time (default 1)")
    parser.add_argument("--only-missing", action="store_true", help="skip trials that already have eval_<split>/")
    parser.add_argument("--include-lost", action="store_true", help="also evaluate diverged and collapsed trials")
    args, extra = parser.parse_known_args(argv)
    print("scripts/evaluate_study.py is deprecated: use `separation evaluate-study` (--processes for --jobs; "
          "exit status 3, not 1, when an evaluation fails)", file=sys.stderr)
    if args.jobs < 1:
        print(f"error: --jobs must be at least 1, got {args.jobs}", file=sys.stderr)
        return 2
    try:
        failed = evaluate_study(args.study, args.split, extra, args.jobs, args.only_missing, args.include_lost, run=run,
                                log=lambda line: print(line, flush=True))
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
