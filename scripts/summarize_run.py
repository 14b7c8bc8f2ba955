"""Print a markdown summary of one training run folder: outcome and the validation curve.

    .venv/bin/python scripts/summarize_run.py runs/svoice_cpu_15min [--metric val/si_snri]

Kept for the notes in results/ that quote it; the command is now `separation summarize RUN`
(separation/analysis/summarize_run.py), which this calls.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's package, not an installed one

from separation.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["summarize", *sys.argv[1:]]))
