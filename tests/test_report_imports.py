"""Importing the report, the trial-folder reader and the pruning decisions loads no torch or Lightning (they took
14 to 35 s of every report's start on a loaded 2-core machine, for nothing the analysis uses). The model's
parameter count (separation.systems.model_size) loads torch only when the Setup asks for it."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_importing_the_report_and_the_trial_folders_loads_no_torch():
    code = ("import sys, separation.analysis.report, separation.grid.trial_folder, separation.grid.pruning; "
            "print(sorted(m for m in ('torch', 'pytorch_lightning', 'separation.models') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
