"""Time the music chunk loader against reading the same chunks through musdb's track objects.

Run as `.venv/bin/python benchmarks/bench_music_loader.py [--root data/music]`;
prints a markdown table and writes it to benchmarks/results/music_loader.md.
Without --root (or with a missing folder) it first generates the default
corpus of `separation data music` into a temporary folder.

Both readers fetch the same random (track, offset) chunks of all four sources,
one process, cold start per chunk as a training loader would: musdb sets
`track.chunk_start` / `track.chunk_duration` and reads `track.sources[s].audio`
(one ffmpeg process per source and chunk); ours reads the wav files with
a memory map at a sample offset (`read_chunk`). The last row is the full training
pipeline (random-track remixing, gain and channel-swap augmentation, targets)
through a DataLoader with worker processes. Target: ours at least 20x faster.
"""

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from separation.data.music_corpus import generate_music_corpus  # noqa: E402
from separation.data.music_datasets import (  # noqa: E402
    SOURCES,
    MusicTrainDataset,
    find_music_tracks,
    read_chunk,
    target_definitions,
)
from separation.data.speech_datasets import EpochSeededSampler  # noqa: E402

TARGET_RATIO = 20.0


def musdb_chunk(track, start: int, length: int) -> np.ndarray:
    """The four sources of one chunk through a musdb track: `(sources, channels, length)`."""
    track.chunk_start = start / track.rate
    track.chunk_duration = length / track.rate
    return np.stack([track.sources[s].audio.T[:, :length] for s in SOURCES]).astype(np.float32)


def our_chunk(track, start: int, length: int) -> np.ndarray:
    return np.stack([read_chunk(track.sources[s], start, length, track.channels) for s in SOURCES])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, help="MUSDB18-HQ-layout corpus (default: generate one in a temp folder)")
    parser.add_argument("--chunks", type=int, default=16, help="chunks read by each reader")
    parser.add_argument("--seconds", type=float, default=11.88, help="chunk length (Spleeter's 512 frames)")
    parser.add_argument("--passes", type=int, default=3, help="timed passes of our reader (the first one is reported too)")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers for the pipeline row")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--output", type=Path, default=Path(__file__).resolve().parent / "results" / "music_loader.md")
    args = parser.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory(prefix="music-bench-") as scratch:
        root = args.root
        generated = ""
        if root is None or not root.is_dir():
            root = Path(scratch) / "music"
            started = time.perf_counter()
            generate_music_corpus(root, log=None)
            generated = f" (generated default corpus in {time.perf_counter() - started:.1f} s)"
        import musdb

        db = musdb.DB(root=str(root), is_wav=True, subsets="train")
        ours = {t.name: t for t in find_music_tracks(root, "train")}
        tracks = [t for t in db.tracks if t.name in ours]
        rate = int(tracks[0].rate)
        length = int(round(args.seconds * rate))
        rng = np.random.default_rng(0)
        plan = []
        for _ in range(args.chunks):
            track = tracks[int(rng.integers(len(tracks)))]
            plan.append((track, int(rng.integers(0, ours[track.name].frames - length + 1))))

        # One untimed chunk each: imports, the first ffmpeg start and lazy initialisation are not reading.
        musdb_chunk(*plan[0], length)
        our_chunk(ours[plan[0][0].name], plan[0][1], length)
        # Chunk by chunk, nothing kept: a loader hands each chunk on, and holding hundreds of
        # megabytes would time the allocator's page faults instead of the reading.
        musdb_seconds, passes, difference = 0.0, [0.0] * args.passes, 0.0
        for track, start in plan:
            started = time.perf_counter()
            reference = musdb_chunk(track, start, length)
            musdb_seconds += time.perf_counter() - started
            for index in range(args.passes):
                started = time.perf_counter()
                fast = our_chunk(ours[track.name], start, length)
                passes[index] += time.perf_counter() - started
            difference = max(difference, float(np.abs(reference - fast).max()))

        targets = target_definitions(root, ["vocals", "accompaniment"])
        dataset = MusicTrainDataset(list(ours.values()), targets, length, args.chunks)
        sampler = EpochSeededSampler(len(ours), seed=0, num_samples=args.chunks)
        loader = DataLoader(dataset, batch_size=args.batch, sampler=sampler, num_workers=args.workers)
        started = time.perf_counter()
        batches = sum(1 for _ in loader)
        pipeline_seconds = time.perf_counter() - started

    first, median = passes[0], statistics.median(passes)
    ratio = musdb_seconds / first
    command = " ".join([".venv/bin/python", "benchmarks/bench_music_loader.py", *sys.argv[1:]])
    machine = (
        f"{os.cpu_count()}-core CPU ({platform.processor() or platform.machine()}), "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    per_chunk = lambda seconds: 1e3 * seconds / args.chunks  # noqa: E731
    lines = [
        "# Music chunk loader vs musdb track objects",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {machine}.",
        f"Corpus: {root.name if args.root else 'generated'}{generated}; {len(ours)} training tracks, "
        f"{args.chunks} random chunks of {args.seconds:g} s x 4 sources, stereo {rate} Hz. "
        "One untimed chunk per reader first; then per chunk musdb reads it once and ours "
        f"{args.passes} times (first pass, and the median over passes).",
        "",
        "| reader | total s | ms per chunk | speed-up |",
        "|---|---:|---:|---:|",
        f"| musdb `track.sources[s].audio` (ffmpeg) | {musdb_seconds:.2f} | {per_chunk(musdb_seconds):.1f} | 1.0x |",
        f"| ours, `read_chunk` (memory-mapped wav), first pass | {first:.3f} | {per_chunk(first):.1f} | {ratio:.1f}x |",
        f"| ours, `read_chunk`, median of {args.passes} passes | {median:.3f} | {per_chunk(median):.1f} | "
        f"{musdb_seconds / median:.1f}x |",
        f"| training pipeline, {args.workers} workers, batch {args.batch} ({batches} batches) | {pipeline_seconds:.3f} | "
        f"{per_chunk(pipeline_seconds):.1f} | {musdb_seconds / pipeline_seconds:.1f}x |",
        "",
        f"Largest sample difference between the two readers: {difference:.2e}.",
        f"Target: at least {TARGET_RATIO:g}x faster than musdb on the same chunks (first pass): {ratio:.1f}x, "
        f"{'met' if ratio >= TARGET_RATIO else 'NOT met'}.",
    ]
    table = "\n".join(lines) + "\n"
    print(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(table)


if __name__ == "__main__":
    main()
