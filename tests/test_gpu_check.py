"""The GPU check (separation.bench): its CPU dry run, its synthetic audio, packing that changes no result."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from separation.bench.gpu_report import SECTIONS, precision_verdict
from separation.bench.signals import music_batches, speech_batches, voices, write_voice_corpus

REPO = Path(__file__).resolve().parents[1]


def test_voices_are_unit_rms_and_reproducible():
    first = voices(torch.Generator().manual_seed(3), 4, 4000, 8000)
    again = voices(torch.Generator().manual_seed(3), 4, 4000, 8000)
    assert first.shape == (4, 4000) and torch.equal(first, again)
    assert torch.allclose(first.pow(2).mean(-1), torch.ones(4), atol=1e-4)
    # No harmonic above 0.45 * rate (no aliasing): all the energy lies below it.
    spectrum = torch.fft.rfft(first).abs().pow(2)
    below = torch.fft.rfftfreq(4000, 1 / 8000) < 0.46 * 8000
    assert spectrum[:, below].sum() / spectrum.sum() > 0.999


def test_batches_have_the_datamodules_shapes():
    speech = speech_batches(2, batch=3, n_src=2, seconds=0.25, sample_rate=8000)
    assert len(speech) == 2 and speech[0]["sources"].shape == (3, 2, 2000)
    assert torch.allclose(speech[0]["mixture"], speech[0]["sources"].sum(1))
    music = music_batches(1, batch=2, stems=2, channels=2, seconds=0.1, sample_rate=44100)
    assert music[0]["targets"].shape == (2, 2, 2, 4410) and music[0]["mixture"].shape == (2, 2, 4410)
    assert torch.allclose(music[0]["mixture"], music[0]["targets"].sum(1))


def test_voice_corpus_is_librimix_shaped_with_disjoint_speakers(tmp_path):
    from separation.data.audio import read_wav
    from separation.data.speech_datasets import find_speech_split, utterance_speakers

    write_voice_corpus(tmp_path, n_train=4, n_dev=2, n_test=2, seconds=0.3, speakers=9)
    speakers = {}
    for split in ("train-100", "dev", "test"):
        items = find_speech_split(tmp_path, "librimix", split, n_src=2, sample_rate=8000)
        assert len(items) == {"train-100": 4, "dev": 2, "test": 2}[split]
        speakers[split] = {s for item in items for s in utterance_speakers(item.id, "librimix")}
        item = items[0]
        mixture = read_wav(item.mixture, 8000)
        parts = [read_wav(path, 8000) for path in item.sources]
        assert len(mixture) == 2400 and np.array_equal(mixture, parts[0] + parts[1])  # exact on the 16-bit grid
    assert not (speakers["train-100"] & speakers["dev"]) and not (speakers["train-100"] & speakers["test"])


def test_bf16_verdict_follows_the_loss_gap():
    def part(task, full, half, half_steps=50):
        rows = [{"precision": "32", "losses": [full] * 50, "sec_per_step_median": 0.2, "peak_gpu_mib": 1000.0},
                {"precision": "bf16-mixed", "losses": [half] * half_steps, "sec_per_step_median": 0.1,
                 "peak_gpu_mib": 600.0}]
        return {"task": task, "rows": rows}

    close = precision_verdict(part("speech", -5.0, -4.5))
    assert close["tracks"] and close["speedup"] == pytest.approx(2.0) and close["memory_ratio"] == pytest.approx(0.6)
    assert not precision_verdict(part("speech", -5.0, 3.0))["tracks"]
    assert precision_verdict(part("music", 1.0, 1.04))["tracks"] and not precision_verdict(part("music", 1.0, 1.2))["tracks"]
    assert precision_verdict({"task": "speech", "rows": []})["verdict"] == "not measured"
    assert not precision_verdict(part("speech", -5.0, float("nan")))["tracks"]
    # A precision stopped early by the time budget is compared at the steps both completed.
    early = part("speech", -5.0, -5.0, half_steps=30)
    early["rows"][0]["losses"] = [-5.0] * 30 + [-20.0] * 20
    assert precision_verdict(early)["steps"] == 30 and precision_verdict(early)["tracks"]


def test_gpu_study_specs_state_their_budget():
    """The comments of experiments/svoice_*_gpu.yaml quote these trial counts and 8,000 steps per trial."""
    from separation.bench.gpu_check import projection_part

    rows = projection_part({"rows": [{"precision": "32", "sec_per_step_median": 0.45}]})["rows"]
    counts = {row["spec"]: (row["trials"], row["steps_per_trial"]) for row in rows}
    assert counts == {"svoice_optimizers_gpu.yaml": (90, 8000), "svoice_schedulers_gpu.yaml": (20, 8000),
                      "svoice_clipping_gpu.yaml": (15, 8000)}
    assert rows[0]["gpu_hours"] == pytest.approx(90 * 8000 * 0.45 / 3600)


def test_reference_size_is_the_gpu_studies_base():
    from separation.config import load_config
    from separation.systems.speech import SpeechSeparationSystem

    config = load_config(REPO / "experiments" / "configs" / "svoice_gpu.yaml")
    assert sum(p.numel() for p in SpeechSeparationSystem(config).parameters()) == 7_558_913
    assert (config.data.segment_seconds, config.data.batch_size) == (4.0, 4)


def test_unet_step_is_spleeters_two_stem_model():
    from separation.bench.gpu_check import UNET_2STEMS, UNET_CONFIG
    from separation.config import load_config
    from separation.systems.music import MusicSeparationSystem

    config = load_config(UNET_CONFIG, UNET_2STEMS)
    model = MusicSeparationSystem(config).model
    assert list(model.stems) == ["vocals", "accompaniment"] and config.data.batch_size == 4
    assert sum(p.numel() for p in model.parameters()) == 2 * 9_823_749
    frames = model.magnitude(torch.zeros(1, 2, int(config.data.segment_seconds * config.data.sample_rate))).shape[-1]
    assert frames == model.patch_frames == 512


def test_gpu_sampler_reads_nvidia_smi(tmp_path, monkeypatch):
    """Utilisation and memory as `nvidia-smi --query-gpu=utilization.gpu,memory.used` prints them, with units off."""
    from separation.bench.packing import GpuSampler

    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\nwhile true; do echo '37, 1234'; echo '[N/A], 9'; sleep 0.1; done\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    with GpuSampler() as sampler:
        time.sleep(1.0)
    stats = sampler.between(0, time.time())
    assert stats["gpu_samples"] >= 2 and stats["gpu_util_mean"] == 37 and stats["gpu_memory_max_mib"] == 1234
    assert sampler.between(0, 1) == {}


def test_cuda_without_a_gpu_fails_in_one_line(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    done = subprocess.run([sys.executable, "-m", "separation.bench.gpu_check", "--device", "cuda", "--out",
                           str(tmp_path / "r.md")], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "no CUDA device" in done.stderr
    assert not (tmp_path / "r.md").exists()


def test_cpu_dry_run_reports_every_part_and_packing_changes_nothing(tmp_path):
    """`--device cpu --tiny`: what a GPU run does, at tiny sizes; packed K=2 through the Ray engine
    (one logical GPU) gives exactly the final metrics of the same trials run alone (K=1)."""
    pytest.importorskip("ray")
    report = tmp_path / "gpu_cpu_tiny.md"
    started = time.time()
    done = subprocess.run(
        [sys.executable, "-m", "separation.bench.gpu_check", "--device", "cpu", "--tiny", "--engine", "ray",
         "--budget-minutes", "6",  # room for a loaded machine: it needs about 50 s of CPU
         "--out", str(report), "--work", str(tmp_path / "work"), "--copy-to", str(tmp_path / "copy")],
        capture_output=True, text=True, cwd=REPO, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    text = report.read_text()
    for section in SECTIONS:
        assert section in text, section
    results = json.loads(report.with_suffix(".json").read_text())
    assert (tmp_path / "copy" / report.name).read_text() == text
    assert results["wall_seconds"] < time.time() - started + 1

    for model in ("svoice", "unet"):
        part = results[model]
        assert "error" not in part, part
        rows = {row["precision"]: row for row in part["rows"]}
        assert set(rows) == {"32", "bf16-mixed"}
        for row in rows.values():
            assert row["steps_done"] == row["steps_asked"] == 8
            assert row["sec_per_step_median"] > 0 and np.isfinite(row["final_loss"]) and row["diverged"] is None
        # Same initial weights, same batches: the first step's loss hardly depends on the precision.
        assert rows["32"]["losses"][0] == pytest.approx(rows["bf16-mixed"]["losses"][0], rel=0.05, abs=0.05)
        assert precision_verdict(part)["verdict"] in ("tracks fp32", "does NOT track fp32")

    packing = results["packing"]
    assert packing["engine"] == "ray" and not packing["stopped_at_deadline"]
    rows = {row["k"]: row for row in packing["rows"]}
    assert set(rows) == {1, 2}
    for k, row in rows.items():
        assert row["status"] == "complete" and row["trials_completed"] == 2 and row["trials_per_hour"] > 0
        assert row["packing_recorded"] == [k]  # K=2 ran on half a (logical) GPU each
    check = packing["metric_check"]
    assert check["pairs"] == 2 and set(check["max_abs_difference"]) == {"val/si_snri", "val/loss", "test/si_snri"}
    assert all(value == 0.0 for value in check["max_abs_difference"].values())

    assert [row["spec"] for row in results["projection"]["rows"]] == [
        "svoice_optimizers_gpu.yaml", "svoice_schedulers_gpu.yaml", "svoice_clipping_gpu.yaml"]
    assert all(row["gpu_hours"] > 0 for row in results["projection"]["rows"])
    assert "GPU check:" in done.stdout and str(report) in done.stdout


def test_process_packing_matches_trials_run_alone(tmp_path):
    """The engine used where Ray is missing: K worker processes per device, same final metrics as K=1."""
    from separation.bench.gpu_check import TINY
    from separation.bench.packing import measure_packing

    result = measure_packing(tmp_path, TINY["packing"]["size"], 2, [1, 2], "cpu", "processes", time.time() + 300)
    rows = {row["k"]: row for row in result["rows"]}
    assert [rows[k]["trials_completed"] for k in (1, 2)] == [2, 2]
    assert rows[2]["packing_recorded"] == [2] and rows[1]["engine"] == "processes"
    assert result["metric_check"]["pairs"] == 2
    assert all(value == 0.0 for value in result["metric_check"]["max_abs_difference"].values())


def test_packing_stops_at_its_deadline(tmp_path):
    """A deadline that leaves no time: the child is killed, and the report says what did not run."""
    from separation.bench.gpu_check import TINY
    from separation.bench.packing import measure_packing

    started = time.time()
    result = measure_packing(tmp_path, TINY["packing"]["size"], 2, [1, 2], "cpu", "processes", time.time() + 1)
    assert time.time() - started < 30
    assert result["stopped_at_deadline"]
    assert all(row["status"] == "not started (time budget)" or "stopped" in row["status"] or
               row.get("trials_completed", 0) < 2 for row in result["rows"])
