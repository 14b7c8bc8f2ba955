"""Running grids: trial directories, divergence as an outcome, kill-and-resume, Ray."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from separation.grid.runner import run_local
from separation.grid.spec import load_spec
from separation.grid.trial import MARKER, trial_status

REPO = Path(__file__).resolve().parents[1]


def write_spec(tmp_path: Path, corpus: Path, axes: dict, epochs: int = 2, study: str = "g", **extra) -> Path:
    base = {
        "task": "speech",
        "model": {"name": "svoice", "args": {"enc_dim": 16, "kernel_size": 4, "hidden_size": 8, "num_repeats": 2}},
        "data": {"root": str(corpus), "segment_seconds": 0.5, "batch_size": 2, "train_items_per_epoch": 8, "valid_max_items": 2},
        "trainer": {"max_epochs": epochs, "log_every_n_steps": 1, "audio_examples": 0, "enable_progress_bar": False,
                    "deterministic": True},
    }
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    spec = {"study": study, "base": "base.yaml", "axes": axes, "targets": {"val/si_snri": [-100.0, 1000.0]}, **extra}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_grid_records_every_trial_and_diverged_is_an_outcome(speech_corpus, tmp_path):
    path = write_spec(tmp_path, speech_corpus, {"optimizer": [{"name": "adam", "lr": 1e-3}, {"name": "sgd", "lr": 1e12}]})
    spec = load_spec(path)
    result = run_local(spec, tmp_path / "runs")
    by_optimizer = {t.config.optimizer.name: result[t.id] for t in spec.trials}
    assert by_optimizer == {"adam": "completed", "sgd": "diverged"}
    for trial in spec.trials:
        folder = tmp_path / "runs" / "g" / trial.id
        for name in ("config.yaml", "meta.json", "metrics.csv", "last.ckpt", MARKER):
            assert (folder / name).is_file(), (trial.id, name)
        assert list(folder.glob("events.out.tfevents.*"))
        meta = json.loads((folder / "meta.json").read_text())
        assert meta["status"] == by_optimizer[trial.config.optimizer.name]
        assert {"git_commit", "versions", "device", "packing", "start", "end"} <= set(meta)
        assert meta["versions"]["torch"].startswith("2.11")
    adam = next(t for t in spec.trials if t.config.optimizer.name == "adam")
    meta = json.loads((tmp_path / "runs" / "g" / adam.id / "meta.json").read_text())
    reached = meta["result"]["time_to_target"]
    assert "val/si_snri>=-100" in reached and "val/si_snri>=1000" not in reached
    assert reached["val/si_snri>=-100"]["step"] == 4 and reached["val/si_snri>=-100"]["train_seconds"] > 0
    # Rerunning skips finished trials: nothing is trained again.
    stamps = {t.id: (tmp_path / "runs" / "g" / t.id / MARKER).stat().st_mtime_ns for t in spec.trials}
    run_local(spec, tmp_path / "runs")
    assert stamps == {t.id: (tmp_path / "runs" / "g" / t.id / MARKER).stat().st_mtime_ns for t in spec.trials}


def test_stop_at_target_ends_the_trial_early(speech_corpus, tmp_path):
    path = write_spec(tmp_path, speech_corpus, {"seed": [0]}, epochs=3, stop_at_target=True,
                      targets={"val/si_snri": [-100.0]})
    spec = load_spec(path)
    assert run_local(spec, tmp_path / "runs") == {spec.trials[0].id: "stopped-at-target"}
    meta = json.loads((tmp_path / "runs" / "g" / spec.trials[0].id / "meta.json").read_text())
    assert meta["result"]["epochs"] == 1 and meta["result"]["time_to_target"]["val/si_snri>=-100"]["epoch"] == 0


def test_dry_run_counts_states(speech_corpus, tmp_path):
    path = write_spec(tmp_path, speech_corpus, {"seed": [0, 1, 2]})
    spec = load_spec(path)
    runs = tmp_path / "runs"
    (runs / "g" / spec.trials[0].id).mkdir(parents=True)
    (runs / "g" / spec.trials[0].id / MARKER).write_text(json.dumps({"status": "completed"}))
    (runs / "g" / spec.trials[1].id).mkdir()
    done = subprocess.run([sys.executable, "-m", "separation", "grid", str(path), "--dry-run", "-o", str(runs)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "3 trials" in done.stdout and "1 completed" in done.stdout and "1 interrupted" in done.stdout and "1 missing" in done.stdout


def test_grid_root_defaults_to_separation_runs(speech_corpus, tmp_path):
    """Without -o the study is looked for under $SEPARATION_RUNS, not ./runs."""
    path = write_spec(tmp_path, speech_corpus, {"seed": [0, 1]})
    spec = load_spec(path)
    shared = tmp_path / "shared"
    (shared / "g" / spec.trials[0].id).mkdir(parents=True)
    (shared / "g" / spec.trials[0].id / MARKER).write_text(json.dumps({"status": "completed"}))
    env = {**os.environ, "SEPARATION_RUNS": str(shared)}
    done = subprocess.run([sys.executable, "-m", "separation", "grid", str(path), "--dry-run"],
                          capture_output=True, text=True, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert f"2 trials in {shared / 'g'}: 1 completed" in done.stdout
    assert not (tmp_path / "runs").exists()


def test_sigkill_mid_trial_then_rerun_resumes(speech_corpus, tmp_path):
    """Kill the grid in the middle of its second trial; the rerun must not retrain the first,
    must resume the second from its checkpoint, and must end with an uninterrupted run's metrics."""
    path = write_spec(tmp_path, speech_corpus, {"seed": [0, 1]}, epochs=4)
    spec = load_spec(path)
    runs = tmp_path / "runs"
    first, second = (runs / "g" / t.id for t in spec.trials)
    command = [sys.executable, "-m", "separation", "grid", str(path), "-o", str(runs)]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    # Wait until the second trial has checkpointed at least one epoch, then kill without warning.
    while time.time() < deadline and process.poll() is None:
        if (second / "last.ckpt").exists() and (second / "metrics.csv").exists():
            break
        time.sleep(0.2)
    assert process.poll() is None, "grid finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert trial_status(first) == "completed" and trial_status(second) == "interrupted"
    first_marker = (first / MARKER).stat().st_mtime_ns

    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (first / MARKER).stat().st_mtime_ns == first_marker  # not retrained
    meta = json.loads((second / "meta.json").read_text())
    assert meta["status"] == "completed" and meta["attempts"] == 2

    # The same trial trained without interruption gives the same final metrics.
    import dataclasses

    from separation.train import train

    reference = train(dataclasses.replace(spec.trials[1].config, run_dir=str(tmp_path / "uninterrupted")))
    resumed = meta["result"]["metrics"]
    for name in ("val/si_snri", "val/loss", "test/si_snri"):
        assert resumed[name] == pytest.approx(reference.metrics[name], abs=1e-5), name


def test_failed_trials_are_recorded_and_retried_only_when_asked(speech_corpus, tmp_path):
    path = write_spec(tmp_path, speech_corpus, {"data.root": [str(tmp_path / "no_corpus")]}, epochs=1)
    spec = load_spec(path)
    assert run_local(spec, tmp_path / "runs") == {spec.trials[0].id: "failed"}
    folder = tmp_path / "runs" / "g" / spec.trials[0].id
    meta = json.loads((folder / "meta.json").read_text())
    assert "no_corpus" in meta["reason"] and (folder / "error.log").exists()
    run_local(spec, tmp_path / "runs")
    assert json.loads((folder / "meta.json").read_text())["attempts"] == 1
    run_local(spec, tmp_path / "runs", retry_failed=True)
    assert json.loads((folder / "meta.json").read_text())["attempts"] == 2


def test_ray_engine_matches_local(speech_corpus, tmp_path):
    pytest.importorskip("ray")
    from separation.grid.ray_engine import run_ray

    path = write_spec(tmp_path, speech_corpus, {"optimizer": [{"name": "adam", "lr": 1e-3}, {"name": "sgd", "lr": 1e12}]},
                      epochs=1)
    spec = load_spec(path)
    local = run_local(spec, tmp_path / "local")
    distributed = run_ray(spec, tmp_path / "ray", cpus_per_trial=1)
    assert distributed == local
    for trial in spec.trials:
        meta = json.loads((tmp_path / "ray" / "g" / trial.id / "meta.json").read_text())
        assert meta["engine"] == "ray"
