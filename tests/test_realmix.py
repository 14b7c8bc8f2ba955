"""`separation data realmix`: real two-speaker test mixtures by LibriMix's recipe, and the grouped speech scores."""

import csv
import json
from itertools import combinations

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

import separation.data.realmix_corpus as realmix
from separation.cli import main
from separation.data.realmix_corpus import generate_realmix
from separation.data.speech_datasets import SpeechMixtureDataset, find_speech_split
from separation.data.speech_voices import VoiceError, prompt_files
from separation.errors import UserError
from separation.evaluation.speech import METRICS, evaluate_speech
from separation.evaluation.speech_groups import level_band, librimix_metadata, mixture_groups
from test_evaluate import oracle_separator

RATE = 8000
SPEAKERS = ("ann", "bo-b", "cy")


def speakers_folder(root, rate=16000, takes=3):
    """Three speakers of tones with noise bursts, 0.6-1.3 s, at 16 kHz; plus one too-short and one silent file."""
    rng = np.random.default_rng(0)
    for index, name in enumerate(SPEAKERS):
        (root / name).mkdir(parents=True)
        for take in range(takes):
            t = np.arange(int(rng.uniform(0.6, 1.3) * rate)) / rate
            tone = np.sin(2 * np.pi * (220 + 150 * index + 40 * take) * t) * (0.2 + 0.4 * index)
            burst = rng.normal(0, 0.05, len(t)) * (np.sin(2 * np.pi * 3 * t) > 0)
            sf.write(root / name / f"take{take}.{'flac' if take % 3 == 2 else 'wav'}", tone + burst, rate)
    sf.write(root / "cy" / "short.wav", np.full(int(0.2 * rate), 0.1), rate)
    sf.write(root / "cy" / "silent.wav", np.zeros(rate), rate)
    return root


def mixture_rows(root, rate=RATE):
    path = root / "Libri2Mix" / f"wav{rate // 1000}k" / "min" / "metadata" / "mixture_test_mix_clean.csv"
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def read(path):
    audio, rate = sf.read(path, dtype="float32")
    assert rate == RATE
    return audio


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """One recording per source (min_seconds=0), as before joining existed."""
    base = tmp_path_factory.mktemp("realmix")
    folder = speakers_folder(base / "voices")
    provenance = generate_realmix(base / "out", speakers_dir=folder, mixtures=9, seed=3, level_range=(0.0, 8.0),
                                  min_seconds=0, log=None)
    return base, provenance


JOINED_SECONDS = 2.5


@pytest.fixture(scope="module")
def joined(tmp_path_factory):
    """Sources of several recordings joined to at least JOINED_SECONDS; six recordings a speaker."""
    base = tmp_path_factory.mktemp("realmix_joined")
    folder = speakers_folder(base / "voices", takes=6)
    provenance = generate_realmix(base / "out", speakers_dir=folder, mixtures=9, seed=5, level_range=(0.0, 8.0),
                                  min_seconds=JOINED_SECONDS, log=None)
    return base, provenance


def test_sources_hold_the_drawn_relative_level_and_sum_to_the_mixture(corpus):
    base, _ = corpus
    meter = pyloudnorm.Meter(RATE)
    rows = mixture_rows(base / "out")
    assert len(rows) == 9
    bands = set()
    for row in rows:
        s1, s2, mixture = (read(row[key]) for key in ("source_1_path", "source_2_path", "mixture_path"))
        assert np.array_equal(mixture, s1 + s2)
        measured = meter.integrated_loudness(s2.astype(np.float64)) - meter.integrated_loudness(s1.astype(np.float64))
        assert measured == pytest.approx(float(row["relative_level_db"]), abs=0.1)
        assert meter.integrated_loudness(s1.astype(np.float64)) == pytest.approx(float(row["loudness_1_lufs"]), abs=0.1)
        assert 0 <= abs(float(row["relative_level_db"])) <= 8
        bands.add(level_band(float(row["relative_level_db"])))
    assert len(bands) > 1  # the draw spreads over the range


def test_min_mode_keeps_the_start_of_each_recording_unperturbed(corpus):
    base, _ = corpus
    for row in mixture_rows(base / "out"):
        assert realmix.FILE_SEPARATOR not in row["source_1_files"] + row["source_2_files"]  # one file each
        originals = [realmix._read(row[f"source_{k}_files"], RATE) for k in (1, 2)]
        length = int(row["length"])
        assert length == min(len(o) for o in originals)
        for k, original in zip((1, 2), originals):
            written = read(row[f"source_{k}_path"]).astype(np.float64)
            assert len(written) == length
            expected = original[:length]
            gain = np.dot(written, expected) / np.dot(expected, expected)
            assert np.allclose(written, gain * expected, rtol=0, atol=2**-15)  # a level change (16-bit), nothing else


def test_every_mixture_pairs_two_speakers_and_pairs_cycle_evenly(corpus):
    base, provenance = corpus
    rows = mixture_rows(base / "out")
    pairs = [frozenset((row["speaker_1"], row["speaker_2"])) for row in rows]
    assert all(len(pair) == 2 for pair in pairs)
    assert {pair: pairs.count(pair) for pair in set(pairs)} == {frozenset(p): 3 for p in combinations(SPEAKERS, 2)}
    assert sorted(provenance["skipped"], key=lambda s: s["file"]) == [
        {"file": str(base / "voices" / "cy" / "short.wav"), "reason": "shorter than 400 ms"},
        {"file": str(base / "voices" / "cy" / "silent.wav"), "reason": "silent (below the -70 LUFS gate)"}]
    cy = provenance["speakers"]["cy"]
    assert (cy["files"], cy["usable"]) == (5, 3)
    takes = sum(len(realmix._read(str(base / "voices" / "cy" / name), RATE)) for name in ("take0.wav", "take1.wav", "take2.flac"))
    assert cy["usable_seconds_joined"] == pytest.approx(takes / RATE + 2 * realmix.GAP_SECONDS, abs=1e-3)
    assert provenance["level_range_db"] == [0.0, 8.0] and provenance["seed"] == 3
    on_disk = json.loads((base / "out" / "Libri2Mix" / "wav8k" / "min" / "metadata" / "realmix.json").read_text())
    assert on_disk == json.loads(json.dumps(provenance))
    items = find_speech_split(base / "out", "librimix", "test", 2, RATE)  # the readers take it as it is
    assert [item.id for item in items] == sorted(row["mixture_ID"] for row in rows)


def test_the_same_seed_writes_the_same_audio_and_another_seed_does_not(corpus, tmp_path):
    base, _ = corpus
    for name, seed in (("again", 3), ("other", 4)):
        generate_realmix(tmp_path / name, speakers_dir=base / "voices", mixtures=9, seed=seed, level_range=(0.0, 8.0),
                         min_seconds=0, log=None)
    first, again, other = (sorted((r / "Libri2Mix").rglob("*.wav")) for r in (base / "out", tmp_path / "again", tmp_path / "other"))
    assert [p.relative_to(base / "out") for p in first] == [p.relative_to(tmp_path / "again") for p in again]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(first, again))
    assert [p.name for p in first] != [p.name for p in other]
    levels = [[row["relative_level_db"] for row in mixture_rows(r)] for r in (base / "out", tmp_path / "again")]
    assert levels[0] == levels[1]


def test_loud_mixtures_are_scaled_down_together(tmp_path):
    folder = speakers_folder(tmp_path / "voices")
    generate_realmix(tmp_path / "out", speakers_dir=folder, mixtures=6, level_range=(30.0, 30.0), log=None)
    meter = pyloudnorm.Meter(RATE)
    scaled = louder = 0
    for row in mixture_rows(tmp_path / "out"):
        s1, s2, mixture = (read(row[key]).astype(np.float64) for key in ("source_1_path", "source_2_path", "mixture_path"))
        assert max(np.abs(s1).max(), np.abs(s2).max(), np.abs(mixture).max()) <= 0.9 + 2**-14  # two 16-bit roundings
        assert meter.integrated_loudness(s2) - meter.integrated_loudness(s1) == pytest.approx(
            float(row["relative_level_db"]), abs=0.1)
        # A source 30 dB above -33..-25 LUFS peaks above 0.9; one 30 dB below does not.
        louder += float(row["relative_level_db"]) > 0
        scaled += float(row["peak_gain_db"]) < 0
    assert scaled == louder > 0


@pytest.mark.parametrize("make", ["missing", "one speaker", "empty speakers"])
def test_a_folder_without_two_speakers_is_refused_in_one_line(tmp_path, capsys, make):
    folder = tmp_path / "voices"
    if make != "missing":
        (folder / "a").mkdir(parents=True)
        (folder / "b").mkdir()
        if make == "one speaker":
            sf.write(folder / "a" / "x.wav", np.zeros(RATE), RATE)
    assert main(["data", "realmix", str(tmp_path / "out"), "--speakers", str(folder)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and str(folder) in error and "at least 2 speaker sub-folders" in error
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_an_existing_corpus_is_kept_without_force_and_another_corpus_even_with_it(corpus, tmp_path):
    base, _ = corpus
    with pytest.raises(UserError, match="already exists"):
        generate_realmix(base / "out", speakers_dir=base / "voices", mixtures=2, log=None)
    training = tmp_path / "speech" / "Libri2Mix" / "wav8k" / "min" / "train-100" / "s1"
    training.mkdir(parents=True)
    sf.write(training / "a.wav", np.zeros(RATE), RATE)
    with pytest.raises(UserError, match="realmix did not write"):
        generate_realmix(tmp_path / "speech", speakers_dir=base / "voices", mixtures=2, force=True, log=None)
    assert (training / "a.wav").is_file()
    with pytest.raises(UserError, match="LOW HIGH"):
        generate_realmix(base / "elsewhere", speakers_dir=base / "voices", level_range=(5.0, 1.0), log=None)


def test_speech_scores_are_grouped_by_pair_and_level_band_only_when_the_corpus_says(corpus, tmp_path):
    base, _ = corpus
    items = find_speech_split(base / "out", "librimix", "test", 2, RATE)
    groups = mixture_groups(librimix_metadata(items[0].mixture, "test"))
    summary = evaluate_speech(oracle_separator(), SpeechMixtureDataset(items, RATE), tmp_path / "eval",
                              examples=0, log=None, groups=groups)
    pairs = summary["by_speaker_pair"]
    assert list(pairs) == sorted("+".join(sorted(p)) for p in combinations(SPEAKERS, 2))
    assert all(stats["count"] == 3 for stats in pairs.values())
    bands = summary["by_relative_level"]
    assert sum(stats["count"] for stats in bands.values()) == 9 and set(bands) <= {"0-2.5", "2.5-5", "5-10"}
    with open(tmp_path / "eval" / "summary.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [(r["group_by"], r["group"]) for r in table] == [("all", "all")] + [
        ("speaker_pair", p) for p in pairs] + [("relative_level", b) for b in bands]
    row = next(r for r in table if r["group"] == list(pairs)[0])
    assert float(row["si_snr"]) == pytest.approx(pairs[list(pairs)[0]]["si_snr"]["mean"], abs=1e-3)
    assert set(METRICS) <= set(row)

    # A LibriMix csv without the columns: no groups, and no summary.csv left behind.
    plain = tmp_path / "plain.csv"
    plain.write_text("mixture_ID,mixture_path,source_1_path,source_2_path,length\n")
    assert mixture_groups(plain) is None and mixture_groups(tmp_path / "absent.csv") is None
    summary = evaluate_speech(oracle_separator(), SpeechMixtureDataset(items[:2], RATE), tmp_path / "eval",
                              examples=0, log=None)
    assert "by_speaker_pair" not in summary and not (tmp_path / "eval" / "summary.csv").exists()


def test_level_bands():
    assert [level_band(v) for v in (0.0, 2.49, 2.5, -4.9, 5.0, -9.99, 10.0, 30.0, float("nan"))] == [
        "0-2.5", "0-2.5", "2.5-5", "2.5-5", "5-10", "5-10", ">=10", ">=10", "unknown"]


def test_the_prompt_speakers_mix_from_their_own_packages(tmp_path, monkeypatch):
    try:
        found = {name: prompt_files(name) for name in realmix.PROMPT_PACKAGES}
    except VoiceError:
        found = {}
    if not found or min(len(files) for files in found.values()) < 2:
        pytest.skip("the asterisk-prompt-* packages are not installed")
    monkeypatch.setattr(realmix, "prompt_files", lambda name: found[name][:8])  # a few files: seconds, not minutes
    provenance = generate_realmix(tmp_path / "out", prompts=True, mixtures=3, min_seconds=1.5, log=None)
    assert provenance["source"]["kind"] == "prompts" and set(provenance["source"]["packages"]) == set(
        realmix.PROMPT_PACKAGES.values())
    rows = mixture_rows(tmp_path / "out")
    assert {frozenset((r["speaker_1"], r["speaker_2"])) for r in rows} == {
        frozenset(p) for p in combinations(realmix.PROMPT_PACKAGES, 2)}
    files = [f for r in rows for k in (1, 2) for f in r[f"source_{k}_files"].split(realmix.FILE_SEPARATOR)]
    assert all(f.startswith("/usr/share/asterisk/") for f in files)
    assert all(int(r["length"]) >= 1.5 * RATE for r in rows)


def joined_source(files, rate=RATE):
    """The recordings end to end with GAP_SECONDS of zeros between, and where each gap starts."""
    pieces, gaps, gap = [], [], round(realmix.GAP_SECONDS * rate)
    for index, path in enumerate(files):
        if index:
            gaps.append(sum(len(p) for p in pieces))
            pieces.append(np.zeros(gap))
        pieces.append(realmix._read(path, rate))
    return np.concatenate(pieces), gaps


def test_joined_sources_last_at_least_min_seconds_with_silent_gaps_and_the_files_listed_in_order(joined):
    base, provenance = joined
    assert provenance["min_seconds"] == JOINED_SECONDS and provenance["gap_seconds"] == realmix.GAP_SECONDS
    meter = pyloudnorm.Meter(RATE)
    gap = round(realmix.GAP_SECONDS * RATE)
    rows = mixture_rows(base / "out")
    several = 0
    for row in rows:
        length = int(row["length"])
        assert length >= JOINED_SECONDS * RATE  # both sources were, so the mixture is
        sources = []
        for k in (1, 2):
            files = row[f"source_{k}_files"].split(realmix.FILE_SEPARATOR)
            assert len(set(files)) == len(files)  # no recording twice in one utterance
            assert all(f.startswith(str(base / "voices" / row[f"speaker_{k}"])) for f in files)
            full, gaps = joined_source(files)
            assert len(full) >= JOINED_SECONDS * RATE  # before truncation
            assert len(full) - len(realmix._read(files[-1], RATE)) - gap * (len(files) > 1) < JOINED_SECONDS * RATE
            several += len(files) > 1
            written = read(row[f"source_{k}_path"]).astype(np.float64)
            expected = full[:length]
            gain = np.dot(written, expected) / np.dot(expected, expected)
            # The files in the order listed, one gain for all, on the 16-bit grid: so the order is the csv's.
            assert np.allclose(written, gain * expected, rtol=0, atol=2**-15)
            for start in (g for g in gaps if g < length):
                assert not np.any(written[start:min(start + gap, length)])  # the gap is digital silence
            sources.append(written)
        assert np.array_equal(read(row["mixture_path"]), (sources[0] + sources[1]).astype(np.float32))
        measured = meter.integrated_loudness(sources[1]) - meter.integrated_loudness(sources[0])
        assert measured == pytest.approx(float(row["relative_level_db"]), abs=0.1)
    assert several == 2 * len(rows)  # every tone take is under 2.5 s: each source joins several


def test_joined_sources_are_seeded(joined, tmp_path):
    base, _ = joined
    generate_realmix(tmp_path / "again", speakers_dir=base / "voices", mixtures=9, seed=5, level_range=(0.0, 8.0),
                     min_seconds=JOINED_SECONDS, log=None)
    first, again = (sorted((r / "Libri2Mix").rglob("*.wav")) for r in (base / "out", tmp_path / "again"))
    assert [p.relative_to(base / "out") for p in first] == [p.relative_to(tmp_path / "again") for p in again]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(first, again))
    files = [[(r["source_1_files"], r["source_2_files"]) for r in mixture_rows(root)] for root in (base / "out", tmp_path / "again")]
    assert files[0] == files[1]


def test_a_speaker_with_too_little_audio_for_min_seconds_is_named_in_one_line(joined, tmp_path, capsys):
    base, provenance = joined
    total = provenance["speakers"]["ann"]["usable_seconds_joined"]
    assert main(["data", "realmix", str(tmp_path / "out"), "--speakers", str(base / "voices"),
                 "--min-seconds", f"{total + 0.5:g}"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "speaker 'ann'" in error and f"{total:.2f} s" in error
    assert main(["data", "realmix", str(tmp_path / "out"), "--speakers", str(base / "voices"), "--min-seconds", "-1"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "--min-seconds" in error
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_cycle_never_repeats_a_file_in_one_utterance_and_uses_every_file_evenly():
    files = [realmix.Utterance("ann", f"f{i}", 10) for i in range(3)]
    cycle = realmix._Cycle(files, np.random.default_rng(0))
    used = []
    for _ in range(300):
        parts = cycle.joined(min_frames=20, gap=1)  # two files each: rounds of 3 split utterances
        assert len(parts) == 2 and parts[0].path != parts[1].path
        used += [u.path for u in parts]
    counts = [used.count(f.path) for f in files]
    assert max(counts) - min(counts) <= 2 and sum(counts) == 600
