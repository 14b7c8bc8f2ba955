"""Time the PIT SI-SNR loss: pairwise matrix, permutation search, forward, forward+backward.

Run as `.venv/bin/python benchmarks/bench_pit.py [--device cuda]`; prints a
markdown table and writes it to benchmarks/results/pit_<device>.md.
The target under test: the permutation search for 10 sources at batch 8 takes
under 5 ms. The search is timed apart from the SI-SNR matrix, whose cost grows
with sources squared times samples and says nothing about the search.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from separation.losses import find_best_permutation, pairwise_si_snr, pit_si_snr  # noqa: E402
from separation.losses.pit import MAX_EXHAUSTIVE_AUTO  # noqa: E402

SEARCH_TARGET_MS = 5.0
TARGET_SOURCES = 10


def median_ms(fn, device: torch.device, warmup: int, repeats: int) -> float:
    """Median wall time of fn() in milliseconds, after warm-up calls."""

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def bench_sources(n_src: int, args, device: torch.device) -> dict:
    generator = torch.Generator().manual_seed(n_src)
    reference = torch.randn(args.batch, n_src, args.samples, generator=generator).to(device)
    estimate = torch.randn(args.batch, n_src, args.samples, generator=generator).to(device)
    estimate_grad = estimate.clone().requires_grad_(True)
    with torch.no_grad():
        pairwise_loss = -pairwise_si_snr(estimate, reference)

    def forward_backward():
        loss, _ = pit_si_snr(estimate_grad, reference)
        loss.backward()
        estimate_grad.grad = None

    def timed(fn):
        return median_ms(fn, device, args.warmup, args.repeats)

    with torch.no_grad():
        matrix_ms = timed(lambda: pairwise_si_snr(estimate, reference))
        search_ms = timed(lambda: find_best_permutation(pairwise_loss))
        forward_ms = timed(lambda: pit_si_snr(estimate, reference))
    return {
        "sources": n_src,
        "method": "exhaustive" if n_src <= MAX_EXHAUSTIVE_AUTO else "hungarian",
        "matrix": matrix_ms,
        "search": search_ms,
        "forward": forward_ms,
        "forward_backward": timed(forward_backward),
    }


def machine_description(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    # Shared machines time noisily; the load average tells a reader how much.
    load = os.getloadavg()[0]
    return (
        f"{os.cpu_count()}-core CPU ({platform.processor() or platform.machine()}), torch {torch.__version__}, "
        f"load average {load:.1f} at start"
    )


def render(rows: list[dict], args, machine: str) -> str:
    command = " ".join([".venv/bin/python", "benchmarks/bench_pit.py", *sys.argv[1:]])
    lines = [
        "# PIT SI-SNR timings",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {machine}.",
        f"Batch {args.batch}, {args.samples} samples per source; median of {args.repeats} runs after "
        f"{args.warmup} warm-up runs, in milliseconds.",
        "",
        "| sources | search method | SI-SNR matrix | permutation search | pit_si_snr forward | forward+backward |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['sources']} | {r['method']} | {r['matrix']:.2f} | {r['search']:.3f} | "
            f"{r['forward']:.2f} | {r['forward_backward']:.2f} |"
        )
    target = [r for r in rows if r["sources"] == TARGET_SOURCES]
    if target:
        met = "met" if target[0]["search"] < SEARCH_TARGET_MS else "NOT met"
        lines += [
            "",
            f"Target: permutation search for {TARGET_SOURCES} sources at batch {args.batch} under "
            f"{SEARCH_TARGET_MS:g} ms: {target[0]['search']:.3f} ms, {met}.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--sources", type=int, nargs="+", default=[2, 3, 5, TARGET_SOURCES])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--samples", type=int, default=32000, help="4 s at 8 kHz by default")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="CPU intra-op threads (1 is stable on a shared machine)")
    parser.add_argument("--output", type=Path, help="default: benchmarks/results/pit_<device>.md")
    args = parser.parse_args()

    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda given but no CUDA device is available")
    machine = f"{machine_description(device)}, {torch.get_num_threads()} intra-op threads, device `{device}`"
    rows = [bench_sources(n_src, args, device) for n_src in args.sources]
    table = render(rows, args, machine)
    print(table)
    output = args.output or Path(__file__).resolve().parent / "results" / f"pit_{device.type}.md"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(table)


if __name__ == "__main__":
    main()
