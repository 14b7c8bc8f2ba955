"""Peak memory of `separation separate` on 30 s versus 10 min of audio, and its real-time factor on CPU.

    .venv/bin/python benchmarks/bench_separate_memory.py [--device cpu]

Each measurement runs `separate_files` (read the wav, chunked separation,
write one wav per source) in a fresh subprocess and reports that process's
peak resident memory (`ru_maxrss`), its resident memory just before
separating (after imports, model load and a one-chunk warm-up), and the
separation's wall time. Memory uses a tiny random-init SVoice: its weights
do not matter to memory, and it keeps the 10-minute run short.
The target: peak memory at 10 min is at most 1.3x that at 30 s. For contrast,
the same model separates the 10-min file as one chunk (no chunking). The
real-time factor (wall seconds per audio second) is measured on 30 s for the
tiny model, the small CPU-study size (`experiments/configs/svoice_cpu.yaml`)
and the reference size (N=128, H=128, R=6). Writes the table to
`benchmarks/results/separate_memory.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RATE = 8000
TARGET_RATIO = 1.3
SIZES = {
    "tiny": {"enc_dim": 32, "kernel_size": 8, "hidden_size": 16, "num_repeats": 1},
    "small": {"enc_dim": 64, "kernel_size": 8, "hidden_size": 48, "num_repeats": 2},
    "reference": {"enc_dim": 128, "kernel_size": 8, "hidden_size": 128, "num_repeats": 6},
}


def _rss_mb() -> float:
    """Current resident set size (Linux /proc), in MiB."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _save_checkpoint(path: Path, size: str) -> None:
    """A random-init SVoice in the format `separation train` writes (see SeparationSystem.on_save_checkpoint)."""
    from separation.config import Config, ModelConfig, config_to_dict
    from separation.models import build_model

    args = {"n_src": 2, "sample_rate": RATE, "segment_seconds": 4.0, **SIZES[size]}
    torch.manual_seed(0)
    model = build_model("svoice", args)
    config = Config(model=ModelConfig(name="svoice", args=SIZES[size]))
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
                "model_spec": {"name": "svoice", "args": args}, "config": config_to_dict(config)}, path)


def _write_input(path: Path, seconds: float) -> None:
    from separation.data.audio import write_wav

    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * RATE)) / RATE
    voices = np.sin(2 * np.pi * 180 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) + 0.3 * rng.standard_normal(t.size)
    write_wav(path, (0.2 * voices).astype(np.float32), RATE)


def child(args) -> None:
    """One measurement in this fresh process; prints a JSON line."""
    from separation.data.audio import read_wav
    from separation.inference.checkpoint import load_checkpoint
    from separation.inference.separate import build_separator, separate_files

    separator = build_separator(load_checkpoint(args.checkpoint), args.device)
    separator.separate(np.zeros((1, RATE), dtype=np.float32))  # warm-up: allocator and kernels
    before = _rss_mb()
    audio_seconds = read_wav(args.input).shape[-1] / RATE
    started = time.perf_counter()
    separate_files(args.checkpoint, [args.input], args.out, force=True, device=args.device,
                   chunk_seconds=args.chunk_seconds, log=None)
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"before_mb": before, "peak_mb": peak, "wall": wall, "audio_seconds": audio_seconds}))


def measure(checkpoint: Path, wav: Path, out: Path, device: str, chunk_seconds: float | None = None) -> dict:
    command = [sys.executable, __file__, "--child", str(checkpoint), str(wav), str(out), "--device", device]
    if chunk_seconds is not None:
        command += ["--chunk-seconds", str(chunk_seconds)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", nargs=3, metavar=("CKPT", "WAV", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--chunk-seconds", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--out", default="benchmarks/results/separate_memory.md")
    args = parser.parse_args()
    if args.child:
        args.checkpoint, args.input, args.out = args.child
        child(args)
        return

    rows, rtf_rows = [], []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for size in SIZES:
            _save_checkpoint(folder / f"{size}.ckpt", size)
        for seconds in (30, 600):
            _write_input(folder / f"{seconds}s.wav", seconds)
        for seconds, chunk, label in ((30, None, "chunked (8 s chunks, 25% overlap)"),
                                      (600, None, "chunked (8 s chunks, 25% overlap)"),
                                      (600, 600.0, "one chunk (no chunking)")):
            result = measure(folder / "tiny.ckpt", folder / f"{seconds}s.wav", folder / "out", args.device, chunk)
            rows.append((seconds, label, result))
            print(seconds, label, result, flush=True)
        for size in SIZES:
            result = measure(folder / f"{size}.ckpt", folder / "30s.wav", folder / "out", args.device)
            rtf_rows.append((size, result))
            print(size, result, flush=True)

    short, long = rows[0][2]["peak_mb"], rows[1][2]["peak_mb"]
    ratio = long / short
    threads_env = f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} " if "OMP_NUM_THREADS" in os.environ else ""
    lines = [
        "# Peak memory and real-time factor of `separation separate`",
        "",
        f"Command: `{threads_env}.venv/bin/python benchmarks/bench_separate_memory.py --device {args.device}`",
        "",
        f"Machine: {os.cpu_count()}-core CPU ({platform.machine()}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} intra-op threads, load average {os.getloadavg()[0]:.1f} at the end, device `{args.device}`.",
        "Each row is one fresh subprocess running `separate_files` (read wav, separate, write 2 wavs) on 8 kHz mono audio.",
        "",
        "## Peak memory (tiny random-init SVoice: N=32, L=8, H=16, R=1)",
        "",
        "| audio | path | RSS before separating (MiB) | peak RSS (MiB) | growth (MiB) | wall (s) |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for seconds, label, r in rows:
        lines.append(f"| {seconds} s | {label} | {r['before_mb']:.0f} | {r['peak_mb']:.0f} | "
                     f"{r['peak_mb'] - r['before_mb']:.0f} | {r['wall']:.1f} |")
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    lines += [
        "",
        f"Target: peak at 10 min at most {TARGET_RATIO}x peak at 30 s: {long:.0f} / {short:.0f} MiB = {ratio:.2f}x, {verdict}.",
        "",
        "## Real-time factor on 30 s (wall seconds per audio second; below 1 is faster than real time)",
        "",
        "| model size | N, L, H, R | wall (s) | real-time factor |",
        "|---|---|---:|---:|",
    ]
    for size, r in rtf_rows:
        s = SIZES[size]
        lines.append(f"| {size} | {s['enc_dim']}, {s['kernel_size']}, {s['hidden_size']}, {s['num_repeats']} | "
                     f"{r['wall']:.1f} | {r['wall'] / r['audio_seconds']:.3f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
