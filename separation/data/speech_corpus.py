"""An offline, LibriMix-shaped speech separation corpus from many voice families.

Layout, as LibriMix writes it (paths in the csv files are absolute)::

    ROOT/Libri{n}Mix/wav{8k|16k}/{min|max}/{train-100,dev,test[,test-FAMILY]}/
        mix_clean/ mix_both/ [mix_single/] s1/ ... s{n}/ noise/   <mixture_id>.wav
    ROOT/Libri{n}Mix/wav{8k|16k}/{min|max}/metadata/
        mixture_{split}_{mix_clean|mix_both|mix_single}.csv, mixture_info_{split}.csv,
        speakers.csv, utterances.csv

Voices come from the families of `speech_voices` (espeak-ng, Flite, Festival and
real recorded Asterisk prompts; or a folder of user recordings). A speaker is one
source voice at one speaker-perturbation factor (`speech_augment.warp`: pitch and
formants scaled together), so a voice yields several distinct speakers; espeak-ng
speakers also get their own accent, pitch and speed. Every utterance varies the
pitch and tempo around its speaker's, some pass through a band-limited channel and,
on request, a telephone codec; `utterances.csv` names each utterance's family, voice, source, text and channel.

Splits are disjoint by person (the human or espeak-ng variant behind a voice):
no test or dev speaker, nor any perturbed copy of one, is heard in training. With
`holdout_family` a whole family is kept out of train and dev; its speakers make a
split of their own, `test-FAMILY`, while `test` holds the other families' unseen
speakers, so one model is measured both in and out of its training families.

Mixing follows LibriMix with RMS levels standing in for LUFS loudness: each
source at a random level in [-33, -25] dBFS, the noise (shaped Gaussian noise
with a slow, babble-like envelope) in [-38, -30] dBFS, `min` truncating to the
shortest source and `max` zero-padding to the longest, and one common scale-down
when any written signal would peak above 0.9. With `reverb` > 0 that fraction of
mixtures is heard in a random image-source room while `s1..sn` stay the dry
sources (WHAMR!'s convention); every other PCM_16 mixture is exactly the sum of
its written parts. Everything is a pure function of the seed: each utterance and
each mixture has its own random stream, so the bytes do not depend on the number
of worker threads.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from separation.data.audio import quantize_pcm16, wav_bytes
from separation.data.speech_augment import (
    fit_length,
    random_channel,
    random_codec,
    resample,
    reverberate,
    room_impulse_responses,
    trim_silence,
    warp,
)
from separation.data.speech_voices import (
    DEFAULT_FAMILIES,
    ESPEAK_ACCENTS,
    FAMILIES,
    Request,
    SourceVoice,
    VoiceError,
    family_voices,
    folder_files,
    folder_voices,
    recorded_files,
    synthesize,
)
from separation.errors import UserError
from separation.outputs import refuse_foreign, replace_entries

SPLITS = ("train-100", "dev", "test")
SYNTHETIC = ("espeak", "flite", "festival", "festvox")  # families with a tempo control
MODES = ("min", "max")
SOURCE_LEVEL_DB = (-33.0, -25.0)
NOISE_LEVEL_DB = (-38.0, -30.0)
PEAK = 0.9
PITCH_RANGE = (25, 75)  # espeak-ng -p, default 50
TEMPO_RANGE = (0.82, 1.1)  # espeak-ng speaker tempo (x 175 words per minute)
UTTERANCE_PITCH = 6  # espeak-ng pitch varies by up to this much per utterance
UTTERANCE_TEMPO = (0.93, 1.07)
UTTERANCE_WARP = (0.97, 1.03)  # per-utterance pitch jitter on top of the speaker's factor
# Speaker-perturbation factors of a voice's 1st, 2nd, ... speaker: about 6% apart or more,
# as far as a voice still sounds human (0.83 deepens, 1.19 brightens).
WARP_LADDER = (1.0, 0.88, 1.13, 0.94, 1.06, 0.83, 1.19)
# espeak-ng has 88 variants: one speaker each (two at most), so the other families'
# few voices fill their share with perturbed copies.
MAX_COPIES = {"espeak": 2}
CHANNEL_PROBABILITY = 0.3  # utterances passed through a random band-limited channel
# Recordings read back to back per utterance: prompts are phrases, ktuberling's single words.
RECORDINGS_PER_UTTERANCE = {"prompts": (1, 3), "ktuberling": (2, 4)}

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
    """One speaker: a source voice at a perturbation factor, with espeak-ng's accent, pitch and tempo."""

    id: int
    split: str
    voice: SourceVoice
    warp: float
    accent: str = ""
    pitch: int = 50
    tempo: float = 1.0

    @property
    def family(self) -> str:
        return self.voice.family

    def utterance_id(self, index: int) -> str:
        return f"{self.id}-1-{index:04d}"


def split_persons(
    seed: int, voices: Sequence[SourceVoice], shares: dict[str, int], holdout_family: str | None
) -> dict[str, str]:
    """Person -> split, disjoint by person, every family represented where it can be.

    Families are served fewest persons first, so a small family gets a person in
    dev and in test before a large one fills them; a family with fewer than 3
    unassigned persons trains on them. Every person of `holdout_family` goes to
    `test-FAMILY`; other families' voices of such a person are left out.
    """
    rng = np.random.default_rng([seed, 0])
    assignment: dict[str, str] = {}
    if holdout_family is not None:
        for voice in voices:
            if voice.family == holdout_family:
                assignment[voice.person] = f"test-{holdout_family}"
    families: dict[str, list[str]] = {}
    for voice in voices:
        persons = families.setdefault(voice.family, [])
        if voice.person not in persons:
            persons.append(voice.person)
    held_share = (shares["dev"] + shares["test"]) / sum(shares.values())
    for family in sorted(families, key=lambda f: (len(families[f]), f)):
        free = [p for p in families[family] if p not in assignment]
        free = [free[i] for i in rng.permutation(len(free))]
        if len(free) >= 3:
            held = max(1, round(len(free) * held_share / 2))
            for person in free[:held]:
                assignment[person] = "dev"
            for person in free[held : 2 * held]:
                assignment[person] = "test"
            free = free[2 * held :]
        for person in free:
            assignment[person] = "train-100"
    return assignment


def design_speakers(
    seed: int, counts: dict[str, int], voices: Sequence[SourceVoice], holdout_family: str | None = None
) -> dict[str, list[Speaker]]:
    """`counts[split]` speakers per split, shared out evenly over the families present there.

    Within a family, voices take turns; a voice's k-th speaker is it at
    `WARP_LADDER[k]` (jittered by 2%), so copies sound like different people. A
    family stops at `MAX_COPIES` speakers per voice (7 unless listed) and the rest of
    its share goes to the others; when every voice is at its limit the split has
    fewer speakers than asked. Persons never cross splits (`split_persons`).
    """
    if any(count < 1 for count in counts.values()):
        raise CorpusError(f"every split needs at least one speaker, got {counts}")
    assignment = split_persons(seed, voices, counts, holdout_family)
    rng = np.random.default_rng([seed, 4])
    speakers: dict[str, list[Speaker]] = {}
    next_id = 1
    for split, count in counts.items():
        by_family: dict[str, list[SourceVoice]] = {}
        for voice in voices:
            held_out = voice.family == holdout_family
            if assignment.get(voice.person) == split and held_out == split.startswith("test-"):
                by_family.setdefault(voice.family, []).append(voice)
        if not by_family:
            raise CorpusError(f"no voices left for split '{split}': add voices or families "
                              f"(families {sorted({v.family for v in voices})}, holdout {holdout_family})")
        for family, group in by_family.items():
            by_family[family] = [group[i] for i in rng.permutation(len(group))]
        uses = {voice: 0 for group in by_family.values() for voice in group}
        turn = {family: 0 for family in by_family}
        speakers[split] = []
        while len(speakers[split]) < count:
            progressed = False
            for family in sorted(by_family):
                if len(speakers[split]) == count:
                    break
                group = by_family[family]
                limit = min(MAX_COPIES.get(family, len(WARP_LADDER)), len(WARP_LADDER))
                voice = group[turn[family] % len(group)]
                if uses[voice] >= limit:
                    continue
                turn[family] += 1
                factor = WARP_LADDER[uses[voice]] * float(rng.uniform(0.98, 1.02))
                if family == "folder" and uses[voice] == 0:
                    factor = 1.0  # a user's recordings are first heard as recorded
                uses[voice] += 1
                progressed = True
                if family == "espeak":
                    extra = dict(accent=str(rng.choice(ESPEAK_ACCENTS)),
                                 pitch=int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1)),
                                 tempo=round(float(rng.uniform(*TEMPO_RANGE)), 3))
                else:
                    # Drawn for every family, so the random stream (hence the corpus) does not
                    # depend on which families have a tempo control; recordings keep 1.0.
                    tempo = round(float(rng.uniform(0.92, 1.08)), 3)
                    extra = dict(tempo=tempo if family in SYNTHETIC else 1.0)
                speakers[split].append(Speaker(next_id, split, voice, round(factor, 4), **extra))
                next_id += 1
            if not progressed:
                break  # every voice at its copy limit: fewer speakers than asked (the log says how many)
    persons_of_split: dict[str, set[str]] = {}
    for split, group in speakers.items():
        for speaker in group:
            persons_of_split.setdefault(speaker.voice.person, set()).add(split)
    assert all(len(owners) == 1 for owners in persons_of_split.values()), "persons leak across splits"
    return speakers


def utterance_requests(
    seed: int, speaker: Speaker, count: int, words: tuple[int, int]
) -> list[tuple[Request, float]]:
    """`count` (request, warp factor) pairs for one speaker, fixed by (seed, speaker id)."""
    rng = np.random.default_rng([seed, 1, speaker.id])
    family = speaker.family
    files: Sequence[str] = ()
    if family in RECORDINGS_PER_UTTERANCE:
        files = recorded_files(speaker.voice)
    elif family == "folder":
        files = folder_files(speaker.voice.source)
        order = [files[i] for i in rng.permutation(len(files))]
        count = min(count, len(files))  # each recording once per speaker
    requests = []
    for index in range(count):
        if family in RECORDINGS_PER_UTTERANCE:
            low, high = RECORDINGS_PER_UTTERANCE[family]
            chosen = rng.choice(len(files), int(rng.integers(low, high + 1)))
            text = "|".join(files[i] for i in chosen)
        elif family == "folder":
            text = order[index % len(order)]
        else:
            text = " ".join(rng.choice(WORDS, int(rng.integers(words[0], words[1] + 1))))
        pitch = int(np.clip(speaker.pitch + rng.integers(-UTTERANCE_PITCH, UTTERANCE_PITCH + 1), 0, 99))
        tempo = round(speaker.tempo * float(rng.uniform(*UTTERANCE_TEMPO)), 3)  # 1.0 x jitter for recordings...
        tempo = tempo if family in SYNTHETIC else 1.0  # ...which have no tempo control
        factor = speaker.warp * float(rng.uniform(*UTTERANCE_WARP)) if family != "folder" else speaker.warp
        requests.append((Request(text, pitch, tempo), factor))
    return requests


@dataclass(frozen=True)
class Utterance:
    """One finished utterance `(time,)` and what made it."""

    id: str
    speaker: Speaker
    audio: np.ndarray
    text: str
    pitch: int
    tempo: float
    warp: float
    channel: str


def render_speaker(
    seed: int, speaker: Speaker, count: int, words: tuple[int, int], sample_rate: int, channel_probability: float,
    codec_probability: float = 0.0,
) -> list[Utterance]:
    """Every utterance of one speaker: synthesised (or read), resampled, trimmed, warped, maybe band-limited,
    maybe telephone-coded."""
    requests = utterance_requests(seed, speaker, count, words)
    try:
        produced = synthesize(speaker.voice, speaker.accent, [r for r, _ in requests])
    except VoiceError as error:
        raise CorpusError(str(error)) from None
    except (OSError, subprocess.SubprocessError, sf.LibsndfileError) as error:
        raise CorpusError(f"{speaker.voice.family} voice {speaker.voice.name} failed: {error}") from None
    rng = np.random.default_rng([seed, 5, speaker.id])
    # Its own stream, so a corpus without codecs keeps the bytes it had before they existed.
    codec_rng = np.random.default_rng([seed, 6, speaker.id])
    utterances = []
    for index, ((request, factor), (audio, rate)) in enumerate(zip(requests, produced)):
        speech = trim_silence(resample(audio, rate, sample_rate), sample_rate)
        speech = warp(speech, factor)
        channel = "full"
        if rng.uniform() < channel_probability:
            speech, channel = random_channel(rng, speech, sample_rate)
        if codec_rng.uniform() < codec_probability:
            speech, name = random_codec(codec_rng, speech, sample_rate)
            channel = f"{channel}+{name}"
        if len(speech) < sample_rate // 10:
            raise CorpusError(f"{speaker.voice.family} voice {speaker.voice.name} produced no speech for "
                              f"'{request.text[:80]}'")
        utterances.append(Utterance(speaker.utterance_id(index), speaker, speech.astype(np.float32), request.text,
                                    request.pitch, request.tempo, round(factor, 4), channel))
    return utterances


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


def wav_folder(sample_rate: int) -> str:
    if sample_rate % 1000:
        raise CorpusError(f"sample_rate must be a whole number of kHz (8000, 16000), got {sample_rate}")
    return f"wav{sample_rate // 1000}k"


def plan_mixtures(
    seed: int, n_src: int, split_index: int, pool: dict[Speaker, list[str]], count: int
) -> list[tuple[str, ...]]:
    """`count` distinct tuples of utterance ids from `n_src` distinct speakers, of distinct persons when possible."""
    speakers = list(pool)
    if len(speakers) < n_src:
        raise CorpusError(f"{n_src}-speaker mixtures need at least {n_src} speakers, got {len(speakers)}")
    persons = len({s.voice.person for s in speakers})
    rng = np.random.default_rng([seed, 3, n_src, split_index])
    plans: list[tuple[str, ...]] = []
    seen: set[tuple[str, ...]] = set()
    for _ in range(100 * count):
        if len(plans) == count:
            break
        chosen = rng.choice(len(speakers), size=n_src, replace=False)
        if len({speakers[i].voice.person for i in chosen}) < min(n_src, persons):
            continue  # two copies of one voice are a harder, rarer case than two people
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
    reverb: float  # fraction of mixtures heard in a room


def _render(job: _MixJob, utterances: dict[str, np.ndarray]) -> list[tuple[str, dict[str, int], float]]:
    """Write every file of the job's mixtures; returns (mixture_id, {mode: length}, rt60 or 0)."""
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
        wet, rt60 = None, 0.0
        if job.reverb > 0 and rng.uniform() < job.reverb:
            responses, rt60 = room_impulse_responses(rng, job.n_src, job.sample_rate)
            wet = [reverberate(s, h) for s, h in zip(sources, responses)]
        lengths = {}
        for mode in job.modes:
            length = longest if mode == "max" else min(len(s) for s in sources)
            lengths[mode] = length
            signals = _mode_signals(sources, noise, length, job.mix_single, wet)
            folder = Path(job.out_root) / mode / job.split
            for name, signal in signals.items():
                # The staging tree is renamed into place as a whole: no per-file atomicity needed.
                (folder / name).mkdir(parents=True, exist_ok=True)
                (folder / name / f"{mixture_id}.wav").write_bytes(wav_bytes(signal, job.sample_rate, "PCM_16"))
        rows.append((mixture_id, lengths, rt60))
    return rows


def _mode_signals(
    sources: list[np.ndarray], noise: np.ndarray | None, length: int, mix_single: bool,
    wet: list[np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Folder name -> signal for one mixture in one mode, scaled below PEAK and on the 16-bit grid.

    With `wet` (the sources as heard in a room) the mixtures sum the wet sources
    while `s1..sn` keep the dry ones: the separator must also dereverberate.
    """
    parts = np.stack([fit_length(s, length) for s in sources])
    heard = parts if wet is None else np.stack([fit_length(s, length) for s in wet])
    noise = None if noise is None else noise[:length]

    def mixtures(parts: np.ndarray, noise: np.ndarray | None) -> dict[str, np.ndarray]:
        clean = parts.sum(axis=0)
        mixes = {"mix_clean": clean}
        if noise is not None:
            mixes["mix_both"] = clean + noise
            if mix_single:
                mixes["mix_single"] = parts[0] + noise
        return mixes

    peaks = [np.abs(parts).max()] + [np.abs(m).max() for m in mixtures(heard, noise).values()]
    if noise is not None:
        peaks.append(np.abs(noise).max())
    scale = min(1.0, PEAK / max(peaks))
    # Quantise the parts first: sums of 16-bit values are exact in float64 and in PCM_16.
    parts = quantize_pcm16(parts * scale).astype(np.float64)
    heard = parts if wet is None else quantize_pcm16(heard * scale).astype(np.float64)
    noise = None if noise is None else quantize_pcm16(noise * scale).astype(np.float64)
    signals = mixtures(heard, noise)
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
            for mixture_id, lengths, _ in rows:
                name = f"{mixture_id}.wav"
                row = [mixture_id, str(base / kind / name)] + [str(base / f"s{k}" / name) for k in sources]
                row += ([str(base / "noise" / name)] if kind != "mix_clean" else []) + [lengths[mode]]
                writer.writerow(row)


def _write_csv(path: Path, header: list[str], rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _write_speakers(path: Path, speakers: dict[str, list[Speaker]], per_speaker: dict[int, int]) -> None:
    header = ["speaker_ID", "split", "family", "voice", "person", "source", "warp", "accent", "pitch", "tempo",
              "utterances"]
    rows = [[s.id, split, s.family, s.voice.name, s.voice.person, s.voice.source, s.warp, s.accent, s.pitch, s.tempo,
             per_speaker[s.id]] for split, group in speakers.items() for s in group]
    _write_csv(path, header, rows)


def _write_utterances(path: Path, utterances: Sequence[Utterance], sample_rate: int) -> None:
    header = ["utterance_ID", "speaker_ID", "split", "family", "voice", "source", "warp", "pitch", "tempo",
              "channel", "seconds", "text"]
    rows = [[u.id, u.speaker.id, u.speaker.split, u.speaker.family, u.speaker.voice.name, u.speaker.voice.source,
             u.warp, u.pitch if u.speaker.family == "espeak" else "", u.tempo, u.channel,
             round(len(u.audio) / sample_rate, 3), u.text] for u in utterances]
    _write_csv(path, header, rows)


def _write_mixture_info(path: Path, rows, utterances: dict[str, Utterance]) -> None:
    """Families, voices and room of every mixture, in source order."""
    table = []
    for mixture_id, _, rt60 in rows:
        parts = [utterances[u].speaker for u in mixture_id.split("_")]
        table.append([mixture_id, "+".join(s.family for s in parts), "+".join(s.voice.name for s in parts),
                      round(rt60, 3)])
    _write_csv(path, ["mixture_ID", "families", "voices", "rt60"], table)


def corpus_voices(families: Sequence[str], speakers_dir: str | Path | None) -> list[SourceVoice]:
    """Every source voice of the requested families, or of the user's speaker folders."""
    if speakers_dir is not None:
        return folder_voices(str(speakers_dir))
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise CorpusError(f"families must be a non-empty subset of {', '.join(FAMILIES)}, got {list(families)}")
    return [voice for family in families for voice in family_voices(family)]


WHAT = "a generated speech corpus (its mode folders hold only .wav and .csv files)"


def _corpus_file(relative) -> bool:
    """A file `force` may replace: the audio and csv files this generator writes in a mode folder."""
    return relative.suffix in (".wav", ".csv")


def generate_speech_corpus(
    root: str | Path,
    seed: int = 0,
    sample_rate: int = 8000,
    n_src_list: Sequence[int] = (2, 3),
    n_train: int = 800,
    n_dev: int = 100,
    n_test: int = 100,
    speakers: tuple[int, int, int] = (48, 12, 12),
    utterances_per_speaker: int = 12,
    words_per_utterance: tuple[int, int] = (8, 13),
    modes: Sequence[str] = ("min",),
    noise: bool = True,
    mix_single: bool = False,
    families: Sequence[str] = DEFAULT_FAMILIES,
    holdout_family: str | None = None,
    speakers_dir: str | Path | None = None,
    channel_probability: float = CHANNEL_PROBABILITY,
    codec: float = 0.0,
    reverb: float = 0.0,
    workers: int = 2,
    force: bool = False,
    log: Callable[[str], None] | None = print,
) -> dict[str, dict[str, float]]:
    """Build a LibriMix-shaped corpus under `root` (layout in the module docstring).

    Args:
        root: folder that will hold `Libri{n}Mix/`; created if missing.
        seed: fixes every voice, sentence, gain, channel, room and noise: same seed, same bytes.
        sample_rate: 8000 or 16000 (folder `wav8k` / `wav16k`).
        n_src_list: speakers per mixture; one `Libri{n}Mix` per entry, all drawing
            on the same utterance pool.
        n_train, n_dev, n_test: mixtures per split (train-100, dev, test; `test-FAMILY`
            too) for each n.
        speakers: speakers in (train, dev, test); the held-out family's split gets as
            many as test. Splits are disjoint by person.
        utterances_per_speaker: size of each speaker's pool; mixtures reuse utterances.
        words_per_utterance: inclusive range of words per synthesised sentence (about 3-5 s).
        modes: LibriMix modes to write, `min` (truncate to the shortest source)
            and/or `max` (zero-pad to the longest). Each mode adds its full size on disk.
        noise: also write `noise/` and `mix_both/`.
        mix_single: also write `mix_single/` (s1 + noise, LibriMix's enhancement task).
        families: voice families to draw on (any of `speech_voices.FAMILIES`; default `DEFAULT_FAMILIES`).
        holdout_family: a family kept out of train and dev; its speakers form `test-FAMILY`.
        speakers_dir: use the recordings in this folder (one sub-folder per speaker)
            instead of `families`.
        channel_probability: fraction of utterances passed through a random band-pass.
        codec: fraction of utterances passed through a random telephone codec
            (`speech_augment.CODECS`), after any band-pass. The held-out family's
            recordings are the measurement and keep the channel they were recorded with.
        reverb: fraction of mixtures heard in a random room (targets stay dry).
        workers: threads for synthesis and mixing (the output does not depend on it).
        force: replace existing `Libri{n}Mix/wav*k/{mode}` folders instead of refusing.
        log: called with one summary line per split; None for silence.

    Returns:
        `{"Libri2Mix/wav8k/min/train-100": {"mixtures": 800, "hours": 0.8}, ...}`.

    The corpus is built in a temporary folder inside `root` and renamed into
    place, so an interrupted run leaves no half-written corpus behind. With
    `force` only the mode folders are replaced, and only when they hold nothing
    but the corpus's wav and csv files: a file of the user's is never deleted.
    """
    modes = tuple(modes)
    if not modes or any(mode not in MODES for mode in modes):
        raise CorpusError(f"modes must be a non-empty subset of {MODES}, got {modes}")
    if mix_single and not noise:
        raise CorpusError("mix_single needs noise=True (it is s1 + noise)")
    if len(speakers) != len(SPLITS):
        raise CorpusError(f"speakers must give (train, dev, test) counts, got {speakers}")
    if min(n_train, n_dev, n_test, utterances_per_speaker) < 1 or not n_src_list or min(n_src_list) < 1:
        raise CorpusError("n_train, n_dev, n_test, utterances_per_speaker and every n_src must be at least 1")
    if not (0 <= channel_probability <= 1 and 0 <= codec <= 1 and 0 <= reverb <= 1):
        raise CorpusError(f"channel_probability, codec and reverb must be in [0, 1], "
                          f"got {channel_probability}, {codec}, {reverb}")
    families = tuple(families)
    if holdout_family is not None and (speakers_dir is not None or holdout_family not in families):
        raise CorpusError(f"holdout_family '{holdout_family}' must be one of the families used: {', '.join(families)}")
    rate_folder = wav_folder(sample_rate)
    try:
        voices = corpus_voices(families, speakers_dir)
    except VoiceError as error:
        raise CorpusError(str(error)) from None
    root = Path(root).resolve()
    targets = {(n, mode): root / f"Libri{n}Mix" / rate_folder / mode for n in n_src_list for mode in modes}
    existing = [str(t) for t in targets.values() if t.exists()]
    if existing and not force:
        raise CorpusError(f"{existing[0]}: corpus already exists; pass force=True (CLI: --force) to replace it")
    names = [str(t.relative_to(root)) for t in targets.values()]
    refuse_foreign(root, names, _corpus_file, WHAT)  # before hours of synthesis, not after

    splits = SPLITS + ((f"test-{holdout_family}",) if holdout_family else ())
    counts = dict(zip(splits, (n_train, n_dev, n_test, n_test)))
    cast = design_speakers(seed, dict(zip(splits, (*speakers, speakers[2]))), voices, holdout_family)
    group_list = [s for split in splits for s in cast[split]]

    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".speech-corpus-", dir=root))
    # Threads suffice: the synthesisers run as subprocesses, and numpy, scipy and
    # file writes release the GIL. Every job is a pure function of its arguments.
    try:
        with ThreadPoolExecutor(max(1, workers)) as pool:
            rendered = list(pool.map(lambda s: render_speaker(
                seed, s, utterances_per_speaker, words_per_utterance, sample_rate, channel_probability,
                0.0 if s.family == holdout_family else codec), group_list))
            made = [u for group in rendered for u in group]
            by_id = {u.id: u for u in made}
            pools = {split: {} for split in splits}
            for speaker, group in zip(group_list, rendered):
                pools[speaker.split][speaker] = [u.id for u in group]
            audio = {u.id: u.audio for u in made}
            jobs = []
            for n in n_src_list:
                out_root = str(staging / f"Libri{n}Mix" / rate_folder)
                for split_index, split in enumerate(splits):
                    plans = plan_mixtures(seed, n, split_index, pools[split], counts[split])
                    for first in range(0, len(plans), 50):
                        chunk = tuple(plans[first : first + 50])
                        jobs.append(_MixJob(seed, n, split, split_index, first, chunk, modes, sample_rate,
                                            out_root, noise, mix_single, reverb))
            results = list(pool.map(lambda job: _render(job, audio), jobs))

        rows: dict[tuple[int, str], list] = {}
        for job, result in zip(jobs, results):
            rows.setdefault((job.n_src, job.split), []).extend(result)
        summary = {}
        for (n, mode), target in targets.items():
            staged = staging / f"Libri{n}Mix" / rate_folder / mode
            for split in splits:
                split_rows = rows[(n, split)]
                _write_metadata(staged, target, split, n, split_rows, mode, noise, mix_single)
                _write_mixture_info(staged / "metadata" / f"mixture_info_{split}.csv", split_rows, by_id)
                hours = sum(lengths[mode] for _, lengths, _ in split_rows) / sample_rate / 3600
                key = f"Libri{n}Mix/{rate_folder}/{mode}/{split}"
                summary[key] = {"mixtures": len(split_rows), "hours": hours}
                if log is not None:
                    present = sorted({s.family for s in cast[split]})
                    log(f"{key}: {len(split_rows)} mixtures, {hours:.2f} h, {len(cast[split])} speakers "
                        f"({', '.join(present)})")
            counts_made = {s.id: len(pools[s.split][s]) for s in group_list}
            _write_speakers(staged / "metadata" / "speakers.csv", cast, counts_made)
            _write_utterances(staged / "metadata" / "utterances.csv", made, sample_rate)
        replace_entries(staging, root, names, _corpus_file, WHAT)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return summary
