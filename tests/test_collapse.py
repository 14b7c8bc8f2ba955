"""Collapse as an outcome: the probe's measurements, and a forced-trivial model recorded as `collapsed`."""

import json

import numpy as np
import pytest
import torch

from separation.analysis.ranking import kendall_tau
from separation.evaluation.collapse import CollapseProbe, item_statistics
from separation.evaluation.music import global_sdr, oracle_ratio_mask
from separation.grid.trial import FINISHED
from separation.models import MODELS
from separation.models.stft import STFT
from separation.models.svoice import SVoice
from separation.models.unet import UNetSeparator
from separation.train import train

from conftest import tiny_speech_config
from test_music_system import tiny_music_config


def test_trivial_estimates_leave_no_residual_and_separated_ones_do():
    generator = torch.Generator().manual_seed(0)
    mixture = torch.randn(3, 2, 4000, generator=generator)
    scaled = torch.stack([0.7 * mixture, 0.3 * mixture], dim=1)  # (batch, sources, channels, time)
    residual, relative = item_statistics(scaled, mixture)
    assert (residual < 1e-10).all() and torch.allclose(relative, torch.tensor(0.58, dtype=torch.float64))
    sources = torch.randn(3, 2, 2, 4000, generator=generator)
    residual, _ = item_statistics(sources, sources.sum(dim=1))
    assert (residual > 0.3).all()
    blocked = item_statistics(sources, sources.sum(dim=1), block=333)  # blocks need not divide the length
    torch.testing.assert_close(blocked[0], residual)
    _, silent = item_statistics(torch.zeros_like(scaled), mixture)
    assert (silent == 0).all()


def test_probe_verdict_names_the_reason_and_needs_every_item():
    mixture = torch.randn(2, 1000)
    probe = CollapseProbe()
    probe.update(torch.stack([mixture, mixture], dim=1), mixture)  # speech shapes: (batch, sources, time)
    reason = probe.reason(("test/si_snri", 0.0))
    assert "one signal up to scale" in reason and "test/si_snri +0.00 dB" in reason and "2 test items" in reason
    probe.update(torch.randn(1, 2, 1000), torch.randn(1, 1000))  # one item that separates: not collapsed
    assert probe.reason() is None
    probe.reset()
    assert probe.reason() is None
    probe.update(torch.zeros(2, 2, 1000), mixture)
    assert "silent estimates" in probe.reason()


class MixtureCopy(UNetSeparator):
    """A U-Net that trains as usual but separates by handing every stem half of the mixture."""

    @torch.no_grad()
    def separate(self, mixture: torch.Tensor) -> torch.Tensor:
        return 0.5 * mixture.unsqueeze(1).expand(-1, len(self.stems), -1, -1)


def test_a_model_forced_to_output_the_mixture_is_recorded_collapsed(music_corpus, tmp_path, monkeypatch):
    monkeypatch.setitem(MODELS, "mixture_copy", MixtureCopy)
    config = tiny_music_config(music_corpus, tmp_path / "copy")
    config.model.name = "mixture_copy"
    result = train(config)
    assert result.status == "collapsed" and "collapsed" in FINISHED
    assert "one signal up to scale" in result.reason and "test/sdri" in result.reason
    summary = json.loads((tmp_path / "copy" / "summary.json").read_text())
    assert summary["status"] == "collapsed"
    # The real U-Net on the same data separates (whatever its quality): completed, not collapsed.
    honest = train(tiny_music_config(music_corpus, tmp_path / "unet"))
    assert honest.status == "completed" and honest.reason is None
    assert {"test/sdri", "test/sdr_mixture", "test/sdr_oracle"} <= set(honest.metrics)


class SpeakerCopy(SVoice):
    """An SVoice that trains as usual but, in eval mode, returns the mixture for every speaker."""

    def forward(self, mixture: torch.Tensor) -> torch.Tensor:
        if self.training:
            return super().forward(mixture)
        return mixture.unsqueeze(1).repeat(1, self.n_src, 1)


def test_a_speech_model_returning_the_mixture_is_recorded_collapsed(speech_corpus, tmp_path, monkeypatch):
    monkeypatch.setitem(MODELS, "speaker_copy", SpeakerCopy)
    config = tiny_speech_config(speech_corpus, tmp_path, **{"model.name": "speaker_copy", "trainer.max_epochs": 1})
    result = train(config)
    assert result.status == "collapsed" and "test/si_snri +0.00 dB" in result.reason


def test_oracle_ratio_mask_beats_the_mixture_on_a_generated_song(music_corpus):
    from separation.data.music_datasets import MusicEvalDataset, find_music_tracks, target_definitions

    tracks = find_music_tracks(music_corpus, "test")
    item = MusicEvalDataset(tracks, target_definitions(music_corpus, ["vocals", "accompaniment"]), None)[0]
    mixture, targets = item["mixture"].unsqueeze(0), item["targets"].unsqueeze(0)
    oracle = oracle_ratio_mask(mixture, targets, STFT(), exponent=2.0)
    mixture_sdr = global_sdr(mixture.unsqueeze(1).expand_as(targets), targets)
    oracle_sdr = global_sdr(oracle, targets)
    assert (oracle_sdr > mixture_sdr + 5).all(), (oracle_sdr, mixture_sdr)
    # Two stems: the mixture's SDRs for vocals and accompaniment are opposite, so their mean is 0 dB.
    assert float(mixture_sdr.mean()) == pytest.approx(0.0, abs=1e-3)


def test_kendall_tau_of_identical_and_reversed_rankings():
    scores = np.array([0.3, 2.0, -1.0, 5.0, 1.1])
    assert kendall_tau(scores, 10 * scores + 1) == pytest.approx(1.0)
    assert kendall_tau(scores, -scores) == pytest.approx(-1.0)
    from scipy.stats import kendalltau

    rng = np.random.default_rng(0)
    for _ in range(5):
        a, b = rng.integers(0, 4, 8).astype(float), rng.normal(size=8)  # ties in a: tau-b
        assert kendall_tau(a, b) == pytest.approx(kendalltau(a, b).statistic)
    batched = kendall_tau(np.stack([scores, -scores]), scores[None])
    assert batched == pytest.approx([1.0, -1.0])


def test_an_enhancer_passing_its_input_through_reads_as_collapsed():
    """The enhancement system probes (estimate, noisy - estimate): the input scaled, or silence, is rank one."""
    torch.manual_seed(0)
    clean, noise = torch.randn(3, 1, 8000), 0.3 * torch.randn(3, 1, 8000)
    noisy = clean + noise
    for trivial in (0.8 * noisy, torch.zeros_like(noisy)):
        probe = CollapseProbe()
        probe.update(torch.cat([trivial, noisy - trivial], dim=1), noisy[:, 0])
        assert probe.reason() is not None
    denoised = clean + 0.05 * noise
    probe = CollapseProbe()
    probe.update(torch.cat([denoised, noisy - denoised], dim=1), noisy[:, 0])
    assert probe.reason() is None
