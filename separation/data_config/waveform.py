"""The sizes every segment-based waveform data section (speech, enhance) shares, and their checks."""

from __future__ import annotations

from separation.checks import positive
from separation.errors import ConfigError


def validate_waveform_data(data) -> None:
    """Rate, segment, batch and per-epoch counts of a speech or enhancement data section (keys `data.*`)."""
    positive("data.sample_rate", data.sample_rate)
    positive("data.segment_seconds", data.segment_seconds)
    positive("data.batch_size", data.batch_size)
    positive("data.train_items_per_epoch", data.train_items_per_epoch, allow_none=True)
    positive("data.valid_max_items", data.valid_max_items, allow_none=True)
    if data.num_workers < 0:
        raise ConfigError(f"config key 'data.num_workers' must be >= 0, got {data.num_workers}")
