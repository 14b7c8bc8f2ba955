"""Voice families, speaker perturbation, reverberation, held-out families and user recordings."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from separation.cli import main
from separation.data.audio import read_wav
from separation.data.speech_augment import CODECS, codec, reverberate, room_impulse_responses, warp
from separation.data.speech_corpus import SpeechCorpusOptions, generate_speech_corpus
from separation.data.speech_mixing import mode_signals
from separation.data.speech_voices import (
    DEFAULT_FAMILIES,
    FAMILIES,
    KTUBERLING_EXCLUDED,
    Request,
    SourceVoice,
    family_voices,
    ktuberling_words,
    synthesize,
)
from separation.errors import UserError

RATE = 8000
HOLDOUT = "prompts"
SPLITS = ("train-100", "dev", "test", f"test-{HOLDOUT}")
SMALL = dict(
    n_src_list=(2,), n_train=12, n_dev=4, n_test=4, speakers=(8, 4, 4), utterances_per_speaker=3,
    words_per_utterance=(3, 5), workers=1, log=None,
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Every default family, the recorded prompts held out, half the mixtures reverberant."""
    root = tmp_path_factory.mktemp("families")
    generate_speech_corpus(root, seed=0, holdout_family=HOLDOUT, reverb=0.5, **SMALL)
    return root / "Libri2Mix" / "wav8k" / "min"


def test_default_families_are_the_studies_corpus_without_festvox():
    # The committed studies ran on the four-family corpus; festvox is opt-in so it stays reproducible.
    default = SpeechCorpusOptions().families
    assert tuple(default) == DEFAULT_FAMILIES == ("espeak", "flite", "festival", "prompts")
    assert set(DEFAULT_FAMILIES) < set(FAMILIES) and "festvox" in FAMILIES


def test_festvox_voices_are_distinct_recorded_speakers_that_speak():
    voices = family_voices("festvox")
    assert len({v.person for v in voices}) == len(voices) == 7
    assert not {v.person for v in voices} & {v.person for v in family_voices("festival")}
    audio, rate = synthesize(voices[0], "en", [Request("seven red boats", 50, 1.0)])[0]
    assert rate > 0 and len(audio) > rate * 0.3 and np.sqrt(np.mean(audio ** 2)) > 1e-3


def test_ktuberling_voices_are_one_recorded_speaker_per_language_none_of_the_prompts_languages():
    voices = family_voices("ktuberling")
    languages = [v.name for v in voices]
    assert len({v.person for v in voices}) == len(voices) >= 15
    assert not set(languages) & set(KTUBERLING_EXCLUDED) and {"es", "fr", "it"} <= set(KTUBERLING_EXCLUDED)
    assert not any("@" in lang for lang in languages)  # sr@latin etc. are sr's own recordings again
    words = ktuberling_words()
    assert all(len(words[lang]) >= 10 and all(f"/sounds/{lang}/" in f for f in words[lang]) for lang in languages)
    pair = "|".join(words["en"][:2])
    (audio, rate), = synthesize(voices[languages.index("en")], "", [Request(pair)])
    one, _ = synthesize(voices[languages.index("en")], "", [Request(words["en"][0])])[0]
    assert rate > 0 and len(audio) > len(one) + 0.05 * rate  # two words, with a pause between
    assert np.sqrt(np.mean(audio ** 2)) > 1e-3


def test_ktuberling_family_joins_a_corpus_with_its_metadata(tmp_path):
    generate_speech_corpus(tmp_path, seed=0, families=("ktuberling", "flite"), **SMALL)
    folder = tmp_path / "Libri2Mix" / "wav8k" / "min"
    rows = [row for row in table(folder / "metadata" / "utterances.csv") if row["family"] == "ktuberling"]
    assert rows and all(row["source"] == "ktuberling-data" for row in rows)
    assert all(row["tempo"] == "1.0" for row in rows)  # recordings have no tempo control
    words = ktuberling_words()
    assert all(set(row["text"].split("|")) <= set(words[row["voice"]]) for row in rows)


def table(path: Path) -> list[dict]:
    with open(path) as handle:
        return list(csv.DictReader(handle))


def mixture_utterances(folder: Path, split: str) -> list[str]:
    return [u for row in table(folder / "metadata" / f"mixture_{split}_mix_clean.csv") for u in row["mixture_ID"].split("_")]


def test_metadata_names_the_family_voice_and_source_of_every_utterance(corpus):
    utterances = {row["utterance_ID"]: row for row in table(corpus / "metadata" / "utterances.csv")}
    speakers = {row["speaker_ID"]: row for row in table(corpus / "metadata" / "speakers.csv")}
    used = {u for split in SPLITS for u in mixture_utterances(corpus, split)}
    assert used <= set(utterances)
    for row in utterances.values():
        assert row["family"] in FAMILIES and row["voice"] and row["source"]
        speaker = speakers[row["speaker_ID"]]
        assert (speaker["family"], speaker["voice"]) == (row["family"], row["voice"])
        assert row["utterance_ID"].split("-")[0] == row["speaker_ID"]
    assert {row["family"] for row in utterances.values()} == set(DEFAULT_FAMILIES)
    # The recorded prompts are the files of their own Debian package, nothing else.
    prompts = [row for row in utterances.values() if row["family"] == HOLDOUT]
    assert all(row["source"].startswith("asterisk-prompt-") for row in prompts)
    assert all("core-sounds" not in row["text"] for row in prompts)


def test_splits_are_disjoint_by_speaker_and_person(corpus):
    speakers = {row["speaker_ID"]: row for row in table(corpus / "metadata" / "speakers.csv")}
    persons: dict[str, set[str]] = {}
    for split in SPLITS:
        for utterance in mixture_utterances(corpus, split):
            row = speakers[utterance.split("-")[0]]
            assert row["split"] == split
            persons.setdefault(row["person"], set()).add(split)
    assert all(len(owners) == 1 for owners in persons.values()), persons


def test_holdout_family_is_absent_from_train_and_dev_and_alone_in_its_split(corpus):
    families = {row["utterance_ID"]: row["family"] for row in table(corpus / "metadata" / "utterances.csv")}
    for split in ("train-100", "dev", "test"):
        found = {families[u] for u in mixture_utterances(corpus, split)}
        assert HOLDOUT not in found and found
    assert {families[u] for u in mixture_utterances(corpus, f"test-{HOLDOUT}")} == {HOLDOUT}
    info = table(corpus / "metadata" / f"mixture_info_test-{HOLDOUT}.csv")
    assert all(set(row["families"].split("+")) == {HOLDOUT} for row in info)


def autocorrelation_pitch(signal: np.ndarray, rate: int, low: float = 60.0, high: float = 400.0) -> float:
    """Median pitch (Hz) of 40 ms frames, from each frame's autocorrelation peak in [low, high] Hz."""
    frame = int(0.04 * rate)
    lags = np.arange(int(rate / high), int(rate / low) + 1)
    pitches = []
    loud = np.sqrt(np.mean(signal**2))
    for start in range(0, len(signal) - frame, frame):
        piece = signal[start : start + frame] - signal[start : start + frame].mean()
        if np.sqrt(np.mean(piece**2)) < 0.5 * loud:
            continue  # unvoiced or silent
        full = np.correlate(piece, piece, mode="full")[frame - 1 :]
        if full[0] <= 0:
            continue
        lag = lags[np.argmax(full[lags])]
        if full[lag] > 0.5 * full[0]:
            # Parabolic interpolation between the neighbouring lags for sub-sample precision.
            a, b, c = full[lag - 1], full[lag], full[lag + 1]
            shift = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
            pitches.append(rate / (lag + shift))
    assert pitches, "no voiced frame"
    return float(np.median(pitches))


@pytest.mark.parametrize("factor", [0.88, 1.13])
def test_speaker_perturbation_scales_pitch_by_its_factor(factor):
    time = np.arange(RATE) / RATE
    voiced = sum(np.sin(2 * np.pi * 140 * k * time) / k for k in range(1, 8))  # a 140 Hz buzz
    measured = autocorrelation_pitch(warp(voiced, factor), RATE) / autocorrelation_pitch(voiced, RATE)
    assert measured == pytest.approx(factor, rel=0.01)
    assert len(warp(voiced, factor)) == pytest.approx(RATE / factor, abs=2)


def test_speaker_perturbation_scales_a_synthetic_voice_pitch():
    voice = SourceVoice("flite", "kal", "kal", "flite")
    (speech, rate), = synthesize(voice, "", [Request("a long and quiet evening on the river")])
    speech = np.asarray(speech, dtype=np.float64)
    ratio = autocorrelation_pitch(warp(speech, 1.13), rate) / autocorrelation_pitch(speech, rate)
    assert ratio == pytest.approx(1.13, rel=0.03)


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference**2) / np.sum((estimate - reference) ** 2)))


@pytest.mark.parametrize("rate", [8000, 16000])
def test_codecs_keep_length_and_level_and_add_their_coding_error(rate):
    time = np.arange(rate) / rate
    voiced = 0.05 * sum(np.sin(2 * np.pi * 140 * k * time) / k for k in range(1, 20)) * (1 + np.sin(2 * np.pi * 3 * time))
    speech = np.convolve(voiced, np.ones(3) / 3, mode="same")  # softened: at 16 kHz little is left above 4 kHz
    for name in CODECS:
        coded = codec(speech, rate, name)
        assert coded.shape == speech.shape
        assert np.sqrt(np.mean(coded**2)) == pytest.approx(np.sqrt(np.mean(speech**2)), rel=0.15)
        quality = snr_db(speech, coded)
        # Companding keeps ~8 bits (about 35 dB); GSM 06.10 is a vocoder, far coarser, yet plainly the same signal.
        assert (15 < quality < 50) if name != "gsm" else (5 < quality < 25), (name, quality)
    with pytest.raises(UserError, match="codec must be one of gsm, alaw, ulaw, got 'mp3'"):
        codec(speech, rate, "mp3")


def test_codec_channel_codes_training_families_and_leaves_the_heldout_recordings_alone(tmp_path):
    options = {**SMALL, "families": ("flite", "prompts"), "holdout_family": HOLDOUT}
    generate_speech_corpus(tmp_path / "plain", seed=0, **options)
    generate_speech_corpus(tmp_path / "coded", seed=0, codec=1.0, **options)
    plain, coded = (tmp_path / name / "Libri2Mix" / "wav8k" / "min" for name in ("plain", "coded"))
    rows = table(coded / "metadata" / "utterances.csv")
    for row in rows:
        held_out = row["split"] == f"test-{HOLDOUT}"
        assert (row["channel"].split("+")[-1] in CODECS) != held_out, row
    # The held-out split is byte for byte the corpus without codecs; a coded split is not.
    for split, same in ((f"test-{HOLDOUT}", True), ("train-100", False)):
        names = sorted(path.name for path in (plain / split / "s1").iterdir())
        equal = [np.array_equal(sf.read(plain / split / "s1" / n)[0], sf.read(coded / split / "s1" / n)[0]) for n in names]
        assert all(equal) if same else not any(equal), split
    assert not any("+" in row["channel"] for row in table(plain / "metadata" / "utterances.csv"))
    with pytest.raises(UserError, match="codec and reverb must be in"):
        generate_speech_corpus(tmp_path / "bad", seed=0, codec=1.5, **options)


def test_reverberant_mixtures_keep_dry_targets():
    rng = np.random.default_rng(0)
    dry = [rng.standard_normal(4000) * 0.05, rng.standard_normal(4000) * 0.05]
    responses, rt60 = room_impulse_responses(rng, 2, RATE)
    assert 0.2 <= rt60 <= 0.6 and all(r[0] == 1.0 and len(r) > 100 for r in responses)
    wet = [reverberate(s, h) for s, h in zip(dry, responses)]
    signals = mode_signals(dry, None, 4000, False, wet)
    for k in range(2):
        # Targets are the dry sources (one common scale, on the 16-bit grid), not the room's version.
        target = signals[f"s{k + 1}"]
        assert np.corrcoef(target, dry[k])[0, 1] > 0.9999
        assert np.corrcoef(target, wet[k])[0, 1] < 0.99
    assert np.corrcoef(signals["mix_clean"], wet[0] + wet[1])[0, 1] > 0.9999


def test_corpus_reverb_keeps_dry_sums_exact_and_wet_ones_not(corpus):
    rooms = {row["mixture_ID"]: float(row["rt60"]) for row in table(corpus / "metadata" / "mixture_info_test.csv")}
    assert any(rooms.values()) and not all(rooms.values())
    for mixture_id, rt60 in rooms.items():
        mix = read_wav(corpus / "test" / "mix_clean" / f"{mixture_id}.wav", RATE)
        parts = sum(read_wav(corpus / "test" / f"s{k}" / f"{mixture_id}.wav", RATE) for k in (1, 2))
        assert np.array_equal(mix, parts) == (rt60 == 0), mixture_id


# ---------------------------------------------------------------------------
# User recordings (--speakers DIR)


def write_speaker(folder: Path, pitch: float, files: int = 3, rate: int = 16000) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(int(pitch))
    time = np.arange(int(1.2 * rate)) / rate
    for index in range(files):
        tone = sum(np.sin(2 * np.pi * pitch * (1 + 0.02 * index) * k * time) / k for k in range(1, 6))
        signal = 0.1 * tone * (1 + np.sin(2 * np.pi * 3 * time)) + 0.001 * rng.standard_normal(len(time))
        sf.write(folder / f"take{index}.wav", np.pad(signal, (rate // 4, rate // 4)), rate)


def test_speaker_folders_make_a_speaker_disjoint_corpus(tmp_path):
    recordings = tmp_path / "lab"
    for name, pitch in [("ana", 210), ("ben", 110), ("cleo", 180), ("dev", 95)]:
        write_speaker(recordings / name, pitch)
    out = tmp_path / "corpus"
    code = main(["data", "speech", str(out), "--speakers", str(recordings), "--n-src", "2", "--n-train", "6",
                 "--n-valid", "2", "--n-test", "2", "--threads", "1"])
    assert code == 0
    folder = out / "Libri2Mix" / "wav8k" / "min"
    speakers = table(folder / "metadata" / "speakers.csv")
    assert {row["family"] for row in speakers} == {"folder"}
    owners: dict[str, set[str]] = {}
    for row in speakers:
        owners.setdefault(row["voice"], set()).add(row["split"])
    assert all(len(s) == 1 for s in owners.values()) and set().union(*owners.values()) == set(SPLITS[:3])
    utterances = table(folder / "metadata" / "utterances.csv")
    assert all(Path(row["text"]).parent.name == row["voice"] for row in utterances)
    # Trimmed: 1.2 s of sound inside 1.7 s of file.
    assert all(float(row["seconds"]) < 1.4 for row in utterances if float(row["warp"]) == 1.0)


@pytest.mark.parametrize("case", ["no_subfolders", "one_speaker", "unreadable"])
def test_bad_speaker_folders_give_one_line_naming_them(tmp_path, capsys, case):
    recordings = tmp_path / "lab"
    recordings.mkdir()
    (recordings / "notes.txt").write_text("no speakers here")
    named = recordings
    if case != "no_subfolders":
        write_speaker(recordings / "ana", 200)
    if case == "unreadable":
        write_speaker(recordings / "ben", 120)
        named = recordings / "ben" / "broken.wav"
        named.write_bytes(b"RIFF not really a wav")
    code = main(["data", "speech", str(tmp_path / "out"), "--speakers", str(recordings)])
    error = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in error and str(named) in error, error
    assert not (tmp_path / "out").exists()
