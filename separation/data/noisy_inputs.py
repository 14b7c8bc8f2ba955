"""The noisy corpus's inputs, read and checked before anything is written: clean speech and noise recordings.

Clean speech comes from the generated speech corpus (`separation data speech`,
the `s1..sN` files of its `Libri{n}Mix` folders, whose splits already have
disjoint speakers) or from any folder of wavs, whose speakers are read off the
paths (`speaker_of`) and dealt to the splits 80/10/10. Every utterance is
resampled to the corpus rate when needed and trimmed of leading and trailing
silence. Music tracks, noise recordings and ambient scenes are dealt to the
splits the same way, so no recording is heard in two splits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from separation.data.audio import audio_info, read_wav
from separation.data.corpus_errors import NoisyCorpusError
from separation.data.noisy_format import SPLITS
from separation.data.recorded_noise import AMBIENT_SOURCES, ambient_scenes, source_name
from separation.data.signal import resample, trim_silence

SPLIT_SHARES = (0.8, 0.1, 0.1)
MIN_SECONDS = 0.1  # shorter utterances (after trimming) carry no speech worth denoising
MUSIC_STEMS = ("drums", "bass", "other")
NOISE_SUFFIXES = (".wav", ".flac")
# The generated speech corpus's split folders, in our split order.
SPEECH_CORPUS_SPLITS = ("train-100", "dev", "test")


@dataclass(frozen=True)
class CleanUtterance:
    """One clean utterance read for the noisy corpus: trimmed float64 audio at the corpus rate."""

    id: str
    speaker: str
    source: str
    audio: np.ndarray
    source_rate: int  # of the file read; below the corpus rate the top band is empty


@dataclass(frozen=True)
class Recording:
    """One noise recording (music accompaniment or a noise file): mono float64 at the corpus rate."""

    source: str
    audio: np.ndarray


def _read_mono(path: Path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Audio `(time,)` (channels averaged) and its rate; AudioError naming the file otherwise."""
    rate = audio_info(path).samplerate
    data = read_wav(path, sample_rate=sample_rate)
    return (data.mean(axis=0) if data.ndim == 2 else data).astype(np.float64), rate


def speaker_of(path: Path, root: Path) -> str:
    """Speaker of a wav in a plain folder: its first sub-folder, else its name up to '-' or '_'.

    `root/p226/p226_001.wav` and `root/p226_001.wav` both give `p226`;
    LibriSpeech's `root/19/198/19-198-0001.wav` gives `19`.
    """
    relative = path.relative_to(root)
    if len(relative.parts) > 1:
        return relative.parts[0]
    return re.split(r"[-_]", path.stem, maxsplit=1)[0]


def _speech_corpus_folders(root: Path) -> list[Path]:
    """`Libri{n}Mix/wav{k}k/{mode}` folders of a generated speech corpus (max mode first: untruncated)."""
    folders = [f for f in sorted(root.glob("Libri*Mix/wav*k/*")) if (f / SPEECH_CORPUS_SPLITS[0]).is_dir()]
    return sorted(folders, key=lambda f: (f.name != "max", str(f)))


def _prepare(signal: np.ndarray, rate: int, sample_rate: int) -> np.ndarray:
    return trim_silence(resample(signal, rate, sample_rate), sample_rate)


def _corpus_utterances(folder: Path, sample_rate: int) -> dict[str, list[CleanUtterance]]:
    """Utterances of a generated speech corpus per split; an utterance heard in several mixtures is kept once.

    A source file `s{k}/<mixture_id>.wav` holds utterance k of the mixture id
    (ids `speaker-chapter-utt` joined by `_`); the longest trimmed copy is kept.
    """
    splits = {}
    for ours, theirs in zip(SPLITS, SPEECH_CORPUS_SPLITS):
        best: dict[str, CleanUtterance] = {}
        for source_folder in sorted((folder / theirs).glob("s[0-9]*")):
            k = int(source_folder.name[1:])
            for path in sorted(source_folder.glob("*.wav")):
                tokens = path.stem.split("_")
                if len(tokens) < k:
                    raise NoisyCorpusError(f"{path}: name is not a mixture id of {k}+ utterances joined by '_'")
                utterance = tokens[k - 1]
                signal, rate = _read_mono(path)
                audio = _prepare(signal, rate, sample_rate)
                if utterance not in best or len(audio) > len(best[utterance].audio):
                    best[utterance] = CleanUtterance(utterance, utterance.split("-")[0], str(path), audio, rate)
        splits[ours] = [best[u] for u in sorted(best)]
    return splits


def _folder_utterances(root: Path, sample_rate: int, seed: int) -> dict[str, list[CleanUtterance]]:
    """Utterances of a folder of wavs, speakers dealt to the splits 80/10/10 (at least one each)."""
    paths = sorted(root.rglob("*.wav"))
    if not paths:
        raise NoisyCorpusError(f"{root}: no .wav files (speech folder)")
    by_speaker: dict[str, list[Path]] = {}
    for path in paths:
        by_speaker.setdefault(speaker_of(path, root), []).append(path)
    speakers = sorted(by_speaker)
    shares = _deal(speakers, np.random.default_rng([seed, 10]), f"{root} (speech folder)", "speakers")
    splits = {}
    for split, group in shares.items():
        items = []
        for speaker in group:
            for path in by_speaker[speaker]:
                signal, rate = _read_mono(path)
                ident = re.sub(r"[^A-Za-z0-9.-]+", "-", str(path.relative_to(root).with_suffix("")))
                items.append(CleanUtterance(ident, speaker, str(path), _prepare(signal, rate, sample_rate), rate))
        splits[split] = items
    return splits


def _deal(names: list[str], rng: np.random.Generator, what: str, noun: str) -> dict[str, list[str]]:
    """Deal `names` to the splits by SPLIT_SHARES, at least one each, in a seeded random order."""
    if len(names) < len(SPLITS):
        raise NoisyCorpusError(
            f"{what}: {len(names)} {noun}, need at least {len(SPLITS)} so train, valid and test get disjoint ones"
        )
    order = [names[i] for i in rng.permutation(len(names))]
    valid = max(1, round(len(names) * SPLIT_SHARES[1]))
    test = max(1, round(len(names) * SPLIT_SHARES[2]))
    train = len(names) - valid - test  # >= 1: there are at least three names
    return {"train": sorted(order[:train]), "valid": sorted(order[train : train + valid]),
            "test": sorted(order[train + valid :])}


def load_speech(speech: str | Path, sample_rate: int, seed: int) -> dict[str, list[CleanUtterance]]:
    """Clean utterances per split from a generated speech corpus root or a folder of wavs."""
    root = Path(speech)
    if not root.is_dir():
        raise NoisyCorpusError(f"{root}: no such speech folder")
    folders = _speech_corpus_folders(root)
    splits = _corpus_utterances(folders[0], sample_rate) if folders else _folder_utterances(root, sample_rate, seed)
    for split, utterances in splits.items():
        kept = [u for u in utterances if len(u.audio) >= MIN_SECONDS * sample_rate]
        if not kept:
            raise NoisyCorpusError(f"{root}: no utterance of at least {MIN_SECONDS} s of speech in split '{split}'")
        splits[split] = kept
    return splits


def _checked_recording(path: Path, sample_rate: int) -> Recording:
    """A noise file at exactly `sample_rate` (resampling would hide a wrong file), channels averaged."""
    signal, _ = _read_mono(path, sample_rate)
    if not np.any(np.abs(signal) > 1e-5):
        raise NoisyCorpusError(f"{path}: noise recording is silent")
    return Recording(str(path), signal)


def load_noise_folder(folder: str | Path, sample_rate: int, seed: int) -> dict[str, list[Recording]]:
    """Noise recordings per split; each must be readable, at `sample_rate` and not silent."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NoisyCorpusError(f"{folder}: no such noise folder")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in NOISE_SUFFIXES and p.is_file())
    if not paths:
        raise NoisyCorpusError(f"{folder}: noise folder holds no {' or '.join(NOISE_SUFFIXES)} files")
    recordings = {str(p): _checked_recording(p, sample_rate) for p in paths}  # all checked before dealing
    shares = _deal(sorted(recordings), np.random.default_rng([seed, 11]), f"{folder} (noise folder)", "recordings")
    return {split: [recordings[name] for name in names] for split, names in shares.items()}


def load_ambient(sample_rate: int, seed: int, sources=AMBIENT_SOURCES) -> dict[str, list[Recording]]:
    """The installed ambient recordings per split, resampled; scenes (not files) dealt 80/10/10."""
    scenes = ambient_scenes(sources)
    recordings = {}
    for name, takes in scenes.items():
        for package, path in takes:
            signal, rate = _read_mono(path)
            audio = resample(signal, rate, sample_rate)
            if np.any(np.abs(audio) > 1e-5):  # a silent take would make no noise at any gain
                recordings.setdefault(name, []).append(Recording(source_name(package, path), audio))
    shares = _deal(sorted(recordings), np.random.default_rng([seed, 13]), "ambient recordings", "scenes")
    return {split: [r for name in names for r in recordings[name]] for split, names in shares.items()}


def load_music(folder: str | Path, sample_rate: int, seed: int) -> dict[str, list[Recording]]:
    """Accompaniment (drums + bass + other stems, else the mixture) of each music-corpus track, per split.

    The generated music corpus's vocals are voice-like instruments; leaving
    them out keeps `music` a different kind of noise from `babble`.
    """
    folder = Path(folder)
    tracks = sorted(t for split in ("train", "test") for t in (folder / split).glob("*") if t.is_dir())
    if not tracks:
        raise NoisyCorpusError(f"{folder}: no music corpus tracks under train/ or test/ (see `separation data music`)")
    recordings = {}
    for track in tracks:
        stems = [track / f"{stem}.wav" for stem in MUSIC_STEMS]
        parts = stems if all(p.is_file() for p in stems) else [track / "mixture.wav"]
        signals = [_read_mono(p) for p in parts]
        lengths = {len(s) for s, _ in signals}
        if len(lengths) != 1 or len({r for _, r in signals}) != 1:
            raise NoisyCorpusError(f"{track}: stems differ in length or sample rate")
        total = np.sum([s for s, _ in signals], axis=0)
        audio = resample(total, signals[0][1], sample_rate)
        if not np.any(np.abs(audio) > 1e-5):
            raise NoisyCorpusError(f"{track}: music track is silent")
        recordings[str(track)] = Recording(str(track), audio)
    shares = _deal(sorted(recordings), np.random.default_rng([seed, 12]), f"{folder} (music corpus)", "tracks")
    return {split: [recordings[name] for name in names] for split, names in shares.items()}
