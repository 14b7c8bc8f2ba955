"""An offline noisy-speech corpus for speech enhancement: clean utterances plus noise at a drawn SNR.

Layout (16-bit mono wav at `sample_rate`; paths in the csv files are relative
to the split folder, so the corpus can be moved)::

    ROOT/corpus.json                 parameters, inputs and per-split counts
    ROOT/{train,valid,test}/
        clean/<id>.wav  noise/<id>.wav  noisy/<id>.wav   noisy == clean + noise, exactly
        noise_only/<id>.wav            train only: another clip of the same noise kind
        metadata.csv                   one row per item (columns in METADATA_COLUMNS)

Clean speech comes from the generated speech corpus (`separation data speech`,
the `s1..sN` files of its `Libri{n}Mix` folders, whose splits already have
disjoint speakers) or from any folder of wavs, whose speakers are read off the
paths (`speaker_of`) and dealt to the splits 80/10/10. Every utterance is
resampled to `sample_rate` when needed, trimmed of leading and trailing silence
and set to a random RMS level in [-33, -25] dBFS.

Noise kinds: `white`, `pink`, `brown` (Gaussian noise with a 1/f^0, 1/f, 1/f^2
power spectrum), `hum` (50 or 60 Hz mains hum with decaying harmonics),
`babble` (3-6 other talkers of the same split), `ambient` (recordings of
traffic, crowds, water, machinery and other places that Debian packages ship:
`separation.data.recorded_noise`, resampled to the corpus rate), `music`
(accompaniment stems of the generated music corpus, `--music DIR`) and
`recorded` (any folder of noise recordings, `--noise DIR`). Generated noise is
a fresh instance per item; music tracks, noise recordings and ambient scenes
are dealt to the splits, so no recording is heard in two splits; babble
talkers belong to the item's split. Recordings shorter than an utterance wrap
around their end from `noise_offset`. The default kinds are the generated ones,
babble and ambient (plus music / recorded when their folders are given): a
missing ambient package is an error naming it, not a silent change of corpus.

The noise is scaled so that 10 log10(|clean|^2 / |noise|^2) is the item's SNR,
drawn uniformly from `snr_range` (default -5 to 20 dB, the range of DNS-style
test sets; VoiceBank-DEMAND uses 0-15 dB). corpus.json records the range and
each split's drawn SNRs (`snr_db`: count, mean, min, quartiles, max). Each training item also gets a noise-only
clip of the same kind and RMS from another instance (another recording, other
talkers or another generated instance; a different offset when a split has a
single recording) for weakly supervised objectives. Everything is scaled down
together when a signal would peak above 0.9, and clean and noise are rounded
to the 16-bit grid before they are summed.

`metadata.csv` columns: `id`; `speaker`, `utterance` and `clean_source` (the
file it was read from); `noise_kind`; `noise_source` (recording path, babble
source files joined by `;`, `<package>:<path>` for ambient recordings, or `generated:<kind>`) and `noise_offset` (first
sample used, at the corpus rate: into the recording, resampled for music, or
into each trimmed babble utterance, `;`-joined; empty for generated noise);
`snr_db` (drawn); `clean_level_db` (RMS dBFS of the written clean file);
`length` (samples); `clean_path`, `noise_path`, `noisy_path`, `noise_only_path`
(relative to the split folder; the last empty outside train); and
`noise_only_source` / `noise_only_offset` as for the mixture's noise.

Everything is a pure function of the seed and the inputs. The corpus is built
in a temporary folder beside ROOT and renamed into place at the end; every
input is read and checked before anything is written. Replacing a corpus
(`force`) replaces its split folders and corpus.json only, and only when they
hold nothing but the corpus's files: anything else in ROOT (a speech corpus
given as `--speech`, the user's notes) is kept.
"""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from separation.data.audio import audio_info, quantize_pcm16, read_wav, wav_bytes
from separation.data.recorded_noise import AMBIENT_SOURCES, ambient_scenes, source_name
from separation.data.speech_corpus import set_level, trim_silence
from separation.errors import UserError
from separation.outputs import refuse_foreign, replace_entries

SPLITS = ("train", "valid", "test")
SPLIT_SHARES = (0.8, 0.1, 0.1)
GENERATED_KINDS = ("white", "pink", "brown", "hum")
NOISE_KINDS = GENERATED_KINDS + ("babble", "ambient", "music", "recorded")
DEFAULT_SNR = (-5.0, 20.0)
CLEAN_LEVEL_DB = (-33.0, -25.0)
PEAK = 0.9
MIN_SECONDS = 0.1  # shorter utterances (after trimming) carry no speech worth denoising
BABBLE_TALKERS = (3, 6)
MUSIC_STEMS = ("drums", "bass", "other")
NOISE_SUFFIXES = (".wav", ".flac")
CORPUS_FILE = "corpus.json"
CORPUS_FORMAT = "separation-noisy-corpus"
METADATA_COLUMNS = (
    "id", "speaker", "utterance", "clean_source", "noise_kind", "noise_source", "noise_offset",
    "snr_db", "clean_level_db", "length", "clean_path", "noise_path", "noisy_path",
    "noise_only_path", "noise_only_source", "noise_only_offset",
)
# The generated speech corpus's split folders, in our split order.
SPEECH_CORPUS_SPLITS = ("train-100", "dev", "test")


class NoisyCorpusError(UserError):
    """The noisy corpus cannot be generated as asked (one-line message naming the input)."""


@dataclass(frozen=True)
class Utterance:
    """One clean utterance: trimmed float64 audio at the corpus rate."""

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


@dataclass(frozen=True)
class NoiseClip:
    """A noise signal with where it came from (`source`: file path(s) or `generated:<kind>`)."""

    signal: np.ndarray
    source: str
    offset: str  # samples into the source; ';'-joined for babble; '' for generated noise


# ---------------------------------------------------------------------------
# Inputs


def _resample(signal: np.ndarray, rate: int, sample_rate: int) -> np.ndarray:
    if rate == sample_rate:
        return signal.astype(np.float64)
    common = math.gcd(rate, sample_rate)
    return resample_poly(signal.astype(np.float64), sample_rate // common, rate // common)


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
    return trim_silence(_resample(signal, rate, sample_rate), sample_rate)


def _corpus_utterances(folder: Path, sample_rate: int) -> dict[str, list[Utterance]]:
    """Utterances of a generated speech corpus per split; an utterance heard in several mixtures is kept once.

    A source file `s{k}/<mixture_id>.wav` holds utterance k of the mixture id
    (ids `speaker-chapter-utt` joined by `_`); the longest trimmed copy is kept.
    """
    splits = {}
    for ours, theirs in zip(SPLITS, SPEECH_CORPUS_SPLITS):
        best: dict[str, Utterance] = {}
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
                    best[utterance] = Utterance(utterance, utterance.split("-")[0], str(path), audio, rate)
        splits[ours] = [best[u] for u in sorted(best)]
    return splits


def _folder_utterances(root: Path, sample_rate: int, seed: int) -> dict[str, list[Utterance]]:
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
                items.append(Utterance(ident, speaker, str(path), _prepare(signal, rate, sample_rate), rate))
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


def load_speech(speech: str | Path, sample_rate: int, seed: int) -> dict[str, list[Utterance]]:
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
            audio = _resample(signal, rate, sample_rate)
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
        audio = _resample(total, signals[0][1], sample_rate)
        if not np.any(np.abs(audio) > 1e-5):
            raise NoisyCorpusError(f"{track}: music track is silent")
        recordings[str(track)] = Recording(str(track), audio)
    shares = _deal(sorted(recordings), np.random.default_rng([seed, 12]), f"{folder} (music corpus)", "tracks")
    return {split: [recordings[name] for name in names] for split, names in shares.items()}


# ---------------------------------------------------------------------------
# Noise


def coloured_noise(rng: np.random.Generator, length: int, sample_rate: int, exponent: float) -> np.ndarray:
    """Gaussian noise `(length,)` with power spectrum ~ 1/f^exponent (0 white, 1 pink, 2 brown).

    Below 20 Hz the spectrum is held flat so brown noise has no huge DC drift.
    """
    spectrum = np.fft.rfft(rng.standard_normal(length))
    freqs = np.fft.rfftfreq(length, 1.0 / sample_rate)
    shape = np.maximum(freqs, 20.0) ** (-exponent / 2)
    shape[0] = 0.0
    return np.fft.irfft(spectrum * shape, n=length)


def mains_hum(rng: np.random.Generator, length: int, sample_rate: int) -> np.ndarray:
    """50 or 60 Hz hum `(length,)`: harmonics up to 4 kHz with random decaying amplitudes and phases."""
    f0 = float(rng.choice([50.0, 60.0])) * (1 + rng.uniform(-0.002, 0.002))
    time = np.arange(length) / sample_rate
    harmonics = np.arange(1, int(min(4000.0, 0.45 * sample_rate) // f0) + 1)
    decay = rng.uniform(0.5, 1.5)
    amplitudes = rng.uniform(0.3, 1.0, size=len(harmonics)) / harmonics**decay
    phases = rng.uniform(0, 2 * np.pi, size=len(harmonics))
    return (amplitudes[:, None] * np.sin(2 * np.pi * f0 * harmonics[:, None] * time + phases[:, None])).sum(0)


def _wrap(audio: np.ndarray, offset: int, length: int) -> np.ndarray:
    return np.take(audio, np.arange(offset, offset + length), mode="wrap")


def _rms(signal: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(signal))))


def _offset_away(rng: np.random.Generator, size: int, length: int, avoid: int | None) -> int:
    """A random start in a recording of `size` samples, not overlapping `[avoid, avoid+length)` when it fits."""
    if avoid is None or size < 2 * length:
        offset = int(rng.integers(0, size))
        return (offset + size // 2) % size if avoid is not None and offset == avoid else offset
    return int((avoid + length + rng.integers(0, size - 2 * length + 1)) % size)


def _babble(rng, length, talkers: list[Utterance], exclude: set[str]) -> NoiseClip:
    candidates = [u for u in talkers if u.speaker not in exclude] or talkers
    by_speaker: dict[str, list[Utterance]] = {}
    for u in candidates:
        by_speaker.setdefault(u.speaker, []).append(u)
    speakers = sorted(by_speaker)
    count = min(len(speakers), int(rng.integers(BABBLE_TALKERS[0], BABBLE_TALKERS[1] + 1)))
    chosen = [speakers[i] for i in rng.choice(len(speakers), size=count, replace=False)]
    signal = np.zeros(length)
    sources, offsets = [], []
    for speaker in chosen:
        utterance = by_speaker[speaker][int(rng.integers(len(by_speaker[speaker])))]
        offset = int(rng.integers(0, len(utterance.audio)))
        part = _wrap(utterance.audio, offset, length)
        signal += part * (10 ** (rng.uniform(-3.0, 3.0) / 20) / max(_rms(part), 1e-9))
        sources.append(utterance.source)
        offsets.append(str(offset))
    return NoiseClip(signal, ";".join(sources), ";".join(offsets))


def draw_noise(
    kind: str,
    rng: np.random.Generator,
    length: int,
    sample_rate: int,
    talkers: list[Utterance],
    recordings: dict[str, list[Recording]],
    avoid: NoiseClip | None = None,
    exclude_speakers: frozenset[str] = frozenset(),
) -> NoiseClip:
    """A noise clip `(length,)` of one kind from one split's sources, a different instance from `avoid`."""
    if kind in ("white", "pink", "brown"):
        exponent = {"white": 0.0, "pink": 1.0, "brown": 2.0}[kind]
        return NoiseClip(coloured_noise(rng, length, sample_rate, exponent), f"generated:{kind}", "")
    if kind == "hum":
        return NoiseClip(mains_hum(rng, length, sample_rate), "generated:hum", "")
    if kind == "babble":
        # The noise-only clip avoids the talkers of the mixture's babble as well as the target speaker.
        used = set(exclude_speakers)
        if avoid is not None:
            heard = set(avoid.source.split(";"))
            used |= {u.speaker for u in talkers if u.source in heard}
        return _babble(rng, length, talkers, used)
    pool = recordings[kind]
    others = [r for r in pool if avoid is None or r.source != avoid.source]
    recording = (others or pool)[int(rng.integers(len(others or pool)))]
    same = avoid is not None and recording.source == avoid.source
    offset = _offset_away(rng, len(recording.audio), length, int(avoid.offset) if same else None)
    return NoiseClip(_wrap(recording.audio, offset, length), recording.source, str(offset))


# ---------------------------------------------------------------------------
# Items


@dataclass(frozen=True)
class _Item:
    row: dict
    signals: dict[str, np.ndarray]  # folder name -> 16-bit-grid signal


def _kind_schedule(rng: np.random.Generator, kinds: Sequence[str], count: int) -> list[str]:
    """`count` kinds, every kind equally often up to one, in random order."""
    rounds = -(-count // len(kinds))
    return [kinds[i] for r in range(rounds) for i in rng.permutation(len(kinds))][:count]


def make_item(
    seed: int,
    split_index: int,
    index: int,
    utterance: Utterance,
    kind: str,
    snr_range: tuple[float, float],
    sample_rate: int,
    talkers: list[Utterance],
    recordings: dict[str, list[Recording]],
    noise_only: bool,
) -> _Item:
    """One item: clean at a random level, noise at a random SNR, optionally a noise-only clip."""
    rng = np.random.default_rng([seed, 20, split_index, index])
    snr = float(rng.uniform(*snr_range))
    level = float(rng.uniform(*CLEAN_LEVEL_DB))
    clean = set_level(utterance.audio, level)
    length = len(clean)
    exclude = frozenset({utterance.speaker})
    clip = draw_noise(kind, rng, length, sample_rate, talkers, recordings, exclude_speakers=exclude)
    gain = math.sqrt(np.sum(clean**2) / (max(np.sum(clip.signal**2), 1e-20) * 10 ** (snr / 10)))
    noise = clip.signal * gain
    parts = {"clean": clean, "noise": noise}
    other = None
    if noise_only:
        other = draw_noise(kind, np.random.default_rng([seed, 21, split_index, index]), length, sample_rate,
                           talkers, recordings, avoid=clip, exclude_speakers=exclude)
        parts["noise_only"] = other.signal * (_rms(noise) / max(_rms(other.signal), 1e-12))
    peak = max([np.abs(p).max() for p in parts.values()] + [np.abs(clean + noise).max()])
    scale = min(1.0, PEAK / peak)
    signals = {name: quantize_pcm16(p * scale).astype(np.float64) for name, p in parts.items()}
    # Sums of 16-bit values are exact, so the written noisy file is exactly clean + noise.
    signals["noisy"] = signals["clean"] + signals["noise"]
    ident = f"{index:05d}_{utterance.id}"
    row = {
        "id": ident, "speaker": utterance.speaker, "utterance": utterance.id, "clean_source": utterance.source,
        "noise_kind": kind, "noise_source": clip.source, "noise_offset": clip.offset, "snr_db": f"{snr:.4f}",
        "clean_level_db": f"{level + 20 * math.log10(scale):.4f}", "length": length,
        "clean_path": f"clean/{ident}.wav", "noise_path": f"noise/{ident}.wav", "noisy_path": f"noisy/{ident}.wav",
        "noise_only_path": f"noise_only/{ident}.wav" if noise_only else "",
        "noise_only_source": other.source if other else "", "noise_only_offset": other.offset if other else "",
    }
    return _Item(row, signals)


def _write_split(folder: Path, items: list[_Item], sample_rate: int) -> None:
    for item in items:
        for name, signal in item.signals.items():
            (folder / name).mkdir(parents=True, exist_ok=True)
            # The staging tree is renamed into place as a whole: no per-file atomicity needed.
            (folder / name / f"{item.row['id']}.wav").write_bytes(wav_bytes(signal, sample_rate, "PCM_16"))
    with open(folder / "metadata.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=METADATA_COLUMNS)
        writer.writeheader()
        writer.writerows(item.row for item in items)


# ---------------------------------------------------------------------------
# Entry points


def _check_options(sample_rate: int, snr_range: Sequence[float], counts: Sequence[int | None]) -> tuple[float, float]:
    if not isinstance(sample_rate, int) or sample_rate < 8000:
        raise NoisyCorpusError(f"sample_rate must be an integer of at least 8000 Hz, got {sample_rate}")
    if len(snr_range) != 2 or not all(math.isfinite(float(v)) for v in snr_range):
        raise NoisyCorpusError(f"snr range must be two finite numbers (min max) in dB, got {list(snr_range)}")
    low, high = float(snr_range[0]), float(snr_range[1])
    if low > high:
        raise NoisyCorpusError(f"snr range min {low:g} dB is above max {high:g} dB (expected --snr MIN MAX)")
    if any(c is not None and c < 1 for c in counts):
        raise NoisyCorpusError(f"item counts per split must be positive, got {list(counts)}")
    return low, high


ENTRIES = (*SPLITS, CORPUS_FILE)  # what the corpus is, in ROOT; the description last
WHAT = "a generated noisy corpus (its split folders hold only <kind>/<id>.wav and metadata.csv)"


def _corpus_file(relative) -> bool:
    """A file `force` may replace: corpus.json, a split's metadata.csv, or its wavs one folder down."""
    parts = relative.parts
    if parts == (CORPUS_FILE,):
        return True
    return len(parts) >= 2 and parts[0] in SPLITS and (
        parts[1:] == ("metadata.csv",) or (len(parts) == 3 and relative.suffix == ".wav"))


def generate_noisy_corpus(
    root: str | Path,
    speech: str | Path,
    sample_rate: int = 16000,
    snr_range: tuple[float, float] = DEFAULT_SNR,
    noise_dir: str | Path | None = None,
    music_dir: str | Path | None = None,
    kinds: Sequence[str] | None = None,
    seed: int = 0,
    items: tuple[int | None, int | None, int | None] = (None, None, None),
    force: bool = False,
    log: Callable[[str], None] | None = print,
) -> dict[str, dict[str, float]]:
    """Build the noisy corpus under `root` (layout in the module docstring).

    Args:
        root: the corpus folder to create; it must not exist unless `force`.
        speech: a generated speech corpus root (`Libri{n}Mix/...`) or any folder of wavs.
        sample_rate: corpus rate; speech and music are resampled to it, noise
            recordings must already use it.
        snr_range: (min, max) dB; each item's SNR is drawn uniformly from it.
        noise_dir: folder of noise recordings (kind `recorded`), at least 3 files.
        music_dir: generated music corpus root (kind `music`), at least 3 tracks.
        kinds: noise kinds to use (default: white, pink, brown, hum, babble, ambient, plus
            music / recorded when their folders are given); each split uses them equally often.
        seed: fixes every draw: same seed and inputs, same bytes.
        items: items per (train, valid, test); None uses each clean utterance once.
        force: replace an existing `root`.
        log: called with one summary line per split; None for silence.

    Returns:
        `{"train": {"items": 480, "speakers": 40, "hours": 0.5}, ...}`.
    """
    low, high = _check_options(sample_rate, snr_range, items)
    root = Path(root).resolve()
    if root.exists() and not force:
        raise NoisyCorpusError(f"{root}: already exists; pass force=True (CLI: --force) to replace it")
    refuse_foreign(root, ENTRIES, _corpus_file, WHAT)  # before anything is read or made
    default = list(GENERATED_KINDS) + ["babble", "ambient"] + (["music"] if music_dir else []) + (["recorded"] if noise_dir else [])
    kinds = list(default if kinds is None else kinds)
    if not kinds or any(k not in NOISE_KINDS for k in kinds) or len(set(kinds)) != len(kinds):
        raise NoisyCorpusError(f"noise kinds must be distinct names from {', '.join(NOISE_KINDS)}, got {kinds}")
    if "music" in kinds and music_dir is None:
        raise NoisyCorpusError("noise kind 'music' needs a music corpus (CLI: --music DIR)")
    if "recorded" in kinds and noise_dir is None:
        raise NoisyCorpusError("noise kind 'recorded' needs a noise folder (CLI: --noise DIR)")

    # Read and check every input before writing anything.
    recordings: dict[str, dict[str, list[Recording]]] = {split: {} for split in SPLITS}
    if "recorded" in kinds:
        for split, pool in load_noise_folder(noise_dir, sample_rate, seed).items():
            recordings[split]["recorded"] = pool
    if "ambient" in kinds:
        for split, pool in load_ambient(sample_rate, seed).items():
            recordings[split]["ambient"] = pool
    if "music" in kinds:
        for split, pool in load_music(music_dir, sample_rate, seed).items():
            recordings[split]["music"] = pool
    speech_splits = load_speech(speech, sample_rate, seed)
    lowest = min(u.source_rate for utterances in speech_splits.values() for u in utterances)
    if lowest < sample_rate and log is not None:
        log(f"note: {speech} holds speech at {lowest} Hz; resampled to {sample_rate} Hz it has nothing above "
            f"{lowest // 2} Hz (`separation data speech DIR --sample-rate {sample_rate}` makes full-band speech)")
    if "babble" in kinds:
        for split, utterances in speech_splits.items():
            if len({u.speaker for u in utterances}) < 2:
                raise NoisyCorpusError(f"{speech}: split '{split}' has one speaker; babble needs at least two")

    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    summary, snrs = {}, {}
    try:
        for split_index, split in enumerate(SPLITS):
            utterances = speech_splits[split]
            count = items[split_index] or len(utterances)
            rng = np.random.default_rng([seed, 30, split_index])
            order = [utterances[i] for _ in range(-(-count // len(utterances))) for i in rng.permutation(len(utterances))]
            schedule = _kind_schedule(rng, kinds, count)
            made = [
                make_item(seed, split_index, index, order[index], schedule[index], (low, high), sample_rate,
                          utterances, recordings[split], noise_only=split == "train")
                for index in range(count)
            ]
            _write_split(staging / split, made, sample_rate)
            hours = sum(item.row["length"] for item in made) / sample_rate / 3600
            speakers = len({item.row["speaker"] for item in made})
            summary[split] = {"items": count, "speakers": speakers, "hours": hours}
            snrs[split] = snr_distribution([float(item.row["snr_db"]) for item in made])
            if log is not None:
                log(f"{root / split}: {count} items, {speakers} speakers, {hours:.2f} h")
        description = {
            "format": CORPUS_FORMAT, "version": 1, "sample_rate": sample_rate, "snr_range": [low, high],
            "seed": seed, "kinds": kinds, "speech": str(Path(speech).resolve()),
            "noise": str(Path(noise_dir).resolve()) if noise_dir else None,
            "music": str(Path(music_dir).resolve()) if music_dir else None, "splits": summary,
            "snr_db": snrs,
            "ambient": {split: sorted({r.source for r in recordings[split].get("ambient", [])}) for split in SPLITS}
            if "ambient" in kinds else None,
        }
        (staging / CORPUS_FILE).write_text(json.dumps(description, indent=2) + "\n")
        replace_entries(staging, root, ENTRIES, _corpus_file, WHAT)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return summary


def snr_distribution(values: Sequence[float]) -> dict[str, float]:
    """Count, mean, min, quartiles and max of a split's drawn SNRs (dB, 2 decimals)."""
    q = np.quantile(np.asarray(values, dtype=float), [0.0, 0.25, 0.5, 0.75, 1.0])
    stats = {"mean": float(np.mean(values)), "min": q[0], "q1": q[1], "median": q[2], "q3": q[3], "max": q[4]}
    return {"count": len(values), **{key: round(float(value), 2) for key, value in stats.items()}}


DEFAULT_SPEECH = "data/speech"


def data_noisy(
    root: str,
    sample_rate: int = 16000,
    snr: Sequence[float] = DEFAULT_SNR,
    speech: str | None = None,
    noise: str | None = None,
    music: str | None = None,
    seed: int = 0,
    kinds: Sequence[str] | None = None,
    force: bool = False,
    log: Callable[[str], None] | None = print,
) -> dict[str, dict[str, float]]:
    """`separation data noisy ROOT [--sample-rate 16000] [--snr -5 20] [--speech DIR] [--noise DIR] [--music DIR]
    [--kinds KIND ...]`.

    Arguments as the CLI parses them (`snr` is the two values of `--snr`);
    `speech` defaults to the generated speech corpus at `data/speech`.
    Raises NoisyCorpusError (a UserError) with one line naming the bad input.
    """
    speech = speech or DEFAULT_SPEECH
    if not Path(speech).is_dir():
        hint = " (generate it with `separation data speech data/speech` or pass --speech DIR)" if speech == DEFAULT_SPEECH else ""
        raise NoisyCorpusError(f"{speech}: no such speech folder{hint}")
    for flag, folder in (("--noise", noise), ("--music", music)):
        if folder is not None and not Path(folder).is_dir():
            raise NoisyCorpusError(f"{folder}: no such folder ({flag})")
    return generate_noisy_corpus(root, speech, sample_rate=sample_rate, snr_range=tuple(snr), noise_dir=noise,
                                 music_dir=music, kinds=kinds, seed=seed, force=force, log=log)


def read_metadata(split_folder: str | Path) -> list[dict[str, str]]:
    """Rows of a split's `metadata.csv` (all values as strings)."""
    path = Path(split_folder) / "metadata.csv"
    if not path.is_file():
        raise NoisyCorpusError(f"{path}: no such file (not a noisy corpus split; see `separation data noisy`)")
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    missing = [c for c in METADATA_COLUMNS if rows and c not in rows[0]]
    if missing:
        raise NoisyCorpusError(f"{path}: missing column(s) {', '.join(missing)}")
    return rows


__all__ = [
    "NOISE_KINDS", "SPLITS", "METADATA_COLUMNS", "NoisyCorpusError",
    "generate_noisy_corpus", "data_noisy", "read_metadata", "speaker_of",
]
