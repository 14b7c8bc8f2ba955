"""AutoClip: the threshold is the percentile of the recorded norms, clips to it, and resumes exactly."""

import numpy as np
import pytest
import torch

from conftest import tiny_speech_config
from separation.config import ConfigError, config_from_dict
from separation.grid.spec import trial_id
from separation.train import train
from separation.training import interrupt
from separation.training.autoclip import AutoClip
from test_interrupt import SignalAtStep
from test_train import read_metrics

PERCENTILE = 25.0


def autoclip_config(corpus, run_dir, **overrides):
    return tiny_speech_config(corpus, run_dir, **{"clipping.mode": "autoclip", "clipping.value": PERCENTILE, **overrides})


def test_threshold_is_the_percentile_of_every_norm_so_far():
    clip = AutoClip(PERCENTILE)
    norms = [3.0, 1.0, 7.5, 0.25, 2.0, 9.0]
    for step, norm in enumerate(norms):
        # The step's own norm is recorded before its threshold (the reference implementation's order).
        assert clip.threshold(norm) == np.percentile(norms[: step + 1], PERCENTILE)
    assert clip.history == norms
    restored = AutoClip(PERCENTILE)
    restored.load_state_dict(clip.state_dict())
    assert restored.history == norms and restored.threshold(4.0) == clip.threshold(4.0)
    with pytest.raises(ValueError, match="percentile"):
        AutoClip(50).load_state_dict(clip.state_dict())


def test_a_run_clips_to_the_logged_percentile(speech_corpus, tmp_path):
    result = train(autoclip_config(speech_corpus, tmp_path / "run"), test=False)
    assert result.status == "completed" and result.global_step == 8
    series = {name: [v for _, v in values] for name, values in read_metrics(tmp_path / "run").items()}
    pre, post = series["train/grad_norm_pre_clip"], series["train/grad_norm_post_clip"]
    threshold, clipped = series["train/clip_threshold"], series["train/clipped"]
    assert len(pre) == len(threshold) == 8  # one row per step (log_every_n_steps 1)

    history = torch.load(tmp_path / "run" / "last.ckpt", weights_only=True)["autoclip"]["history"].tolist()
    assert len(history) == 8
    # metrics.csv holds float32 values: the stored history is what the steps measured.
    assert history == pytest.approx(pre, rel=1e-6)
    for step in range(8):
        assert threshold[step] == pytest.approx(np.percentile(history[: step + 1], PERCENTILE), rel=1e-6)
        if pre[step] > threshold[step] * (1 + 1e-6):
            assert post[step] <= threshold[step] * (1 + 1e-5) and clipped[step] == 1.0
        else:
            assert post[step] == pre[step] and clipped[step] == 0.0
    # The 25th percentile of a changing history: some steps clipped, not the first (its threshold is its own norm).
    assert clipped[0] == 0.0 and sum(clipped) >= 1


def test_norm_clipping_logs_its_fixed_threshold_and_no_clipping_logs_none(speech_corpus, tmp_path):
    train(tiny_speech_config(speech_corpus, tmp_path / "norm", **{"clipping.mode": "norm", "clipping.value": 5,
                                                                  "trainer.max_epochs": 1}), test=False)
    assert {v for _, v in read_metrics(tmp_path / "norm")["train/clip_threshold"]} == {5.0}
    train(tiny_speech_config(speech_corpus, tmp_path / "none", **{"trainer.max_epochs": 1}), test=False)
    assert "train/clip_threshold" not in read_metrics(tmp_path / "none")


def _state(run_dir):
    saved = torch.load(run_dir / "last.ckpt", weights_only=True)
    return saved["state_dict"], saved["autoclip"]["history"]


def test_interrupted_and_resumed_equals_uninterrupted(speech_corpus, tmp_path):
    config = autoclip_config(speech_corpus, tmp_path / "interrupted")
    with pytest.raises(interrupt.TrainingInterrupted):
        train(config, extra_callbacks=[SignalAtStep(3)], test=False)
    interrupt.clear()
    assert len(_state(tmp_path / "interrupted")[1]) == 3  # the history travels with the checkpoint
    resumed = train(config, test=False)
    assert resumed.resume["global_step"] == 3 and resumed.global_step == 8
    train(autoclip_config(speech_corpus, tmp_path / "reference"), test=False)

    weights, history = _state(tmp_path / "interrupted")
    reference_weights, reference_history = _state(tmp_path / "reference")
    assert torch.equal(history, reference_history) and len(history) == 8
    assert weights.keys() == reference_weights.keys()
    for name, value in weights.items():
        assert torch.equal(value, reference_weights[name]), name
    # Every logged value the same too, but timings and Lightning's epoch mean of the training loss
    # (restarted mid-epoch it averages the resumed steps only: not AutoClip's, the same without it).
    resumed_rows, reference_rows = read_metrics(tmp_path / "interrupted"), read_metrics(tmp_path / "reference")
    assert resumed_rows.keys() == reference_rows.keys() and "train/clip_threshold" in resumed_rows
    for name in resumed_rows.keys() - {"train/sec_per_step", "train/loss_epoch"}:
        assert resumed_rows[name] == reference_rows[name], name


@pytest.mark.parametrize("percentile", [0, 150])
def test_a_percentile_outside_0_100_is_a_one_line_config_error(percentile):
    with pytest.raises(ConfigError, match="clipping.value") as raised:
        config_from_dict({"clipping": {"mode": "autoclip", "value": percentile}})
    assert "\n" not in str(raised.value)


def test_the_percentile_100_is_allowed_and_names_the_trial():
    config = config_from_dict({"optimizer": {"name": "adam", "lr": 1e-3}, "clipping": {"mode": "autoclip", "value": 100}})
    assert trial_id(config).startswith("adam-lr0.001-none-autoclip100-s0-")
