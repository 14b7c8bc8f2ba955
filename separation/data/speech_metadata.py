"""A speech corpus's metadata: LibriMix's csv files, and who and what each mixture holds.

Written beside the splits of each `Libri{n}Mix/wav{k}k/{mode}` folder:
`mixture_{split}_{mix_clean|mix_both|mix_single}.csv` (LibriMix's, absolute
paths to the final location), `mixture_info_{split}.csv` (families, voices and
room of each mixture), `speakers.csv` and `utterances.csv` (each utterance's
family, voice, source, text and channel).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from separation.data.speech_cast import Speaker
from separation.data.speech_render import RenderedUtterance

def write_metadata(
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


def write_speakers(path: Path, speakers: dict[str, list[Speaker]], per_speaker: dict[int, int]) -> None:
    header = ["speaker_ID", "split", "family", "voice", "person", "source", "warp", "accent", "pitch", "tempo",
              "utterances"]
    rows = [[s.id, split, s.family, s.voice.name, s.voice.person, s.voice.source, s.warp, s.accent, s.pitch, s.tempo,
             per_speaker[s.id]] for split, group in speakers.items() for s in group]
    _write_csv(path, header, rows)


def write_utterances(path: Path, utterances: Sequence[RenderedUtterance], sample_rate: int) -> None:
    header = ["utterance_ID", "speaker_ID", "split", "family", "voice", "source", "warp", "pitch", "tempo",
              "channel", "seconds", "text"]
    rows = [[u.id, u.speaker.id, u.speaker.split, u.speaker.family, u.speaker.voice.name, u.speaker.voice.source,
             u.warp, u.pitch if u.speaker.family == "espeak" else "", u.tempo, u.channel,
             round(len(u.audio) / sample_rate, 3), u.text] for u in utterances]
    _write_csv(path, header, rows)


def write_mixture_info(path: Path, rows, utterances: dict[str, RenderedUtterance]) -> None:
    """Families, voices and room of every mixture, in source order."""
    table = []
    for mixture_id, _, rt60 in rows:
        parts = [utterances[u].speaker for u in mixture_id.split("_")]
        table.append([mixture_id, "+".join(s.family for s in parts), "+".join(s.voice.name for s in parts),
                      round(rt60, 3)])
    _write_csv(path, ["mixture_ID", "families", "voices", "rt60"], table)
