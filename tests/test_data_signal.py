"""The shared signal utilities of the data layer, and which way its imports point."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from separation.data.corpus_errors import CorpusError, NoisyCorpusError
from separation.data.noisy_corpus import NoisyCorpusOptions
from separation.data.signal import PEAK, coloured_noise, fit_length, pad_end, peak_gain, resample, set_level, shape_noise
from separation.data.speech_corpus import SpeechCorpusOptions

RATE = 16000


def _slope(noise: np.ndarray, low: float, high: float) -> float:
    """Fitted exponent a of the power spectrum ~ 1/f^a between `low` and `high` Hz."""
    power = np.abs(np.fft.rfft(noise)) ** 2
    freqs = np.fft.rfftfreq(len(noise), 1.0 / RATE)
    band = (freqs >= low) & (freqs <= high)
    return -np.polyfit(np.log(freqs[band]), np.log(power[band]), 1)[0]


@pytest.mark.parametrize("exponent", [0.0, 1.0, 2.0])
def test_coloured_noise_has_the_asked_spectral_slope_and_no_dc(exponent):
    noise = coloured_noise(np.random.default_rng(0), 4 * RATE, RATE, exponent)
    assert noise.shape == (4 * RATE,)
    assert _slope(noise, 100.0, 4000.0) == pytest.approx(exponent, abs=0.1)
    assert abs(noise.mean()) < 1e-12


def test_a_band_rolls_off_both_edges():
    white = np.random.default_rng(1).standard_normal(4 * RATE)
    shaped = shape_noise(white, RATE, 0.0, band=(300.0, 2000.0))
    power = np.abs(np.fft.rfft(shaped)) ** 2
    freqs = np.fft.rfftfreq(len(shaped), 1.0 / RATE)
    inside = power[(freqs > 600) & (freqs < 1000)].mean()
    assert power[(freqs > 20) & (freqs < 75)].mean() < 0.01 * inside
    assert power[freqs > 6000].mean() < 0.01 * inside


def test_the_same_generator_state_gives_the_same_noise():
    first = coloured_noise(np.random.default_rng([3, 1]), 1000, RATE, 1.0)
    second = coloured_noise(np.random.default_rng([3, 1]), 1000, RATE, 1.0)
    np.testing.assert_array_equal(first, second)


def test_peak_gain_brings_loud_signals_under_the_peak_and_leaves_quiet_ones():
    assert peak_gain(0.5) == 1.0 and peak_gain(0.0) == 1.0
    loud = np.array([0.3, -1.8, 1.2])
    assert np.abs(loud * peak_gain(np.abs(loud).max())).max() == pytest.approx(PEAK)


def test_levels_lengths_and_rates():
    signal = np.random.default_rng(2).standard_normal(800)
    levelled = set_level(signal, -20.0)
    assert 20 * np.log10(np.sqrt(np.mean(levelled**2))) == pytest.approx(-20.0)
    assert fit_length(signal, 500).shape == (500,) and fit_length(signal, 900)[800:].tolist() == [0.0] * 100
    stereo = np.ones((2, 10))
    assert fit_length(stereo, 4).shape == (2, 4) and fit_length(stereo, 12)[:, 10:].sum() == 0.0
    assert pad_end(signal, 500) is signal and pad_end(signal, 810).shape == (810,)
    assert resample(signal, 8000, 8000) is signal and resample(signal, 8000, 16000).shape == (1600,)


@pytest.mark.parametrize("fields, message", [
    ({"modes": ("mid",)}, "modes must be a non-empty subset"),
    ({"mix_single": True, "noise": False}, "mix_single needs noise=True"),
    ({"n_src_list": ()}, "every n_src must be at least 1"),
    ({"reverb": 1.5}, "codec and reverb must be in [0, 1]"),
    ({"holdout_family": "flite", "families": ("espeak",)}, "holdout_family 'flite' must be one of"),
    ({"sample_rate": 22050}, "whole number of kHz"),
])
def test_speech_corpus_options_are_checked_when_made(fields, message):
    with pytest.raises(CorpusError) as error:
        SpeechCorpusOptions(**fields)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_noisy_corpus_options_are_checked_when_made_and_kinds_against_the_folders():
    assert NoisyCorpusOptions(snr_range=[0, 5]).snr_range == (0.0, 5.0)
    with pytest.raises(NoisyCorpusError, match="min 20 dB is above max 10 dB"):
        NoisyCorpusOptions(snr_range=(20, 10))
    with pytest.raises(NoisyCorpusError, match="item counts per split must be positive"):
        NoisyCorpusOptions(items=(0, None, None))
    assert "music" not in NoisyCorpusOptions().noise_kinds()
    assert NoisyCorpusOptions(music_dir="m").noise_kinds()[-1] == "music"
    with pytest.raises(NoisyCorpusError, match="noise kind 'recorded' needs a noise folder"):
        NoisyCorpusOptions(kinds=("white", "recorded")).noise_kinds()


def test_readers_import_no_generator_and_data_imports_no_objective():
    # A reader of a corpus needs its format, not the generator that drags in every voice and noise kind;
    # the data layer is told what an objective needs instead of asking the objectives registry.
    code = (
        "import sys\n"
        "import separation.data.enhance_datasets, separation.data.enhance_datamodule, separation.data.music_datasets\n"
        "print(' '.join(m for m in ('separation.objectives', 'separation.data.noisy_corpus', "
        "'separation.data.speech_corpus', 'separation.data.speech_voices', 'separation.data.music_corpus') "
        "if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
