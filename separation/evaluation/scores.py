"""Reading a `separation evaluate` folder back: flat scalar scores with readable names, and what was scored.

`separation evaluate CKPT` (or `--baseline NAME`) writes its folder (default
`<checkpoint folder>/eval_<split>`); the study report and the spec's
`baselines` key read it back here, one reader per task (the task registry's
`evaluation_scores`). Only the JSON summaries are read (no torch, no audio), so
a report stays cheap:

- music: `bsseval.json` (museval BSS Eval v4, median over frames then tracks):
  `museval SDR <stem>`, `museval SDR mean` (mean over stems, as the training-time
  headline), then `museval SIR <stem>` and `museval SAR <stem>`;
- enhance: `summary.json`, the means over all items of SI-SNRi, SI-SNR, SDRi,
  SDR, STOI, PESQ (and DNSMOS when it was scored);
- speech: `summary.json`, the means over all utterances of SI-SNRi, SI-SNR, SDRi, SDR.

A reader returns None when the folder or its file is absent, and raises a
one-line `UserError` naming the file when it is there but unreadable.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from separation.errors import UserError

MUSIC_FILE = "bsseval.json"
SUMMARY_FILE = "summary.json"
# summary.json metric key -> readable name, in the order a report shows them.
ENHANCE_SCORES = (("si_snri", "SI-SNRi"), ("si_snr", "SI-SNR"), ("sdri", "SDRi"), ("sdr", "SDR"), ("stoi", "STOI"),
                  ("pesq", "PESQ"), ("dnsmos_ovrl", "DNSMOS OVRL"), ("dnsmos_sig", "DNSMOS SIG"), ("dnsmos_bak", "DNSMOS BAK"))
SPEECH_SCORES = (("si_snri", "SI-SNRi"), ("si_snr", "SI-SNR"), ("sdri", "SDRi"), ("sdr", "SDR"))
MUSIC_EXTRA = ("SIR", "SAR")  # shown per stem after the SDRs


@dataclass(frozen=True)
class Evaluation:
    """One evaluation folder: its scores and the data they were scored on (for comparability checks)."""

    scores: dict[str, float]  # readable name -> value, in display order (NaN when undefined)
    label: str = ""  # a baseline's name (`--baseline NAME`), else ""
    method: str = ""  # how the scores were computed, for a report's words
    # What was scored: root, split, items (count), sample_rate; a key is absent when the file does not say.
    data: dict[str, object] = field(default_factory=dict)


def _read(path: Path) -> dict | None:
    """The JSON object in `path`; None when absent, UserError (one line) when unreadable."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise UserError(f"{path}: unreadable evaluation file ({type(error).__name__}: {str(error).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object written by `separation evaluate`")
    return data


def _number(value, path: Path, key: str) -> float:
    if value is None:
        return math.nan  # JSON null: a statistic over no finite value
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UserError(f"{path}: '{key}' is {value!r}, expected a number") from None


def music_scores(folder: str | Path) -> Evaluation | None:
    """`bsseval.json` of a music evaluation folder -> museval scores per stem and the SDR mean over stems."""
    path = Path(folder) / MUSIC_FILE
    data = _read(path)
    if data is None:
        return None
    aggregate = data.get("aggregate")
    if not isinstance(aggregate, dict) or not aggregate or not all(isinstance(v, dict) for v in aggregate.values()):
        raise UserError(f"{path}: no 'aggregate' mapping of stem -> {{SDR, SIR, ISR, SAR}}")
    stems = list(aggregate)
    scores = {f"museval SDR {stem}": _number(aggregate[stem].get("SDR"), path, f"aggregate.{stem}.SDR") for stem in stems}
    sdrs = [v for v in scores.values() if math.isfinite(v)]
    scores["museval SDR mean"] = sum(sdrs) / len(sdrs) if len(sdrs) == len(stems) else math.nan
    for metric in MUSIC_EXTRA:
        for stem in stems:
            if metric in aggregate[stem]:
                scores[f"museval {metric} {stem}"] = _number(aggregate[stem][metric], path, f"aggregate.{stem}.{metric}")
    details = {"items": data["tracks_evaluated"]} if isinstance(data.get("tracks_evaluated"), int) else {}
    method = str(data.get("method") or "museval BSS Eval v4") + "; SDR mean: the mean of the stems' SDRs"
    return Evaluation(scores, str(data.get("baseline") or ""), method, details)


def _summary_scores(folder: str | Path, names: tuple[tuple[str, str], ...], group: str | None, method: str) -> Evaluation | None:
    path = Path(folder) / SUMMARY_FILE
    data = _read(path)
    if data is None:
        return None
    metrics = data.get("metrics")
    if isinstance(metrics, dict) and group is not None:
        metrics = metrics.get(group)
    if not isinstance(metrics, dict):
        where = f"metrics.{group}" if group else "metrics"
        raise UserError(f"{path}: no '{where}' mapping of metric -> statistics (written by `separation evaluate`)")
    scores = {}
    for key, name in names:
        stats = metrics.get(key)
        if isinstance(stats, dict):
            scores[name] = _number(stats.get("mean"), path, f"{key}.mean")
    if not scores:
        raise UserError(f"{path}: none of the metrics {', '.join(k for k, _ in names)} is in it")
    described = data.get("data") if isinstance(data.get("data"), dict) else {}
    details = {key: described[key] for key in ("root", "split") if key in described}
    for key in ("items", "sample_rate"):
        if isinstance(data.get(key), int):
            details[key] = data[key]
    return Evaluation(scores, str(data.get("baseline") or ""), method, details)


def enhance_scores(folder: str | Path) -> Evaluation | None:
    """`summary.json` of an enhancement evaluation (a checkpoint's or a baseline's) -> means over all items."""
    return _summary_scores(folder, ENHANCE_SCORES, "all", "means over every item of the split (SI-SNR, SDR in dB; "
                           "STOI 0-1; PESQ, DNSMOS 1-5; separation.evaluation.enhance_metrics)")


def speech_scores(folder: str | Path) -> Evaluation | None:
    """`summary.json` of a speech separation evaluation -> means over all utterances."""
    return _summary_scores(folder, SPEECH_SCORES, None, "means over every utterance of the split, each the mean over "
                           "its speakers under the SI-SNR permutation (dB; separation.evaluation.speech)")
