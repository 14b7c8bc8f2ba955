"""The packing curve: trials per hour when K grid trials share one GPU.

One small-SVoice study (same trials for every K, on a synthetic-voice corpus
written by `signals.write_voice_corpus`) is run once per K, each K in its own
runs folder, by one of two engines:

- `ray`: `separation.grid.ray_engine.run_ray(..., trials_per_gpu=K)`, the
  suite's Ray engine with fractional GPU resources. On a machine without a GPU,
  Ray is told of one logical GPU, so the same fractional-resource path packs K
  trials on the CPU.
- `processes` (when Ray is not installed): K worker processes share the GPU,
  each running its share of the trials through `run_trial`, as a Ray worker would.

All K run in one child process (`python -m separation.bench.packing run ...`),
largest K first, which logs when each K starts and ends; the caller kills it at
its deadline, and the figures are read back from the trial folders, so a K cut
short still counts the trials it finished. Trials are deterministic, so the
final metrics of a trial must not depend on K: `compare_metrics` checks it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from separation.tasks import TASKS

REPO = Path(__file__).resolve().parents[2]
TASK = "speech"  # the packing study's trials: small SVoice on a LibriMix-layout voice corpus
# What must not change with K: the task's selection and reported metrics, and the validation loss.
COMPARED = (TASKS[TASK].headline.val, "val/loss", TASKS[TASK].headline.test)


@dataclass(frozen=True)
class PackingSize:
    """The packing study: model, data and trial length (the same for every K)."""

    model: dict
    segment_seconds: float
    batch_size: int
    steps: int
    valid_items: int
    corpus: tuple[int, int, int]  # mixtures in train, dev, test
    corpus_seconds: float


def child_env() -> dict[str, str]:
    """Environment of every process started here: this source tree first on the path
    (Ray workers inherit it), one thread per trial."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def write_study(work: Path, size: PackingSize, trials: int, device: str) -> Path:
    """Corpus, base config and grid spec (seeds 0..trials-1) under `work`; returns the spec path."""
    from separation.bench.signals import write_voice_corpus

    corpus = write_voice_corpus(work / "corpus", *size.corpus, seconds=size.corpus_seconds)
    base = {
        "task": TASK,
        "model": {"name": "svoice", "args": dict(size.model)},
        "data": {"root": str(corpus), "segment_seconds": size.segment_seconds, "batch_size": size.batch_size,
                 "train_items_per_epoch": size.steps * size.batch_size, "valid_max_items": size.valid_items},
        "optimizer": {"name": "adam", "lr": 1.0e-3},
        "trainer": {"max_epochs": 1, "accelerator": "gpu" if device == "cuda" else "cpu", "deterministic": True,
                    "log_every_n_steps": max(1, size.steps // 8), "audio_examples": 0, "enable_progress_bar": False},
    }
    (work / "base.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
    spec = {"study": "packing", "description": "GPU check: the same small-SVoice trials at every K.",
            "base": "base.yaml", "axes": {"seed": list(range(trials))}}
    path = work / "packing.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def default_engine() -> str:
    try:
        import ray  # noqa: F401
    except ImportError:
        return "processes"
    return "ray"


# ---------------------------------------------------------------------------------------- child side


def _log(path: Path, **event) -> None:
    with open(path, "a") as handle:
        handle.write(json.dumps({**event, "time": time.time()}) + "\n")


def _run_ray(spec_path: Path, runs: Path, k: int, device: str, max_k: int) -> None:
    import ray

    from separation.grid.ray_engine import run_ray
    from separation.grid.spec import load_spec

    if not ray.is_initialized():
        # Without a GPU, one logical GPU makes Ray pack trials by the same fractional resources.
        gpus = {} if device == "cuda" else {"num_gpus": 1}
        cpus = max(max_k, os.cpu_count() or 1) if device == "cpu" else None
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, configure_logging=False, **gpus)
    run_ray(load_spec(spec_path), runs, trials_per_gpu=k, cpus_per_trial=1.0)


def _run_processes(spec_path: Path, runs: Path, k: int) -> None:
    from separation.grid.spec import load_spec

    ids = [t.id for t in load_spec(spec_path).trials]
    workers = []
    for index in range(k):
        share = ids[index::k]
        if share:
            command = [sys.executable, "-m", "separation.bench.packing", "worker", str(spec_path), str(runs),
                       "--k", str(k), "--trials", ",".join(share)]
            workers.append(subprocess.Popen(command, env=child_env(), cwd=REPO))
    failed = [w.args for w in workers if w.wait() != 0]
    if failed:  # its trials stay unfinished and are counted so; the other K still run
        print(f"[gpu-check] K={k}: {len(failed)} packing worker(s) exited with an error", file=sys.stderr, flush=True)


def run_child(spec_path: Path, work: Path, ks: list[int], engine: str, device: str, log: Path) -> None:
    """Run the packing study once per K, largest first, logging each K's start and end."""
    for k in sorted(ks, reverse=True):
        runs = work / f"k{k}"
        _log(log, k=k, event="start")
        if engine == "ray":
            _run_ray(spec_path, runs, k, device, max(ks))
        else:
            _run_processes(spec_path, runs, k)
        _log(log, k=k, event="end")


def run_worker(spec_path: Path, runs: Path, k: int, trial_ids: list[str]) -> None:
    from pytorch_lightning.plugins.environments import LightningEnvironment

    from separation.grid.runner import study_dir_for
    from separation.grid.spec import load_spec
    from separation.grid.trial import run_trial

    spec = load_spec(spec_path)
    wanted = [t for t in spec.trials if t.id in trial_ids]
    for trial in wanted:
        # A single-process Lightning run whatever the cluster environment, as the Ray engine's trials.
        run_trial(trial, study_dir_for(spec, runs), packing=k, plugins=[LightningEnvironment()], engine="processes")


# ---------------------------------------------------------------------------------------- parent side


class GpuSampler:
    """`nvidia-smi` utilisation and memory every 0.5 s, timestamped on arrival; inert without nvidia-smi."""

    def __init__(self):
        self.samples: list[tuple[float, float, float]] = []  # (time, utilisation %, memory MiB)
        self.available = shutil.which("nvidia-smi") is not None
        self._process = None

    def __enter__(self):
        if self.available:
            self._process = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits", "-lms", "500"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self):
        for line in self._process.stdout:
            try:
                utilisation, memory = (float(v) for v in line.strip().split(",")[:2])
            except ValueError:
                continue
            self.samples.append((time.time(), utilisation, memory))

    def __exit__(self, *exc):
        if self._process is not None:
            self._process.terminate()
            self._process.wait()

    def between(self, start: float, end: float) -> dict:
        inside = [(u, m) for t, u, m in self.samples if start <= t <= end]
        if not inside:
            return {}
        return {"gpu_util_mean": sum(u for u, _ in inside) / len(inside), "gpu_util_max": max(u for u, _ in inside),
                "gpu_memory_max_mib": max(m for _, m in inside), "gpu_samples": len(inside)}


def _read_log(log: Path) -> dict[int, dict]:
    events: dict[int, dict] = {}
    if log.exists():
        for line in log.read_text().splitlines():
            event = json.loads(line)
            events.setdefault(event["k"], {})[event["event"]] = event["time"]
    return events


def _trial_records(study_dir: Path) -> list[dict]:
    from separation.grid.trial import read_json, trial_status

    records = []
    for folder in sorted(p for p in study_dir.glob("*") if p.is_dir() and not p.name.startswith(".")):
        meta = read_json(folder / "meta.json")
        records.append({"id": folder.name, "status": trial_status(folder), "packing": meta.get("packing"),
                        "engine": meta.get("engine"), "seconds": meta.get("seconds_this_attempt"),
                        "reason": meta.get("reason"),
                        "metrics": (meta.get("result") or {}).get("metrics", {})})
    return records


def measure_packing(work: Path, size: PackingSize, trials: int, ks: list[int], device: str, engine: str,
                    deadline: float, out=sys.stderr) -> dict:
    """Run the packing study for every K before `deadline` (a `time.time()`); returns rows and checks."""
    work.mkdir(parents=True, exist_ok=True)
    spec_path = write_study(work, size, trials, device)
    log = work / "packing_log.jsonl"
    command = [sys.executable, "-m", "separation.bench.packing", "run", str(spec_path), str(work),
               "--ks", ",".join(map(str, ks)), "--engine", engine, "--device", device, "--log", str(log)]
    stopped = False
    with GpuSampler() as sampler, open(work / "packing_child.log", "w") as child_log:
        child = subprocess.Popen(command, env=child_env(), cwd=REPO, stdout=child_log, stderr=subprocess.STDOUT,
                                 start_new_session=True)  # its own group: Ray and workers go when it is killed
        try:
            child.wait(timeout=max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            stopped = True
        finally:
            with contextlib.suppress(ProcessLookupError):  # also ends stragglers of a finished child
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        killed_at = time.time()
    events = _read_log(log)
    rows = []
    for k in sorted(ks):
        if k not in events:
            rows.append({"k": k, "status": "not started (time budget)"})
            continue
        start = events[k]["start"]
        end = events[k].get("end", killed_at)
        records = _trial_records(work / f"k{k}" / "packing")
        done = [r for r in records if r["status"] == "completed"]
        seconds = [r["seconds"] for r in done if r["seconds"]]
        wall = end - start
        row = {
            "k": k,
            "status": "complete" if "end" in events[k] and len(done) == trials else
                      f"stopped after {len(done)} of {trials} trials" if "end" not in events[k] else
                      f"{len(done)} of {trials} trials completed",
            "engine": engine,
            "trials_completed": len(done),
            "wall_seconds": wall,
            "trials_per_hour": 3600 * len(done) / wall if wall > 0 else None,
            "mean_trial_seconds": sum(seconds) / len(seconds) if seconds else None,
            # k trials always in flight, each taking its in-trial time: the rate without start-up costs.
            "trials_per_hour_in_trial": 3600 * k * len(seconds) / sum(seconds) if seconds else None,
            "packing_recorded": sorted({r["packing"] for r in done if r["packing"] is not None}),
            **sampler.between(start, end),
        }
        rows.append(row)
        print(f"[gpu-check] packing k={k}: {row['status']}, {row['trials_completed']} trials in {wall:.0f} s",
              file=out, flush=True)
    result = {"rows": rows, "engine": engine, "trials": trials, "stopped_at_deadline": stopped,
            "metric_check": compare_metrics(work, ks), "gpu_sampler": sampler.available,
            "child_log": str(work / "packing_child.log")}
    if not stopped and any(row.get("trials_completed", 0) < trials for row in rows):
        # Something failed: keep the end of the child's log, since `work` may not outlive the run.
        lines = (work / "packing_child.log").read_text(errors="replace").splitlines()
        result["child_log_tail"] = [line for line in lines if line.strip()][-15:]
        failed = [(k, r) for k in ks for r in _trial_records(work / f"k{k}" / "packing") if r["status"] == "failed"]
        if failed:
            k, record = failed[0]
            result["first_failure"] = f"K={k}, {record['id']}: {record['reason']}"
    return result


def compare_metrics(work: Path, ks: list[int]) -> dict:
    """Largest difference of each final metric between a trial at K and the same trial at the smallest K."""
    by_k = {k: {r["id"]: r["metrics"] for r in _trial_records(work / f"k{k}" / "packing") if r["status"] == "completed"}
            for k in ks}
    reference_k = min(ks)
    reference = by_k[reference_k]
    largest: dict[str, float] = {}
    pairs = 0
    for k in ks:
        if k == reference_k:
            continue
        for trial_id, metrics in by_k[k].items():
            if trial_id not in reference:
                continue
            pairs += 1
            for name in COMPARED:
                if name in metrics and name in reference[trial_id]:
                    difference = abs(metrics[name] - reference[trial_id][name])
                    largest[name] = max(largest.get(name, 0.0), difference)
    return {"reference_k": reference_k, "pairs": pairs, "max_abs_difference": largest}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Internal: the child and worker processes of the packing curve.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run")
    run.add_argument("spec")
    run.add_argument("work")
    run.add_argument("--ks", required=True)
    run.add_argument("--engine", choices=("ray", "processes"), required=True)
    run.add_argument("--device", choices=("cpu", "cuda"), required=True)
    run.add_argument("--log", required=True)
    worker = commands.add_parser("worker")
    worker.add_argument("spec")
    worker.add_argument("runs")
    worker.add_argument("--k", type=int, required=True)
    worker.add_argument("--trials", required=True)
    args = parser.parse_args(argv)
    if args.command == "run":
        run_child(Path(args.spec), Path(args.work), [int(k) for k in args.ks.split(",")], args.engine, args.device,
                  Path(args.log))
    else:
        run_worker(Path(args.spec), Path(args.runs), args.k, args.trials.split(","))
    return 0


if __name__ == "__main__":
    sys.exit(main())
