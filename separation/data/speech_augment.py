"""Speaker and channel variety for generated speech: small functions on `(time,)` float arrays.

- `warp`: resampling-based speaker perturbation. Playing a voice `factor` times
  faster scales its pitch and every formant by `factor` (a shorter or longer
  vocal tract) and its duration by `1 / factor`, so one source voice at
  factors 0.88, 1.0 and 1.12 gives three distinct speakers, as speed
  perturbation does for ASR corpora.
- `band_limit`: a random telephone-like or muffled channel.
- `codec`: a round trip through a telephone codec (GSM 06.10, A-law, mu-law), as
  the recorded telephone prompts went through one.
- `reverberate`: a pyroomacoustics image-source shoebox room; the target stays
  the dry source, aligned on the direct path, as in WHAMR!.
"""

from __future__ import annotations

import io
from fractions import Fraction

import numpy as np
import soundfile as sf
from scipy.signal import butter, fftconvolve, resample_poly, sosfiltfilt

from separation.data.signal import fit_length, resample
from separation.errors import UserError


def warp(signal: np.ndarray, factor: float) -> np.ndarray:
    """Pitch and formants times `factor`, duration divided by it (`factor` in [0.5, 2]).

    The signal is resampled to `1 / factor` of its length and played at the
    original rate; `factor` is rounded to a ratio of integers below 100.
    """
    if not 0.5 <= factor <= 2.0:
        raise UserError(f"speaker warp factor must be in [0.5, 2], got {factor}")
    ratio = Fraction(factor).limit_denominator(99)
    if ratio == 1:
        return signal
    return resample_poly(signal, ratio.denominator, ratio.numerator)


def band_limit(signal: np.ndarray, sample_rate: int, low_hz: float, high_hz: float) -> np.ndarray:
    """Zero-phase 4th-order Butterworth band-pass `[low_hz, high_hz]` (a high edge at Nyquist is a high-pass)."""
    nyquist = sample_rate / 2
    if high_hz >= 0.98 * nyquist:
        sos = butter(4, low_hz, btype="highpass", fs=sample_rate, output="sos")
    else:
        sos = butter(4, [low_hz, high_hz], btype="bandpass", fs=sample_rate, output="sos")
    return sosfiltfilt(sos, signal)


def random_channel(rng: np.random.Generator, signal: np.ndarray, sample_rate: int) -> tuple[np.ndarray, str]:
    """A random band-limited channel: telephone (300-3400 Hz) to muffled; returns the edges too."""
    low = float(rng.uniform(80.0, 400.0))
    high = float(min(rng.uniform(2200.0, 3800.0), 0.475 * sample_rate))
    return band_limit(signal, sample_rate, low, high), f"{low:.0f}-{high:.0f}Hz"


# Telephone codecs libsndfile writes: name -> WAV subtype. GSM 06.10 only codes 8 kHz.
CODECS = {"gsm": "GSM610", "alaw": "ALAW", "ulaw": "ULAW"}
CODEC_RATE = 8000


def codec(signal: np.ndarray, sample_rate: int, name: str) -> np.ndarray:
    """`signal` coded and decoded by telephone codec `name` at 8 kHz, back at `sample_rate`, same length.

    The signal is scaled to a 0.9 peak for the codec (which clips at full scale)
    and scaled back, so only the coding error changes it.
    """
    if name not in CODECS:
        raise UserError(f"codec must be one of {', '.join(CODECS)}, got '{name}'")
    peak = float(np.max(np.abs(signal))) if len(signal) else 0.0
    if peak == 0.0:
        return signal
    narrow = resample(signal * (0.9 / peak), sample_rate, CODEC_RATE)
    buffer = io.BytesIO()
    sf.write(buffer, narrow, CODEC_RATE, subtype=CODECS[name], format="WAV")
    buffer.seek(0)
    decoded, _ = sf.read(buffer, dtype="float64")
    decoded = resample(decoded[: len(narrow)], CODEC_RATE, sample_rate) * (peak / 0.9)
    return fit_length(decoded, len(signal))


def random_codec(rng: np.random.Generator, signal: np.ndarray, sample_rate: int) -> tuple[np.ndarray, str]:
    """`codec` with a codec drawn uniformly from `CODECS`; returns its name too."""
    name = str(rng.choice(list(CODECS)))
    return codec(signal, sample_rate, name), name


def room_impulse_responses(
    rng: np.random.Generator, count: int, sample_rate: int, rt60_range: tuple[float, float] = (0.2, 0.6)
) -> tuple[list[np.ndarray], float]:
    """`count` impulse responses from random positions to one microphone in one random shoebox room.

    Each response is shifted so its direct-path peak sits at sample 0: the
    reverberant source then lines up with the dry target, whose timing the
    separator is asked to keep. Returns the responses and the room's RT60 (s).
    """
    try:
        import pyroomacoustics as pra
    except ImportError:
        raise UserError("reverberation needs pyroomacoustics: pip install pyroomacoustics") from None
    dims = np.array([rng.uniform(3.0, 9.0), rng.uniform(3.0, 7.0), rng.uniform(2.4, 3.5)])
    rt60 = float(rng.uniform(*rt60_range))
    try:
        absorption, max_order = pra.inverse_sabine(rt60, dims)
    except ValueError:  # a room too large for this RT60: the most reverberant one it allows
        absorption, max_order = 0.05, 30
    room = pra.ShoeBox(dims, fs=sample_rate, materials=pra.Material(absorption), max_order=min(max_order, 30))
    margin = 0.5
    mic = rng.uniform(margin, dims - margin)
    room.add_microphone(mic)
    for _ in range(count):
        room.add_source(rng.uniform(margin, dims - margin))
    room.compute_rir()
    responses = []
    for k in range(count):
        rir = np.asarray(room.rir[0][k], dtype=np.float64)
        peak = int(np.argmax(np.abs(rir)))
        rir = rir[peak:] / rir[peak]  # direct path at 0 with unit gain: dry target and wet source line up
        responses.append(rir)
    return responses, rt60


def reverberate(signal: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """The source as the microphone hears it, cut to the dry length `(time,)`."""
    return fftconvolve(signal, rir)[: len(signal)]
