"""SIGINT / SIGTERM: finish the step, checkpoint it, exit 130 / 143; the rerun resumes exactly."""

import csv
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import yaml

from conftest import tiny_speech_config
from separation.config import config_to_dict
from separation.grid.spec import load_spec
from separation.grid.trial import MARKER, trial_status
from separation.train import train
from separation.training import interrupt
from test_grid_run import write_spec

STEPS_PER_EPOCH = 4  # tiny config: 8 items per epoch, batches of 2


def _rows(run_dir: Path) -> Counter:
    with open(run_dir / "metrics.csv", newline="") as handle:
        return Counter((row["step"], row["metric"]) for row in csv.DictReader(handle))


def _final(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())["metrics"]


class SignalAtStep(pl.Callback):
    """Delivers the stop request the way the handler does, at a chosen step (deterministic)."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == self.step:
            interrupt.request(signal.SIGINT)


def test_interrupt_mid_epoch_then_resume_equals_uninterrupted(speech_corpus, tmp_path):
    config = tiny_speech_config(speech_corpus, tmp_path / "interrupted")
    with pytest.raises(interrupt.TrainingInterrupted) as raised:
        train(config, extra_callbacks=[SignalAtStep(6)])
    interrupt.clear()
    assert raised.value.exit_code == 130
    saved = torch.load(tmp_path / "interrupted" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == 6 and 6 % STEPS_PER_EPOCH != 0  # mid-epoch, at the step the signal came
    resumed = train(config)
    assert resumed.resume["resumed_from"] == "last.ckpt" and resumed.resume["global_step"] == 6
    reference = train(tiny_speech_config(speech_corpus, tmp_path / "reference"))
    for name in ("val/loss", "val/si_snri", "test/si_snri"):
        assert resumed.metrics[name] == pytest.approx(reference.metrics[name], abs=1e-6), name
    # Same rows as the uninterrupted run: nothing lost at the interrupted step, nothing logged twice.
    assert _rows(tmp_path / "interrupted") == _rows(tmp_path / "reference")


def _wait_for(path: Path, process: subprocess.Popen, seconds: float = 300) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline and process.poll() is None and not path.exists():
        time.sleep(0.05)
    assert process.poll() is None, "finished before it could be interrupted"


def test_sigint_during_train_exits_130_and_the_rerun_resumes(speech_corpus, tmp_path):
    # A subprocess stopped as `timeout -s INT` would stop it, but once its first epoch is checkpointed
    # (a fixed delay would land before training starts on a slow machine).
    config = tiny_speech_config(speech_corpus, tmp_path / "run", **{"trainer.max_epochs": 6})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config_to_dict(config)))
    command = [sys.executable, "-m", "separation", "train", str(tmp_path / "config.yaml")]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(tmp_path / "run" / "last.ckpt", process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "rerun the same command to resume" in err
    step = torch.load(tmp_path / "run" / "last.ckpt", weights_only=True)["global_step"]
    assert f"at step {step}" in err and step < 6 * STEPS_PER_EPOCH
    again = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    reference = train(tiny_speech_config(speech_corpus, tmp_path / "reference", **{"trainer.max_epochs": 6}))
    resumed = _final(tmp_path / "run")
    for name in ("val/si_snri", "test/si_snri"):
        assert resumed[name] == pytest.approx(reference.metrics[name], abs=1e-5), name


def test_sigterm_during_grid_exits_143_and_leaves_the_trial_interrupted(speech_corpus, tmp_path):
    path = write_spec(tmp_path, speech_corpus, {"seed": [0, 1]}, epochs=6)
    spec = load_spec(path)
    runs = tmp_path / "runs"
    first = runs / "g" / spec.trials[0].id
    command = [sys.executable, "-m", "separation", "grid", str(path), "-o", str(runs)]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(first / "last.ckpt", process)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 143, err
    assert "Traceback" not in err
    meta = json.loads((first / "meta.json").read_text())
    assert meta["status"] == "interrupted" and "SIGTERM" in meta["reason"]
    assert trial_status(first) == "interrupted" and not (first / MARKER).exists()
    assert not (runs / "g" / spec.trials[1].id).exists()  # the grid stopped; it did not start the next trial
    again = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    meta = json.loads((first / "meta.json").read_text())
    assert meta["status"] == "completed" and meta["attempts"] == 2
    assert meta["sittings"][-1]["resumed_from"] == "last.ckpt"


def test_a_run_stopped_between_validations_saves_its_final_weights(speech_corpus, tmp_path):
    # max_steps ends the run mid-epoch, after the last epoch-end checkpoint (as trainer.max_minutes does).
    config = tiny_speech_config(speech_corpus, tmp_path / "run", **{"trainer.max_steps": 6, "trainer.max_epochs": 3})
    result = train(config)
    assert result.global_step == 6 and 6 % STEPS_PER_EPOCH != 0
    assert torch.load(tmp_path / "run" / "last.ckpt", weights_only=True)["global_step"] == 6


def test_the_lightning_version_check_warns_outside_the_verified_range():
    from separation import lightning_compat

    assert lightning_compat.check_lightning_version(pl.__version__)  # the installed one is verified
    assert lightning_compat.check_lightning_version("2.6.0rc1")
    for outside in ("2.5.9", "2.7.0", "3.0.0"):
        with pytest.warns(RuntimeWarning, match=f"pytorch-lightning {outside} is outside 2.6 to <2.7"):
            assert not lightning_compat.check_lightning_version(outside)
