"""scripts/check_report_regeneration.py: which committed reports it checks, and what counts as a difference.

The regeneration itself (minutes per study) is run by hand; these check the
parts that decide its verdict."""

import importlib.util
import struct
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location("check_report_regeneration", ROOT / "scripts" / "check_report_regeneration.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _png(path: Path, width: int, height: int, payload: bytes = b"") -> None:
    """A PNG header (signature, IHDR) of the given size, then arbitrary bytes: all the check reads."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk + payload)


def _report(folder: Path, csv: str = "a,b\n1,2\n", size=(640, 480), payload=b"x") -> Path:
    folder.mkdir(parents=True)
    (folder / "REPORT.md").write_text("# Study report\n\nseparation grid experiments/quick.yaml\n")
    (folder / "trials.csv").write_text(csv)
    (folder / "provenance.json").write_text('{"lines": []}\n')
    _png(folder / "figures" / "final.png", *size, payload)
    return folder


def test_every_committed_report_names_a_spec_that_exists():
    studies = _module().committed_studies(ROOT / "results")
    assert len(studies) >= 9  # results/ held nine regenerable reports when the check was written
    for study, spec in studies:
        assert spec is not None and (ROOT / spec).is_file(), study


def test_tables_and_text_must_match_to_the_byte_and_figures_in_pixel_size(tmp_path):
    check = _module()
    reference = _report(tmp_path / "reference")
    assert check.differences(reference, _report(tmp_path / "same", payload=b"other encoder")) == []
    assert check.differences(reference, _report(tmp_path / "csv", csv="a,b\n1,3\n")) == [
        "trials.csv: differs from line 2: '1,2' -> '1,3'"]
    assert check.differences(reference, _report(tmp_path / "png", size=(640, 481))) == [
        "figures/final.png: (640, 480) pixels in the reference, (640, 481) in the candidate"]
    fewer = _report(tmp_path / "fewer")
    (fewer / "provenance.json").unlink()
    (fewer / "steps.csv").write_text("")
    assert check.differences(reference, fewer) == ["provenance.json: only in the reference", "steps.csv: only in the candidate"]
