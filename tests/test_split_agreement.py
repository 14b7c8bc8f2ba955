"""scripts/split_agreement.py: which cell each split would select, and how the splits rank the trials."""

import json
from pathlib import Path

from conftest import load_script
from separation.grid.spec import load_spec
from test_report import BASE, known_test, write_trial

SPEC = """# Does the selection split agree with the others?
study: agree
base: base.yaml
set: {data.valid_max_items: 16, optimizer.name: adam, optimizer.lr: 1.0e-3}
axes:
  clipping: [{mode: none}, {mode: norm, value: 5}]
  seed: [0, 1, 2]
"""


def _evaluation(folder: Path, split: str, si_snri: float) -> None:
    """A summary.json as `separation evaluate` writes it for a speech checkpoint (what the reader needs)."""
    stats = {"mean": si_snri, "median": si_snri, "std": 0.0, "min": si_snri, "max": si_snri, "count": 100, "nonfinite": 0}
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps({
        "task": "speech", "checkpoint": "last.ckpt", "data": {"root": "data/speech", "split": split, "n_src": 2},
        "items": 100, "metrics": {name: stats for name in ("si_snri", "si_snr", "sdri", "sdr")}}))


def test_each_split_names_the_cell_it_would_select_and_ranks_are_correlated(tmp_path, capsys):
    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / "agree.yaml").write_text(SPEC)
    spec = load_spec(tmp_path / "agree.yaml")
    study = tmp_path / "runs" / "agree"
    for trial in spec.trials:
        folder = study / trial.id
        write_trial(folder, trial, "completed")  # validation ends at test + 0.5: clipping ahead by 0.2
        value = known_test(trial.config)
        _evaluation(folder / "eval_dev", "dev", value + 1.0)  # dev ranks the trials as validation does
        _evaluation(folder / "eval_test", "test", -value)  # test ranks them the other way round
    script = load_script("split_agreement")
    out = tmp_path / "SPLITS.md"
    assert script.main([str(study), "--spec", str(tmp_path / "agree.yaml"), "-o", str(out)]) == 0
    text = out.read_text()
    header = "| cell | seeds | val (16 items, trainer) | dev (100 items) | test (100 items) |"
    rows = text.split(header)[1].splitlines()[2:4]
    none, clipped = (next(r for r in rows if r.startswith(f"| {cell} |")) for cell in ("clip none", "clip norm 5"))
    assert none.count("**") == 2 and clipped.count("**") == 4  # val and dev select clipping, test selects none
    assert "| clip norm 5 | 3 | **" in clipped and none.endswith("| **-6.00** |")  # test: -(6.0 + the median seed offset, 0)
    correlation = next(line for line in text.splitlines() if line.startswith("| dev (100 items) | "))
    assert correlation == "| dev (100 items) | +1.00 | +1.00 | -1.00 |"
    assert text.count("| clip ") == 2 + len(spec.trials)

    # A split nobody evaluated is named, with the command that evaluates it; nothing is written.
    assert script.main([str(study), "--spec", str(tmp_path / "agree.yaml"), "--splits", "valid",
                        "-o", str(tmp_path / "other.md")]) == 2
    assert "eval_valid" in capsys.readouterr().err and not (tmp_path / "other.md").exists()
