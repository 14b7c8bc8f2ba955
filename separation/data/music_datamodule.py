"""The music separation LightningDataModule: one `MusicDataConfig` in, three dataloaders out.

Training batches are random chunks `{"mixture": (batch, channels, time),
"targets": (batch, stems, channels, time)}` drawn in an order fixed by
(seed, epoch); validation and test batches hold one track each (batch size 1):
a fixed centred excerpt of `valid_seconds` / `test_seconds`, or the whole track.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytorch_lightning as pl
from torch.utils.data import DataLoader

from separation.config import ConfigError
from separation.data.music_datasets import (
    MusicDataError,
    MusicEvalDataset,
    MusicTrainDataset,
    find_music_tracks,
    target_definitions,
)
from separation.data.speech_datasets import EpochSeededSampler

# open-unmix's samples_per_track: the epoch size when train_items_per_epoch is not set.
CHUNKS_PER_TRACK = 64


@dataclass
class MusicDataConfig:
    # Folder holding MUSDB18-HQ wav folders (`train/<track>/mixture.wav ...`) or MUSDB18 `.stem.mp4`
    # files (`train/<track>.stem.mp4`); an optional `musdb.yaml` there replaces musdb's split.
    root: str = "data/music"
    is_wav: bool = True
    # Where `.stem.mp4` tracks are decoded to wav once (is_wav: false); None means ROOT/decoded.
    cache_dir: str | None = None
    # musdb targets to separate: vocals, drums, bass, other, accompaniment.
    stems: list[str] = field(default_factory=lambda: ["vocals", "accompaniment"])
    sample_rate: int = 44100
    # Training chunk: 11.88 s is Spleeter's T = 512 frames at hop 1024.
    segment_seconds: float = 11.88
    batch_size: int = 4
    num_workers: int = 0
    # Chunks per training epoch; None means 64 per training track.
    train_items_per_epoch: int | None = None
    # Each source of a training chunk from its own random track.
    random_mix: bool = True
    # Per-source random gain and channel swap in training.
    augment: bool = True
    gain_range: list[float] = field(default_factory=lambda: [0.25, 1.25])
    channel_swap: float = 0.5
    # Validation and test audio per track: a centred excerpt of this length; None means the whole track.
    valid_seconds: float | None = 10.0
    test_seconds: float | None = None
    # Cap on validation tracks (musdb's order); None keeps every one.
    valid_max_items: int | None = None


def validate_music_data(data: MusicDataConfig, key: str = "data") -> None:
    """Raise ConfigError naming the first key of the music data section that is out of range."""
    if not isinstance(data.stems, list) or not data.stems or not all(isinstance(s, str) for s in data.stems):
        raise ConfigError(f"config key '{key}.stems' must be a non-empty list of names, got {data.stems!r}")
    if len(set(data.stems)) != len(data.stems):
        raise ConfigError(f"config key '{key}.stems' lists a stem twice: {data.stems}")
    for name in ("sample_rate", "segment_seconds", "batch_size"):
        value = getattr(data, name)
        if not value > 0:
            raise ConfigError(f"config key '{key}.{name}' must be positive, got {value!r}")
    for name in ("train_items_per_epoch", "valid_seconds", "test_seconds", "valid_max_items"):
        value = getattr(data, name)
        if value is not None and not value > 0:
            raise ConfigError(f"config key '{key}.{name}' must be positive or null, got {value!r}")
    if data.num_workers < 0:
        raise ConfigError(f"config key '{key}.num_workers' must be >= 0, got {data.num_workers}")
    gains = data.gain_range
    if not (isinstance(gains, list) and len(gains) == 2 and all(isinstance(g, (int, float)) for g in gains)
            and 0 < gains[0] <= gains[1]):
        raise ConfigError(f"config key '{key}.gain_range' must be [low, high] with 0 < low <= high, got {gains!r}")
    if not 0 <= data.channel_swap <= 1:
        raise ConfigError(f"config key '{key}.channel_swap' is a probability in [0, 1], got {data.channel_swap}")


class MusicDataModule(pl.LightningDataModule):
    """Reads a MUSDB18(-HQ)-layout folder as `config` describes; `seed` fixes the training chunks."""

    def __init__(self, config: MusicDataConfig, seed: int):
        super().__init__()
        validate_music_data(config)
        self.config = config
        self.seed = seed
        self.train_set = self.valid_set = self.test_set = None

    def _tracks(self, role: str):
        c = self.config
        return find_music_tracks(c.root, role, c.is_wav, c.sample_rate, c.cache_dir)

    def _samples(self, seconds: float | None) -> int | None:
        return None if seconds is None else int(round(seconds * self.config.sample_rate))

    def setup(self, stage: str | None = None) -> None:
        """Find and check every track the stage needs, so bad folders fail before training starts."""
        c = self.config
        targets = target_definitions(c.root, c.stems)
        if stage in (None, "fit") and self.train_set is None:
            tracks = self._tracks("train")
            per_epoch = c.train_items_per_epoch or CHUNKS_PER_TRACK * len(tracks)
            if per_epoch < c.batch_size:
                raise MusicDataError(f"data.batch_size={c.batch_size} exceeds the {per_epoch} training chunks per epoch")
            self.train_set = MusicTrainDataset(
                tracks, targets, self._samples(c.segment_seconds), per_epoch,
                c.random_mix, c.augment, tuple(c.gain_range), c.channel_swap,
            )
        if stage in (None, "fit", "validate") and self.valid_set is None:
            tracks = self._tracks("valid")[: c.valid_max_items]
            self.valid_set = MusicEvalDataset(tracks, targets, self._samples(c.valid_seconds))
        if stage in (None, "test") and self.test_set is None:
            self.test_set = MusicEvalDataset(self._tracks("test"), targets, self._samples(c.test_seconds))

    def _loader(self, dataset, **kwargs) -> DataLoader:
        workers = self.config.num_workers
        return DataLoader(dataset, num_workers=workers, persistent_workers=workers > 0, **kwargs)

    def train_dataloader(self) -> DataLoader:
        sampler = EpochSeededSampler(len(self.train_set.tracks), self.seed, shuffle=True, num_samples=len(self.train_set))
        return self._loader(self.train_set, batch_size=self.config.batch_size, sampler=sampler, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.valid_set, batch_size=1, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, batch_size=1, shuffle=False)
