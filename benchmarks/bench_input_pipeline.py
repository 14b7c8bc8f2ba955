"""How much of a CPU training step is spent waiting for data, per model family at its CPU study size.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_input_pipeline.py [--batches 20]

Each family's config (the one its committed CPU study trained) builds its own
training loader (`data.num_workers` as configured: 0, the main process, as every
CPU study ran); the time to draw `--batches` batches from it is set against the
family's fp32 training step on those batches (forward, loss, backward, clip,
optimizer step: the step of bench_cpu_precision.py), alternated in one process.
The figure is the share of a step (load + compute) spent loading. Writes
benchmarks/results/input_pipeline.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from separation.atomic import write_text_atomic

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cpu_precision import FAMILIES, REPO, _cpu, _train_step  # noqa: E402


def measure(name: str, config_path: str, batches: int) -> dict:
    from separation import optim
    from separation.config import load_config
    from separation.tasks import get_task

    config = load_config(REPO / config_path, {"trainer.precision": "32"})
    system_class, datamodule = get_task(config.task).parts(config)
    datamodule.setup("fit")
    torch.manual_seed(0)
    system = system_class(config)
    system.log = lambda *args, **kwargs: None
    optimizer = optim.build_optimizer(config.optimizer.name, system.parameters(), config.optimizer.lr,
                                      config.optimizer.weight_decay, config.optimizer.args)
    loads, steps = [], []
    loader = iter(datamodule.train_dataloader())
    batch = next(loader)
    _train_step(system, optimizer, batch, bf16=False)  # warm-up
    for _ in range(batches):
        start = time.perf_counter()
        try:
            batch = next(loader)
        except StopIteration:
            loader = iter(datamodule.train_dataloader())
            batch = next(loader)
        loads.append(time.perf_counter() - start)
        start = time.perf_counter()
        _train_step(system, optimizer, batch, bf16=False)
        steps.append(time.perf_counter() - start)
    load, step = statistics.median(loads), statistics.median(steps)
    return {"family": name, "config": config_path, "num_workers": config.data.num_workers, "load_s": load,
            "step_s": step, "share": load / (load + step)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--batches", type=int, default=20, help="batches drawn and trained per family")
    parser.add_argument("--out", default="benchmarks/results/input_pipeline.md")
    args = parser.parse_args()
    rows = []
    for name, path in FAMILIES.items():
        try:
            rows.append(measure(name, path, args.batches))
        except Exception as error:  # a corpus not generated here: say so
            rows.append({"family": name, "config": path, "error": f"{type(error).__name__}: {error}".splitlines()[0][:160]})
        print(rows[-1], flush=True)
    lines = ["# Waiting for data: the input pipeline's share of a CPU training step", "",
             f"CPU: {_cpu()}; {torch.get_num_threads()} thread(s); median of {args.batches} batches per family, "
             "each drawn from the family's own training loader and then trained on (fp32), in one process.", "",
             f"    OMP_NUM_THREADS={torch.get_num_threads()} .venv/bin/python benchmarks/bench_input_pipeline.py "
             + " ".join(sys.argv[1:]), "",
             "| family | config | loader workers | load s/batch | step s | share of the step spent loading |",
             "|---|---|---:|---:|---:|---:|"]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['family']} | `{row['config']}` | not measured: {row['error']} | | | |")
        else:
            lines.append(f"| {row['family']} | `{row['config']}` | {row['num_workers']} | {row['load_s']:.4f} | "
                         f"{row['step_s']:.3f} | **{row['share']:.1%}** |")
    out = REPO / args.out
    write_text_atomic(out, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
