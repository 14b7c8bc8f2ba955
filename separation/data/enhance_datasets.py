"""Speech enhancement data: the generated noisy corpus and VoiceBank-DEMAND, one item type, one dataset.

Every dataset item is `{"noisy": (1, time), "clean": (1, time), "noise": (1, time), "id": str}`
float32 tensors, plus `"noise_only": (1, time)` when the split has noise-only
clips (training split of the generated corpus). `noise` is `noisy - clean`,
the second target of a speech + noise model. The leading 1 is the source axis,
so a batch is `(batch, 1, time)` as models and losses expect.

As in `speech_datasets`, randomness comes only from the key: an `(index, seed)`
key draws the crop with `np.random.default_rng(seed)` (pair it with
`EpochSeededSampler`), an int key crops from the start.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from separation.data.audio import audio_info, read_wav
from separation.data.noisy_format import CORPUS_FILE, CORPUS_FORMAT, SPLITS, read_metadata
from separation.data.signal import pad_end, resample
from separation.data.speech_datasets import DatasetError, split_key

# Speakers held out of VoiceBank-DEMAND's training set for validation, as many recipes do
# (e.g. SEGAN's successors, CMGAN); the official release has only train and test.
VOICEBANK_VALID_SPEAKERS = ("p226", "p287")
VOICEBANK_SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class EnhanceItem:
    """One noisy file with its clean reference; the rest is metadata for evaluation summaries."""

    id: str
    noisy: Path
    clean: Path
    noise_only: Path | None = None
    noise_kind: str = ""
    snr_db: float = math.nan


def find_noisy_split(root: str | Path, split: str) -> list[EnhanceItem]:
    """Every item of one split of the generated noisy corpus (`separation data noisy`), in metadata order."""
    if split not in SPLITS:
        raise DatasetError(f"noisy corpus split must be one of {', '.join(SPLITS)}, got '{split}'")
    folder = Path(root) / split
    if not Path(root).is_dir():
        raise DatasetError(f"{root}: no such data folder")
    rows = read_metadata(folder)
    if not rows:
        raise DatasetError(f"{folder / 'metadata.csv'}: no items")
    items = []
    for row in rows:
        noise_only = folder / row["noise_only_path"] if row["noise_only_path"] else None
        item = EnhanceItem(row["id"], folder / row["noisy_path"], folder / row["clean_path"], noise_only,
                           row["noise_kind"], float(row["snr_db"]))
        for path in (item.noisy, item.clean) + ((noise_only,) if noise_only else ()):
            if not path.is_file():
                raise DatasetError(f"{folder / 'metadata.csv'}: item {row['id']} names {path}, which is missing")
        items.append(item)
    return items


def _voicebank_folder(root: Path, kind: str, split: str, trainset: str | None) -> Path:
    """`{kind}_testset_wav` or the one `{kind}_trainset_*wav` (e.g. `_28spk_wav`, or `trainset` picks it)."""
    if split == "test":
        folder = root / f"{kind}_testset_wav"
        if not folder.is_dir():
            raise DatasetError(f"{folder}: no such folder (VoiceBank-DEMAND layout)")
        return folder
    if trainset is not None:
        folder = root / f"{kind}_trainset_{trainset}_wav"
        if not folder.is_dir():
            raise DatasetError(f"{folder}: no such folder (VoiceBank-DEMAND layout, trainset '{trainset}')")
        return folder
    found = sorted(f for f in root.glob(f"{kind}_trainset_*wav") if f.is_dir())
    if not found:
        raise DatasetError(f"{root}: no {kind}_trainset_*wav folder (VoiceBank-DEMAND layout)")
    if len(found) > 1:
        names = ", ".join(f.name for f in found)
        raise DatasetError(f"{root}: several training sets ({names}); choose one with trainset='28spk' or '56spk'")
    return found[0]


def find_voicebank_split(
    root: str | Path,
    split: str,
    trainset: str | None = None,
    valid_speakers: Sequence[str] = VOICEBANK_VALID_SPEAKERS,
) -> list[EnhanceItem]:
    """Items of VoiceBank-DEMAND (`clean_trainset_*wav/`, `noisy_trainset_*wav/`, `clean_testset_wav/`, `noisy_testset_wav/`).

    `train` and `valid` share the training folders; `valid` holds the
    `valid_speakers` (file names `p226_001.wav`: speaker before the `_`).
    Every noisy file needs a clean file of the same name.
    """
    root = Path(root)
    if split not in VOICEBANK_SPLITS:
        raise DatasetError(f"VoiceBank-DEMAND split must be one of {', '.join(VOICEBANK_SPLITS)}, got '{split}'")
    if not root.is_dir():
        raise DatasetError(f"{root}: no such data folder")
    noisy_folder = _voicebank_folder(root, "noisy", split, trainset)
    clean_folder = _voicebank_folder(root, "clean", split, trainset)
    held_out = set(valid_speakers)
    items = []
    for noisy in sorted(noisy_folder.glob("*.wav")):
        speaker = noisy.stem.split("_")[0]
        if split != "test" and (speaker in held_out) != (split == "valid"):
            continue
        clean = clean_folder / noisy.name
        if not clean.is_file():
            raise DatasetError(f"{noisy}: its clean file {clean} is missing")
        items.append(EnhanceItem(noisy.stem, noisy, clean))
    if not items:
        which = f" for speakers {', '.join(sorted(held_out))}" if split == "valid" else ""
        raise DatasetError(f"{noisy_folder}: no wav files{which}")
    return items


class EnhancementDataset(Dataset):
    """Noisy/clean pairs (see the module docstring for what an item holds).

    With `segment_samples` set, returns that many samples (zero-padded when the
    file is shorter): from a random offset for an `(index, seed)` key, from the
    start for an int key. With `segment_samples=None`, whole utterances (evaluation).
    Files must be at `sample_rate` unless `resample` is set (VoiceBank-DEMAND
    ships 48 kHz; it is then resampled whole, before cropping).
    """

    def __init__(
        self,
        items: Sequence[EnhanceItem],
        sample_rate: int,
        segment_samples: int | None = None,
        resample: bool = False,
    ):
        if not items:
            raise DatasetError("no enhancement items given")
        if segment_samples is not None and segment_samples < 1:
            raise DatasetError(f"segment_samples must be positive, got {segment_samples}")
        self.items = list(items)
        self.sample_rate = sample_rate
        self.segment_samples = segment_samples
        self.resample = resample
        self.has_noise_only = self.items[0].noise_only is not None
        self._frames(self.items[0])  # a wrong rate fails at setup, not mid-epoch

    def __len__(self) -> int:
        return len(self.items)

    def _frames(self, item: EnhanceItem) -> int:
        """Frames at `sample_rate` shared by the item's files, after checking rate, channels and length."""
        paths = [item.noisy, item.clean] + ([item.noise_only] if self.has_noise_only else [])
        infos = [audio_info(p) for p in paths]
        for path, info in zip(paths, infos):
            if info.channels != 1:
                raise DatasetError(f"{path}: expected mono audio, got {info.channels} channels")
            if info.samplerate != self.sample_rate and not self.resample:
                raise DatasetError(f"{path}: expected {self.sample_rate} Hz, got {info.samplerate} Hz")
            if info.frames != infos[0].frames or info.samplerate != infos[0].samplerate:
                raise DatasetError(f"{path}: {info.frames} samples at {info.samplerate} Hz but {paths[0]} has "
                                   f"{infos[0].frames} at {infos[0].samplerate} Hz")
        return math.ceil(infos[0].frames * self.sample_rate / infos[0].samplerate)

    def _read(self, path: Path, start: int, stop: int) -> np.ndarray:
        rate = audio_info(path).samplerate
        if rate == self.sample_rate:
            return read_wav(path, self.sample_rate, 1, start, stop)
        whole = resample(read_wav(path, rate, 1), rate, self.sample_rate)
        return whole[start:stop].astype(np.float32)

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        index, seed = split_key(key)
        item = self.items[index]
        frames = self._frames(item)
        start, stop = 0, frames
        if self.segment_samples is not None and frames > self.segment_samples:
            if seed is not None:
                start = int(np.random.default_rng(seed).integers(0, frames - self.segment_samples + 1))
            stop = start + self.segment_samples
        length = stop - start if self.segment_samples is None else self.segment_samples
        signals = {"noisy": item.noisy, "clean": item.clean}
        if self.has_noise_only:
            signals["noise_only"] = item.noise_only
        out = {name: pad_end(self._read(path, start, stop), length)[None] for name, path in signals.items()}
        out["noise"] = out["noisy"] - out["clean"]
        result = {name: torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)) for name, value in out.items()}
        result["id"] = item.id
        return result


def find_enhance_split(root: str | Path, layout: str, split: str, trainset: str | None = None) -> tuple[list[EnhanceItem], bool]:
    """The items of one split of a `noisy` (generated) or `voicebank` corpus, and whether they must be
    resampled (VoiceBank-DEMAND is 48 kHz; a generated corpus is at its own rate)."""
    if layout == "noisy":
        return find_noisy_split(root, split), False
    if layout == "voicebank":
        return find_voicebank_split(root, split, trainset), True
    raise DatasetError(f"enhancement layout must be 'noisy' or 'voicebank', got '{layout}'")


def enhancement_dataset(
    root: str | Path,
    split: str,
    sample_rate: int,
    layout: str = "noisy",
    segment_samples: int | None = None,
    max_items: int | None = None,
    trainset: str | None = None,
) -> EnhancementDataset:
    """The dataset of one split: `layout` is `noisy` (generated corpus) or `voicebank` (resampled to `sample_rate`).

    `trainset` picks VoiceBank-DEMAND's `*_trainset_{trainset}_wav` folders when there are several.
    """
    items, resample = find_enhance_split(root, layout, split, trainset)
    return EnhancementDataset(items[:max_items] if max_items else items, sample_rate, segment_samples, resample)


def check_enhancement_root(root: str | Path, layout: str, sample_rate: int) -> None:
    """Fail fast, before any training, when `root` is not a usable corpus of `layout` at `sample_rate`.

    noisy: `corpus.json` of a generated noisy corpus at `sample_rate` and every
    split's `metadata.csv` with its files; voicebank: the four folders (any rate:
    files are resampled on reading).
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such data folder")
    if layout == "noisy":
        path = root / CORPUS_FILE
        if not path.is_file():
            raise DatasetError(f"{path}: no such file (generate the corpus with `separation data noisy {root}`)")
        try:
            description = json.loads(path.read_text())
        except ValueError as error:
            raise DatasetError(f"{path}: not valid JSON ({error})") from None
        if not isinstance(description, dict) or description.get("format") != CORPUS_FORMAT:
            raise DatasetError(f"{path}: not a noisy corpus description (format '{CORPUS_FORMAT}' expected)")
        if description.get("sample_rate") != sample_rate:
            raise DatasetError(f"{path}: corpus is at {description.get('sample_rate')} Hz, the config asks for {sample_rate} Hz")
        for split in SPLITS:
            find_noisy_split(root, split)
    elif layout == "voicebank":
        for split in VOICEBANK_SPLITS:
            find_voicebank_split(root, split)
    else:
        raise DatasetError(f"enhancement layout must be 'noisy' or 'voicebank', got '{layout}'")
