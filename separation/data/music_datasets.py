"""MUSDB18 and MUSDB18-HQ: the track index through `musdb`, then fast chunk reading from wav files.

`musdb.DB` decides which tracks exist and which belong to the official
train / validation / test split (a corpus may bring its own split as
`ROOT/musdb.yaml`, musdb's setup-file format; `separation data music` writes
one). Audio is never read through musdb's track objects, which start one
ffmpeg process per source and chunk: MUSDB18-HQ wav files are memory-mapped
and sliced at a sample offset (soundfile for wav formats numpy cannot map),
and MUSDB18 `.stem.mp4` files are decoded once into the same wav layout under
a cache folder.

Every dataset returns float32 tensors `{"mixture": (channels, time),
"targets": (stems, channels, time), "id": str}`. A stem is one of musdb's
targets: a source (vocals, drums, bass, other) or a sum of sources
(accompaniment = drums + bass + other), as defined in the setup file.
"""

from __future__ import annotations

import functools
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import Dataset

from separation.data.audio import AudioError, audio_info, check_finite, write_wav
from separation.data.music_format import SETUP_FILE, SOURCES
from separation.errors import UserError

ROLES = ("train", "valid", "test")


class MusicDataError(UserError):
    """A music corpus folder or track is not what the configuration asks for (one-line message)."""


@dataclass(frozen=True)
class MusicTrack:
    """One track: wav paths of its mixture and each source, all of `frames` samples at `sample_rate`."""

    name: str
    subset: str
    mixture: Path
    sources: dict[str, Path]
    frames: int
    sample_rate: int
    channels: int


# ---------------------------------------------------------------------------
# Track index


def _musdb_db(root: Path, is_wav: bool, role: str):
    import musdb  # needs ffmpeg and ffprobe on PATH at import

    setup = SETUP_FILE if (root / SETUP_FILE).is_file() else None
    subsets, split = {"train": ("train", "train"), "valid": ("train", "valid"), "test": ("test", None)}[role]
    return musdb.DB(root=str(root), is_wav=is_wav, subsets=subsets, split=split, setup_file=setup)


def target_definitions(root: str | Path, stems: Sequence[str]) -> dict[str, dict[str, float]]:
    """stem -> {source: gain} from the corpus's setup file (or musdb's), e.g. accompaniment -> drums+bass+other."""
    import musdb
    import yaml

    root = Path(root)
    path = root / SETUP_FILE if (root / SETUP_FILE).is_file() else Path(musdb.__path__[0]) / "configs" / "mus.yaml"
    targets = yaml.safe_load(path.read_text())["targets"]
    for stem in stems:
        if stem not in targets or stem == "linear_mixture":
            allowed = [t for t in targets if t != "linear_mixture"]
            raise MusicDataError(f"stem '{stem}' is not a target of {path}; allowed: {', '.join(allowed)}")
    return {stem: {source: float(gain) for source, gain in targets[stem].items()} for stem in stems}


def _checked_track(name: str, subset: str, folder: Path, sample_rate: int) -> MusicTrack:
    """The track in `folder` after checking every file is there with one rate, channel count and length."""
    paths = {part: folder / f"{part}.wav" for part in ("mixture",) + SOURCES}
    infos = {}
    for part, path in paths.items():
        if not path.is_file():
            raise MusicDataError(f"track '{name}' ({subset}): missing {path.name} in {folder}")
        try:
            infos[part] = audio_info(path)
        except AudioError as error:
            raise MusicDataError(f"track '{name}' ({subset}): {error}") from None
    for part, info in infos.items():
        if info.samplerate != sample_rate:
            raise MusicDataError(f"track '{name}' ({subset}): {part}.wav is {info.samplerate} Hz, expected {sample_rate} Hz")
    mixture = infos["mixture"]
    for part, info in infos.items():
        if info.frames != mixture.frames:
            raise MusicDataError(
                f"track '{name}' ({subset}): {part}.wav has {info.frames} samples but mixture.wav has {mixture.frames}"
            )
        if info.channels != mixture.channels:
            raise MusicDataError(
                f"track '{name}' ({subset}): {part}.wav has {info.channels} channels but mixture.wav has {mixture.channels}"
            )
    if mixture.frames == 0:
        raise MusicDataError(f"track '{name}' ({subset}): mixture.wav has no samples")
    return MusicTrack(
        name, subset, paths["mixture"], {s: paths[s] for s in SOURCES}, mixture.frames, sample_rate, mixture.channels
    )


def _decoded_folder(track, cache_dir: Path) -> Path:
    """Decode a `.stem.mp4` track once into `cache_dir/<subset>/<name>/*.wav` (16-bit, like MUSDB18-HQ)."""
    folder = cache_dir / track.subset / track.name
    names = ("mixture",) + SOURCES
    if all((folder / f"{n}.wav").is_file() for n in names):
        return folder
    import stempeg

    # (5, time, channels) in MUSDB's stem order: mixture, drums, bass, other, vocals.
    stems, rate = stempeg.read_stems(track.path, dtype=np.float32)
    order = ("mixture", "drums", "bass", "other", "vocals")
    for name, audio in zip(order, stems):
        write_wav(folder / f"{name}.wav", np.clip(audio.T, -1.0, 1.0 - 2**-15), int(rate), "PCM_16")
    return folder


def find_music_tracks(
    root: str | Path,
    role: str,
    is_wav: bool = True,
    sample_rate: int = 44100,
    cache_dir: str | Path | None = None,
) -> list[MusicTrack]:
    """Every track of one role ("train", "valid" or "test"), in musdb's order, each checked.

    The train and valid roles are musdb's `split="train"/"valid"` of its train
    subset; test is the test subset. With `is_wav=False` the `.stem.mp4` files
    are decoded into `cache_dir` (default `ROOT/decoded`) the first time.
    """
    root = Path(root)
    if role not in ROLES:
        raise MusicDataError(f"role must be one of {', '.join(ROLES)}, got '{role}'")
    if not root.is_dir():
        raise MusicDataError(f"{root}: no such data folder")
    db = _musdb_db(root, is_wav, role)
    if not db.tracks:
        expected = "<track>/mixture.wav (is_wav: true)" if is_wav else "<track>.stem.mp4 (is_wav: false)"
        subset = "test" if role == "test" else "train"
        detail = " in its validation split (list them in musdb.yaml)" if role == "valid" else ""
        raise MusicDataError(f"{root}: tracks found: 0 in {subset}/{detail}; expected {root}/{subset}/{expected}")
    cache = Path(cache_dir) if cache_dir else root / "decoded"
    tracks = []
    for track in db.tracks:
        folder = Path(track.path).parent if is_wav else _decoded_folder(track, cache)
        tracks.append(_checked_track(track.name, track.subset, folder, sample_rate))
    return tracks


# ---------------------------------------------------------------------------
# Reading


@dataclass(frozen=True)
class _WavLayout:
    """Where a plain WAV file keeps its samples: enough to memory-map them."""

    offset: int  # byte offset of the data chunk's samples
    dtype: str  # numpy dtype of one sample
    channels: int
    frames: int
    scale: float  # multiplies samples into [-1, 1)


# WAVE format tag, bits per sample -> (numpy dtype, scale). 0xFFFE (extensible) carries the tag in its sub-format.
_SAMPLE_TYPES = {(1, 16): ("<i2", 2.0**-15), (1, 32): ("<i4", 2.0**-31), (3, 32): ("<f4", 1.0)}


@functools.lru_cache(maxsize=4096)
def _wav_layout(path: str, stamp: tuple[int, int]) -> _WavLayout | None:
    """The sample layout of an uncompressed WAV file, or None for anything numpy cannot map
    (24-bit PCM, compressed or RF64 files): those are read with soundfile. `stamp`
    (mtime, size) keys the cache so that a rewritten file is parsed again."""
    with open(path, "rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WAVE":
            return None
        sample_type = channels = None
        while header := handle.read(8):
            if len(header) < 8:
                return None
            name, size = header[:4], struct.unpack("<I", header[4:])[0]
            if name == b"fmt ":
                fmt = handle.read(size + size % 2)
                tag, channels = struct.unpack("<HH", fmt[:4])
                bits = struct.unpack("<H", fmt[14:16])[0]
                if tag == 0xFFFE and size >= 26:
                    tag = struct.unpack("<H", fmt[24:26])[0]
                sample_type = _SAMPLE_TYPES.get((tag, bits))
            elif name == b"data":
                if sample_type is None or not channels:
                    return None
                width = np.dtype(sample_type[0]).itemsize * channels
                size = min(size, stamp[1] - handle.tell())  # streaming writers may leave the size unset
                return _WavLayout(handle.tell(), sample_type[0], channels, size // width, sample_type[1])
            else:
                handle.seek(size + size % 2, 1)  # chunks are padded to an even size
    return None


def read_chunk(path: Path, start: int, length: int, channels: int) -> np.ndarray:
    """`length` samples of a wav from `start` as float32 `(channels, length)`, zero-padded past the end.

    Plain PCM-16/32 and float WAV files are memory-mapped (several times faster
    than decoding through libsndfile); other formats go through soundfile.
    """
    out = np.zeros((channels, length), dtype=np.float32)
    try:
        stat = os.stat(path)
        layout = _wav_layout(str(path), (stat.st_mtime_ns, stat.st_size))
        if layout is not None and layout.channels == channels:
            samples = np.memmap(path, layout.dtype, "r", layout.offset, (layout.frames, channels))
            part = samples[start : start + length]
            out[:, : part.shape[0]] = part.T
            if layout.scale != 1.0:
                out *= np.float32(layout.scale)
        else:
            data, _ = sf.read(str(path), start=start, stop=start + length, dtype="float32", always_2d=True)
            out[:, : data.shape[0]] = data.T
    except (OSError, ValueError, sf.LibsndfileError, RuntimeError) as error:
        raise MusicDataError(f"{path}: unreadable wav ({error})") from None
    try:
        check_finite(out.T, path, start)  # a float wav can hold NaN, which would train or score as audio
    except AudioError as error:
        raise MusicDataError(str(error)) from None
    return out


def combine_targets(sources: dict[str, np.ndarray], targets: dict[str, dict[str, float]]) -> np.ndarray:
    """`{source: (channels, time)}` -> `(stems, channels, time)` weighted sums, in `targets` order."""
    return np.stack([sum(gain * sources[s] for s, gain in parts.items()) for parts in targets.values()])


# Augmentations: each takes and returns one source `(channels, time)`, drawing from `rng`.


def random_gain(rng: np.random.Generator, audio: np.ndarray, low: float = 0.25, high: float = 1.25) -> np.ndarray:
    """Scale by a uniform factor in [low, high] (open-unmix's range)."""
    return audio * np.float32(rng.uniform(low, high))


def random_channel_swap(rng: np.random.Generator, audio: np.ndarray, probability: float = 0.5) -> np.ndarray:
    """Swap left and right with the given probability."""
    return audio[::-1].copy() if audio.shape[0] == 2 and rng.random() < probability else audio


class MusicTrainDataset(Dataset):
    """Random training chunks, optionally remixed across tracks and augmented per source.

    A key `(index, seed)` (from `EpochSeededSampler`) fixes everything drawn:
    with `random_mix` each source comes from its own random track and offset
    (open-unmix's random-track mixing), otherwise all sources come from track
    `index` at one offset. With `augment` every source gets a random gain in
    `gain_range` and a channel swap with probability `channel_swap`. The
    mixture is the sum of the (augmented) sources, so it always matches its targets.
    """

    def __init__(
        self,
        tracks: Sequence[MusicTrack],
        targets: dict[str, dict[str, float]],
        segment_samples: int,
        items_per_epoch: int,
        random_mix: bool = True,
        augment: bool = True,
        gain_range: tuple[float, float] = (0.25, 1.25),
        channel_swap: float = 0.5,
    ):
        if not tracks:
            raise MusicDataError("no training tracks given")
        if segment_samples < 1 or items_per_epoch < 1:
            raise MusicDataError(
                f"segment_samples and items_per_epoch must be positive, got {segment_samples}, {items_per_epoch}"
            )
        channels = {t.channels for t in tracks}
        if len(channels) != 1:
            raise MusicDataError(f"training tracks mix channel counts {sorted(channels)}")
        self.tracks = list(tracks)
        self.targets = targets
        self.segment_samples = segment_samples
        self.items_per_epoch = items_per_epoch
        self.random_mix = random_mix
        self.augment = augment
        self.gain_range = gain_range
        self.channel_swap = channel_swap
        self.channels = channels.pop()

    def __len__(self) -> int:
        return self.items_per_epoch

    def _offset(self, rng: np.random.Generator, track: MusicTrack) -> int:
        return int(rng.integers(0, max(track.frames - self.segment_samples, 0) + 1))

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        index, seed = key if isinstance(key, tuple) else (key, key)
        rng = np.random.default_rng(seed)
        home = self.tracks[index % len(self.tracks)]
        home_start = self._offset(rng, home)
        sources, names = {}, []
        for source in SOURCES:
            track, start = home, home_start
            if self.random_mix:
                track = self.tracks[int(rng.integers(len(self.tracks)))]
                start = self._offset(rng, track)
            audio = read_chunk(track.sources[source], start, self.segment_samples, self.channels)
            if self.augment:
                audio = random_channel_swap(rng, random_gain(rng, audio, *self.gain_range), self.channel_swap)
            sources[source] = audio
            names.append(f"{source}={track.name}@{start}")
        mixture = sum(sources.values())
        targets = combine_targets(sources, self.targets)
        return {"mixture": torch.from_numpy(mixture), "targets": torch.from_numpy(targets), "id": ";".join(names)}


class MusicEvalDataset(Dataset):
    """One item per track: the real mixture and its targets, whole or a fixed excerpt.

    With `excerpt_samples` set, every track gives the excerpt of that length
    centred in the track (intros and outros are often sparse), or the whole
    track when it is shorter; so validation sees the same audio every epoch.
    """

    def __init__(
        self, tracks: Sequence[MusicTrack], targets: dict[str, dict[str, float]], excerpt_samples: int | None = None
    ):
        if not tracks:
            raise MusicDataError("no evaluation tracks given")
        self.tracks = list(tracks)
        self.targets = targets
        self.excerpt_samples = excerpt_samples

    def __len__(self) -> int:
        return len(self.tracks)

    def span(self, track: MusicTrack) -> tuple[int, int]:
        """(start, length) of the audio this dataset gives for `track`."""
        if self.excerpt_samples is None or track.frames <= self.excerpt_samples:
            return 0, track.frames
        return (track.frames - self.excerpt_samples) // 2, self.excerpt_samples

    def __getitem__(self, index: int) -> dict:
        track = self.tracks[index]
        start, length = self.span(track)
        mixture = read_chunk(track.mixture, start, length, track.channels)
        sources = {s: read_chunk(p, start, length, track.channels) for s, p in track.sources.items()}
        targets = combine_targets(sources, self.targets)
        return {"mixture": torch.from_numpy(mixture), "targets": torch.from_numpy(targets), "id": track.name}
