"""Speech separation test-set evaluation: SI-SNR, SI-SNRi, SDR and SDRi per utterance.

Every utterance goes through the chunked path of `separation separate`
(`separation.inference`): one shorter than a chunk is separated whole, a long
recording in flat memory. Metrics per utterance, each the mean over its speakers:

- SI-SNR (dB): `separation.losses.si_snr` (zero-mean, scale-invariant), with the
  estimates assigned to references by the permutation that maximises it (PIT).
- SDR (dB): BSS-eval-style SDR (`bss_eval_sources` v3 definition: the estimate
  projected on its reference through a 512-tap distortion filter), computed with
  `fast_bss_eval` on the *same* assignment, so every metric of a speaker scores
  the same estimate.
- SI-SNRi / SDRi: the gain over the unprocessed mixture used as every estimate,
  whose scores are also written (`mixture_si_snr`, `mixture_sdr`).

Writes `metrics.csv` (one row per utterance), `summary.json` (mean, median,
standard deviation, extremes and count per metric, with the data and
separation settings) and a few example separations under `examples/`. When the
corpus's csv names each mixture's speakers and their relative level (`separation
data realmix`), `summary.json` also holds the statistics per speaker pair and per
relative-level band, and `summary.csv` their means (`speech_groups`).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from separation.atomic import write_json_atomic, write_text_atomic
from separation.data.audio import write_wav
from separation.errors import UserError
from separation.evaluation.speech_groups import grouped_stats, librimix_metadata, mixture_groups, summary_csv
from separation.inference.checkpoint import LoadedModel, load_checkpoint
from separation.inference.separate import Separator, build_separator
from separation.losses import find_best_permutation, pairwise_si_snr, reorder_sources, si_snr

METRICS = ("si_snr", "si_snri", "sdr", "sdri", "mixture_si_snr", "mixture_sdr")
SDR_FILTER_LENGTH = 512  # bss_eval's default distortion filter
METHODS = {
    "si_snr": "zero-mean scale-invariant SNR, estimates assigned to references by the permutation maximising it (PIT)",
    "sdr": f"BSS-eval v3 SDR (fast_bss_eval, {SDR_FILTER_LENGTH}-tap distortion filter) under the SI-SNR assignment",
    "improvement": "metric of the estimates minus that of the mixture used as every estimate; means over speakers",
}


def _bss_sdr(estimates: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """BSS-eval SDR of estimate j against reference j: `(sources, time)` pairs -> `(sources,)` dB."""
    import fast_bss_eval

    return -fast_bss_eval.sdr_loss(estimates.double(), references.double(), filter_length=SDR_FILTER_LENGTH)


def utterance_metrics(estimates: torch.Tensor, references: torch.Tensor, mixture: torch.Tensor) -> tuple[dict[str, float], torch.Tensor]:
    """Scores of one utterance, means over speakers, and the estimates in reference order.

    Args:
        estimates, references: `(sources, time)`; estimates in any order.
        mixture: `(time,)`.

    Returns:
        `({metric: dB for metric in METRICS}, aligned estimates (sources, time))`.
    """
    estimates, references = estimates.float(), references.float()
    _, permutation = find_best_permutation(-pairwise_si_snr(estimates[None], references[None]))
    aligned = reorder_sources(estimates[None], permutation)[0]
    as_estimates = mixture.float().expand_as(references)
    values = {
        "si_snr": float(si_snr(aligned[None], references[None]).mean()),
        "mixture_si_snr": float(si_snr(as_estimates[None], references[None]).mean()),
        "sdr": float(_bss_sdr(aligned, references).mean()),
        "mixture_sdr": float(_bss_sdr(as_estimates, references).mean()),
    }
    values["si_snri"] = values["si_snr"] - values["mixture_si_snr"]
    values["sdri"] = values["sdr"] - values["mixture_sdr"]
    return {name: values[name] for name in METRICS}, aligned


def aggregate(rows: list[dict], metrics: Sequence[str] = METRICS) -> dict[str, dict[str, float | int | None]]:
    """Per metric: mean, median, std, min and max over the finite values, their count and the non-finite count."""
    result = {}
    for name in metrics:
        values = np.array([row[name] for row in rows], dtype=float)
        finite = values[np.isfinite(values)]
        stats = {"mean": np.mean, "median": np.median, "std": np.std, "min": np.min, "max": np.max}
        result[name] = {key: float(f(finite)) if finite.size else None for key, f in stats.items()}
        result[name].update(count=int(finite.size), nonfinite=int(values.size - finite.size))
    return result


def _csv_text(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["id", "seconds", *METRICS], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
    return buffer.getvalue()


def evaluate_speech(
    separator: Separator,
    dataset,
    out_dir: str | Path,
    examples: int = 3,
    details: dict | None = None,
    log: Callable[[str], None] | None = print,
    groups: Mapping[str, Mapping[str, str]] | None = None,
) -> dict:
    """Separate and score every utterance of `dataset`; write the results to `out_dir`.

    Args:
        separator: see `separation.inference.separate.Separator` (mono, speech).
        dataset: items `{"mixture": (time,), "sources": (n_src, time), "id": str}`
            at `separator.sample_rate` (a whole-file `SpeechMixtureDataset`).
        out_dir: receives `metrics.csv`, `summary.json` (both replaced atomically)
            and `examples/<id>/{mixture,estimate_sK,reference_sK}.wav` for the first `examples` items.
        details: extra entries for `summary.json` (checkpoint, data settings).
        groups: `{id: {"speaker_pair": ..., "relative_level": ...}}` (`speech_groups.mixture_groups`):
            adds `by_speaker_pair` and `by_relative_level` to `summary.json` and writes `summary.csv`.

    Returns:
        The content of `summary.json`.
    """
    out_dir = Path(out_dir)
    rows = []
    kept = []  # examples, written once every item has been read and scored: bad input leaves nothing behind
    rate = separator.sample_rate
    started = time.perf_counter()
    audio_seconds = 0.0
    for index in range(len(dataset)):
        item = dataset[index]
        mixture, references = item["mixture"], item["sources"]
        if references.shape[0] != len(separator.sources):
            raise ValueError(f"item {item['id']} has {references.shape[0]} sources, the model separates {len(separator.sources)}")
        estimates = torch.from_numpy(separator.separate(mixture[None]))[:, 0]
        values, aligned = utterance_metrics(estimates, references, mixture)
        seconds = mixture.shape[-1] / rate
        audio_seconds += seconds
        rows.append({"id": item["id"], "seconds": round(seconds, 3), **values})
        if index < examples:
            kept.append((item["id"], mixture, aligned, references))
        if log is not None:
            log(f"[{index + 1}/{len(dataset)}] {item['id']}: SI-SNRi {values['si_snri']:.2f} dB, SDRi {values['sdri']:.2f} dB")
    elapsed = time.perf_counter() - started
    summary = {
        **(details or {}),
        "items": len(rows),
        "audio_seconds": round(audio_seconds, 2),
        "wall_seconds": round(elapsed, 2),
        "real_time_factor": round(elapsed / audio_seconds, 4) if audio_seconds else None,
        "separation": {
            "sample_rate": rate,
            "chunk_seconds": separator.chunk_seconds,
            "overlap": separator.overlap,
            "batch_size": separator.batch_size,
            "rematch": separator.rematch,
            "device": separator.device,
        },
        "methods": METHODS,
        "metrics": aggregate(rows),
    }
    if groups is not None:
        summary.update(grouped_stats(rows, groups, aggregate))
    for item_id, mixture, aligned, references in kept:
        folder = out_dir / "examples" / item_id
        write_wav(folder / "mixture.wav", mixture.numpy(), rate)
        for name, estimate, reference in zip(separator.sources, aligned, references):
            write_wav(folder / f"estimate_{name}.wav", estimate.numpy(), rate)
            write_wav(folder / f"reference_{name}.wav", reference.numpy(), rate)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / "metrics.csv", _csv_text(rows))
    if groups is not None:
        overall = {"count": len(rows), **summary["metrics"]}
        write_text_atomic(out_dir / "summary.csv", summary_csv(overall, summary, METRICS))
    else:
        (out_dir / "summary.csv").unlink(missing_ok=True)  # a grouped evaluation's, stale beside these scores
    write_json_atomic(out_dir / "summary.json", summary)
    return summary


def evaluate_speech_checkpoint(
    checkpoint: str | Path | LoadedModel,
    data_root: str | Path | None = None,
    split: str | None = None,
    out_dir: str | Path | None = None,
    max_items: int | None = None,
    examples: int = 3,
    device: str | None = None,
    chunk_seconds: float | None = None,
    overlap: float | None = None,
    batch_size: int | None = None,
    log: Callable[[str], None] | None = print,
) -> tuple[dict, Path]:
    """`evaluate_speech` on a split named by the checkpoint's stored data config.

    `checkpoint` is a path or an already loaded checkpoint (`load_checkpoint`).

    The layout, speaker count, rate and LibriMix mode/mixture come from the
    checkpoint's `config["data"]`; `data_root` replaces its root, `split`
    defaults to its test split (the layout's usual name when unset), `out_dir`
    to `<checkpoint folder>/eval_<split>`. Returns `(summary, out_dir)`.
    """
    from separation.data.speech_datasets import SpeechMixtureDataset, default_splits, find_speech_split

    loaded = checkpoint if isinstance(checkpoint, LoadedModel) else load_checkpoint(checkpoint)
    if loaded.task != "speech":
        raise UserError(f"{loaded.path}: a '{loaded.task}' checkpoint; speech evaluation needs task 'speech'")
    data = loaded.config["data"]
    root = Path(data_root if data_root is not None else data["root"])
    split = split or data.get("test_split") or default_splits(data["layout"])[2]
    items = find_speech_split(
        root, data["layout"], split, data["n_src"], data["sample_rate"], data["librimix_mode"], data["librimix_mixture"]
    )
    if max_items is not None:
        items = items[:max_items]
    separator = build_separator(loaded, device, chunk_seconds, overlap, batch_size)
    out_dir = Path(out_dir) if out_dir is not None else loaded.path.parent / f"eval_{split}"
    details = {
        "task": "speech",
        "checkpoint": str(loaded.path),
        "model": {"name": loaded.name, "args": loaded.args},
        "data": {"root": str(root), "layout": data["layout"], "split": split, "n_src": data["n_src"]},
    }
    dataset = SpeechMixtureDataset(items, data["sample_rate"])
    groups = None
    if data["layout"] == "librimix":
        groups = mixture_groups(librimix_metadata(items[0].mixture, split, data["librimix_mixture"]))
    return evaluate_speech(separator, dataset, out_dir, examples, details, log, groups), out_dir


def evaluate_from_cli(loaded: LoadedModel, args) -> str:
    """`separation evaluate` on a speech checkpoint; returns the line it prints."""
    summary, out_dir = evaluate_speech_checkpoint(
        loaded, args.data, args.split, args.output, args.max_items, args.examples,
        args.device, args.chunk_seconds, args.overlap, args.batch_size,
    )
    means = {name: summary["metrics"][name]["mean"] for name in ("si_snr", "si_snri", "sdr", "sdri")}
    shown = ", ".join(f"{name} {'n/a' if mean is None else f'{mean:.2f}'}" for name, mean in means.items())
    return f"{summary['items']} utterances of {summary['data']['split']}, means in dB: {shown} ({out_dir})"
