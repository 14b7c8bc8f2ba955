"""Rendering a speaker's utterances: what each one says, then its audio.

Every utterance varies the pitch and tempo around its speaker's; synthetic
voices speak random sentences from `WORDS`, recorded families read one to a few
recordings back to back, a user's folder is read as recorded. The audio is
resampled to the corpus rate, trimmed of silence and warped to the speaker's
factor; some utterances pass through a band-limited channel and, on request, a
telephone codec. Each speaker has its own random streams, so an utterance does
not depend on which other speakers or how many worker threads there are.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from separation.data.corpus_errors import CorpusError
from separation.data.signal import resample, trim_silence
from separation.data.speech_augment import random_channel, random_codec, warp
from separation.data.speech_cast import SYNTHETIC, Speaker
from separation.data.speech_voices import Request, VoiceError, folder_files, recorded_files, synthesize

UTTERANCE_PITCH = 6  # espeak-ng pitch varies by up to this much per utterance
UTTERANCE_TEMPO = (0.93, 1.07)
UTTERANCE_WARP = (0.97, 1.03)  # per-utterance pitch jitter on top of the speaker's factor
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
class RenderedUtterance:
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
) -> list[RenderedUtterance]:
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
        utterances.append(RenderedUtterance(speaker.utterance_id(index), speaker, speech.astype(np.float32),
                                            request.text, request.pitch, request.tempo, round(factor, 4), channel))
    return utterances
