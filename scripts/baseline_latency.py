"""Measure the output latency of the 48 kHz baselines (RNNoise, DeepFilterNet3) that
`separation/evaluation/enhance_baselines.py` removes.

For each clean utterance of a generated noisy corpus (resampled to 48 kHz), the
model's raw output is compared with its input at every lag in a window; the
lag with the highest SI-SNR is the latency. Prints one line per model and
utterance, then the lag most often best.

    .venv/bin/python scripts/baseline_latency.py data/noisy --items 5

The figures quoted in enhance_baselines.py came from `--items 6` on a corpus built as

    generate_speech_corpus("speech", seed=0, sample_rate=16000, n_src_list=(2,), n_train=40,
                           n_dev=10, n_test=20, speakers=(8, 4, 4), utterances_per_speaker=6)
    data_noisy("noisy", sample_rate=16000, speech="speech")   # seed 0, SNR 0-40 dB
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import math
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from separation.data.audio import audio_info, read_wav
from separation.data.enhance_datasets import find_noisy_split
from separation.evaluation.enhance_baselines import NATIVE_RATE, DeepFilterNet


def si_snr(estimate: np.ndarray, reference: np.ndarray) -> float:
    estimate, reference = estimate - estimate.mean(), reference - reference.mean()
    target = (estimate @ reference) / (reference @ reference) * reference
    return float(10 * np.log10((target @ target) / ((estimate - target) @ (estimate - target))))


def raw_rnnoise(signal: np.ndarray, tail: int) -> np.ndarray:
    from pyrnnoise import RNNoise

    padded = np.concatenate([signal, np.zeros(tail)])
    pcm = np.clip(np.round(padded * 32768), -32768, 32767).astype(np.int16)[None]
    return np.concatenate([f for _, f in RNNoise(NATIVE_RATE).denoise_chunk(pcm, partial=True)], axis=1)[0] / 32768


def raw_deepfilternet(signal: np.ndarray, tail: int) -> np.ndarray:
    lib, model = DeepFilterNet.library()
    state = lib.df_create(model, 100.0, None)
    hop = int(lib.df_get_frame_length(state))
    padded = np.zeros(-(-(len(signal) + tail) // hop) * hop, dtype=np.float32)
    padded[: len(signal)] = signal
    out = np.zeros_like(padded)
    pointer = ctypes.POINTER(ctypes.c_float)
    for start in range(0, len(padded), hop):
        frame, result = np.ascontiguousarray(padded[start : start + hop]), np.zeros(hop, dtype=np.float32)
        lib.df_process_frame(state, frame.ctypes.data_as(pointer), result.ctypes.data_as(pointer))
        out[start : start + hop] = result
    lib.df_free(state)
    return out.astype(np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="a generated noisy corpus (separation data noisy)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--items", type=int, default=5)
    parser.add_argument("--max-lag", type=int, default=3000)
    args = parser.parse_args()
    best = collections.defaultdict(collections.Counter)
    for item in find_noisy_split(args.corpus, args.split)[: args.items]:
        rate = audio_info(item.clean).samplerate
        common = math.gcd(rate, NATIVE_RATE)
        clean = resample_poly(read_wav(item.clean, rate, 1).astype(np.float64), NATIVE_RATE // common, rate // common)
        for name, run in (("rnnoise", raw_rnnoise), ("deepfilternet", raw_deepfilternet)):
            out = run(clean, args.max_lag + 480)
            scores = {lag: si_snr(out[lag : lag + len(clean)], clean) for lag in range(args.max_lag)}
            lag = max(scores, key=scores.get)
            best[name][lag] += 1
            print(f"{name} {item.id}: best lag {lag} samples at 48 kHz (SI-SNR {scores[lag]:.2f} dB)")
    for name, counter in best.items():
        print(f"{name}: lag most often best {counter.most_common(1)[0][0]} ({dict(counter)})")


if __name__ == "__main__":
    main()
