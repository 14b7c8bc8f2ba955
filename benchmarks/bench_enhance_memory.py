"""Peak memory and real-time factor of `separation separate` on an enhancement checkpoint: 30 s versus 50 min of 16 kHz audio.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_enhance_memory.py [--device cpu] [--model crced|convtasnet]

Each measurement runs `separate_files` (stream the wav through 4 s chunks in
batches of 8, overlap-add with a raised-cosine cross-fade, write `speech.wav`)
in a fresh subprocess and reports that process's peak resident memory
(`ru_maxrss`), its resident memory just before separating (after imports,
model load and a one-chunk warm-up), and the wall time. The model is a tiny
random-init CR-CED by default: its weights do not matter to memory or speed,
and it keeps the 50-minute run to about a minute of CPU. For contrast, the
50-minute file also goes through the in-memory path (`Separator.separate` on
the whole array, then one `write_wav`), which `separate_files` takes when the
file's rate differs from the model's. Target: peak at 50 min at most 1.3x peak
at 30 s. Writes `benchmarks/results/enhance_memory.md`.
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

RATE = 16000
TARGET_RATIO = 1.3
MODELS = {
    # A tiny CR-CED (the enhance_tiny.yaml size).
    "crced": {"n_fft": 256, "hop_length": 64, "context_frames": 4, "filters": [8, 12, 8], "widths": [5, 3, 5], "repeats": 1},
    # A small Conv-TasNet (the enhance_cpu.yaml size).
    "convtasnet": {"N": 64, "L": 16, "B": 32, "H": 64, "P": 3, "X": 4, "R": 1},
}


def _rss_mb() -> float:
    """Current resident set size (Linux /proc), in MiB."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _save_checkpoint(path: Path, model_name: str) -> None:
    """A random-init denoiser in the format `separation train` writes (see SeparationSystem.on_save_checkpoint)."""
    from separation.config import Config, EnhanceDataConfig, ModelConfig, config_to_dict
    from separation.models import build_model

    args = MODELS[model_name]
    torch.manual_seed(0)
    model = build_model(model_name, args)
    config = Config(task="enhance", model=ModelConfig(name=model_name, args=args), data=EnhanceDataConfig(sample_rate=RATE))
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
                "model_spec": {"name": model_name, "args": args}, "config": config_to_dict(config)}, path)


def _write_input(path: Path, seconds: float) -> None:
    """Speech-like bursts plus noise, written block by block so the parent stays small too."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    block = 60 * RATE
    with sf.SoundFile(str(path), "w", samplerate=RATE, channels=1, subtype="FLOAT", format="WAV") as handle:
        total = int(seconds * RATE)
        for start in range(0, total, block):
            t = (np.arange(start, min(start + block, total)) / RATE)
            voice = np.sin(2 * np.pi * 180 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
            handle.write((0.2 * voice + 0.05 * rng.standard_normal(t.size)).astype(np.float32))


def child(args) -> None:
    """One measurement in this fresh process; prints a JSON line."""
    from separation.data.audio import audio_info, read_wav, write_wav
    from separation.inference.checkpoint import load_checkpoint
    from separation.inference.separate import build_separator, separate_files

    separator = build_separator(load_checkpoint(args.checkpoint), args.device)
    separator.separate(np.zeros((1, RATE), dtype=np.float32))  # warm-up: allocator and kernels
    before = _rss_mb()
    frames = audio_info(args.input).frames
    started = time.perf_counter()
    if args.in_memory:
        estimate = separator.separate(read_wav(args.input)[None])
        write_wav(Path(args.out) / "speech.wav", estimate[0, 0], RATE)
        length = estimate.shape[-1]
    else:
        separate_files(args.checkpoint, [args.input], args.out, force=True, device=args.device, log=None)
        length = audio_info(Path(args.out) / Path(args.input).stem / "speech.wav").frames
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"before_mb": before, "peak_mb": peak, "wall": wall, "audio_seconds": frames / RATE,
                      "same_length": length == frames}))


def measure(checkpoint: Path, wav: Path, out: Path, device: str, in_memory: bool = False) -> dict:
    command = [sys.executable, __file__, "--child", str(checkpoint), str(wav), str(out), "--device", device]
    if in_memory:
        command.append("--in-memory")
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", choices=tuple(MODELS), default="crced")
    parser.add_argument("--child", nargs=3, metavar=("CKPT", "WAV", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--in-memory", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", default="benchmarks/results/enhance_memory.md")
    parser.add_argument("--lengths", type=int, nargs="+", metavar="SECONDS",
                        help="only print the streamed peak for these lengths (how the peak settles); writes nothing")
    args = parser.parse_args()
    if args.child:
        args.checkpoint, args.input, args.out = args.child
        child(args)
        return
    if args.lengths:
        with tempfile.TemporaryDirectory() as folder:
            folder = Path(folder)
            _save_checkpoint(folder / "model.ckpt", args.model)
            for seconds in args.lengths:
                _write_input(folder / f"{seconds}s.wav", seconds)
                result = measure(folder / "model.ckpt", folder / f"{seconds}s.wav", folder / "out", args.device)
                print(f"{seconds} s streamed: peak {result['peak_mb']:.0f} MiB, before {result['before_mb']:.0f} MiB, "
                      f"wall {result['wall']:.1f} s", flush=True)
        return

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        _save_checkpoint(folder / "model.ckpt", args.model)
        for seconds in (30, 3000):
            _write_input(folder / f"{seconds}s.wav", seconds)
        for seconds, in_memory, label in ((30, False, "streamed (separate_files)"),
                                          (3000, False, "streamed (separate_files)"),
                                          (3000, True, "in memory (whole array, one write)")):
            result = measure(folder / "model.ckpt", folder / f"{seconds}s.wav", folder / "out", args.device, in_memory)
            rows.append((seconds, label, result))
            print(seconds, label, result, flush=True)

    short, long = rows[0][2]["peak_mb"], rows[1][2]["peak_mb"]
    ratio = long / short
    threads_env = f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} " if "OMP_NUM_THREADS" in os.environ else ""
    args_text = ", ".join(f"{k}={v}" for k, v in MODELS[args.model].items())
    lines = [
        "# Peak memory and real-time factor of `separation separate` on an enhancement checkpoint",
        "",
        f"Command: `{threads_env}.venv/bin/python benchmarks/bench_enhance_memory.py --device {args.device} --model {args.model}`",
        "",
        f"Machine: {os.cpu_count()}-core CPU ({platform.machine()}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} intra-op threads, load average {os.getloadavg()[0]:.1f} at the end, device `{args.device}`.",
        f"Model: random-init `{args.model}` ({args_text}); task defaults: 4 s chunks, 25% overlap, 8 chunks per call.",
        "Each row is one fresh subprocess on 16 kHz mono float32 audio (30 s: 1.8 MiB of samples; 50 min: 183 MiB).",
        "",
        "| audio | path | RSS before separating (MiB) | peak RSS (MiB) | growth (MiB) | wall (s) | real-time factor | output length = input length |",
        "|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for seconds, label, r in rows:
        audio = f"{seconds} s" if seconds < 60 else f"{seconds // 60} min"
        lines.append(f"| {audio} | {label} | {r['before_mb']:.0f} | {r['peak_mb']:.0f} | {r['peak_mb'] - r['before_mb']:.0f} | "
                     f"{r['wall']:.1f} | {r['wall'] / r['audio_seconds']:.4f} | {'yes' if r['same_length'] else 'NO'} |")
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    lines += [
        "",
        f"Target: peak at 50 min at most {TARGET_RATIO}x peak at 30 s (streamed rows): {long:.0f} / {short:.0f} MiB = {ratio:.2f}x, {verdict}.",
        "Real-time factor: wall seconds per audio second (below 1 is faster than real time).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
