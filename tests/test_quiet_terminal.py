"""The terminal of `separation train` and `separation grid`: our lines only; Lightning's go to RUN/train.log."""

import io
import re
import subprocess
import sys

import yaml

from separation.analysis.collect import collect_study
from separation.grid.runner import run_local
from separation.grid.spec import load_spec
from test_grid_run import write_spec

# What Lightning and torch print during a run when nobody stops them.
CHATTER = ("GPU available", "TPU available", "Tip:", "LeafSpec", "Trainer.fit")
LINE = re.compile(r"^\[grid g\] (\d)/2  (\S+) +(completed|diverged) +(.*)$")


def test_grid_prints_one_line_per_trial_and_a_report_can_live_in_the_study_folder(speech_corpus, tmp_path, capfd):
    path = write_spec(tmp_path, speech_corpus, {"optimizer": [{"name": "adam", "lr": 1e-3}, {"name": "sgd", "lr": 1e12}]},
                      epochs=1)
    spec = load_spec(path)
    out = io.StringIO()
    run_local(spec, tmp_path / "runs", out=out)
    terminal = capfd.readouterr()
    assert not any(word in terminal.out + terminal.err for word in CHATTER), terminal

    lines = out.getvalue().splitlines()
    assert lines[0] == f"[grid g] 2 trials: 2 missing; 2 to run in this worker ({tmp_path / 'runs' / 'g'})"
    assert len(lines) == 3, lines
    parsed = [LINE.match(line) for line in lines[1:]]
    assert all(parsed), lines
    ids = [t.id for t in spec.trials]
    for match in parsed:
        assert ids[int(match[1]) - 1] == match[2]
    by_status = {match[3]: match[4] for match in parsed}
    assert set(by_status) == {"completed", "diverged"}
    # The first trial names its headline metrics, minutes and the time left for the other one.
    first = parsed[0][4]
    assert re.search(r"\d+\.\d min  ETA \d+\.\d min \(1 left\)$", first), first
    last = parsed[1][4]
    assert re.search(r"\d+\.\d min  none left", last), last
    completed = by_status["completed"]
    assert re.search(r"^val/si_snri [+-]\d+\.\d\d  test/si_snri [+-]\d+\.\d\d  \d+\.\d min", completed), completed
    diverged = by_status["diverged"]
    assert "val/si_snri" not in diverged and "reason: non-finite" in diverged, diverged
    for trial in spec.trials:
        log = (tmp_path / "runs" / "g" / trial.id / "train.log").read_text()
        assert "GPU available" in log and "a sitting of" in log

    # `make demo`: the report goes into the study folder itself, and the next report does not take it for a trial.
    study_dir = tmp_path / "runs" / "g"
    from separation.cli import main

    assert main(["report", str(study_dir), "--spec", str(path)]) == 0  # no -o: STUDY_DIR/report, never results/
    assert (study_dir / "report" / "REPORT.md").is_file()
    for spec_path in (path, None):
        study = collect_study(study_dir, spec_path)
        assert sorted(study.trials["trial"]) == sorted(ids) and not study.notes, study.notes


def test_train_command_leaves_lightning_off_the_terminal(speech_corpus, tmp_path):
    config = {
        "task": "speech",
        "model": {"name": "svoice", "args": {"enc_dim": 16, "kernel_size": 4, "hidden_size": 8, "num_repeats": 2}},
        "data": {"root": str(speech_corpus), "segment_seconds": 0.5, "batch_size": 2, "train_items_per_epoch": 4,
                 "valid_max_items": 2},
        "trainer": {"max_epochs": 1, "log_every_n_steps": 1, "audio_examples": 0, "enable_progress_bar": False},
    }
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    run = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "separation", "train", "tiny.yaml", "-o", str(run)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    terminal = done.stdout + done.stderr
    assert not any(word in terminal for word in CHATTER), terminal
    assert terminal.splitlines() == [line for line in terminal.splitlines() if line.startswith("completed: ")]
    log = (run / "train.log").read_text()
    assert "GPU available" in log and "`Trainer.fit` stopped" in log
