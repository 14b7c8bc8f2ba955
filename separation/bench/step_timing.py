"""Time the training step of a config through Lightning, with the suite's own training system.

    python -m separation.bench.step_timing CONFIG.yaml --precisions 32,bf16-mixed --steps 50 [--device cuda]

The config's task's system (looked up in `separation.tasks`), model, optimizer, clipping and
determinism are the ones a study trains with; only the data is replaced by a
few fixed in-memory batches of synthetic voices shaped as the task's
(its `bench_batches`, `separation.bench.signals`), cycled, so every precision sees the same batches from the same initial weights
and the loss after N steps can be compared. The first `warmup` steps (cuDNN
plans, allocator growth) are not timed. Prints one JSON line per precision;
memory is released between precisions, so each peak is that precision's own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch

from separation.config import Config, load_config
from separation.tasks import get_task

DISTINCT_BATCHES = 4


def _clock_callback(device: str, max_seconds: float | None):
    """Per-step seconds (device synchronised) and training loss; built here so Lightning loads only to measure."""
    import pytorch_lightning as pl

    class Clock(pl.Callback):
        def __init__(self):
            self.times: list[float] = []
            self.losses: list[float] = []
            self.started = time.perf_counter()

        def _sync(self):
            if device == "cuda":
                torch.cuda.synchronize()

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            self._sync()
            self._start = time.perf_counter()

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            self._sync()
            self.times.append(time.perf_counter() - self._start)
            loss = outputs["loss"] if isinstance(outputs, dict) else outputs
            self.losses.append(float("nan") if loss is None else float(loss.detach()))
            if max_seconds is not None and time.perf_counter() - self.started > max_seconds:
                trainer.should_stop = True  # the check's time budget: report the steps that fit

    return Clock()


def _batches(config: Config, seed: int, device: str) -> list[dict]:
    return get_task(config.task).bench_batches(config, DISTINCT_BATCHES, seed, device)


def _system(config: Config):
    return get_task(config.task).system()(config)


def measure(config: Config, batches: list[dict], device: str, steps: int, warmup: int,
            max_seconds: float | None = None) -> dict:
    """Train `steps` steps at `config.trainer.precision` on `batches` (cycled); seconds per step,
    peak memory, loss curve."""
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader

    pl.seed_everything(config.seed, verbose=False)
    system = _system(config)
    parameters = sum(p.numel() for p in system.parameters())
    clock = _clock_callback(device, max_seconds)
    clip = None if config.clipping.mode in ("none", "autoclip") else config.clipping.value  # the system runs AutoClip
    from separation.training.precision import resolve_precision

    accelerator = "gpu" if device == "cuda" else "cpu"
    precision = resolve_precision(config.trainer.precision, config.model.name, accelerator).resolved
    trainer = pl.Trainer(
        accelerator=accelerator, devices=1, precision=precision,
        max_steps=steps, max_epochs=-1, deterministic=config.trainer.deterministic,
        gradient_clip_val=clip, gradient_clip_algorithm=config.clipping.mode if clip is not None else None,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, limit_val_batches=0, callbacks=[clock],
    )
    loader = DataLoader([batches[i % len(batches)] for i in range(steps)], batch_size=None, shuffle=False)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    trainer.fit(system, train_dataloaders=loader)
    timed = clock.times[warmup:]
    if device == "cuda":
        memory = {"peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20}
    else:
        # The process's peak so far: on CPU there is no per-measurement peak to reset.
        memory = {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    # "The loss after N steps": the mean over the last pass through the distinct batches,
    # so it does not depend on which batch happened to come last (as gpu_report compares).
    last = clock.losses[-DISTINCT_BATCHES:]
    return {
        "task": config.task,
        "model": config.model.name,
        "precision": precision,
        "parameters": parameters,
        "batch_size": config.data.batch_size,
        "segment_seconds": config.data.segment_seconds,
        "steps_done": len(clock.times),
        "steps_asked": steps,
        "warmup": warmup,
        "sec_per_step_median": statistics.median(timed) if timed else None,
        "sec_per_step_p90": sorted(timed)[int(0.9 * (len(timed) - 1))] if timed else None,
        "losses": clock.losses,
        "final_loss": sum(last) / len(last) if last else None,
        "diverged": system.divergence_reason,
        **memory,
    }


def _release(device: str) -> None:
    """Free the last measurement's memory so the next one's peak is its own."""
    import gc

    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="training config YAML (see experiments/configs/)")
    parser.add_argument("--overrides", default="{}", help="JSON mapping of dotted keys to values")
    parser.add_argument("--precisions", default="32,bf16-mixed", help="comma-separated, measured in this order")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--max-seconds", type=float, help="per precision: stop early once training took this long")
    args = parser.parse_args(argv)
    overrides = json.loads(args.overrides)
    # data.root is unused: the batches are in memory.
    configs = [load_config(args.config, {**overrides, "trainer.precision": p}) for p in args.precisions.split(",")]
    if args.device == "cuda" and configs[0].trainer.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before cuBLAS starts, as separation.train does
    # Made once, on the device (fast), before any Trainer turns deterministic mode on, so that
    # mode judges the training step's kernels only; handed over on the CPU, as a DataLoader would.
    batches = _batches(configs[0], 1234, args.device)
    for config in configs:
        precision = config.trainer.precision
        try:
            result = measure(config, batches, args.device, args.steps, args.warmup, args.max_seconds)
        except Exception as error:  # one precision failing (unsupported, out of memory) still reports the other
            result = {"precision": precision, "error": f"{type(error).__name__}: {error}".splitlines()[0][:300]}
        print(json.dumps(result), flush=True)
        _release(args.device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
