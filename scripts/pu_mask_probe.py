"""What a mask model's mask does, item by item: the bins it keeps, the energy its estimate keeps, and whose signal that is.

    .venv/bin/python scripts/pu_mask_probe.py runs/enhance_objectives_field_pu/adam-lr0.0001-none-noclip-s1-b5e23c21f8/last.ckpt --data data/noisy [--split valid] [--items 12]

Written for PU learning's checkpoints (`separation.objectives.pu`, PULSE's CNN with a hard mask), whose
validation SI-SNRi alone does not say whether the mask keeps every bin (an estimate that is the input),
almost none (a near-silent one) or the wrong ones. For the first `--items` items of a noisy corpus
split (`separation data noisy`: metadata.csv, its paths relative to the split folder), one line each:
the noise kind and SNR from the metadata; the fraction of the speech source's time-frequency bins the
mask keeps (`bin_logits > 0`, the hard mask's rule; the model must have `bin_logits`, as `pulse_cnn`
has); the estimate's energy over the noisy input's; and `wrong_source_statistics`
(separation/evaluation/collapse.py): SI-SNR of the estimate against the clean speech, and its SI-SNR
gain against the noise over the input's (positive: it moved towards the noise). The estimate is the
trained objective's inference rule (`enhancement_rule`), as `separation evaluate` computes it. A last
line gives the range over the items of the kept-bin fraction and the energy ratio.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, NamedTuple

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's package, not an installed one

from separation.data.audio import read_wav  # noqa: E402
from separation.data.noisy_format import read_metadata  # noqa: E402
from separation.errors import UserError  # noqa: E402
from separation.evaluation.collapse import wrong_source_statistics  # noqa: E402
from separation.inference.checkpoint import LoadedModel, load_checkpoint  # noqa: E402
from separation.inference.separate import enhancement_rule  # noqa: E402


class ItemProbe(NamedTuple):  # not a dataclass: tests load scripts without a sys.modules entry, which dataclasses need
    kept_bins: float  # fraction of the speech source's bins with a positive logit
    energy_ratio: float  # estimate energy / noisy input energy
    speech_db: float  # SI-SNR(estimate, clean)
    noise_gain_db: float  # SI-SNR(estimate, noise) - SI-SNR(noisy, noise)


def load_mask_model(path: str | Path) -> LoadedModel:
    """The enhancement checkpoint at `path`, refused (one line naming it) unless its model classifies bins."""
    loaded = load_checkpoint(path)
    if loaded.task != "enhance":
        raise UserError(f"{path}: a '{loaded.task}' checkpoint; expected an enhancement model's")
    if not callable(getattr(loaded.model, "bin_logits", None)):
        raise UserError(f"{path}: model '{loaded.name}' has no bin_logits, so no mask to probe; expected a mask "
                        "model such as pulse_cnn")
    return loaded


@torch.no_grad()
def probe_item(model: torch.nn.Module, enhance: Callable[[torch.Tensor], torch.Tensor], noisy: torch.Tensor,
               clean: torch.Tensor) -> ItemProbe:
    """One item's probe; `enhance`: the objective's rule, `(1, 1, time)` -> `(1, 1, time)`; `noisy`, `clean` `(time,)`."""
    noisy, clean = noisy.view(1, 1, -1), clean.view(1, 1, -1)
    kept = (model.bin_logits(noisy)[:, 0] > 0).float().mean()  # source 0 is the speech
    estimate = enhance(noisy)
    speech, gain = wrong_source_statistics(estimate, noisy, clean)
    energy = estimate.double().pow(2).sum() / noisy.double().pow(2).sum().clamp_min(1e-30)
    return ItemProbe(float(kept), float(energy), float(speech[0]), float(gain[0]))


def probe(loaded: LoadedModel, split_folder: Path, items: int) -> list[tuple[dict[str, str], ItemProbe]]:
    """(metadata row, probe) of the split's first `items` items, read at the checkpoint's sample rate."""
    enhance = enhancement_rule(loaded)
    results = []
    for row in read_metadata(split_folder)[:items]:
        noisy, clean = (torch.from_numpy(read_wav(split_folder / row[column], loaded.sample_rate, channels=1))
                        for column in ("noisy_path", "clean_path"))
        results.append((row, probe_item(loaded.model, enhance, noisy, clean)))
    return results


def item_line(row: dict[str, str], item: ItemProbe) -> str:
    return (f"{row['id']}  {row['noise_kind']:8s} SNR {float(row['snr_db']):6.1f} dB  kept bins {item.kept_bins:.3f}  "
            f"energy ratio {item.energy_ratio:.2e}  SI-SNR(estimate, clean) {item.speech_db:7.1f} dB  "
            f"noise gain {item.noise_gain_db:+6.1f} dB")


def summary_line(results: list[tuple[dict[str, str], ItemProbe]], split_folder: Path) -> str:
    kept = [item.kept_bins for _, item in results]
    energy = [item.energy_ratio for _, item in results]
    return (f"{split_folder}: {len(results)} items: kept bins {min(kept):.3f}-{max(kept):.3f}, "
            f"energy ratio {min(energy):.2e}-{max(energy):.2e}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="an enhancement checkpoint of a mask model (pulse_cnn)")
    parser.add_argument("--data", type=Path, required=True, help="a noisy corpus root (`separation data noisy`)")
    parser.add_argument("--split", default="valid")
    parser.add_argument("--items", type=int, default=12, help="the first this many items of the split (default 12)")
    args = parser.parse_args(argv)
    if args.items < 1:
        parser.error(f"--items must be at least 1, got {args.items}")
    folder = args.data / args.split
    try:
        results = probe(load_mask_model(args.checkpoint), folder, args.items)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not results:
        print(f"error: {folder / 'metadata.csv'}: no items", file=sys.stderr)
        return 2
    for row, item in results:
        print(item_line(row, item))
    print(summary_line(results, folder))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
