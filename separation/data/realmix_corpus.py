"""A held-out two-speaker test split of real recordings, mixed the plain way (LibriMix's recipe).

The generated speech corpus's `test-prompts` split warps each prompt speaker into
four and mixes them with the training corpus's own pipeline, so a score there
shares every choice of that pipeline. This module is independent of it (it uses
neither `speech_mixing` nor `speech_render`): unperturbed recordings of people
never in training, no warp, no channel effects, mixed by LibriMix's recipe:

- speaker pairs cycle through every unordered pair evenly (a fresh shuffle per
  round), which speaker is s1 drawn at random; one utterance each, each
  speaker's files used in a shuffled cycle;
- an utterance is the speaker's next files in that cycle joined end to end,
  `GAP_SECONDS` of digital silence between them, until it is at least
  `min_seconds` long at the output rate (LibriMix's utterances are sentences of
  5-20 s; a prompt is a word or a phrase of about a second, and SI-SNR over one
  second of two overlapping words is a noisy test). `min_seconds=0` takes one
  file per utterance. Joining recordings of the same person changes nothing in
  the voice (no warp, no filter, no level change inside the utterance); no file
  appears twice in one utterance. A speaker whose usable files, all joined, are
  shorter than `min_seconds` is refused with a one-line error naming the
  speaker and its total seconds (rather than a shorter utterance than asked);
- `min` mode: both utterances truncated to the shorter, from their starts (so
  a mixture lasts at least `min_seconds`);
- loudness by ITU-R BS.1770 (pyloudnorm): s1 set to a target drawn uniformly
  in -33..-25 LUFS (LibriMix's range), s2 to that target plus
  `relative_level_db`, whose size is drawn uniformly in `level_range` and whose
  sign is drawn at random. Unlike LibriMix, loudness is measured on the
  truncated sources, so the written files hold exactly the drawn relative level;
- when the mixture or a source would peak above 0.9, all three are scaled down
  together (LibriMix's MAX_AMP), which keeps the relative level;
- 16-bit PCM files, as LibriMix writes; the sources are rounded to the 16-bit
  grid first, so the mixture file is exactly s1 + s2.

An utterance shorter than one 400 ms BS.1770 block at the output rate, or
silent (no block above the -70 LUFS gate), is skipped and listed in the
provenance file; when a truncated source is silent, that speaker's next
utterance is taken instead.

Layout, the one `separation evaluate --data ROOT --split test` reads::

    ROOT/Libri2Mix/wav{8k|16k}/min/test/{mix_clean,s1,s2}/<mixture_id>.wav
    ROOT/Libri2Mix/wav{8k|16k}/min/metadata/mixture_test_mix_clean.csv   (LibriMix's columns and more)
    ROOT/Libri2Mix/wav{8k|16k}/min/metadata/realmix.json                 (recipe, seed, sources)
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from itertools import combinations
from pathlib import Path, PurePosixPath

import numpy as np
import pyloudnorm

from separation.data.audio import quantize_pcm16, write_wav
from separation.data.corpus_errors import CorpusError
from separation.data.signal import PEAK, resample
from separation.data.speech_voices import PROMPT_PACKAGES, folder_files, prompt_files, read_prompt, read_recording
from separation.outputs import fresh_folder, refuse_foreign, replace_entries

SPLIT = "test"
MODE = "min"
LOUDNESS_RANGE = (-33.0, -25.0)  # LUFS of s1, LibriMix's
BLOCK_SECONDS = 0.4  # BS.1770's gating block: the shortest signal it measures
# Silence between the joined files of one utterance: a pause between phrases of one talker, long enough
# that two prompts do not run into one word and short enough that the other speaker is rarely alone for long.
GAP_SECONDS = 0.15
RECIPE = "realmix-2"  # realmix-1 took one file per utterance; min_seconds=0 writes its audio again
PROVENANCE_FILE = "realmix.json"
# The extra metadata columns; speech evaluation groups by the first, second and last.
# source_k_files: the utterance's recordings in the order joined, separated by FILE_SEPARATOR.
EXTRA_COLUMNS = ("speaker_1", "speaker_2", "source_1_files", "source_2_files", "loudness_1_lufs", "loudness_2_lufs",
                 "peak_gain_db", "relative_level_db")
FILE_SEPARATOR = "|"
WHAT = "a realmix test corpus (its mode folder holds only .wav, .csv and .json files)"


@dataclass(frozen=True)
class Utterance:
    """One usable recording: its file and its length at the output rate."""

    speaker: str
    path: str
    frames: int


def _rate_folder(sample_rate: int) -> str:
    if sample_rate < 1000 or sample_rate % 1000:
        raise CorpusError(f"sample_rate must be a whole number of kHz (8000, 16000), got {sample_rate}")
    return f"wav{sample_rate // 1000}k"


def prompt_speakers() -> dict[str, list[str]]:
    """The three prompt speakers' files, from their own Debian packages only (`speech_voices.prompt_files`)."""
    return {name: list(prompt_files(name)) for name in PROMPT_PACKAGES}


def folder_speakers(folder: str | Path) -> dict[str, list[str]]:
    """One speaker per sub-folder of `folder` that holds audio files; at least 2 such speakers."""
    root = Path(folder).resolve()
    expected = "expected at least 2 speaker sub-folders, each holding .wav or .flac files"
    if not root.is_dir():
        raise CorpusError(f"{root}: no such folder; {expected}")
    speakers = {}
    for entry in sorted((e for e in os.scandir(root) if e.is_dir() and not e.name.startswith(".")), key=lambda e: e.name):
        files = folder_files(entry.path)
        if files:
            speakers[entry.name] = files
    if len(speakers) < 2:
        raise CorpusError(f"{root}: {len(speakers)} speaker sub-folder(s) with audio files; {expected}")
    return speakers


def _read(path: str, sample_rate: int) -> np.ndarray:
    """A recording as float64 mono at `sample_rate` (prompts are raw GSM or 8 kHz wav)."""
    if path.endswith(".gsm"):
        audio, rate = read_prompt(path), 8000
    else:
        audio, rate = read_recording(path)
    return resample(audio, rate, sample_rate)


def _loudness(meter: pyloudnorm.Meter, signal: np.ndarray) -> float:
    """Integrated loudness (LUFS); -inf when silent, NaN when shorter than one block."""
    if len(signal) < round(BLOCK_SECONDS * meter.rate):
        return float("nan")
    return float(meter.integrated_loudness(signal))


def _survey(speakers: dict[str, list[str]], sample_rate: int, meter: pyloudnorm.Meter):
    """Each speaker's usable utterances, and the skipped files with the reason."""
    usable: dict[str, list[Utterance]] = {}
    skipped = []
    for name, files in speakers.items():
        usable[name] = []
        for path in files:
            audio = _read(path, sample_rate)
            level = _loudness(meter, audio)
            if np.isnan(level):
                skipped.append({"file": path, "reason": f"shorter than {BLOCK_SECONDS * 1000:g} ms"})
            elif not np.isfinite(level):
                skipped.append({"file": path, "reason": "silent (below the -70 LUFS gate)"})
            else:
                usable[name].append(Utterance(name, path, len(audio)))
        if not usable[name]:
            raise CorpusError(f"speaker '{name}': none of its {len(files)} files is at least "
                              f"{BLOCK_SECONDS * 1000:g} ms long and not silent")
    return usable, skipped


class _Cycle:
    """A speaker's utterances in shuffled rounds, so every file is used before any is reused."""

    def __init__(self, utterances: Sequence[Utterance], rng: np.random.Generator):
        self.utterances, self.rng, self.queue = list(utterances), rng, []

    def next(self, exclude: frozenset[str] = frozenset()) -> Utterance:
        """The next file of the cycle whose path is not in `exclude` (the files already in this utterance).

        An excluded file stays queued for a later utterance; a new round is queued behind the rest of the
        current one when nothing queued is allowed. Without `exclude` this is the plain shuffled cycle.
        """
        if all(u.path in exclude for u in self.queue):
            self.queue = [self.utterances[i] for i in self.rng.permutation(len(self.utterances))] + self.queue
        for index in range(len(self.queue) - 1, -1, -1):
            if self.queue[index].path not in exclude:
                return self.queue.pop(index)
        raise CorpusError(f"speaker '{self.utterances[0].speaker}': every file is already in this utterance")

    def joined(self, min_frames: float, gap: int) -> list[Utterance]:
        """The next files, each once, until they and the gaps between them reach `min_frames` (at least one)."""
        parts = [self.next()]
        while sum(u.frames for u in parts) + gap * (len(parts) - 1) < min_frames:
            parts.append(self.next(frozenset(u.path for u in parts)))
        return parts


def _join(parts: Sequence[Utterance], gap: int, sample_rate: int) -> np.ndarray:
    """The parts' audio end to end, `gap` frames of zeros between each two."""
    pieces = []
    for index, part in enumerate(parts):
        if index:
            pieces.append(np.zeros(gap))
        pieces.append(_read(part.path, sample_rate))
    return np.concatenate(pieces)


def _pair_order(speakers: Sequence[str], count: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """`count` (s1, s2) speaker pairs: every unordered pair once per round, rounds shuffled, order random."""
    pairs = list(combinations(speakers, 2))
    order = []
    while len(order) < count:
        for index in rng.permutation(len(pairs)):
            first, second = pairs[index]
            order.append((second, first) if rng.random() < 0.5 else (first, second))
    return order[:count]


def _id_tokens(speakers: Sequence[str]) -> dict[str, str]:
    """A LibriMix-style id token per speaker: its name's letters and digits, else `spkN` if those collide."""
    tokens = {name: re.sub(r"[^A-Za-z0-9]", "", name) for name in speakers}
    if "" in tokens.values() or len(set(tokens.values())) < len(tokens):
        tokens = {name: f"spk{index}" for index, name in enumerate(speakers)}
    return tokens


def _mix_one(first: np.ndarray, second: np.ndarray, target: float, relative: float, meter: pyloudnorm.Meter):
    """The two truncated sources at `target` and `target + relative` LUFS, scaled under PEAK together.

    Returns `(sources (2, time) float32 on the 16-bit grid, peak gain in dB)`.
    """
    sources = []
    for signal, level in ((first, target), (second, target + relative)):
        sources.append(signal * 10 ** ((level - _loudness(meter, signal)) / 20))
    sources = np.stack(sources)
    peak = max(float(np.abs(sources).max()), float(np.abs(sources.sum(axis=0)).max()))
    gain = min(1.0, PEAK / peak)
    # On the 16-bit grid before summing: the written PCM_16 mixture is then exactly s1 + s2.
    return quantize_pcm16(sources * gain), 20 * np.log10(gain)


def _package_versions() -> dict[str, str]:
    versions = {}
    for package in PROMPT_PACKAGES.values():
        listing = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True)
        versions[package] = listing.stdout.strip() if listing.returncode == 0 else "unknown"
    return versions


def _metadata_csv(rows: list[dict], final_split: Path) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["mixture_ID", "mixture_path", "source_1_path", "source_2_path", "length", *EXTRA_COLUMNS])
    for row in rows:
        name = f"{row['mixture_ID']}.wav"
        paths = [str(final_split / folder / name) for folder in ("mix_clean", "s1", "s2")]
        extra = [f"{row[key]:.4f}" if isinstance(row[key], float) else row[key] for key in EXTRA_COLUMNS]
        writer.writerow([row["mixture_ID"], *paths, row["length"], *extra])
    return buffer.getvalue()


def _own_file(relative: PurePosixPath) -> bool:
    return relative.suffix in (".wav", ".csv", ".json")


def generate_realmix(
    root: str | Path,
    *,
    prompts: bool = False,
    speakers_dir: str | Path | None = None,
    mixtures: int = 100,
    seed: int = 0,
    sample_rate: int = 8000,
    level_range: tuple[float, float] = (0.0, 5.0),
    min_seconds: float = 3.0,
    force: bool = False,
    log: Callable[[str], None] | None = print,
) -> dict:
    """Write a Libri2Mix-shaped `test` split of real two-speaker mixtures under `root` (see the module docstring).

    Args:
        prompts: use the three Asterisk prompt speakers (their packages' files, native 8 kHz).
        speakers_dir: else use `speakers_dir/<speaker>/*.wav|*.flac` (at least 2 speakers).
        mixtures: how many mixtures.
        seed: fixes every draw: same seed and inputs, same bytes.
        sample_rate: rate of the written files; recordings are resampled to it.
        level_range: (low, high) dB, 0 <= low <= high: the size of speaker 2's loudness
            relative to speaker 1's, drawn uniformly; its sign is drawn at random.
        min_seconds: each source utterance joins the speaker's next files (`GAP_SECONDS` apart) until it
            lasts at least this long; 0: one file each.
        force: replace an existing `Libri2Mix/wav{k}k/min` folder under `root`.

    Returns:
        The provenance record written to `metadata/realmix.json`.
    """
    if prompts == (speakers_dir is not None):
        raise CorpusError("give exactly one of prompts=True (CLI: --prompts) or a speakers folder (--speakers DIR)")
    if mixtures < 1:
        raise CorpusError(f"mixtures must be at least 1, got {mixtures}")
    low, high = (float(v) for v in level_range)
    if not 0 <= low <= high:
        raise CorpusError(f"level range must be LOW HIGH with 0 <= LOW <= HIGH (dB), got {low:g} {high:g}")
    min_seconds = float(min_seconds)
    if not 0 <= min_seconds < float("inf"):
        raise CorpusError(f"min seconds must be 0 or more (CLI: --min-seconds), got {min_seconds:g}")
    rate_folder = _rate_folder(sample_rate)
    root = Path(root).resolve()
    name = f"Libri2Mix/{rate_folder}/{MODE}"
    target = root / name
    if target.exists() and not force:
        raise CorpusError(f"{target}: corpus already exists; pass force=True (CLI: --force) to replace it")
    if target.exists() and not (target / "metadata" / PROVENANCE_FILE).is_file():
        # A generated training corpus has the same layout: --force must not swap it for a test split.
        raise CorpusError(f"{target}: holds a corpus that realmix did not write (no metadata/{PROVENANCE_FILE}); "
                          "choose another ROOT")
    refuse_foreign(root, [name], _own_file, WHAT)

    recordings = prompt_speakers() if prompts else folder_speakers(speakers_dir)
    meter = pyloudnorm.Meter(sample_rate)  # ITU-R BS.1770-4, 400 ms blocks
    usable, skipped = _survey(recordings, sample_rate, meter)
    names = sorted(usable)
    gap = round(GAP_SECONDS * sample_rate)
    min_frames = min_seconds * sample_rate
    totals = {s: (sum(u.frames for u in usable[s]) + gap * (len(usable[s]) - 1)) / sample_rate for s in names}
    for speaker in names:
        if totals[speaker] < min_seconds:
            raise CorpusError(f"speaker '{speaker}': its {len(usable[speaker])} usable files last {totals[speaker]:.2f} s "
                              f"joined, less than --min-seconds {min_seconds:g}; lower it or give that speaker more audio")
    tokens = _id_tokens(names)
    rng = np.random.default_rng(seed)
    cycles = {speaker: _Cycle(usable[speaker], rng) for speaker in names}
    numbers = {speaker: {u.path: i for i, u in enumerate(usable[speaker])} for speaker in names}

    staging = fresh_folder(root, "realmix")
    try:
        split = staging / name / SPLIT
        rows = []
        for index, (first, second) in enumerate(_pair_order(names, mixtures, rng)):
            target_lufs = float(rng.uniform(*LOUDNESS_RANGE))
            relative = float(rng.uniform(low, high)) * (1 if rng.random() < 0.5 else -1)
            chosen = [cycles[first].joined(min_frames, gap), cycles[second].joined(min_frames, gap)]
            for attempt in range(max(len(usable[first]), len(usable[second])) + 1):
                joined = [_join(parts, gap, sample_rate) for parts in chosen]
                length = min(len(signal) for signal in joined)
                signals = [signal[:length] for signal in joined]
                silent = [k for k, s in enumerate(signals) if not np.isfinite(_loudness(meter, s))]
                if not silent:
                    break
                for k in silent:  # that speaker's next utterance; the other keeps its own
                    chosen[k] = cycles[chosen[k][0].speaker].joined(min_frames, gap)
            else:
                raise CorpusError(f"speakers '{first}' and '{second}': no pair of their utterances keeps sound in "
                                  "both after truncation to the shorter")
            sources, peak_db = _mix_one(signals[0], signals[1], target_lufs, relative, meter)
            # Each source's first file names it; the metadata lists them all.
            mixture_id = "_".join(f"{tokens[p[0].speaker]}-{numbers[p[0].speaker][p[0].path]}-{index:04d}" for p in chosen)
            write_wav(split / "mix_clean" / f"{mixture_id}.wav", sources.sum(axis=0), sample_rate, "PCM_16")
            for k in range(2):
                write_wav(split / f"s{k + 1}" / f"{mixture_id}.wav", sources[k], sample_rate, "PCM_16")
            rows.append({"mixture_ID": mixture_id, "length": length, "speaker_1": first, "speaker_2": second,
                         "source_1_files": FILE_SEPARATOR.join(u.path for u in chosen[0]),
                         "source_2_files": FILE_SEPARATOR.join(u.path for u in chosen[1]),
                         "loudness_1_lufs": target_lufs + peak_db, "loudness_2_lufs": target_lufs + relative + peak_db,
                         "peak_gain_db": peak_db, "relative_level_db": relative})
        metadata = staging / name / "metadata"
        metadata.mkdir(parents=True)
        (metadata / f"mixture_{SPLIT}_mix_clean.csv").write_text(_metadata_csv(rows, target / SPLIT))
        pairs: dict[str, int] = {}
        for row in rows:
            key = "+".join(sorted((row["speaker_1"], row["speaker_2"])))
            pairs[key] = pairs.get(key, 0) + 1
        hours = sum(row["length"] for row in rows) / sample_rate / 3600
        source = ({"kind": "prompts", "packages": _package_versions()} if prompts
                  else {"kind": "folder", "path": str(Path(speakers_dir).resolve())})
        provenance = {
            "recipe": RECIPE,
            "method": "LibriMix's recipe on unperturbed recordings (separation/data/realmix_corpus.py): pairs cycled "
                      "evenly, each source the speaker's next files joined gap_seconds apart until at least "
                      "min_seconds long, min mode, BS.1770 loudness of each truncated source, s1 at a target drawn in -33..-25 "
                      "LUFS, s2 at relative_level_db from it, all scaled together under a 0.9 peak",
            "relative_level_db": "loudness of s2 minus loudness of s1 (LU): size uniform in level_range_db, sign random",
            "loudness_lufs": "loudness_1_lufs / loudness_2_lufs: BS.1770 loudness of the written s1 / s2 (targets "
                             "plus peak_gain_db)",
            "seed": seed,
            "sample_rate": sample_rate,
            "mode": MODE,
            "split": SPLIT,
            "mixtures": len(rows),
            "hours": round(hours, 4),
            "level_range_db": [low, high],
            "min_seconds": min_seconds,
            "gap_seconds": GAP_SECONDS,
            "source_files": f"source_1_files / source_2_files: the files joined, in order, separated by '{FILE_SEPARATOR}'",
            "speaker_1_loudness_range_lufs": list(LOUDNESS_RANGE),
            "peak": PEAK,
            "loudness_meter": f"pyloudnorm {version('pyloudnorm')} (ITU-R BS.1770-4, {BLOCK_SECONDS * 1000:g} ms blocks)",
            "source": source,
            "speakers": {s: {"files": len(recordings[s]), "usable": len(usable[s]),
                             "usable_seconds_joined": round(totals[s], 3)} for s in names},
            "pairs": pairs,
            "skipped": skipped,
        }
        (metadata / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n")
        replace_entries(staging, root, [name], _own_file, WHAT)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if log is not None:
        seconds = [row["length"] / sample_rate for row in rows]
        log(f"{name}/{SPLIT}: {len(rows)} mixtures, {hours:.3f} h (each {min(seconds):.1f}-{max(seconds):.1f} s, "
            f"mean {np.mean(seconds):.1f}), {len(names)} speakers, {len(pairs)} pairs, "
            f"{len(skipped)} files skipped ({target / 'metadata' / PROVENANCE_FILE})")
    return provenance
