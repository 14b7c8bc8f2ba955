"""Speech evaluation: per-utterance metrics, their files, and a real training checkpoint end to end."""

import csv
import json

import numpy as np
import pytest
import torch

from conftest import tiny_speech_config
from separation.data.audio import write_wav
from separation.data.speech_datasets import SpeechMixtureDataset, find_speech_split
from separation.errors import UserError
from separation.evaluation.speech import METRICS, evaluate_speech, evaluate_speech_checkpoint, utterance_metrics
from separation.inference.checkpoint import load_checkpoint
from separation.inference.separate import Separator, separate_files
from separation.losses import pit_si_snr
from test_inference import RATE, band_split_oracle, two_voices


def band_corpus(root, lengths=(2.0, 3.5, 1.2)):
    """A LibriMix-layout test split of two-voice mixtures the band oracle separates."""
    split = root / "Libri2Mix" / "wav8k" / "min" / "test"
    for index, seconds in enumerate(lengths):
        voices = two_voices(seconds, seed=index).numpy()
        name = f"{index}-0-0_{index + 10}-0-0.wav"
        write_wav(split / "mix_clean" / name, voices.sum(0), RATE)
        for k in range(2):
            write_wav(split / f"s{k + 1}" / name, voices[k], RATE)
    return SpeechMixtureDataset(find_speech_split(root, "librimix", "test", 2, RATE), RATE)


def oracle_separator(run=None, **settings) -> Separator:
    fields = {"sample_rate": RATE, "channels": 1, "sources": ("s1", "s2"), "rematch": True,
              "chunk_seconds": 1.0, "overlap": 0.25, "batch_size": 2, "device": "cpu", **settings}
    return Separator(run or band_split_oracle(), **fields)


def read_rows(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


def test_writes_one_row_per_item_and_a_consistent_summary(tmp_path):
    dataset = band_corpus(tmp_path / "data")
    summary = evaluate_speech(oracle_separator(), dataset, tmp_path / "eval", examples=2, details={"note": "x"}, log=None)
    rows = read_rows(tmp_path / "eval" / "metrics.csv")
    assert [row["id"] for row in rows] == [item.id for item in dataset.items]
    for row in rows:
        values = {name: float(row[name]) for name in METRICS}
        assert values["si_snri"] == pytest.approx(values["si_snr"] - values["mixture_si_snr"], abs=2e-4)
        assert values["sdri"] == pytest.approx(values["sdr"] - values["mixture_sdr"], abs=2e-4)
        assert values["si_snri"] > 15  # a real separation: the chunked path really ran the oracle
    assert json.loads((tmp_path / "eval" / "summary.json").read_text()) == json.loads(json.dumps(summary))
    assert summary["items"] == 3 and summary["note"] == "x"
    for name in METRICS:
        column = [float(row[name]) for row in rows]
        assert summary["metrics"][name]["count"] == 3
        assert summary["metrics"][name]["mean"] == pytest.approx(np.mean(column), abs=1e-3)
        assert summary["metrics"][name]["median"] == pytest.approx(np.median(column), abs=1e-3)
    examples = sorted(p.name for p in (tmp_path / "eval" / "examples").iterdir())
    assert examples == sorted(item.id for item in dataset.items[:2])
    assert {p.name for p in (tmp_path / "eval" / "examples" / examples[0]).iterdir()} == {
        "mixture.wav", "estimate_s1.wav", "estimate_s2.wav", "reference_s1.wav", "reference_s2.wav"}


def test_metrics_ignore_the_order_of_the_estimates(tmp_path):
    dataset = band_corpus(tmp_path / "data")
    oracle = band_split_oracle()
    evaluate_speech(oracle_separator(oracle), dataset, tmp_path / "a", examples=0, log=None)
    evaluate_speech(oracle_separator(lambda chunks: oracle(chunks).flip(1)), dataset, tmp_path / "b", examples=0, log=None)
    assert read_rows(tmp_path / "a" / "metrics.csv") == read_rows(tmp_path / "b" / "metrics.csv")


def test_the_mixture_as_estimate_improves_nothing():
    voices = two_voices(2.0)
    mixture = voices.sum(0)
    values, _ = utterance_metrics(mixture.expand(2, -1), voices, mixture)
    assert values["si_snri"] == pytest.approx(0, abs=1e-4) and values["sdri"] == pytest.approx(0, abs=1e-4)


def test_bss_sdr_is_never_below_si_snr_for_zero_mean_signals():
    # SDR's distortion filter can absorb more than SI-SNR's single gain, never less.
    generator = torch.Generator().manual_seed(0)
    references = torch.randn(2, 4000, generator=generator)
    for noise in (0.1, 0.5, 2.0):
        estimates = references.flip(0) + noise * torch.randn(2, 4000, generator=generator)
        estimates = estimates - estimates.mean(-1, keepdim=True)
        values, aligned = utterance_metrics(estimates, references, references.sum(0))
        assert torch.equal(aligned, estimates.flip(0))
        assert values["sdr"] >= values["si_snr"] - 1e-3


@pytest.fixture(scope="module")
def trained_checkpoint(speech_corpus, tmp_path_factory):
    from separation.train import train

    run = tmp_path_factory.mktemp("run")
    train(tiny_speech_config(speech_corpus, run, **{"trainer.max_epochs": 1}), test=False)
    return run / "last.ckpt"


def test_a_training_checkpoint_evaluates_like_its_model_on_whole_files(trained_checkpoint, speech_corpus):
    summary, out_dir = evaluate_speech_checkpoint(trained_checkpoint, max_items=3, examples=1, device="cpu", log=None)
    assert out_dir == trained_checkpoint.parent / "eval_test"
    assert summary["data"]["split"] == "test" and summary["items"] == 3
    rows = read_rows(out_dir / "metrics.csv")
    # Test utterances are shorter than one chunk, so the chunked path equals whole-file separation.
    model = load_checkpoint(trained_checkpoint).model
    dataset = SpeechMixtureDataset(find_speech_split(speech_corpus, "librimix", "test", 2, RATE)[:3], RATE)
    for row, item in zip(rows, dataset):
        with torch.no_grad():
            loss, _ = pit_si_snr(model(item["mixture"][None]), item["sources"][None])
        assert float(row["si_snr"]) == pytest.approx(-float(loss), abs=1e-3)


def test_a_training_checkpoint_separates_files_and_refuses_other_tasks(trained_checkpoint, speech_corpus, tmp_path):
    mixture = next(iter(sorted((speech_corpus / "Libri2Mix" / "wav8k" / "min" / "test" / "mix_clean").glob("*.wav"))))
    folders = separate_files(trained_checkpoint, [mixture], tmp_path / "out", device="cpu", log=None)
    assert sorted(p.name for p in folders[0].iterdir()) == ["s1.wav", "s2.wav"]

    state = torch.load(trained_checkpoint, weights_only=True)
    state["config"]["task"] = "music"
    torch.save(state, tmp_path / "music.ckpt")
    # An SVoice cannot be a music model: refused when the checkpoint is read.
    with pytest.raises(UserError, match="cannot serve task 'music'"):
        evaluate_speech_checkpoint(tmp_path / "music.ckpt", log=None)
    import dataclasses

    from separation.inference.checkpoint import load_checkpoint

    as_music = dataclasses.replace(load_checkpoint(trained_checkpoint), task="music")
    with pytest.raises(UserError, match="speech evaluation needs task 'speech'"):
        evaluate_speech_checkpoint(as_music, log=None)
