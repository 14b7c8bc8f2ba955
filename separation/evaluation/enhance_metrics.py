"""Speech enhancement metrics per utterance and their summaries by input SNR and noise kind.

Per item (estimate, clean reference and noisy input, all `(time,)` at one rate):

- `si_snr` (dB): zero-mean scale-invariant SNR (`separation.losses.si_snr`);
  `input_si_snr` is that of the noisy input, `si_snri` the difference.
- `sdr` (dB): BSS-eval v3 SDR (`fast_bss_eval`, 512-tap distortion filter, as
  the speech evaluation); `input_sdr` and `sdri` likewise.
- `stoi`: short-time objective intelligibility (`pystoi`, classic, 0-1).
- `pesq`: PESQ (`pesq`, ITU-T P.862.2 wide-band at 16 kHz, P.862 narrow-band
  at 8 kHz, other rates resampled to 16 kHz for wide-band); NaN when PESQ finds
  no utterance. Licence: the `pesq` wrapper is MIT, but it compiles the
  ITU-T P.862 reference C code, whose notice (in the package's `dsp.c`; owners
  Psytechnics (ex BT) and OPTICOM (ex KPN)) permits use only to understand or
  evaluate the algorithm, with no external commercial use of the results.
- `dnsmos_ovrl`, `dnsmos_sig`, `dnsmos_bak` (1-5, optional, `mos=True`):
  non-intrusive DNSMOS P.835 of the estimate through `speechmos`, whose wheel
  ships the ONNX models (no download); 16 kHz only (other rates resampled).
  It costs seconds per item on a CPU, hence off by default.

`summarize` groups rows by input-SNR bucket (0-10, 10-20, 20-30, 30-40 dB,
plus `<0` / `>=40` when present) and by noise kind.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from separation.data.signal import resample
from separation.evaluation.speech import aggregate
from separation.evaluation.speech_groups import group_means_csv
from separation.losses.si_snr import si_snr

SDR_FILTER_LENGTH = 512
SNR_BUCKETS = ((0.0, 10.0), (10.0, 20.0), (20.0, 30.0), (30.0, 40.0))
BASE_METRICS = ("si_snr", "input_si_snr", "si_snri", "sdr", "input_sdr", "sdri", "stoi", "pesq")
MOS_METRICS = ("dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak")


def _si_snr(estimate: np.ndarray, reference: np.ndarray) -> float:
    return float(si_snr(torch.from_numpy(estimate[None, None]).double(), torch.from_numpy(reference[None, None]).double()))


def sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """BSS-eval v3 SDR (dB) of one `(time,)` estimate, float64 (the training system logs the same number)."""
    import fast_bss_eval

    filter_length = min(SDR_FILTER_LENGTH, len(reference))
    value = -fast_bss_eval.sdr_loss(torch.from_numpy(estimate[None]).double(), torch.from_numpy(reference[None]).double(),
                                    filter_length=filter_length)
    return float(value[0])


def pesq_mode(sample_rate: int) -> str:
    """'nb' at 8 kHz, 'wb' otherwise (scored at 16 kHz)."""
    return "nb" if sample_rate == 8000 else "wb"


def pesq_score(estimate: np.ndarray, reference: np.ndarray, sample_rate: int) -> float:
    """PESQ MOS-LQO (see the module docstring for the mode); NaN when PESQ finds no utterance."""
    from pesq import PesqError, pesq

    mode = pesq_mode(sample_rate)
    rate = 8000 if mode == "nb" else 16000
    try:
        return float(pesq(rate, resample(reference, sample_rate, rate), resample(estimate, sample_rate, rate), mode))
    except PesqError:
        return math.nan


def stoi_score(estimate: np.ndarray, reference: np.ndarray, sample_rate: int) -> float:
    from pystoi import stoi

    return float(stoi(reference, estimate, sample_rate, extended=False))


_DNSMOS = None


def _dnsmos_model():
    """speechmos' DNSMOS scorer on its bundled ONNX files, with one-thread sessions.

    `speechmos.dnsmos.run` opens sessions with onnxruntime's default thread
    pool, which oversubscribes a shared CPU; the scorer itself is reused.
    """
    global _DNSMOS
    if _DNSMOS is None:
        import onnxruntime
        from speechmos import dnsmos

        folder = Path(dnsmos.__file__).parent / "dnsmos_models"
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        scorer = dnsmos.DNSMOS.__new__(dnsmos.DNSMOS)
        scorer.primary_model_path = str(folder / "sig_bak_ovr.onnx")
        scorer.onnx_sess = onnxruntime.InferenceSession(scorer.primary_model_path, options, providers=["CPUExecutionProvider"])
        scorer.p808_onnx_sess = onnxruntime.InferenceSession(str(folder / "model_v8.onnx"), options,
                                                             providers=["CPUExecutionProvider"])
        _DNSMOS = scorer
    return _DNSMOS


def dnsmos_scores(estimate: np.ndarray, sample_rate: int) -> dict[str, float]:
    """DNSMOS P.835 overall, signal and background MOS of one signal (speechmos' bundled models).

    DNSMOS scores 9 s windows; speechmos repeats a shorter signal up to 9 s.
    """
    audio = np.clip(resample(estimate, sample_rate, 16000), -1.0, 1.0).astype(np.float32)
    scores = _dnsmos_model()(audio, 16000, False)
    return {"dnsmos_ovrl": float(scores["ovrl_mos"]), "dnsmos_sig": float(scores["sig_mos"]),
            "dnsmos_bak": float(scores["bak_mos"])}


def metric_names(mos: bool) -> tuple[str, ...]:
    return BASE_METRICS + (MOS_METRICS if mos else ())


def item_metrics(
    estimate: np.ndarray, clean: np.ndarray, noisy: np.ndarray, sample_rate: int, mos: bool = False
) -> dict[str, float]:
    """Scores of one utterance: estimate, clean and noisy `(time,)` of equal length -> {metric: value}."""
    estimate, clean, noisy = (np.asarray(x, dtype=np.float64) for x in (estimate, clean, noisy))
    if not estimate.shape == clean.shape == noisy.shape or estimate.ndim != 1:
        raise ValueError(f"item_metrics expects three (time,) signals of one length, got "
                         f"{estimate.shape}, {clean.shape}, {noisy.shape}")
    values = {
        "si_snr": _si_snr(estimate, clean),
        "input_si_snr": _si_snr(noisy, clean),
        "sdr": sdr(estimate, clean),
        "input_sdr": sdr(noisy, clean),
        "stoi": stoi_score(estimate, clean, sample_rate),
        "pesq": pesq_score(estimate, clean, sample_rate),
    }
    values["si_snri"] = values["si_snr"] - values["input_si_snr"]
    values["sdri"] = values["sdr"] - values["input_sdr"]
    if mos:
        values.update(dnsmos_scores(estimate, sample_rate))
    return {name: values[name] for name in metric_names(mos)}


def snr_bucket(snr_db: float) -> str:
    """'0-10', '10-20', '20-30', '30-40' (upper edge exclusive, 40 itself in '30-40'), '<0', '>=40' or 'unknown'."""
    if not math.isfinite(snr_db):
        return "unknown"
    for low, high in SNR_BUCKETS:
        if low <= snr_db < high or (high == SNR_BUCKETS[-1][1] and snr_db == high):
            return f"{low:g}-{high:g}"
    return "<0" if snr_db < SNR_BUCKETS[0][0] else f">={SNR_BUCKETS[-1][1]:g}"


def _stats(rows: list[dict], metrics: Sequence[str]) -> dict:
    return {"count": len(rows), **aggregate(rows, metrics)}


def summarize(rows: list[dict], metrics: Sequence[str]) -> dict:
    """`{"all": stats, "by_snr": {bucket: stats}, "by_kind": {kind: stats}}`, stats per metric.

    Rows need `snr_db` (input SNR, NaN when unknown) and `noise_kind` ('' when unknown).
    """
    by_snr: dict[str, list[dict]] = {}
    by_kind: dict[str, list[dict]] = {}
    for row in rows:
        by_snr.setdefault(snr_bucket(float(row["snr_db"])), []).append(row)
        by_kind.setdefault(row["noise_kind"] or "unknown", []).append(row)

    def bucket_key(name: str) -> tuple:
        order = ["<0"] + [f"{lo:g}-{hi:g}" for lo, hi in SNR_BUCKETS] + [f">={SNR_BUCKETS[-1][1]:g}", "unknown"]
        return (order.index(name),)

    return {
        "all": _stats(rows, metrics),
        "by_snr": {key: _stats(by_snr[key], metrics) for key in sorted(by_snr, key=bucket_key)},
        "by_kind": {key: _stats(by_kind[key], metrics) for key in sorted(by_kind)},
    }


def summary_csv(summary: dict, metrics: Sequence[str]) -> str:
    """One row per group (`all`, each SNR bucket, each noise kind): count and the mean of every metric."""
    groups = [("all", "all", summary["all"])]
    groups += [("snr", key, stats) for key, stats in summary["by_snr"].items()]
    groups += [("kind", key, stats) for key, stats in summary["by_kind"].items()]
    return group_means_csv(groups, metrics)


def metrics_csv(rows: list[dict], metrics: Sequence[str]) -> str:
    buffer = io.StringIO()
    fields = ["id", "noise_kind", "snr_db", "seconds", *metrics]
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
    return buffer.getvalue()
