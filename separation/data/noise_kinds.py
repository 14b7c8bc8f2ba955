"""The noisy corpus's noise kinds: one function draws a clip of any kind from a split's sources.

`white`, `pink`, `brown` (Gaussian noise with a 1/f^0, 1/f, 1/f^2 power
spectrum), `hum` (50 or 60 Hz mains hum with decaying harmonics), `babble` (3-6
other talkers of the same split), `ambient` (recordings of traffic, crowds,
water, machinery and other places that Debian packages ship:
`separation.data.recorded_noise`), `music` (accompaniment stems of the
generated music corpus) and `recorded` (any folder of noise recordings).
Generated noise is a fresh instance per item; recordings shorter than an
utterance wrap around their end from the clip's offset. A second clip of the
same kind can be asked to be another instance than a first one (another
recording, other talkers or another generated instance; a different offset
when a split has a single recording).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from separation.data.noisy_inputs import CleanUtterance, Recording
from separation.data.signal import coloured_noise, rms

GENERATED_KINDS = ("white", "pink", "brown", "hum")
NOISE_KINDS = GENERATED_KINDS + ("babble", "ambient", "music", "recorded")
BABBLE_TALKERS = (3, 6)
EXPONENTS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # of the power spectrum's 1/f^exponent


@dataclass(frozen=True)
class NoiseClip:
    """A noise signal with where it came from (`source`: file path(s) or `generated:<kind>`)."""

    signal: np.ndarray
    source: str
    offset: str  # samples into the source; ';'-joined for babble; '' for generated noise


def mains_hum(rng: np.random.Generator, length: int, sample_rate: int) -> np.ndarray:
    """50 or 60 Hz hum `(length,)`: harmonics up to 4 kHz with random decaying amplitudes and phases."""
    f0 = float(rng.choice([50.0, 60.0])) * (1 + rng.uniform(-0.002, 0.002))
    time = np.arange(length) / sample_rate
    harmonics = np.arange(1, int(min(4000.0, 0.45 * sample_rate) // f0) + 1)
    decay = rng.uniform(0.5, 1.5)
    amplitudes = rng.uniform(0.3, 1.0, size=len(harmonics)) / harmonics**decay
    phases = rng.uniform(0, 2 * np.pi, size=len(harmonics))
    return (amplitudes[:, None] * np.sin(2 * np.pi * f0 * harmonics[:, None] * time + phases[:, None])).sum(0)


def _wrap(audio: np.ndarray, offset: int, length: int) -> np.ndarray:
    return np.take(audio, np.arange(offset, offset + length), mode="wrap")


def _offset_away(rng: np.random.Generator, size: int, length: int, avoid: int | None) -> int:
    """A random start in a recording of `size` samples, not overlapping `[avoid, avoid+length)` when it fits."""
    if avoid is None or size < 2 * length:
        offset = int(rng.integers(0, size))
        return (offset + size // 2) % size if avoid is not None and offset == avoid else offset
    return int((avoid + length + rng.integers(0, size - 2 * length + 1)) % size)


def _babble(rng, length, talkers: list[CleanUtterance], exclude: set[str]) -> NoiseClip:
    candidates = [u for u in talkers if u.speaker not in exclude] or talkers
    by_speaker: dict[str, list[CleanUtterance]] = {}
    for u in candidates:
        by_speaker.setdefault(u.speaker, []).append(u)
    speakers = sorted(by_speaker)
    count = min(len(speakers), int(rng.integers(BABBLE_TALKERS[0], BABBLE_TALKERS[1] + 1)))
    chosen = [speakers[i] for i in rng.choice(len(speakers), size=count, replace=False)]
    signal = np.zeros(length)
    sources, offsets = [], []
    for speaker in chosen:
        utterance = by_speaker[speaker][int(rng.integers(len(by_speaker[speaker])))]
        offset = int(rng.integers(0, len(utterance.audio)))
        part = _wrap(utterance.audio, offset, length)
        signal += part * (10 ** (rng.uniform(-3.0, 3.0) / 20) / max(rms(part), 1e-9))
        sources.append(utterance.source)
        offsets.append(str(offset))
    return NoiseClip(signal, ";".join(sources), ";".join(offsets))


def draw_noise(
    kind: str,
    rng: np.random.Generator,
    length: int,
    sample_rate: int,
    talkers: list[CleanUtterance],
    recordings: dict[str, list[Recording]],
    avoid: NoiseClip | None = None,
    exclude_speakers: frozenset[str] = frozenset(),
) -> NoiseClip:
    """A noise clip `(length,)` of one kind from one split's sources, a different instance from `avoid`."""
    if kind in EXPONENTS:
        return NoiseClip(coloured_noise(rng, length, sample_rate, EXPONENTS[kind]), f"generated:{kind}", "")
    if kind == "hum":
        return NoiseClip(mains_hum(rng, length, sample_rate), "generated:hum", "")
    if kind == "babble":
        # The noise-only clip avoids the talkers of the mixture's babble as well as the target speaker.
        used = set(exclude_speakers)
        if avoid is not None:
            heard = set(avoid.source.split(";"))
            used |= {u.speaker for u in talkers if u.source in heard}
        return _babble(rng, length, talkers, used)
    pool = recordings[kind]
    others = [r for r in pool if avoid is None or r.source != avoid.source]
    recording = (others or pool)[int(rng.integers(len(others or pool)))]
    same = avoid is not None and recording.source == avoid.source
    offset = _offset_away(rng, len(recording.audio), length, int(avoid.offset) if same else None)
    return NoiseClip(_wrap(recording.audio, offset, length), recording.source, str(offset))
