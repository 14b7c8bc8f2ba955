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
    assert results[2].val_seconds < results[1].val_seconds
    for key in ("val/si_snri", "test/si_snri"):
        assert results[1].metrics[key] == pytest.approx(results[2].metrics[key], abs=1e-5)
