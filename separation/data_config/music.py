"""Task `music`: its data section (MUSDB18 or MUSDB18-HQ stems) and the checks on it."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

from separation.errors import ConfigError


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


def validate_music_section(config, models) -> None:
    """The music data section of `config` (a Config), and a model (from the registry `models`) that
    separates exactly its stems."""
    if not isinstance(config.data, MusicDataConfig):
        raise ConfigError("config section 'data' must be a music data section for task 'music'")
    validate_music_data(config.data, key="data")
    if "stems" not in inspect.signature(models.MODELS[config.model.name].__init__).parameters:
        raise ConfigError(f"config key 'model.name' is '{config.model.name}', which separates no music stems; use unet")
    stems = config.model.args.get("stems")
    if stems is not None:
        from separation.models.unet import stem_names

        try:
            names = list(stem_names(stems))
        except (TypeError, ValueError) as error:  # 0.5 stems, a mapping of stems
            raise ConfigError(f"config key 'model.args.stems': {error}") from None
        if names != config.data.stems:
            raise ConfigError(f"config key 'model.args.stems' is {names} but 'data.stems' is {config.data.stems}")
