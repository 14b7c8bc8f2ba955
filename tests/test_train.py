"""Training one run end to end: what it writes, logs, clips, resumes and how it diverges."""

import csv
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import torch

from conftest import tiny_speech_config
from separation.train import train

EXPECTED_SCALARS = {
    "train/loss_step",
    "train/lr",
    "train/grad_norm_pre_clip",
    "train/grad_norm_post_clip",
    "train/clipped",
    "train/sec_per_step",
    "val/loss",
    "val/si_snr",
    "val/si_snri",
    "hp/val_si_snri",
    "hp/best_val_si_snri",
}


def read_metrics(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    series = defaultdict(list)
    with open(run_dir / "metrics.csv") as handle:
        for row in csv.DictReader(handle):
            series[row["metric"]].append((int(row["step"]), float(row["value"])))
    return series


def test_run_writes_everything_a_study_needs(speech_corpus, tmp_path):
    config = tiny_speech_config(speech_corpus, tmp_path / "run", **{"clipping.mode": "norm", "clipping.value": 1e-3})
    result = train(config)
    run = tmp_path / "run"
    assert result.status == "completed" and result.reason is None
    assert result.global_step == 8  # 2 epochs x 8 items / batch 2
    for name in ("config.yaml", "summary.json", "last.ckpt", "best.ckpt", "metrics.csv"):
        assert (run / name).is_file(), name
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and "test/si_snri" in summary["metrics"]

    series = read_metrics(run)
    assert EXPECTED_SCALARS <= set(series), EXPECTED_SCALARS - set(series)
    # Clipping at 1e-3: every step clipped, and the post-clip norm is the clip value.
    assert all(v == 1.0 for _, v in series["train/clipped"])
    assert all(abs(v - 1e-3) < 1e-6 for _, v in series["train/grad_norm_post_clip"])
    assert all(v > 1e-3 for _, v in series["train/grad_norm_pre_clip"])

    tags = event_tags(run)
    assert {"train/lr", "val/si_snri", "train/grad_norm_pre_clip", "hp/val_si_snri"} <= tags["scalars"]
    assert any(tag.startswith("example0/estimate") for tag in tags["audio"])
    assert "_hparams_/session_start_info" in tags["hparams"]


def event_tags(run_dir: Path) -> dict[str, set[str]]:
    """Tags of every TensorBoard event file in a run folder, by plugin (scalars, audio, hparams)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    tags = defaultdict(set)
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                tags[value.metadata.plugin_data.plugin_name].add(value.tag)
    return tags


def test_without_clipping_norms_are_untouched(speech_corpus, tmp_path):
    train(tiny_speech_config(speech_corpus, tmp_path / "run", **{"trainer.max_epochs": 1}), test=False)
    series = read_metrics(tmp_path / "run")
    pre = [v for _, v in series["train/grad_norm_pre_clip"]]
    post = [v for _, v in series["train/grad_norm_post_clip"]]
    assert pre == post and all(v == 0.0 for _, v in series["train/clipped"])


def test_resume_equals_uninterrupted(speech_corpus, tmp_path):
    whole = train(tiny_speech_config(speech_corpus, tmp_path / "whole", **{"trainer.max_epochs": 3}), test=False)
    first = train(tiny_speech_config(speech_corpus, tmp_path / "split", **{"trainer.max_epochs": 1}), test=False)
    assert first.global_step == 4
    resumed = train(tiny_speech_config(speech_corpus, tmp_path / "split", **{"trainer.max_epochs": 3}), test=False)
    assert resumed.global_step == whole.global_step == 12
    assert resumed.metrics["val/si_snri"] == pytest.approx(whole.metrics["val/si_snri"], abs=1e-5)
    a = torch.load(tmp_path / "whole" / "last.ckpt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "split" / "last.ckpt", weights_only=True)["state_dict"]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    # metrics.csv has each step once, as if the run had never stopped.
    steps = [s for s, _ in read_metrics(tmp_path / "split")["train/loss_step"]]
    assert steps == sorted(set(steps)) and len(steps) == 12


def test_seed_fixes_initial_weights(speech_corpus, tmp_path):
    from separation.systems.speech import SpeechSeparationSystem
    import pytorch_lightning as pl

    def initial(seed):
        pl.seed_everything(seed, verbose=False)
        config = tiny_speech_config(speech_corpus, tmp_path, seed=seed)
        return torch.cat([p.detach().flatten() for p in SpeechSeparationSystem(config).parameters()])

    assert torch.equal(initial(3), initial(3)) and not torch.equal(initial(3), initial(4))


def test_huge_learning_rate_ends_as_diverged(speech_corpus, tmp_path):
    config = tiny_speech_config(speech_corpus, tmp_path / "run", **{"optimizer.name": "sgd", "optimizer.lr": 1e12,
                                                                     "trainer.max_epochs": 5})
    result = train(config)
    assert result.status == "diverged"
    assert "non-finite" in result.reason
    assert result.global_step < 20  # stopped early, not trained to the end
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "diverged"


def test_cli_reports_bad_config_in_one_line(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("optimizer: {name: adamm}\n")
    done = subprocess.run([sys.executable, "-m", "separation", "train", str(config)], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "c.yaml" in done.stderr and "'optimizer.name' is 'adamm'" in done.stderr


def test_bf16_mixed_precision_trains_with_float32_metrics(speech_corpus, tmp_path):
    config = tiny_speech_config(speech_corpus, tmp_path / "run", **{"trainer.precision": "bf16-mixed", "trainer.max_epochs": 1})
    result = train(config, test=False)
    assert result.status == "completed"
    assert all(v == v for v in result.metrics.values())  # no NaN
    series = read_metrics(tmp_path / "run")
    assert "val/si_snri" in series and "train/grad_norm_pre_clip" in series
