"""Speech separation data: folder readers, fixed and dynamically mixed datasets, the sampler.

Every dataset returns `{"mixture": (time,), "sources": (n_src, time), "id": str}`
float32 tensors. Randomness never comes from a worker's global RNG: the
training sampler yields `(index, seed)` pairs that are a pure function of
(seed, epoch), and a dataset draws its crop, speakers and gains from
`np.random.default_rng(seed)`. Resuming at epoch e therefore sees exactly the
examples of an uninterrupted run, whatever the number of workers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from separation.data.audio import audio_info, read_wav
from separation.data.signal import PEAK, pad_end
from separation.data_config.speech import LAYOUTS
from separation.errors import UserError

DEFAULT_SPLITS = {"librimix": ("train-100", "dev", "test"), "wsj0mix": ("tr", "cv", "tt")}
LIBRIMIX_MIXTURES = ("mix_clean", "mix_both", "mix_single")


class DatasetError(UserError):
    """A data folder or file does not hold what the configuration asks for (one-line message)."""


@dataclass(frozen=True)
class SpeechItem:
    """One mixture file with its reference sources (in s1, s2, ... order) and optional noise."""

    id: str
    mixture: Path
    sources: tuple[Path, ...]
    noise: Path | None = None


# ---------------------------------------------------------------------------
# Folder readers


def default_splits(layout: str) -> tuple[str, str, str]:
    """(train, valid, test) split folder names of a layout."""
    if layout not in DEFAULT_SPLITS:
        raise DatasetError(f"layout must be one of {', '.join(LAYOUTS)}, got '{layout}'")
    return DEFAULT_SPLITS[layout]


def _rate_folder(sample_rate: int) -> str:
    if sample_rate % 1000:
        raise DatasetError(f"sample_rate must be a whole number of kHz (8000, 16000), got {sample_rate}")
    return f"wav{sample_rate // 1000}k"


def _librimix_split(root: Path, split: str, n_src: int, sample_rate: int, mode: str, mixture: str) -> Path:
    """`.../Libri{n}Mix/wav{k}k/{mode}/{split}`, with `root` the corpus root or the Libri{n}Mix folder."""
    if mixture == "mix_single":
        if n_src != 1:
            raise DatasetError(f"mix_single holds one speaker plus noise: it needs n_src=1, got {n_src}")
        names = ["Libri2Mix", "Libri3Mix"]  # LibriMix writes mix_single into every Libri{n}Mix
    else:
        names = [f"Libri{n_src}Mix"]
    candidates = [root / name for name in names] + ([root] if root.name in names else [])
    base = next((c for c in candidates if c.is_dir()), None)
    if base is None:
        raise DatasetError(f"{root}: no {' or '.join(names)} folder (expected a LibriMix root or the folder itself)")
    for folder in (base / _rate_folder(sample_rate), base / _rate_folder(sample_rate) / mode):
        if not folder.is_dir():
            raise DatasetError(f"{folder}: no such folder (sample rate {sample_rate} Hz, mode '{mode}')")
    return base / _rate_folder(sample_rate) / mode / split


def _wsj0mix_split(root: Path, split: str, sample_rate: int, mode: str) -> Path:
    """`root/wav{k}k/{mode}/{split}` when present, else `root/{split}`."""
    nested = root / _rate_folder(sample_rate) / mode
    return (nested if nested.is_dir() else root) / split


def find_speech_split(
    root: str | Path,
    layout: str,
    split: str,
    n_src: int,
    sample_rate: int,
    mode: str = "min",
    mixture: str = "mix_clean",
) -> list[SpeechItem]:
    """Every mixture of one split, sorted by id, each with its source files.

    librimix: `root/Libri{n}Mix/wav{8k,16k}/{min,max}/{split}/{mixture,s1..sN,noise}`
    (or `root` = the Libri{n}Mix folder); `mix_single` reads s1 only and needs
    n_src=1. wsj0mix: `root/{split}/{mix,s1..sN}`, or the same under
    `root/wav{8k,16k}/{min,max}/`; `mode` and `mixture` only pick that folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such data folder")
    if layout == "librimix":
        if mixture not in LIBRIMIX_MIXTURES:
            raise DatasetError(f"librimix mixture must be one of {', '.join(LIBRIMIX_MIXTURES)}, got '{mixture}'")
        folder = _librimix_split(root, split, n_src, sample_rate, mode, mixture)
        mixture_folder = folder / mixture
        source_count = 1 if mixture == "mix_single" else n_src
    elif layout == "wsj0mix":
        folder = _wsj0mix_split(root, split, sample_rate, mode)
        mixture_folder = folder / "mix"
        source_count = n_src
    else:
        raise DatasetError(f"layout must be one of {', '.join(LAYOUTS)}, got '{layout}'")
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no such split folder")
    source_folders = [folder / f"s{k}" for k in range(1, source_count + 1)]
    # The noise belongs to an item only when its mixture contains it.
    noise_folder = folder / "noise" if layout == "librimix" and mixture != "mix_clean" else None
    companions = source_folders + ([noise_folder] if noise_folder else [])
    for needed in [mixture_folder] + companions:
        if not needed.is_dir():
            raise DatasetError(f"{needed}: no such folder")
    extra = folder / f"s{n_src + 1}"
    if mixture != "mix_single" and extra.is_dir():
        raise DatasetError(f"{folder}: holds {extra.name}/, so it has more than n_src={n_src} speakers")
    mixtures = sorted(mixture_folder.glob("*.wav"))
    if not mixtures:
        raise DatasetError(f"0 mixtures found under {mixture_folder}")
    # One listing per folder instead of a stat per file: LibriMix train-360 has 50k mixtures.
    present = {companion: set(os.listdir(companion)) for companion in companions}
    items = []
    for path in mixtures:
        for companion in companions:
            if path.name not in present[companion]:
                kind = "noise" if companion == noise_folder else "source"
                raise DatasetError(f"{path}: its {kind} file {companion / path.name} is missing")
        sources = tuple(f / path.name for f in source_folders)
        items.append(SpeechItem(path.stem, path, sources, noise_folder / path.name if noise_folder else None))
    return items


def utterance_speakers(mixture_id: str, layout: str) -> list[str]:
    """Speaker of each utterance in a mixture id, in source order.

    LibriMix ids join LibriSpeech utterance ids (`speaker-chapter-utt`) with `_`;
    wsj0-mix ids alternate utterance ids and gains (`01aa010b_0.97_209a010p_-0.97`)
    and a wsj0 speaker is the first 3 characters of its utterance id.
    """
    tokens = mixture_id.split("_")
    if layout == "librimix":
        if not all(re.fullmatch(r"[^-]+-[^-]+-[^-]+", token) for token in tokens):
            raise DatasetError(f"mixture id '{mixture_id}' is not a LibriMix id (speaker-chapter-utt joined by _)")
        return [token.split("-")[0] for token in tokens]
    if layout == "wsj0mix":
        if len(tokens) % 2:
            raise DatasetError(f"mixture id '{mixture_id}' is not a wsj0-mix id (utterance_gain pairs joined by _)")
        return [token[:3] for token in tokens[0::2]]
    raise DatasetError(f"layout must be one of {', '.join(LAYOUTS)}, got '{layout}'")


# ---------------------------------------------------------------------------
# Datasets


def _checked_frames(item: SpeechItem, sample_rate: int) -> int:
    """Frames shared by the mixture and its sources, after checking rate, channels and length."""
    lengths = {}
    for path in (item.mixture,) + item.sources:
        info = audio_info(path)
        if info.samplerate != sample_rate:
            raise DatasetError(f"{path}: expected {sample_rate} Hz, got {info.samplerate} Hz")
        if info.channels != 1:
            raise DatasetError(f"{path}: expected mono audio, got {info.channels} channels")
        if info.frames == 0:
            raise DatasetError(f"{path}: file has no samples")
        lengths[path] = info.frames
    frames = lengths[item.mixture]
    for path in item.sources:
        if lengths[path] != frames:
            raise DatasetError(f"{path}: {lengths[path]} samples but its mixture {item.mixture} has {frames}")
    return frames


def split_key(key: int | tuple[int, int]) -> tuple[int, int | None]:
    """A dataset key as `(index, seed)`: `EpochSeededSampler`'s pair, or a plain index with seed None."""
    if isinstance(key, tuple):
        index, seed = key
        return int(index), int(seed)
    return int(key), None


class SpeechMixtureDataset(Dataset):
    """Fixed mixtures from a folder (see `find_speech_split`).

    With `segment_samples` set, returns that many samples, zero-padded at the
    end when the file is shorter: from the start for an int key, from a random
    offset drawn with `default_rng(seed)` for an `(index, seed)` key. With
    `segment_samples=None`, returns whole files (validation and test).
    """

    def __init__(self, items: Sequence[SpeechItem], sample_rate: int, segment_samples: int | None = None):
        if not items:
            raise DatasetError("no speech items given")
        if segment_samples is not None and segment_samples < 1:
            raise DatasetError(f"segment_samples must be positive, got {segment_samples}")
        self.items = list(items)
        self.sample_rate = sample_rate
        self.segment_samples = segment_samples
        _checked_frames(self.items[0], sample_rate)  # a wrong rate fails at setup, not mid-epoch

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        index, seed = split_key(key)
        item = self.items[index]
        frames = _checked_frames(item, self.sample_rate)
        start, stop = 0, frames
        if self.segment_samples is not None and frames > self.segment_samples:
            if seed is not None:
                start = int(np.random.default_rng(seed).integers(0, frames - self.segment_samples + 1))
            stop = start + self.segment_samples
        length = stop - start if self.segment_samples is None else self.segment_samples
        mixture = pad_end(read_wav(item.mixture, self.sample_rate, 1, start, stop), length)
        sources = np.stack([pad_end(read_wav(p, self.sample_rate, 1, start, stop), length) for p in item.sources])
        return {"mixture": torch.from_numpy(mixture), "sources": torch.from_numpy(sources), "id": item.id}


class DynamicMixingDataset(Dataset):
    """New mixtures drawn on the fly from the training split's single-speaker sources.

    Each source file of each item joins its speaker's pool (speakers read from
    the mixture ids, see `utterance_speakers`). An `(index, seed)` key draws
    `n_src` distinct speakers, one of their files each, a random crop of
    `segment_samples` (zero-padded when shorter) and a random RMS level in
    `gain_db_range` dBFS per source, as LibriMix levels its sources. When the
    items carry noise files, a random noise crop is added at its stored level.
    Everything is scaled down together if a signal would peak above 0.9, and the
    mixture is the exact float32 sum of the returned sources (plus noise).
    An int key uses itself as the seed.
    """

    def __init__(
        self,
        items: Sequence[SpeechItem],
        sample_rate: int,
        segment_samples: int,
        n_src: int,
        items_per_epoch: int,
        gain_db_range: tuple[float, float] = (-33.0, -25.0),
        layout: str = "librimix",
    ):
        if not items:
            raise DatasetError("no speech items given")
        if segment_samples < 1 or items_per_epoch < 1:
            raise DatasetError("segment_samples and items_per_epoch must be positive")
        if gain_db_range[0] > gain_db_range[1]:
            raise DatasetError(f"gain_db_range must be (low, high), got {gain_db_range}")
        pools: dict[str, list[Path]] = {}
        for item in items:
            speakers = utterance_speakers(item.id, layout)
            if len(speakers) < len(item.sources):
                raise DatasetError(f"{item.mixture}: id names {len(speakers)} speakers, expected {len(item.sources)}")
            for speaker, path in zip(speakers, item.sources):
                pools.setdefault(speaker, []).append(path)
        if len(pools) < n_src:
            raise DatasetError(f"{items[0].mixture.parent}: {len(pools)} speakers, dynamic mixing needs {n_src}")
        self.speakers = sorted(pools)
        self.pools = [pools[s] for s in self.speakers]
        noises = [item.noise for item in items]
        self.noises = noises if all(n is not None for n in noises) else []
        self.sample_rate = sample_rate
        self.segment_samples = segment_samples
        self.n_src = n_src
        self.items_per_epoch = items_per_epoch
        self.gain_db_range = gain_db_range
        _checked_frames(items[0], sample_rate)

    def __len__(self) -> int:
        return self.items_per_epoch

    def _crop(self, rng: np.random.Generator, path: Path) -> np.ndarray:
        frames = audio_info(path).frames
        start = int(rng.integers(0, max(frames - self.segment_samples, 0) + 1))
        signal = read_wav(path, self.sample_rate, 1, start, start + self.segment_samples)
        return pad_end(signal, self.segment_samples).astype(np.float64)

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        index, seed = split_key(key)
        rng = np.random.default_rng(index if seed is None else seed)
        chosen = rng.choice(len(self.speakers), size=self.n_src, replace=False)
        sources, names = [], []
        for speaker in chosen:
            pool = self.pools[speaker]
            path = pool[int(rng.integers(len(pool)))]
            signal = self._crop(rng, path)
            rms = float(np.sqrt(np.mean(signal**2)))
            level = rng.uniform(*self.gain_db_range)
            if rms > 1e-5:  # a silent crop stays silent rather than amplifying dither
                signal *= 10 ** (level / 20) / rms
            sources.append(signal)
            names.append(f"{self.speakers[speaker]}/{path.stem}")
        sources = np.stack(sources)
        noise = self._crop(rng, self.noises[int(rng.integers(len(self.noises)))]) if self.noises else 0.0
        mixture = sources.sum(axis=0) + noise
        peak = max(np.abs(sources).max(), np.abs(mixture).max())
        if peak > PEAK:
            sources *= PEAK / peak
            noise = noise * (PEAK / peak)
        sources = sources.astype(np.float32)
        # Summed from the returned float32 sources so that mixture == sum(sources) + noise.
        mixture = sources.sum(axis=0) + np.asarray(noise, dtype=np.float32)
        return {"mixture": torch.from_numpy(mixture), "sources": torch.from_numpy(sources), "id": "+".join(names)}


# ---------------------------------------------------------------------------
# Sampler


class EpochSeededSampler(Sampler):
    """Yields `(index, seed)` pairs fixed by (seed, epoch) alone.

    Lightning calls `set_epoch` before each training epoch. `num_samples`
    (default `length`) sets the epoch size: a shuffled epoch chains fresh
    permutations of `range(length)`, an unshuffled one cycles in order. Each
    pair's seed drives the dataset's crop and mixing draws.

    In a run on several devices each process (`rank` of `world_size`) takes every
    `world_size`-th pair of the same epoch, as `DistributedSampler` does, so one
    step's batches across processes are one single-device batch `world_size` times
    as large; an epoch that does not divide evenly drops its last few pairs, so every
    process takes the same number of steps.
    """

    def __init__(self, length: int, seed: int, shuffle: bool = True, num_samples: int | None = None,
                 rank: int = 0, world_size: int = 1):
        if length < 1:
            raise DatasetError(f"sampler needs a positive dataset length, got {length}")
        self.length = length
        self.seed = seed
        self.shuffle = shuffle
        self.num_samples = length if num_samples is None else num_samples
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self._skip = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def skip_next(self, samples: int) -> None:
        """Make the next iteration start `samples` into the epoch, counted over all processes (resuming mid-epoch)."""
        self._skip = max(0, int(samples))

    def __len__(self) -> int:
        return self.num_samples // self.world_size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        if self.shuffle:
            rounds = -(-self.num_samples // self.length)
            order = np.concatenate([rng.permutation(self.length) for _ in range(rounds)])[: self.num_samples]
        else:
            order = np.arange(self.num_samples) % self.length
        seeds = rng.integers(0, 2**63 - 1, size=self.num_samples)
        skip, self._skip = self._skip, 0
        left = (self.num_samples - skip) // self.world_size * self.world_size
        pairs = [(int(i), int(s)) for i, s in zip(order, seeds)][skip : skip + left]
        return iter(pairs[self.rank :: self.world_size])
