"""An offline, LibriMix-shaped speech separation corpus synthesised with espeak-ng.

Layout, as LibriMix writes it (paths in the csv files are absolute)::

    ROOT/Libri{n}Mix/wav{8k|16k}/{min|max}/{train-100,dev,test}/
        mix_clean/ mix_both/ [mix_single/] s1/ ... s{n}/ noise/   <mixture_id>.wav
    ROOT/Libri{n}Mix/wav{8k|16k}/{min|max}/metadata/
        mixture_{split}_{mix_clean|mix_both|mix_single}.csv, speakers.csv

A speaker is one espeak-ng voice: an English accent with a voice variant, a
pitch and a speed. Each split draws its speakers from its own share of the
variants, so train, dev and test voices are disjoint, as LibriSpeech's speakers
are. Utterances are random strings of everyday words; their ids follow
LibriSpeech (`<speaker>-<chapter>-<utterance>`) and a mixture id joins its
utterance ids with `_`, so the speakers of any file can be read off its name.

Mixing follows LibriMix with RMS levels standing in for LUFS loudness: each
source at a random level in [-33, -25] dBFS, the noise (shaped Gaussian noise
with a slow, babble-like envelope) in [-38, -30] dBFS, `min` truncating to the
shortest source and `max` zero-padding to the longest, and one common scale-down
when any written signal would peak above 0.9. Sources and noise are rounded to
the 16-bit grid before they are summed, so every PCM_16 mixture is exactly the
sum of its written parts. Everything is a pure function of the seed: each
utterance and each mixture has its own random stream, so the bytes do not
depend on the number of worker threads.
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from separation.data.audio import quantize_pcm16, wav_bytes
from separation.errors import UserError

SPLITS = ("train-100", "dev", "test")
MODES = ("min", "max")
SOURCE_LEVEL_DB = (-33.0, -25.0)
NOISE_LEVEL_DB = (-38.0, -30.0)
PEAK = 0.9
PITCH_RANGE = (25, 75)  # espeak-ng -p, default 50
SPEED_RANGE = (140, 190)  # espeak-ng -s in words per minute, default 175

ACCENTS = (
    "en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029",
    "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us-nyc",
)
# espeak-ng's voice variants (`espeak-ng --voices=variant`), less the whispered,
# robotic and distorted ones that sound nothing like a person.
VARIANTS = (
    "Alex", "Alicia", "Andrea", "Andy", "Annie", "AnxiousAndy", "Denis", "Diogo",
    "Gene", "Gene2", "Henrique", "Hugo", "Jacky", "Lee", "Marco", "Mario", "Michael",
    "Mike", "Nguyen", "RicishayMax", "RicishayMax2", "RicishayMax3", "Storm", "Tweaky",
    "adam", "anika", "announcer", "antonio", "aunty", "belinda", "benjamin", "boris",
    "caleb", "david", "ed", "edward", "edward2", "f1", "f2", "f3", "f4", "f5",
    "grandma", "grandpa", "gustave", "iven", "iven2", "iven3", "iven4", "john",
    "kaukovalta", "klatt", "klatt2", "klatt3", "klatt4", "klatt5", "klatt6", "linda",
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "marcelo", "max", "michel",
    "miguel", "norbert", "pablo", "paul", "pedro", "quincy", "rob", "robert",
    "sandro", "shelby", "steph", "steph2", "steph3", "travis", "victor", "zac",
)

WORDS = tuple(
    """
    the a one two three four five six seven eight nine ten first last next every
    some many few all more most other another same little big small long short
    old new young good bad great high low early late right left hot cold warm cool
    dark light bright quiet loud soft hard fast slow happy sad busy free full empty
    clean dirty heavy easy simple strong red blue green yellow black white brown
    orange pink grey gold silver man woman child boy girl baby friend mother father
    sister brother family teacher doctor farmer driver neighbour people house home
    room door window table chair bed kitchen garden street road city town village
    school office shop market bank station park river lake sea beach mountain hill
    forest field tree flower grass stone rock sand water fire air wind rain snow
    cloud sun moon star sky morning evening night day week month year today
    tomorrow yesterday spring summer autumn winter hour minute time dog cat horse
    cow bird fish sheep chicken mouse rabbit bread butter cheese milk coffee tea
    apple orange lemon potato tomato rice soup cake sugar salt egg meat dinner
    lunch breakfast book letter paper pen pencil picture story song music game
    ball box bag bottle cup glass plate spoon knife fork key phone clock watch
    shirt shoe hat coat dress car bus train boat plane bicycle ticket money
    question answer idea plan word name number colour voice sound noise smell
    walk run jump swim sing dance read write draw paint cook eat drink sleep
    wake sit stand open close push pull carry bring take give send buy sell pay
    find lose keep hold help make build break fix wash cut throw catch play work
    learn teach speak talk tell say ask call listen hear see look watch show
    think know remember forget like love want need hope wait stay leave come go
    arrive return begin start finish stop turn move travel visit meet follow
    and but or because when after before while until with without under over
    near far inside outside above below behind between around through across
    here there now then soon always never often sometimes again also only very
    really quite almost together maybe perhaps please thank yes no
    """.split()
)


class CorpusError(UserError):
    """The corpus cannot be generated as asked (one-line message)."""


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: an espeak-ng voice at a fixed pitch and speed."""

    id: int
    split: str
    accent: str
    variant: str
    pitch: int
    speed: int

    @property
    def voice(self) -> str:
        return f"{self.accent}+{self.variant}"

    def utterance_id(self, index: int) -> str:
        return f"{self.id}-1-{index:04d}"


def design_speakers(seed: int, counts: dict[str, int]) -> dict[str, list[Speaker]]:
    """Speakers per split; each split owns a disjoint share of the voice variants.

    Shares are proportional to the speaker counts; a split with more speakers
    than variants reuses its own variants at other accents, pitches and speeds.
    """
    if any(count < 1 for count in counts.values()):
        raise CorpusError(f"every split needs at least one speaker, got {counts}")
    rng = np.random.default_rng([seed, 0])
    variants = [VARIANTS[i] for i in rng.permutation(len(VARIANTS))]
    total = sum(counts.values())
    bounds = [0]
    for position, count in enumerate(counts.values()):
        remaining_splits = len(counts) - position - 1
        share = max(1, round(len(VARIANTS) * count / total))
        bounds.append(min(bounds[-1] + share, len(VARIANTS) - remaining_splits))
    bounds[-1] = len(VARIANTS)

    speakers: dict[str, list[Speaker]] = {}
    voices_seen: set[tuple] = set()
    next_id = 1
    for position, (split, count) in enumerate(counts.items()):
        group = variants[bounds[position] : bounds[position + 1]]
        speakers[split] = []
        for index in range(count):
            while True:
                voice = (
                    str(rng.choice(ACCENTS)),
                    group[index % len(group)],
                    int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1)),
                    int(rng.integers(SPEED_RANGE[0], SPEED_RANGE[1] + 1)),
                )
                if voice not in voices_seen:
                    break
            voices_seen.add(voice)
            speakers[split].append(Speaker(next_id, split, *voice))
            next_id += 1
    splits_of_variant: dict[str, set[str]] = {}
    for split, group in speakers.items():
        for speaker in group:
            splits_of_variant.setdefault(speaker.variant, set()).add(split)
    assert all(len(owners) == 1 for owners in splits_of_variant.values()), "voices leak across splits"
    return speakers


def sentences(seed: int, speaker: Speaker, count: int, words: tuple[int, int]) -> list[str]:
    """`count` strings of `words[0]..words[1]` everyday words, fixed by (seed, speaker)."""
    rng = np.random.default_rng([seed, 1, speaker.id])
    return [" ".join(rng.choice(WORDS, int(rng.integers(words[0], words[1] + 1)))) for _ in range(count)]


def synthesize(voice: str, pitch: int, speed: int, text: str, sample_rate: int) -> np.ndarray:
    """espeak-ng speech `(time,)` at `sample_rate`, leading and trailing silence trimmed."""
    with tempfile.TemporaryDirectory(prefix="espeak-") as folder:
        path = os.path.join(folder, "utterance.wav")
        command = ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", path, text]
        subprocess.run(command, check=True, capture_output=True)
        speech, rate = sf.read(path, dtype="float64")
    common = math.gcd(sample_rate, rate)
    speech = trim_silence(resample_poly(speech, sample_rate // common, rate // common), sample_rate)
    if len(speech) < sample_rate // 10:
        raise CorpusError(f"espeak-ng voice {voice} produced no speech for '{text}'")
    return speech.astype(np.float32)


def trim_silence(signal: np.ndarray, sample_rate: int, threshold_db: float = -40.0) -> np.ndarray:
    """Drop 10 ms frames before the first and after the last one within `threshold_db` of the loudest."""
    frame = sample_rate // 100
    frames = len(signal) // frame
    if frames == 0:
        return signal
    energy = np.sqrt(np.mean(signal[: frames * frame].reshape(frames, frame) ** 2, axis=1))
    active = np.flatnonzero(energy > energy.max() * 10 ** (threshold_db / 20))
    if len(active) == 0:
        return signal[:0]
    start = max(active[0] - 1, 0) * frame
    stop = min(active[-1] + 2, frames) * frame
    return signal[start:stop]


def coloured_noise(rng: np.random.Generator, length: int, sample_rate: int) -> np.ndarray:
    """Gaussian noise `(length,)` with a random 1/f^a tilt, band edges and slow envelope.

    The tilt spans white to brown noise; the 1-6 Hz envelope gives the syllabic
    fluctuation of distant babble, so the noise is not trivially stationary.
    """
    spectrum = np.fft.rfft(rng.standard_normal(length))
    freqs = np.fft.rfftfreq(length, 1.0 / sample_rate)
    tilt = rng.uniform(0.0, 2.0)
    low = rng.uniform(60.0, 300.0)
    high = rng.uniform(0.2, 0.45) * sample_rate
    shape = np.maximum(freqs, low) ** (-tilt / 2) / (1 + (low / np.maximum(freqs, 1.0)) ** 4)
    shape /= 1 + (freqs / high) ** 4
    noise = np.fft.irfft(spectrum * shape, n=length)
    time = np.arange(length) / sample_rate
    rates = rng.uniform(1.0, 6.0, size=3)
    phases = rng.uniform(0.0, 2 * np.pi, size=3)
    depth = rng.uniform(0.0, 0.8)
    envelope = 1 + depth * np.mean(np.sin(2 * np.pi * rates[:, None] * time + phases[:, None]), axis=0)
    return noise * envelope


def set_level(signal: np.ndarray, level_db: float) -> np.ndarray:
    """Scale to an RMS of `level_db` dBFS (LibriMix uses LUFS; RMS is close for speech)."""
    rms = float(np.sqrt(np.mean(np.square(signal, dtype=np.float64))))
    return signal.astype(np.float64) * (10 ** (level_db / 20) / max(rms, 1e-9))


def fit_length(signal: np.ndarray, length: int) -> np.ndarray:
    """Truncate or zero-pad at the end to `length` samples."""
    if len(signal) >= length:
        return signal[:length]
    return np.pad(signal, (0, length - len(signal)))


def wav_folder(sample_rate: int) -> str:
    if sample_rate % 1000:
        raise CorpusError(f"sample_rate must be a whole number of kHz (8000, 16000), got {sample_rate}")
    return f"wav{sample_rate // 1000}k"


def plan_mixtures(
    seed: int, n_src: int, split_index: int, pool: dict[Speaker, list[str]], count: int
) -> list[tuple[str, ...]]:
    """`count` distinct tuples of utterance ids, each from `n_src` distinct speakers."""
    speakers = list(pool)
    if len(speakers) < n_src:
        raise CorpusError(f"{n_src}-speaker mixtures need at least {n_src} speakers, got {len(speakers)}")
    rng = np.random.default_rng([seed, 3, n_src, split_index])
    plans: list[tuple[str, ...]] = []
    seen: set[tuple[str, ...]] = set()
    for _ in range(100 * count):
        if len(plans) == count:
            break
        chosen = rng.choice(len(speakers), size=n_src, replace=False)
        utterances = tuple(str(rng.choice(pool[speakers[i]])) for i in chosen)
        if utterances not in seen:
            seen.add(utterances)
            plans.append(utterances)
    if len(plans) < count:
        raise CorpusError(
            f"cannot draw {count} distinct {n_src}-speaker mixtures from {len(speakers)} speakers; "
            "add speakers or utterances per speaker"
        )
    return plans


@dataclass(frozen=True)
class _MixJob:
    """Mixtures `first..first+len(plans)` of one (n_src, split), rendered in all modes."""

    seed: int
    n_src: int
    split: str
    split_index: int
    first: int
    plans: tuple[tuple[str, ...], ...]
    modes: tuple[str, ...]
    sample_rate: int
    out_root: str  # folder holding `{mode}/` for this Libri{n}Mix and sample rate
    noise: bool
    mix_single: bool


def _render(job: _MixJob, utterances: dict[str, np.ndarray]) -> list[tuple[str, dict[str, int]]]:
    """Write every file of the job's mixtures; returns (mixture_id, {mode: length})."""
    rows = []
    for offset, plan in enumerate(job.plans):
        rng = np.random.default_rng([job.seed, 2, job.n_src, job.split_index, job.first + offset])
        mixture_id = "_".join(plan)
        levels = rng.uniform(*SOURCE_LEVEL_DB, size=job.n_src)
        sources = [set_level(utterances[u], db) for u, db in zip(plan, levels)]
        longest = max(len(s) for s in sources)
        noise = None
        if job.noise:
            noise_db = rng.uniform(*NOISE_LEVEL_DB)
            noise = set_level(coloured_noise(rng, longest, job.sample_rate), noise_db)
        lengths = {}
        for mode in job.modes:
            length = longest if mode == "max" else min(len(s) for s in sources)
            lengths[mode] = length
            signals = _mode_signals(sources, noise, length, job.mix_single)
            folder = Path(job.out_root) / mode / job.split
            for name, signal in signals.items():
                # The staging tree is renamed into place as a whole: no per-file atomicity needed.
                (folder / name).mkdir(parents=True, exist_ok=True)
                (folder / name / f"{mixture_id}.wav").write_bytes(wav_bytes(signal, job.sample_rate, "PCM_16"))
        rows.append((mixture_id, lengths))
    return rows


def _mode_signals(
    sources: list[np.ndarray], noise: np.ndarray | None, length: int, mix_single: bool
) -> dict[str, np.ndarray]:
    """Folder name -> signal for one mixture in one mode, scaled below PEAK and on the 16-bit grid."""
    parts = np.stack([fit_length(s, length) for s in sources])
    noise = None if noise is None else noise[:length]

    def mixtures(parts: np.ndarray, noise: np.ndarray | None) -> dict[str, np.ndarray]:
        clean = parts.sum(axis=0)
        mixes = {"mix_clean": clean}
        if noise is not None:
            mixes["mix_both"] = clean + noise
            if mix_single:
                mixes["mix_single"] = parts[0] + noise
        return mixes

    peaks = [np.abs(parts).max()] + [np.abs(m).max() for m in mixtures(parts, noise).values()]
    if noise is not None:
        peaks.append(np.abs(noise).max())
    scale = min(1.0, PEAK / max(peaks))
    # Quantise the parts first: sums of 16-bit values are exact in float64 and in PCM_16.
    parts = quantize_pcm16(parts * scale).astype(np.float64)
    noise = None if noise is None else quantize_pcm16(noise * scale).astype(np.float64)
    signals = mixtures(parts, noise)
    signals.update({f"s{k + 1}": part for k, part in enumerate(parts)})
    if noise is not None:
        signals["noise"] = noise
    return signals


def _write_metadata(
    folder: Path, final_folder: Path, split: str, n_src: int, rows, mode: str, noise: bool, mix_single: bool
) -> None:
    """LibriMix's `mixture_{split}_{mix}.csv` files, paths pointing at the final location."""
    kinds = ["mix_clean"]
    if noise:
        kinds += ["mix_both"] + (["mix_single"] if mix_single else [])
    for kind in kinds:
        sources = [1] if kind == "mix_single" else range(1, n_src + 1)
        header = ["mixture_ID", "mixture_path"] + [f"source_{k}_path" for k in sources]
        header += (["noise_path"] if kind != "mix_clean" else []) + ["length"]
        path = folder / "metadata" / f"mixture_{split}_{kind}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        base = final_folder / split
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for mixture_id, lengths in rows:
                name = f"{mixture_id}.wav"
                row = [mixture_id, str(base / kind / name)] + [str(base / f"s{k}" / name) for k in sources]
                row += ([str(base / "noise" / name)] if kind != "mix_clean" else []) + [lengths[mode]]
                writer.writerow(row)


def _write_speakers(path: Path, speakers: dict[str, list[Speaker]], per_speaker: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["speaker_ID", "split", "voice", "pitch", "speed", "utterances"])
        for split, group in speakers.items():
            for s in group:
                writer.writerow([s.id, split, s.voice, s.pitch, s.speed, per_speaker])


def generate_speech_corpus(
    root: str | Path,
    seed: int = 0,
    sample_rate: int = 8000,
    n_src_list: Sequence[int] = (2, 3),
    n_train: int = 800,
    n_dev: int = 100,
    n_test: int = 100,
    speakers: tuple[int, int, int] = (40, 10, 10),
    utterances_per_speaker: int = 12,
    words_per_utterance: tuple[int, int] = (8, 13),
    modes: Sequence[str] = ("min",),
    noise: bool = True,
    mix_single: bool = False,
    workers: int = 2,
    force: bool = False,
    log: Callable[[str], None] | None = print,
) -> dict[str, dict[str, float]]:
    """Synthesise a LibriMix-shaped corpus under `root` (layout in the module docstring).

    Args:
        root: folder that will hold `Libri{n}Mix/`; created if missing.
        seed: fixes every voice, sentence, gain and noise: same seed, same bytes.
        sample_rate: 8000 or 16000 (folder `wav8k` / `wav16k`).
        n_src_list: speakers per mixture; one `Libri{n}Mix` per entry, all drawing
            on the same utterance pool.
        n_train, n_dev, n_test: mixtures per split (train-100, dev, test) for each n.
        speakers: speakers in (train, dev, test); their voices are disjoint.
        utterances_per_speaker: size of each speaker's pool; mixtures reuse utterances.
        words_per_utterance: inclusive range of words per sentence (about 3-5 s of speech).
        modes: LibriMix modes to write, `min` (truncate to the shortest source)
            and/or `max` (zero-pad to the longest). Each mode adds its full size on disk.
        noise: also write `noise/` and `mix_both/`.
        mix_single: also write `mix_single/` (s1 + noise, LibriMix's enhancement task).
        workers: threads for synthesis and mixing (the output does not depend on it).
        force: replace existing `Libri{n}Mix/wav*k/{mode}` folders instead of refusing.
        log: called with one summary line per split; None for silence.

    Returns:
        `{"Libri2Mix/wav8k/min/train-100": {"mixtures": 800, "hours": 0.8}, ...}`.

    The corpus is built in a temporary folder inside `root` and renamed into
    place, so an interrupted run leaves no half-written corpus behind.
    """
    if shutil.which("espeak-ng") is None:
        raise CorpusError("espeak-ng not found on PATH; install it with: apt-get install espeak-ng")
    modes = tuple(modes)
    if not modes or any(mode not in MODES for mode in modes):
        raise CorpusError(f"modes must be a non-empty subset of {MODES}, got {modes}")
    if mix_single and not noise:
        raise CorpusError("mix_single needs noise=True (it is s1 + noise)")
    if len(speakers) != len(SPLITS):
        raise CorpusError(f"speakers must give (train, dev, test) counts, got {speakers}")
    if min(n_train, n_dev, n_test) < 1 or not n_src_list or min(n_src_list) < 1:
        raise CorpusError("n_train, n_dev, n_test and every n_src must be at least 1")
    root = Path(root).resolve()
    rate_folder = wav_folder(sample_rate)
    targets = {(n, mode): root / f"Libri{n}Mix" / rate_folder / mode for n in n_src_list for mode in modes}
    existing = [str(t) for t in targets.values() if t.exists()]
    if existing and not force:
        raise CorpusError(f"{existing[0]}: corpus already exists; pass force=True (CLI: --force) to replace it")

    counts = dict(zip(SPLITS, (n_train, n_dev, n_test)))
    voices = design_speakers(seed, dict(zip(SPLITS, speakers)))
    pools = {split: {} for split in SPLITS}
    synth_ids, synth_jobs = [], []
    for split, group in voices.items():
        for speaker in group:
            texts = sentences(seed, speaker, utterances_per_speaker, words_per_utterance)
            pools[split][speaker] = [speaker.utterance_id(i) for i in range(len(texts))]
            synth_ids += pools[split][speaker]
            synth_jobs += [(speaker.voice, speaker.pitch, speaker.speed, t, sample_rate) for t in texts]

    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".speech-corpus-", dir=root))
    # Threads suffice: espeak-ng runs as a subprocess, and numpy, scipy and file
    # writes release the GIL. Every job is a pure function of its arguments.
    try:
        with ThreadPoolExecutor(max(1, workers)) as pool:
            audio = pool.map(lambda job: synthesize(*job), synth_jobs)
            utterances = dict(zip(synth_ids, audio))
            jobs = []
            for n in n_src_list:
                out_root = str(staging / f"Libri{n}Mix" / rate_folder)
                for split_index, split in enumerate(SPLITS):
                    plans = plan_mixtures(seed, n, split_index, pools[split], counts[split])
                    for first in range(0, len(plans), 50):
                        chunk = tuple(plans[first : first + 50])
                        jobs.append(_MixJob(seed, n, split, split_index, first, chunk, modes, sample_rate,
                                            out_root, noise, mix_single))
            results = list(pool.map(lambda job: _render(job, utterances), jobs))

        rows: dict[tuple[int, str], list] = {}
        for job, result in zip(jobs, results):
            rows.setdefault((job.n_src, job.split), []).extend(result)
        summary = {}
        for (n, mode), target in targets.items():
            staged = staging / f"Libri{n}Mix" / rate_folder / mode
            for split in SPLITS:
                split_rows = rows[(n, split)]
                _write_metadata(staged, target, split, n, split_rows, mode, noise, mix_single)
                hours = sum(lengths[mode] for _, lengths in split_rows) / sample_rate / 3600
                key = f"Libri{n}Mix/{rate_folder}/{mode}/{split}"
                summary[key] = {"mixtures": len(split_rows), "hours": hours}
                if log is not None:
                    log(f"{key}: {len(split_rows)} mixtures, {hours:.2f} h, {len(voices[split])} speakers")
            _write_speakers(staged / "metadata" / "speakers.csv", voices, utterances_per_speaker)
        for (n, mode), target in targets.items():
            if target.exists():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / f"Libri{n}Mix" / rate_folder / mode, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return summary
