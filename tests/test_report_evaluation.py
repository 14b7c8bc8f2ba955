"""The report's full test evaluation: per-trial `separation evaluate` folders and spec baselines in, one section out."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from separation.analysis.report import write_report, write_report_from_tables
from separation.config import ConfigError
from separation.errors import UserError
from separation.evaluation.scores import enhance_scores, music_scores, speech_scores
from separation.grid.spec import load_spec
from conftest import load_script
from test_report import find, write_trial

REPO = Path(__file__).resolve().parent.parent
BASE = (REPO / "experiments" / "configs" / "enhance_tiny.yaml").read_text()
SPEC = """# Does the evaluation section summarise what separation evaluate wrote?
study: evalsynth
base: base.yaml
axes:
  optimizer:
    - {name: adam, lr: 1.0e-3}
    - {name: sgd_momentum, lr: [0.01, 0.1]}
  scheduler: [{name: none}, {name: plateau, args: {patience: 0, factor: 0.5}}]
  seed: [0, 1, 2]
baselines: [baselines/noisy, baselines/rnnoise]
"""
SECTION = "## Full test evaluation (`separation evaluate`)"
# The committed baselines' data root, as their summary records it: the trials below name the same one.
ROOT = json.loads((Path(__file__).resolve().parents[1] / "results" / "enhance_baselines" / "noisy" / "summary.json").read_text())["data"]["root"]


def eval_summary(si_snri: float, stoi: float, items: int = 106) -> dict:
    """A summary.json as `separation evaluate` writes it for an enhancement checkpoint (only what the reader needs)."""
    def stats(mean):
        return {"mean": mean, "median": mean, "std": 0.0, "min": mean, "max": mean, "count": items, "nonfinite": 0}

    return {"task": "enhance", "checkpoint": "last.ckpt", "data": {"root": ROOT, "layout": "noisy", "split": "test"},
            "items": items, "sample_rate": 16000,
            "metrics": {"all": {"count": items, "si_snri": stats(si_snri), "si_snr": stats(si_snri + 20),
                                "sdri": stats(si_snri - 0.5), "sdr": stats(si_snri + 19.5), "stoi": stats(stoi),
                                "pesq": stats(2.0), "input_si_snr": stats(20.0)}}}


def write_eval(folder: Path, summary: dict) -> None:
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(summary))


def write_baselines(root: Path) -> None:
    """The committed noisy baseline as is; rnnoise with its item count changed (scored on other data)."""
    shutil.copytree(REPO / "results" / "enhance_baselines" / "noisy", root / "baselines" / "noisy")
    rnnoise = json.loads((REPO / "results" / "enhance_baselines" / "rnnoise" / "summary.json").read_text())
    rnnoise["items"] = 50
    write_eval(root / "baselines" / "rnnoise", rnnoise)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("evalreport")
    (root / "base.yaml").write_text(BASE)
    write_baselines(root)
    (root / "spec.yaml").write_text(SPEC)
    spec = load_spec(root / "spec.yaml")
    diverged = find(spec, "sgd_momentum", 0.1, "none", "none", 2).id
    unevaluated = {find(spec, "sgd_momentum", 0.01, "none", "none", 1).id}
    unevaluated |= {find(spec, "adam", 1e-3, "plateau", "none", s).id for s in (0, 1, 2)}  # a cell with none
    runs = root / "runs" / "evalsynth"
    for trial in spec.trials:
        status = "diverged" if trial.id == diverged else "completed"
        write_trial(runs / trial.id, trial, status, last_epoch=2 if status == "diverged" else 4)
        if trial.id not in unevaluated:
            # Scores by seed: 5, 6, 9 dB SI-SNRi; STOI 0.80, 0.81, 0.84 (the diverged seed's are written, and must not count).
            seed = trial.config.seed
            write_eval(runs / trial.id / "eval_test", eval_summary(5.0 + seed**2, 0.80 + 0.01 * seed**2))
    out = root / "results" / "evalsynth"
    report = write_report(runs, out, root / "spec.yaml").read_text()
    return {"root": root, "spec": spec, "out": out, "report": report, "diverged": diverged, "unevaluated": unevaluated}


def section(report: str) -> str:
    return report[report.index(SECTION):].split("\n## ")[0]


def table_row(text: str, first: str) -> list[str]:
    row = next(line for line in text.splitlines() if line.startswith(f"| {first} |"))
    return [cell.strip() for cell in row.strip("|").split("|")]


def header(text: str) -> list[str]:
    return table_row(text, "cell")


def test_cell_medians_over_ok_seeds(study):
    text = section(study["report"])
    columns = header(text)
    si_snri, stoi = columns.index("SI-SNRi median [IQR]"), columns.index("STOI median [IQR]")
    every = table_row(text, "adam, lr 0.001, sched none")  # seeds 0, 1, 2: 5, 6, 9
    assert every[1:3] == ["3/3", "0"] and every[si_snri] == "6.00 [5.50, 7.50]" and every[stoi] == "0.810 [0.805, 0.825]"
    one_missing = table_row(text, "sgd_momentum, lr 0.01, sched none")  # seeds 0 and 2: 5, 9
    assert one_missing[1] == "2/3" and one_missing[si_snri] == "7.00 [6.00, 8.00]"
    lost = table_row(text, "sgd_momentum, lr 0.1, sched none")  # seed 2 diverged: its 9 dB is not scored
    assert lost[1:3] == ["2/3", "1"] and lost[si_snri] == "5.50 [5.25, 5.75]"
    assert "| adam, lr 0.001, sched plateau |" not in text  # no evaluated trial: left out
    assert "Not evaluated: 4 of 18 finished trials" in text
    for trial in study["unevaluated"]:
        assert f"`{trial}` (completed)" in text
    assert "SDRi median [IQR]" in columns and "PESQ median [IQR]" in columns


def test_baselines_are_reference_rows_checked_for_comparability(study):
    text = section(study["report"])
    noisy = table_row(text, "baseline: noisy")
    assert noisy[1] == "baseline" and noisy[header(text).index("SI-SNRi median [IQR]")] == "0.00"
    assert "- `baseline: noisy`: same data as the trials." in text
    assert "- `baseline: rnnoise`: NOT comparable: items 50 vs the trials' 106." in text
    assert f"root {ROOT}, split test, items 106, sample rate 16000" in text
    assert (study["out"] / "figures" / "final_metric.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluation_table_holds_every_evaluated_trial_and_baseline(study):
    table = pd.read_csv(study["out"] / "evaluation.csv")
    trials = table[table["kind"] == "trial"]
    assert len(trials) == 18 - 4 and set(study["unevaluated"]).isdisjoint(trials["trial"])
    assert trials.set_index("trial").loc[study["diverged"], "status"] == "diverged"
    assert list(table.loc[table["kind"] == "baseline", "trial"]) == ["baseline: noisy", "baseline: rnnoise"]
    assert np.allclose(sorted(set(trials["SI-SNRi"])), [5.0, 6.0, 9.0])


def test_report_from_tables_regenerates_the_section(study, tmp_path):
    copy = tmp_path / "evalsynth"
    shutil.copytree(study["out"], copy)
    regenerated = write_report_from_tables(copy, study["root"] / "spec.yaml").read_text()
    assert section(regenerated) == section(study["report"])
    pd.testing.assert_frame_equal(pd.read_csv(copy / "evaluation.csv"), pd.read_csv(study["out"] / "evaluation.csv"))
    # A baseline added to the spec after the report was written appears when it is regenerated.
    root = study["root"]
    shutil.copytree(REPO / "results" / "enhance_baselines" / "deepfilternet", root / "baselines" / "deepfilternet")
    (root / "more.yaml").write_text(SPEC.replace("baselines/rnnoise]", "baselines/rnnoise, baselines/deepfilternet]"))
    more = section(write_report_from_tables(copy, root / "more.yaml", tmp_path / "more").read_text())
    assert "| baseline: deepfilternet | baseline |" in more and more.count("| baseline: ") == 3
    (copy / "evaluation.csv").unlink()  # no trial evaluations: the baselines alone, and every finished trial listed
    alone = section(write_report_from_tables(copy, root / "spec.yaml").read_text())
    assert "0 of 18 finished trials" in alone and "Not evaluated: 18 of 18" in alone
    assert "checked against the data root of the trials' configs" in alone
    assert "- `baseline: noisy`: same data as the trials." in alone  # its root is the one the trials' configs name
    elsewhere = json.loads((root / "baselines" / "noisy" / "summary.json").read_text())
    elsewhere["data"]["root"], elsewhere["baseline"] = "/elsewhere/noisy", "elsewhere"
    write_eval(root / "baselines" / "elsewhere", elsewhere)
    (root / "elsewhere.yaml").write_text(SPEC.replace("baselines/rnnoise]", "baselines/rnnoise, baselines/elsewhere]"))
    other = section(write_report_from_tables(copy, root / "elsewhere.yaml", tmp_path / "elsewhere").read_text())
    assert "- `baseline: elsewhere`: NOT comparable: root /elsewhere/noisy vs the trials' data/noisy." in other
    (root / "none.yaml").write_text(SPEC.replace("baselines: [baselines/noisy, baselines/rnnoise]\n", ""))
    assert SECTION not in write_report_from_tables(copy, root / "none.yaml").read_text()


def test_baselines_must_exist_at_spec_load(tmp_path):
    (tmp_path / "base.yaml").write_text(BASE)
    write_baselines(tmp_path)
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.replace("baselines/rnnoise]", "baselines/nowhere]"))
    with pytest.raises(ConfigError, match=r"baselines\[1\] 'baselines/nowhere': no such folder") as error:
        load_spec(spec)
    assert "\n" not in str(error.value)
    (tmp_path / "baselines" / "empty").mkdir()
    spec.write_text(SPEC.replace("baselines/rnnoise]", "baselines/empty]"))
    with pytest.raises(ConfigError, match=r"baselines\[1\] 'baselines/empty': no summary.json in"):
        load_spec(spec)
    (tmp_path / "baselines" / "empty" / "summary.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"baselines\[1\].*summary.json: unreadable evaluation file"):
        load_spec(spec)
    spec.write_text(SPEC.replace("baselines: [baselines/noisy, baselines/rnnoise]", "baselines: baselines/noisy"))
    with pytest.raises(ConfigError, match="'baselines' must be a list"):
        load_spec(spec)


def test_baselines_do_not_change_trial_ids(tmp_path):
    (tmp_path / "base.yaml").write_text(BASE)
    write_baselines(tmp_path)
    (tmp_path / "with.yaml").write_text(SPEC)
    (tmp_path / "without.yaml").write_text(SPEC.replace("baselines: [baselines/noisy, baselines/rnnoise]\n", ""))
    assert [t.id for t in load_spec(tmp_path / "with.yaml").trials] == [t.id for t in load_spec(tmp_path / "without.yaml").trials]
    assert list(load_spec(tmp_path / "with.yaml").baselines) == ["baselines/noisy", "baselines/rnnoise"]


def test_readers_name_their_scores(tmp_path):
    assert music_scores(tmp_path / "nowhere") is None and enhance_scores(tmp_path) is None and speech_scores(tmp_path) is None
    aggregate = {"vocals": {"SDR": 4.0, "SIR": 9.0, "ISR": 11.0, "SAR": 6.0},
                 "accompaniment": {"SDR": 10.0, "SIR": 16.0, "ISR": 14.0, "SAR": 12.0}}
    (tmp_path / "bsseval.json").write_text(json.dumps({"aggregate": aggregate, "tracks_evaluated": 3}))
    music = music_scores(tmp_path)
    assert list(music.scores)[:3] == ["museval SDR vocals", "museval SDR accompaniment", "museval SDR mean"]
    assert music.scores["museval SDR mean"] == 7.0 and music.scores["museval SAR accompaniment"] == 12.0
    assert music.data == {"items": 3}
    speech = speech_scores(REPO / "results" / "svoice_cpu_15min" / "eval_test")  # a committed speech evaluation
    assert list(speech.scores) == ["SI-SNRi", "SI-SNR", "SDRi", "SDR"] and speech.data["items"] == 100
    assert speech.scores["SI-SNRi"] == pytest.approx(3.011388898938894)
    (tmp_path / "bsseval.json").write_text(json.dumps({"aggregate": []}))
    with pytest.raises(UserError, match="bsseval.json: no 'aggregate'"):
        music_scores(tmp_path)
    (tmp_path / "summary.json").write_bytes(b"\xff\xfe")
    with pytest.raises(UserError, match="summary.json: unreadable evaluation file"):
        enhance_scores(tmp_path)


def test_evaluate_study_runs_evaluate_per_finished_trial(tmp_path, capsys):
    """A fake `separation evaluate`: argument lists, a temporary folder renamed in, failures counted, lost trials skipped."""
    import subprocess
    import sys

    study = tmp_path / "runs" / "s"
    for name, status in (("a-ok", "completed"), ("b-done", "completed"), ("c-div", "diverged"), ("d-fail", "completed"),
                         ("e-stop", "stopped-at-target"), ("f-nockpt", "completed")):
        (study / name).mkdir(parents=True)
        (study / name / "DONE").write_text(json.dumps({"status": status}))
        if name != "f-nockpt":
            (study / name / "last.ckpt").write_bytes(b"weights")
    (study / "g-running").mkdir()  # no DONE marker, no claim: interrupted
    write_eval(study / "b-done" / "eval_test", eval_summary(1.0, 0.5))
    calls = []

    def fake_run(command, **kwargs):
        calls.append(command)
        assert isinstance(command, list) and command[:4] == [sys.executable, "-m", "separation", "evaluate"]
        assert "shell" not in kwargs and command[-2:] == ["--device", "cpu"]
        trial = Path(command[4]).parent
        out = Path(command[command.index("-o") + 1])
        assert out.parent == trial and out.name.startswith(".eval_test.tmp")
        if trial.name == "d-fail":
            write_eval(out, {"half": "written"})  # a crash after a partial write must leave no eval_test/
            return subprocess.CompletedProcess(command, 2, "", "Traceback ...\nerror: data/noisy: no such folder\n")
        write_eval(out, eval_summary(7.0, 0.9))
        return subprocess.CompletedProcess(command, 0, "crced: 106 utterances of test, means: si_snri 7.00\n", "")

    evaluate_study = load_script("evaluate_study")
    assert evaluate_study.main([str(study), "--only-missing", "--device", "cpu"], run=fake_run) == 1
    printed = capsys.readouterr().out
    assert sorted(Path(c[4]).parent.name for c in calls) == ["a-ok", "d-fail", "e-stop"]
    assert "a-ok: evaluated in" in printed and "si_snri 7.00" in printed
    assert "d-fail: FAILED (exit 2): error: data/noisy: no such folder" in printed
    assert "c-div: skipped (diverged)" in printed and "b-done: skipped (eval_test/ exists)" in printed
    assert "f-nockpt: skipped (completed, no last.ckpt)" in printed and "g-running: skipped (interrupted)" in printed
    assert "2 evaluated, 1 failed, 4 skipped" in printed
    assert enhance_scores(study / "a-ok" / "eval_test").scores["SI-SNRi"] == 7.0
    assert not (study / "d-fail" / "eval_test").exists()
    assert not [p for p in study.rglob(".eval_test*")]
    # Without --only-missing an evaluation is redone and replaces the old folder; lost trials on request.
    calls.clear()
    assert evaluate_study.main([str(study), "--include-lost", "--jobs", "2", "--device", "cpu"], run=fake_run) == 1
    assert sorted(Path(c[4]).parent.name for c in calls) == ["a-ok", "b-done", "c-div", "d-fail", "e-stop"]
    assert enhance_scores(study / "b-done" / "eval_test").scores["SI-SNRi"] == 7.0
    assert evaluate_study.main([str(tmp_path / "nowhere")], run=fake_run) == 2


def test_the_selected_cell_is_set_against_each_comparable_baseline(study, monkeypatch):
    from separation.analysis import report_evaluation
    from separation.analysis.collect import collect_study

    # The fixture's best cell on validation has no evaluated trial: the section says so.
    report = study["report"]
    best = report.split("**Selected setting:** `")[1].split("`")[0]
    assert f"The selected cell `{best}` (best on validation) has no full evaluation" in section(report)
    # Made the selection, the cell evaluated at SI-SNRi 5, 6, 9 dB and PESQ 2.0 over seeds 0-2 is set against
    # the noisy baseline (SI-SNRi 0, PESQ 2.33); rnnoise, scored on other items, is not compared.
    collected = collect_study(study["root"] / "runs" / "evalsynth", study["root"] / "spec.yaml")
    monkeypatch.setattr(report_evaluation, "select_best", lambda s, cells: "adam, lr 0.001, sched none")
    text = report_evaluation.evaluation_section(collected)
    comparison = text[text.index("The selected cell `adam, lr 0.001, sched none` (best on validation) against"):]
    columns = table_row(comparison, "baseline")
    row = table_row(comparison, "baseline: noisy")
    assert row[columns.index("SI-SNRi")] == "+6.00 (3 of 3 higher)"
    assert row[columns.index("PESQ")] == "-0.33 (0 of 3 higher)"
    assert "| baseline: rnnoise |" not in comparison
