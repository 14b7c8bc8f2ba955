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


def test_a_study_row_quotes_its_reports_verdict_box(tmp_path):
    """The index says what the report's box says, item for item; a report without a box is refused."""
    module = _index_module()
    report = (RESULTS / "svoice_clipping" / "REPORT.md").read_text()
    box = [line.removeprefix("> - ") for line in report.splitlines() if line.startswith("> - ")]
    row = module.study_row(RESULTS / "svoice_clipping")
    assert row["question"] == "Does gradient clipping improve SVoice?"
    assert sorted(row["answer"].split("<br>") + row["budget"].split("<br>")) == sorted(box)
    assert row["answer"].startswith("**Selected setting:** `clip norm 5`") and "[95% CI " in row["answer"]
    assert "15 trials" in row["budget"] and "early training only" in row["budget"]
    folder = tmp_path / "svoice_clipping"
    folder.mkdir()
    (folder / "REPORT.md").write_text("\n".join(line for line in report.splitlines() if not line.startswith(">")))
    with pytest.raises(SystemExit, match="no verdict box"):
        module.study_row(folder)


def test_one_document_name_per_kind(tmp_path):
    """A measurement's document is its README.md: a folder holding only a RESULT.md is not indexed silently."""
    module = _index_module()
    (tmp_path / "pilots").mkdir()
    (tmp_path / "pilots" / "RESULT.md").write_text("# Pilots\n\n**Result.** One. Two.\n")
    with pytest.raises(SystemExit, match="neither a study"):
        module.rows(tmp_path)
    (tmp_path / "pilots" / "RESULT.md").rename(tmp_path / "pilots" / "README.md")
    studies, measurements = module.rows(tmp_path)
    assert not studies and measurements[0]["question"] == "Pilots" and measurements[0]["answer"] == "One."
    assert not list(RESULTS.glob("*/RESULT.md"))
