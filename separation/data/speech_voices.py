"""Voice families of the generated speech corpus: who can speak, and how to make them speak.

A family is one way of producing speech offline from Debian packages:

- `espeak`: espeak-ng's formant synthesiser, its voice variants at many accents,
  pitches and speeds (`apt-get install espeak-ng`).
- `flite`: Flite's diphone and clustergen voices built from recorded speakers
  (kal, awb, rms, slt; `apt-get install flite`).
- `festival`: Festival's diphone voices (kal, ked) and an HTS voice trained on a
  recorded speaker (slt; `apt-get install festival festvox-kallpc16k
  festvox-kdlpc16k festvox-us-slt-hts`).
- `festvox`: Festival's voices of recorded speakers in other languages (Italian
  lp and pc, Catalan ona (HTS), Czech dita and machac, Finnish lj and mv); they
  read the same English word lists with their own languages' phones. Not in the
  default families (`DEFAULT_FAMILIES`): `--families espeak,flite,festival,festvox,prompts`.
- `ktuberling`: real recorded words, one volunteer per language (Catalan, Danish,
  German, Greek, English, Finnish, Irish, Galician, Lithuanian, Low German, Dutch,
  Nynorsk, Portuguese, Romanian, Russian, Slovenian, Serbian, Swedish, Ukrainian,
  Walloon), from Debian's `ktuberling-data` (the KDE toy that names the stamps it
  places). The Spanish, French and Italian recordings are left out: the held-out
  `prompts` speakers speak those languages, and nothing says who recorded them.
  Not in the default families: `--families espeak,flite,festival,festvox,ktuberling,prompts`.
- `prompts`: real recorded telephone prompts of three speakers, from Debian's
  `asterisk-prompt-es-co`, `asterisk-prompt-fr-armelle` and
  `asterisk-prompt-it-menardi-wav`. Only the files those packages list
  (`dpkg-query -L`) are read, never anything else under /usr/share/asterisk:
  the `asterisk-core-sounds-*` speakers are the suite's held-out real-voice test
  and must never be used.

A `SourceVoice` is one voice of one family. Its `person` names the human (or
the espeak-ng variant) behind it: Flite's and Festival's `kal` and `slt` are
the same recorded speakers, so splits are made disjoint by person, not by voice.
Synthesis returns float64 mono audio at the voice's own rate; the corpus
resamples, trims and perturbs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import soundfile as sf

from separation.data.signal import resample, trim_silence
from separation.data.voice_families import DEFAULT_FAMILIES, FAMILIES  # noqa: F401  (re-exported)
from separation.errors import UserError


class VoiceError(UserError):
    """A voice family cannot be used (missing program or package; one-line message)."""


@dataclass(frozen=True)
class SourceVoice:
    """One voice of one family; `person` is the speaker behind it (splits are disjoint by person)."""

    family: str
    name: str
    person: str
    source: str  # the program or Debian package the audio comes from


@dataclass(frozen=True)
class Request:
    """One utterance to produce: `text` (or prompt files), a pitch offset and a tempo factor.

    `pitch` is espeak-ng's 0-99 pitch (other families take pitch from the
    speaker perturbation instead); `tempo` > 1 speaks faster.
    """

    text: str
    pitch: int = 50
    tempo: float = 1.0


# espeak-ng voice variants (`espeak-ng --voices=variant`) less the whispered,
# robotic and distorted ones that sound nothing like a person.
ESPEAK_VARIANTS = (
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
ESPEAK_ACCENTS = (
    "en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029",
    "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us-nyc",
)
# kal16 is kal at 16 kHz (same speaker, same units) and awb_time a talking clock: both left out.
FLITE_VOICES = {"kal": "kal", "awb": "awb", "rms": "rms", "slt": "slt"}
FESTIVAL_VOICES = {  # Festival voice -> (person, Debian package)
    "kal_diphone": ("kal", "festvox-kallpc16k"),
    "ked_diphone": ("ked", "festvox-kdlpc16k"),
    "cmu_us_slt_arctic_hts": ("slt", "festvox-us-slt-hts"),
}
FESTVOX_VOICES = {  # Festival voice -> (person, Debian package); each a different recorded speaker
    "lp_diphone": ("festvox:lp", "festvox-italp16k"),
    "pc_diphone": ("festvox:pc", "festvox-itapc16k"),
    "upc_ca_ona_hts": ("festvox:ona", "festvox-ca-ona-hts"),
    "czech_dita": ("festvox:dita", "festvox-czech-dita"),
    "czech_machac": ("festvox:machac", "festvox-czech-machac"),
    "suo_fi_lj_diphone": ("festvox:lj", "festvox-suopuhe-lj"),
    "hy_fi_mv_diphone": ("festvox:mv", "festvox-suopuhe-mv"),
}
FESTIVAL_FAMILIES = {"festival": FESTIVAL_VOICES, "festvox": FESTVOX_VOICES}  # families Festival speaks
KTUBERLING_PACKAGE = "ktuberling-data"
KTUBERLING_SOUNDS = "/usr/share/ktuberling/sounds/"
# Languages of the held-out prompt speakers: their recordings could be those very people.
KTUBERLING_EXCLUDED = ("es", "fr", "it")
KTUBERLING_MIN_WORDS = 10
PROMPT_PACKAGES = {  # voice -> Debian package of one speaker's recorded prompts
    "es-co": "asterisk-prompt-es-co",
    "fr-armelle": "asterisk-prompt-fr-armelle",
    "it-menardi": "asterisk-prompt-it-menardi-wav",
}
# Single words and short phrases, up to a sentence: the long announcements would make
# one mixture's length. Leading and trailing silence count here.
PROMPT_SECONDS = (0.5, 4.0)
PROMPT_RATE = 8000  # Asterisk prompts are 8 kHz telephone audio (raw GSM 6.10 or PCM wav)
# Not speech: beeps, silences, music on hold.
_NOT_SPEECH = ("beep", "silence", "/music", "tone")


def family_voices(family: str) -> list[SourceVoice]:
    """Every voice of `family`, after checking that its program or packages are installed."""
    if family == "espeak":
        _require_program("espeak-ng", "espeak-ng")
        return [SourceVoice("espeak", v, f"espeak:{v}", "espeak-ng") for v in ESPEAK_VARIANTS]
    if family == "flite":
        _require_program("flite", "flite")
        return [SourceVoice("flite", v, person, "flite") for v, person in FLITE_VOICES.items()]
    if family in FESTIVAL_FAMILIES:
        _require_program("festival", "festival")
        voices = []
        for name, (person, package) in FESTIVAL_FAMILIES[family].items():
            _require_package(package)
            voices.append(SourceVoice(family, name, person, package))
        return voices
    if family == "ktuberling":
        words = ktuberling_words()
        if len(words) < 3:
            raise VoiceError(f"package {KTUBERLING_PACKAGE} lists fewer than 3 languages of recorded words")
        return [SourceVoice("ktuberling", lang, f"ktuberling:{lang}", KTUBERLING_PACKAGE) for lang in words]
    if family == "prompts":
        voices = []
        for name, package in PROMPT_PACKAGES.items():
            if len(prompt_files(name)) < 2:
                raise VoiceError(f"package {package} lists fewer than 2 speech prompts")
            voices.append(SourceVoice("prompts", name, f"prompt:{name}", package))
        return voices
    raise VoiceError(f"unknown voice family '{family}'; expected one of {', '.join(FAMILIES)}")


def _require_program(program: str, package: str) -> None:
    if shutil.which(program) is None:
        raise VoiceError(f"{program} not found on PATH; install it with: apt-get install {package} (scripts/system-deps.sh)")


@lru_cache(maxsize=None)
def _package_files(package: str) -> tuple[str, ...]:
    """Files a Debian package installed, as dpkg lists them."""
    if shutil.which("dpkg-query") is None:
        raise VoiceError(f"dpkg-query not found: the '{package}' voice needs a Debian system")
    listing = subprocess.run(["dpkg-query", "-L", package], capture_output=True, text=True)
    if listing.returncode != 0:
        raise VoiceError(f"Debian package {package} is not installed; run scripts/system-deps.sh "
                         f"(apt-get install --no-install-recommends {package})")
    return tuple(line for line in listing.stdout.splitlines() if os.path.isfile(line))


def _require_package(package: str) -> None:
    _package_files(package)


@lru_cache(maxsize=None)
def prompt_files(voice: str) -> tuple[str, ...]:
    """The speech prompts of one prompt voice, sorted: only files its own package installed."""
    files = _package_files(PROMPT_PACKAGES[voice])
    speech = [f for f in files if f.endswith((".gsm", ".wav")) and not any(k in f.lower() for k in _NOT_SPEECH)]
    return tuple(sorted(f for f in speech if PROMPT_SECONDS[0] <= _prompt_seconds(f) <= PROMPT_SECONDS[1]))


@lru_cache(maxsize=None)
def ktuberling_words() -> dict[str, tuple[str, ...]]:
    """Language -> its recorded words (sorted), from the files `ktuberling-data` installed.

    Script variants of one language (`sr@latin`, `sr@ijekavian`, ...) hold the same
    recordings as the language itself and are skipped; so are languages with fewer than
    `KTUBERLING_MIN_WORDS` words and the excluded ones.
    """
    words: dict[str, list[str]] = {}
    for path in _package_files(KTUBERLING_PACKAGE):
        if not path.startswith(KTUBERLING_SOUNDS) or not path.endswith((".ogg", ".opus", ".wav")):
            continue
        parts = path[len(KTUBERLING_SOUNDS):].split("/")
        if len(parts) == 2 and "@" not in parts[0] and parts[0] not in KTUBERLING_EXCLUDED:
            words.setdefault(parts[0], []).append(path)
    return {lang: tuple(sorted(files)) for lang, files in sorted(words.items()) if len(files) >= KTUBERLING_MIN_WORDS}


def recorded_files(voice: SourceVoice) -> tuple[str, ...]:
    """The recordings a voice of a recorded family (`prompts`, `ktuberling`) reads from."""
    if voice.family == "prompts":
        return prompt_files(voice.name)
    if voice.family == "ktuberling":
        return ktuberling_words()[voice.name]
    raise VoiceError(f"family '{voice.family}' has no recordings")


def _prompt_seconds(path: str) -> float:
    """Length of a prompt from its header (wav) or size (GSM 6.10: 33 bytes per 20 ms frame)."""
    if path.endswith(".gsm"):
        return os.path.getsize(path) / 33 * 0.02
    try:
        return sf.info(path).duration
    except (sf.LibsndfileError, RuntimeError):
        raise VoiceError(f"{path}: unreadable prompt") from None


def read_prompt(path: str) -> np.ndarray:
    """One Asterisk prompt as float64 at 8 kHz; `.gsm` files are raw GSM 6.10 frames."""
    try:
        if path.endswith(".gsm"):
            audio, rate = sf.read(path, format="RAW", subtype="GSM610", samplerate=PROMPT_RATE, channels=1)
        else:
            audio, rate = sf.read(path, dtype="float64")
    except (sf.LibsndfileError, RuntimeError) as error:
        raise VoiceError(f"{path}: unreadable prompt ({error})") from None
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    if rate != PROMPT_RATE:
        raise VoiceError(f"{path}: expected {PROMPT_RATE} Hz, got {rate} Hz")
    return audio.astype(np.float64)


def synthesize(voice: SourceVoice, accent: str, requests: Sequence[Request]) -> list[tuple[np.ndarray, int]]:
    """Audio `(time,)` and its sample rate for every request, in order.

    `accent` is the espeak-ng language voice (other families ignore it). For the
    `prompts` family a request's text is the `|`-joined prompt files to read,
    for `folder` voices the recording to read.
    """
    if voice.family == "espeak":
        return [_espeak(f"{accent}+{voice.name}", r) for r in requests]
    if voice.family == "flite":
        return [_flite(voice.name, r) for r in requests]
    if voice.family in FESTIVAL_FAMILIES:
        return _festival(voice.name, requests)
    if voice.family == "prompts":
        return [_back_to_back(r, _read_prompt_at_rate) for r in requests]
    if voice.family == "ktuberling":
        return [_back_to_back(r, read_recording) for r in requests]
    if voice.family == "folder":
        return [read_recording(r.text) for r in requests]
    raise VoiceError(f"unknown voice family '{voice.family}'")


def _read_wav(path: str) -> tuple[np.ndarray, int]:
    audio, rate = sf.read(path, dtype="float64")
    return (audio.mean(axis=1) if audio.ndim > 1 else audio), rate


def _espeak(voice: str, request: Request) -> tuple[np.ndarray, int]:
    speed = int(round(175 * request.tempo))  # words per minute; espeak-ng's default is 175
    with tempfile.TemporaryDirectory(prefix="espeak-") as folder:
        path = os.path.join(folder, "u.wav")
        command = ["espeak-ng", "-v", voice, "-p", str(request.pitch), "-s", str(speed), "-w", path, request.text]
        subprocess.run(command, check=True, capture_output=True)
        return _read_wav(path)


def _flite(voice: str, request: Request) -> tuple[np.ndarray, int]:
    with tempfile.TemporaryDirectory(prefix="flite-") as folder:
        path = os.path.join(folder, "u.wav")
        command = ["flite", "-voice", voice, "--setf", f"duration_stretch={1 / request.tempo:.3f}",
                   "-t", request.text, "-o", path]
        subprocess.run(command, check=True, capture_output=True)
        return _read_wav(path)


def _festival(voice: str, requests: Sequence[Request]) -> list[tuple[np.ndarray, int]]:
    """One Festival process per batch: loading a voice takes longer than speaking a sentence."""
    with tempfile.TemporaryDirectory(prefix="festival-") as folder:
        lines = [f"(voice_{voice})"]
        for index, request in enumerate(requests):
            text = request.text.replace("\\", " ").replace('"', " ")
            path = os.path.join(folder, f"{index}.wav")
            lines.append(f"(Parameter.set 'Duration_Stretch {1 / request.tempo:.3f})")
            lines.append(f'(utt.save.wave (utt.synth (Utterance Text "{text}")) "{path}" \'riff)')
        script = os.path.join(folder, "script.scm")
        with open(script, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        subprocess.run(["festival", "-b", script], check=True, capture_output=True)
        return [_read_wav(os.path.join(folder, f"{i}.wav")) for i in range(len(requests))]


def _back_to_back(request: Request, read: Callable[[str], tuple[np.ndarray, int]]) -> tuple[np.ndarray, int]:
    """The `|`-joined recordings of `request.text` read back to back, each trimmed, with the
    pauses a speaker leaves between phrases, at the rate of the first recording."""
    rng = np.random.default_rng(zlib.crc32(request.text.encode()))  # pauses only; fixed by the text
    pieces: list[np.ndarray] = []
    rate = 0
    for path in request.text.split("|"):
        audio, own_rate = read(path)
        rate = rate or own_rate
        if pieces:
            pieces.append(np.zeros(int(rate * rng.uniform(0.08, 0.3))))
        pieces.append(trim_silence(resample(audio, own_rate, rate), rate))
    return np.concatenate(pieces), rate


def _read_prompt_at_rate(path: str) -> tuple[np.ndarray, int]:
    return read_prompt(path), PROMPT_RATE


# ---------------------------------------------------------------------------
# User recordings: one sub-folder of audio files per speaker

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif", ".au")


def folder_voices(folder: str) -> list[SourceVoice]:
    """One voice per sub-folder of `folder`, every recording checked readable up front.

    A voice's `source` is its sub-folder; `folder_files` lists its recordings.
    """
    root = os.path.abspath(folder)
    if not os.path.isdir(root):
        raise VoiceError(f"{root}: no such folder (expected one sub-folder of recordings per speaker)")
    subfolders = sorted(e.path for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    if not subfolders:
        raise VoiceError(f"{root}: no speaker sub-folders (expected one sub-folder of recordings per speaker)")
    voices = []
    for path in subfolders:
        files = folder_files(path)
        if not files:
            raise VoiceError(f"{path}: no recordings ({', '.join(AUDIO_SUFFIXES)})")
        for file in files:
            try:
                info = sf.info(file)
            except (sf.LibsndfileError, RuntimeError):
                raise VoiceError(f"{file}: unreadable audio file") from None
            if info.frames == 0:
                raise VoiceError(f"{file}: audio file has no samples")
        name = os.path.basename(path)
        voices.append(SourceVoice("folder", name, f"folder:{name}", path))
    if len(voices) < 3:
        raise VoiceError(f"{root}: {len(voices)} speaker sub-folder(s); disjoint train, dev and test speakers "
                         "need at least 3")
    return voices


def folder_files(path: str) -> list[str]:
    """Audio files directly inside one speaker's folder, sorted."""
    return sorted(e.path for e in os.scandir(path) if e.is_file() and e.name.lower().endswith(AUDIO_SUFFIXES))


def read_recording(path: str) -> tuple[np.ndarray, int]:
    """One user recording as float64 mono and its rate."""
    try:
        audio, rate = _read_wav(path)
    except (sf.LibsndfileError, RuntimeError):
        raise VoiceError(f"{path}: unreadable audio file") from None
    if not np.isfinite(audio).all():  # NaN would spread into every mixture it joins
        raise VoiceError(f"{path}: non-finite samples (NaN or infinity); expected audio")
    return audio, rate
