"""Speech data layer: corpus generator, folder readers, datasets, sampler and datamodule."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from separation.config import DataConfig
from separation.data.audio import AudioError, quantize_pcm16, read_wav, write_wav
from separation.data.speech_corpus import CorpusError, SpeechCorpusOptions, generate_speech_corpus
from separation.data.speech_datamodule import SpeechDataModule
from separation.data.speech_datasets import (
    DatasetError,
    DynamicMixingDataset,
    EpochSeededSampler,
    SpeechMixtureDataset,
    find_speech_split,
    utterance_speakers,
)

RATE = 8000
SPLITS = ("train-100", "dev", "test")
TINY = dict(
    n_src_list=(2, 3),
    n_train=6,
    n_dev=2,
    n_test=2,
    speakers=(3, 3, 3),
    utterances_per_speaker=2,
    words_per_utterance=(4, 6),
    modes=("min", "max"),
    mix_single=True,
    families=("espeak",),
    workers=1,
    log=None,
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is required for the speech corpus: apt-get install espeak-ng")
    root = tmp_path_factory.mktemp("speech")
    generate_speech_corpus(root, seed=0, **TINY)
    return root


def split_dir(root: Path, n: int, split: str, mode: str = "min") -> Path:
    return root / f"Libri{n}Mix" / "wav8k" / mode / split


def file_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.wav"))}


def make_wsj0(root: Path, split: str = "tr", n_src: int = 2, count: int = 3, length: int = 900, rate: int = RATE):
    """A hand-made wsj0-mix split: ids alternate utterance ids and gains; speakers 0aa, 0ab, ..."""
    rng = np.random.default_rng(0)
    ids = []
    for i in range(count):
        utterances = [f"0a{chr(97 + (i + k) % 5)}c010{k}" for k in range(n_src)]
        ids.append("_".join(f"{u}_{g:.4f}" for u, g in zip(utterances, [0.5, -0.5, 0.25][:n_src])))
    for mixture_id in ids:
        sources = quantize_pcm16(rng.uniform(-0.2, 0.2, size=(n_src, length)))
        for k, source in enumerate(sources):
            write_wav(root / split / f"s{k + 1}" / f"{mixture_id}.wav", source, rate)
        write_wav(root / split / "mix" / f"{mixture_id}.wav", sources.sum(0), rate)
    return ids


def crop_offset(signal: torch.Tensor, crop: torch.Tensor) -> int:
    """Where `crop` sits inside `signal` (fails if it is not a contiguous piece of it)."""
    for start in torch.nonzero(signal == crop[0]).flatten().tolist():
        if torch.equal(signal[start : start + len(crop)], crop):
            return start
    raise AssertionError("crop is not a piece of the signal")


def assert_one_line_naming(error: pytest.ExceptionInfo, path: Path | str) -> None:
    message = str(error.value)
    assert "\n" not in message and str(path) in message, message


# ---------------------------------------------------------------------------
# Audio I/O


def test_wav_round_trip_is_exact_and_atomic(tmp_path):
    signal = quantize_pcm16(np.random.default_rng(1).uniform(-0.9, 0.9, size=(2, 500)))
    write_wav(tmp_path / "new" / "a.wav", signal, RATE, subtype="PCM_16")
    assert np.array_equal(read_wav(tmp_path / "new" / "a.wav", RATE), signal)
    write_wav(tmp_path / "b.wav", signal[0] * 3.5, RATE)  # FLOAT keeps values beyond full scale
    assert np.array_equal(read_wav(tmp_path / "b.wav", RATE, channels=1), signal[0] * 3.5)
    assert read_wav(tmp_path / "b.wav", start=100, stop=160).shape == (60,)
    with pytest.raises(AudioError, match="PCM_16 needs samples"):
        write_wav(tmp_path / "c.wav", signal[0] * 2, RATE, subtype="PCM_16")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.wav", "b.wav", "new"]


def test_read_wav_errors_name_the_file(tmp_path):
    write_wav(tmp_path / "ok.wav", np.zeros(100), RATE)
    (tmp_path / "text.wav").write_text("not audio at all")
    sf.write(tmp_path / "empty.wav", np.zeros(0), RATE)
    cases = {
        tmp_path / "missing.wav": ({}, "no such file"),
        tmp_path / "text.wav": ({}, "not a readable wav"),
        tmp_path / "empty.wav": ({}, "no samples"),
        tmp_path / "ok.wav": ({"sample_rate": 16000}, "expected 16000 Hz, got 8000 Hz"),
    }
    for path, (kwargs, words) in cases.items():
        with pytest.raises(AudioError, match=words) as error:
            read_wav(path, **kwargs)
        assert_one_line_naming(error, path)
    with pytest.raises(AudioError, match="expected 2 channel"):
        read_wav(tmp_path / "ok.wav", channels=2)


# ---------------------------------------------------------------------------
# Generated corpus


def test_corpus_layout_and_metadata_follow_librimix(corpus):
    for n in (2, 3):
        for mode, split in [(m, s) for m in ("min", "max") for s in SPLITS]:
            folder = split_dir(corpus, n, split, mode)
            expected = {"mix_clean", "mix_both", "mix_single", "noise"} | {f"s{k}" for k in range(1, n + 1)}
            assert {p.name for p in folder.iterdir()} == expected
            metadata = folder.parent / "metadata"
            sources = [f"source_{k}_path" for k in range(1, n + 1)]
            headers = {
                "mix_clean": ["mixture_ID", "mixture_path", *sources, "length"],
                "mix_both": ["mixture_ID", "mixture_path", *sources, "noise_path", "length"],
                "mix_single": ["mixture_ID", "mixture_path", "source_1_path", "noise_path", "length"],
            }
            for kind, header in headers.items():
                with open(metadata / f"mixture_{split}_{kind}.csv") as handle:
                    rows = list(csv.reader(handle))
                assert rows[0] == header
                assert len(rows) - 1 == TINY[{"train-100": "n_train", "dev": "n_dev", "test": "n_test"}[split]]
                for row in rows[1:]:
                    assert Path(row[1]) == folder / kind / f"{row[0]}.wav"
                    assert all(Path(p).is_file() for p in row[1:-1])
                    assert sf.info(row[1]).frames == int(row[-1])


def test_mixtures_are_exact_sums_of_their_parts(corpus):
    for n, mode in [(2, "min"), (3, "min"), (3, "max")]:
        for split in SPLITS:
            folder = split_dir(corpus, n, split, mode)
            for path in sorted((folder / "mix_clean").glob("*.wav")):
                sources = np.stack([read_wav(folder / f"s{k}" / path.name, RATE) for k in range(1, n + 1)])
                noise = read_wav(folder / "noise" / path.name, RATE)
                assert np.array_equal(read_wav(path, RATE), sources.sum(0))
                assert np.array_equal(read_wav(folder / "mix_both" / path.name, RATE), sources.sum(0) + noise)
                assert np.array_equal(read_wav(folder / "mix_single" / path.name, RATE), sources[0] + noise)
                assert np.abs(sources).max(axis=1).min() > 0.01  # every source is audible
    min_length = sf.info(next((split_dir(corpus, 3, "dev") / "mix_clean").glob("*.wav"))).frames
    max_length = sf.info(next((split_dir(corpus, 3, "dev", "max") / "mix_clean").glob("*.wav"))).frames
    assert min_length < max_length


def test_speakers_are_distinct_within_and_disjoint_across_splits(corpus):
    for n in (2, 3):
        speakers = {}
        for split in SPLITS:
            ids = [p.stem for p in (split_dir(corpus, n, split) / "mix_clean").glob("*.wav")]
            assert all(len(set(utterance_speakers(i, "librimix"))) == n for i in ids)
            speakers[split] = {s for i in ids for s in utterance_speakers(i, "librimix")}
        assert not speakers["train-100"] & speakers["dev"]
        assert not speakers["train-100"] & speakers["test"]
        assert not speakers["dev"] & speakers["test"]
    with open(corpus / "Libri2Mix/wav8k/min/metadata/speakers.csv") as handle:
        table = list(csv.DictReader(handle))
    persons = {}
    for row in table:
        persons.setdefault(row["person"], set()).add(row["split"])
    assert all(len(splits) == 1 for splits in persons.values())


def test_generation_is_deterministic_and_refuses_to_overwrite(corpus, tmp_path):
    options = {**TINY, "n_src_list": (2,), "modes": ("min",), "mix_single": False}
    generate_speech_corpus(tmp_path / "a", seed=0, **options)
    reference = file_bytes(split_dir(corpus, 2, "dev"))
    reference = {k: v for k, v in reference.items() if not k.startswith("mix_single")}
    assert file_bytes(split_dir(tmp_path / "a", 2, "dev")) == reference
    with pytest.raises(CorpusError, match="already exists") as error:
        generate_speech_corpus(tmp_path / "a", seed=0, **options)
    assert_one_line_naming(error, tmp_path / "a" / "Libri2Mix")
    # An options object is the keywords' other spelling: same corpus, whatever the thread count.
    made = SpeechCorpusOptions(seed=0, **{k: v for k, v in options.items() if k not in ("workers", "log")})
    generate_speech_corpus(tmp_path / "a", made, workers=2, force=True, log=None)
    assert file_bytes(split_dir(tmp_path / "a", 2, "dev")) == reference
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["Libri2Mix"]  # no staging folder left
    generate_speech_corpus(tmp_path / "b", seed=1, **options)
    other = file_bytes(split_dir(tmp_path / "b", 2, "dev"))
    assert set(other.values()).isdisjoint(reference.values())


# ---------------------------------------------------------------------------
# Readers


def test_reader_finds_every_split_for_two_and_three_speakers(corpus):
    for n in (2, 3):
        for split, count in zip(SPLITS, (6, 2, 2)):
            for mode in ("min", "max"):
                items = find_speech_split(corpus, "librimix", split, n, RATE, mode, "mix_both")
                assert len(items) == count and all(len(i.sources) == n and i.noise for i in items)
                assert items == sorted(items, key=lambda i: i.id)
                assert all(i.mixture.parent.name == "mix_both" for i in items)
    direct = find_speech_split(corpus / "Libri3Mix", "librimix", "dev", 3, RATE)
    assert direct == find_speech_split(corpus, "librimix", "dev", 3, RATE)
    single = find_speech_split(corpus, "librimix", "test", 1, RATE, mixture="mix_single")
    assert all(len(i.sources) == 1 and i.sources[0].parent.name == "s1" for i in single)


def test_wsj0mix_reader_plain_and_nested(tmp_path):
    ids = make_wsj0(tmp_path / "plain", "cv")
    items = find_speech_split(tmp_path / "plain", "wsj0mix", "cv", 2, RATE)
    assert [i.id for i in items] == sorted(ids)
    assert utterance_speakers(items[0].id, "wsj0mix") == ["0aa", "0ab"]
    make_wsj0(tmp_path / "nested" / "wav8k" / "max", "tt", n_src=3)
    items = find_speech_split(tmp_path / "nested", "wsj0mix", "tt", 3, RATE, mode="max")
    assert len(items) == 3 and all(len(i.sources) == 3 and i.noise is None for i in items)


# ---------------------------------------------------------------------------
# Datasets and sampler


def test_segments_are_fixed_by_index_and_seed(corpus):
    items = find_speech_split(corpus, "librimix", "train-100", 2, RATE)
    full = SpeechMixtureDataset(items, RATE)[0]
    length = full["mixture"].shape[0]
    assert full["sources"].shape == (2, length) and full["id"] == items[0].id
    dataset = SpeechMixtureDataset(items, RATE, segment_samples=length // 2)
    start = dataset[0]
    assert torch.equal(start["mixture"], full["mixture"][: length // 2])
    crop = dataset[(0, 123)]
    assert crop["mixture"].shape == (length // 2,) and crop["sources"].shape == (2, length // 2)
    assert torch.equal(crop["sources"], dataset[(0, 123)]["sources"])
    offsets = {crop_offset(full["mixture"], dataset[(0, seed)]["mixture"]) for seed in range(20)}
    assert len(offsets) > 1
    padded = SpeechMixtureDataset(items, RATE, segment_samples=length + 50)[(0, 5)]
    assert torch.equal(padded["mixture"][:length], full["mixture"]) and not padded["mixture"][length:].any()


def test_sampler_is_a_pure_function_of_seed_and_epoch():
    sampler = EpochSeededSampler(10, seed=3, num_samples=25)
    first, again = list(sampler), list(sampler)
    sampler.set_epoch(1)
    second = list(sampler)
    assert first == again and first != second and len(second) == 25
    resumed = EpochSeededSampler(10, seed=3, num_samples=25)
    resumed.set_epoch(1)
    assert list(resumed) == second
    assert sorted(i for i, _ in first[:10]) == list(range(10))  # each epoch starts with a full permutation
    assert len({s for _, s in first}) == 25
    assert list(EpochSeededSampler(10, seed=4, num_samples=25)) != first
    assert [i for i, _ in EpochSeededSampler(4, seed=0, shuffle=False, num_samples=6)] == [0, 1, 2, 3, 0, 1]


def test_dynamic_mixing_draws_distinct_speakers_and_sums_exactly(corpus):
    items = find_speech_split(corpus, "librimix", "train-100", 3, RATE, mixture="mix_both")
    dataset = DynamicMixingDataset(items, RATE, segment_samples=4000, n_src=3, items_per_epoch=7)
    assert len(dataset) == 7 and len(dataset.speakers) == 3
    for seed in range(5):
        example = dataset[(seed, seed)]
        assert example["sources"].shape == (3, 4000) and example["mixture"].shape == (4000,)
        speakers = [part.split("/")[0] for part in example["id"].split("+")]
        assert len(set(speakers)) == 3
        noise = example["mixture"] - example["sources"].sum(0)
        assert noise.abs().max() > 0  # mix_both items bring their noise
    clean = DynamicMixingDataset(find_speech_split(corpus, "librimix", "train-100", 2, RATE), RATE, 4000, 2, 7)
    example = clean[(0, 11)]
    assert torch.allclose(example["mixture"], example["sources"].sum(0), atol=1e-6)
    assert torch.equal(example["mixture"], clean[(0, 11)]["mixture"])
    assert not torch.equal(example["mixture"], clean[(0, 12)]["mixture"])


def test_dynamic_mixing_reads_wsj0_speakers(tmp_path):
    make_wsj0(tmp_path, "tr", count=4)
    items = find_speech_split(tmp_path, "wsj0mix", "tr", 2, RATE)
    dataset = DynamicMixingDataset(items, RATE, 600, 2, items_per_epoch=3, layout="wsj0mix")
    assert dataset.speakers == ["0aa", "0ab", "0ac", "0ad", "0ae"]
    example = dataset[(1, 9)]
    assert torch.allclose(example["mixture"], example["sources"].sum(0), atol=1e-6)


# ---------------------------------------------------------------------------
# Datamodule


def test_datamodule_batches_honour_the_config(corpus):
    config = DataConfig(root=str(corpus), n_src=3, segment_seconds=0.25, batch_size=2, valid_max_items=1,
                        train_items_per_epoch=5, librimix_mixture="mix_both")
    module = SpeechDataModule(config, seed=0)
    module.setup("fit")
    train = module.train_dataloader()
    batches = list(train)
    assert len(batches) == 2  # 5 items per epoch, batch 2, drop_last
    assert batches[0]["mixture"].shape == (2, 2000) and batches[0]["sources"].shape == (2, 3, 2000)
    train.sampler.set_epoch(0)
    assert torch.equal(list(train)[0]["mixture"], batches[0]["mixture"])
    train.sampler.set_epoch(1)
    assert not torch.equal(list(train)[0]["mixture"], batches[0]["mixture"])
    valid = list(module.val_dataloader())
    assert len(valid) == 1 and valid[0]["mixture"].shape[0] == 1 and valid[0]["sources"].shape[:2] == (1, 3)
    assert valid[0]["mixture"].shape[1] > 2000  # full utterance, not a segment
    module.setup("test")
    assert len(module.test_dataloader()) == 2

    dynamic = SpeechDataModule(DataConfig(root=str(corpus), segment_seconds=0.25, batch_size=3,
                                          dynamic_mixing=True, num_workers=1), seed=1)
    dynamic.setup("fit")
    loader = dynamic.train_dataloader()
    assert loader.persistent_workers and loader.drop_last and len(loader) == 2  # 6 mixtures per epoch
    assert isinstance(dynamic.train_set, DynamicMixingDataset)


def test_datamodule_reads_wsj0mix_with_its_split_names(tmp_path):
    for split in ("tr", "cv", "tt"):
        make_wsj0(tmp_path, split, count=4)
    config = DataConfig(root=str(tmp_path), layout="wsj0mix", segment_seconds=0.05, batch_size=2, dynamic_mixing=True)
    module = SpeechDataModule(config, seed=0)
    module.setup()
    batch = next(iter(module.train_dataloader()))
    assert batch["mixture"].shape == (2, 400) and batch["sources"].shape == (2, 2, 400)
    assert len(module.val_dataloader()) == 4 and len(module.test_dataloader()) == 4


def test_datamodule_fails_early_with_one_line(corpus, tmp_path):
    with pytest.raises(DatasetError, match="no such data folder") as error:
        SpeechDataModule(DataConfig(root=str(tmp_path / "nowhere")), seed=0).setup("fit")
    assert_one_line_naming(error, tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="wav16k") as error:
        SpeechDataModule(DataConfig(root=str(corpus), sample_rate=16000), seed=0).setup("fit")
    with pytest.raises(DatasetError, match="batch_size=9"):
        SpeechDataModule(DataConfig(root=str(corpus), batch_size=9), seed=0).setup("fit")
    with pytest.raises(DatasetError, match="n_src=1"):
        SpeechDataModule(DataConfig(root=str(corpus), librimix_mixture="mix_single"), seed=0).setup("fit")


# ---------------------------------------------------------------------------
# Bad input


def test_bad_folders_and_files_give_one_line_errors(tmp_path):
    make_wsj0(tmp_path, "tr")

    def setup_error(words: str, path: Path, n_src: int = 2, split: str = "tr"):
        with pytest.raises(ValueError, match=words) as error:
            items = find_speech_split(tmp_path, "wsj0mix", split, n_src, RATE)
            for index in range(len(items)):
                SpeechMixtureDataset(items, RATE)[index]
        assert_one_line_naming(error, path)

    setup_error("no such split folder", tmp_path / "cv", split="cv")
    (tmp_path / "empty" / "mix").mkdir(parents=True)
    (tmp_path / "empty" / "s1").mkdir()
    (tmp_path / "empty" / "s2").mkdir()
    setup_error("0 mixtures found", tmp_path / "empty" / "mix", split="empty")
    setup_error("s3: no such folder", tmp_path / "tr" / "s3", n_src=3)
    mixtures = sorted((tmp_path / "tr" / "mix").glob("*.wav"))

    source = tmp_path / "tr" / "s2" / mixtures[1].name
    backup = source.read_bytes()
    source.unlink()
    setup_error("source file .* is missing", source)
    source.write_text("RIFF nonsense")
    setup_error("not a readable wav", source)
    write_wav(source, np.zeros(900), 16000)
    setup_error("expected 8000 Hz, got 16000 Hz", source)
    write_wav(source, np.zeros(700), RATE)
    setup_error("700 samples but its mixture", source)
    source.write_bytes(backup)

    (tmp_path / "tr" / "s3").mkdir()
    setup_error("more than n_src=2", tmp_path / "tr")
    with pytest.raises(DatasetError, match="not a LibriMix id"):
        utterance_speakers("01aa010b_0.5_02bb010c_-0.5", "librimix")
