"""scripts/baseline_tables.py: one row per evaluation folder, and refusal of folders that scored different items."""

import pytest

from conftest import load_script

HEADER = "group_by,group,count,si_snr,input_si_snr,si_snri,sdr,input_sdr,sdri,stoi,pesq\n"


def _summary(folder, si_snri, counts=(3, 2)):
    folder.mkdir()
    (folder / "summary.csv").write_text(
        HEADER
        + f"all,all,{sum(counts)},1,1,{si_snri},1,1,0,0.9,2.0\n"
        + f"snr,10-20,{counts[1]},1,1,{si_snri - 1},1,1,0,0.95,2.5\n"
        + f"snr,<0,{counts[0]},1,1,{si_snri + 1},1,1,0,0.8,1.5\n"
    )
    return folder


def test_one_row_per_folder_and_snr_bands_in_order(tmp_path):
    tables = load_script("baseline_tables").tables
    text = tables([_summary(tmp_path / "noisy", 0.0), _summary(tmp_path / "dfn", 2.5)])
    assert "| noisy | 0.00 |" in text and "| dfn | 2.50 |" in text
    band_header = next(line for line in text.splitlines() if line.startswith("| baseline | <0"))
    assert band_header.index("<0 (n=3)") < band_header.index("10-20 (n=2)")
    assert "| dfn | 3.50; 0.80; 1.50 | 1.50; 0.95; 2.50 |" in text


def test_folders_over_different_items_are_refused(tmp_path):
    tables = load_script("baseline_tables").tables
    with pytest.raises(SystemExit, match="differ from noisy's: not the same items"):
        tables([_summary(tmp_path / "noisy", 0.0), _summary(tmp_path / "other", 1.0, counts=(2, 3))])
    with pytest.raises(SystemExit, match="summary.csv: cannot read"):
        tables([tmp_path / "missing"])
