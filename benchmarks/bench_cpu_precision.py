"""bf16 against fp32 on this CPU, per model family: step cost, and whether training ends in the same place.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_cpu_precision.py steps [--rounds 3 --steps 3]
    .venv/bin/separation grid benchmarks/specs/precision_unet.yaml         # the parity runs (resumable)
    .venv/bin/python benchmarks/bench_cpu_precision.py parity runs/precision_unet runs/precision_convtasnet
    .venv/bin/python benchmarks/bench_cpu_precision.py write   # benchmarks/results/cpu_precision.md

`steps`: each family at its CPU study size (the config the committed studies
trained), its own training step (the system's `training_step`: forward, loss;
then backward, clip at norm 5, optimizer step) on two real batches of its
corpus, fp32 and `torch.autocast("cpu", dtype=torch.bfloat16)` alternated round
by round in one process, from the same initial weights. The figure is the ratio
of median step times (bf16 / fp32).

`parity`: a grid per family (benchmarks/specs/precision_<family>.yaml) trains
the family's recipe in fp32 and in bf16-mixed from the same seeds (same initial
weights, same data order); per seed, the final validation metric bf16 - fp32,
and the mean difference over seeds with a bootstrap interval.

`write` joins the two (JSON under benchmarks/results/cpu_precision/) into the
markdown page `trainer.precision: auto` cites (separation/training/precision.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from separation.atomic import write_json_atomic, write_text_atomic

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results"
PARTS = OUT / "cpu_precision"
# family -> the config of its committed CPU study (the size `auto` is decided at)
FAMILIES = {
    "svoice": "experiments/configs/svoice_cpu.yaml",
    "unet": "experiments/configs/unet_cpu.yaml",
    "convtasnet": "experiments/configs/enhance_cpu.yaml",
    "pulse_cnn": "experiments/configs/enhance_pulse_cpu.yaml",
}


def _cpu() -> str:
    from separation.training.precision import BF16_CPU_FLAGS, cpu_flags

    model = platform.processor() or platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    flags = [flag for flag in BF16_CPU_FLAGS if flag in cpu_flags()]
    return f"{model}; bf16 flags: {', '.join(flags) if flags else 'none'}"


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, data)


def _step_setup(config_path: str, overrides: dict):
    """The family's system, optimizer and two training batches of its own corpus."""
    from separation.config import load_config
    from separation.tasks import get_task
    from separation import optim

    config = load_config(REPO / config_path, overrides)
    system_class, datamodule = get_task(config.task).parts(config)
    datamodule.setup("fit")
    loader = iter(datamodule.train_dataloader())
    batches = [next(loader), next(loader)]
    torch.manual_seed(0)
    system = system_class(config)
    system.log = lambda *args, **kwargs: None  # no trainer here: the step's logging is not what is timed
    optimizer = optim.build_optimizer(config.optimizer.name, system.parameters(), config.optimizer.lr,
                                      config.optimizer.weight_decay, config.optimizer.args)
    return system, optimizer, batches


def _train_step(system, optimizer, batch, bf16: bool) -> None:
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with autocast:
        loss = system.training_step(batch, 0)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(system.parameters(), 5.0)
    optimizer.step()


def measure_steps(rounds: int, steps: int) -> dict:
    setups = {name: (path, {}) for name, path in FAMILIES.items()}
    rows = {}
    for name, (path, overrides) in setups.items():
        try:
            system, optimizer, batches = _step_setup(path, overrides)
        except Exception as error:  # a corpus not generated here: say so in the table
            rows[name] = {"config": path, "error": f"{type(error).__name__}: {error}".splitlines()[0][:200]}
            print(f"{name}: skipped ({rows[name]['error']})", flush=True)
            continue
        times = {"fp32": [], "bf16": []}
        for precision in times:  # warm-up: kernel selection and allocator growth are not timed
            _train_step(system, optimizer, batches[0], precision == "bf16")
        for _ in range(rounds):
            for precision in times:
                for step in range(steps):
                    start = time.perf_counter()
                    _train_step(system, optimizer, batches[step % 2], precision == "bf16")
                    times[precision].append(time.perf_counter() - start)
        fp32, bf16 = statistics.median(times["fp32"]), statistics.median(times["bf16"])
        rows[name] = {"config": path, "overrides": overrides, "fp32_s": fp32, "bf16_s": bf16, "ratio": bf16 / fp32,
                      "parameters": sum(p.numel() for p in system.parameters()),
                      "batch": list(batches[0][next(iter(batches[0]))].shape)}
        print(f"{name}: fp32 {fp32:.3f} s, bf16 {bf16:.3f} s, ratio {bf16 / fp32:.2f}", flush=True)
    return {"cpu": _cpu(), "threads": torch.get_num_threads(), "torch": torch.__version__,
            "rounds": rounds, "steps": steps, "command": " ".join(["benchmarks/bench_cpu_precision.py", *sys.argv[1:]]),
            "rows": rows}


def measure_parity(study_dirs: list[str]) -> dict:
    """Per study folder (a precision grid): per seed, final validation bf16 - fp32, and their mean with an interval."""
    from separation.analysis.stats import bootstrap_mean
    from separation.tasks import get_task

    families = {}
    for folder in map(Path, study_dirs):
        runs: dict[tuple[str, int], dict] = {}
        family = task = None
        for trial in sorted(p for p in folder.iterdir() if (p / "DONE").exists()):
            meta = json.loads((trial / "meta.json").read_text())
            result = meta.get("result") or {}
            import yaml

            config = yaml.safe_load((trial / "config.yaml").read_text())
            family, task = config["model"]["name"], config["task"]
            runs[(config["trainer"]["precision"], config["seed"])] = {
                "status": meta["status"], "metrics": result.get("metrics", {}),
                "seconds": meta.get("seconds_this_attempt"), "steps": result.get("global_step"),
                "train_seconds": result.get("train_seconds"), "val_seconds": result.get("val_seconds")}
        if family is None:
            continue
        headline = get_task(task).headline
        seeds = sorted({seed for _, seed in runs if ("32", seed) in runs and ("bf16-mixed", seed) in runs})
        per_seed = []
        for seed in seeds:
            fp32, bf16 = runs[("32", seed)], runs[("bf16-mixed", seed)]
            row = {"seed": seed, "fp32_status": fp32["status"], "bf16_status": bf16["status"], "steps": fp32["steps"]}
            for key in (headline.val, headline.test):
                a, b = fp32["metrics"].get(key), bf16["metrics"].get(key)
                row[key] = {"fp32": a, "bf16": b, "diff": None if a is None or b is None else b - a}
            row["train_seconds"] = {"fp32": fp32["train_seconds"], "bf16": bf16["train_seconds"]}
            per_seed.append(row)
        summary = {}
        for key in (headline.val, headline.test):
            diffs = [row[key]["diff"] for row in per_seed if row[key]["diff"] is not None]
            if diffs:
                interval = bootstrap_mean(diffs)
                summary[key] = {"mean": interval.estimate, "low": interval.low, "high": interval.high, "n": len(diffs)}
        families[family] = {"study": str(folder), "metric": headline.val, "test_metric": headline.test,
                            "seeds": per_seed, "summary": summary}
    return {"cpu": _cpu(), "families": families}


def _f(value, digits=3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def render(steps: dict | None, parity: dict | None) -> str:
    lines = ["# bf16 against fp32 on the CPU, per model family", "",
             "What `trainer.precision: auto` (separation/training/precision.py) rests on. A family trains in bf16 "
             "under `auto` only on a CPU with native bf16 (amx_bf16 or avx512_bf16), only if its bf16 step is "
             "measured below 0.9x its fp32 step on such a CPU, and only if its training parity interval "
             "(final validation bf16 - fp32, mean over at least 3 seeds) lies within +-0.3 dB.", ""]
    if steps:
        lines += ["## Step cost", "", f"CPU: {steps['cpu']}; {steps['threads']} thread(s), torch {steps['torch']}; "
                  f"median of {steps['rounds']} x {steps['steps']} steps per precision, alternated round by round "
                  "in one process, same initial weights and batches.", "",
                  f"    OMP_NUM_THREADS={steps['threads']} .venv/bin/python {steps['command']}", "",
                  "| family | config | parameters | batch | fp32 s/step | bf16 s/step | bf16 / fp32 |",
                  "|---|---|---:|---|---:|---:|---:|"]
        for name, row in steps["rows"].items():
            if "error" in row:
                lines.append(f"| {name} | `{row['config']}` | not measured: {row['error']} | | | | |")
                continue
            config = f"`{row['config']}`"
            lines.append(f"| {name} | {config} | {row['parameters'] / 1e6:.2f} M | {'x'.join(map(str, row['batch']))} | "
                         f"{row['fp32_s']:.3f} | {row['bf16_s']:.3f} | **{row['ratio']:.2f}** |")
        lines.append("")
    if parity:
        lines += ["## Training parity", "", f"CPU: {parity['cpu']}. Each family's recipe trained from the same seeds "
                  "in fp32 and in bf16-mixed (same initial weights, same data order); the difference is bf16 - fp32 "
                  "of the final validation metric, with a 95% bootstrap interval of its mean over seeds.", ""]
        for family, data in parity["families"].items():
            metric, test = data["metric"], data["test_metric"]
            lines += [f"### {family} (`{data['study']}`)", "",
                      f"| seed | steps | {metric} fp32 | bf16 | bf16 - fp32 | {test} fp32 | bf16 | bf16 - fp32 | "
                      "train s fp32 | bf16 |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
            for row in data["seeds"]:
                v, t = row[metric], row[test]
                lines.append(f"| {row['seed']} | {row['steps']} | {_f(v['fp32'])} | {_f(v['bf16'])} | {_f(v['diff'])} | "
                             f"{_f(t['fp32'])} | {_f(t['bf16'])} | {_f(t['diff'])} | "
                             f"{_f(row['train_seconds']['fp32'], 0)} | {_f(row['train_seconds']['bf16'], 0)} |")
            for key, s in data["summary"].items():
                inside = -0.3 <= s["low"] and s["high"] <= 0.3
                lines.append(f"\n{key}: mean bf16 - fp32 **{s['mean']:+.3f} dB [{s['low']:+.3f}, {s['high']:+.3f}]** "
                             f"over {s['n']} seeds: {'within' if inside else 'not within'} +-0.3 dB.")
            lines.append("")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    steps = commands.add_parser("steps", help="time bf16 and fp32 steps per family; writes cpu_precision/steps.json")
    steps.add_argument("--rounds", type=int, default=3, help="rounds, each timing both precisions")
    steps.add_argument("--steps", type=int, default=3, help="timed steps per precision and round")
    parity = commands.add_parser("parity", help="read finished precision grids; writes cpu_precision/parity.json")
    parity.add_argument("studies", nargs="+", help="study folders of benchmarks/specs/precision_*.yaml grids")
    commands.add_parser("write", help="benchmarks/results/cpu_precision.md from the JSON parts")
    args = parser.parse_args()
    if args.command == "steps":
        _write_json(PARTS / "steps.json", measure_steps(args.rounds, args.steps))
    elif args.command == "parity":
        _write_json(PARTS / "parity.json", measure_parity(args.studies))
    else:
        read = lambda name: json.loads((PARTS / name).read_text()) if (PARTS / name).exists() else None  # noqa: E731
        text = render(read("steps.json"), read("parity.json"))
        target = OUT / "cpu_precision.md"
        write_text_atomic(target, text)
        print(text)


if __name__ == "__main__":
    main()
