"""Signal utilities the corpus generators and datasets share: small functions on float arrays.

Written once here so the speech, noisy and music corpora, and the datasets that
mix on the fly, agree on one headroom (`PEAK`), one level measure, one noise
shaper and one resampler; each generator keeps only what is its own.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

# Every written or mixed signal is scaled down together when it would peak above this
# (LibriMix's convention): headroom for 16-bit files and for the sum of the parts.
PEAK = 0.9


def peak_gain(peak: float) -> float:
    """The common gain (at most 1) that brings a set of signals whose largest |sample| is `peak` under PEAK."""
    return min(1.0, PEAK / max(peak, 1e-12))


def rms(signal: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(signal))))


def set_level(signal: np.ndarray, level_db: float) -> np.ndarray:
    """Scale to an RMS of `level_db` dBFS (LibriMix uses LUFS; RMS is close for speech)."""
    level = float(np.sqrt(np.mean(np.square(signal, dtype=np.float64))))
    return signal.astype(np.float64) * (10 ** (level_db / 20) / max(level, 1e-9))


def trim_silence(signal: np.ndarray, sample_rate: int, threshold_db: float = -40.0) -> np.ndarray:
    """Drop 10 ms frames before the first and after the last one within `threshold_db` of the loudest."""
    frame = sample_rate // 100
    frames = len(signal) // frame
    if frames == 0:
        return signal
    energy = np.sqrt(np.mean(signal[: frames * frame].reshape(frames, frame) ** 2, axis=1))
    active = np.flatnonzero(energy > energy.max() * 10 ** (threshold_db / 20))
    if len(active) == 0:
        return signal[:0]
    start = max(active[0] - 1, 0) * frame
    stop = min(active[-1] + 2, frames) * frame
    return signal[start:stop]


def resample(signal: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Polyphase resampling between integer rates (the signal itself when they are equal)."""
    if rate_in == rate_out:
        return signal
    ratio = Fraction(rate_out, rate_in)
    return resample_poly(signal, ratio.numerator, ratio.denominator)


def fit_length(signal: np.ndarray, length: int) -> np.ndarray:
    """Truncate or zero-pad the last (time) axis at its end to `length` samples."""
    if signal.shape[-1] >= length:
        return signal[..., :length]
    return np.pad(signal, [(0, 0)] * (signal.ndim - 1) + [(0, length - signal.shape[-1])])


def pad_end(signal: np.ndarray, length: int) -> np.ndarray:
    """Zero-pad `(time,)` at its end to at least `length` samples (a longer signal is kept whole)."""
    return signal if len(signal) >= length else np.pad(signal, (0, length - len(signal)))


def shape_noise(
    white: np.ndarray, sample_rate: int, exponent: float, band: tuple[float, float] | None = None
) -> np.ndarray:
    """White noise `(time,)` filtered to a power spectrum ~ 1/f^exponent (0 white, 1 pink, 2 brown).

    Without `band` the spectrum is held flat below 20 Hz (so brown noise has no
    huge DC drift) and DC is removed. With `band = (low, high)` Hz it is held flat
    below `low` and both edges roll off at fourth order.
    """
    length = len(white)
    spectrum = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(length, 1.0 / sample_rate)
    if band is None:
        shape = np.maximum(freqs, 20.0) ** (-exponent / 2)
        shape[0] = 0.0
    else:
        low, high = band
        shape = np.maximum(freqs, low) ** (-exponent / 2) / (1 + (low / np.maximum(freqs, 1.0)) ** 4)
        shape /= 1 + (freqs / high) ** 4
    return np.fft.irfft(spectrum * shape, n=length)


def coloured_noise(
    rng: np.random.Generator, length: int, sample_rate: int, exponent: float, band: tuple[float, float] | None = None
) -> np.ndarray:
    """Gaussian noise `(length,)` with power spectrum ~ 1/f^exponent (`shape_noise`)."""
    return shape_noise(rng.standard_normal(length), sample_rate, exponent, band)
