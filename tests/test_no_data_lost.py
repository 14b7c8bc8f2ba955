"""No file of the user's lost, no result mislabelled (issue #26).

Every command with an output folder is pointed at a folder holding files it did
not write: they survive, byte for byte. Bad input (non-finite audio, corrupt or
pickled checkpoints) gives one line on stderr and writes nothing. Racing
workers never both take over one dead claim.
"""

import hashlib
import json
import os
import pickle
import subprocess
import time
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from conftest import load_script
from separation.analysis.report import write_report
from separation.cli import main
from separation.grid.spec import load_spec
from test_report import BASE, write_trial

MINI_SPEC = """# Tiny study for the output-folder tests.
study: mini
base: base.yaml
axes:
  optimizer: [{name: adam, lr: 1.0e-3}]
  seed: [0, 1]
"""


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` (hidden ones included) by relative path, with a hash of its bytes."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def user_files(folder: Path) -> dict[str, str]:
    """A folder of the user's: a thesis, a sub-folder with data, a hand-written README."""
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    (folder / "thesis.tex").write_text("\\documentclass{article}\n")
    (folder / "sub" / "data.csv").write_text("a,b\n1,2\n")
    (folder / "README.md").write_text("# Notes by hand\n")
    return {k: v for k, v in snapshot(folder).items() if k in ("thesis.tex", "sub/data.csv", "README.md")}


def run_cli(argv: list[str], capsys) -> tuple[int, list[str]]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if line.strip()]


def assert_one_error_line(code, lines, name):
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("separation: error:") and name in lines[0], lines


# ------------------------------------------------------------------------------ report


@pytest.fixture(scope="module")
def mini_study(tmp_path_factory):
    root = tmp_path_factory.mktemp("mini")
    (root / "base.yaml").write_text(BASE)
    (root / "mini.yaml").write_text(MINI_SPEC)
    for trial in load_spec(root / "mini.yaml").trials:
        write_trial(root / "runs" / "mini" / trial.id, trial, "completed")
    return root


def test_report_refuses_a_folder_of_the_users(mini_study, tmp_path, capsys):
    out = tmp_path / "thesis"
    before = user_files(out)
    code, lines = run_cli(["report", mini_study / "runs" / "mini", "-o", out], capsys)
    assert_one_error_line(code, lines, str(out))
    assert "--force" in lines[0]
    assert snapshot(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["thesis"]


def test_report_refuses_a_file(mini_study, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("README.md").write_text("# The project\n")
    for force in ([], ["--force"]):
        code, lines = run_cli(["report", mini_study / "runs" / "mini", "-o", "README.md", *force], capsys)
        assert_one_error_line(code, lines, "README.md")
        assert Path("README.md").read_text() == "# The project\n"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]  # no hidden .README.md.old-<pid>


def test_report_with_force_keeps_the_users_files(mini_study, tmp_path, capsys):
    out = tmp_path / "thesis"
    before = user_files(out)
    code, lines = run_cli(["report", mini_study / "runs" / "mini", "-o", out, "--force"], capsys)
    assert code == 0, lines
    after = snapshot(out)
    assert {k: after[k] for k in before} == before
    assert "REPORT.md" in after and "trials.csv" in after
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left behind


def test_regenerating_a_report_keeps_its_readme(mini_study, tmp_path, capsys):
    out = tmp_path / "results" / "mini"
    code, _ = run_cli(["report", mini_study / "runs" / "mini", "-o", out], capsys)
    assert code == 0
    (out / "README.md").write_text("# How this report was produced\n")
    (out / "figures" / "mine.png").write_bytes(b"not drawn by the report")
    (out / "within.csv").write_text("a table an older report wrote and this one does not\n")
    (out / "provenance.json").unlink()  # an older report (results/svoice_schedulers_v2): REPORT.md and trials.csv
    code, lines = run_cli(["report", mini_study / "runs" / "mini", "-o", out], capsys)
    assert code == 0, lines
    assert (out / "README.md").read_text() == "# How this report was produced\n"
    assert (out / "figures" / "mine.png").read_bytes() == b"not drawn by the report"
    assert not (out / "within.csv").exists() and (out / "provenance.json").is_file()


def test_report_from_tables_keeps_the_readme_and_refuses_foreign_folders(mini_study, tmp_path, capsys):
    out = tmp_path / "mini"
    write_report(mini_study / "runs" / "mini", out, mini_study / "mini.yaml")
    (out / "README.md").write_text("# Hand-written\n")
    script = load_script("report_from_tables")
    assert script.main([str(out), "--spec", str(mini_study / "mini.yaml")]) == 0
    assert (out / "README.md").read_text() == "# Hand-written\n" and (out / "REPORT.md").is_file()
    foreign = tmp_path / "thesis"
    before = user_files(foreign)
    assert script.main([str(out), "--spec", str(mini_study / "mini.yaml"), "-o", str(foreign)]) == 2
    assert snapshot(foreign) == before
    assert script.main([str(out), "--spec", str(mini_study / "mini.yaml"), "-o", str(foreign), "--force"]) == 0
    assert {k: v for k, v in snapshot(foreign).items() if k in before} == before


# ------------------------------------------------------------------------------ data speech|music|noisy --force


def tiny_speech(root, **kwargs):
    from separation.data.speech_corpus import generate_speech_corpus

    generate_speech_corpus(root, seed=1, n_src_list=(2,), n_train=2, n_dev=1, n_test=1, speakers=(2, 2, 2),
                           utterances_per_speaker=1, words_per_utterance=(2, 2), families=("espeak",), workers=1,
                           log=None, **kwargs)


def test_data_speech_force_replaces_the_corpus_and_nothing_else(tmp_path):
    root = tmp_path / "speech"
    tiny_speech(root)
    before = user_files(root)
    corpus = root / "Libri2Mix" / "wav8k" / "min"
    old_corpus = {k: v for k, v in snapshot(root).items() if k.startswith("Libri2Mix/")}
    (corpus / "notes.txt").write_text("my listening notes\n")  # inside a folder --force replaces
    with pytest.raises(Exception, match="notes.txt: not a file of a generated speech corpus"):
        tiny_speech(root, force=True)
    assert (corpus / "notes.txt").read_text() == "my listening notes\n"
    assert {k: v for k, v in snapshot(root).items() if k.startswith("Libri2Mix/") and "notes" not in k} == old_corpus
    (corpus / "notes.txt").unlink()
    (corpus / "test" / "s1" / "stale.wav").write_bytes(b"a wav an older corpus wrote")
    tiny_speech(root, force=True)
    after = snapshot(root)
    assert {k: after.get(k) for k in before} == before
    assert not (corpus / "test" / "s1" / "stale.wav").exists()  # the corpus's own files are replaced
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no temporary folder left behind


def test_data_music_force_keeps_the_users_files(tmp_path):
    from separation.data.music_corpus import generate_music_corpus

    root = tmp_path / "music"
    generate_music_corpus(root, seed=0, n_train=2, n_valid=1, n_test=1, seconds=1.0, workers=1, log=None)
    before = user_files(root)
    generate_music_corpus(root, seed=1, n_train=2, n_valid=1, n_test=1, seconds=1.0, workers=1, log=None, force=True)
    after = snapshot(root)
    assert {k: after.get(k) for k in before} == before and "musdb.yaml" in after
    track = next((root / "test").iterdir())
    (track / "lyrics.txt").write_text("la la\n")
    with pytest.raises(Exception, match="lyrics.txt: not a file of a generated music corpus"):
        generate_music_corpus(root, seed=2, n_train=2, n_valid=1, n_test=1, seconds=1.0, workers=1, log=None, force=True)
    assert snapshot(root) == {**after, (track / "lyrics.txt").relative_to(root).as_posix(): snapshot(track)["lyrics.txt"]}


def test_data_noisy_force_keeps_the_users_files_and_its_input(speech_corpus, tmp_path, capsys):
    import shutil

    from separation.data.noisy_corpus import generate_noisy_corpus

    root = tmp_path / "data"
    shutil.copytree(speech_corpus, root / "speech")  # the speech corpus inside the noisy corpus's folder
    before = {**user_files(root), **{f"speech/{k}": v for k, v in snapshot(root / "speech").items()}}
    kwargs = dict(sample_rate=8000, kinds=("white",), items=(2, 1, 1), log=None, force=True)
    generate_noisy_corpus(root, root / "speech", **kwargs)  # once in a folder of other things, once over itself
    generate_noisy_corpus(root, root / "speech", seed=1, **kwargs)
    after = snapshot(root)
    assert {k: after.get(k) for k in before} == before  # speech/, its input, included
    (root / "test" / "clean" / "keep.flac").write_bytes(b"not a wav of the corpus")
    code, lines = run_cli(["data", "noisy", root, "--speech", root / "speech", "--sample-rate", "8000", "--force"], capsys)
    assert_one_error_line(code, lines, "keep.flac")
    assert (root / "test" / "clean" / "keep.flac").exists() and snapshot(root)["corpus.json"] == after["corpus.json"]


# ------------------------------------------------------------------------------ racing takeovers of one stale claim

RACER = """
import json, sys, time
from pathlib import Path
from separation.grid import claim

trial, out, index = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
read_claim, stat = claim.read_claim, Path.stat


# A loaded machine: a gap between looking at a claim or a lock and acting on it, and
# workers running at different speeds (each racer's gap after looking at a lock differs).
def slow_read_claim(*args, **kwargs):
    state = read_claim(*args, **kwargs)
    time.sleep(0.1)
    return state


def slow_stat(path, *args, **kwargs):
    result = stat(path, *args, **kwargs)
    if path.name.startswith("CLAIM.takeover"):
        time.sleep(0.05 * (1 + index))
    return result


claim.read_claim, Path.stat = slow_read_claim, slow_stat
out.with_suffix(".ready").write_text("")
while not (trial.parent / "go").exists():  # all racers start together, however slowly each one started
    time.sleep(0.001)
mine = claim.TrialClaim(trial)
won = mine.acquire()
out.with_suffix(".tmp").write_text(json.dumps({"won": won, "token": mine.token}))
out.with_suffix(".tmp").rename(out)
while not (trial.parent / "release").exists():  # hold the claim (alive) until every racer has answered
    time.sleep(0.01)
if won:
    mine.release()
"""


def stale_claim_and_lock(trial: Path) -> None:
    """A claim whose owner on another machine stopped beating an hour ago, and a takeover
    lock a crashed worker left behind as long ago: every racer judges both stale."""
    trial.mkdir(parents=True)
    hour_ago = time.time() - 3600
    (trial / "CLAIM").write_text(json.dumps({"host": "elsewhere", "boot_id": "b", "pid": 1, "token": "dead"}))
    (trial / "CLAIM.takeover").write_text(json.dumps({"host": "elsewhere", "boot_id": "b", "pid": 2}))
    for name in ("CLAIM", "CLAIM.takeover"):
        os.utime(trial / name, (hour_ago, hour_ago))


def wait_for(paths: list[Path], seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline and not all(p.exists() for p in paths):
        time.sleep(0.01)


@pytest.mark.parametrize("round_", range(4))
def test_racing_workers_take_a_stale_claim_once(tmp_path, round_):
    racers = 8
    trial = tmp_path / "study" / "trial"
    stale_claim_and_lock(trial)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    processes = [subprocess.Popen([sys.executable, "-c", RACER, str(trial), str(tmp_path / f"racer{i}.json"), str(i)],
                                  env=env, cwd=Path(__file__).resolve().parents[1])
                 for i in range(racers)]
    try:
        wait_for([tmp_path / f"racer{i}.ready" for i in range(racers)])
        (tmp_path / "study" / "go").write_text("")
        wait_for([tmp_path / f"racer{i}.json" for i in range(racers)])
        results = [json.loads((tmp_path / f"racer{i}.json").read_text()) for i in range(racers)]
        winners = [r["token"] for r in results if r["won"]]
        assert len(winners) == 1, f"{len(winners)} workers took the trial"
        assert json.loads((trial / "CLAIM").read_text())["token"] == winners[0]
    finally:
        (tmp_path / "study" / "release").write_text("")
        for process in processes:
            process.wait(timeout=30)


# ------------------------------------------------------------------------------ separate -o, evaluate -o, grid --runs

TINY_SVOICE = {"n_src": 2, "enc_dim": 16, "kernel_size": 4, "hidden_size": 8, "num_repeats": 1}


def tiny_checkpoint(path: Path, data_root: Path) -> Path:
    """What `separation train` writes, as far as separate and evaluate read it."""
    from separation.config import Config, ModelConfig, config_to_dict
    from separation.models.svoice import SVoice

    config = config_to_dict(Config(task="speech", model=ModelConfig(name="svoice", args=TINY_SVOICE)))
    config["data"]["root"] = str(data_root)
    model = SVoice(**TINY_SVOICE)
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
                "model_spec": {"name": "svoice", "args": TINY_SVOICE}, "config": config}, path)
    return path


def nan_wav(path: Path, frames: int = 4000, rate: int = 8000, at: int = 100) -> Path:
    import soundfile as sf

    audio = np.random.default_rng(0).normal(0, 0.1, frames).astype(np.float32)
    audio[at] = np.nan
    sf.write(str(path), audio, rate, subtype="FLOAT")
    return path


def good_wav(path: Path, rate: int = 8000) -> Path:
    from separation.data.audio import write_wav

    write_wav(path, np.random.default_rng(1).normal(0, 0.1, rate // 2).astype(np.float32), rate)
    return path


def test_separate_and_evaluate_write_beside_the_users_files(speech_corpus, tmp_path, capsys):
    checkpoint = tiny_checkpoint(tmp_path / "model.ckpt", speech_corpus)
    out = tmp_path / "out"
    before = user_files(out)
    code, lines = run_cli(["separate", checkpoint, good_wav(tmp_path / "song.wav"), "-o", out, "--device", "cpu"], capsys)
    assert code == 0, lines
    code, lines = run_cli(["separate", checkpoint, tmp_path / "song.wav", "-o", out, "--device", "cpu", "--force"], capsys)
    assert code == 0, lines
    code, lines = run_cli(["evaluate", checkpoint, "-o", out, "--device", "cpu", "--max-items", "1"], capsys)
    assert code == 0, lines
    after = snapshot(out)
    assert {k: after.get(k) for k in before} == before
    assert "song/s1.wav" in after and "summary.json" in after


def test_grid_writes_beside_the_users_files(speech_corpus, tmp_path):
    from separation.grid.runner import run_local

    base = {"task": "speech", "model": {"name": "svoice", "args": {k: v for k, v in TINY_SVOICE.items() if k != "n_src"}},
            "data": {"root": str(speech_corpus), "segment_seconds": 0.5, "batch_size": 2, "train_items_per_epoch": 4,
                     "valid_max_items": 1},
            "trainer": {"max_epochs": 1, "log_every_n_steps": 1, "audio_examples": 0, "enable_progress_bar": False}}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump({"study": "g", "base": "base.yaml", "axes": {"seed": [0]}}))
    runs = tmp_path / "runs"
    before = {**user_files(runs), **{f"g/{k}": v for k, v in user_files(runs / "g").items()}}
    assert set(run_local(load_spec(tmp_path / "spec.yaml"), runs).values()) == {"completed"}
    after = snapshot(runs)
    assert {k: after.get(k) for k in before} == before


# ------------------------------------------------------------------------------ non-finite audio


@pytest.mark.parametrize("rate", [8000, 16000], ids=["streamed", "resampled"])
def test_separate_refuses_non_finite_audio_and_writes_nothing(speech_corpus, tmp_path, capsys, rate):
    checkpoint = tiny_checkpoint(tmp_path / "model.ckpt", speech_corpus)
    good, bad = good_wav(tmp_path / "good.wav"), nan_wav(tmp_path / "nan.wav", rate=rate, at=1234)
    code, lines = run_cli(["separate", checkpoint, good, bad, "-o", tmp_path / "out", "--device", "cpu"], capsys)
    assert_one_error_line(code, lines, "nan.wav")
    assert "non-finite" in lines[0] and "1234" in lines[0]
    assert not (tmp_path / "out").exists()


def test_evaluate_refuses_a_corpus_file_of_nan_and_writes_nothing(speech_corpus, tmp_path, capsys):
    import shutil

    import soundfile as sf

    corpus = tmp_path / "corpus"
    shutil.copytree(speech_corpus, corpus)
    last = sorted((corpus / "Libri2Mix/wav8k/min/test/s2").glob("*.wav"))[-1]  # examples of earlier items come first
    nan_wav(last, frames=sf.info(str(last)).frames, at=0)
    checkpoint = tiny_checkpoint(tmp_path / "model.ckpt", corpus)
    code, lines = run_cli(["evaluate", checkpoint, "-o", tmp_path / "eval", "--device", "cpu"], capsys)
    assert_one_error_line(code, lines, last.name)
    assert not (tmp_path / "eval").exists()


def test_dataset_readers_refuse_non_finite_samples(tmp_path):
    from separation.data.audio import AudioError, read_wav
    from separation.data.music_datasets import MusicDataError, read_chunk

    bad = nan_wav(tmp_path / "nan.wav", at=10)
    with pytest.raises(AudioError, match="nan.wav: non-finite samples .* frame 10;"):
        read_wav(bad)
    assert read_wav(bad, start=11).shape == (4000 - 11,)  # a window without the NaN reads
    with pytest.raises(MusicDataError, match="nan.wav: non-finite samples .* frame 10;"):
        read_chunk(bad, 0, 100, 1)


# ------------------------------------------------------------------------------ checkpoints: set aside aloud, no warning before an error


def training_checkpoint(path: Path, step: int) -> Path:
    torch.save({"state_dict": {}, "loops": {}, "global_step": step}, path)
    return path


def test_a_corrupt_checkpoint_set_aside_is_said_on_stderr(tmp_path, capsys):
    from separation.training.checkpoints import choose_resume_point

    (tmp_path / "last.ckpt").write_bytes(os.urandom(512))
    training_checkpoint(tmp_path / "best.ckpt", 7)
    point = choose_resume_point(tmp_path)
    lines = capsys.readouterr().err.splitlines()
    assert point.global_step == 7 and len(lines) == 1, lines
    assert str(tmp_path / "last.ckpt") in lines[0] and point.set_aside[0] in lines[0]
    assert "resumes from step 7 (best.ckpt)" in lines[0]
    # Set aside again within the same second: the first one set aside is not overwritten.
    (tmp_path / "last.ckpt").write_bytes(b"truncated")
    (tmp_path / "best.ckpt").write_bytes(b"also truncated")
    again = choose_resume_point(tmp_path)
    lines = capsys.readouterr().err.splitlines()
    assert again.path is None and len(lines) == 2 and all("resumes from step 0" in line for line in lines)
    assert len(list(tmp_path.glob("*.corrupt-*"))) == 3


def plain_pickle(path: Path) -> Path:
    """An old-style pickle (protocol 4): PyTorch warns about its protocol before refusing it."""
    path.write_bytes(pickle.dumps({"state_dict": {"weight": [1.0]}}, protocol=4))
    return path


@pytest.mark.parametrize("command", ["evaluate {c}", "separate {c} {w} -o {o}"])
def test_a_pickle_checkpoint_gives_one_line_and_no_warning(tmp_path, command):
    checkpoint = plain_pickle(tmp_path / "pickle.ckpt")
    argv = command.format(c=checkpoint, w=good_wav(tmp_path / "in.wav"), o=tmp_path / "out").split()
    done = subprocess.run([sys.executable, "-m", "separation", *argv], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("separation: error:"), done.stderr
    assert "pickle.ckpt" in done.stderr and not (tmp_path / "out").exists()


def test_resume_sets_a_pickle_aside_without_a_warning(tmp_path, capsys):
    import warnings

    from separation.training.checkpoints import choose_resume_point

    plain_pickle(tmp_path / "last.ckpt")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        choose_resume_point(tmp_path)
    assert not caught, [str(w.message) for w in caught]
    assert len(capsys.readouterr().err.splitlines()) == 1


def test_evaluate_study_never_replaces_an_evaluation_holding_the_users_files(tmp_path, capsys):
    import subprocess as sp

    trial = tmp_path / "runs" / "s" / "a"
    trial.mkdir(parents=True)
    (trial / "DONE").write_text(json.dumps({"status": "completed"}))
    (trial / "last.ckpt").write_bytes(b"weights")
    (trial / "eval_test" / "examples" / "x").mkdir(parents=True)
    (trial / "eval_test" / "summary.json").write_text("{}")
    (trial / "eval_test" / "examples" / "x" / "mixture.wav").write_bytes(b"old example")

    def fake_evaluate(command, **kwargs):
        out = Path(command[command.index("-o") + 1])
        out.mkdir()
        (out / "summary.json").write_text('{"new": true}')
        return sp.CompletedProcess(command, 0, "done\n", "")

    evaluate_study = load_script("evaluate_study")
    assert evaluate_study.main([str(tmp_path / "runs" / "s")], run=fake_evaluate) == 0  # its own files: replaced
    assert json.loads((trial / "eval_test" / "summary.json").read_text()) == {"new": True}
    assert not (trial / "eval_test" / "examples").exists()
    (trial / "eval_test" / "notes.txt").write_text("listening notes\n")
    assert evaluate_study.main([str(tmp_path / "runs" / "s")], run=fake_evaluate) == 1
    assert "notes.txt: not a file of an evaluation" in capsys.readouterr().out
    assert (trial / "eval_test" / "notes.txt").read_text() == "listening notes\n"
    assert sorted(p.name for p in trial.iterdir()) == ["DONE", "eval_test", "last.ckpt"]  # no temporary left
