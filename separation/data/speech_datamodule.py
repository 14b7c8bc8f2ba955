"""The speech separation LightningDataModule: one `DataConfig` in, three dataloaders out.

Training batches are fixed-length segments `{"mixture": (batch, time),
"sources": (batch, n_src, time)}` in an order fixed by (seed, epoch);
validation and test batches hold one full-length utterance each (batch size 1),
so no padding ever enters a metric.
"""

from __future__ import annotations

import pytorch_lightning as pl
from torch.utils.data import DataLoader

from separation.data_config.speech import DataConfig
from separation.data.resumable import ResumableLoader
from separation.data.sharding import EvalShard, process_share
from separation.data.speech_datasets import (
    DatasetError,
    DynamicMixingDataset,
    EpochSeededSampler,
    SpeechItem,
    SpeechMixtureDataset,
    default_splits,
    find_speech_split,
)


class SpeechDataModule(pl.LightningDataModule):
    """Reads a LibriMix or wsj0-mix folder as `config` describes; `seed` fixes the training order."""

    def __init__(self, config: DataConfig, seed: int):
        super().__init__()
        self.config = config
        self.seed = seed
        train, valid, test = default_splits(config.layout)
        self.split_names = {
            "train": config.train_split or train,
            "valid": config.valid_split or valid,
            "test": config.test_split or test,
        }
        self.segment_samples = int(round(config.segment_seconds * config.sample_rate))
        self.train_set = self.valid_set = self.test_set = None

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
            if self._train_sampler_length() < c.batch_size:
                raise DatasetError(
                    f"data.batch_size={c.batch_size} exceeds the {self._train_sampler_length()} training examples "
                    f"per epoch in {items[0].mixture.parent}"
                )
        if stage in (None, "fit", "validate") and self.valid_set is None:
            items = self._items("valid")[: c.valid_max_items]  # sorted by id, so the same N every run
            self.valid_set = SpeechMixtureDataset(items, c.sample_rate)
        if stage in (None, "test") and self.test_set is None:
            self.test_set = SpeechMixtureDataset(self._items("test"), c.sample_rate)

    def _train_sampler_length(self) -> int:
        if isinstance(self.train_set, DynamicMixingDataset):
            return len(self.train_set)
        return self.config.train_items_per_epoch or len(self.train_set)

    def _loader(self, dataset, loader=DataLoader, **kwargs) -> DataLoader:
        workers = self.config.num_workers
        return loader(dataset, num_workers=workers, persistent_workers=workers > 0, **kwargs)

    def _eval_shard(self, dataset, what: str) -> EvalShard:
        """This process's share of an evaluation split (all of it on one device)."""
        return EvalShard(len(dataset), *process_share(self.trainer), what=what)

    def train_dataloader(self) -> DataLoader:
        per_epoch = self._train_sampler_length()
        rank, processes = process_share(self.trainer)
        sampler = EpochSeededSampler(len(self.train_set), self.seed, shuffle=True, num_samples=per_epoch,
                                     rank=rank, world_size=processes)
        return self._loader(self.train_set, ResumableLoader, batch_size=self.config.batch_size, sampler=sampler, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.valid_set, batch_size=1,
                            sampler=self._eval_shard(self.valid_set, "validation split"))

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, batch_size=1,
                            sampler=self._eval_shard(self.test_set, "test split"))
