"""The noisy-speech corpus generator: SNRs, disjoint splits, noise-only clips, determinism, bad inputs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from separation.data.audio import write_wav
from separation.data.noisy_corpus import (
    GENERATED_KINDS,
    NoisyCorpusError,
    SPLITS,
    data_noisy,
    generate_noisy_corpus,
    read_metadata,
    speaker_of,
)
from separation.errors import UserError

RATE = 8000


def _noise_folder(folder: Path, count: int = 4, rate: int = RATE, seconds: float = 0.7) -> Path:
    """`count` distinct recordings: filtered noise with a tone, each of its own colour."""
    rng = np.random.default_rng(7)
    for index in range(count):
        time = np.arange(int(seconds * rate)) / rate
        tone = np.sin(2 * np.pi * (300 + 150 * index) * time)
        write_wav(folder / f"noise{index}.wav", 0.1 * tone + 0.05 * rng.standard_normal(len(time)), rate)
    return folder


@pytest.fixture(scope="module")
def noisy_corpus(speech_corpus, music_corpus, tmp_path_factory):
    base = tmp_path_factory.mktemp("noisy")
    noise = _noise_folder(base / "noise_in")
    root = base / "corpus"
    generate_noisy_corpus(root, speech_corpus, sample_rate=RATE, noise_dir=noise, music_dir=music_corpus,
                          items=(21, 7, 7), log=None)
    return root


def _read(split_folder: Path, relative: str) -> np.ndarray:
    return sf.read(split_folder / relative, dtype="float64")[0]


def test_every_item_has_its_snr_and_noisy_is_clean_plus_noise(noisy_corpus):
    for split in SPLITS:
        folder = noisy_corpus / split
        rows = read_metadata(folder)
        assert rows
        for row in rows:
            clean, noise, noisy = (_read(folder, row[k]) for k in ("clean_path", "noise_path", "noisy_path"))
            assert len(clean) == len(noise) == len(noisy) == int(row["length"])
            snr = 10 * np.log10(np.sum(clean**2) / np.sum(noise**2))
            assert abs(snr - float(row["snr_db"])) < 0.1, (split, row["id"], snr, row["snr_db"])
            assert -5.0 <= float(row["snr_db"]) <= 20.0  # the default range
            np.testing.assert_array_equal(noisy, clean + noise)


def test_all_kinds_are_used_and_splits_are_disjoint(noisy_corpus):
    rows = {split: read_metadata(noisy_corpus / split) for split in SPLITS}
    expected = set(GENERATED_KINDS) | {"babble", "ambient", "music", "recorded"}
    assert {row["noise_kind"] for row in rows["train"]} == expected
    speakers = {split: {row["speaker"] for row in rows[split]} for split in SPLITS}
    recordings = {}
    for split in SPLITS:
        sources = set()
        for row in rows[split]:
            if not row["noise_source"].startswith("generated:"):
                sources |= set(row["noise_source"].split(";"))
            if row["noise_only_source"] and not row["noise_only_source"].startswith("generated:"):
                sources |= set(row["noise_only_source"].split(";"))
        recordings[split] = sources
    for a, b in (("train", "valid"), ("train", "test"), ("valid", "test")):
        assert not speakers[a] & speakers[b]
        assert not recordings[a] & recordings[b], (a, b, recordings[a] & recordings[b])
    # Babble comes from other talkers of the same split, never the item's own speaker.
    for split in SPLITS:
        for row in rows[split]:
            if row["noise_kind"] == "babble":
                # A source file s{k}/<mixture id>.wav holds utterance k of the id.
                paths = [Path(p) for p in row["noise_source"].split(";")]
                talkers = {p.stem.split("_")[int(p.parent.name[1:]) - 1].split("-")[0] for p in paths}
                assert row["speaker"] not in talkers


def test_training_items_have_a_noise_only_clip_from_another_instance(noisy_corpus):
    folder = noisy_corpus / "train"
    for row in read_metadata(folder):
        assert row["noise_only_path"], row["id"]
        other = _read(folder, row["noise_only_path"])
        noise = _read(folder, row["noise_path"])
        assert len(other) == len(noise)
        assert abs(np.sqrt(np.mean(other**2)) / np.sqrt(np.mean(noise**2)) - 1) < 0.05
        same_instance = (row["noise_only_source"], row["noise_only_offset"]) == (row["noise_source"], row["noise_offset"])
        assert not same_instance or row["noise_source"].startswith("generated:")
        assert np.corrcoef(other, noise)[0, 1] < 0.9  # not the mixture's noise
    for split in ("valid", "test"):
        assert all(not row["noise_only_path"] for row in read_metadata(noisy_corpus / split))
        assert not (noisy_corpus / split / "noise_only").exists()


def _digest(root: Path) -> str:
    hasher = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != "corpus.json"):
        hasher.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return hasher.hexdigest()


def test_same_seed_same_bytes_other_seed_other_corpus(speech_corpus, tmp_path):
    kwargs = dict(sample_rate=RATE, kinds=("white", "babble", "hum"), items=(4, 2, 2), log=None)
    generate_noisy_corpus(tmp_path / "a", speech_corpus, seed=3, **kwargs)
    generate_noisy_corpus(tmp_path / "b", speech_corpus, seed=3, **kwargs)
    generate_noisy_corpus(tmp_path / "c", speech_corpus, seed=4, **kwargs)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_plain_folder_of_wavs_as_speech(speech_corpus, tmp_path):
    source = sorted((speech_corpus / "Libri2Mix/wav8k/min/train-100/s1").glob("*.wav"))
    speech = tmp_path / "speech"
    for path in source:
        speaker = path.stem.split("-")[0]
        (speech / f"spk{speaker}").mkdir(parents=True, exist_ok=True)
        (speech / f"spk{speaker}" / path.name).write_bytes(path.read_bytes())
    assert speaker_of(speech / "spk2" / "x.wav", speech) == "spk2"
    assert speaker_of(speech / "p226_001.wav", speech) == "p226"
    # Resampled from the folder's 8 kHz to 16 kHz on the way in.
    messages = []
    summary = generate_noisy_corpus(tmp_path / "out", speech, sample_rate=16000, kinds=("pink", "hum"), log=messages.append)
    assert "nothing above 4000 Hz" in messages[0]
    rows = {split: read_metadata(tmp_path / "out" / split) for split in SPLITS}
    assert sum(v["items"] for v in summary.values()) == len(source)
    speakers = [{r["speaker"] for r in rows[split]} for split in SPLITS]
    assert all(speakers) and not (speakers[0] & speakers[1] or speakers[0] & speakers[2] or speakers[1] & speakers[2])
    assert sf.info(str(tmp_path / "out" / "test" / rows["test"][0]["noisy_path"])).samplerate == 16000


def _assert_nothing_written(parent: Path, root: Path) -> None:
    assert not root.exists()
    assert not [p for p in parent.iterdir() if p.name.startswith(f".{root.name}-")]


@pytest.mark.parametrize("case", ["corrupt", "wrong_rate", "empty", "snr_order", "too_few"])
def test_bad_inputs_are_one_line_user_errors_and_write_nothing(speech_corpus, tmp_path, case):
    noise = _noise_folder(tmp_path / "noise", count=3)
    snr = (0.0, 40.0)
    if case == "corrupt":
        bad = noise / "broken.wav"
        bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    elif case == "wrong_rate":
        bad = noise / "fast.wav"
        write_wav(bad, np.zeros(1000) + 0.1, 16000)
    elif case == "empty":
        for path in noise.iterdir():
            path.unlink()
        bad = noise
    elif case == "snr_order":
        snr, bad = (30.0, 10.0), "30"
    else:
        (noise / "noise2.wav").unlink()
        bad = noise
    out = tmp_path / "out"
    with pytest.raises(UserError) as error:
        data_noisy(str(out), sample_rate=RATE, snr=snr, speech=str(speech_corpus), noise=str(noise), log=None)
    message = str(error.value)
    assert "\n" not in message and str(bad) in message, message
    _assert_nothing_written(tmp_path, out)


def test_existing_root_needs_force_and_speech_folder_must_exist(speech_corpus, tmp_path):
    with pytest.raises(NoisyCorpusError, match="no such speech folder"):
        data_noisy(str(tmp_path / "x"), speech=str(tmp_path / "missing"), log=None)
    root = tmp_path / "corpus"
    kwargs = dict(sample_rate=RATE, kinds=("white",), items=(2, 1, 1), log=None)
    generate_noisy_corpus(root, speech_corpus, **kwargs)
    with pytest.raises(NoisyCorpusError, match="already exists"):
        generate_noisy_corpus(root, speech_corpus, **kwargs)
    generate_noisy_corpus(root, speech_corpus, force=True, **kwargs)
    assert len(read_metadata(root / "train")) == 2
