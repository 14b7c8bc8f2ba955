"""SVoice training-step cost, and what Lightning adds on top of a plain PyTorch loop.

    .venv/bin/python benchmarks/bench_svoice_step.py [--device cuda] [--precision bf16-mixed]

Part 1: seconds per training step and peak memory, at the reference size
(N=128, H=128, R=6, 4 s, batch 1) and at the small CPU-study size, each measured
in a fresh subprocess (peak RSS on CPU, peak allocated memory on CUDA).
Part 2: the same small model and the same batches trained by a plain loop
(forward, multi-stage PIT loss, backward, clip, step) and by Lightning through
`SpeechSeparationSystem` (with its per-step gradient-norm and LR logging),
alternated in one process; the figure is the ratio of their median step times.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

SIZES = {
    "reference": {"model": {"enc_dim": 128, "kernel_size": 8, "hidden_size": 128, "num_repeats": 6}, "seconds": 4.0, "batch": 1},
    "small": {"model": {"enc_dim": 64, "kernel_size": 8, "hidden_size": 48, "num_repeats": 2}, "seconds": 1.5, "batch": 4},
}
RATE = 8000


def _batches(size: dict, count: int, device: str, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    samples = int(size["seconds"] * RATE)
    out = []
    for _ in range(count):
        sources = torch.randn(size["batch"], 2, samples, generator=generator) * 0.1
        out.append({"mixture": sources.sum(1).to(device), "sources": sources.to(device)})
    return out


def _autocast(device: str, precision: str):
    if precision == "bf16-mixed":
        return torch.autocast(device_type=device, dtype=torch.bfloat16)
    return torch.autocast(device_type=device, enabled=False)


def plain_step(model, optimizer, mixture: torch.Tensor, sources: torch.Tensor, autocast=None) -> None:
    """One training step as the suite's system does it: multi-stage PIT loss, clip at norm 5, step.

    `autocast` (a context manager) wraps the forward pass only, never the backward.
    """
    from separation.losses import multistage_pit_si_snr

    with autocast or contextlib.nullcontext():
        estimates = model(mixture)
    loss = multistage_pit_si_snr(estimates, sources)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    optimizer.step()


def measure_step(size_name: str, device: str, precision: str, steps: int) -> dict:
    """Run in a fresh process: median seconds per step and peak memory."""
    from separation.models.svoice import SVoice

    size = SIZES[size_name]
    torch.manual_seed(0)
    model = SVoice(n_src=2, sample_rate=RATE, segment_seconds=size["seconds"], **size["model"]).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = _batches(size, 2, device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for step in range(steps + 1):
        batch = batches[step % 2]
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        plain_step(model, optimizer, batch["mixture"], batch["sources"], _autocast(device, precision))
        if device == "cuda":
            torch.cuda.synchronize()
        if step:  # the first step pays one-off allocation and kernel selection
            times.append(time.perf_counter() - start)
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
        memory = f"{peak:.0f} MiB allocated (peak)"
    else:
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_rss) / 1024
        memory = f"{grown:.0f} MiB RSS above the built model"
    return {
        "size": size_name,
        "parameters": sum(p.numel() for p in model.parameters()),
        "batch": f"{size['batch']} x {size['seconds']:g} s",
        "sec_per_step": statistics.median(times),
        "memory": memory,
    }


def lightning_overhead(device: str, steps: int, rounds: int) -> dict:
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader

    from separation.config import config_from_dict
    from separation.models.svoice import SVoice
    from separation.systems.speech import SpeechSeparationSystem

    size = SIZES["small"]
    batches = _batches(size, steps, "cpu")

    def plain() -> float:
        torch.manual_seed(0)
        model = SVoice(n_src=2, sample_rate=RATE, segment_seconds=size["seconds"], **size["model"]).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        model.train()
        start = time.perf_counter()
        for batch in batches:
            plain_step(model, optimizer, batch["mixture"].to(device), batch["sources"].to(device))
        if device == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - start) / len(batches)

    config = config_from_dict({
        "model": {"name": "svoice", "args": size["model"]},
        "data": {"segment_seconds": size["seconds"], "batch_size": size["batch"]},
        "optimizer": {"name": "adam", "lr": 1e-3},
        "clipping": {"mode": "norm", "value": 5.0},
    })

    class Timed(pl.Callback):
        def on_train_start(self, trainer, module):
            self.start = time.perf_counter()

        def on_train_end(self, trainer, module):
            if device == "cuda":
                torch.cuda.synchronize()
            self.elapsed = time.perf_counter() - self.start

    def lightning() -> float:
        torch.manual_seed(0)
        system = SpeechSeparationSystem(config)
        timer = Timed()
        trainer = pl.Trainer(
            accelerator="gpu" if device == "cuda" else "cpu", devices=1, max_epochs=1, logger=False,
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
            gradient_clip_val=5.0, gradient_clip_algorithm="norm", num_sanity_val_steps=0, limit_val_batches=0,
            callbacks=[timer],
        )
        loader = DataLoader(batches, batch_size=None, shuffle=False)
        trainer.fit(system, train_dataloaders=loader)
        return timer.elapsed / len(batches)

    plain(), lightning()  # warm-up: allocator, kernels, imports
    plain_times, lightning_times = [], []
    for _ in range(rounds):
        plain_times.append(plain())
        lightning_times.append(lightning())
    ratio = statistics.median(lightning_times) / statistics.median(plain_times)
    return {
        "plain_sec_per_step": statistics.median(plain_times),
        "lightning_sec_per_step": statistics.median(lightning_times),
        "ratio": ratio,
        "rounds": rounds,
        "steps": steps,
    }


def _machine(device: str) -> str:
    if device == "cuda":
        return f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    return f"{platform.machine()} CPU, {torch.get_num_threads()} threads, torch {torch.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--precision", default="32", choices=("32", "bf16-mixed"))
    parser.add_argument("--steps", type=int, default=3, help="timed steps per size (part 1)")
    parser.add_argument("--overhead-steps", type=int, default=12, help="steps per round (part 2)")
    parser.add_argument("--rounds", type=int, default=5, help="alternated plain/Lightning rounds (part 2)")
    parser.add_argument("--out", default="benchmarks/results/svoice_step_{device}.md")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: one part-1 measurement
    args = parser.parse_args()

    if args.one:
        print(json.dumps(measure_step(args.one, args.device, args.precision, args.steps)))
        return

    rows = []
    for name in SIZES:
        done = subprocess.run([sys.executable, __file__, "--one", name, "--device", args.device,
                               "--precision", args.precision, "--steps", str(args.steps)],
                              capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    overhead = lightning_overhead(args.device, args.overhead_steps, args.rounds)
    print(overhead, flush=True)

    command = " ".join(["python", *sys.argv])
    lines = [
        f"# SVoice training step on {args.device} ({args.precision})",
        "",
        f"Command: `{command}`  ",
        f"Machine: {_machine(args.device)}; load average at start of write-up {Path('/proc/loadavg').read_text().split()[0] if Path('/proc/loadavg').exists() else 'n/a'}",
        "",
        "| size | parameters | batch | s / step (median) | peak memory |",
        "|---|---:|---|---:|---|",
        *[f"| {r['size']} | {r['parameters']:,} | {r['batch']} | {r['sec_per_step']:.3f} | {r['memory']} |" for r in rows],
        "",
        f"Lightning vs plain loop (small size, {overhead['steps']} steps x {overhead['rounds']} alternated rounds): "
        f"plain {overhead['plain_sec_per_step']:.4f} s/step, Lightning {overhead['lightning_sec_per_step']:.4f} s/step, "
        f"ratio **{overhead['ratio']:.3f}** (target <= 1.05).",
        "",
    ]
    out = Path(args.out.format(device=args.device + ("_bf16" if args.precision == "bf16-mixed" else "")))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
