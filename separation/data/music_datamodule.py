"""The music separation LightningDataModule: one `MusicDataConfig` in, three dataloaders out.

Training batches are random chunks `{"mixture": (batch, channels, time),
"targets": (batch, stems, channels, time)}` drawn in an order fixed by
(seed, epoch); validation and test batches hold one track each (batch size 1):
a fixed centred excerpt of `valid_seconds` / `test_seconds`, or the whole track.
"""

from __future__ import annotations

from separation.data_config.music import MusicDataConfig, validate_music_data
from separation.data.split_datamodule import SplitDataModule
from separation.data.music_datasets import (
    MusicDataError,
    MusicEvalDataset,
    MusicTrainDataset,
    find_music_tracks,
    target_definitions,
)

# open-unmix's samples_per_track: the epoch size when train_items_per_epoch is not set.
CHUNKS_PER_TRACK = 64


class MusicDataModule(SplitDataModule):
    """Reads a MUSDB18(-HQ)-layout folder as `config` describes; `seed` fixes the training chunks."""

    def __init__(self, config: MusicDataConfig, seed: int):
        validate_music_data(config)
        super().__init__(config, seed)

    def _tracks(self, role: str):
        c = self.config
        return find_music_tracks(c.root, role, c.is_wav, c.sample_rate, c.cache_dir)

    def _samples(self, seconds: float | None) -> int | None:
        return None if seconds is None else int(round(seconds * self.config.sample_rate))

    def train_population(self) -> int:
        return len(self.train_set.tracks)  # a chunk of any track: the sampler draws tracks

    def train_per_epoch(self) -> int:
        return len(self.train_set)

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
