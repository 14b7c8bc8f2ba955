"""The speech enhancement LightningDataModule: one `EnhanceDataConfig` in, three dataloaders out.

Training batches are fixed-length random crops `{"noisy", "clean", "noise": (batch, 1, time)}`
(plus `"noise_only"` where the corpus has noise-only clips) in an order fixed by
(seed, epoch) through `EpochSeededSampler` and `ResumableLoader`, so a run resumed
mid-epoch sees the batches the uninterrupted run would have; validation and test
batches hold one whole utterance each (batch size 1), so no padding enters a metric.
"""

from __future__ import annotations

from separation.data_config.enhance import EnhanceDataConfig
from separation.data.split_datamodule import SplitDataModule
from separation.data.enhance_datasets import (
    EnhancementDataset,
    check_enhancement_root,
    enhancement_dataset,
    find_voicebank_split,
)
from separation.data.speech_datasets import DatasetError

SPLIT_NAMES = {"train": "train", "valid": "valid", "test": "test"}  # both layouts use these names


class EnhanceDataModule(SplitDataModule):
    """Reads a generated noisy corpus or VoiceBank-DEMAND as `config` describes.

    `seed` fixes the training order and crops. `objective` names the training
    objective and `needs_noise_only` says whether it trains on noise-only clips
    (both told by the task, which knows the objective): such an objective is
    refused, before training, on a dataset without them.
    """

    def __init__(self, config: EnhanceDataConfig, seed: int, objective: str = "supervised",
                 needs_noise_only: bool = False):
        super().__init__(config, seed)
        self.objective = objective
        self.needs_noise_only = needs_noise_only
        self.segment_samples = int(round(config.segment_seconds * config.sample_rate))

    def _dataset(self, split: str, segment_samples: int | None = None, max_items: int | None = None) -> EnhancementDataset:
        c = self.config
        return enhancement_dataset(c.root, SPLIT_NAMES[split], c.sample_rate, c.layout, segment_samples, max_items,
                                   c.trainset)

    def _check_root(self) -> None:
        """Every split present and readable (fast: listings and one file header per split)."""
        c = self.config
        if c.layout == "voicebank" and c.trainset is not None:
            for split in SPLIT_NAMES.values():
                find_voicebank_split(c.root, split, c.trainset)
        else:
            check_enhancement_root(c.root, c.layout, c.sample_rate)

    def _check_objective(self) -> None:
        if self.needs_noise_only and not self.train_set.has_noise_only:
            raise DatasetError(
                f"{self.config.root} ({self.config.layout} layout) has no noise-only clips in its training split, "
                f"which objective '{self.objective}' needs (a corpus from `separation data noisy` has them)"
            )

    def setup(self, stage: str | None = None) -> None:
        """Find and check every split the stage needs, so bad folders fail before training starts."""
        c = self.config
        if stage in (None, "fit") and self.train_set is None:
            self._check_root()
            self.train_set = self._dataset("train", self.segment_samples)
            self._check_objective()
            if self.train_per_epoch() < c.batch_size:
                raise DatasetError(f"data.batch_size={c.batch_size} exceeds the {self.train_per_epoch()} training "
                                   f"examples per epoch in {c.root}")
        if stage in (None, "fit", "validate") and self.valid_set is None:
            self.valid_set = self._dataset("valid", None, c.valid_max_items)
        if stage in (None, "test") and self.test_set is None:
            self.test_set = self._dataset("test")
