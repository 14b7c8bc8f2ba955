"""One run on two processes (`trainer.devices=2`, CPU, gloo): it trains as one process with their combined
batch, writes its files once, and an interrupted run resumes exactly."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import torch
import yaml

from conftest import tiny_speech_config
from separation.config import config_to_dict
from separation.data.resumable import ResumableLoader
from separation.data.sharding import EvalShard
from separation.data.speech_datasets import EpochSeededSampler
from separation.errors import UserError
from separation.train import train
from separation.training import interrupt
from separation.training.ranks import ProcessGroup
from test_interrupt import SignalAtStep  # the stop request as the handler sets it (first process only here)

# 16 items per epoch: batches of 2 on each of 2 processes make 4 steps; 2 epochs.
TWO_DEVICES = {"trainer.devices": 2, "trainer.accelerator": "cpu", "data.train_items_per_epoch": 16,
               "data.valid_max_items": 3, "trainer.max_epochs": 2}
STEPS = 8


def _pairs(sampler) -> list:
    return list(sampler)


def test_processes_share_each_epoch_as_one_larger_batch():
    whole = _pairs(EpochSeededSampler(10, seed=3, num_samples=25))
    shards = [_pairs(EpochSeededSampler(10, seed=3, num_samples=25, rank=r, world_size=2)) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 12  # the odd last pair is dropped so both take as many steps
    interleaved = [pair for step in zip(*shards) for pair in step]
    assert interleaved == whole[:24]


def test_resuming_skips_samples_counted_over_all_processes():
    for rank in (0, 1):
        full = _pairs(EpochSeededSampler(10, seed=3, num_samples=24, rank=rank, world_size=2))
        resumed = EpochSeededSampler(10, seed=3, num_samples=24, rank=rank, world_size=2)
        resumed.skip_next(8)  # two steps of batches of 2 on each of 2 processes
        assert _pairs(resumed) == full[4:]


class Keys(torch.utils.data.Dataset):
    """Returns the sampler's `(index, seed)` key as the item."""

    def __len__(self):
        return 10

    def __getitem__(self, key):
        return key


def test_the_loader_position_counts_every_process_and_reads_old_checkpoints():
    sampler = EpochSeededSampler(10, seed=0, num_samples=16, rank=1, world_size=2)
    loader = ResumableLoader(Keys(), batch_size=2, sampler=sampler, collate_fn=lambda batch: batch)
    batches = iter(loader)
    next(batches), next(batches)
    assert loader.state_dict() == {"epoch": 0, "batches": 2, "samples": 8}
    loader.load_state_dict({"epoch": 0, "batches": 3})  # a single-device checkpoint from before
    assert loader._resume == (0, 6)


def test_evaluation_items_are_scored_once_across_processes():
    shards = [list(EvalShard(5, rank, 2)) for rank in (0, 1)]
    assert sorted(shards[0] + shards[1]) == list(range(5)) and len(EvalShard(5, 1, 2)) == 2
    with pytest.raises(UserError, match="fewer than the trainer.devices=2"):
        EvalShard(1, 0, 2, what="validation split")


def test_refuses_to_start_processes_under_another_launcher(monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "0")
    with pytest.raises(UserError, match="starts its own processes"):
        with ProcessGroup(2):
            pass


def _rows(run_dir: Path) -> Counter:
    with open(run_dir / "metrics.csv", newline="") as handle:
        return Counter((row["step"], row["metric"]) for row in csv.DictReader(handle))


def _series(run_dir: Path) -> dict[tuple[str, str], float]:
    with open(run_dir / "metrics.csv", newline="") as handle:
        return {(row["step"], row["metric"]): float(row["value"]) for row in csv.DictReader(handle)
                if row["metric"] != "train/sec_per_step"}


@pytest.fixture(scope="module")
def two_process_run(speech_corpus, tmp_path_factory):
    """The uninterrupted two-process run the other tests compare with."""
    run_dir = tmp_path_factory.mktemp("two_process") / "run"
    return train(tiny_speech_config(speech_corpus, run_dir, **TWO_DEVICES))


def test_two_processes_train_as_one_with_their_combined_batch(two_process_run, speech_corpus, tmp_path):
    run_dir = Path(two_process_run.run_dir)
    assert two_process_run.status == "completed" and two_process_run.global_step == STEPS
    assert json.loads((run_dir / "summary.json").read_text())["global_step"] == STEPS
    # One writer: every (step, metric) once (Lightning adds an `epoch` row to each logging call).
    assert max(count for (_, metric), count in _rows(run_dir).items() if metric != "epoch") == 1
    saved = torch.load(run_dir / "last.ckpt", weights_only=True)
    assert saved["global_step"] == STEPS
    # One process whose batches hold both processes' items: same gradients, same metrics (3 validation
    # items split 2 + 1: the reduced means weigh items, not processes).
    one = train(tiny_speech_config(speech_corpus, tmp_path / "one", **{**TWO_DEVICES, "trainer.devices": 1,
                                                                        "data.batch_size": 4}))
    assert one.global_step == STEPS
    expected, measured = _series(Path(one.run_dir)), _series(run_dir)
    assert measured.keys() == expected.keys()
    for key, value in expected.items():
        assert measured[key] == pytest.approx(value, rel=1e-4, abs=1e-4), key
    assert two_process_run.reason is None and one.reason is None  # the collapse probe saw all test items


def test_an_interrupted_two_process_run_resumes_exactly(two_process_run, speech_corpus, tmp_path):
    config = tiny_speech_config(speech_corpus, tmp_path / "run", **TWO_DEVICES)
    with pytest.raises(interrupt.TrainingInterrupted) as raised:
        train(config, extra_callbacks=[SignalAtStep(6)])  # mid-epoch: the second of 4 steps of epoch 1
    interrupt.clear()
    assert raised.value.exit_code == 130
    saved = torch.load(tmp_path / "run" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == 6
    resumed = train(config)
    assert resumed.resume["resumed_from"] == "last.ckpt" and resumed.resume["global_step"] == 6
    assert resumed.global_step == STEPS
    assert _rows(tmp_path / "run") == _rows(Path(two_process_run.run_dir))
    # Every logged value at every step, but the epoch mean of the training loss of the interrupted
    # epoch: it averages the steps of the resumed sitting only (on one device too).
    expected, measured = _series(Path(two_process_run.run_dir)), _series(tmp_path / "run")
    for key, value in expected.items():
        if key != (str(STEPS - 1), "train/loss_epoch"):
            assert measured[key] == pytest.approx(value, abs=1e-6), key


def test_sigterm_to_the_cli_stops_both_processes_and_the_rerun_finishes(speech_corpus, tmp_path):
    config = tiny_speech_config(speech_corpus, tmp_path / "run", **{**TWO_DEVICES, "trainer.max_epochs": 4})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config_to_dict(config)))
    command = [sys.executable, "-m", "separation", "train", str(tmp_path / "config.yaml")]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=environment)
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None and not (tmp_path / "run" / "last.ckpt").exists():
        time.sleep(0.05)
    assert process.poll() is None, "finished before it could be interrupted"
    process.send_signal(signal.SIGTERM)  # to the first process only, as `kill` sends it
    _, err = process.communicate(timeout=300)
    assert process.returncode == 143, err
    assert "Traceback" not in err and "rerun the same command to resume" in err
    step = torch.load(tmp_path / "run" / "last.ckpt", weights_only=True)["global_step"]
    assert f"at step {step}" in err and step < 4 * 4
    again = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=environment)
    assert again.returncode == 0, again.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["resume"]["global_step"] == step
    assert summary["global_step"] == 4 * 4


def _helper_of(parent: int) -> int | None:
    """The pid of the multiprocessing helper (rank 1) started by `parent`, if it is running."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"spawn_main" in command:
            return int(entry.name)
    return None


def test_a_lost_process_ends_the_run_in_one_line(speech_corpus, tmp_path):
    config = tiny_speech_config(speech_corpus, tmp_path / "run", **{**TWO_DEVICES, "trainer.max_epochs": 50})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config_to_dict(config)))
    command = [sys.executable, "-m", "separation", "train", str(tmp_path / "config.yaml")]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None and not (tmp_path / "run" / "last.ckpt").exists():
        time.sleep(0.05)
    helper = _helper_of(process.pid)
    assert process.poll() is None and helper is not None
    os.kill(helper, signal.SIGKILL)  # as the kernel's out-of-memory killer would
    _, err = process.communicate(timeout=180)
    assert process.returncode == 2, err
    assert "Traceback" not in err
    assert "a run on 2 devices failed: process 1 was killed by SIGKILL" in err.strip().splitlines()[-1]
