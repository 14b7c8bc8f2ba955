"""The GPU check: full-size training steps in two precisions, the packing curve, GPU-hour projections.

    python -m separation.bench.gpu_check [--device cuda] [--tiny] [--budget-minutes 8] [--out FILE.md]
    (or scripts/gpu_check.sh, which also installs carried wheels)

1. SVoice at the reference size (experiments/configs/svoice_gpu.yaml, the base of
   the GPU studies: 7.56 M parameters, 4 s, batch 4), trained 50 steps in `32`
   and in `bf16-mixed` from the same weights on the same synthetic batches:
   median step time, peak memory, loss after the steps (bf16 must track fp32).
2. Spleeter's U-Net, 2 stems, 512-frame patches, batch 4, the same way.
3. A grid of 16 short small-SVoice trials at K = 1, 2, 4, 8 trials per GPU
   (Ray engine; K worker processes where Ray is not installed): trials per hour,
   GPU utilisation from nvidia-smi, and the check that K changes no result.
4. The GPU-hours of experiments/svoice_*_gpu.yaml at the measured step time.
Writes benchmarks/results/gpu_<device>.md (and .json) and prints a summary.

Every part runs in its own process under a share of the time budget, so a
part that fails or runs long costs only itself; the report says what did not fit.
`--device cpu --tiny` runs the same code at tiny sizes on about 50 s of CPU time (the tests do).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from separation.bench.packing import REPO, GpuSampler, PackingSize, child_env, default_engine, measure_packing
from separation.errors import UserError

GPU_CONFIG = REPO / "experiments" / "configs" / "svoice_gpu.yaml"
UNET_CONFIG = REPO / "experiments" / "configs" / "unet_spleeter.yaml"
GPU_SPECS = ("svoice_optimizers_gpu.yaml", "svoice_schedulers_gpu.yaml", "svoice_clipping_gpu.yaml")

# Spleeter's 2-stem model: vocals and accompaniment, LeakyReLU (its 4- and 5-stem models use ELU).
UNET_2STEMS = {"data.stems": ["vocals", "accompaniment"], "model.args": {"activation": "leaky_relu"}, "data.num_workers": 0}
TINY_SVOICE = {"model.args": {"enc_dim": 16, "kernel_size": 4, "hidden_size": 8, "num_repeats": 2},
               "data.segment_seconds": 0.5, "data.batch_size": 2}
TINY_UNET = {**UNET_2STEMS, "model.args": {"filters": [4, 8, 16], "max_bins": 64, "patch_frames": 16, "n_fft": 256,
                                           "hop_length": 64}, "data.segment_seconds": 0.05, "data.batch_size": 2}

# Per part: steps, warm-up steps, seconds per precision, seconds for the part's process.
FULL = {
    "svoice": {"overrides": {}, "steps": 50, "warmup": 5, "per_precision": 60, "timeout": 170},
    "unet": {"overrides": UNET_2STEMS, "steps": 50, "warmup": 5, "per_precision": 45, "timeout": 130},
    "packing": {"trials": 16, "ks": [1, 2, 4, 8], "size": PackingSize(
        # The CPU studies' small SVoice (0.28 M parameters), 96 steps of 4 x 1 s, 8 validation mixtures.
        model={"enc_dim": 64, "kernel_size": 8, "hidden_size": 32, "num_repeats": 2, "input_normalization": True},
        segment_seconds=1.0, batch_size=4, steps=96, valid_items=8, corpus=(64, 8, 8), corpus_seconds=1.5)},
    "budget_minutes": 8.0,
}
TINY = {
    "svoice": {"overrides": TINY_SVOICE, "steps": 8, "warmup": 2, "per_precision": 20, "timeout": 60},
    "unet": {"overrides": TINY_UNET, "steps": 8, "warmup": 2, "per_precision": 20, "timeout": 60},
    "packing": {"trials": 2, "ks": [1, 2], "size": PackingSize(
        model={"enc_dim": 16, "kernel_size": 4, "hidden_size": 8, "num_repeats": 2},
        segment_seconds=0.5, batch_size=2, steps=4, valid_items=2, corpus=(8, 2, 2), corpus_seconds=0.6)},
    "budget_minutes": 3.0,
}
REPORT_RESERVE = 20.0  # seconds kept for the write-up at the end of the budget


class CheckError(UserError):
    """The check cannot run here at all (one line)."""


def _package(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _nvidia_smi(query: str) -> str | None:
    if shutil.which("nvidia-smi") is None:
        return None
    done = subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"], capture_output=True,
                          text=True, timeout=20)
    return done.stdout.strip().splitlines()[0] if done.returncode == 0 and done.stdout.strip() else None


def machine(device: str) -> dict:
    import torch

    info = {}
    if device == "cuda":
        properties = torch.cuda.get_device_properties(0)
        info["device_name"] = torch.cuda.get_device_name(0)
        info["GPU memory"] = f"{properties.total_memory / 2**30:.0f} GiB, {properties.multi_processor_count} SMs"
        info["CUDA (torch build)"] = torch.version.cuda
        info["cuDNN"] = str(torch.backends.cudnn.version())
        info["driver"] = _nvidia_smi("driver_version") or "n/a (no nvidia-smi)"
        info["bf16 supported"] = str(torch.cuda.is_bf16_supported())
        # As the suite trains: it sets no TF32 option, so fp32 matmuls run at torch's default.
        info["float32 matmul precision"] = torch.get_float32_matmul_precision()
    else:
        info["device_name"] = f"CPU ({platform.machine()})"
    info["CPUs"] = str(os.cpu_count())
    info["python"] = platform.python_version()
    for name in ("torch", "pytorch-lightning", "numpy", "ray", "soundfile"):
        info[name] = _package(name)
    return info


def device_slug(machine_info: dict, device: str, tiny: bool) -> str:
    name = machine_info["device_name"] if device == "cuda" else "cpu"
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return slug + ("_tiny" if tiny else "")


def _remaining(deadline: float) -> float:
    return deadline - time.time()


def _task_of(config: Path, overrides: dict) -> str:
    """The task the config trains (the report bounds bf16's loss by it)."""
    from separation.config import load_config

    return load_config(config, overrides).task


def step_part(name: str, config: Path, part: dict, device: str, deadline: float, out) -> dict:
    """Both precisions of one model in one child process (`separation.bench.step_timing`)."""
    overrides = json.dumps(part["overrides"])
    command = [sys.executable, "-m", "separation.bench.step_timing", str(config), "--overrides", overrides,
               "--precisions", "32,bf16-mixed", "--device", device, "--steps", str(part["steps"]),
               "--warmup", str(part["warmup"]), "--max-seconds", str(part["per_precision"])]
    shown = f"-m separation.bench.step_timing {config.relative_to(REPO)} --overrides '{overrides}' " + " ".join(command[6:])
    timeout = min(part["timeout"], _remaining(deadline) - REPORT_RESERVE)
    result = {"command": f"python {shown}", "task": _task_of(config, part["overrides"]), "rows": []}
    if timeout < 10:
        return {**result, "error": "no time left in the budget"}
    print(f"[gpu-check] {name}: timing 32 and bf16-mixed ({part['steps']} steps each, at most {timeout:.0f} s)",
          file=out, flush=True)
    started = time.time()
    try:
        with GpuSampler() as sampler:
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=child_env(),
                                      cwd=REPO)
            finally:
                result["gpu"] = sampler.between(started, time.time())
    except subprocess.TimeoutExpired as expired:
        stdout = expired.stdout.decode() if isinstance(expired.stdout, bytes) else (expired.stdout or "")
        result["rows"] = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        stopped = f"stopped at its {timeout:.0f} s share of the budget"
        return {**result, "error": stopped} if not result["rows"] else {**result, "note": stopped + "; rows measured before that"}
    result["rows"] = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not result["rows"]:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {**result, "error": f"exit {done.returncode}: {last[:300]}"}
    return result


def packing_part(part: dict, device: str, deadline: float, engine: str | None, work: Path, out) -> dict:
    size = part["size"]
    described = (f"{size.model}, {size.steps} steps of {size.batch_size} x {size.segment_seconds:g} s, "
                 f"{size.valid_items} validation and {size.corpus[2]} test mixtures each")
    try:
        import soundfile  # noqa: F401  (the speech datasets read wav files with it)
    except ImportError:
        return {"error": "soundfile is not installed (carry its wheel: see scripts/gpu_check.sh)", "size": described}
    engine = engine or default_engine()
    note = "" if engine == "ray" or _package("ray") != "not installed" else " (ray is not installed here)"
    print(f"[gpu-check] packing: {part['trials']} trials at K = {part['ks']} with engine {engine}, "
          f"until {max(0.0, _remaining(deadline) - REPORT_RESERVE):.0f} s from now", file=out, flush=True)
    result = measure_packing(work, size, part["trials"], part["ks"], device, engine, deadline - REPORT_RESERVE, out)
    return {**result, "size": described, "engine_note": note}


def projection_part(svoice: dict) -> dict:
    """GPU-hours of each full-size spec: trials x steps per trial x measured s/step at the spec's precision."""
    from separation.grid.spec import load_spec

    measured = {r["precision"]: r.get("sec_per_step_median") for r in svoice.get("rows", []) if "precision" in r}
    rows = []
    for name in GPU_SPECS:
        try:
            spec = load_spec(REPO / "experiments" / name)
        except Exception as error:  # a broken spec is a finding, not a crash of the check
            rows.append({"spec": name, "error": f"{type(error).__name__}: {error}"[:200]})
            continue
        steps = 0
        precisions = set()
        for trial in spec.trials:
            trainer, data = trial.config.trainer, trial.config.data
            per_epoch = -(-(data.train_items_per_epoch or 0) // data.batch_size)
            steps += trainer.max_steps if trainer.max_steps > 0 else trainer.max_epochs * per_epoch
            precisions.add(trainer.precision)
        precision = precisions.pop() if len(precisions) == 1 else "mixed"
        sec = measured.get(precision)
        rows.append({"spec": name, "trials": len(spec.trials), "steps_per_trial": steps // len(spec.trials),
                     "precision": precision, "sec_per_step": sec,
                     "gpu_hours": steps * sec / 3600 if sec else None})
    return {"rows": rows}


REQUIRED = ("torch", "pytorch_lightning", "numpy", "scipy", "yaml")  # what every part imports


def run_check(device: str, tiny: bool, budget_minutes: float | None, out_path: Path | None, engine: str | None,
              work: Path | None, copy_to: Path | None, command: str, out=sys.stderr) -> dict:
    import importlib.util

    missing = [name for name in REQUIRED if importlib.util.find_spec(name) is None]
    if missing:
        raise CheckError(f"missing Python package(s): {', '.join(missing)} (install them or carry their wheels)")
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise CheckError("--device cuda: torch sees no CUDA device here (use --device cpu --tiny for a dry run)")
    sizes = TINY if tiny else FULL
    budget = 60 * (budget_minutes or sizes["budget_minutes"])
    started = time.time()
    deadline = started + budget
    info = machine(device)
    slug = device_slug(info, device, tiny)
    out_path = out_path or REPO / "benchmarks" / "results" / f"gpu_{slug}.md"
    work = work or Path(tempfile.mkdtemp(prefix="gpu-check-"))
    print(f"[gpu-check] {info['device_name']}: budget {budget:.0f} s, work folder {work}", file=out, flush=True)

    notes = []
    svoice = step_part("svoice", GPU_CONFIG, sizes["svoice"], device, deadline, out)
    unet = step_part("unet", UNET_CONFIG, sizes["unet"], device, deadline, out)
    packing = packing_part(sizes["packing"], device, deadline, engine, work / "packing", out)
    if packing.get("stopped_at_deadline"):
        notes.append("The packing part reached the end of its time budget; a K cut short counts the trials it finished.")
    if device == "cpu":
        notes.append("CPU run: memory is the step process's peak RSS so far (both precisions run in one process, "
                     "so the second row includes the first); bf16-mixed speed on a CPU says nothing about a GPU's.")
    results = {
        "command": command,
        "device": device,
        "tiny": tiny,
        "machine": info,
        "budget_seconds": budget,
        "svoice": svoice,
        "unet": unet,
        "packing": packing,
        "projection": projection_part(svoice),
        "notes": notes,
        "report": str(out_path),
    }
    return _write(results, started, out_path, copy_to)


def _write(results: dict, started: float, out_path: Path, copy_to: Path | None) -> dict:
    from separation.atomic import write_json_atomic, write_text_atomic
    from separation.bench.gpu_report import render

    results["wall_seconds"] = time.time() - started
    results["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_path, render(results) + "\n")
    write_json_atomic(out_path.with_suffix(".json"), results)
    if copy_to is not None:
        copy_to.mkdir(parents=True, exist_ok=True)
        for path in (out_path, out_path.with_suffix(".json")):
            shutil.copy(path, copy_to / path.name)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (a dry run of every code path)")
    parser.add_argument("--budget-minutes", type=float, help="wall-clock budget (default: 8, tiny: 3)")
    parser.add_argument("--out", type=Path, help="report path (default: benchmarks/results/gpu_<device>.md)")
    parser.add_argument("--engine", choices=("ray", "processes"), help="packing engine (default: ray when installed)")
    parser.add_argument("--work", type=Path, help="folder for the packing corpus and runs (default: a new temporary one)")
    parser.add_argument("--copy-to", type=Path, help="also copy the report and its JSON into this folder")
    args = parser.parse_args(argv)
    command = os.environ.get("GPU_CHECK_COMMAND") or "python -m separation.bench.gpu_check " + " ".join(
        (argv if argv is not None else sys.argv[1:]))
    from separation.bench.gpu_report import summary

    try:
        results = run_check(args.device, args.tiny, args.budget_minutes, args.out, args.engine, args.work,
                            args.copy_to, command.strip())
    except CheckError as error:
        print(f"gpu-check: error: {error}", file=sys.stderr)
        return 2
    print(summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
