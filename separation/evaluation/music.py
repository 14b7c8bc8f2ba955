"""Music separation metrics: a fast SDR for validation, museval's BSSEval v4 for the final numbers.

- `global_sdr`: 10 log10(|s|^2 / |s - s_hat|^2) over a whole excerpt (the
  "new SDR" of the Music Demixing Challenge 2021), in torch on the training
  device. It needs no projection or framing, so it is fast enough for every
  validation; it is *not* comparable to BSSEval numbers.
- `evaluate_music`: separates whole tracks with a trained model and scores
  them as SiSEC 2018 did (museval, BSSEval v4, 1 s frames): the median over
  frames per track and stem, then the median over tracks, written as CSV
  (one row per track, stem and metric) and JSON (aggregates and per-track scores).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from separation.atomic import write_json_atomic, write_text_atomic

METRICS = ("SDR", "SIR", "ISR", "SAR")


def global_sdr(estimates: torch.Tensor, references: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """SDR in dB over the last two dims: `(..., channels, time)` pairs -> `(...)`.

    `eps` in numerator and denominator keeps silent references finite (a silent
    estimate of a silent reference scores 0 dB), as the challenge's metric does.
    """
    references, estimates = references.double(), estimates.double()
    signal = references.square().sum(dim=(-2, -1))
    error = (references - estimates).square().sum(dim=(-2, -1))
    return (10 * torch.log10((signal + eps) / (error + eps))).float()


def oracle_ratio_mask(mixture: torch.Tensor, targets: torch.Tensor, stft, exponent: float = 2.0) -> torch.Tensor:
    """The ideal soft mask `|S_i|^p / sum_j |S_j|^p` of the references, on every bin of `stft`: a reference row.

    The ceiling of any model that masks the mixture with real masks in this
    STFT (a U-Net's `separation_exponent` is its p): `(batch, channels, time)`
    mixture and `(batch, stems, channels, time)` references -> estimates of the references' shape.
    """
    spectrum = stft(mixture.float())
    power = stft(targets.float()).abs() ** exponent
    masks = power / power.sum(dim=1, keepdim=True).clamp_min(1e-20)
    return stft.inverse(masks * spectrum.unsqueeze(1), mixture.shape[-1])


def evaluation_groups(stems: Sequence[str]) -> list[list[str]]:
    """Stems scored together, as `museval.eval_mus_track` groups them.

    With vocals and accompaniment both present, accompaniment is scored against
    vocals alone (the 2-stem scenario) and the other stems together.
    """
    stems = list(stems)
    if "vocals" in stems and "accompaniment" in stems:
        rest = [s for s in stems if s != "accompaniment"]
        groups = [rest] if len(rest) > 1 else []
        return groups + [["vocals", "accompaniment"]]
    return [stems]


def bsseval_track(
    estimates: np.ndarray, references: np.ndarray, stems: Sequence[str], sample_rate: int, window_seconds: float = 1.0
) -> dict[str, dict[str, float]]:
    """museval BSSEval v4 of one track: stem -> metric -> median over frames (NaN frames skipped).

    Args:
        estimates, references: `(stems, channels, time)` in `stems` order.
    """
    import museval

    window = int(round(window_seconds * sample_rate))
    index = {stem: i for i, stem in enumerate(stems)}
    scores: dict[str, dict[str, float]] = {}
    for group in evaluation_groups(stems):
        picks = [index[s] for s in group]
        # museval wants (sources, time, channels).
        values = museval.evaluate(
            references[picks].transpose(0, 2, 1), estimates[picks].transpose(0, 2, 1), win=window, hop=window
        )
        for position, stem in enumerate(group):
            if stem in scores:
                continue  # vocals: its score from the multi-stem group, as museval keeps it
            # museval returns SDR, ISR, SIR, SAR in that order.
            frames = {name: np.asarray(m[position], dtype=float) for name, m in zip(("SDR", "ISR", "SIR", "SAR"), values)}
            scores[stem] = {name: _nanmedian(frames[name]) for name in METRICS}
    return scores


def _nanmedian(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else float("nan")


def evaluate_music(
    separate: Callable[[np.ndarray], np.ndarray],
    stems: Sequence[str],
    dataset,
    out_dir: str | Path,
    window_seconds: float = 1.0,
    log=print,
) -> dict:
    """Score a separator on every track of `dataset` and write `bsseval.csv` and `bsseval.json` in `out_dir`.

    Args:
        separate: `(channels, time)` mixture -> `(stems, channels, time)` estimates, e.g. the
            chunked `Separator.separate` of `separation.inference`, so whole tracks keep memory flat.
        stems: the separator's stems, in its output order.
        dataset: a `MusicEvalDataset` (whole tracks unless it was given an excerpt
            length) whose targets are the model's stems in the same order.
        out_dir: created if missing.

    Returns:
        The JSON content: `{"aggregate": {stem: {metric: median over tracks}},
        "tracks": {track: {stem: {metric: median over frames}}}, ...}`.
    """
    stems = list(stems)
    if list(dataset.targets) != stems:
        raise ValueError(f"dataset targets {list(dataset.targets)} differ from the model's stems {stems}")
    out_dir = Path(out_dir)
    per_track: dict[str, dict[str, dict[str, float]]] = {}
    started = time.perf_counter()
    for i in range(len(dataset)):
        item = dataset[i]
        estimates = separate(item["mixture"].numpy())
        references = item["targets"].numpy()
        per_track[item["id"]] = bsseval_track(estimates, references, stems, dataset.tracks[i].sample_rate, window_seconds)
        if log is not None:
            shown = ", ".join(f"{s} {per_track[item['id']][s]['SDR']:.2f}" for s in stems)
            log(f"[{i + 1}/{len(dataset)}] {item['id']}: SDR {shown} dB")
    aggregate = {
        stem: {m: _nanmedian(np.array([scores[stem][m] for scores in per_track.values()])) for m in METRICS}
        for stem in stems
    }
    result = {
        "method": f"museval BSSEval v4, {window_seconds:g} s frames; median over frames, then over tracks",
        "stems": stems,
        "tracks_evaluated": len(per_track),
        "seconds": round(time.perf_counter() - started, 1),
        "aggregate": aggregate,
        "tracks": per_track,
    }
    out_dir.mkdir(parents=True, exist_ok=True)  # only now: a bad track above leaves no folder behind
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    writer.writerow(["track", "stem", "metric", "score"])
    for track, scores in per_track.items():
        for stem in stems:
            for metric in METRICS:
                writer.writerow([track, stem, metric, scores[stem][metric]])
    write_text_atomic(out_dir / "bsseval.csv", rows.getvalue())
    write_json_atomic(out_dir / "bsseval.json", result)
    return result


def evaluate_checkpoint(
    checkpoint: str | Path,
    root: str | Path,
    role: str = "test",
    is_wav: bool = True,
    seconds: float | None = None,
    out_dir: str | Path | None = None,
    device: str = "cpu",
    log=print,
) -> dict:
    """museval scores of a training checkpoint on one role ("test", "valid", "train") of a corpus.

    Tracks are whole unless `seconds` asks for centred excerpts; results go to
    `out_dir` (default: `eval_<role>/` beside the checkpoint, as `separation evaluate` documents for every
    task and the study report reads).
    """
    from separation.data.music_datasets import MusicEvalDataset, find_music_tracks, target_definitions

    from separation.inference.checkpoint import load_checkpoint
    from separation.inference.separate import build_separator

    loaded = load_checkpoint(checkpoint, device)
    separator = build_separator(loaded, device)
    stems = list(separator.sources)
    tracks = find_music_tracks(root, role, is_wav, loaded.sample_rate)
    excerpt = None if seconds is None else int(round(seconds * loaded.sample_rate))
    dataset = MusicEvalDataset(tracks, target_definitions(root, stems), excerpt)
    out_dir = Path(out_dir) if out_dir is not None else Path(checkpoint).parent / f"eval_{role}"
    return evaluate_music(separator.separate, stems, dataset, out_dir, log=log)


def evaluate_from_cli(loaded, args) -> str:
    """`separation evaluate` on a music checkpoint; returns the lines it prints (one per stem)."""
    data = loaded.config["data"]
    result = evaluate_checkpoint(
        loaded.path, args.data or data["root"], args.split or "test", data.get("is_wav", True) and not args.stem_mp4,
        args.seconds, args.output, args.device or "cpu",
    )
    return "\n".join(f"{stem}: " + ", ".join(f"{m} {v:.2f}" for m, v in scores.items())
                     for stem, scores in result["aggregate"].items())
