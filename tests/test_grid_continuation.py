"""`continue_shorter`: a longer trial starts where the completed shorter trial of its recipe stopped,
and ends where training it from step 0 ends."""

import csv
import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from separation.config import ConfigError
from separation.grid.continuation import shorter_trial
from separation.grid.runner import format_table, run_local
from separation.grid.spec import load_spec
from test_grid_run import write_spec

SCHEDULES = [{"name": "none"}, {"name": "plateau", "args": {"patience": 0, "factor": 0.5}},
             {"name": "cosine_warmup", "args": {"warmup_steps": 2}}]
AXES = {"optimizer": [{"name": "adam", "lr": 3e-3}], "scheduler": SCHEDULES, "seed": [0]}


def _spec(folder: Path, corpus: Path, epochs: int, **extra) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_spec(folder, corpus, AXES, epochs=epochs, **extra)


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _val_steps(trial_dir: Path) -> list[int]:
    with open(trial_dir / "metrics.csv", newline="") as handle:
        return [int(r["step"]) for r in csv.DictReader(handle) if r["metric"] == "val/si_snri"]


def test_a_longer_trial_continues_the_shorter_one_and_ends_as_if_trained_from_step_0(speech_corpus, tmp_path):
    runs = tmp_path / "runs"
    short = load_spec(_spec(tmp_path / "short", speech_corpus, epochs=2))
    assert set(run_local(short, runs).values()) == {"completed"}
    before = {t.id: _digests(runs / "g" / t.id) for t in short.trials}

    long = load_spec(_spec(tmp_path / "long", speech_corpus, epochs=4, continue_shorter=True))
    planned = format_table(long, runs / "g").splitlines()
    assert "continues" in planned[0].split()
    for trial, shorter in zip(long.trials, short.trials):  # the dry run names the trial each one will continue
        row = next(line.split() for line in planned if line.startswith(trial.id))
        assert (shorter.id in row) == (trial.config.scheduler.name != "cosine_warmup"), row
    assert set(run_local(long, runs).values()) == {"completed"}

    from separation.train import train

    for trial, shorter in zip(long.trials, short.trials):
        folder = runs / "g" / trial.id
        meta = json.loads((folder / "meta.json").read_text())
        summary = json.loads((folder / "summary.json").read_text())
        if trial.config.scheduler.name == "cosine_warmup":  # its schedule reads the budget: trained from step 0
            assert "continued_from" not in meta and summary["resume"]["resumed_from"] is None
        else:
            assert meta["continued_from"] == shorter.id
            assert summary["resume"]["resumed_from"] == "last.ckpt" and summary["resume"]["global_step"] == 8
            assert summary["budget_changes"][0]["key"] == "trainer.max_epochs"
            assert (summary["budget_changes"][0]["from"], summary["budget_changes"][0]["to"]) == (2, 4)
        assert _val_steps(folder) == [3, 7, 11, 15]  # the shorter trial's curves, then the new epochs
        reference = train(dataclasses.replace(trial.config, run_dir=str(tmp_path / "scratch" / trial.id)))
        assert summary["global_step"] == reference.global_step == 16
        for name in ("val/si_snri", "val/loss", "test/si_snri"):
            assert summary["metrics"][name] == reference.metrics[name], (trial.id, name)
    # The shorter trials are only read.
    assert {t.id: _digests(runs / "g" / t.id) for t in short.trials} == before

    # The study's compute counts a continued trial only beyond the trial it continued (its checkpoint carries
    # the shorter trial's time, which the shorter trial's own row already counts).
    from separation.analysis.collect import collect_study
    from separation.analysis.report_setup import own_seconds, provenance_lines

    study = collect_study(runs / "g")
    rows = study.trials.set_index("trial")
    for trial, shorter in zip(long.trials, short.trials):
        row, source = rows.loc[trial.id], rows.loc[shorter.id]
        continued = trial.config.scheduler.name != "cosine_warmup"
        assert row["continued_from"] == (shorter.id if continued else "")
        for key in ("train_seconds", "val_seconds"):
            assert row[f"own_{key}"] == pytest.approx(row[key] - (source[key] if continued else 0.0))
            assert 0 < row[f"own_{key}"] < row[key] or not continued
    assert own_seconds(study.trials, "train_seconds") < rows["train_seconds"].sum()
    compute = next(line for line in provenance_lines(study) if line.startswith("- Compute:"))
    assert "2 continued trials count only the steps beyond the trial they continued" in compute


def test_no_shorter_trial_means_training_from_step_0(speech_corpus, tmp_path):
    long = load_spec(_spec(tmp_path, speech_corpus, epochs=4, continue_shorter=True))
    (tmp_path / "runs" / "g").mkdir(parents=True)
    assert all(shorter_trial(t, tmp_path / "runs" / "g") is None for t in long.trials)


def test_continue_shorter_is_validated_and_enters_no_trial_id(speech_corpus, tmp_path):
    plain = load_spec(_spec(tmp_path / "a", speech_corpus, epochs=4))
    keyed = load_spec(_spec(tmp_path / "b", speech_corpus, epochs=4, continue_shorter=True))
    assert [t.id for t in plain.trials] == [t.id for t in keyed.trials]
    assert keyed.continue_shorter and not plain.continue_shorter
    with pytest.raises(ConfigError, match="'continue_shorter' must be true or false"):
        load_spec(_spec(tmp_path / "c", speech_corpus, epochs=4, continue_shorter="yes"))
    with pytest.raises(ConfigError, match="'continue_shorter' and 'pruning' do not go together"):
        load_spec(_spec(tmp_path / "d", speech_corpus, epochs=4, continue_shorter=True,
                        pruning={"rungs": [4], "keep": 0.5, "within": "optimizer"}))


def _finished_folder(study_dir: Path, name: str, config, status: str = "completed") -> Path:
    """A trial folder as a finished run leaves it, as far as `shorter_trial` reads one."""
    import yaml

    from separation.config import config_to_dict

    folder = study_dir / name
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))
    (folder / "last.ckpt").write_bytes(b"")
    (folder / "DONE").write_text(json.dumps({"status": status}))
    return folder


def test_the_longest_shorter_run_that_train_would_continue_is_chosen(speech_corpus, tmp_path):
    from separation.training.precision import resolve_precision

    spec = load_spec(_spec(tmp_path, speech_corpus, epochs=8, continue_shorter=True))
    trial = next(t for t in spec.trials if t.config.scheduler.name == "none")
    study = tmp_path / "runs" / "g"

    def at(epochs: int, **trainer):
        return dataclasses.replace(trial.config, trainer=dataclasses.replace(trial.config.trainer, max_epochs=epochs,
                                                                             **trainer))

    _finished_folder(study, "e2", at(2))
    four = _finished_folder(study, "e4", at(4))
    _finished_folder(study, "e6-interrupted", at(6), status="interrupted")  # not finished: not a source
    _finished_folder(study, "e16", at(16))  # longer: would lower the budget
    _finished_folder(study, "e8", at(8))  # the same budget: nothing to continue
    _finished_folder(study, "e6-other-lr", dataclasses.replace(
        at(6), optimizer=dataclasses.replace(trial.config.optimizer, lr=1e-3)))
    _finished_folder(study, "e6-more-steps", at(6, max_steps=10 ** 6))  # a second budget differs too
    assert shorter_trial(trial, study) == four

    # A run saved with precision "32" is the trial's own recipe where `auto` resolves to fp32 here, as `train`
    # decides when it continues a folder; where auto means bf16 it is another recipe (and e4, saved under
    # `auto` like the trial, stays the longest).
    assert trial.config.trainer.precision == "auto"
    fp32 = _finished_folder(study, "e6-fp32", at(6, precision="32"))
    resolved = resolve_precision("auto", trial.config.model.name, trial.config.trainer.accelerator).resolved
    assert shorter_trial(trial, study) == (fp32 if resolved == "32" else four)
