"""The speech separation LightningDataModule: one `DataConfig` in, three dataloaders out.

Training batches are fixed-length segments `{"mixture": (batch, time),
"sources": (batch, n_src, time)}` in an order fixed by (seed, epoch);
validation and test batches hold one full-length utterance each (batch size 1),
so no padding ever enters a metric.
"""

from __future__ import annotations

from separation.data_config.speech import DataConfig
from separation.data.split_datamodule import SplitDataModule
from separation.data.speech_datasets import (
    DatasetError,
    DynamicMixingDataset,
    SpeechItem,
    SpeechMixtureDataset,
    default_splits,
    find_speech_split,
)


class SpeechDataModule(SplitDataModule):
    """Reads a LibriMix or wsj0-mix folder as `config` describes; `seed` fixes the training order."""

    def __init__(self, config: DataConfig, seed: int):
        super().__init__(config, seed)
        train, valid, test = default_splits(config.layout)
        self.split_names = {
            "train": config.train_split or train,
            "valid": config.valid_split or valid,
            "test": config.test_split or test,
        }
        self.segment_samples = int(round(config.segment_seconds * config.sample_rate))

    def _items(self, role: str) -> list[SpeechItem]:
        c = self.config
        return find_speech_split(
            c.root, c.layout, self.split_names[role], c.n_src, c.sample_rate, c.librimix_mode, c.librimix_mixture
        )

    def setup(self, stage: str | None = None) -> None:
        """Find and check every split the stage needs, so bad folders fail before training starts."""
        c = self.config
        if stage in (None, "fit") and self.train_set is None:
            items = self._items("train")
            if c.dynamic_mixing:
                per_epoch = c.train_items_per_epoch or len(items)
                self.train_set = DynamicMixingDataset(
                    items, c.sample_rate, self.segment_samples, c.n_src, per_epoch, layout=c.layout
                )
            else:
                self.train_set = SpeechMixtureDataset(items, c.sample_rate, self.segment_samples)
            if self.train_per_epoch() < c.batch_size:
                raise DatasetError(
                    f"data.batch_size={c.batch_size} exceeds the {self.train_per_epoch()} training examples "
                    f"per epoch in {items[0].mixture.parent}"
                )
        if stage in (None, "fit", "validate") and self.valid_set is None:
            items = self._items("valid")[: c.valid_max_items]  # sorted by id, so the same N every run
            self.valid_set = SpeechMixtureDataset(items, c.sample_rate)
        if stage in (None, "test") and self.test_set is None:
            self.test_set = SpeechMixtureDataset(self._items("test"), c.sample_rate)

    def train_per_epoch(self) -> int:
        if isinstance(self.train_set, DynamicMixingDataset):
            return len(self.train_set)
        return self.config.train_items_per_epoch or len(self.train_set)
