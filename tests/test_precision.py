"""`trainer.precision: auto`: what it resolves to, its bf16 probe, and that every run records its choice."""

import csv
import json
from pathlib import Path

import pytest
import torch

from conftest import tiny_speech_config
from separation.training import precision

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def bf16_cpu(monkeypatch):
    """A CPU with native bf16, and svoice admitted as a bf16 family (as a measurement would admit it)."""
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "amx_bf16", "avx512_bf16"}))
    monkeypatch.setitem(precision.BF16_FAMILIES, "svoice", "measured in a test")
    monkeypatch.setattr(precision, "uses_cuda", lambda accelerator: False)


def test_auto_is_fp32_on_a_cpu_without_bf16_instructions(monkeypatch, bf16_cpu):
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    choice = precision.resolve_precision("auto", "svoice", "cpu")
    assert choice.resolved == "32" and "no bf16 instructions" in choice.reason


def test_auto_is_fp32_for_a_family_without_measured_bf16_gain(bf16_cpu):
    choice = precision.resolve_precision("auto", "convtasnet", "cpu")
    assert choice.resolved == "32" and "convtasnet" in choice.reason


def test_auto_is_bf16_for_an_admitted_family_on_a_bf16_cpu(bf16_cpu):
    choice = precision.resolve_precision("auto", "svoice", "cpu")
    assert choice.resolved == "bf16-mixed" and "amx_bf16" in choice.reason


def test_auto_is_fp32_on_cuda(monkeypatch, bf16_cpu):
    monkeypatch.setattr(precision, "uses_cuda", lambda accelerator: True)
    assert precision.resolve_precision("auto", "svoice", "auto").resolved == "32"


def test_an_explicit_precision_is_taken_as_written(monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset())
    for value in ("32", "bf16-mixed", "16-mixed"):
        assert precision.resolve_precision(value, "convtasnet", "cpu").resolved == value


class BrokenInBf16(torch.nn.Module):
    """A model with an op that has no bf16 kernel on this 'CPU' (as oneDNN's LSTM on some)."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(8, 8)

    def forward(self, x):
        if torch.is_autocast_enabled("cpu"):
            raise RuntimeError("could not create a primitive descriptor for an LSTM forward propagation primitive")
        return self.linear(x)


def test_a_failing_bf16_step_falls_back_to_fp32_with_one_line(bf16_cpu, capsys):
    choice = precision.choose_precision("auto", "svoice", "cpu", BrokenInBf16(), torch.zeros(1, 8))
    assert choice.resolved == "32" and "fell back to fp32" in choice.reason
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("precision auto:") and "primitive descriptor" in err


def test_the_bf16_probe_changes_neither_weights_nor_random_state(bf16_cpu):
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    choice = precision.choose_precision("auto", "svoice", "cpu", model, torch.ones(1, 8))
    after_probe = torch.rand(4)
    torch.manual_seed(3)
    torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 2))
    assert choice.resolved == "bf16-mixed"
    assert torch.equal(after_probe, torch.rand(4))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_a_run_records_the_precision_it_chose(speech_corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset())
    from separation.train import train

    config = tiny_speech_config(speech_corpus, tmp_path / "run", **{"trainer.max_epochs": 1})
    assert config.trainer.precision == "auto"  # the default of a config that does not name one
    result = train(config)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["precision"]["requested"] == "auto" and summary["precision"]["resolved"] == "32"
    assert result.precision["reason"].startswith("this CPU has no bf16")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "run"))
    events.Reload()
    hparams = [e for e in events.summary_metadata if "hparams" in e]
    assert hparams  # the hparams plugin wrote its session; its values include the resolved precision
    raw = b"".join(Path(p).read_bytes() for p in (tmp_path / "run").glob("events.out.tfevents.*"))
    assert b"trainer.precision_resolved" in raw


def test_committed_studies_keep_their_trial_ids():
    """Every study in results/ with a spec: the spec gives exactly the committed trials (they ran in fp32).

    A report's folder is named after its spec file (results/<spec stem>): several specs may share one study
    folder under runs/ (a phase-2 spec reusing phase 1's trials), each with its own report."""
    from separation.grid.spec import load_spec

    checked = 0
    for spec_path in sorted((REPO / "experiments").glob("*.yaml")):
        spec = load_spec(spec_path)
        table = REPO / "results" / spec_path.stem / "trials.csv"
        if not table.exists():
            continue
        with open(table) as handle:
            rows = list(csv.DictReader(handle))
        assert {trial.id for trial in spec.trials} == {row["trial"] for row in rows}, spec_path.name
        pinned = {trial.config.trainer.precision for trial in spec.trials}
        if pinned != {"32"}:
            # A study run under `auto` (the demo) records what each trial trained in; on another machine auto may
            # resolve otherwise, and the table says what the committed numbers came from.
            assert pinned == {"auto"}, spec_path.name
            assert all(row.get("precision") in ("32", "bf16-mixed") for row in rows), spec_path.name
        checked += 1
    assert checked >= 9


def test_a_grid_trial_and_its_report_record_the_resolved_precision(speech_corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset())
    import yaml

    from separation.analysis.collect import collect_study
    from separation.analysis.report import write_study
    from separation.grid.runner import run_local
    from separation.grid.spec import load_spec

    base = tmp_path / "base.yaml"
    config = tiny_speech_config(speech_corpus, tmp_path / "unused", **{"trainer.max_epochs": 1})
    from separation.config import config_to_dict

    base.write_text(yaml.safe_dump(config_to_dict(config)))
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump({"study": "p", "base": "base.yaml", "axes": {"seed": [0]}}))
    run_local(load_spec(spec_path), tmp_path / "runs")
    (trial,) = [p for p in (tmp_path / "runs" / "p").iterdir() if (p / "meta.json").exists()]
    assert json.loads((trial / "meta.json").read_text())["precision"] == "32"
    study = collect_study(tmp_path / "runs" / "p", spec_path)
    write_study(study, tmp_path / "report", spec_path, "runs/p")
    report = (tmp_path / "report" / "REPORT.md").read_text()
    assert "precision auto (trained in: 32 in 1 trial)" in report
