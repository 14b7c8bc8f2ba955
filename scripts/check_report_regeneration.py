"""Check that every committed report regenerates byte for byte: this checkout's code against another commit's.

    .venv/bin/python scripts/check_report_regeneration.py                    # the working tree against HEAD
    .venv/bin/python scripts/check_report_regeneration.py --against HEAD~3 results/quick

A restructuring must not change what the suite reports. For each
`results/<study>/` holding REPORT.md and trials.csv (or each one named), both
versions of the code regenerate the report from its committed tables with the
command the report itself names (`scripts/report_from_tables.py`, in place,
each in its own copy of the checkout, so both outputs name the same paths): the
reference from `git archive <commit>`, the candidate from the working tree's
`separation/`, `scripts/`, `experiments/` and `results/`. The spec is the one
the report's Reproduce block names (`separation grid experiments/<spec>.yaml`).

REPORT.md, every CSV and provenance.json must be byte-identical; a figure may
differ in bytes (encoder, fonts) but must exist in both with the same pixel
size. The script also says which committed REPORT.md differs from the
reference's regeneration (written by older code: not a fault of the
candidate). Exit status 0 when every study matches, 1 otherwise; each study
takes a minute or two (figures, and a torch model for the parameter count).
"""

from __future__ import annotations

import argparse
import io
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("separation", "scripts", "experiments", "results")  # what a regeneration reads from the checkout
SPEC_LINE = re.compile(r"^separation grid (\S+\.ya?ml)\s*$", re.M)
EXACT = (".md", ".csv", ".json")  # compared byte for byte; .png by pixel size


def committed_studies(results: Path, names: list[str] | None = None) -> list[tuple[str, str | None]]:
    """(study, the spec its REPORT.md names, or None) for each report folder of `results`, by name."""
    found = []
    for folder in sorted(p for p in results.iterdir() if p.is_dir()):
        if names and folder.name not in names:
            continue
        if not ((folder / "REPORT.md").is_file() and (folder / "trials.csv").is_file()):
            continue
        match = SPEC_LINE.search((folder / "REPORT.md").read_text())
        found.append((folder.name, match.group(1) if match else None))
    unknown = sorted(set(names or ()) - {name for name, _ in found})
    if unknown:
        raise SystemExit(f"error: no report folder (REPORT.md beside trials.csv) in {results} for: {', '.join(unknown)}")
    return found


def png_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a PNG's header; None when the file is no PNG."""
    head = path.read_bytes()[:24]
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def differences(reference: Path, candidate: Path) -> list[str]:
    """How the report folder `candidate` differs from `reference`: files missing on either side, text or
    tables that differ in a byte, figures whose pixel size differs."""
    def files(folder: Path) -> set[str]:
        return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.suffix in (*EXACT, ".png")}

    mine, theirs = files(candidate), files(reference)
    found = [f"{name}: only in the reference" for name in sorted(theirs - mine)]
    found += [f"{name}: only in the candidate" for name in sorted(mine - theirs)]
    for name in sorted(mine & theirs):
        a, b = reference / name, candidate / name
        if name.endswith(".png"):
            if png_size(a) != png_size(b):
                found.append(f"{name}: {png_size(a)} pixels in the reference, {png_size(b)} in the candidate")
        elif a.read_bytes() != b.read_bytes():
            found.append(f"{name}: differs{_first_difference(a, b)}")
    return found


def _first_difference(a: Path, b: Path) -> str:
    left, right = a.read_text(errors="replace").splitlines(), b.read_text(errors="replace").splitlines()
    for number, (x, y) in enumerate(zip(left, right), 1):
        if x != y:
            return f" from line {number}: {x[:100]!r} -> {y[:100]!r}"
    return f" in length ({len(left)} vs {len(right)} lines)"


def _archive(commit: str, into: Path) -> None:
    """The files of `commit` (as `git archive` gives them) into `into`."""
    done = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True)
    if done.returncode != 0:
        raise SystemExit(f"error: git archive {commit}: {done.stderr.decode(errors='replace').strip()}")
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        archive.extractall(into, filter="data")


def _working_copy(into: Path) -> None:
    for name in COPIED:
        shutil.copytree(ROOT / name, into / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def regenerate(tree: Path, study: str, spec: str) -> str | None:
    """Regenerate `results/<study>` of `tree` in place with that tree's code; the error text, or None."""
    command = [sys.executable, "scripts/report_from_tables.py", f"results/{study}", "--spec", spec]
    done = subprocess.run(command, cwd=tree, capture_output=True, text=True)
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("studies", nargs="*", help="report folders to check, e.g. results/quick (default: every one)")
    parser.add_argument("--against", default="HEAD", help="the commit whose code gives the reference (default: HEAD)")
    parser.add_argument("--keep", help="keep both regenerated checkouts in this new folder (default: a temporary one, removed)")
    args = parser.parse_args(argv)
    names = [Path(s).name for s in args.studies]
    if args.keep and Path(args.keep).exists():
        raise SystemExit(f"error: {args.keep} exists; name a new folder for --keep")
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="regeneration-"))
    reference, candidate = work / "reference", work / "candidate"
    reference.mkdir(parents=True)
    candidate.mkdir()
    try:
        _archive(args.against, reference)
        _working_copy(candidate)
        failed = 0
        for study, spec in committed_studies(candidate / "results", names):
            if spec is None:
                print(f"{study}: skipped (its REPORT.md names no `separation grid <spec>` line)")
                continue
            if not (reference / "results" / study / "REPORT.md").is_file():
                print(f"{study}: skipped (no report at {args.against})")
                continue
            committed = (reference / "results" / study / "REPORT.md").read_bytes()
            errors = [f"{side}: {error}" for side, tree in (("reference", reference), ("candidate", candidate))
                      if (error := regenerate(tree, study, spec)) is not None]
            if errors:
                failed += 1
                print(f"{study}: FAILED to regenerate: {'; '.join(errors)}")
                continue
            found = differences(reference / "results" / study, candidate / "results" / study)
            old = "" if committed == (reference / "results" / study / "REPORT.md").read_bytes() else \
                f" (the committed REPORT.md differs from {args.against}'s regeneration: written by older code)"
            if found:
                failed += 1
                print(f"{study}: DIFFERS{old}", *(f"  {line}" for line in found), sep="\n")
            else:
                print(f"{study}: identical{old}")
        print(f"{failed} stud{'y' if failed == 1 else 'ies'} not regenerated identically" if failed else "every report regenerates identically")
        return 1 if failed else 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
