"""Enhancement metrics, baselines and the baseline evaluation writer."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from scipy.signal import resample_poly

from separation.data.audio import read_wav
from separation.data.enhance_datasets import find_noisy_split
from separation.data.noisy_corpus import generate_noisy_corpus
from separation.errors import UserError
from separation.evaluation.enhance import evaluate_items, model_enhancer
from separation.evaluation.enhance_baselines import BASELINES, evaluate_baseline, get_baseline
from separation.models import build_model
from separation.evaluation.enhance_metrics import item_metrics, snr_bucket, summarize

RATE = 8000


@pytest.fixture(scope="module")
def noisy_root(speech_corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("enh_eval") / "noisy"
    generate_noisy_corpus(root, speech_corpus, sample_rate=RATE, snr_range=(0, 20), items=(2, 2, 4), log=None)
    return root


def _pair(root, rate):
    item = find_noisy_split(root, "test")[0]
    clean = read_wav(item.clean, RATE).astype(np.float64)
    noisy = read_wav(item.noisy, RATE).astype(np.float64)
    if rate != RATE:
        clean, noisy = (resample_poly(x, rate // RATE, 1) for x in (clean, noisy))
    return clean, noisy, item


@pytest.mark.parametrize("rate", [8000, 16000])  # PESQ narrow-band at 8 kHz, wide-band at 16 kHz
def test_clean_scores_high_against_itself_and_noisy_lower(noisy_root, rate):
    clean, noisy, item = _pair(noisy_root, rate)
    perfect = item_metrics(clean, clean, noisy, rate)
    degraded = item_metrics(noisy, clean, noisy, rate)
    assert perfect["stoi"] > 0.99 and perfect["pesq"] > 4.0 and perfect["si_snr"] > 60
    assert degraded["stoi"] < perfect["stoi"] and degraded["pesq"] < perfect["pesq"] - 0.5
    assert degraded["si_snri"] == pytest.approx(0.0, abs=1e-9)
    assert perfect["si_snri"] > 40
    if rate == RATE:
        assert degraded["input_si_snr"] == pytest.approx(item.snr_db, abs=0.2)  # zero-mean: close to the SNR


def test_snr_buckets_and_grouped_summary():
    assert [snr_bucket(v) for v in (0, 9.99, 10, 25, 40, -1, 41, math.nan)] == [
        "0-10", "0-10", "10-20", "20-30", "30-40", "<0", ">=40", "unknown"]
    rows = [{"snr_db": s, "noise_kind": k, "stoi": v} for s, k, v in ((5, "pink", 0.5), (15, "pink", 0.7), (16, "hum", 0.9))]
    summary = summarize(rows, ["stoi"])
    assert summary["all"]["stoi"]["mean"] == pytest.approx(0.7)
    assert list(summary["by_snr"]) == ["0-10", "10-20"] and summary["by_snr"]["10-20"]["stoi"]["mean"] == pytest.approx(0.8)
    assert summary["by_kind"]["pink"]["count"] == 2


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_each_baseline_returns_the_input_length_aligned(noisy_root, name):
    _, noisy, _ = _pair(noisy_root, 16000)
    clip = noisy[: 16000 // 2 + 17].astype(np.float32)
    estimate = get_baseline(name)(clip, 16000)
    assert estimate.shape == clip.shape and np.isfinite(estimate).all()
    lag = int(np.argmax(np.correlate(estimate, clip, "full"))) - (len(clip) - 1)
    assert abs(lag) <= 1, lag  # the 48 kHz models' latency is removed


def test_evaluate_baseline_writes_per_item_and_grouped_results(noisy_root, tmp_path):
    summary, out = evaluate_baseline("noisy", noisy_root, "test", tmp_path / "eval", max_items=3, log=None)
    with open(out / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3 and summary["items"] == 3 and summary["pesq_mode"] == "nb"
    assert all(abs(float(row["si_snri"])) < 1e-3 for row in rows)
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["metrics"]["all"]["count"] == 3 and on_disk["baseline"] == "noisy"
    assert set(on_disk["metrics"]["by_kind"]) == {row["noise_kind"] for row in rows}
    grouped = (out / "summary.csv").read_text().splitlines()
    assert grouped[0].startswith("group_by,group,count,si_snr") and grouped[1].startswith("all,all,3,")
    with pytest.raises(UserError, match="unknown baseline 'wiener'"):
        evaluate_baseline("wiener", noisy_root, "test", tmp_path / "x", log=None)
    assert not (tmp_path / "x").exists()


def test_dnsmos_runs_offline_on_a_short_clip(noisy_root):
    pytest.importorskip("speechmos")
    clean, noisy, _ = _pair(noisy_root, 16000)
    # 9.2 s: one DNSMOS window (a shorter clip is repeated to 16 s, 7 windows).
    clean, noisy = (np.resize(x, int(9.2 * 16000)) for x in (clean, noisy))
    values = item_metrics(noisy, clean, noisy, 16000, mos=True)
    assert all(1.0 <= values[k] <= 5.0 for k in ("dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak"))


def test_a_model_is_scored_through_the_same_loop(noisy_root, tmp_path):
    model = build_model("crced", {"filters": (4, 4, 4), "repeats": 1})
    items = find_noisy_split(noisy_root, "test")[:2]
    summary = evaluate_items(model_enhancer(model), items, RATE, tmp_path, {"model": "crced"}, log=None)
    assert summary["items"] == 2 and summary["model"] == "crced" and summary["real_time_factor"] > 0
    assert all(math.isfinite(summary["metrics"]["all"][m]["mean"]) for m in ("si_snr", "stoi", "sdr"))
    assert model.training is False


def test_a_file_at_another_rate_is_read_at_the_corpus_rate(tmp_path):
    """The VoiceBank path (`resample=True`): a 48 kHz file is read back at 16 kHz, polyphase, in float64."""
    from separation.data.audio import write_wav
    from separation.evaluation.enhance import _read

    signal = np.random.default_rng(0).uniform(-0.5, 0.5, 4800)
    write_wav(tmp_path / "a.wav", signal, 48000)
    read = _read(tmp_path / "a.wav", 16000, resample=True)
    assert read.dtype == np.float64
    assert np.allclose(read, resample_poly(signal.astype(np.float32).astype(np.float64), 1, 3), atol=1e-12)
    assert np.array_equal(_read(tmp_path / "a.wav", 48000, resample=True), signal.astype(np.float32))
