"""Check that the corpus generators write the same bytes: this checkout's code against another commit's.

    .venv/bin/python scripts/check_corpus_regeneration.py                 # the working tree against HEAD
    .venv/bin/python scripts/check_corpus_regeneration.py --against HEAD~3 --keep /tmp/corpora

A restructuring of `separation/data/` must not change a generated corpus: the
committed studies' numbers stand on those bytes. Both versions of the code
(the reference from `git archive <commit>`, the candidate from the working
tree's `separation/`) build the same small corpora through the Python API,
which both understand: speech at 8 kHz (2 and 3 speakers, a held-out family,
rooms and codecs), speech at 16 kHz from recorded families, speech from a
folder of the user's recordings, music, and noisy corpora over them (every
noise kind but ambient's Debian recordings is drawn as well when the package
is installed). Every file must be byte-identical; in csv and json files the
corpus root itself, which the files name, is replaced first. A few minutes on
one core. Exit status 0 when everything matches, 1 otherwise.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# One Python program per code version: builds every corpus under argv[1] from the inputs under argv[2].
BUILD = """
import sys
from pathlib import Path
from separation.data.music_corpus import generate_music_corpus
from separation.data.noisy_corpus import generate_noisy_corpus
from separation.data.speech_corpus import generate_speech_corpus

out, inputs = Path(sys.argv[1]), Path(sys.argv[2])
small = dict(n_train=4, n_dev=2, n_test=2, utterances_per_speaker=2, speakers=(6, 3, 3), log=None)
generate_speech_corpus(out / "speech", seed=0, n_src_list=(2, 3), holdout_family="flite", reverb=0.5, codec=0.5,
                       modes=("min", "max"), mix_single=True, workers=2, **small)
generate_speech_corpus(out / "speech16", seed=1, sample_rate=16000, n_src_list=(2,),
                       families=("espeak", "prompts", "ktuberling"), workers=1, **small)
generate_speech_corpus(out / "own", seed=2, n_src_list=(2,), speakers_dir=inputs / "speakers", reverb=1.0,
                       **{**small, "utterances_per_speaker": 3})
generate_music_corpus(out / "music", seed=0, n_train=2, n_valid=1, n_test=1, seconds=2.0, workers=1, log=None)
generate_noisy_corpus(out / "noisy", out / "speech16", sample_rate=16000, snr_range=(-5, 10), noise_dir=inputs / "noise",
                      music_dir=out / "music", kinds=("white", "pink", "brown", "hum", "babble", "music", "recorded"),
                      log=None)
generate_noisy_corpus(out / "noisy_own", inputs / "speakers", sample_rate=16000, kinds=("pink", "hum"), seed=3,
                      items=(5, 2, 2), log=None)
"""

# The fixed inputs: a folder of four "speakers" (tones with a syllabic envelope) and three noise recordings.
INPUTS = """
import sys
from pathlib import Path
import numpy as np
from separation.data.audio import write_wav

root, rate = Path(sys.argv[1]), 16000
rng = np.random.default_rng(123)
for speaker in ("alice", "bob", "carol", "dave"):
    for index in range(3):
        time = np.arange(int(rate * (1.5 + 0.3 * index))) / rate
        tone = np.sin(2 * np.pi * rng.uniform(100, 250) * time) * (1 + 0.5 * np.sin(2 * np.pi * 3 * time))
        write_wav(root / "speakers" / speaker / f"u{index}.wav", 0.3 * tone + 0.01 * rng.standard_normal(len(time)),
                  rate, "PCM_16")
for index in range(3):
    write_wav(root / "noise" / f"n{index}.wav", 0.1 * rng.standard_normal(3 * rate), rate, "PCM_16")
"""


def export(commit: str, folder: Path) -> Path:
    """`separation/` as of `commit`, unpacked into `folder`."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "separation"], capture_output=True)
    if archive.returncode != 0:
        raise SystemExit(f"error: git archive {commit}: {archive.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def run(source: Path, program: str, *args: Path) -> None:
    """`program` with `source` first on the path, in a neutral folder (no relative path reaches the checkout)."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(source), "OMP_NUM_THREADS": "1", "HOME": str(args[0])}
    done = subprocess.run([sys.executable, "-c", program, *map(str, args)], cwd=args[0], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: building with {source} failed:\n{done.stderr.strip()}")


def compare(reference: Path, candidate: Path) -> list[str]:
    """Names of the files that differ, are missing or are extra (csv/json with the root path replaced)."""
    ours = {p.relative_to(reference) for p in reference.rglob("*") if p.is_file()}
    theirs = {p.relative_to(candidate) for p in candidate.rglob("*") if p.is_file()}
    problems = [f"only in the reference: {p}" for p in sorted(ours - theirs)]
    problems += [f"only in the candidate: {p}" for p in sorted(theirs - ours)]
    for name in sorted(ours & theirs):
        expected, got = (reference / name).read_bytes(), (candidate / name).read_bytes()
        if name.suffix in (".csv", ".json"):
            got = got.replace(str(candidate).encode(), str(reference).encode())
        if got != expected:
            problems.append(f"differs: {name}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--against", default="HEAD", help="the reference commit (default HEAD)")
    parser.add_argument("--keep", type=Path, help="build in this new folder and keep it (default: a temporary one)")
    args = parser.parse_args(argv)
    if args.keep is not None and args.keep.exists():
        raise SystemExit(f"error: {args.keep} exists; name a new folder")
    work = args.keep or Path(tempfile.mkdtemp(prefix="corpus-check-"))
    try:
        work.mkdir(parents=True, exist_ok=True)
        inputs, reference, candidate = work / "inputs", work / "reference", work / "candidate"
        for folder in (inputs, reference, candidate):
            folder.mkdir()
        run(ROOT, INPUTS, inputs)
        run(export(args.against, work / "reference_code"), BUILD, reference, inputs)
        run(ROOT, BUILD, candidate, inputs)
        problems = compare(reference, candidate)
        files = sum(1 for p in reference.rglob("*") if p.is_file())
        print(json.dumps({"against": args.against, "files": files, "problems": problems}, indent=2))
        return 1 if problems else 0
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
