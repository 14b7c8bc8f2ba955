"""Composing a song for the music corpus, and writing each of its parts as a standard MIDI file.

Each song is composed from the seed: a tempo, a key, a four-chord progression
and one part per source:

- drums: a groove on MIDI channel 10 (kick, snare, hats, crashes, fills) in one of the GM kits;
- bass: a bass program playing the chord roots;
- other: a comping instrument (piano, organ, guitar) and sometimes a sustained
  layer (strings, pads) playing the chords;
- vocals: a voice-like program (choir aahs, voice oohs, synth voice) singing a
  melody in phrases with rests, as a singer breathes.

Everything here is pure: a song is a function of (seed, track index, seconds),
and a part's MIDI bytes a function of its notes. Rendering is `music_corpus`'s.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

import numpy as np

TICKS_PER_BEAT = 480
DRUM_CHANNEL = 9  # MIDI channel 10, counted from zero

SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
# Four-chord progressions as scale degrees (0 = tonic), one chord per bar.
PROGRESSIONS = ((0, 4, 5, 3), (0, 5, 3, 4), (5, 3, 0, 4), (0, 3, 4, 3), (0, 3, 0, 4), (1, 4, 0, 0), (0, 6, 5, 4))

# General MIDI programs (zero-based) per role.
BASS_PROGRAMS = (32, 33, 34, 35, 38, 39)
COMP_PROGRAMS = (0, 1, 2, 4, 5, 16, 24, 25, 26, 27)
PAD_PROGRAMS = (48, 49, 50, 88, 89, 90, 91, 94)
VOICE_PROGRAMS = (52, 53, 54, 85)
DRUM_KITS = (0, 8, 16, 24, 25, 32)  # standard, room, power, electronic, TR-808, jazz

# 16th-note steps of one bar.
KICK_PATTERNS = ((0, 8), (0, 6, 8), (0, 3, 8, 10), (0, 4, 8, 12), (0, 7, 8, 14))
HAT_PATTERNS = (tuple(range(0, 16, 2)), tuple(range(16)), (0, 4, 8, 12), (2, 6, 10, 14))
KICK, SNARE, CLOSED_HAT, OPEN_HAT, CRASH, RIDE, LOW_TOM, HIGH_TOM = 36, 38, 42, 46, 49, 51, 45, 50

WORDS = (
    "amber", "blue", "broken", "city", "dawn", "distant", "echo", "electric", "ember", "falling", "glass",
    "golden", "harbour", "hollow", "island", "lantern", "late", "midnight", "mirror", "morning", "neon",
    "northern", "ocean", "paper", "quiet", "river", "running", "silver", "slow", "static", "summer", "velvet",
    "winter", "wire", "yellow",
)


# ---------------------------------------------------------------------------
# Standard MIDI files


@dataclass(frozen=True)
class Note:
    """One note: start and length in beats, MIDI pitch and velocity, channel 0-15."""

    start: float
    length: float
    pitch: int
    velocity: int
    channel: int = 0


def _variable_length(value: int) -> bytes:
    """MIDI's variable-length quantity: 7 bits per byte, high bit set on all but the last."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(out))


def midi_file(
    notes: list[Note],
    tempo_bpm: float,
    end_beats: float,
    programs: dict[int, int],
    controls: dict[int, dict[int, int]] | None = None,
) -> bytes:
    """A format-0 standard MIDI file with one track.

    Args:
        notes: the notes; a note ending where the next same-pitch note starts is
            released first.
        tempo_bpm: quarter notes per minute.
        end_beats: where the track ends (the end-of-track event).
        programs: channel -> General MIDI program (zero-based); on the drum
            channel it selects the kit.
        controls: channel -> {controller: value} sent at time zero (volume 7, pan 10 ...).
    """

    def tick(beats: float) -> int:
        return int(round(beats * TICKS_PER_BEAT))

    tempo = int(round(60_000_000 / tempo_bpm))
    # (tick, order, message): at equal ticks setup (0) goes before note-offs (1) before note-ons (2).
    events = [(0, 0, b"\xff\x51\x03" + tempo.to_bytes(3, "big"))]
    for channel, program in programs.items():
        events.append((0, 0, bytes([0xC0 | channel, program])))
    for channel, values in (controls or {}).items():
        for controller, value in values.items():
            events.append((0, 0, bytes([0xB0 | channel, controller, value])))
    for note in notes:
        on, off = tick(note.start), max(tick(note.start + note.length), tick(note.start) + 1)
        events.append((on, 2, bytes([0x90 | note.channel, note.pitch, note.velocity])))
        events.append((off, 1, bytes([0x80 | note.channel, note.pitch, 0])))
    events.sort(key=lambda event: (event[0], event[1]))
    body, last = bytearray(), 0
    for when, _, message in events:
        body += _variable_length(when - last) + message
        last = when
    body += _variable_length(max(tick(end_beats) - last, 0)) + b"\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_BEAT)
    return header + b"MTrk" + struct.pack(">I", len(body)) + bytes(body)


# ---------------------------------------------------------------------------
# Composition


@dataclass
class Part:
    """One source's MIDI content."""

    notes: list[Note] = field(default_factory=list)
    programs: dict[int, int] = field(default_factory=dict)
    controls: dict[int, dict[int, int]] = field(default_factory=dict)


@dataclass
class Song:
    name: str
    tempo_bpm: float
    beats: float  # song length in beats
    parts: dict[str, Part]


def _chord(root: int, scale: tuple[int, ...], degree: int, size: int = 3) -> list[int]:
    """Pitches of the stacked-thirds chord on `degree` of the scale rooted at `root`."""
    pitches = []
    for k in range(size):
        step = degree + 2 * k
        pitches.append(root + scale[step % 7] + 12 * (step // 7))
    return pitches


def _in_range(pitch: int, low: int, high: int) -> int:
    while pitch < low:
        pitch += 12
    while pitch > high:
        pitch -= 12
    return pitch


def _drums(rng: np.random.Generator, bars: int) -> Part:
    kick = KICK_PATTERNS[rng.integers(len(KICK_PATTERNS))]
    hats = HAT_PATTERNS[rng.integers(len(HAT_PATTERNS))]
    cymbal = RIDE if rng.random() < 0.25 else CLOSED_HAT
    notes = []

    def hit(bar: int, step: float, pitch: int, velocity: float) -> None:
        velocity = int(np.clip(velocity + rng.normal(0, 6), 20, 127))
        notes.append(Note(bar * 4 + step / 4, 0.25, pitch, velocity, DRUM_CHANNEL))

    for bar in range(bars):
        fill = bar % 4 == 3 and rng.random() < 0.6
        if bar % 4 == 0:
            hit(bar, 0, CRASH, 100)
        for step in kick:
            hit(bar, step, KICK, 105)
        for step in (4, 12) if not fill else (4,):
            hit(bar, step, SNARE, 100)
        for step in hats:
            if not (fill and step >= 12):
                hit(bar, step, cymbal, 70 if step % 4 else 85)
        if rng.random() < 0.3:
            hit(bar, 14, OPEN_HAT, 75)
        if fill:
            for step, pitch in zip(range(12, 16), (SNARE, HIGH_TOM, LOW_TOM, SNARE)):
                hit(bar, step, pitch, 95)
    kit = int(rng.choice(DRUM_KITS))
    return Part(notes, {DRUM_CHANNEL: kit}, {DRUM_CHANNEL: {7: 110, 10: 64}})


def _bass(rng: np.random.Generator, bars: int, roots: list[int]) -> Part:
    style = rng.integers(3)
    notes = []
    for bar in range(bars):
        root = _in_range(roots[bar % len(roots)], 28, 43)
        if style == 0:  # held roots
            notes += [Note(bar * 4, 1.9, root, 100), Note(bar * 4 + 2, 1.9, root, 92)]
        elif style == 1:  # eighth-note pulse
            notes += [Note(bar * 4 + k / 2, 0.45, root, 100 if k % 2 == 0 else 85) for k in range(8)]
        else:  # root, fifth, octave
            for k, interval in enumerate((0, 7, 12, 7)):
                notes.append(Note(bar * 4 + k, 0.9, root + interval, 98))
    return Part(notes, {0: int(rng.choice(BASS_PROGRAMS))}, {0: {7: 110, 10: 64}})


def _other(rng: np.random.Generator, bars: int, chords: list[list[int]]) -> Part:
    comp = int(rng.choice(COMP_PROGRAMS))
    rhythm = rng.integers(3)
    notes = []
    for bar in range(bars):
        voicing = [_in_range(p, 55, 74) for p in chords[bar % len(chords)]]
        if rhythm == 0:  # half notes
            starts, length = (0.0, 2.0), 1.9
        elif rhythm == 1:  # quarter-note stabs
            starts, length = (0.0, 1.0, 2.0, 3.0), 0.7
        else:  # off-beat upstrokes
            starts, length = (0.5, 1.5, 2.5, 3.5), 0.4
        for start in starts:
            for pitch in voicing:
                notes.append(Note(bar * 4 + start, length, pitch, int(rng.integers(65, 95)), 0))
    programs = {0: comp}
    controls = {0: {7: 100, 10: int(rng.integers(30, 98))}}
    if rng.random() < 0.5:  # a sustained layer of strings or pads, panned away from the comping
        for bar in range(bars):
            for pitch in chords[bar % len(chords)]:
                notes.append(Note(bar * 4, 3.95, _in_range(pitch, 48, 67), 60, 1))
        programs[1] = int(rng.choice(PAD_PROGRAMS))
        controls[1] = {7: 85, 10: 128 - controls[0][10]}
    return Part(notes, programs, controls)


def _vocals(rng: np.random.Generator, bars: int, root: int, scale: tuple[int, ...], chords: list[list[int]]) -> Part:
    """Phrases of two bars, each followed by a rest, moving mostly by step as a singer does."""
    palette = [p for p in range(57, 80) if (p - root) % 12 in scale]
    durations, weights = (0.5, 1.0, 1.5, 2.0), (0.35, 0.35, 0.15, 0.15)
    notes = []
    position = palette.index(min(palette, key=lambda p: abs(p - 67)))
    for phrase in range(0, bars, 2):
        beat = phrase * 4 + float(rng.choice((0.0, 0.5, 1.0)))
        stop = min(phrase + 2, bars) * 4 - float(rng.choice((1.0, 1.5, 2.0)))
        while beat < stop:
            length = min(float(rng.choice(durations, p=weights)), stop - beat)
            if beat % 1 == 0:  # strong beats land on a chord tone
                chord = {p % 12 for p in chords[int(beat // 4) % len(chords)]}
                tones = [i for i, p in enumerate(palette) if p % 12 in chord]
                position = min(tones, key=lambda i: abs(i - position))
            else:
                step = rng.choice((-2, -1, 1, 2), p=(0.15, 0.35, 0.35, 0.15))
                position = int(np.clip(position + step, 0, len(palette) - 1))
            notes.append(Note(beat, max(length - 0.05, 0.1), palette[position], int(rng.integers(85, 115))))
            beat += length
    # Modulation wheel: the voice programs' vibrato.
    return Part(notes, {0: int(rng.choice(VOICE_PROGRAMS))}, {0: {7: 115, 10: int(rng.integers(54, 75)), 1: 40}})


def track_name(seed: int, index: int) -> str:
    rng = np.random.default_rng([seed, 1, index])
    first, second = rng.choice(len(WORDS), size=2, replace=False)
    return f"Fluid {index:03d} - {WORDS[first].title()} {WORDS[second].title()}"


def compose(seed: int, index: int, seconds: float) -> Song:
    """The song of track `index`: a pure function of (seed, index, seconds)."""
    rng = np.random.default_rng([seed, 0, index])
    tempo = float(rng.integers(84, 141))
    bars = max(1, math.ceil(seconds / (4 * 60 / tempo)))
    root = int(rng.integers(40, 52))  # E2 .. D#3
    scale = SCALES["major" if rng.random() < 0.6 else "minor"]
    progression = PROGRESSIONS[rng.integers(len(PROGRESSIONS))]
    chords = [_chord(root + 12, scale, degree) for degree in progression]
    parts = {
        "drums": _drums(rng, bars),
        "bass": _bass(rng, bars, [chord[0] for chord in chords]),
        "other": _other(rng, bars, chords),
        "vocals": _vocals(rng, bars, root, scale, chords),
    }
    return Song(track_name(seed, index), tempo, bars * 4.0, parts)
