"""Task `speech`: its data section (a LibriMix or wsj0-mix corpus) and the checks on it."""

from __future__ import annotations

from dataclasses import dataclass

from separation.checks import choice
from separation.data_config.waveform import validate_waveform_data
from separation.errors import ConfigError


@dataclass
class DataConfig:
    # Folder holding a LibriMix-layout corpus (the one holding `Libri2Mix/`) or a
    # wsj0-mix folder (the one holding `tr/ cv/ tt/`).
    root: str = "data/speech"
    layout: str = "librimix"  # librimix | wsj0mix
    n_src: int = 2
    sample_rate: int = 8000
    librimix_mode: str = "min"  # min | max
    librimix_mixture: str = "mix_clean"  # mix_clean | mix_both
    # None picks the layout's usual names (librimix: train-100/dev/test, wsj0mix: tr/cv/tt).
    train_split: str | None = None
    valid_split: str | None = None
    test_split: str | None = None
    segment_seconds: float = 4.0
    # Draw speakers and gains on the fly from the training split's single-speaker sources.
    dynamic_mixing: bool = False
    # Examples per training epoch; None means one pass over the training mixtures.
    train_items_per_epoch: int | None = None
    # Cap on validation utterances (full length); None keeps every one.
    valid_max_items: int | None = None
    batch_size: int = 4
    num_workers: int = 0


LAYOUTS = ("librimix", "wsj0mix")


def validate_speech_section(config, models=None) -> None:
    """The speech data section of `config` (a Config), and a model sized for its speakers."""
    if not isinstance(config.data, DataConfig):
        raise ConfigError(f"config section 'data' must be a speech data section for task '{config.task}'")
    data = config.data
    choice("data.layout", data.layout, LAYOUTS)
    choice("data.librimix_mode", data.librimix_mode, ("min", "max"))
    choice("data.librimix_mixture", data.librimix_mixture, ("mix_clean", "mix_both", "mix_single"))
    if data.n_src < 1:
        raise ConfigError(f"config key 'data.n_src' must be at least 1, got {data.n_src}")
    model_src = config.model.args.get("n_src")
    if model_src is not None and model_src != data.n_src:
        raise ConfigError(f"config key 'model.args.n_src' is {model_src} but 'data.n_src' is {data.n_src}")
    validate_waveform_data(data)
