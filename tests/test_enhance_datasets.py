"""Enhancement dataset readers: the generated noisy corpus and a fake VoiceBank-DEMAND tree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from separation.data.audio import write_wav
from separation.data.enhance_datasets import (
    EnhancementDataset,
    check_enhancement_root,
    enhancement_dataset,
    find_noisy_split,
    find_voicebank_split,
)
from separation.data.noisy_corpus import generate_noisy_corpus
from separation.data.speech_datasets import DatasetError, EpochSeededSampler

RATE = 8000


@pytest.fixture(scope="module")
def noisy_root(speech_corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("enh_data") / "noisy"
    generate_noisy_corpus(root, speech_corpus, sample_rate=RATE, items=(6, 3, 3), log=None)
    return root


def test_training_segments_carry_noise_only_clips_and_crops_follow_the_seed(noisy_root):
    dataset = enhancement_dataset(noisy_root, "train", RATE, segment_samples=2000)
    item = dataset[(0, 5)]
    assert set(item) == {"noisy", "clean", "noise", "noise_only", "id"}
    for key in ("noisy", "clean", "noise", "noise_only"):
        assert item[key].shape == (1, 2000) and item[key].dtype == torch.float32
    torch.testing.assert_close(item["noisy"], item["clean"] + item["noise"])
    again = dataset[(0, 5)]
    torch.testing.assert_close(item["noisy"], again["noisy"])
    other = dataset[(0, 6)]
    assert not torch.equal(item["noisy"], other["noisy"])  # another crop of a >0.25 s utterance
    loader = torch.utils.data.DataLoader(dataset, batch_size=3, sampler=EpochSeededSampler(len(dataset), 0))
    batch = next(iter(loader))
    assert batch["noisy"].shape == (3, 1, 2000) and batch["noise_only"].shape == (3, 1, 2000)


def test_evaluation_items_are_whole_utterances_with_metadata(noisy_root):
    items = find_noisy_split(noisy_root, "test")
    assert len(items) == 3 and all(item.noise_only is None and item.noise_kind for item in items)
    dataset = EnhancementDataset(items, RATE)
    for index, item in enumerate(items):
        out = dataset[index]
        assert "noise_only" not in out
        assert out["noisy"].shape[-1] == out["clean"].shape[-1] > 0
    with pytest.raises(DatasetError, match="expected 16000 Hz"):
        EnhancementDataset(items, 16000)
    with pytest.raises(DatasetError, match="split must be one of"):
        find_noisy_split(noisy_root, "dev")


def _voicebank(root: Path, speakers_train=("p226", "p230", "p287"), speakers_test=("p232",), rate=48000) -> Path:
    rng = np.random.default_rng(0)
    layout = {("clean_trainset_28spk_wav", "noisy_trainset_28spk_wav"): speakers_train,
              ("clean_testset_wav", "noisy_testset_wav"): speakers_test}
    for (clean_name, noisy_name), speakers in layout.items():
        for speaker in speakers:
            for utterance in (1, 2):
                clean = 0.05 * np.sin(2 * np.pi * 220 * np.arange(rate // 4) / rate)
                write_wav(root / clean_name / f"{speaker}_{utterance:03d}.wav", clean, rate, "PCM_16")
                noisy = clean + 0.01 * rng.standard_normal(len(clean))
                write_wav(root / noisy_name / f"{speaker}_{utterance:03d}.wav", noisy, rate, "PCM_16")
    return root


def test_voicebank_layout_splits_and_resamples(tmp_path):
    root = _voicebank(tmp_path / "vb")
    train = find_voicebank_split(root, "train")
    valid = find_voicebank_split(root, "valid")
    test = find_voicebank_split(root, "test")
    assert [i.id for i in train] == ["p230_001", "p230_002"]
    assert [i.id for i in valid] == ["p226_001", "p226_002", "p287_001", "p287_002"]
    assert [i.id for i in test] == ["p232_001", "p232_002"]
    dataset = enhancement_dataset(root, "test", 16000, layout="voicebank")
    item = dataset[0]
    assert item["noisy"].shape == item["clean"].shape == (1, 4000)  # 0.25 s at 16 kHz
    crops = enhancement_dataset(root, "train", 16000, layout="voicebank", segment_samples=1000)
    assert crops[(1, 3)]["clean"].shape == (1, 1000)


def test_voicebank_errors_name_the_folder_or_file(tmp_path):
    root = _voicebank(tmp_path / "vb")
    (root / "clean_testset_wav" / "p232_002.wav").unlink()
    with pytest.raises(DatasetError, match="p232_002.wav: its clean file"):
        find_voicebank_split(root, "test")
    (root / "clean_trainset_56spk_wav").mkdir()
    (root / "noisy_trainset_56spk_wav").mkdir()
    with pytest.raises(DatasetError, match="several training sets"):
        find_voicebank_split(root, "train")
    assert len(find_voicebank_split(root, "train", trainset="28spk")) == 2
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="noisy_testset_wav: no such folder"):
        find_voicebank_split(tmp_path / "empty", "test")


def test_corpus_checks_fail_before_training(noisy_root, tmp_path):
    check_enhancement_root(noisy_root, "noisy", RATE)
    with pytest.raises(DatasetError, match="corpus is at 8000 Hz, the config asks for 16000 Hz"):
        check_enhancement_root(noisy_root, "noisy", 16000)
    with pytest.raises(DatasetError, match="corpus.json: no such file"):
        check_enhancement_root(tmp_path, "noisy", RATE)
    check_enhancement_root(_voicebank(tmp_path / "vb"), "voicebank", 16000)
    with pytest.raises(DatasetError, match="layout must be"):
        check_enhancement_root(tmp_path, "dns", RATE)
