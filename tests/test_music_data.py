"""The generated music corpus, the MUSDB readers, the chunk loader and its augmentations."""

import numpy as np
import pytest
import soundfile as sf

from separation.data.audio import wav_bytes, write_wav
from separation.data.corpus_errors import MusicCorpusError
from separation.data.music_compose import Note, compose, midi_file
from separation.data.music_corpus import generate_music_corpus, render
from separation.data.music_format import SOURCES
from separation.data.music_datamodule import MusicDataConfig, MusicDataModule
from separation.data.music_datasets import (
    MusicDataError,
    MusicEvalDataset,
    MusicTrainDataset,
    find_music_tracks,
    read_chunk,
    target_definitions,
)

SECONDS = 3.0
RATE = 44100
FOUR = ["vocals", "drums", "bass", "other"]


def read(path):
    return sf.read(str(path), dtype="float64", always_2d=True)[0].T


# ---------------------------------------------------------------------------
# the generator


def test_musdb_reads_the_corpus(music_corpus):
    import musdb

    db = musdb.DB(root=str(music_corpus), is_wav=True)
    assert [t.subset for t in db.tracks] == ["train"] * 3 + ["test"]
    track = db.tracks[0]
    assert track.rate == RATE and track.audio.shape == (int(SECONDS * RATE), 2)
    assert set(track.sources) == set(SOURCES)
    valid = musdb.DB(root=str(music_corpus), is_wav=True, setup_file="musdb.yaml", subsets="train", split="valid")
    assert [t.name for t in valid.tracks] == [db.tracks[2].name]


def test_mixture_is_exactly_the_sum_of_the_stems(music_corpus):
    for folder in sorted((music_corpus / "train").iterdir()) + sorted((music_corpus / "test").iterdir()):
        stems = {name: read(folder / f"{name}.wav") for name in SOURCES}
        mixture = read(folder / "mixture.wav")
        assert np.array_equal(mixture, sum(stems.values())), folder.name
        assert 0.1 < np.abs(mixture).max() <= 0.9 + 4 * 0.5 / 32768  # each stem rounds by half a step
        for name, audio in stems.items():  # every stem sounds, and in stereo
            assert np.sqrt(np.mean(audio**2)) > 1e-3, (folder.name, name)
        assert not np.array_equal(stems["other"][0], stems["other"][1])


def test_songs_are_a_function_of_the_seed():
    def midi(seed, index):
        part = compose(seed, index, 8.0).parts["vocals"]
        return midi_file(part.notes, 120.0, 16.0, part.programs, part.controls)

    assert midi(0, 1) == midi(0, 1)
    assert midi(0, 1) != midi(1, 1) and midi(0, 1) != midi(0, 2)
    assert compose(0, 1, 8.0).name != compose(0, 2, 8.0).name


def test_midi_timing_and_deterministic_rendering():
    """One note at beat 2 at 120 bpm sounds from 1.0 s; rendering the same file twice gives the same samples."""
    midi = midi_file([Note(2.0, 1.0, 60, 110)], 120.0, 4.0, {0: 0})
    audio = render(midi, RATE)
    onset = np.flatnonzero(np.abs(audio).max(axis=0) > 1e-3)[0] / RATE
    assert audio.shape[0] == 2 and 0.99 < onset < 1.02
    assert np.array_equal(audio, render(midi, RATE))


def test_generator_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(MusicCorpusError, match="not empty"):
        generate_music_corpus(tmp_path, n_train=2, n_valid=1, n_test=1, seconds=1.0, log=None)


# ---------------------------------------------------------------------------
# the track index and bad folders


def test_roles_follow_the_setup_file(music_corpus):
    train = find_music_tracks(music_corpus, "train")
    valid = find_music_tracks(music_corpus, "valid")
    test = find_music_tracks(music_corpus, "test")
    assert len(train) == 2 and len(valid) == 1 and len(test) == 1
    assert not {t.name for t in train} & {t.name for t in valid}
    assert all(t.frames == SECONDS * RATE and t.channels == 2 for t in train + valid + test)


def fake_track(folder, frames=4410, rates=None, skip=()):
    rng = np.random.default_rng(0)
    for name in ("mixture",) + SOURCES:
        if name not in skip:
            write_wav(folder / f"{name}.wav", 0.1 * rng.standard_normal((2, frames)), (rates or {}).get(name, RATE))


@pytest.mark.parametrize(
    "damage, message",
    [
        ({"skip": ("bass",)}, "'Broken - Track' \\(train\\): missing bass.wav"),
        ({"rates": {"drums": 22050}}, "'Broken - Track' \\(train\\): drums.wav is 22050 Hz, expected 44100 Hz"),
    ],
)
def test_a_broken_track_is_named(tmp_path, damage, message):
    fake_track(tmp_path / "train" / "Good - Track")
    fake_track(tmp_path / "train" / "Broken - Track", **damage)
    with pytest.raises(MusicDataError, match=message):
        find_music_tracks(tmp_path, "train")


def test_mismatched_lengths_are_named(tmp_path):
    folder = tmp_path / "train" / "Short - Stem"
    fake_track(folder)
    write_wav(folder / "vocals.wav", np.zeros((2, 100)), RATE)
    with pytest.raises(MusicDataError, match="'Short - Stem'.*vocals.wav has 100 samples but mixture.wav has 4410"):
        find_music_tracks(tmp_path, "train")


def test_wrong_layout_finds_no_tracks(tmp_path):
    fake_track(tmp_path / "Track - Without Subset")  # one level too high
    with pytest.raises(MusicDataError, match="tracks found: 0 in train/"):
        find_music_tracks(tmp_path, "train")
    (tmp_path / "train").mkdir()
    with pytest.raises(MusicDataError, match="tracks found: 0"):
        find_music_tracks(tmp_path, "train", is_wav=False)


def test_unknown_stem_is_refused(music_corpus):
    with pytest.raises(MusicDataError, match="stem 'piano'.*allowed: vocals, drums, bass, other, accompaniment"):
        target_definitions(music_corpus, ["vocals", "piano"])


def test_stem_mp4_tracks_are_decoded_once(music_corpus, tmp_path):
    import stempeg

    source = music_corpus / "test" / find_music_tracks(music_corpus, "test")[0].name
    stems = np.stack([read(source / f"{n}.wav").T for n in ("mixture", "drums", "bass", "other", "vocals")])
    (tmp_path / "mp4" / "test").mkdir(parents=True)
    stempeg.write_stems(str(tmp_path / "mp4" / "test" / "Test - Song.stem.mp4"), stems, sample_rate=RATE)
    cache = tmp_path / "cache"
    tracks = find_music_tracks(tmp_path / "mp4", "test", is_wav=False, cache_dir=cache)
    decoded = read(tracks[0].sources["vocals"])
    assert tracks[0].mixture == cache / "test" / "Test - Song" / "mixture.wav"
    # AAC is lossy and adds codec delay: compare loudness, not samples.
    assert abs(np.std(decoded) / np.std(stems[4]) - 1) < 0.1
    stamp = tracks[0].mixture.stat().st_mtime_ns
    find_music_tracks(tmp_path / "mp4", "test", is_wav=False, cache_dir=cache)
    assert tracks[0].mixture.stat().st_mtime_ns == stamp


# ---------------------------------------------------------------------------
# the loader


def test_chunks_match_musdb(music_corpus):
    import musdb

    track = musdb.DB(root=str(music_corpus), is_wav=True, subsets="test").tracks[0]
    ours = find_music_tracks(music_corpus, "test")[0]
    start, length = 12345, 22050
    track.chunk_start, track.chunk_duration = start / RATE, length / RATE
    theirs = track.targets["accompaniment"].audio.T[:, :length]
    mine = sum(read_chunk(ours.sources[s], start, length, 2) for s in ("drums", "bass", "other"))
    np.testing.assert_allclose(mine, theirs, atol=1e-6)
    past_end = read_chunk(ours.mixture, ours.frames - 10, 100, 2)
    assert past_end.shape == (2, 100) and not past_end[:, 10:].any()


@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT", "PCM_24"])
def test_memory_mapped_reads_equal_soundfile(tmp_path, subtype):
    """Mapped (PCM_16, FLOAT) and decoded (PCM_24) files read the same samples, also past other chunks."""
    audio = np.random.default_rng(0).uniform(-0.9, 0.9, (2, 5000))
    plain = tmp_path / "plain.wav"
    sf.write(str(plain), audio.T, RATE, subtype=subtype)
    encoded = plain.read_bytes()
    data_at = encoded.index(b"data")
    extra = b"LIST" + (3).to_bytes(4, "little") + b"abc\0"  # odd size, padded to even
    padded = tmp_path / "padded.wav"
    riff_size = (len(encoded) - 8 + len(extra)).to_bytes(4, "little")
    padded.write_bytes(encoded[:4] + riff_size + encoded[8:data_at] + extra + encoded[data_at:])
    expected = sf.read(str(plain), start=4000, dtype="float32", always_2d=True)[0].T
    for path in (plain, padded):
        chunk = read_chunk(path, 4000, 1500, 2)
        np.testing.assert_array_equal(chunk[:, :1000], expected)
        assert not chunk[:, 1000:].any()


def test_rewritten_files_are_parsed_again(tmp_path):
    path = tmp_path / "a.wav"
    path.write_bytes(wav_bytes(np.full((2, 100), 0.5), RATE, "PCM_16"))
    assert read_chunk(path, 0, 10, 2)[0, 0] == 0.5
    path.write_bytes(wav_bytes(np.full((2, 300), -0.25), RATE, "FLOAT"))
    assert read_chunk(path, 0, 10, 2)[0, 0] == -0.25


@pytest.mark.parametrize("stems", [FOUR, ["vocals", "accompaniment"]])
def test_training_mixture_is_the_sum_of_its_targets(music_corpus, stems):
    tracks = find_music_tracks(music_corpus, "train")
    dataset = MusicTrainDataset(tracks, target_definitions(music_corpus, stems), 8000, 10)
    item = dataset[(0, 123)]
    assert item["mixture"].shape == (2, 8000) and item["targets"].shape == (len(stems), 2, 8000)
    np.testing.assert_allclose(item["targets"].sum(0).numpy(), item["mixture"].numpy(), atol=1e-6)


def test_training_chunks_are_fixed_by_the_key(music_corpus):
    tracks = find_music_tracks(music_corpus, "train")
    dataset = MusicTrainDataset(tracks, target_definitions(music_corpus, FOUR), 8000, 10)
    first, again, other = dataset[(0, 5)], dataset[(0, 5)], dataset[(0, 6)]
    assert first["id"] == again["id"] and np.array_equal(first["mixture"], again["mixture"])
    assert not np.array_equal(first["mixture"], other["mixture"])


def test_random_mix_draws_each_source_from_its_own_track(music_corpus):
    tracks = find_music_tracks(music_corpus, "train")
    dataset = MusicTrainDataset(tracks, target_definitions(music_corpus, FOUR), 8000, 10)
    origins = [{part.split("@")[0].split("=")[1] for part in dataset[(0, seed)]["id"].split(";")} for seed in range(20)]
    assert any(len(names) > 1 for names in origins)
    aligned = MusicTrainDataset(tracks, target_definitions(music_corpus, FOUR), 8000, 10, random_mix=False, augment=False)
    item = aligned[(1, 7)]
    starts = {part.split("@")[1] for part in item["id"].split(";")}
    assert len(starts) == 1 and all(tracks[1].name in part for part in item["id"].split(";"))
    # Unaugmented stems of one track at one offset sum to that track's mixture file.
    expected = read_chunk(tracks[1].mixture, int(starts.pop()), 8000, 2)
    np.testing.assert_allclose(item["mixture"].numpy(), expected, atol=1e-6)


def test_augmentations_are_a_gain_and_a_channel_swap(music_corpus):
    """Each augmented source is its clean chunk, maybe with left and right swapped, times a gain in range."""
    tracks = find_music_tracks(music_corpus, "train")
    targets = target_definitions(music_corpus, FOUR)
    plain = MusicTrainDataset(tracks, targets, 8000, 10, random_mix=False, augment=False)
    augmented = MusicTrainDataset(tracks, targets, 8000, 10, random_mix=False, augment=True)
    swaps = []
    for seed in range(8):
        clean, noisy = plain[(0, seed)]["targets"].numpy(), augmented[(0, seed)]["targets"].numpy()
        for source, result in zip(clean, noisy):
            match = None
            for candidate, swapped in ((source, False), (source[::-1], True)):
                gain = float((candidate * result).sum() / (candidate**2).sum())
                if np.allclose(gain * candidate, result, atol=1e-6):
                    match = (gain, swapped)
                    break
            assert match is not None and 0.25 <= match[0] <= 1.25, (seed, match)
            if not np.allclose(source[0], source[1]):  # a swap of identical channels is invisible
                swaps.append(match[1])
    assert any(swaps) and not all(swaps)


def test_evaluation_excerpts_are_centred(music_corpus):
    tracks = find_music_tracks(music_corpus, "valid")
    targets = target_definitions(music_corpus, ["vocals", "accompaniment"])
    excerpt = MusicEvalDataset(tracks, targets, excerpt_samples=RATE)
    item = excerpt[0]
    assert item["mixture"].shape == (2, RATE) and excerpt.span(tracks[0]) == (RATE, RATE)
    np.testing.assert_allclose(item["mixture"].numpy(), read(tracks[0].mixture)[:, RATE : 2 * RATE], atol=1e-6)
    whole = MusicEvalDataset(tracks, targets, excerpt_samples=None)[0]
    assert whole["mixture"].shape == (2, tracks[0].frames)


def test_datamodule_batches(music_corpus):
    config = MusicDataConfig(
        root=str(music_corpus), segment_seconds=0.5, batch_size=2, train_items_per_epoch=4, valid_seconds=1.0
    )
    module = MusicDataModule(config, seed=0)
    module.setup("fit")
    batch = next(iter(module.train_dataloader()))
    assert batch["mixture"].shape == (2, 2, RATE // 2) and batch["targets"].shape == (2, 2, 2, RATE // 2)
    assert len(module.train_dataloader()) == 2
    valid = next(iter(module.val_dataloader()))
    assert valid["mixture"].shape == (1, 2, RATE)
    first = [b["mixture"] for b in module.train_dataloader()]
    again = [b["mixture"] for b in module.train_dataloader()]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))


def test_datamodule_checks_its_config(music_corpus):
    from separation.config import ConfigError

    with pytest.raises(ConfigError, match="data.gain_range"):
        MusicDataModule(MusicDataConfig(root=str(music_corpus), gain_range=[1.0, 0.5]), seed=0)
    with pytest.raises(ConfigError, match="data.stems"):
        MusicDataModule(MusicDataConfig(root=str(music_corpus), stems=[]), seed=0)
    module = MusicDataModule(MusicDataConfig(root=str(music_corpus), batch_size=500, train_items_per_epoch=10), seed=0)
    with pytest.raises(MusicDataError, match="batch_size=500"):
        module.setup("fit")


def test_missing_root_is_named(tmp_path):
    with pytest.raises(MusicDataError, match="no such data folder"):
        find_music_tracks(tmp_path / "nowhere", "train")
