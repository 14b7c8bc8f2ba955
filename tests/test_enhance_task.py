"""The `enhance` task end to end: config, grid trials, report, evaluate (checkpoint and baseline), separate, errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from separation.cli import main
from separation.config import ConfigError, apply_overrides, config_from_dict, load_config
from separation.data.audio import audio_info, read_wav, write_wav
from separation.data.noisy_corpus import generate_noisy_corpus, read_metadata
from separation.grid.runner import run_local
from separation.grid.spec import load_spec
from separation.inference.checkpoint import load_checkpoint
from separation.inference.separate import build_separator, separate_files
from separation.objectives import Objective
from separation.train import train

REPO = Path(__file__).resolve().parents[1]
RATE = 8000
TINY_MODEL = {"name": "crced", "args": {"n_fft": 128, "hop_length": 32, "context_frames": 2, "filters": [4, 6, 4],
                                         "widths": [3, 3, 3], "repeats": 1}}


def tiny_config(root, run_dir, **overrides) -> dict:
    data = {
        "task": "enhance",
        "seed": 0,
        "run_dir": str(run_dir),
        "model": TINY_MODEL,
        "data": {"root": str(root), "sample_rate": RATE, "segment_seconds": 0.5, "batch_size": 2,
                 "train_items_per_epoch": 4, "valid_max_items": 2},
        "optimizer": {"name": "adam", "lr": 1e-3},
        "trainer": {"max_epochs": 2, "log_every_n_steps": 1, "audio_examples": 1, "enable_progress_bar": False,
                    "deterministic": True},
    }
    return apply_overrides(data, overrides)


@pytest.fixture(scope="module")
def noisy_root(speech_corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("enhance_task") / "noisy"
    generate_noisy_corpus(root, speech_corpus, sample_rate=RATE, items=(8, 2, 3), log=None)
    return root


@pytest.fixture(scope="module")
def study(noisy_root, tmp_path_factory):
    """A 2-trial enhance study (two learning rates), trained by the grid runner."""
    folder = tmp_path_factory.mktemp("enhance_study")
    base = tiny_config(noisy_root, "unused")
    base.pop("run_dir")
    (folder / "base.yaml").write_text(yaml.safe_dump(base))
    spec = {"study": "enh", "base": "base.yaml", "axes": {"optimizer": [{"name": "adam", "lr": [1e-3, 3e-3]}]},
            "targets": {"val/si_snri": [-100.0]}}
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
    loaded = load_spec(folder / "spec.yaml")
    result = run_local(loaded, folder / "runs")
    return folder, loaded, result


def test_grid_trains_and_tests_every_trial_with_report_ready_meta(study):
    folder, spec, result = study
    assert set(result.values()) == {"completed"}
    for trial in spec.trials:
        run = folder / "runs" / "enh" / trial.id
        meta = json.loads((run / "meta.json").read_text())
        assert meta["status"] == "completed"
        metrics = meta["result"]["metrics"]
        assert {"val/si_snri", "test/si_snri", "test/si_snr", "test/sdr"} <= set(metrics)
        assert all(np.isfinite(metrics[k]) for k in ("test/si_snri", "test/sdr"))
        assert meta["result"]["global_step"] == 4  # 2 epochs x 4 segments / batch 2
        assert (run / "best.ckpt").is_file()


def test_report_runs_on_the_enhance_study(study, tmp_path):
    folder, spec, _ = study
    out = tmp_path / "report"
    assert main(["report", str(folder / "runs" / "enh"), "-o", str(out), "--spec", str(folder / "spec.yaml")]) == 0
    text = (out / "REPORT.md").read_text()
    assert "Task: enhance (speech enhancement" in text and "SI-SNRi" in text
    assert "- Test input SNR (" in text and "(drawn uniformly from -5 to 20 dB)" in text  # from corpus.json
    with open(out / "trials.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["trial"] for row in rows} == {t.id for t in spec.trials}
    assert all(row["status"] == "completed" and row["test"] not in ("", "nan") for row in rows)


def test_evaluate_study_then_report_shows_the_full_evaluation(study, tmp_path, capsys):
    """scripts/evaluate_study.py runs the real `separation evaluate` per trial; the report's section reads it back."""
    import importlib.util

    from separation.analysis.report import write_report
    from separation.evaluation.scores import enhance_scores

    folder, spec, _ = study
    module_spec = importlib.util.spec_from_file_location("evaluate_study", REPO / "scripts" / "evaluate_study.py")
    evaluate_study = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(evaluate_study)
    runs = folder / "runs" / "enh"
    assert evaluate_study.main([str(runs), "--only-missing", "--device", "cpu", "--max-items", "2"]) == 0
    assert "2 evaluated, 0 failed, 0 skipped" in capsys.readouterr().out
    scores = {trial.config.optimizer.lr: enhance_scores(runs / trial.id / "eval_test") for trial in spec.trials}
    assert all(s.data["items"] == 2 and s.data["split"] == "test" for s in scores.values())
    text = write_report(runs, tmp_path / "report", folder / "spec.yaml").read_text()
    section = text[text.index("## Full test evaluation"):].split("\n## ")[0]
    row = next(line for line in section.splitlines() if line.startswith("| lr 0.001 |"))
    value = scores[1e-3].scores["SI-SNRi"]
    assert f"| 1/1 | 0 | {value:.2f} [{value:.2f}, {value:.2f}] |" in row
    assert "2 of 2 finished trials have a full test evaluation" in section


def test_evaluate_a_checkpoint_writes_per_item_metrics_and_summaries(study, noisy_root, tmp_path, capsys):
    folder, spec, _ = study
    checkpoint = folder / "runs" / "enh" / spec.trials[0].id / "best.ckpt"
    out = tmp_path / "eval"
    assert main(["evaluate", str(checkpoint), "-o", str(out)]) == 0
    assert "3 utterances of test" in capsys.readouterr().out
    with open(out / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    expected = read_metadata(noisy_root / "test")
    assert [row["id"] for row in rows] == [row["id"] for row in expected]
    for row in rows:
        assert float(row["si_snri"]) == pytest.approx(float(row["si_snr"]) - float(row["input_si_snr"]), abs=2e-4)
        assert 0 <= float(row["stoi"]) <= 1 and row["pesq"] != ""
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "enhance" and summary["objective"]["name"] == "supervised"
    assert sum(group["count"] for group in summary["metrics"]["by_kind"].values()) == 3
    assert sum(group["count"] for group in summary["metrics"]["by_snr"].values()) == 3


def test_evaluate_baseline_without_a_checkpoint(noisy_root, tmp_path, capsys):
    out = tmp_path / "noisereduce"
    assert main(["evaluate", "--baseline", "noisereduce", "--data", str(noisy_root), "-o", str(out)]) == 0
    assert "baseline noisereduce: 3 utterances of test" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["baseline"] == "noisereduce" and summary["items"] == 3
    # The input as its own estimate improves nothing: SI-SNRi 0 for every item.
    assert main(["evaluate", "--baseline", "noisy", "--data", str(noisy_root), "-o", str(tmp_path / "noisy")]) == 0
    noisy = json.loads((tmp_path / "noisy" / "summary.json").read_text())
    assert abs(noisy["metrics"]["all"]["si_snri"]["max"]) < 1e-6


def test_evaluate_needs_exactly_one_of_checkpoint_and_baseline(study, capsys):
    folder, spec, _ = study
    checkpoint = folder / "runs" / "enh" / spec.trials[0].id / "best.ckpt"
    for argv in (["evaluate"], ["evaluate", str(checkpoint), "--baseline", "noisy"]):
        assert main(argv) == 2
        error = capsys.readouterr().err.strip()
        assert "--baseline" in error and "\n" not in error


def test_separate_streams_a_long_file_to_its_length_as_in_memory(study, tmp_path):
    folder, spec, _ = study
    checkpoint = folder / "runs" / "enh" / spec.trials[0].id / "best.ckpt"
    rng = np.random.default_rng(0)
    length = int(9.3 * RATE)  # 0.5 s chunks in batches of 3: many batches, a ragged last chunk
    noisy = (0.1 * np.sin(2 * np.pi * 200 * np.arange(length) / RATE) + 0.02 * rng.standard_normal(length)).astype(np.float32)
    write_wav(tmp_path / "long.wav", noisy, RATE)
    separate_files(checkpoint, [tmp_path / "long.wav"], tmp_path / "out", chunk_seconds=0.5, batch_size=3, log=None)
    written = tmp_path / "out" / "long" / "speech.wav"
    assert audio_info(written).frames == length and audio_info(written).samplerate == RATE
    separator = build_separator(load_checkpoint(checkpoint), "cpu", chunk_seconds=0.5, batch_size=3)
    assert separator.rematch is False and separator.sources == ("speech",)
    np.testing.assert_array_equal(read_wav(written, RATE, 1), separator.separate(noisy[None])[0, 0])
    # A file at another rate takes the resampling path, and keeps its rate and length too.
    write_wav(tmp_path / "long16k.wav", np.repeat(noisy, 2), 2 * RATE)
    separate_files(checkpoint, [tmp_path / "long16k.wav"], tmp_path / "out", chunk_seconds=0.5, log=None)
    info = audio_info(tmp_path / "out" / "long16k" / "speech.wav")
    assert (info.frames, info.samplerate) == (2 * length, 2 * RATE)


class NeedsNoiseOnly(Objective):
    """A stand-in for a weakly supervised objective: it trains on noise-only clips."""

    name = "needs_noise"
    needs_noise_only = True

    def loss(self, model, batch, family_loss):
        return model(batch["noise_only"]).pow(2).mean()

    def enhance(self, model, noisy):
        return model(noisy)[:, :1]


def _fake_voicebank(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for kind_split, speakers in (("trainset_28spk", ("p226", "p230", "p231")), ("testset", ("p232",))):
        for speaker in speakers:
            for utterance in (1, 2):
                clean = 0.05 * np.sin(2 * np.pi * 220 * np.arange(RATE // 2) / RATE)
                write_wav(root / f"clean_{kind_split}_wav" / f"{speaker}_{utterance:03d}.wav", clean, RATE)
                noisy = clean + 0.01 * rng.standard_normal(len(clean))
                write_wav(root / f"noisy_{kind_split}_wav" / f"{speaker}_{utterance:03d}.wav", noisy, RATE)
    return root


def test_noise_only_objective_on_voicebank_fails_before_training(monkeypatch, noisy_root, tmp_path, capsys):
    import separation.objectives as objectives

    monkeypatch.setitem(objectives.OBJECTIVES, "needs_noise", NeedsNoiseOnly)
    voicebank = _fake_voicebank(tmp_path / "vb")
    data = tiny_config(voicebank, tmp_path / "run", **{"data.layout": "voicebank", "objective.name": "needs_noise"})
    (tmp_path / "vb.yaml").write_text(yaml.safe_dump(data))
    assert main(["train", str(tmp_path / "vb.yaml")]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and str(voicebank) in error and "'needs_noise'" in error and "noise-only" in error
    assert not (tmp_path / "run").exists()
    # The generated corpus has the clips: the same objective trains on it (one step).
    config = config_from_dict(tiny_config(noisy_root, tmp_path / "run2", **{
        "objective.name": "needs_noise", "trainer.max_epochs": 1, "data.train_items_per_epoch": 2}))
    assert train(config, test=False).status == "completed"


def test_objective_section_is_checked_and_kept_out_of_other_tasks(noisy_root, tmp_path):
    cases = {
        "objective.name": ("mixitt", "config key 'objective.name' is 'mixitt'; allowed: supervised"),
        "objective.args": ({"temperature": 1}, "config key 'objective.args.temperature' is unknown for objective 'supervised'"),
        "model": ({"name": "svoice"}, "config key 'model.name' is 'svoice'; allowed: convtasnet"),
        "data.layout": ("wsj0mix", "config key 'data.layout' is 'wsj0mix'; allowed: noisy, voicebank"),
    }
    for key, (value, message) in cases.items():
        with pytest.raises(ConfigError, match=message):
            config_from_dict(tiny_config(noisy_root, tmp_path, **{key: value}))
    speech = yaml.safe_load((REPO / "experiments" / "configs" / "svoice_tiny.yaml").read_text())
    with pytest.raises(ConfigError, match="section 'objective' applies to the enhancement task only"):
        config_from_dict(apply_overrides(speech, {"objective.args": {"x": 1}}))
    assert config_from_dict(speech).objective.name == "supervised"  # the default is fine everywhere


def test_existing_study_ids_are_unchanged_by_the_objective_section():
    for study in ("svoice_schedulers", "unet_quick"):
        spec = load_spec(REPO / "experiments" / f"{study}.yaml")
        with open(REPO / "results" / study / "trials.csv") as handle:
            committed = {row["trial"] for row in csv.DictReader(handle)}
        assert {trial.id for trial in spec.trials} == committed


def test_committed_enhance_configs_and_study_spec_load():
    for name in ("enhance_tiny", "enhance_cpu"):
        config = load_config(REPO / "experiments" / "configs" / f"{name}.yaml")
        assert config.task == "enhance" and config.data.sample_rate == 16000
    spec = load_spec(REPO / "experiments" / "enhance_optimizers.yaml")
    optimizers = {trial.config.optimizer.name for trial in spec.trials}
    assert len(optimizers) >= 4
    for optimizer in optimizers:
        lrs = {t.config.optimizer.lr for t in spec.trials if t.config.optimizer.name == optimizer and t.config.seed == 0}
        assert len(lrs) >= 3, optimizer
    # Phase 2 (clipping x step decay x 3 seeds at each optimizer's best LR) waits for the sweep.
    assert "to be filled from the sweep" in (REPO / "experiments" / "enhance_optimizers.yaml").read_text()


def test_data_noisy_cli_builds_a_corpus_and_refuses_a_bad_snr_range(speech_corpus, tmp_path, capsys):
    root = tmp_path / "noisy"
    assert main(["data", "noisy", str(root), "--speech", str(speech_corpus), "--sample-rate", str(RATE),
                 "--snr", "5", "15"]) == 0
    rows = read_metadata(root / "test")
    assert rows and all(5 <= float(row["snr_db"]) <= 15 for row in rows)
    assert json.loads((root / "corpus.json").read_text())["sample_rate"] == RATE
    capsys.readouterr()
    assert main(["data", "noisy", str(tmp_path / "bad"), "--speech", str(speech_corpus), "--snr", "20", "10"]) == 2
    error = capsys.readouterr().err.strip()
    assert "min 20 dB is above max 10 dB" in error and "\n" not in error
    assert not (tmp_path / "bad").exists()
