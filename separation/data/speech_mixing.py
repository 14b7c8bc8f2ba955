"""Mixing a speech corpus: which utterances meet, and the files of each mixture.

Mixing follows LibriMix with RMS levels standing in for LUFS loudness: each
source at a random level in [-33, -25] dBFS, the noise (shaped Gaussian noise
with a slow, babble-like envelope) in [-38, -30] dBFS, `min` truncating to the
shortest source and `max` zero-padding to the longest, and one common scale-down
when any written signal would peak above `PEAK`. With `reverb` > 0 that fraction of
mixtures is heard in a random image-source room while `s1..sn` stay the dry
sources (WHAMR!'s convention); every other PCM_16 mixture is exactly the sum of
its written parts. Each mixture has its own random stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from separation.data.audio import quantize_pcm16, wav_bytes
from separation.data.corpus_errors import CorpusError
from separation.data.signal import fit_length, peak_gain, set_level, shape_noise
from separation.data.speech_augment import reverberate, room_impulse_responses
from separation.data.speech_cast import Speaker

MODES = ("min", "max")
SOURCE_LEVEL_DB = (-33.0, -25.0)
NOISE_LEVEL_DB = (-38.0, -30.0)


def background_noise(rng: np.random.Generator, length: int, sample_rate: int) -> np.ndarray:
    """Gaussian noise `(length,)` with a random 1/f^a tilt, band edges and slow envelope.

    The tilt spans white to brown noise; the 1-6 Hz envelope gives the syllabic
    fluctuation of distant babble, so the noise is not trivially stationary.
    """
    white = rng.standard_normal(length)
    tilt = rng.uniform(0.0, 2.0)
    low = rng.uniform(60.0, 300.0)
    high = rng.uniform(0.2, 0.45) * sample_rate
    noise = shape_noise(white, sample_rate, tilt, (low, high))
    time = np.arange(length) / sample_rate
    rates = rng.uniform(1.0, 6.0, size=3)
    phases = rng.uniform(0.0, 2 * np.pi, size=3)
    depth = rng.uniform(0.0, 0.8)
    envelope = 1 + depth * np.mean(np.sin(2 * np.pi * rates[:, None] * time + phases[:, None]), axis=0)
    return noise * envelope


def plan_mixtures(
    seed: int, n_src: int, split_index: int, pool: dict[Speaker, list[str]], count: int
) -> list[tuple[str, ...]]:
    """`count` distinct tuples of utterance ids from `n_src` distinct speakers, of distinct persons when possible."""
    speakers = list(pool)
    if len(speakers) < n_src:
        raise CorpusError(f"{n_src}-speaker mixtures need at least {n_src} speakers, got {len(speakers)}")
    persons = len({s.voice.person for s in speakers})
    rng = np.random.default_rng([seed, 3, n_src, split_index])
    plans: list[tuple[str, ...]] = []
    seen: set[tuple[str, ...]] = set()
    for _ in range(100 * count):
        if len(plans) == count:
            break
        chosen = rng.choice(len(speakers), size=n_src, replace=False)
        if len({speakers[i].voice.person for i in chosen}) < min(n_src, persons):
            continue  # two copies of one voice are a harder, rarer case than two people
        utterances = tuple(str(rng.choice(pool[speakers[i]])) for i in chosen)
        if utterances not in seen:
            seen.add(utterances)
            plans.append(utterances)
    if len(plans) < count:
        raise CorpusError(
            f"cannot draw {count} distinct {n_src}-speaker mixtures from {len(speakers)} speakers; "
            "add speakers or utterances per speaker"
        )
    return plans


@dataclass(frozen=True)
class MixJob:
    """Mixtures `first..first+len(plans)` of one (n_src, split), rendered in all modes."""

    seed: int
    n_src: int
    split: str
    split_index: int
    first: int
    plans: tuple[tuple[str, ...], ...]
    modes: tuple[str, ...]
    sample_rate: int
    out_root: str  # folder holding `{mode}/` for this Libri{n}Mix and sample rate
    noise: bool
    mix_single: bool
    reverb: float  # fraction of mixtures heard in a room


def render_mixtures(job: MixJob, utterances: dict[str, np.ndarray]) -> list[tuple[str, dict[str, int], float]]:
    """Write every file of the job's mixtures; returns (mixture_id, {mode: length}, rt60 or 0)."""
    rows = []
    for offset, plan in enumerate(job.plans):
        rng = np.random.default_rng([job.seed, 2, job.n_src, job.split_index, job.first + offset])
        mixture_id = "_".join(plan)
        levels = rng.uniform(*SOURCE_LEVEL_DB, size=job.n_src)
        sources = [set_level(utterances[u], db) for u, db in zip(plan, levels)]
        longest = max(len(s) for s in sources)
        noise = None
        if job.noise:
            noise_db = rng.uniform(*NOISE_LEVEL_DB)
            noise = set_level(background_noise(rng, longest, job.sample_rate), noise_db)
        wet, rt60 = None, 0.0
        if job.reverb > 0 and rng.uniform() < job.reverb:
            responses, rt60 = room_impulse_responses(rng, job.n_src, job.sample_rate)
            wet = [reverberate(s, h) for s, h in zip(sources, responses)]
        lengths = {}
        for mode in job.modes:
            length = longest if mode == "max" else min(len(s) for s in sources)
            lengths[mode] = length
            signals = mode_signals(sources, noise, length, job.mix_single, wet)
            folder = Path(job.out_root) / mode / job.split
            for name, signal in signals.items():
                # The staging tree is renamed into place as a whole: no per-file atomicity needed.
                (folder / name).mkdir(parents=True, exist_ok=True)
                (folder / name / f"{mixture_id}.wav").write_bytes(wav_bytes(signal, job.sample_rate, "PCM_16"))
        rows.append((mixture_id, lengths, rt60))
    return rows


def mode_signals(
    sources: list[np.ndarray], noise: np.ndarray | None, length: int, mix_single: bool,
    wet: list[np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Folder name -> signal for one mixture in one mode, scaled below PEAK and on the 16-bit grid.

    With `wet` (the sources as heard in a room) the mixtures sum the wet sources
    while `s1..sn` keep the dry ones: the separator must also dereverberate.
    """
    parts = np.stack([fit_length(s, length) for s in sources])
    heard = parts if wet is None else np.stack([fit_length(s, length) for s in wet])
    noise = None if noise is None else noise[:length]

    def mixtures(parts: np.ndarray, noise: np.ndarray | None) -> dict[str, np.ndarray]:
        clean = parts.sum(axis=0)
        mixes = {"mix_clean": clean}
        if noise is not None:
            mixes["mix_both"] = clean + noise
            if mix_single:
                mixes["mix_single"] = parts[0] + noise
        return mixes

    peaks = [np.abs(parts).max()] + [np.abs(m).max() for m in mixtures(heard, noise).values()]
    if noise is not None:
        peaks.append(np.abs(noise).max())
    scale = peak_gain(max(peaks))
    # Quantise the parts first: sums of 16-bit values are exact in float64 and in PCM_16.
    parts = quantize_pcm16(parts * scale).astype(np.float64)
    heard = parts if wet is None else quantize_pcm16(heard * scale).astype(np.float64)
    noise = None if noise is None else quantize_pcm16(noise * scale).astype(np.float64)
    signals = mixtures(heard, noise)
    signals.update({f"s{k + 1}": part for k, part in enumerate(parts)})
    if noise is not None:
        signals["noise"] = noise
    return signals
