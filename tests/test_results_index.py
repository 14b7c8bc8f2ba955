"""results/README.md is generated from the studies' own files: it lists every folder of results/,
and regenerating it gives the committed file (so it cannot drift from the tables it indexes)."""

import importlib.util
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"


def _index_module():
    spec = importlib.util.spec_from_file_location("results_index", ROOT / "scripts" / "results_index.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_index_lists_every_results_folder():
    text = (RESULTS / "README.md").read_text()
    listed = set(re.findall(r"^\| \[([^\]]+)\]\(", text, re.M))
    folders = {path.name for path in RESULTS.iterdir() if path.is_dir()}
    assert listed == folders


def test_every_link_of_the_index_exists():
    text = (RESULTS / "README.md").read_text()
    for link in re.findall(r"\]\(([^)#]+)\)", text):
        assert (RESULTS / link).exists(), link


def _full_history() -> bool:
    """A measurement's date is its document's first commit: a shallow clone or a tree without git cannot say it."""
    try:
        shallow = subprocess.run(["git", "rev-parse", "--is-shallow-repository"], cwd=ROOT, capture_output=True,
                                 text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return False
    return shallow == "false"


@pytest.mark.skipif(not _full_history(), reason="needs the full git history (measurement dates)")
def test_regenerating_the_index_gives_the_committed_file():
    assert _index_module().render(RESULTS) == (RESULTS / "README.md").read_text(), \
        "results/README.md is stale: run .venv/bin/python scripts/results_index.py"


def test_a_study_row_comes_from_its_tables(tmp_path):
    """The budget is counted from trials.csv, not copied: one more trial changes the row."""
    module = _index_module()
    folder = tmp_path / "svoice_clipping"
    folder.mkdir()
    for name in ("REPORT.md", "comparisons.csv"):
        (folder / name).write_text((RESULTS / "svoice_clipping" / name).read_text())
    trials = (RESULTS / "svoice_clipping" / "trials.csv").read_text().splitlines()
    (folder / "trials.csv").write_text("\n".join(trials) + "\n")
    row = module.study_row(folder)
    assert "15 trials" in row["budget"] and "5 seeds" in row["budget"] and "256 steps" in row["budget"]
    assert row["question"] == "Does gradient clipping improve SVoice?"
    assert "`clip norm 5`" in row["answer"] and "not resolved" in row["answer"]
    (folder / "trials.csv").write_text("\n".join(trials + [trials[-1]]) + "\n")
    assert "16 trials" in module.study_row(folder)["budget"]
