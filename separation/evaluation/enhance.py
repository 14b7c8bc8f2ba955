"""Scoring an enhancer on a list of items: the loop shared by baselines and trained models.

An enhancer is `enhance(noisy, sample_rate) -> estimate`, float `(time,)` in
and out, same length. `model_enhancer` turns a trained model (noisy
`(batch, time)` -> `(batch, sources, time)`, speech first) into one.
`evaluate_items` enhances and scores every item (`enhance_metrics.item_metrics`)
and writes `metrics.csv` (one row per item), `summary.json` (statistics over
all items, per input-SNR bucket and per noise kind) and `summary.csv` (the
means of those groups), each replaced atomically.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from separation.atomic import write_json_atomic, write_text_atomic
from separation.data.audio import audio_info, read_wav
from separation.data.enhance_datasets import EnhanceItem
from separation.data.noisy_format import CORPUS_FILE
from separation.data.signal import resample as resample_signal  # `resample` is a flag here
from separation.errors import UserError
from separation.evaluation.enhance_metrics import (
    item_metrics, metric_names, metrics_csv, pesq_mode, summarize, summary_csv,
)


def model_enhancer(model: torch.nn.Module, device: str | torch.device = "cpu") -> Callable[[np.ndarray, int], np.ndarray]:
    """An enhancer running `model` on a whole utterance in eval mode and keeping source 0 (speech).

    Whole-utterance calls suit test utterances of seconds; long recordings
    belong to the chunked path of `separation separate`.
    """
    model = model.to(device).eval()

    def enhance(noisy: np.ndarray, sample_rate: int) -> np.ndarray:
        with torch.no_grad():
            batch = torch.as_tensor(np.asarray(noisy, dtype=np.float32), device=device)[None]
            return model(batch)[0, 0].float().cpu().numpy()

    return enhance


def _read(path: Path, sample_rate: int, resample: bool) -> np.ndarray:
    if not resample:
        return read_wav(path, sample_rate, 1).astype(np.float64)
    rate = audio_info(path).samplerate
    signal = read_wav(path, rate, 1).astype(np.float64)
    return resample_signal(signal, rate, sample_rate)


def evaluate_items(
    enhance: Callable[[np.ndarray, int], np.ndarray],
    items: Sequence[EnhanceItem],
    sample_rate: int,
    out_dir: str | Path,
    details: dict | None = None,
    mos: bool = False,
    resample: bool = False,
    log: Callable[[str], None] | None = print,
) -> dict:
    """Enhance and score every item; write `metrics.csv`, `summary.json`, `summary.csv` under `out_dir`.

    `enhance` maps noisy `(time,)` at `sample_rate` to an estimate of the same
    length (a baseline, or a model wrapped by the caller). Files are read at
    `sample_rate` (resampled when `resample`). Returns the content of `summary.json`.
    """
    if not items:
        raise UserError("no items to evaluate")
    metrics = metric_names(mos)
    rows = []
    started = time.perf_counter()
    audio_seconds = enhance_seconds = 0.0
    for index, item in enumerate(items):
        noisy = _read(item.noisy, sample_rate, resample)
        clean = _read(item.clean, sample_rate, resample)
        tick = time.perf_counter()
        estimate = np.asarray(enhance(noisy.astype(np.float32), sample_rate), dtype=np.float64)
        enhance_seconds += time.perf_counter() - tick
        if estimate.shape != noisy.shape:
            raise ValueError(f"enhancer returned shape {estimate.shape} for item {item.id} of shape {noisy.shape}")
        values = item_metrics(estimate, clean, noisy, sample_rate, mos)
        seconds = len(noisy) / sample_rate
        audio_seconds += seconds
        rows.append({"id": item.id, "noise_kind": item.noise_kind, "snr_db": item.snr_db, "seconds": seconds, **values})
        if log is not None:
            log(f"[{index + 1}/{len(items)}] {item.id}: SI-SNRi {values['si_snri']:.2f} dB, "
                f"STOI {values['stoi']:.3f}, PESQ {values['pesq']:.2f}")
    elapsed = time.perf_counter() - started
    summary = {
        **(details or {}),
        "items": len(rows),
        "sample_rate": sample_rate,
        "pesq_mode": pesq_mode(sample_rate),
        "audio_seconds": round(audio_seconds, 2),
        "wall_seconds": round(elapsed, 2),  # reading, enhancing and scoring
        "enhance_seconds": round(enhance_seconds, 3),
        # Enhancement alone, per second of audio.
        "real_time_factor": round(enhance_seconds / audio_seconds, 4) if audio_seconds else None,
        "metrics": summarize(rows, metrics),
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / "metrics.csv", metrics_csv(rows, metrics))
    write_text_atomic(out_dir / "summary.csv", summary_csv(summary["metrics"], metrics))
    write_json_atomic(out_dir / "summary.json", summary)
    return summary


def corpus_sample_rate(data_root: str | Path) -> int:
    """The sample rate recorded in a generated noisy corpus's `corpus.json`."""
    path = Path(data_root) / CORPUS_FILE
    if not path.is_file():
        raise UserError(f"{path}: no such file (not a generated noisy corpus; see `separation data noisy`)")
    try:
        return int(json.loads(path.read_text())["sample_rate"])
    except (ValueError, KeyError, TypeError) as error:
        raise UserError(f"{path}: unreadable corpus description ({error})") from None
