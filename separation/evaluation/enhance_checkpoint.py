"""`separation evaluate` on an enhancement checkpoint, and `separation evaluate --baseline NAME` without one.

Both score through `separation.evaluation.enhance.evaluate_items` (SI-SNR, SI-SNRi,
SDR, STOI, PESQ per item; summaries by input-SNR bucket and noise kind), so a
trained model and a fixed baseline are scored by the same code on the same items.
A checkpoint enhances through the chunked path of `separation separate`
(`build_separator`; utterances shorter than one chunk are enhanced whole) with
the inference rule of the objective it was trained with.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from separation.data.enhance_datasets import find_enhance_split
from separation.errors import UserError
from separation.evaluation.enhance import corpus_sample_rate, evaluate_items
from separation.inference.checkpoint import LoadedModel, load_checkpoint
from separation.inference.separate import build_separator


def _items(root: Path, layout: str, split: str, trainset: str | None, max_items: int | None):
    items, _ = find_enhance_split(root, layout, split, trainset)
    if max_items is not None:
        if max_items < 1:
            raise UserError(f"--max-items must be positive, got {max_items}")
        items = items[:max_items]
    return items


def evaluate_enhance_checkpoint(
    checkpoint: str | Path | LoadedModel,
    data_root: str | Path | None = None,
    split: str | None = None,
    out_dir: str | Path | None = None,
    max_items: int | None = None,
    device: str | None = None,
    chunk_seconds: float | None = None,
    overlap: float | None = None,
    batch_size: int | None = None,
    mos: bool = False,
    log: Callable[[str], None] | None = print,
) -> tuple[dict, Path]:
    """Score a checkpoint on a split named by its stored data config; returns `(summary, out_dir)`.

    The layout, rate and VoiceBank training set come from the checkpoint's
    `config["data"]`; `data_root` replaces its root, `split` defaults to
    `test`, `out_dir` to `<checkpoint folder>/eval_<split>`.
    """
    loaded = checkpoint if isinstance(checkpoint, LoadedModel) else load_checkpoint(checkpoint)
    if loaded.task != "enhance":
        raise UserError(f"{loaded.path}: a '{loaded.task}' checkpoint; enhancement evaluation needs task 'enhance'")
    data = loaded.config["data"]
    root = Path(data_root if data_root is not None else data["root"])
    split = split or "test"
    layout = data.get("layout", "noisy")
    rate = int(data["sample_rate"])
    if layout == "noisy" and corpus_sample_rate(root) != rate:
        raise UserError(f"{root}: corpus is at {corpus_sample_rate(root)} Hz, the checkpoint's model at {rate} Hz")
    items = _items(root, layout, split, data.get("trainset"), max_items)
    separator = build_separator(loaded, device, chunk_seconds, overlap, batch_size)

    def enhance(noisy: np.ndarray, sample_rate: int) -> np.ndarray:
        return separator.separate(noisy[None])[0, 0]

    out_dir = Path(out_dir) if out_dir is not None else loaded.path.parent / f"eval_{split}"
    details = {
        "task": "enhance",
        "checkpoint": str(loaded.path),
        "model": {"name": loaded.name, "args": loaded.args},
        "objective": loaded.config.get("objective") or {"name": "supervised", "args": {}},
        "data": {"root": str(root), "layout": layout, "split": split},
        "separation": {"chunk_seconds": separator.chunk_seconds, "overlap": separator.overlap,
                       "batch_size": separator.batch_size, "device": separator.device},
    }
    return evaluate_items(enhance, items, rate, out_dir, details, mos, resample=layout == "voicebank", log=log), out_dir


def summary_line(summary: dict, out_dir: Path, what: str) -> str:
    """One line of means over all items: dB metrics, STOI and PESQ."""
    stats = summary["metrics"]["all"]
    shown = []
    for name in ("si_snr", "si_snri", "sdr", "stoi", "pesq"):
        mean = stats[name]["mean"]
        shown.append(f"{name} {'n/a' if mean is None else f'{mean:.2f}' if name != 'stoi' else f'{mean:.3f}'}")
    return f"{what}: {summary['items']} utterances of {summary['data']['split']}, means: {', '.join(shown)} ({out_dir})"


def _check_mos(mos: bool) -> None:
    import importlib.util

    if mos and (importlib.util.find_spec("speechmos") is None or importlib.util.find_spec("onnxruntime") is None):
        raise UserError("--mos needs the speechmos and onnxruntime packages (pip install 'separation[mos]')")


def evaluate_from_cli(loaded: LoadedModel, args) -> str:
    """`separation evaluate CKPT` on an enhancement checkpoint; returns the line it prints."""
    _check_mos(getattr(args, "mos", False))
    summary, out_dir = evaluate_enhance_checkpoint(
        loaded, args.data, args.split, args.output, args.max_items, args.device,
        args.chunk_seconds, args.overlap, args.batch_size, mos=getattr(args, "mos", False),
    )
    return summary_line(summary, out_dir, loaded.name)


def evaluate_baseline_from_cli(args) -> str:
    """`separation evaluate --baseline NAME [--data ROOT] [--split test]`; returns the line it prints."""
    from separation.evaluation.enhance_baselines import evaluate_baseline

    _check_mos(args.mos)
    root = args.data or "data/noisy"
    if not Path(root).is_dir():
        raise UserError(f"{root}: no such data folder (generate one with `separation data noisy {root}` or pass --data)")
    summary, out_dir = evaluate_baseline(args.baseline, root, args.split or "test", args.output, args.max_items,
                                         layout=args.layout, mos=args.mos)
    return summary_line(summary, out_dir, f"baseline {args.baseline}")
