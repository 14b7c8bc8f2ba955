"""A fourth task is one entry of `separation.tasks.TASKS`: nothing else in the package changes.

The toy task denoises a sine (in-memory data, a two-layer convolution, its own
metric "SNRi"). Registered for this test only, it goes through `separation train`,
a two-trial `separation grid`, `separation evaluate` of each trial, `separation
report` and the step benchmark, each looking the task up in the registry.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import yaml
from torch.utils.data import DataLoader

from separation.cli import main
from separation.evaluation.scores import Evaluation
from separation.losses import si_snr
from separation.models import MODELS
from separation.systems.base import SeparationSystem
from separation.tasks import TASKS, Chunking, Headline, Task


@dataclass
class ToyData:
    sample_rate: int = 400
    segment_seconds: float = 0.1
    batch_size: int = 2
    items: int = 8
    num_workers: int = 0


def toy_items(data: ToyData, seed: int, count: int) -> list[dict]:
    """`count` items `{"noisy", "clean": (1, time)}`: a sine of a drawn pitch in white noise."""
    generator = torch.Generator().manual_seed(seed)
    time = torch.arange(int(data.segment_seconds * data.sample_rate)) / data.sample_rate
    items = []
    for _ in range(count):
        pitch = 20 + 60 * torch.rand(1, generator=generator)
        clean = torch.sin(2 * math.pi * pitch * time)[None]
        items.append({"noisy": clean + 0.5 * torch.randn(clean.shape, generator=generator), "clean": clean})
    return items


class ToyDataModule(pl.LightningDataModule):
    def __init__(self, data: ToyData, seed: int):
        super().__init__()
        self.data, self.seed = data, seed

    def train_dataloader(self):
        return DataLoader(toy_items(self.data, self.seed, self.data.items), batch_size=self.data.batch_size)

    def val_dataloader(self):
        return DataLoader(toy_items(self.data, 10_000, 2), batch_size=1)

    def test_dataloader(self):
        return DataLoader(toy_items(self.data, 20_000, 2), batch_size=1)


class ToyDenoiser(torch.nn.Module):
    """(batch, 1, time) -> (batch, 1, time)."""

    def __init__(self, hidden: int = 4):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Conv1d(1, hidden, 9, padding=4), torch.nn.Tanh(),
                                       torch.nn.Conv1d(hidden, 1, 9, padding=4))

    def forward(self, noisy):
        return noisy + self.net(noisy)


class ToySystem(SeparationSystem):
    input_channels = (1,)

    def __init__(self, config):
        super().__init__(config, dict(config.model.args))

    def training_step(self, batch, batch_idx):
        loss = -si_snr(self.model(batch["noisy"]), batch["clean"]).mean()
        self.log("train/loss", loss, on_step=True, batch_size=batch["noisy"].shape[0])
        return self.guard_loss(loss)

    def _evaluate(self, batch, stage):
        noisy, clean = batch["noisy"], batch["clean"]
        gain = (si_snr(self.model(noisy), clean) - si_snr(noisy, clean)).mean()
        self.log(f"{stage}/loss", -gain, batch_size=noisy.shape[0])
        self.log(f"{stage}/snr_gain", gain, batch_size=noisy.shape[0])

    def validation_step(self, batch, batch_idx):
        self._evaluate(batch, "val")

    def test_step(self, batch, batch_idx):
        self._evaluate(batch, "test")


def toy_evaluate(loaded, args) -> str:
    data = ToyData(**loaded.config["data"])
    with torch.no_grad():
        gains = [float(si_snr(loaded.model(item["noisy"][None]), item["clean"][None]) - si_snr(item["noisy"][None], item["clean"][None]))
                 for item in toy_items(data, 20_000, 3)]
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps({"snr_gain": sum(gains) / len(gains), "items": len(gains)}))
    return f"toy: {len(gains)} items, SNRi {sum(gains) / len(gains):.2f} dB ({out})"


def toy_scores(folder) -> Evaluation | None:
    path = Path(folder) / "summary.json"
    if not path.is_file():
        return None
    summary = json.loads(path.read_text())
    return Evaluation({"SNRi": summary["snr_gain"]}, method="mean SI-SNR gain over 3 items", data={"items": summary["items"]})


TOY = Task(
    name="toy", data_config=lambda: ToyData, validate=lambda config, models: None,
    system=lambda: ToySystem, datamodule=lambda config: ToyDataModule(config.data, config.seed),
    model_args=lambda config: dict(config.model.args),
    headline=Headline("val/snr_gain", "test/snr_gain", "SNRi", test_metrics=("test/snr_gain",)),
    separator=None, chunking=Chunking(1.0, 0.25, 1), evaluate=toy_evaluate, evaluation_file="summary.json",
    evaluation_scores=toy_scores, model_method=None, description="a sine denoised; SNRi is the SI-SNR gain",
    bench_batches=lambda config, count, seed, device: [next(iter(ToyDataModule(config.data, seed).train_dataloader()))] * count,
    loss_in_db=True, input_name="noisy sine",
)
BASE = {"task": "toy", "model": {"name": "toy_denoiser", "args": {"hidden": 4}}, "optimizer": {"name": "adam", "lr": 1e-2},
        "trainer": {"max_epochs": 2, "log_every_n_steps": 1, "audio_examples": 0, "enable_progress_bar": False,
                    "deterministic": True}}


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setitem(TASKS, "toy", TOY)
    monkeypatch.setitem(MODELS, "toy_denoiser", ToyDenoiser)


def test_a_toy_task_trains_runs_a_grid_is_evaluated_and_reported(toy, tmp_path):
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(BASE))
    assert main(["train", str(tmp_path / "toy.yaml"), "-o", str(tmp_path / "run")]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert math.isfinite(summary["metrics"]["test/snr_gain"]) and (tmp_path / "run" / "best.ckpt").is_file()

    spec = {"study": "toys", "base": "toy.yaml", "axes": {"optimizer.lr": [1e-2, 3e-2]}}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    assert main(["grid", str(tmp_path / "spec.yaml"), "-o", str(tmp_path / "runs")]) == 0
    trials = sorted(p for p in (tmp_path / "runs" / "toys").iterdir() if (p / "config.yaml").is_file())
    assert len(trials) == 2
    for trial in trials:
        assert main(["evaluate", str(trial / "last.ckpt"), "-o", str(trial / "eval_test")]) == 0

    out = tmp_path / "report"
    assert main(["report", str(tmp_path / "runs" / "toys"), "-o", str(out), "--spec", str(tmp_path / "spec.yaml")]) == 0
    report = (out / "REPORT.md").read_text()
    assert "selection metric `val/snr_gain`, reported metric `test/snr_gain`" in report
    assert "validation SNRi" in report and "a sine denoised" in report
    assert "SNRi" in (out / "evaluation.csv").read_text()


def test_the_step_benchmark_times_the_toy_tasks_own_system_on_its_batches(toy, tmp_path):
    from separation.bench.step_timing import _batches, measure
    from separation.config import config_from_dict

    config = config_from_dict(BASE)
    result = measure(config, _batches(config, 0, "cpu"), "cpu", steps=3, warmup=1)
    assert result["task"] == "toy" and result["steps_done"] == 3 and math.isfinite(result["final_loss"])
    assert result["parameters"] == sum(p.numel() for p in ToyDenoiser(4).parameters())
