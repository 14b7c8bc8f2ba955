"""What every task's datamodule shares: how its three splits become loaders.

Training draws `num_samples` items per epoch from a population through
`EpochSeededSampler` (seeded by (seed, epoch), sharded by process) and
`ResumableLoader`, so a resumed run sees the same batches; validation and test
go one item at a time through `EvalShard`, each item on exactly one process.
A task's datamodule builds `train_set`, `valid_set` and `test_set` in `setup`
and says how large its training population and epoch are.
"""

from __future__ import annotations

import pytorch_lightning as pl
from torch.utils.data import DataLoader

from separation.data.resumable import ResumableLoader
from separation.data.sharding import EvalShard, process_share
from separation.data.speech_datasets import EpochSeededSampler


class SplitDataModule(pl.LightningDataModule):
    """Loaders over `train_set` / `valid_set` / `test_set`; subclasses build the sets and size the epoch."""

    def __init__(self, config, seed: int):
        super().__init__()
        self.config = config
        self.seed = seed
        self.train_set = self.valid_set = self.test_set = None

    def train_population(self) -> int:
        """How many distinct training items the sampler draws from."""
        return len(self.train_set)

    def train_per_epoch(self) -> int:
        """Training items per epoch (before sharding)."""
        return self.config.train_items_per_epoch or len(self.train_set)

    def _loader(self, dataset, loader=DataLoader, **kwargs) -> DataLoader:
        workers = self.config.num_workers
        return loader(dataset, num_workers=workers, persistent_workers=workers > 0, **kwargs)

    def _eval_shard(self, dataset, what: str) -> EvalShard:
        """This process's share of an evaluation split (all of it on one device)."""
        return EvalShard(len(dataset), *process_share(self.trainer), what=what)

    def train_dataloader(self) -> DataLoader:
        rank, processes = process_share(self.trainer)
        sampler = EpochSeededSampler(self.train_population(), self.seed, shuffle=True,
                                     num_samples=self.train_per_epoch(), rank=rank, world_size=processes)
        return self._loader(self.train_set, ResumableLoader, batch_size=self.config.batch_size, sampler=sampler,
                            drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.valid_set, batch_size=1,
                            sampler=self._eval_shard(self.valid_set, "validation split"))

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, batch_size=1,
                            sampler=self._eval_shard(self.test_set, "test split"))
