"""Training and evaluating the music U-Net: logging, checkpoints, metrics and one grid epoch."""

import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger

from separation.config import Config, ConfigError, ModelConfig, OptimizerConfig, TrainerConfig
from separation.data.music_datamodule import MusicDataConfig, MusicDataModule
from separation.data.music_datasets import MusicEvalDataset, find_music_tracks, target_definitions
from separation.evaluation.music import (
    evaluate_checkpoint,
    evaluate_music,
    evaluation_groups,
    global_sdr,
)
from separation.inference.checkpoint import load_checkpoint
from separation.systems.music import MusicSeparationSystem
from separation.training.metrics_csv import MetricsCsvLogger

REPO = Path(__file__).resolve().parents[1]
TINY_MODEL = {"filters": [4, 8, 16], "max_bins": 128, "patch_frames": 32}


def tiny_music_config(root, run_dir, **model_args) -> Config:
    data = MusicDataConfig(
        root=str(root), segment_seconds=0.75, batch_size=2, train_items_per_epoch=4, valid_seconds=1.0, test_seconds=1.0
    )
    return Config(
        task="music",
        run_dir=str(run_dir),
        model=ModelConfig("unet", {**TINY_MODEL, **model_args}),
        data=data,
        optimizer=OptimizerConfig("adam", 1e-3),
        trainer=TrainerConfig(max_epochs=1, audio_examples=1, enable_progress_bar=False),
    )


def fit(config: Config, run_dir: Path, epochs: int = 1):
    pl.seed_everything(config.seed, verbose=False)
    system = MusicSeparationSystem(config)
    loggers = [TensorBoardLogger(str(run_dir), name="", version="", default_hp_metric=False), MetricsCsvLogger(run_dir)]
    trainer = pl.Trainer(
        max_epochs=epochs, logger=loggers, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, log_every_n_steps=1, accelerator="cpu",
    )
    datamodule = MusicDataModule(config.data, seed=config.seed)
    trainer.fit(system, datamodule=datamodule)
    trainer.test(system, datamodule=datamodule, verbose=False)
    return system, trainer


def read_metrics(run_dir: Path) -> dict[str, list[float]]:
    series = defaultdict(list)
    with open(run_dir / "metrics.csv") as handle:
        for row in csv.DictReader(handle):
            series[row["metric"]].append(float(row["value"]))
    return series


def test_an_epoch_logs_losses_sdr_per_stem_audio_and_hparams(music_corpus, tmp_path):
    system, trainer = fit(tiny_music_config(music_corpus, tmp_path), tmp_path)
    series = read_metrics(tmp_path)
    expected = {
        "train/loss_step", "train/lr", "train/grad_norm_pre_clip", "train/grad_norm_post_clip", "train/clipped",
        "train/loss_vocals", "train/loss_accompaniment", "val/loss", "val/sdr", "val/sdr_vocals",
        "val/sdr_accompaniment", "hp/val_sdr", "hp/best_val_sdr", "hp/val_loss", "test/sdr", "test/sdr_vocals",
        "hp/test_sdr",
    }
    assert expected <= set(series), expected - set(series)
    assert len(series["train/loss_step"]) == 2  # 4 chunks / batch 2
    mean_sdr = (series["val/sdr_vocals"][0] + series["val/sdr_accompaniment"][0]) / 2
    assert series["val/sdr"][0] == pytest.approx(mean_sdr, abs=1e-4)
    assert np.isfinite(series["val/sdr"]).all() and series["hp/best_val_sdr"] == series["val/sdr"]

    tags = event_tags(tmp_path)
    assert {"example0/mixture", "example0/estimate_vocals", "example0/reference_accompaniment"} <= tags
    assert {"_hparams_/session_start_info", "val/sdr_vocals", "train/lr"} <= tags


def event_tags(run_dir: Path) -> set[str]:
    """Every summary tag in every TensorBoard event file of a run (fit and test may write separate files)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    return {
        value.tag
        for path in run_dir.glob("events.out.tfevents.*")
        for event in EventFileLoader(str(path)).Load()
        for value in event.summary.value
    }


def test_loss_falls_when_fitting_one_batch(music_corpus, tmp_path):
    config = tiny_music_config(music_corpus, tmp_path, dropout=0.0)
    torch.manual_seed(0)
    system = MusicSeparationSystem(config)
    module = MusicDataModule(config.data, seed=0)
    module.setup("fit")
    batch = next(iter(module.train_dataloader()))
    optimizer = torch.optim.Adam(system.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss, per_stem = system._l1(batch["mixture"], batch["targets"])
        assert loss.item() == pytest.approx(per_stem.sum().item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses


def test_checkpoint_rebuilds_the_separator(music_corpus, tmp_path):
    system, trainer = fit(tiny_music_config(music_corpus, tmp_path, stems=["vocals", "accompaniment"]), tmp_path)
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    rebuilt = load_checkpoint(path).model
    mixture = torch.randn(1, 2, 20000)
    torch.testing.assert_close(rebuilt.separate(mixture), system.model.eval().separate(mixture))
    assert torch.load(path, weights_only=True)["best_score"] == system.best_score
    result = evaluate_checkpoint(path, music_corpus, "test", seconds=1.0, log=None)
    assert (tmp_path / "eval_test" / "bsseval.csv").is_file() and result["tracks_evaluated"] == 1
    assert set(result["aggregate"]) == {"vocals", "accompaniment"}


def test_model_stems_must_match_the_data(music_corpus, tmp_path):
    with pytest.raises(ConfigError, match="differ from data.stems"):
        MusicSeparationSystem(tiny_music_config(music_corpus, tmp_path, stems=4))


def test_global_sdr_values():
    reference = torch.randn(3, 2, 1000)
    assert (global_sdr(reference, reference) > 80).all()
    torch.testing.assert_close(global_sdr(0.5 * reference, reference), torch.full((3,), 6.0206), atol=1e-3, rtol=0)
    torch.testing.assert_close(global_sdr(torch.zeros_like(reference), reference), torch.zeros(3), atol=1e-6, rtol=0)
    silent = torch.zeros(1, 2, 1000)
    assert global_sdr(silent, silent).item() == 0.0  # silence estimated as silence: finite, not NaN


def test_evaluation_groups_follow_museval():
    assert evaluation_groups(["vocals", "accompaniment"]) == [["vocals", "accompaniment"]]
    assert evaluation_groups(["vocals", "drums", "bass", "other"]) == [["vocals", "drums", "bass", "other"]]
    assert evaluation_groups(["vocals", "drums", "accompaniment"]) == [["vocals", "drums"], ["vocals", "accompaniment"]]


class _Oracle(torch.nn.Module):
    """Separates perfectly by looking the mixture up among known tracks (an upper bound for the metrics)."""

    stems = ("vocals", "accompaniment")

    def __init__(self, dataset):
        super().__init__()
        self.answers = [dataset[i] for i in range(len(dataset))]

    def separate(self, mixture):
        for item in self.answers:
            if torch.equal(item["mixture"], mixture[0]):
                return item["targets"][None] + 1e-3 * torch.randn_like(item["targets"][None])
        raise AssertionError("unknown mixture")


def test_museval_report(music_corpus, tmp_path):
    tracks = find_music_tracks(music_corpus, "train")
    dataset = MusicEvalDataset(tracks, target_definitions(music_corpus, ["vocals", "accompaniment"]), 2 * 44100)
    torch.manual_seed(0)
    oracle = _Oracle(dataset)
    result = evaluate_music(lambda mixture: oracle.separate(torch.from_numpy(mixture)[None])[0].numpy(), oracle.stems,
                            dataset, tmp_path, log=None)
    assert set(result["tracks"]) == {t.name for t in tracks}
    for stem in ("vocals", "accompaniment"):
        per_track = [result["tracks"][t.name][stem]["SDR"] for t in tracks]
        assert min(per_track) > 25  # near-perfect estimates
        assert result["aggregate"][stem]["SDR"] == pytest.approx(np.median(per_track))
    with open(tmp_path / "bsseval.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(tracks) * 2 * 4 and {r["metric"] for r in rows} == {"SDR", "SIR", "ISR", "SAR"}
    saved = json.loads((tmp_path / "bsseval.json").read_text())
    assert saved["aggregate"]["vocals"]["SDR"] == pytest.approx(result["aggregate"]["vocals"]["SDR"])
    assert "BSSEval v4" in saved["method"]


# ---------------------------------------------------------------------------
# Needs the lead's wiring: task "music" in separation.config, "unet" in
# separation.models, the music entry of separation.tasks.TASKS.


def test_one_epoch_through_the_grid_runner(music_corpus, tmp_path):
    from separation.grid.runner import run_local
    from separation.grid.spec import load_spec

    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"study: unet_smoke\n"
        f"base: {REPO / 'experiments' / 'configs' / 'unet_tiny.yaml'}\n"
        f"set:\n"
        f"  data.root: {music_corpus}\n"
        f"  model.args: {{filters: [4, 8, 16], max_bins: 128, patch_frames: 32}}\n"
        f"  data.segment_seconds: 0.75\n"
        f"  data.train_items_per_epoch: 4\n"
        f"  data.batch_size: 2\n"
        f"  data.valid_seconds: 1.0\n"
        f"  data.test_seconds: 1.0\n"
        f"  trainer.max_epochs: 1\n"
        f"  trainer.enable_progress_bar: false\n"
        f"axes:\n"
        f"  optimizer: [{{name: adam, lr: 1.0e-4}}, {{name: sgd_momentum, lr: 0.01}}]\n"
    )
    grid = load_spec(spec)
    statuses = run_local(grid, tmp_path / "runs")
    assert sorted(statuses.values()) == ["completed", "completed"]
    for trial in grid.trials:
        summary = json.loads((tmp_path / "runs" / "unet_smoke" / trial.id / "summary.json").read_text())
        assert summary["status"] == "completed" and summary["global_step"] == 2
        assert {"val/sdr", "val/sdr_vocals", "test/sdr"} <= set(summary["metrics"])
        assert (tmp_path / "runs" / "unet_smoke" / trial.id / "best.ckpt").is_file()
    # The music report shows SDRi beside SDR and the mixture / oracle-mask reference rows of the same test excerpts.
    from separation.analysis.report import write_report

    report = write_report(tmp_path / "runs" / "unet_smoke", tmp_path / "report", spec).read_text()
    assert "test SDRi median [IQR]" in report and "| oracle ratio mask |" in report and "| mixture |" in report
    trials = pd.read_csv(tmp_path / "report" / "trials.csv")
    assert (trials["ref[test/sdr_oracle]"] > trials["ref[test/sdr_mixture]"]).all()
    assert trials["ref[test/sdr_mixture]"].abs().max() < 1e-3  # two stems: the mixture's SDRs cancel in the mean
    assert "Not computed: it compares 2 cell(s)" in report


def test_experiment_specs_expand():
    from separation.grid.spec import load_spec

    quick = load_spec(REPO / "experiments" / "unet_quick.yaml")
    assert all(t.config.task == "music" and t.config.model.name == "unet" for t in quick.trials)
    study = load_spec(REPO / "experiments" / "unet_optimizers.yaml")
    baseline = [
        t for t in study.trials
        if (t.config.optimizer.name, t.config.optimizer.lr, t.config.scheduler.name, t.config.clipping.mode)
        == ("adam", 1e-4, "none", "none")
    ]
    assert len(baseline) == len(set(t.config.seed for t in study.trials))
    assert {t.config.optimizer.name for t in study.trials} >= {"adam", "adamw", "sgd_momentum", "rmsprop"}


def test_cpu_optimizer_study_sweeps_six_optimizers_around_spleeters_adam():
    from separation.grid.spec import load_spec
    from separation.systems.music import music_model_args
    from separation.models import build_model

    study = load_spec(REPO / "experiments" / "unet_optimizers_cpu.yaml")
    lrs = defaultdict(set)
    for trial in study.trials:
        lrs[trial.config.optimizer.name].add(trial.config.optimizer.lr)
    assert len(lrs) >= 6 and all(len(values) >= 3 for values in lrs.values()), dict(lrs)
    assert 1e-4 in lrs["adam"] and {"sgd_momentum", "rmsprop", "adagrad", "adadelta"} <= set(lrs)
    config = study.trials[0].config
    model = build_model(config.model.name, music_model_args(config))
    samples = int(round(config.data.segment_seconds * config.data.sample_rate))
    # Training segments fill exactly one patch of the U-Net: no padded frames in training.
    assert model.stft.frames(samples, pad=False) == model.patch_frames
    assert config.trainer.max_epochs * config.data.train_items_per_epoch // config.data.batch_size == 512
