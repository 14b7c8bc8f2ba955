"""Cost of one training step of `pulse_cnn` under each objective, and the gradient scale SGD's LR follows.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_enhance_objectives_step.py [--steps 6] [--out FILE]

At the size of `experiments/configs/enhance_pulse_cpu.yaml` (read from it: model
args, batch size, segment length, sample rate), each objective of
`experiments/enhance_objectives.yaml` trains a plain torch loop (objective
loss, backward, Adam step) on synthetic batches: harmonic "speech" with a
syllable envelope plus white noise at 0 dB, and a noise-only clip of the same
level. Reported per objective: median seconds per step (the first step is
left out), and the median gradient norm |g| over the steps at initialisation
(weights reset before every step), from which the SGD-with-momentum LR that
matches Adam's initial update size is derived:

    Adam moves every weight by about lr in its first steps: |update| ~ lr_adam sqrt(P);
    SGD with momentum 0.9 moves by lr |g| / (1 - 0.9) once its momentum builds up;
    equal sizes: lr_sgd = lr_adam sqrt(P) (1 - 0.9) / |g|.

This is a starting point for an LR that SGD is not known to like, not a tuned
value; the synthetic batches stand in for the noisy corpus (see the results file).
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from separation.losses.enhance import default_loss  # noqa: E402
from separation.models import build_model  # noqa: E402
from separation.objectives import build_objective  # noqa: E402

CONFIG = ROOT / "experiments/configs/enhance_pulse_cpu.yaml"
SPEC = ROOT / "experiments/enhance_objectives.yaml"


def synthetic_batch(batch: int, length: int, rate: int, seed: int) -> dict[str, torch.Tensor]:
    """`{"noisy", "clean", "noise_only"}`, each `(batch, 1, length)`, at 0 dB SNR."""
    generator = torch.Generator().manual_seed(seed)
    time_axis = torch.arange(length) / rate
    f0 = 100 + 150 * torch.rand(batch, 1, 1, generator=generator)
    harmonics = torch.arange(1, 11).view(1, -1, 1)
    voiced = (torch.sin(2 * torch.pi * f0 * harmonics * time_axis) / harmonics).sum(1, keepdim=True)
    clean = 0.05 * voiced * (0.5 + 0.5 * torch.sin(2 * torch.pi * 4 * time_axis)).clamp_min(0)

    def noise() -> torch.Tensor:
        white = torch.randn(batch, 1, length, generator=generator)
        return white * (clean.pow(2).sum(-1, keepdim=True) / white.pow(2).sum(-1, keepdim=True)).sqrt()

    return {"noisy": clean + noise(), "clean": clean, "noise_only": noise()}


def arms() -> dict[str, dict]:
    """Objective -> (model args, objective args, Adam LR) as the study spec's include rules give them."""
    spec = yaml.safe_load(SPEC.read_text())
    found: dict[str, dict] = {}
    for rule in spec["include"]:
        if rule.get("optimizer.name") == "adam":
            found[rule["objective.name"]] = {
                "model": {key.split(".", 2)[2]: value for key, value in rule.items() if key.startswith("model.args.")},
                "objective": dict(rule.get("objective.args") or {}),
                "lr": float(rule["optimizer.lr"]),
            }
    return found


def measure(name: str, arm: dict, base: dict, steps: int) -> dict:
    data = base["data"]
    length = int(round(data["segment_seconds"] * data["sample_rate"]))
    model_args = {**base["model"]["args"], **arm["model"]}
    torch.manual_seed(0)
    model = build_model(base["model"]["name"], model_args)
    objective = build_objective(name, arm["objective"])
    objective.check_model(base["model"]["name"], model)
    family_loss = default_loss(base["model"]["name"], model_args)
    initial = copy.deepcopy(model.state_dict())
    parameters = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.Adam(model.parameters(), lr=arm["lr"])
    model.train()
    times, norms = [], []
    for step in range(steps + 1):
        batch = synthetic_batch(data["batch_size"], length, data["sample_rate"], seed=step)
        model.load_state_dict(initial)  # every gradient norm is one at initialisation
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = objective.loss(model, batch, family_loss)
        loss.backward()
        optimizer.step()
        elapsed = time.perf_counter() - start
        norms.append(math.sqrt(sum(float(p.grad.pow(2).sum()) for p in model.parameters())))
        if step:  # the first step pays one-off allocations
            times.append(elapsed)
    grad_norm = statistics.median(norms)
    return {
        "objective": name,
        "model_args": arm["model"],
        "parameters": parameters,
        "sec_per_step": statistics.median(times),
        "grad_norm": grad_norm,
        "lr_adam": arm["lr"],
        "lr_sgd_matched": arm["lr"] * math.sqrt(parameters) * (1 - 0.9) / grad_norm,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--out", type=Path, default=None, help="write the markdown table here")
    args = parser.parse_args()
    base = yaml.safe_load(CONFIG.read_text())
    load = os.getloadavg()[0]
    rows = [measure(name, arm, base, args.steps) for name, arm in arms().items()]
    data = base["data"]
    lines = [
        f"# pulse_cnn training step per objective on cpu ({torch.get_num_threads()} thread)",
        "",
        f"Command: `OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_enhance_objectives_step.py --steps {args.steps}`  ",
        f"Machine: {platform.machine()} CPU, {torch.get_num_threads()} thread, torch {torch.__version__}; "
        f"load average at start {load:.2f}  ",
        f"Size: `{CONFIG.relative_to(ROOT)}`: model {base['model']['args']}, batch {data['batch_size']} x "
        f"{data['segment_seconds']:g} s at {data['sample_rate']} Hz; synthetic batches (0 dB, white noise).",
        "",
        "| objective | model args | parameters | s / step (median) | median grad norm at init | Adam LR | matched SGD-momentum LR |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(f"| {row['objective']} | {row['model_args'] or '-'} | {row['parameters']:,} | {row['sec_per_step']:.3f} | "
                     f"{row['grad_norm']:.4g} | {row['lr_adam']:g} | {row['lr_sgd_matched']:.3g} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        tmp = args.out.with_suffix(args.out.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(args.out)


if __name__ == "__main__":
    main()
