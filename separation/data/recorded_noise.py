"""Recorded noise that ships in Debian packages: the noisy corpus's `ambient` kind, offline.

Each entry of `AMBIENT_SOURCES` names a package, the folder it installs its
recordings in, and the files kept. The one source so far:

- `lincity-ng-data` (LinCity-NG's data, 44.8 MB download; sound effects
  GPL-2+ / CC BY-SA 2.0): about 140 short ambience recordings of a city's
  places, 0.1-5.5 s each, 8-44.1 kHz (most 11,025 Hz, so nothing above 5.5 kHz
  at the corpus rate), mono or stereo: road traffic, railways, a harbour,
  markets and sports crowds, schools, farms, mills, mines, industry and
  construction machinery, water and fire. Kept: every recording of at least
  `MIN_SECONDS`, less the game's interface clicks and its rocket launches
  (`excluded`: effects, not a place's background).

Recordings are grouped into scenes, the file name without its trailing number
and level (`TraficHigh1.wav`, `TraficLow2.wav` -> `Trafic`): takes of one
scene may be cuts of one recording, so scenes, not files, are dealt to the
splits, and no recording, nor a cut of it, is heard in two splits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from separation.data.audio import audio_info
from separation.errors import UserError

MIN_SECONDS = 1.5  # shorter files are one-off effects (a click, a door), not a background


@dataclass(frozen=True)
class AmbientSource:
    package: str  # the Debian package that installs the recordings
    folder: str  # where it installs them
    excluded: tuple[str, ...]  # scenes that are interface sounds, not recordings of a place


AMBIENT_SOURCES = (
    AmbientSource("lincity-ng-data", "/usr/share/games/lincity-ng/sounds",
                  ("Click", "Window", "Rocket", "RocketExplosion", "RocketTakeoff")),
)


class MissingNoisePackage(UserError):
    """A package of recorded noise is not installed (one line naming it and how to install it)."""


def scene_of(path: Path) -> str:
    """`TraficHigh2.wav` -> `Trafic`: takes of one scene share a name up to their level and number."""
    return re.sub(r"(High|Low|Med|Full|Empty|Light|HTech|Open|Close|On|Off)*\d*$", "", path.stem) or path.stem


def ambient_scenes(sources=AMBIENT_SOURCES) -> dict[str, list[tuple[str, Path]]]:
    """`{"package:scene": [(package, wav path), ...]}` of every kept recording, sorted.

    Raises MissingNoisePackage naming the first package whose folder holds no wav.
    """
    scenes: dict[str, list[tuple[str, Path]]] = {}
    for source in sources:
        paths = sorted(Path(source.folder).glob("*.wav"))
        if not paths:
            raise MissingNoisePackage(
                f"{source.folder}: no recordings; noise kind 'ambient' needs the Debian package {source.package} "
                f"(scripts/system-deps.sh installs it: apt-get install --no-install-recommends {source.package})")
        for path in paths:
            scene = scene_of(path)
            if scene in source.excluded or audio_info(path).duration < MIN_SECONDS:
                continue
            scenes.setdefault(f"{source.package}:{scene}", []).append((source.package, path))
    return dict(sorted(scenes.items()))


def source_name(package: str, path: Path) -> str:
    """How metadata.csv names a recording: `package:/installed/path.wav`."""
    return f"{package}:{path}"
