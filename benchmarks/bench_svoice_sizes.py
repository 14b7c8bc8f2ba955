"""What a wider or deeper SVoice costs per training step, as a ratio to the CPU recipe's size.

    OMP_NUM_THREADS=T .venv/bin/python benchmarks/bench_svoice_sizes.py [--steps 5] [--out PATH]

The sizes a CPU transfer study might try next (results/speech_transfer): the
`svoice_cpu` model (N=64, H=48, R=2) is the baseline, and each other size is
timed in the same process, alternated with it round by round, on the recipe's
batch (4 x 1.5 s at 8 kHz): forward, multi-stage PIT loss, backward, clip, Adam
step (`bench_svoice_step.plain_step`). The figure is the ratio of median step
times; seconds are printed too but depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_svoice_step import RATE, SIZES, _batches, plain_step  # noqa: E402

SMALL = SIZES["small"]["model"]  # the `svoice_cpu` model: N=64, L=8, H=48, R=2
BASELINE = "N=64 H=48 R=2"
CANDIDATES = {
    BASELINE: SMALL,
    "N=64 H=96 R=2": {**SMALL, "hidden_size": 96},
    "N=64 H=48 R=4": {**SMALL, "num_repeats": 4},
    "N=64 H=96 R=3": {**SMALL, "hidden_size": 96, "num_repeats": 3},
    "N=64 H=128 R=2": {**SMALL, "hidden_size": 128},
    "N=64 H=96 R=4": {**SMALL, "hidden_size": 96, "num_repeats": 4},
    "N=128 H=128 R=2": {**SMALL, "enc_dim": 128, "hidden_size": 128},
}


def _model(args: dict):
    from separation.models.svoice import SVoice

    torch.manual_seed(0)
    return SVoice(n_src=2, sample_rate=RATE, segment_seconds=SIZES["small"]["seconds"], input_normalization=True, **args)

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="timed steps per size and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each timing every size once")
    parser.add_argument("--out", default="benchmarks/results/svoice_sizes_cpu_{threads}threads.md")
    args = parser.parse_args()

    batches = _batches(SIZES["small"], 2, "cpu")
    built = {}
    for name, model_args in CANDIDATES.items():
        model = _model(model_args)
        built[name] = (model, torch.optim.Adam(model.parameters(), lr=3e-3))
    times: dict[str, list[float]] = {name: [] for name in CANDIDATES}
    for name, (model, optimizer) in built.items():  # warm-up: allocator and kernel selection
        plain_step(model, optimizer, batches[0]["mixture"], batches[0]["sources"])
    for _ in range(args.rounds):
        for name, (model, optimizer) in built.items():
            for step in range(args.steps):
                batch = batches[step % 2]
                start = time.perf_counter()
                plain_step(model, optimizer, batch["mixture"], batch["sources"])
                times[name].append(time.perf_counter() - start)

    base = statistics.median(times[BASELINE])
    threads = torch.get_num_threads()
    lines = [f"# SVoice training-step cost by size, relative to {BASELINE} (the `svoice_cpu` model)", "",
             f"{platform.machine()} CPU, {threads} threads, torch {torch.__version__}; batch 4 x 1.5 s at 8 kHz; "
             f"median of {args.rounds} x {args.steps} steps per size, sizes alternated round by round in one process.", "",
             "    " + " ".join([f"OMP_NUM_THREADS={threads}", ".venv/bin/python", "benchmarks/bench_svoice_sizes.py", *sys.argv[1:]]), "",
             "| size | parameters | seconds per step | ratio to the baseline |", "|---|---:|---:|---:|"]
    for name, (model, _) in built.items():
        median = statistics.median(times[name])
        parameters = sum(p.numel() for p in model.parameters())
        lines.append(f"| {name} | {parameters / 1e6:.2f} M | {median:.2f} | {median / base:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out.format(threads=threads))
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_suffix(out.suffix + ".tmp")
    temporary.write_text(text)
    temporary.replace(out)


if __name__ == "__main__":
    main()
