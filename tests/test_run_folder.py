"""A run folder holds one experiment (issue #26): `train` continues it only with the config that started
it, a raised budget is continued and recorded, `--restart` moves the old run aside, and a config
without `run_dir` trains into runs/<config name>, never a shared folder."""

import json
import os
from pathlib import Path

import pytest
import yaml

from conftest import tiny_speech_config
from separation.cli import main
from separation.config import Config, config_from_dict, config_to_dict
from separation.errors import UserError
from separation.train import train
from separation.training.run_folder import budget_changes, move_aside, record_budget_changes


def _folder_with(tmp_path: Path, data: dict) -> Path:
    """A run folder as `train` leaves it, as far as the comparison reads it: its config.yaml."""
    run = tmp_path / "run"
    run.mkdir()
    config = config_from_dict(data)
    config.run_dir = str(run)
    (run / "config.yaml").write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))
    return run


def _config(run: Path, data: dict) -> Config:
    config = config_from_dict(data)
    config.run_dir = str(run)
    return config


def test_another_optimizer_is_refused_naming_keys_and_ways_out(tmp_path):
    run = _folder_with(tmp_path, {"optimizer": {"name": "adam", "lr": 1e-3}})
    other = _config(run, {"optimizer": {"name": "sgd_momentum", "lr": 0.05}})
    with pytest.raises(UserError) as caught:
        budget_changes(other, run)
    message = str(caught.value)
    assert "\n" not in message
    assert "optimizer.name 'adam' -> 'sgd_momentum'" in message and "optimizer.lr 0.001 -> 0.05" in message
    assert "-o NEW" in message and "--restart" in message


@pytest.mark.parametrize("change", [
    {"seed": 1},
    {"model": {"args": {"hidden_size": 16}}},
    {"optimizer": {"args": {"amsgrad": True}}},
    {"data": {"batch_size": 8}},
    {"trainer": {"max_epochs": 5}},  # lowered from 10
    {"trainer": {"max_steps": 100}},  # lowered from unlimited
    {"trainer": {"max_minutes": 5}, "_saved": {"trainer": {"max_minutes": 10}}},
    {"trainer": {"precision": "bf16-mixed"}},
])
def test_any_training_difference_is_refused(tmp_path, change):
    saved = change.pop("_saved", {})
    run = _folder_with(tmp_path, saved)
    key = next(iter(change))
    with pytest.raises(UserError, match=f"holds a run of another config \\({key}"):
        budget_changes(_config(run, change), run)


def test_keys_that_change_nothing_may_differ(tmp_path):
    run = _folder_with(tmp_path, {})
    same = _config(run, {"trainer": {"enable_progress_bar": False}, "data": {"num_workers": 3}})
    assert budget_changes(same, run) == []
    # An empty args mapping is the same as one that is absent.
    assert budget_changes(_config(run, {"optimizer": {"args": {}}}), run) == []


def test_a_folder_without_config_is_new(tmp_path):
    assert budget_changes(_config(tmp_path / "nothing", {}), tmp_path / "nothing") == []
    (tmp_path / "empty").mkdir()
    assert budget_changes(_config(tmp_path / "empty", {}), tmp_path / "empty") == []


def test_raised_budgets_continue(tmp_path):
    run = _folder_with(tmp_path, {"trainer": {"max_epochs": 2, "max_minutes": 5}})
    raised = _config(run, {"trainer": {"max_epochs": 4, "max_steps": -1, "max_minutes": None}})
    assert budget_changes(raised, run) == [
        {"key": "trainer.max_epochs", "from": 2, "to": 4},
        {"key": "trainer.max_minutes", "from": 5.0, "to": None},
    ]


def test_a_schedule_laid_over_the_budget_is_not_stretched(tmp_path):
    cosine = {"scheduler": {"name": "cosine_warmup", "args": {"warmup_steps": 5}}}
    run = _folder_with(tmp_path, {**cosine, "trainer": {"max_epochs": 2, "max_minutes": 5}})
    with pytest.raises(UserError, match="raising trainer.max_epochs would stretch the 'cosine_warmup' schedule"):
        budget_changes(_config(run, {**cosine, "trainer": {"max_epochs": 4, "max_minutes": 5}}), run)
    # A time budget does not enter the schedule.
    assert budget_changes(_config(run, {**cosine, "trainer": {"max_epochs": 2, "max_minutes": 9}}), run)


def test_an_unreadable_saved_config_is_refused_in_one_line(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("optimizer: {name: adamm}\n")
    with pytest.raises(UserError, match=r"config\.yaml: not a config this version can continue .*--restart"):
        budget_changes(_config(run, {}), run)


def test_budget_record_accumulates(tmp_path):
    assert record_budget_changes(tmp_path, [], 0) == []
    assert not (tmp_path / "budget_changes.json").exists()
    record_budget_changes(tmp_path, [{"key": "trainer.max_epochs", "from": 1, "to": 2}], 4)
    record = record_budget_changes(tmp_path, [{"key": "trainer.max_epochs", "from": 2, "to": 3}], 8)
    assert [(r["from"], r["to"], r["at_step"]) for r in record] == [(1, 2, 4), (2, 3, 8)]
    assert json.loads((tmp_path / "budget_changes.json").read_text()) == record
    (tmp_path / "budget_changes.json").write_text("{")
    with pytest.raises(UserError, match="budget_changes.json: not the JSON list"):
        record_budget_changes(tmp_path, [], 8)


def test_move_aside_renames_and_never_deletes(tmp_path):
    run = tmp_path / "run"
    assert move_aside(run) is None  # nothing there
    run.mkdir()
    assert move_aside(run) is None and run.is_dir()  # empty: nothing to keep
    (run / "last.ckpt").write_text("weights")
    first = move_aside(run)
    run.mkdir()
    (run / "last.ckpt").write_text("newer weights")
    second = move_aside(run)  # same second: a second name, not an overwrite
    assert not run.exists() and first != second
    assert first.name.startswith("run.restarted-") and second.name.startswith("run.restarted-")
    assert (first / "last.ckpt").read_text() == "weights" and (second / "last.ckpt").read_text() == "newer weights"


def test_train_needs_a_run_folder(speech_corpus):
    config = tiny_speech_config(speech_corpus, "x")
    config.run_dir = None
    with pytest.raises(UserError, match="config key 'run_dir' is empty"):
        train(config)


def test_cli_derives_the_run_folder_from_the_config_name(tmp_path, monkeypatch):
    import separation.train

    seen = {}

    def fake_train(config, restart=False, **_):
        seen.update(run_dir=config.run_dir, restart=restart)
        raise UserError("stop here")

    monkeypatch.setattr(separation.train, "train", fake_train)
    monkeypatch.delenv("SEPARATION_RUNS", raising=False)
    (tmp_path / "svoice_tiny.yaml").write_text("optimizer: {name: adam}\n")
    assert Config().run_dir is None
    assert main(["train", str(tmp_path / "svoice_tiny.yaml")]) == 2
    assert seen == {"run_dir": str(Path("runs") / "svoice_tiny"), "restart": False}
    assert main(["train", str(tmp_path / "svoice_tiny.yaml"), "-o", "elsewhere", "--restart"]) == 2
    assert seen == {"run_dir": "elsewhere", "restart": True}
    # SEPARATION_RUNS moves the default root; -o and a config's run_dir still win over it.
    monkeypatch.setenv("SEPARATION_RUNS", str(tmp_path / "shared_runs"))
    assert main(["train", str(tmp_path / "svoice_tiny.yaml")]) == 2
    assert seen["run_dir"] == str(tmp_path / "shared_runs" / "svoice_tiny")
    assert main(["train", str(tmp_path / "svoice_tiny.yaml"), "-o", "elsewhere"]) == 2
    assert seen["run_dir"] == "elsewhere"
    (tmp_path / "named.yaml").write_text("run_dir: runs/mine\n")
    main(["train", str(tmp_path / "named.yaml")])
    assert seen["run_dir"] == "runs/mine"


def _snapshot(run: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in run.iterdir()}


def test_the_issue_rerun_is_refused_and_restart_keeps_both_runs(speech_corpus, tmp_path, capsys):
    """`train` (Adam), then the same folder with SGD: refused, the folder untouched (before: the Adam
    model's scores printed as SGD's and config.yaml rewritten; with a raised budget, a KeyError
    traceback from Adam's state loaded into SGD). `--restart` moves the Adam run aside."""
    run = tmp_path / "run"
    config_file = tmp_path / "tiny.yaml"
    config_file.write_text(yaml.safe_dump(config_to_dict(tiny_speech_config(speech_corpus, run, **{"trainer.max_epochs": 1}))))
    assert main(["train", str(config_file)]) == 0
    adam = _snapshot(run)
    assert yaml.safe_load((run / "config.yaml").read_text())["optimizer"]["name"] == "adam"
    capsys.readouterr()

    sgd = ["--set", "optimizer.name=sgd_momentum", "--set", "optimizer.lr=0.05"]
    for extra in ([], ["--set", "trainer.max_epochs=2"]):
        assert main(["train", str(config_file), *sgd, *extra]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert "optimizer.name 'adam' -> 'sgd_momentum'" in err and "--restart" in err
        assert _snapshot(run) == adam

    assert main(["train", str(config_file), *sgd, "--restart"]) == 0
    out = capsys.readouterr().out
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("run.restarted-")]
    assert len(aside) == 1 and f"previous run moved to {aside[0]}" in out
    assert _snapshot(aside[0]) == adam
    assert yaml.safe_load((aside[0] / "config.yaml").read_text())["optimizer"]["name"] == "adam"
    assert yaml.safe_load((run / "config.yaml").read_text())["optimizer"]["name"] == "sgd_momentum"
    assert json.loads((run / "summary.json").read_text())["resume"]["resumed_from"] is None


def test_a_raised_budget_continues_the_run_and_is_recorded(speech_corpus, tmp_path):
    run = tmp_path / "run"
    first = train(tiny_speech_config(speech_corpus, run, **{"trainer.max_epochs": 1}), test=False)
    assert first.global_step == 4 and first.budget_changes == []
    again = train(tiny_speech_config(speech_corpus, run, **{"trainer.max_epochs": 2, "trainer.enable_progress_bar": True}),
                  test=False)
    assert again.global_step == 8 and again.resume["resumed_from"] == "last.ckpt"
    change = again.budget_changes[0]
    assert (change["key"], change["from"], change["to"], change["at_step"]) == ("trainer.max_epochs", 1, 2, 4)
    assert json.loads((run / "summary.json").read_text())["budget_changes"] == again.budget_changes
    assert yaml.safe_load((run / "config.yaml").read_text())["trainer"]["max_epochs"] == 2
    # Back to the first budget: refused, as any other difference.
    with pytest.raises(UserError, match=r"trainer\.max_epochs 2 -> 1\) \(a budget may only be raised\)"):
        train(tiny_speech_config(speech_corpus, run, **{"trainer.max_epochs": 1}), test=False)
    assert os.path.getsize(run / "budget_changes.json") > 0


def test_auto_continues_a_run_saved_in_the_precision_it_resolves_to(tmp_path, monkeypatch):
    """Runs from before `auto` was the default saved precision "32": on a CPU where auto means fp32 they
    continue; where auto would train in bf16 the rerun is another experiment and is refused."""
    from separation.training import precision

    run = _folder_with(tmp_path, {"trainer": {"precision": "32"}})
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2"}))
    assert budget_changes(_config(run, {"trainer": {"precision": "auto"}}), run) == []
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"amx_bf16"}))
    monkeypatch.setitem(precision.BF16_FAMILIES, "svoice", "measured in a test")
    monkeypatch.setattr(precision, "uses_cuda", lambda accelerator: False)
    with pytest.raises(UserError, match="trainer.precision '32' -> 'bf16-mixed'"):
        budget_changes(_config(run, {"trainer": {"precision": "auto"}}), run)
