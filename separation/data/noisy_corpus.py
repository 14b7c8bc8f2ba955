"""An offline noisy-speech corpus for speech enhancement: clean utterances plus noise at a drawn SNR.

The corpus's layout and metadata columns are `noisy_format`'s; its inputs
(clean speech, noise recordings, music, ambient scenes) are read by
`noisy_inputs` and its noise clips drawn by `noise_kinds`. This module makes
the items and writes the corpus.

Every clean utterance is set to a random RMS level in [-33, -25] dBFS. The
noise is scaled so that 10 log10(|clean|^2 / |noise|^2) is the item's SNR,
drawn uniformly from `snr_range` (default -5 to 20 dB, the range of DNS-style
test sets; VoiceBank-DEMAND uses 0-15 dB). corpus.json records the range and
each split's drawn SNRs (`snr_db`: count, mean, min, quartiles, max). Each
training item also gets a noise-only clip of the same kind and RMS from another
instance, for weakly supervised objectives. Everything is scaled down together
when a signal would peak above `signal.PEAK`, and clean and noise are rounded
to the 16-bit grid before they are summed. The default kinds are the generated
ones, babble and ambient (plus music / recorded when their folders are given):
a missing ambient package is an error naming it, not a silent change of corpus.

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
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from separation.data.audio import quantize_pcm16, wav_bytes
from separation.data.corpus_errors import NoisyCorpusError
from separation.data.noise_kinds import GENERATED_KINDS, NOISE_KINDS, draw_noise
from separation.data.noisy_format import CORPUS_FILE, CORPUS_FORMAT, METADATA_COLUMNS, SPLITS, read_metadata
from separation.data.noisy_inputs import (
    CleanUtterance,
    Recording,
    load_ambient,
    load_music,
    load_noise_folder,
    load_speech,
    speaker_of,
)
from separation.data.signal import peak_gain, rms, set_level
from separation.outputs import refuse_foreign, replace_entries

# The generator's API, and the names readers imported from here before `noisy_format` existed.
__all__ = [
    "CORPUS_FILE", "CORPUS_FORMAT", "GENERATED_KINDS", "METADATA_COLUMNS", "NOISE_KINDS", "SPLITS",
    "NoisyCorpusError", "NoisyCorpusOptions", "data_noisy", "generate_noisy_corpus", "read_metadata", "speaker_of",
]

DEFAULT_SNR = (-5.0, 20.0)
CLEAN_LEVEL_DB = (-33.0, -25.0)


@dataclass(frozen=True)
class NoisyCorpusOptions:
    """What corpus to make from the given speech: every choice that changes its bytes.

    Attributes:
        sample_rate: corpus rate; speech and music are resampled to it, noise
            recordings must already use it.
        snr_range: (min, max) dB; each item's SNR is drawn uniformly from it.
        noise_dir: folder of noise recordings (kind `recorded`), at least 3 files.
        music_dir: generated music corpus root (kind `music`), at least 3 tracks.
        kinds: noise kinds to use (default: white, pink, brown, hum, babble, ambient, plus
            music / recorded when their folders are given); each split uses them equally often.
        seed: fixes every draw: same seed and inputs, same bytes.
        items: items per (train, valid, test); None uses each clean utterance once.
    """

    sample_rate: int = 16000
    snr_range: tuple[float, float] = DEFAULT_SNR
    noise_dir: str | Path | None = None
    music_dir: str | Path | None = None
    kinds: Sequence[str] | None = None
    seed: int = 0
    items: tuple[int | None, int | None, int | None] = (None, None, None)

    def __post_init__(self) -> None:
        sample_rate, snr_range, counts = self.sample_rate, self.snr_range, self.items
        if not isinstance(sample_rate, int) or sample_rate < 8000:
            raise NoisyCorpusError(f"sample_rate must be an integer of at least 8000 Hz, got {sample_rate}")
        if len(snr_range) != 2 or not all(math.isfinite(float(v)) for v in snr_range):
            raise NoisyCorpusError(f"snr range must be two finite numbers (min max) in dB, got {list(snr_range)}")
        low, high = float(snr_range[0]), float(snr_range[1])
        if low > high:
            raise NoisyCorpusError(f"snr range min {low:g} dB is above max {high:g} dB (expected --snr MIN MAX)")
        if any(c is not None and c < 1 for c in counts):
            raise NoisyCorpusError(f"item counts per split must be positive, got {list(counts)}")
        object.__setattr__(self, "snr_range", (low, high))

    def noise_kinds(self) -> list[str]:
        """The kinds asked for (or the default ones), checked against the folders given."""
        music_dir, noise_dir = self.music_dir, self.noise_dir
        default = list(GENERATED_KINDS) + ["babble", "ambient"] + (["music"] if music_dir else []) \
            + (["recorded"] if noise_dir else [])
        kinds = list(default if self.kinds is None else self.kinds)
        if not kinds or any(k not in NOISE_KINDS for k in kinds) or len(set(kinds)) != len(kinds):
            raise NoisyCorpusError(f"noise kinds must be distinct names from {', '.join(NOISE_KINDS)}, got {kinds}")
        if "music" in kinds and music_dir is None:
            raise NoisyCorpusError("noise kind 'music' needs a music corpus (CLI: --music DIR)")
        if "recorded" in kinds and noise_dir is None:
            raise NoisyCorpusError("noise kind 'recorded' needs a noise folder (CLI: --noise DIR)")
        return kinds


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
    utterance: CleanUtterance,
    kind: str,
    snr_range: tuple[float, float],
    sample_rate: int,
    talkers: list[CleanUtterance],
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
        parts["noise_only"] = other.signal * (rms(noise) / max(rms(other.signal), 1e-12))
    peak = max([np.abs(p).max() for p in parts.values()] + [np.abs(clean + noise).max()])
    scale = peak_gain(peak)
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
    options: NoisyCorpusOptions | None = None,
    *,
    force: bool = False,
    log: Callable[[str], None] | None = print,
    **fields,
) -> dict[str, dict[str, float]]:
    """Build the noisy corpus under `root` (layout in `noisy_format`).

    Args:
        root: the corpus folder to create; it must not exist unless `force`.
        speech: a generated speech corpus root (`Libri{n}Mix/...`) or any folder of wavs.
        options: what corpus to make (`NoisyCorpusOptions`); `fields` are its
            attributes by keyword, set on `options` or on the defaults
            (`generate_noisy_corpus(root, speech, sample_rate=8000, items=(8, 2, 2))`).
        force: replace an existing `root`.
        log: called with one summary line per split; None for silence.

    Returns:
        `{"train": {"items": 480, "speakers": 40, "hours": 0.5}, ...}`.
    """
    o = NoisyCorpusOptions(**fields) if options is None else replace(options, **fields)
    sample_rate, seed, (low, high) = o.sample_rate, o.seed, o.snr_range
    root = Path(root).resolve()
    if root.exists() and not force:
        raise NoisyCorpusError(f"{root}: already exists; pass force=True (CLI: --force) to replace it")
    refuse_foreign(root, ENTRIES, _corpus_file, WHAT)  # before anything is read or made
    kinds = o.noise_kinds()

    # Read and check every input before writing anything.
    recordings: dict[str, dict[str, list[Recording]]] = {split: {} for split in SPLITS}
    if "recorded" in kinds:
        for split, pool in load_noise_folder(o.noise_dir, sample_rate, seed).items():
            recordings[split]["recorded"] = pool
    if "ambient" in kinds:
        for split, pool in load_ambient(sample_rate, seed).items():
            recordings[split]["ambient"] = pool
    if "music" in kinds:
        for split, pool in load_music(o.music_dir, sample_rate, seed).items():
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
            count = o.items[split_index] or len(utterances)
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
        noise_dir, music_dir = o.noise_dir, o.music_dir
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
    options = NoisyCorpusOptions(sample_rate=sample_rate, snr_range=tuple(snr), noise_dir=noise, music_dir=music,
                                 kinds=kinds, seed=seed)
    return generate_noisy_corpus(root, speech, options, force=force, log=log)
