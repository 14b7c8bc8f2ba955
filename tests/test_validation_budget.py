"""An epoch budget validated every k epochs must end on a validated epoch: reports select on the final validation."""

import pytest

from conftest import tiny_speech_config
from separation.config import ConfigError


def test_validating_every_k_epochs_must_include_the_last(tmp_path):
    with pytest.raises(ConfigError, match="does not divide 'trainer.max_epochs' 5"):
        tiny_speech_config(tmp_path, tmp_path / "run", **{"trainer.max_epochs": 5, "trainer.check_val_every_n_epoch": 2})
    assert tiny_speech_config(tmp_path, tmp_path / "run", **{"trainer.max_epochs": 4,
                                                             "trainer.check_val_every_n_epoch": 2})
    # A step budget ends where it ends: the rule is about epoch budgets only.
    assert tiny_speech_config(tmp_path, tmp_path / "run", **{"trainer.max_epochs": -1, "trainer.max_steps": 10,
                                                             "trainer.check_val_every_n_epoch": 3})


def test_validating_every_k_epochs_changes_no_final_metric(speech_corpus, tmp_path):
    """The same run validated every epoch and every 2nd epoch ends with the same validation and test scores."""
    from separation.train import train

    results = {}
    for every in (1, 2):
        config = tiny_speech_config(speech_corpus, tmp_path / f"every{every}",
                                    **{"trainer.max_epochs": 2, "trainer.check_val_every_n_epoch": every})
        results[every] = train(config)
    # Fewer validations, counted (not timed: a loaded machine makes any time comparison flaky).
    import csv

    def validations(every: int) -> int:
        with open(tmp_path / f"every{every}" / "metrics.csv", newline="") as handle:
            return sum(1 for row in csv.DictReader(handle) if row["metric"] == "val/si_snri")

    assert (validations(1), validations(2)) == (2, 1)
    for key in ("val/si_snri", "test/si_snri"):
        assert results[1].metrics[key] == pytest.approx(results[2].metrics[key], abs=1e-5)


def test_a_plateau_schedule_steps_once_per_validation(speech_corpus, tmp_path):
    """ReduceLROnPlateau under validation every 2nd epoch: no epoch without a validation steps it (Lightning
    would stop the run for want of its metric), and with patience 0 and an unreachable threshold each
    validation after the first halves the LR, so 3 validations give exactly 2 halvings (the second after
    the last step, so the logged steps see one)."""
    import csv

    from separation.train import train

    config = tiny_speech_config(speech_corpus, tmp_path / "plateau", **{
        "trainer.max_epochs": 6, "trainer.check_val_every_n_epoch": 2,
        "scheduler.name": "plateau", "scheduler.args": {"patience": 0, "threshold": 1000.0, "factor": 0.5}})
    result = train(config)
    assert result.status == "completed"
    rows = list(csv.DictReader(open(tmp_path / "plateau" / "metrics.csv")))
    lrs = sorted({float(r["value"]) for r in rows if r["metric"] == "train/lr"}, reverse=True)
    base = config.optimizer.lr
    assert lrs == pytest.approx([base, base / 2])
    # The summary counts the reductions that took effect on a step: the second one came after the last.
    assert result.lr_reductions == 1


def test_lr_reductions_count_the_cuts_training_saw(speech_corpus, tmp_path):
    """StepLR halving after every epoch of a 3-epoch run cuts three times; the third comes after the last
    step, so the run counts two (the plateau schedule above is counted by the same rule) and ends at lr/8."""
    from separation.train import train

    config = tiny_speech_config(speech_corpus, tmp_path / "step", **{
        "trainer.max_epochs": 3, "scheduler.name": "step", "scheduler.args": {"step_size": 1, "gamma": 0.5}})
    result = train(config)
    assert result.lr_reductions == 2
    assert result.final_lr == pytest.approx(config.optimizer.lr / 8)
