"""Task `enhance`: its data section (a generated noisy corpus or VoiceBank-DEMAND) and the checks on it.

How many sources the model outputs depends on the training objective, which is
checked with the objective section (`separation.configuration.validation`).
"""

from __future__ import annotations

from dataclasses import dataclass

from separation.checks import choice
from separation.data_config.waveform import validate_waveform_data
from separation.errors import ConfigError


@dataclass
class EnhanceDataConfig:
    # A generated noisy corpus (`separation data noisy ROOT`: ROOT/corpus.json, ROOT/{train,valid,test}/)
    # or a VoiceBank-DEMAND folder (`clean_trainset_*wav/`, `noisy_trainset_*wav/`, `clean_testset_wav/`, ...).
    root: str = "data/noisy"
    layout: str = "noisy"  # noisy | voicebank
    # The generated corpus must be at this rate; VoiceBank-DEMAND (48 kHz) is resampled to it.
    sample_rate: int = 16000
    # VoiceBank-DEMAND's `*_trainset_{trainset}_wav` folders when there are several (28spk, 56spk).
    trainset: str | None = None
    segment_seconds: float = 2.0
    batch_size: int = 4
    # Segments per training epoch (random crops of random items); None means one per training item.
    train_items_per_epoch: int | None = None
    # Cap on validation utterances (whole, in file order); None keeps every one.
    valid_max_items: int | None = None
    num_workers: int = 0


ENHANCE_LAYOUTS = ("noisy", "voicebank")


def validate_enhance_section(config, models=None) -> None:
    """The enhancement data section of `config` (a Config), and a model that enhances: it must have a family loss."""
    if not isinstance(config.data, EnhanceDataConfig):
        raise ConfigError(f"config section 'data' must be an enhancement data section for task '{config.task}'")
    from separation.losses.enhance import DEFAULT_LOSSES

    choice("model.name", config.model.name, DEFAULT_LOSSES)
    data = config.data
    choice("data.layout", data.layout, ENHANCE_LAYOUTS)
    if data.trainset is not None and data.layout != "voicebank":
        raise ConfigError(f"config key 'data.trainset' applies to layout 'voicebank' only, got layout '{data.layout}'")
    validate_waveform_data(data)
