"""The class prior PU learning needs, measured on a generated noisy corpus that has the clean and noise parts.

    .venv/bin/python scripts/pu_class_prior.py data/noisy [--split train] [--n-fft 1024] [--hop 256] [--items 200]

PU learning (`separation.objectives.pu`) takes pi, the fraction of noisy-speech
bins that are noise, as a setting; real recordings do not tell it, but the
generated corpus (`separation data noisy`) keeps `clean/` and `noise/` beside
every noisy file, so here it can be read off: a bin is noise when the noise
part's STFT magnitude exceeds the speech part's (the ideal binary mask PULSE's
supervised baseline learns). Printed: the mean and median per-item fraction,
and the fraction weighted by the noisy magnitude |X| (the weight of PU's p = 1
loss), over the first `--items` items of the split, with pulse_cnn's STFT
(Hamming window, `--n-fft`, `--hop`).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from separation.data.audio import read_wav
from separation.data.noisy_format import read_metadata


def bin_fractions(clean: torch.Tensor, noise: torch.Tensor, n_fft: int, hop: int) -> tuple[float, float]:
    """(fraction of noise-dominated bins, the same weighted by |STFT(clean + noise)|) of one `(time,)` item."""
    window = torch.hamming_window(n_fft)

    def magnitude(signal: torch.Tensor) -> torch.Tensor:
        return torch.stft(signal, n_fft, hop, window=window, center=True, pad_mode="constant", return_complex=True).abs()

    speech, noise_part, noisy = magnitude(clean), magnitude(noise), magnitude(clean + noise)
    is_noise = (noise_part > speech).to(noisy.dtype)
    return float(is_noise.mean()), float((noisy * is_noise).sum() / noisy.sum().clamp_min(1e-12))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--split", default="train")
    parser.add_argument("--n-fft", type=int, default=1024)
    parser.add_argument("--hop", type=int, default=256)
    parser.add_argument("--items", type=int, default=200)
    args = parser.parse_args()
    folder = args.root / args.split
    plain, weighted = [], []
    for row in read_metadata(folder)[: args.items]:
        clean = torch.as_tensor(read_wav(folder / row["clean_path"])).float().reshape(-1)
        noise = torch.as_tensor(read_wav(folder / row["noise_path"])).float().reshape(-1)
        fraction, weighted_fraction = bin_fractions(clean, noise, args.n_fft, args.hop)
        plain.append(fraction)
        weighted.append(weighted_fraction)
    if not plain:
        raise SystemExit(f"{folder}: no items")
    print(f"{folder}: {len(plain)} items, STFT {args.n_fft}/{args.hop}: noise-dominated bins mean "
          f"{statistics.mean(plain):.3f}, median {statistics.median(plain):.3f}; |X|-weighted mean "
          f"{statistics.mean(weighted):.3f}")


if __name__ == "__main__":
    main()
