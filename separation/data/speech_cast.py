"""Casting a speech corpus: who speaks in which split.

A speaker is one source voice (`speech_voices`) at one speaker-perturbation
factor (`speech_augment.warp`: pitch and formants scaled together), so a voice
yields several distinct speakers; espeak-ng speakers also get their own accent,
pitch and speed. Splits are disjoint by person (the human or espeak-ng variant
behind a voice): no test or dev speaker, nor any perturbed copy of one, is heard
in training, and a held-out family's persons make a split of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from separation.data.corpus_errors import CorpusError
from separation.data.speech_voices import ESPEAK_ACCENTS, SourceVoice

SPLITS = ("train-100", "dev", "test")
SYNTHETIC = ("espeak", "flite", "festival", "festvox")  # families with a tempo control
PITCH_RANGE = (25, 75)  # espeak-ng -p, default 50
TEMPO_RANGE = (0.82, 1.1)  # espeak-ng speaker tempo (x 175 words per minute)
# Speaker-perturbation factors of a voice's 1st, 2nd, ... speaker: about 6% apart or more,
# as far as a voice still sounds human (0.83 deepens, 1.19 brightens).
WARP_LADDER = (1.0, 0.88, 1.13, 0.94, 1.06, 0.83, 1.19)
# espeak-ng has 88 variants: one speaker each (two at most), so the other families'
# few voices fill their share with perturbed copies.
MAX_COPIES = {"espeak": 2}


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
