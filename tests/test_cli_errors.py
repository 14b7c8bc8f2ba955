"""Every subcommand, driven with bad arguments: a non-zero exit, no traceback, one line naming
the input, and nothing half-written."""

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from conftest import tiny_speech_config
from separation.cli import main
from separation.config import Config, ModelConfig, config_to_dict
from separation.data.audio import write_wav
from separation.models.svoice import SVoice

REPO = Path(__file__).resolve().parents[1]
TINY_SVOICE = {"n_src": 2, "enc_dim": 16, "kernel_size": 4, "hidden_size": 8, "num_repeats": 1}


class Evil:
    """Unpickling this would run code: a checkpoint holding it must be refused unread."""

    def __reduce__(self):
        return (os.system, ("touch pwned",))


def _checkpoint(path: Path, task: str = "speech", data_root: str = "data/speech") -> Path:
    config = config_to_dict(Config(task=task, model=ModelConfig(name="svoice", args=TINY_SVOICE)))
    config["data"]["root"] = data_root
    model = SVoice(**TINY_SVOICE)
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
                "model_spec": {"name": "svoice", "args": TINY_SVOICE}, "config": config}, path)
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, speech_corpus):
    """The files the bad-argument table points at."""
    root = tmp_path_factory.mktemp("inputs")
    (root / "folder").mkdir()
    (root / "empty_folder").mkdir()
    (root / "empty.yaml").write_text("")
    (root / "garbage.yaml").write_bytes(b"{: [\x00\xff")
    (root / "list.yaml").write_text("- 1\n- 2\n")
    (root / "a_file").write_text("not a folder\n")
    os.symlink(root / "nowhere", root / "dangling.yaml")
    good = tiny_speech_config(speech_corpus, root / "never_written")
    (root / "good.yaml").write_text(yaml.safe_dump(config_to_dict(good)))
    # Run folders as `train` leaves them, as far as a rerun reads them (config.yaml, budget_changes.json).
    for name, overrides in {"done_run": {}, "cosine_run": {"scheduler.name": "cosine_warmup"},
                            "bad_budget_run": {}}.items():
        (root / name).mkdir()
        (root / name / "config.yaml").write_text(yaml.safe_dump(config_to_dict(
            tiny_speech_config(speech_corpus, root / name, **overrides))))
    (root / "bad_budget_run" / "budget_changes.json").write_text("{")
    (root / "garbled_run").mkdir()
    (root / "garbled_run" / "config.yaml").write_text("optimizer: {name: adamm}\n")
    (root / "spec_missing_base.yaml").write_text(yaml.safe_dump({"study": "s", "base": "no_base.yaml", "axes": {"seed": [0]}}))
    (root / "spec_unknown_key.yaml").write_text(yaml.safe_dump({"study": "s", "base": "good.yaml", "axez": {}}))
    (root / "spec.yaml").write_text(yaml.safe_dump({"study": "s", "base": "good.yaml", "axes": {"seed": [0]}}))
    (root / "random.ckpt").write_bytes(os.urandom(4096))
    torch.save({"payload": Evil()}, root / "pickle.ckpt")  # torch.save pickles it
    (root / "plain_pickle.ckpt").write_bytes(pickle.dumps({"state_dict": Evil()}))
    good_ckpt = _checkpoint(root / "good.ckpt", data_root=str(speech_corpus))
    torch.save([1, 2, 3], root / "list.ckpt")
    _checkpoint(root / "music_task.ckpt", task="music", data_root=str(speech_corpus))
    write_wav(root / "in.wav", torch.randn(4000).numpy() * 0.1, 8000)
    (root / "not_audio.wav").write_text("RIFF? no\n")
    # Float wavs can hold what no audio is (#26): refused in one line, nothing separated.
    for name, bad in (("nan.wav", float("nan")), ("inf.wav", float("inf"))):
        samples = torch.randn(4000).numpy() * 0.1
        samples[1234] = bad
        write_wav(root / name, samples, 8000)
    # Folders of a user's own files, given as output folders (#26): refused, nothing of theirs touched.
    (root / "thesis").mkdir()
    (root / "thesis" / "thesis.tex").write_text("\\chapter{Results}\n")
    (root / "thesis_corpus" / "Libri2Mix" / "wav8k" / "min" / "dev").mkdir(parents=True)
    (root / "thesis_corpus" / "Libri2Mix" / "wav8k" / "min" / "dev" / "notes.txt").write_text("mine\n")
    (root / "thesis_music" / "train").mkdir(parents=True)
    (root / "thesis_music" / "train" / "notes.txt").write_text("mine\n")
    # A report's tables without the REPORT.md that names their spec.
    (root / "tables_only").mkdir()
    for name in ("trials.csv", "steps.csv"):
        shutil.copy(REPO / "results" / "quick" / name, root / "tables_only" / name)
    assert good_ckpt.exists()
    return root


# (arguments with {i} for the inputs folder, what the error line must name, paths that must not appear)
BAD_ARGUMENTS = [
    # train
    ("train {i}/missing.yaml", "missing.yaml", []),
    ("train {i}/empty.yaml", "empty.yaml", []),
    ("train {i}/folder", "folder", []),
    ("train {i}/garbage.yaml", "garbage.yaml", []),
    ("train {i}/list.yaml", "list.yaml", []),
    ("train {i}/dangling.yaml", "dangling.yaml", []),
    ("train {i}/good.yaml --set optimizer.lr=abc", "optimizer.lr", ["never_written"]),
    ("train {i}/good.yaml --set trainer.max_epochs=1.5", "trainer.max_epochs", ["never_written"]),
    ("train {i}/good.yaml --set optimizer", "optimizer", ["never_written"]),
    ("train {i}/good.yaml --set optimizer.name=nosuch", "optimizer.name", ["never_written"]),
    ("train {i}/good.yaml --set nosuch.key=1", "nosuch", ["never_written"]),
    ("train {i}/good.yaml --set data.root={i}/no_corpus", "no_corpus", ["never_written"]),
    ("train {i}/good.yaml --set data.root={i}/a_file", "a_file", ["never_written"]),
    ("train {i}/good.yaml -o {i}/a_file", "a_file", []),
    ("train {i}/good.yaml -o {i}/a_file --restart", "a_file", []),
    ("train {i}/good.yaml --run-dir {i}/a_file", "a_file", []),  # the deprecated spelling, same refusal
    # train: NaN, infinities and too-big integers through --set, for every kind of numeric key
    ("train {i}/good.yaml --set data.batch_size=.inf", "data.batch_size", ["never_written"]),
    ("train {i}/good.yaml --set data.batch_size=.nan", "data.batch_size", ["never_written"]),
    ("train {i}/good.yaml --set data.batch_size=1e300", "data.batch_size", ["never_written"]),
    ("train {i}/good.yaml --set data.batch_size=99999999999999999999999", "data.batch_size", ["never_written"]),
    ("train {i}/good.yaml --set data.sample_rate=.nan", "data.sample_rate", ["never_written"]),
    ("train {i}/good.yaml --set data.segment_seconds=.inf", "data.segment_seconds", ["never_written"]),
    ("train {i}/good.yaml --set data.train_items_per_epoch=.inf", "data.train_items_per_epoch", ["never_written"]),
    ("train {i}/good.yaml --set optimizer.lr=.nan", "optimizer.lr", ["never_written"]),
    ("train {i}/good.yaml --set optimizer.lr=.inf", "optimizer.lr", ["never_written"]),
    ("train {i}/good.yaml --set optimizer.lr=-.inf", "optimizer.lr", ["never_written"]),
    ("train {i}/good.yaml --set optimizer.lr=nan", "optimizer.lr", ["never_written"]),
    ("train {i}/good.yaml --set optimizer.weight_decay=.nan", "optimizer.weight_decay", ["never_written"]),
    ("train {i}/good.yaml --set optimizer.weight_decay=.inf", "optimizer.weight_decay", ["never_written"]),
    ("train {i}/good.yaml --set trainer.max_minutes=.nan", "trainer.max_minutes", ["never_written"]),
    ("train {i}/good.yaml --set trainer.max_epochs=.inf", "trainer.max_epochs", ["never_written"]),
    ("train {i}/good.yaml --set trainer.limit_train_batches=.nan", "trainer.limit_train_batches", ["never_written"]),
    ("train {i}/good.yaml --set clipping.mode=norm --set clipping.value=.inf", "clipping.value", ["never_written"]),
    ("train {i}/good.yaml --set seed=.nan", "seed", ["never_written"]),
    ("train {i}/good.yaml --set model.args.hidden_size=.nan", "model.args.hidden_size", ["never_written"]),
    ("train {i}/good.yaml --set optimizer.args.eps=.inf", "optimizer.args.eps", ["never_written"]),
    ("train {i}/good.yaml --set scheduler.name=step --set scheduler.args.gamma=.nan", "scheduler.args.gamma", ["never_written"]),
    ("train {i}/good.yaml --set targets.val/si_snri=[1,.nan]", "targets.val/si_snri", ["never_written"]),
    # train: values the model, optimizer, scheduler or Lightning would refuse mid-run
    ("train {i}/good.yaml --set model.args.hidden_size=0", "model.args", ["never_written"]),
    ("train {i}/good.yaml --set model.args.kernel_size=1", "model.args", ["never_written"]),
    ("train {i}/good.yaml --set model.args.enc_dim=3", "model.args", ["never_written"]),
    ("train {i}/good.yaml --set model.args.input_normalization=maybe", "model.args.input_normalization", ["never_written"]),
    ("train {i}/good.yaml --set optimizer.name=sgd_momentum --set optimizer.args.momentum=-1", "optimizer.*", ["never_written"]),
    ("train {i}/good.yaml --set optimizer.args.betas=[0.9]", "optimizer.*", ["never_written"]),
    ("train {i}/good.yaml --set scheduler.name=step --set scheduler.args.step_size=0", "scheduler.args", ["never_written"]),
    ("train {i}/good.yaml --set scheduler.name=plateau --set scheduler.args.factor=2", "scheduler.args", ["never_written"]),
    ("train {i}/good.yaml --set seed=-1", "seed", ["never_written"]),
    ("train {i}/good.yaml --set trainer.devices=0", "trainer.devices", ["never_written"]),
    ("train {i}/good.yaml --set trainer.limit_train_batches=1.5", "trainer.limit_train_batches", ["never_written"]),
    # train again into a folder holding a run of another config: refused, the folder untouched
    ("train {i}/good.yaml -o {i}/done_run --set optimizer.name=sgd_momentum --set optimizer.lr=0.05", "optimizer.name", []),
    ("train {i}/good.yaml -o {i}/done_run --set optimizer.name=sgd_momentum --set trainer.max_epochs=5", "optimizer.name", []),
    ("train {i}/good.yaml -o {i}/done_run --set trainer.max_epochs=1", "trainer.max_epochs", []),
    ("train {i}/good.yaml -o {i}/done_run --set seed=1", "seed", []),
    ("train {i}/good.yaml -o {i}/done_run --set model.args.hidden_size=16", "model.args.hidden_size", []),
    ("train {i}/good.yaml -o {i}/garbled_run", "config.yaml", []),
    ("train {i}/good.yaml -o {i}/cosine_run --set scheduler.name=cosine_warmup --set trainer.max_epochs=5", "cosine_warmup", []),
    ("train {i}/good.yaml -o {i}/bad_budget_run --set trainer.max_epochs=5", "budget_changes.json", []),
    # grid
    ("grid {i}/missing.yaml", "missing.yaml", []),
    ("grid {i}/folder", "folder", []),
    ("grid {i}/empty.yaml", "empty.yaml", []),
    ("grid {i}/spec_missing_base.yaml", "no_base.yaml", []),
    ("grid {i}/spec_unknown_key.yaml", "axez", []),
    ("grid {i}/spec.yaml --runs {i}/a_file", "a_file", []),
    ("grid {i}/spec.yaml --runs {i}/runs --claim-timeout soon", "soon", ["runs"]),
    ("grid {i}/spec.yaml --runs {i}/runs --claim-timeout -5", "-5", ["runs"]),
    # report
    ("report {i}/no_study -o {i}/report_out", "no_study", ["report_out"]),
    ("report {i}/a_file -o {i}/report_out", "a_file", ["report_out"]),
    ("report {i}/empty_folder -o {i}/report_out", "empty_folder", ["report_out"]),
    ("report {i}/empty_folder --spec {i}/missing.yaml -o {i}/report_out", "missing.yaml", ["report_out"]),
    # separate
    ("separate {i}/random.ckpt {i}/in.wav -o {i}/sep_out", "random.ckpt", ["sep_out"]),
    ("separate {i}/pickle.ckpt {i}/in.wav -o {i}/sep_out", "pickle.ckpt", ["sep_out", "pwned"]),
    ("separate {i}/plain_pickle.ckpt {i}/in.wav -o {i}/sep_out", "plain_pickle.ckpt", ["sep_out", "pwned"]),
    ("separate {i}/list.ckpt {i}/in.wav -o {i}/sep_out", "list.ckpt", ["sep_out"]),
    ("separate {i}/folder {i}/in.wav -o {i}/sep_out", "folder", ["sep_out"]),
    ("separate {i}/good.ckpt {i}/missing.wav -o {i}/sep_out", "missing.wav", ["sep_out"]),
    ("separate {i}/good.ckpt {i}/not_audio.wav -o {i}/sep_out", "not_audio.wav", ["sep_out"]),
    ("separate {i}/good.ckpt {i}/in.wav -o {i}/a_file", "a_file", []),
    ("separate {i}/good.ckpt {i}/nan.wav -o {i}/sep_out", "nan.wav", ["sep_out"]),
    ("separate {i}/good.ckpt {i}/inf.wav -o {i}/sep_out", "inf.wav", ["sep_out"]),
    ("separate {i}/good.ckpt {i}/in.wav {i}/nan.wav -o {i}/sep_out", "nan.wav", ["sep_out"]),
    ("separate {i}/good.ckpt {i}/in.wav -o {i}/sep_out --chunk-seconds -1", "chunk", ["sep_out"]),
    # evaluate
    ("evaluate {i}/missing.ckpt -o {i}/eval_out", "missing.ckpt", ["eval_out"]),
    ("evaluate {i}/random.ckpt -o {i}/eval_out", "random.ckpt", ["eval_out"]),
    ("evaluate {i}/pickle.ckpt -o {i}/eval_out", "pickle.ckpt", ["eval_out", "pwned"]),
    ("evaluate {i}/good.ckpt --data {i}/no_corpus -o {i}/eval_out", "no_corpus", ["eval_out"]),
    ("evaluate {i}/good.ckpt --data {i}/a_file -o {i}/eval_out", "a_file", ["eval_out"]),
    ("evaluate {i}/good.ckpt --split nosuch -o {i}/eval_out", "nosuch", ["eval_out"]),
    ("evaluate {i}/music_task.ckpt -o {i}/eval_out", "music_task.ckpt", ["eval_out"]),
    ("evaluate {i}/good.ckpt --max-items many -o {i}/eval_out", "many", ["eval_out"]),
    # data
    ("data speech {i}/a_file", "a_file", []),
    ("data music {i}/a_file", "a_file", []),
    ("data speech {i}/thesis_corpus --force", "notes.txt", []),
    ("data music {i}/thesis_music --force", "notes.txt", []),
    ("report {i}/empty_folder -o {i}/good.yaml", "good.yaml", []),
    ("data speech {i}/speech_out --n-train lots", "lots", ["speech_out"]),
    # evaluate-study
    ("evaluate-study {i}/no_study", "no_study", []),
    ("evaluate-study {i}/a_file", "a_file", []),
    ("evaluate-study {i}/empty_folder --processes 0", "--processes", []),
    # compare
    ("compare {i}/no_study --a optimizer=adam --b optimizer=sgd", "no_study", []),
    ("compare {i}/empty_folder --a optimizer=adam --b optimizer=sgd", "empty_folder", []),
    ("compare {i}/tables_only --a optimizer=adam --b optimizer=sgd", "tables_only", []),
    ("compare {i}/tables_only --spec {i}/missing.yaml --a optimizer=adam --b optimizer=sgd", "missing.yaml", []),
    ("compare {i}/empty_folder --a optimizer=adam", "--b", []),
    ("compare {i}/empty_folder --cell optimizer=adam", "--cell", []),
    ("compare {i}/empty_folder {i}/empty_folder {i}/empty_folder --cell optimizer=adam", "got 3", []),
    # summarize
    ("summarize {i}/no_run", "no_run", []),
    ("summarize {i}/a_file", "a_file", []),
    ("summarize {i}/folder", "summary.json", []),
]


def _run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.err


@pytest.mark.parametrize("command, names, never", BAD_ARGUMENTS, ids=[row[0].replace("{i}/", "") for row in BAD_ARGUMENTS])
def test_bad_arguments_fail_in_one_line(command, names, never, inputs, capsys, monkeypatch):
    monkeypatch.chdir(inputs)  # "pwned" would land here
    before = {p.name: p.lstat().st_mtime_ns for p in inputs.iterdir()}
    code, err = _run(command.format(i=inputs).split(), capsys)
    assert code not in (0, None), err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    error_line = lines[-1]  # argparse prints its usage line first
    assert error_line.startswith(("separation: error:", "separation ", "usage:")) and names in error_line, err
    assert len([line for line in lines if "error:" in line]) == 1, err
    assert "weights_only=False" not in err and "weights_only" not in err
    for name in never:
        assert not (inputs / name).exists(), f"{name} was written"
    # Inputs are left as they were (e.g. a file given as a corpus folder is not replaced).
    assert {p.name: p.lstat().st_mtime_ns for p in inputs.iterdir() if p.name in before} == before


def test_the_table_is_wide():
    assert len(BAD_ARGUMENTS) >= 60
    assert {row[0].split()[0] for row in BAD_ARGUMENTS} == {"train", "grid", "report", "separate", "evaluate", "data",
                                                             "evaluate-study", "compare", "summarize"}


def test_a_real_process_gives_the_same_single_line(inputs):
    done = subprocess.run([sys.executable, "-m", "separation", "evaluate", str(inputs / "pickle.ckpt")],
                          capture_output=True, text=True, cwd=inputs)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr
    assert "not a weights-only checkpoint of this suite" in done.stderr and not (inputs / "pwned").exists()


def test_foreign_files_survive_the_refusals(inputs, capsys, monkeypatch):
    """The rows above that point at a user's folders leave every file in them as it was."""
    monkeypatch.chdir(inputs)
    for command in ("data speech {i}/thesis_corpus --force", "data music {i}/thesis_music --force",
                    "report {i}/empty_folder -o {i}/thesis"):
        _run(command.format(i=inputs).split(), capsys)
    assert (inputs / "thesis" / "thesis.tex").read_text() == "\\chapter{Results}\n"
    assert sorted(p.name for p in (inputs / "thesis").iterdir()) == ["thesis.tex"]
    assert (inputs / "thesis_corpus" / "Libri2Mix" / "wav8k" / "min" / "dev" / "notes.txt").read_text() == "mine\n"
    assert (inputs / "thesis_music" / "train" / "notes.txt").read_text() == "mine\n"
