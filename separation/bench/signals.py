"""Learnable synthetic audio for measurements: harmonic "voices", numpy/torch only.

A voice is a harmonic tone whose pitch glides around its speaker's own
fundamental and whose loudness is gated into syllables, so a separator can
learn to pull two of them apart (the training loss falls) while nothing is
needed beyond torch: no espeak-ng, no recordings. The GPU check uses it for its
in-memory step-timing batches and for the small LibriMix-layout corpus of its
packing grid, so the same check runs on a bare GPU machine.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

SPLITS = ("train-100", "dev", "test")  # LibriMix split names (separation.data.speech_datasets)
HARMONICS = 16


def _rand(generator: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.rand(*shape, generator=generator, device=generator.device)


def _knots(generator: torch.Generator, count: int, knots: int, samples: int, low: float, high: float) -> torch.Tensor:
    """Random values at `knots` points, linearly interpolated to `(count, samples)`."""
    values = low + (high - low) * _rand(generator, count, 1, knots)
    return F.interpolate(values, size=samples, mode="linear", align_corners=True)[:, 0]


def voices(
    generator: torch.Generator,
    count: int,
    samples: int,
    sample_rate: int,
    f0: torch.Tensor | None = None,
    tilt: torch.Tensor | None = None,
) -> torch.Tensor:
    """`count` voices `(count, samples)` at unit RMS, on the generator's device.

    Args:
        f0: `(count,)` mean fundamental of each voice in Hz (default: drawn in 90-260 Hz).
        tilt: `(count,)` harmonic roll-off exponent (amplitude of harmonic h is h ** -tilt).
    """
    f0 = 90 + 170 * _rand(generator, count) if f0 is None else f0.float().to(generator.device)
    tilt = 0.8 + 1.2 * _rand(generator, count) if tilt is None else tilt.float().to(generator.device)
    seconds = samples / sample_rate
    syllables = max(2, math.ceil(seconds * 5) + 1)  # about 5 syllables a second
    pitch = f0[:, None] * (1 + _knots(generator, count, syllables, samples, -0.15, 0.15))
    gate = (_knots(generator, count, 2 * syllables, samples, -0.6, 1.0)).clamp_min(0.0)
    # Phase accumulates in float64 (minutes of samples), then wraps to one turn for float32 sines.
    phase = torch.remainder(torch.cumsum(pitch.double() / sample_rate, dim=-1), 1.0).float() * (2 * math.pi)
    signal = torch.zeros(count, samples, device=generator.device)
    for harmonic in range(1, HARMONICS + 1):
        audible = harmonic * pitch < 0.45 * sample_rate  # no aliasing above Nyquist
        signal += torch.where(audible, torch.sin(harmonic * phase), 0.0) * harmonic ** -tilt[:, None]
    signal = signal * gate
    return signal / signal.pow(2).mean(dim=-1, keepdim=True).sqrt().clamp_min(1e-8)


def speech_batches(count: int, batch: int, n_src: int, seconds: float, sample_rate: int, seed: int = 0,
                   device: str = "cpu") -> list[dict]:
    """`count` training batches as the speech datamodule yields them (on the CPU, made on `device`):
    `{"mixture": (batch, time), "sources": (batch, n_src, time)}`, sources at -20 to -30 dBFS."""
    generator = torch.Generator(device=device).manual_seed(seed)
    samples = int(seconds * sample_rate)
    out = []
    for _ in range(count):
        levels = 10 ** (-(20 + 10 * _rand(generator, batch, n_src, 1)) / 20)
        sources = voices(generator, batch * n_src, samples, sample_rate).reshape(batch, n_src, samples) * levels
        out.append({"mixture": sources.sum(1).cpu(), "sources": sources.cpu()})
    return out


def music_batches(count: int, batch: int, stems: int, channels: int, seconds: float, sample_rate: int,
                  seed: int = 0, device: str = "cpu") -> list[dict]:
    """`count` batches as the music datamodule yields them (on the CPU, made on `device`):
    `{"mixture": (batch, channels, time), "targets": (batch, stems, channels, time)}`.

    Stem 0 is one voice; every other stem is a chord of two lower voices. Each
    stem is panned with its own random channel gains.
    """
    generator = torch.Generator(device=device).manual_seed(seed)
    samples = int(seconds * sample_rate)
    out = []
    for _ in range(count):
        parts = [voices(generator, batch, samples, sample_rate)]
        for _ in range(stems - 1):
            f0 = 55 + 110 * _rand(generator, batch * 2)
            chord = voices(generator, batch * 2, samples, sample_rate, f0=f0).reshape(batch, 2, samples).mean(1)
            parts.append(chord)
        stacked = torch.stack(parts, dim=1)  # (batch, stems, time)
        pan = 0.05 + 0.1 * _rand(generator, batch, stems, channels, 1)
        targets = stacked[:, :, None, :] * pan
        out.append({"mixture": targets.sum(1).cpu(), "targets": targets.cpu()})
    return out


def enhance_batches(count: int, batch: int, seconds: float, sample_rate: int, seed: int = 0,
                    device: str = "cpu") -> list[dict]:
    """`count` batches as the enhancement datamodule yields them (on the CPU, made on `device`):
    `{"noisy", "clean", "noise": (batch, 1, time)}`, a voice at -25 dBFS in white noise at 0 to 10 dB SNR."""
    generator = torch.Generator(device=device).manual_seed(seed)
    samples = int(seconds * sample_rate)
    out = []
    for _ in range(count):
        clean = voices(generator, batch, samples, sample_rate)[:, None] * 10 ** (-25 / 20)
        snr = 10 * _rand(generator, batch, 1, 1)
        noise = torch.randn(batch, 1, samples, generator=generator, device=device) * 10 ** (-(25 + snr) / 20)
        out.append({"noisy": (clean + noise).cpu(), "clean": clean.cpu(), "noise": noise.cpu()})
    return out


# The task registry's `bench_batches` of each task: (config, count, seed, device) -> batches of its shapes.
def speech_config_batches(config, count: int, seed: int, device: str) -> list[dict]:
    data = config.data
    return speech_batches(count, data.batch_size, data.n_src, data.segment_seconds, data.sample_rate, seed, device)


def music_config_batches(config, count: int, seed: int, device: str) -> list[dict]:
    data = config.data
    channels = int(config.model.args.get("channels", 2))
    return music_batches(count, data.batch_size, len(data.stems), channels, data.segment_seconds, data.sample_rate,
                         seed, device)


def enhance_config_batches(config, count: int, seed: int, device: str) -> list[dict]:
    data = config.data
    return enhance_batches(count, data.batch_size, data.segment_seconds, data.sample_rate, seed, device)


def write_voice_corpus(root: str | Path, n_train: int, n_dev: int, n_test: int, seconds: float = 1.5,
                       sample_rate: int = 8000, speakers: int = 12, seed: int = 0) -> Path:
    """A 2-speaker corpus in LibriMix layout (`ROOT/Libri2Mix/wav8k/min/{train-100,dev,test}/{mix_clean,s1,s2}`).

    Each speaker has a fixed fundamental and timbre; ids follow LibriMix
    (`<speaker>-<chapter>-<utterance>_...`), and train, dev and test draw on
    disjoint speakers. Mixtures are `seconds` long (mode `min`: equal lengths),
    sources on the 16-bit grid so that each mixture is exactly their sum.
    Returns `root`. Needs `soundfile`, as reading the corpus does.
    """
    from separation.data.audio import quantize_pcm16, write_wav

    root = Path(root)
    generator = torch.Generator().manual_seed(seed)
    f0 = 90 + 170 * _rand(generator, speakers)
    tilt = 0.8 + 1.2 * _rand(generator, speakers)
    pools = np.array_split(np.arange(speakers), len(SPLITS))  # disjoint speakers per split
    samples = int(seconds * sample_rate)
    rate_folder = f"wav{sample_rate // 1000}k"
    rng = np.random.default_rng(seed)
    for split, count, pool in zip(SPLITS, (n_train, n_dev, n_test), pools):
        if len(pool) < 2:
            raise ValueError(f"{speakers} speakers leave fewer than 2 for split {split}")
        folder = root / "Libri2Mix" / rate_folder / "min" / split
        for index in range(count):
            pair = rng.choice(pool, size=2, replace=False)
            picked = torch.as_tensor(pair)
            sources = voices(generator, 2, samples, sample_rate, f0=f0[picked], tilt=tilt[picked]).numpy()
            levels = 10 ** (-rng.uniform(25, 33, size=(2, 1)) / 20)
            sources = quantize_pcm16(sources * levels)
            mixture_id = "_".join(f"{speaker + 1}-1-{2 * index + k:04d}" for k, speaker in enumerate(pair))
            for name, signal in (("s1", sources[0]), ("s2", sources[1]), ("mix_clean", sources.sum(0))):
                write_wav(folder / name / f"{mixture_id}.wav", signal, sample_rate, "PCM_16")
    return root
