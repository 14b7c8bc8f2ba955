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

The prior that PU's weighted risk needs is a third number, printed as "prior for the p = 1 risk": the
risk averages w l over the unlabelled bins and over the positive (noise-only) bins, and its estimate of
the unlabelled noise part, pi R_p, is right only when pi * mean_P w = mean_U w 1[noise], the weights
taken as the model takes them (each clip scaled to unit RMS, `PulseCNN.stft`). A noise-only clip at unit
RMS has louder bins than the noise inside a unit-RMS noisy clip, so this prior is below the plain
fraction; at p = 0 the two are equal. It needs the corpus's `noise_only/` clips (the training split has them).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from separation.data.audio import read_wav
from separation.data.noisy_format import read_metadata


def magnitude(signal: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """|STFT| of a `(time,)` signal with pulse_cnn's analysis (Hamming window, centred, zero-padded)."""
    return torch.stft(signal, n_fft, hop, window=torch.hamming_window(n_fft), center=True, pad_mode="constant",
                      return_complex=True).abs()


def noise_dominated(clean: torch.Tensor, noise: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """The bins of `clean + noise` whose noise part is louder than the speech (PULSE's ideal binary mask), bool."""
    return magnitude(noise, n_fft, hop) > magnitude(clean, n_fft, hop)


def bin_fractions(is_noise: torch.Tensor, noisy: torch.Tensor) -> tuple[float, float]:
    """(fraction of noise-dominated bins, the same weighted by the noisy magnitude |X|) of one item."""
    is_noise = is_noise.to(noisy.dtype)
    return float(is_noise.mean()), float((noisy * is_noise).sum() / noisy.sum().clamp_min(1e-12))


def unit_rms_magnitude(signal: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """|STFT| of `signal` scaled to unit RMS: the weight of PU's p = 1 loss, as `PulseCNN.stft` computes it."""
    return magnitude(signal / signal.pow(2).mean().sqrt().clamp_min(1e-8), n_fft, hop)


def weighted_risk_sums(is_noise: torch.Tensor, noisy: torch.Tensor, noise_only: torch.Tensor, n_fft: int,
                       hop: int) -> tuple[float, int, float, int]:
    """(sum of w 1[noise] over the noisy clip's bins, their count, sum of w over the noise-only clip's
    bins, their count), w = |STFT| of the clip at unit RMS; the prior for the p = 1 risk is the ratio of
    the two means over a corpus. `is_noise`: `noise_dominated` of the noisy clip's parts."""
    weight = unit_rms_magnitude(noisy, n_fft, hop)
    positive = unit_rms_magnitude(noise_only, n_fft, hop)
    return (float((weight * is_noise).sum()), weight.numel(), float(positive.sum()), positive.numel())


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
    sums = [0.0, 0, 0.0, 0]  # weighted_risk_sums over the items that have a noise-only clip
    for row in read_metadata(folder)[: args.items]:
        clean = torch.as_tensor(read_wav(folder / row["clean_path"])).float().reshape(-1)
        noise = torch.as_tensor(read_wav(folder / row["noise_path"])).float().reshape(-1)
        is_noise = noise_dominated(clean, noise, args.n_fft, args.hop)
        fraction, weighted_fraction = bin_fractions(is_noise, magnitude(clean + noise, args.n_fft, args.hop))
        plain.append(fraction)
        weighted.append(weighted_fraction)
        if row.get("noise_only_path"):
            noise_only = torch.as_tensor(read_wav(folder / row["noise_only_path"])).float().reshape(-1)
            sums = [a + b for a, b in zip(sums, weighted_risk_sums(is_noise, clean + noise, noise_only, args.n_fft, args.hop))]
    if not plain:
        raise SystemExit(f"{folder}: no items")
    line = (f"{folder}: {len(plain)} items, STFT {args.n_fft}/{args.hop}: noise-dominated bins mean "
            f"{statistics.mean(plain):.3f}, median {statistics.median(plain):.3f}; |X|-weighted mean "
            f"{statistics.mean(weighted):.3f}")
    if sums[1] and sums[3]:
        line += f"; prior for the p = 1 risk {(sums[0] / sums[1]) / (sums[2] / sums[3]):.3f}"
    else:
        line += "; no noise-only clips, so no prior for the p = 1 risk"
    print(line)


if __name__ == "__main__":
    main()
