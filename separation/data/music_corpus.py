"""An offline, MUSDB18-HQ-shaped music corpus: MIDI songs rendered stem by stem with fluidsynth.

Layout, as MUSDB18-HQ writes it (16-bit stereo wav at 44.1 kHz)::

    ROOT/train/<track>/{mixture,drums,bass,other,vocals}.wav
    ROOT/test/<track>/{mixture,drums,bass,other,vocals}.wav
    ROOT/musdb.yaml     musdb's setup file with this corpus's validation tracks

Each song is composed from the seed (`music_compose`: a tempo, a key, a
four-chord progression and one part per source), each part written as its own
standard MIDI file and rendered alone here by Debian's `fluidsynth` with the
General MIDI soundfont `FluidR3_GM`.

Stems are set to random loudness levels, scaled together to peak at 0.9 and
rounded to the 16-bit grid before they are summed, so `mixture.wav` is exactly
the sum of the four stem files. Everything is a pure function of the seed:
each track has its own random stream and fluidsynth renders deterministically,
so the samples do not depend on the number of worker processes.

musdb's own `split="train"/"valid"` uses the list of MUSDB18 track names in its
setup file; `ROOT/musdb.yaml` is that file with the last `n_valid` training
tracks listed instead, and `separation.data.music_datasets` passes it to
`musdb.DB` whenever it exists.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

from separation.data.audio import quantize_pcm16, wav_bytes
from separation.data.corpus_errors import MusicCorpusError
from separation.data.music_compose import compose, midi_file
from separation.data.music_format import SETUP_FILE, SOURCES
from separation.data.signal import fit_length, peak_gain
from separation.outputs import refuse_foreign, replace_entries

SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"

# RMS level range of each stem in dBFS before the common peak scaling.
LEVELS_DB = {"drums": (-22.0, -16.0), "bass": (-24.0, -18.0), "other": (-25.0, -17.0), "vocals": (-22.0, -15.0)}


# ---------------------------------------------------------------------------
# Rendering


def render(midi: bytes, sample_rate: int, soundfont: str = SOUNDFONT) -> np.ndarray:
    """Render MIDI bytes with fluidsynth to float64 `(2, time)` audio (reverb and chorus on)."""
    with tempfile.TemporaryDirectory(prefix="fluid-") as folder:
        midi_path, wav_path = os.path.join(folder, "part.mid"), os.path.join(folder, "part.wav")
        Path(midi_path).write_bytes(midi)
        command = [
            "fluidsynth", "-ni", "-q", "-g", "0.5", "-r", str(sample_rate), "-O", "float", "-T", "wav",
            "-F", wav_path, "-o", "synth.cpu-cores=1", soundfont, midi_path,
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0 or not os.path.exists(wav_path):
            reason = (done.stderr or done.stdout).strip().splitlines()
            raise MusicCorpusError(f"fluidsynth failed ({reason[-1] if reason else f'exit {done.returncode}'})")
        audio, _ = sf.read(wav_path, dtype="float64", always_2d=True)
    return audio.T


def _rms_db(audio: np.ndarray) -> float:
    return 10 * math.log10(max(float(np.mean(np.square(audio))), 1e-20))


def mix_stems(stems: dict[str, np.ndarray], levels_db: dict[str, float]) -> dict[str, np.ndarray]:
    """Set each stem to its RMS level, scale all below PEAK, round to 16 bits; adds "mixture".

    The stems are quantised before summing, so the 16-bit mixture is their exact sum.
    """
    scaled = {name: audio * 10 ** ((levels_db[name] - _rms_db(audio)) / 20) for name, audio in stems.items()}
    mixture = sum(scaled.values())
    peak = max([np.abs(mixture).max()] + [np.abs(a).max() for a in scaled.values()])
    gain = peak_gain(peak)
    out = {name: quantize_pcm16(audio * gain).astype(np.float64) for name, audio in scaled.items()}
    out["mixture"] = sum(out[name] for name in stems)
    return out


@dataclass(frozen=True)
class _TrackJob:
    seed: int
    index: int
    subset: str
    seconds: float
    sample_rate: int
    soundfont: str
    folder: str  # the subset folder in the staging tree


def _make_track(job: _TrackJob) -> tuple[str, float]:
    """Compose, render and write one track folder; returns (name, seconds)."""
    song = compose(job.seed, job.index, job.seconds)
    length = int(round(job.seconds * job.sample_rate))
    end_beats = song.beats + 1.0  # let the last notes ring into the cut
    stems = {}
    for source in SOURCES:
        part = song.parts[source]
        midi = midi_file(part.notes, song.tempo_bpm, end_beats, part.programs, part.controls)
        stems[source] = fit_length(render(midi, job.sample_rate, job.soundfont), length)
    rng = np.random.default_rng([job.seed, 2, job.index])
    levels = {source: float(rng.uniform(*LEVELS_DB[source])) for source in SOURCES}
    signals = mix_stems(stems, levels)
    folder = Path(job.folder) / song.name
    folder.mkdir(parents=True, exist_ok=True)
    for name, audio in signals.items():
        (folder / f"{name}.wav").write_bytes(wav_bytes(audio, job.sample_rate, "PCM_16"))
    return song.name, length / job.sample_rate


def _setup_file(validation_tracks: list[str]) -> str:
    """musdb's setup yaml with this corpus's validation tracks."""
    import musdb

    with open(os.path.join(musdb.__path__[0], "configs", "mus.yaml")) as handle:
        setup = yaml.safe_load(handle)
    setup["validation_tracks"] = list(validation_tracks)
    setup.pop("sample-url", None)  # nothing to download
    return yaml.safe_dump(setup, sort_keys=False)


ENTRIES = ("train", "test", SETUP_FILE)  # what the corpus is, in `root`; the setup file last
WHAT = "a generated music corpus (its train/ and test/ hold only <track>/<stem>.wav files)"


def _corpus_file(relative) -> bool:
    """A file `force` may replace: musdb.yaml, or a track's wav under train/ or test/."""
    parts = relative.parts
    return parts == (SETUP_FILE,) or (len(parts) == 3 and parts[0] in ("train", "test") and relative.suffix == ".wav")


def generate_music_corpus(
    root: str | Path,
    seed: int = 0,
    n_train: int = 8,
    n_valid: int = 2,
    n_test: int = 3,
    seconds: float = 24.0,
    sample_rate: int = 44100,
    workers: int = 2,
    soundfont: str = SOUNDFONT,
    force: bool = False,
    log: Callable[[str], None] | None = print,
) -> dict[str, list[str]]:
    """Write a MUSDB18-HQ-shaped corpus under `root` (layout in the module docstring).

    Args:
        root: the corpus folder (holding `train/`, `test/`); created if missing.
        seed: fixes every song, sound and level: same seed, same samples.
        n_train: tracks in `train/`, validation tracks included.
        n_valid: the last `n_valid` training tracks form the validation split
            (`musdb.DB(..., setup_file="musdb.yaml", subsets="train", split="valid")`).
        n_test: tracks in `test/`.
        seconds: length of every track.
        sample_rate: of every file (MUSDB uses 44100).
        workers: processes rendering tracks (the output does not depend on it).
        soundfont: a General MIDI .sf2 file.
        force: replace an existing corpus instead of refusing.
        log: called with one summary line per subset; None for silence.

    Returns:
        `{"train": [names], "valid": [names], "test": [names]}` (valid names are also in train).

    The corpus is built in a temporary folder beside `root` and renamed into
    place, so an interrupted run leaves no half-written corpus behind. With
    `force` only `train/`, `test/` and musdb.yaml are replaced, and only when
    they hold nothing but the corpus's wav files: other files in `root` are kept.
    """
    if shutil.which("fluidsynth") is None:
        raise MusicCorpusError("fluidsynth not found on PATH; install it with: apt-get install fluidsynth")
    if not os.path.isfile(soundfont):
        raise MusicCorpusError(f"{soundfont}: no such soundfont; install it with: apt-get install fluid-soundfont-gm")
    if n_train < 1 or n_test < 1 or not 0 <= n_valid < n_train:
        raise MusicCorpusError(
            f"need n_train >= 1, n_test >= 1 and 0 <= n_valid < n_train; got {n_train}, {n_valid}, {n_test}"
        )
    if not seconds > 0 or sample_rate < 8000:
        raise MusicCorpusError(f"seconds must be positive and sample_rate at least 8000, got {seconds}, {sample_rate}")
    root = Path(root).resolve()
    if root.exists() and any(root.iterdir()) and not force:
        raise MusicCorpusError(f"{root}: folder is not empty; pass force=True to replace it")
    refuse_foreign(root, ENTRIES, _corpus_file, WHAT)  # before rendering, not after

    subsets = ["train"] * n_train + ["test"] * n_test
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        jobs = [
            _TrackJob(seed, index, subset, seconds, sample_rate, soundfont, str(staging / subset))
            for index, subset in enumerate(subsets)
        ]
        if workers > 1:
            context = multiprocessing.get_context("spawn")  # safe after torch or threads were started
            with ProcessPoolExecutor(workers, mp_context=context) as executor:
                made = list(executor.map(_make_track, jobs))
        else:
            made = [_make_track(job) for job in jobs]
        names = {"train": [n for (n, _), s in zip(made, subsets) if s == "train"]}
        names["test"] = [n for (n, _), s in zip(made, subsets) if s == "test"]
        names["valid"] = names["train"][n_train - n_valid :]
        (staging / SETUP_FILE).write_text(_setup_file(names["valid"]))
        replace_entries(staging, root, ENTRIES, _corpus_file, WHAT)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if log is not None:
        for subset in ("train", "valid", "test"):
            log(f"{root.name}/{subset}: {len(names[subset])} tracks of {seconds:g} s at {sample_rate} Hz")
    return names
