"""The study scripts as subcommands: `separation summarize RUN` (and scripts/summarize_run.py, which calls
it), `separation evaluate-study` (its options reach every trial's `separation evaluate`), and
scripts/study_numbers.py --help, which prints help rather than numbers."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import separation.evaluation.study as study_evaluation
from separation.cli import main
from separation.evaluation.study import evaluate_study

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def run(tmp_path):
    """A run folder as `separation train` leaves it, as far as summarize reads it."""
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps({
        "status": "completed", "global_step": 64, "epochs": 2, "train_seconds": 90.0, "val_seconds": 30.0,
        "metrics": {"val/si_snri": 1.234, "test/si_snri": 0.987, "train/loss": -3.0}}))
    rows = ["step,metric,value,wall_time", "32,val/si_snri,0.5,1", "32,val/loss,-0.5,1", "64,val/si_snri,1.234,2",
            "64,val/loss,-1.25,2", "10,train/loss,-0.1,0"]
    (folder / "metrics.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_summarize_prints_the_curve_and_the_outcome(run, capsys):
    assert main(["summarize", str(run)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "status: completed, 64 optimizer steps, 2 epochs, 1.5 min training + 0.5 min validation"
    assert out[2:6] == ["| step | val/si_snri (dB) | val/loss |", "|---:|---:|---:|", "| 32 | 0.50 | -0.500 |",
                        "| 64 | 1.23 | -1.250 |"]
    assert out[-1] == "final: test/si_snri 0.99, val/si_snri 1.23"  # train/ metrics left out


def test_the_script_prints_what_the_subcommand_prints(run, capsys):
    assert main(["summarize", str(run)]) == 0
    expected = capsys.readouterr().out
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "summarize_run.py"), str(run)],
                          capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == expected


def test_summarize_names_a_metric_that_was_not_logged(run, capsys):
    assert main(["summarize", str(run), "--metric", "val/sdr"]) == 2
    assert "no metric 'val/sdr'; validation metrics logged: val/loss, val/si_snri" in capsys.readouterr().err


def _study(root: Path) -> Path:
    study = root / "runs" / "s"
    for name, status in (("a-ok", "completed"), ("b-lost", "diverged"), ("c-ok", "completed")):
        (study / name).mkdir(parents=True)
        (study / name / "DONE").write_text(json.dumps({"status": status}))
        (study / name / "last.ckpt").write_bytes(b"weights")
    return study


def test_evaluate_study_passes_the_evaluate_options_to_every_trial(tmp_path, capsys, monkeypatch):
    study = _study(tmp_path)
    calls = []

    def fake_trial(trial, split, extra, run):
        calls.append((trial.name, split, extra))
        return trial.name != "c-ok", "evaluated" if trial.name != "c-ok" else "FAILED (exit 2): error: no corpus"

    monkeypatch.setattr(study_evaluation, "evaluate_trial", fake_trial)
    code = main(["evaluate-study", str(study), "--split", "valid", "--device", "cpu", "--max-items", "2",
                 "--jobs", "2", "--seconds", "5", "--mos"])
    captured = capsys.readouterr()
    assert code == 3  # an evaluation failed, as `grid` says of a failed trial
    assert sorted(name for name, _, _ in calls) == ["a-ok", "c-ok"]  # the diverged trial is not scored
    assert {(split, tuple(extra)) for _, split, extra in calls} == {
        ("valid", ("--max-items", "2", "--examples", "3", "--excerpt-seconds", "5.0", "--mos", "--device", "cpu"))}
    assert "b-lost: skipped (diverged)" in captured.out and "c-ok: FAILED" in captured.out
    assert captured.out.splitlines()[-1] == f"{study}: 1 evaluated, 1 failed, 1 skipped"
    assert captured.err.count("deprecated") == 2  # --jobs and --seconds: the old spellings


def test_evaluate_study_with_a_spec_scores_only_that_specs_trials(tmp_path, speech_corpus, capsys, monkeypatch):
    from separation.grid.spec import load_spec
    from test_grid_run import write_spec

    spec_path = write_spec(tmp_path, speech_corpus, {"seed": [0, 1]}, study="s")
    ids = [trial.id for trial in load_spec(spec_path).trials]
    study = _study(tmp_path)  # three trials of another phase sharing the folder
    for name in [*ids, "x-other-phase"]:
        (study / name).mkdir()
        (study / name / "DONE").write_text(json.dumps({"status": "completed"}))
        (study / name / "last.ckpt").write_bytes(b"weights")
    calls = []
    monkeypatch.setattr(study_evaluation, "evaluate_trial",
                        lambda trial, split, extra, run: (calls.append(trial.name) or True, "evaluated"))
    assert main(["evaluate-study", str(study), "--spec", str(spec_path), "--split", "dev"]) == 0
    assert sorted(calls) == sorted(ids)
    assert capsys.readouterr().out.splitlines()[-1] == f"{study}: 2 evaluated, 0 failed, 0 skipped"
    assert main(["evaluate-study", str(study), "--spec", str(tmp_path / "missing.yaml")]) != 0
    assert "missing.yaml" in capsys.readouterr().err and len(calls) == 2


def test_evaluate_study_swaps_in_only_a_complete_evaluation(tmp_path):
    study = _study(tmp_path)
    seen = []

    def fake_run(command, **kwargs):
        assert command[:4] == [sys.executable, "-m", "separation", "evaluate"] and "shell" not in kwargs
        out = Path(command[command.index("-o") + 1])
        seen.append(out)
        out.mkdir()
        (out / "summary.json").write_text("{}")
        failed = Path(command[4]).parent.name == "c-ok"
        return subprocess.CompletedProcess(command, 2 if failed else 0, "" if failed else f"scores in {out}\n",
                                           "Traceback\nerror: broken\n" if failed else "")

    lines = []
    failed = evaluate_study(study, extra=["--device", "cpu"], run=fake_run, log=lines.append)
    assert failed == ["c-ok"]
    assert (study / "a-ok" / "eval_test" / "summary.json").is_file() and not (study / "c-ok" / "eval_test").exists()
    assert all(out.name.startswith(".eval_test.tmp") and not out.exists() for out in seen)
    assert f"a-ok: evaluated in 0 s: scores in {study / 'a-ok' / 'eval_test'}" in lines
    assert "c-ok: FAILED (exit 2): error: broken" in lines


def test_study_numbers_help_prints_help_not_numbers():
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "study_numbers.py"), "--help"],
                          capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0 and done.stdout.startswith("usage: study_numbers.py")
    assert "schedulers: plateau - none" not in done.stdout  # the first line of numbers


def test_summarize_gives_the_median_gradient_norm_and_the_share_clipped(run, capsys):
    # The "norm at the median unclipped gradient norm" clipping cells take their value from this line.
    rows = [f"{step},train/grad_norm_pre_clip,{norm},0" for step, norm in ((1, 1.0), (2, 3.0), (3, 10.0), (4, 4.0))]
    rows += [f"{step},train/clipped,{flag},0" for step, flag in ((1, 0.0), (2, 0.0), (3, 1.0), (4, 0.0))]
    with open(run / "metrics.csv", "a") as handle:
        handle.write("\n".join(rows) + "\n")
    assert main(["summarize", str(run)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "gradient norm before clipping: median 3.5 [IQR 2.5, 5.5] over 4 logged steps; clipped on 25% of them" in out
    assert out[-1] == "final: test/si_snri 0.99, val/si_snri 1.23"
