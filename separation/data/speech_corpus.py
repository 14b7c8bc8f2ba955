"""An offline, LibriMix-shaped speech separation corpus from many voice families.

Layout, as LibriMix writes it (paths in the csv files are absolute)::

    ROOT/Libri{n}Mix/wav{8k|16k}/{min|max}/{train-100,dev,test[,test-FAMILY]}/
        mix_clean/ mix_both/ [mix_single/] s1/ ... s{n}/ noise/   <mixture_id>.wav
    ROOT/Libri{n}Mix/wav{8k|16k}/{min|max}/metadata/
        mixture_{split}_{mix_clean|mix_both|mix_single}.csv, mixture_info_{split}.csv,
        speakers.csv, utterances.csv

Voices come from the families of `speech_voices` (espeak-ng, Flite, Festival and
real recorded Asterisk prompts; or a folder of user recordings). The corpus is
made in four steps, each a module of its own: casting (`speech_cast`: speakers
per split, disjoint by person), rendering (`speech_render`: each speaker's
utterances), mixing (`speech_mixing`: LibriMix's levels, noise, modes and rooms)
and metadata (`speech_metadata`). This module checks the options, runs the steps
on worker threads and puts the finished corpus in place.

With `holdout_family` a whole family is kept out of train and dev; its speakers
make a split of their own, `test-FAMILY`, while `test` holds the other families'
unseen speakers, so one model is measured both in and out of its training
families. Everything is a pure function of the options: each utterance and each
mixture has its own random stream, so the bytes do not depend on the number of
worker threads.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from separation.data.corpus_errors import CorpusError
from separation.data.speech_cast import SPLITS, design_speakers
from separation.data.speech_metadata import write_metadata, write_mixture_info, write_speakers, write_utterances
from separation.data.speech_mixing import MODES, MixJob, plan_mixtures, render_mixtures
from separation.data.speech_render import CHANNEL_PROBABILITY, render_speaker
from separation.data.speech_voices import (
    DEFAULT_FAMILIES,
    FAMILIES,
    SourceVoice,
    VoiceError,
    family_voices,
    folder_voices,
)
from separation.outputs import refuse_foreign, replace_entries

__all__ = ["CorpusError", "SpeechCorpusOptions", "corpus_voices", "generate_speech_corpus", "wav_folder"]


def wav_folder(sample_rate: int) -> str:
    if sample_rate % 1000:
        raise CorpusError(f"sample_rate must be a whole number of kHz (8000, 16000), got {sample_rate}")
    return f"wav{sample_rate // 1000}k"


@dataclass(frozen=True)
class SpeechCorpusOptions:
    """What corpus to make: every choice that changes its bytes, checked when the options are made.

    Attributes:
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
    """

    seed: int = 0
    sample_rate: int = 8000
    n_src_list: Sequence[int] = (2, 3)
    n_train: int = 800
    n_dev: int = 100
    n_test: int = 100
    speakers: tuple[int, int, int] = (48, 12, 12)
    utterances_per_speaker: int = 12
    words_per_utterance: tuple[int, int] = (8, 13)
    modes: Sequence[str] = ("min",)
    noise: bool = True
    mix_single: bool = False
    families: Sequence[str] = DEFAULT_FAMILIES
    holdout_family: str | None = None
    speakers_dir: str | Path | None = None
    channel_probability: float = CHANNEL_PROBABILITY
    codec: float = 0.0
    reverb: float = 0.0

    def __post_init__(self) -> None:
        for name in ("n_src_list", "speakers", "words_per_utterance", "modes", "families"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        modes, speakers = self.modes, self.speakers
        if not modes or any(mode not in MODES for mode in modes):
            raise CorpusError(f"modes must be a non-empty subset of {MODES}, got {modes}")
        if self.mix_single and not self.noise:
            raise CorpusError("mix_single needs noise=True (it is s1 + noise)")
        if len(speakers) != len(SPLITS):
            raise CorpusError(f"speakers must give (train, dev, test) counts, got {speakers}")
        n_src_list = self.n_src_list
        if min(self.n_train, self.n_dev, self.n_test, self.utterances_per_speaker) < 1 or not n_src_list \
                or min(n_src_list) < 1:
            raise CorpusError("n_train, n_dev, n_test, utterances_per_speaker and every n_src must be at least 1")
        channel, codec, reverb = self.channel_probability, self.codec, self.reverb
        if not (0 <= channel <= 1 and 0 <= codec <= 1 and 0 <= reverb <= 1):
            raise CorpusError(f"channel_probability, codec and reverb must be in [0, 1], "
                              f"got {channel}, {codec}, {reverb}")
        holdout, families = self.holdout_family, self.families
        if holdout is not None and (self.speakers_dir is not None or holdout not in families):
            raise CorpusError(f"holdout_family '{holdout}' must be one of the families used: {', '.join(families)}")
        wav_folder(self.sample_rate)

    @property
    def splits(self) -> tuple[str, ...]:
        """train-100, dev, test, and test-FAMILY with a held-out family."""
        return SPLITS + ((f"test-{self.holdout_family}",) if self.holdout_family else ())


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
    options: SpeechCorpusOptions | None = None,
    *,
    workers: int = 2,
    force: bool = False,
    log: Callable[[str], None] | None = print,
    **fields,
) -> dict[str, dict[str, float]]:
    """Build a LibriMix-shaped corpus under `root` (layout in the module docstring).

    Args:
        root: folder that will hold `Libri{n}Mix/`; created if missing.
        options: what corpus to make (`SpeechCorpusOptions`); `fields` are its
            attributes by keyword, set on `options` or on the defaults
            (`generate_speech_corpus(root, seed=1, n_train=8)`).
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
    o = SpeechCorpusOptions(**fields) if options is None else replace(options, **fields)
    rate_folder = wav_folder(o.sample_rate)
    try:
        voices = corpus_voices(o.families, o.speakers_dir)
    except VoiceError as error:
        raise CorpusError(str(error)) from None
    root = Path(root).resolve()
    targets = {(n, mode): root / f"Libri{n}Mix" / rate_folder / mode for n in o.n_src_list for mode in o.modes}
    existing = [str(t) for t in targets.values() if t.exists()]
    if existing and not force:
        raise CorpusError(f"{existing[0]}: corpus already exists; pass force=True (CLI: --force) to replace it")
    names = [str(t.relative_to(root)) for t in targets.values()]
    refuse_foreign(root, names, _corpus_file, WHAT)  # before hours of synthesis, not after

    splits = o.splits
    counts = dict(zip(splits, (o.n_train, o.n_dev, o.n_test, o.n_test)))
    cast = design_speakers(o.seed, dict(zip(splits, (*o.speakers, o.speakers[2]))), voices, o.holdout_family)
    group_list = [s for split in splits for s in cast[split]]

    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".speech-corpus-", dir=root))
    # Threads suffice: the synthesisers run as subprocesses, and numpy, scipy and
    # file writes release the GIL. Every job is a pure function of its arguments.
    try:
        with ThreadPoolExecutor(max(1, workers)) as pool:
            rendered = list(pool.map(lambda s: render_speaker(
                o.seed, s, o.utterances_per_speaker, o.words_per_utterance, o.sample_rate, o.channel_probability,
                0.0 if s.family == o.holdout_family else o.codec), group_list))
            made = [u for group in rendered for u in group]
            by_id = {u.id: u for u in made}
            pools = {split: {} for split in splits}
            for speaker, group in zip(group_list, rendered):
                pools[speaker.split][speaker] = [u.id for u in group]
            audio = {u.id: u.audio for u in made}
            jobs = []
            for n in o.n_src_list:
                out_root = str(staging / f"Libri{n}Mix" / rate_folder)
                for split_index, split in enumerate(splits):
                    plans = plan_mixtures(o.seed, n, split_index, pools[split], counts[split])
                    for first in range(0, len(plans), 50):
                        chunk = tuple(plans[first : first + 50])
                        jobs.append(MixJob(o.seed, n, split, split_index, first, chunk, o.modes, o.sample_rate,
                                           out_root, o.noise, o.mix_single, o.reverb))
            results = list(pool.map(lambda job: render_mixtures(job, audio), jobs))

        rows: dict[tuple[int, str], list] = {}
        for job, result in zip(jobs, results):
            rows.setdefault((job.n_src, job.split), []).extend(result)
        summary = {}
        for (n, mode), target in targets.items():
            staged = staging / f"Libri{n}Mix" / rate_folder / mode
            for split in splits:
                split_rows = rows[(n, split)]
                write_metadata(staged, target, split, n, split_rows, mode, o.noise, o.mix_single)
                write_mixture_info(staged / "metadata" / f"mixture_info_{split}.csv", split_rows, by_id)
                hours = sum(lengths[mode] for _, lengths, _ in split_rows) / o.sample_rate / 3600
                key = f"Libri{n}Mix/{rate_folder}/{mode}/{split}"
                summary[key] = {"mixtures": len(split_rows), "hours": hours}
                if log is not None:
                    present = sorted({s.family for s in cast[split]})
                    log(f"{key}: {len(split_rows)} mixtures, {hours:.2f} h, {len(cast[split])} speakers "
                        f"({', '.join(present)})")
            counts_made = {s.id: len(pools[s.split][s]) for s in group_list}
            write_speakers(staged / "metadata" / "speakers.csv", cast, counts_made)
            write_utterances(staged / "metadata" / "utterances.csv", made, o.sample_rate)
        replace_entries(staging, root, names, _corpus_file, WHAT)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return summary
