"""Speech enhancement losses, one per model family, and the registry mapping a model to its default.

Every loss takes `estimate, target` of shape `(batch, sources, time)` and
returns a scalar to minimise. Targets are `(clean,)` for a one-source model
and `(clean, noise)` for a two-source one (`enhancement_targets`).

- `neg_si_snr`: minus the SI-SNR in dB, averaged over items and sources (Conv-TasNet).
- `l1_mrstft`: waveform L1 plus a multi-resolution STFT loss (spectral
  convergence + log magnitude at FFT sizes 512 / 1024 / 2048, hops 50 / 120 /
  240, windows 240 / 600 / 1200 as CleanUNet trains), from `auraloss` (CleanUNet).
- `magnitude_mse`: MSE between STFT magnitudes of estimate and target, each
  divided by the target's RMS so the loss does not depend on recording level
  (CR-CED, CRNN; the STFT should match the model's `n_fft` / `hop_length`).
  It is also `pulse_cnn`'s loss under the supervised objective; the weakly
  supervised ones (`separation.objectives.pu` / `.mixit`) bring their own.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from separation.losses.si_snr import si_snr


def _check(estimate: Tensor, target: Tensor, name: str) -> None:
    if estimate.dim() != 3 or estimate.shape != target.shape:
        raise ValueError(
            f"{name} expects estimate and target of equal shape (batch, sources, time); "
            f"got {tuple(estimate.shape)} and {tuple(target.shape)}"
        )


class NegativeSISNR(nn.Module):
    """`-mean(SI-SNR)` in dB over `(batch, sources)`."""

    def forward(self, estimate: Tensor, target: Tensor) -> Tensor:
        _check(estimate, target, "neg_si_snr")
        return -si_snr(estimate, target).mean()


class L1MultiResolutionSTFT(nn.Module):
    """`mean|estimate - target| + stft_weight * MRSTFT(estimate, target)`."""

    def __init__(
        self,
        fft_sizes: tuple[int, ...] = (512, 1024, 2048),
        hop_sizes: tuple[int, ...] = (50, 120, 240),
        win_lengths: tuple[int, ...] = (240, 600, 1200),
        stft_weight: float = 1.0,
        l1_weight: float = 1.0,
    ):
        super().__init__()
        import auraloss

        if not len(fft_sizes) == len(hop_sizes) == len(win_lengths):
            raise ValueError("l1_mrstft needs as many fft_sizes as hop_sizes and win_lengths")
        self.stft = auraloss.freq.MultiResolutionSTFTLoss(list(fft_sizes), list(hop_sizes), list(win_lengths))
        self.stft_weight = stft_weight
        self.l1_weight = l1_weight

    def forward(self, estimate: Tensor, target: Tensor) -> Tensor:
        _check(estimate, target, "l1_mrstft")
        with torch.autocast(device_type=estimate.device.type, enabled=False):
            estimate, target = estimate.float(), target.float()
            batch, sources, time = estimate.shape
            # Sources fold into the batch: the STFT loss scores every source alone.
            spectral = self.stft(estimate.reshape(batch * sources, 1, time), target.reshape(batch * sources, 1, time))
            return self.l1_weight * (estimate - target).abs().mean() + self.stft_weight * spectral


class MagnitudeMSE(nn.Module):
    """MSE of `|STFT|` (Hann, `n_fft`, `hop_length`) of estimate and target, both over the target's RMS."""

    def __init__(self, n_fft: int = 256, hop_length: int = 64):
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)

    def magnitude(self, signal: Tensor) -> Tensor:
        """`(batch, sources, time)` -> `(batch, sources, freq, frames)`."""
        batch, sources, time = signal.shape
        spec = torch.stft(signal.reshape(batch * sources, time), self.n_fft, self.hop_length, window=self.window,
                          center=True, pad_mode="constant", return_complex=True)
        return spec.abs().reshape(batch, sources, *spec.shape[-2:])

    def forward(self, estimate: Tensor, target: Tensor) -> Tensor:
        _check(estimate, target, "magnitude_mse")
        with torch.autocast(device_type=estimate.device.type, enabled=False):
            estimate, target = estimate.float(), target.float()
            scale = target.pow(2).mean(-1, keepdim=True).sqrt().clamp_min(1e-8)
            return (self.magnitude(estimate / scale) - self.magnitude(target / scale)).pow(2).mean()


ENHANCE_LOSSES: dict[str, type[nn.Module]] = {
    "neg_si_snr": NegativeSISNR,
    "l1_mrstft": L1MultiResolutionSTFT,
    "magnitude_mse": MagnitudeMSE,
}

# Each model family trains with its paper's objective unless the config names another.
DEFAULT_LOSSES: dict[str, str] = {
    "convtasnet": "neg_si_snr",
    "cleanunet": "l1_mrstft",
    "crced": "magnitude_mse",
    "crnn": "magnitude_mse",
    # PULSE's supervised (PN) baseline; its PU and MixIT objectives are in separation.objectives.
    "pulse_cnn": "magnitude_mse",
}


def build_enhance_loss(name: str, args: dict[str, Any] | None = None) -> nn.Module:
    if name not in ENHANCE_LOSSES:
        raise KeyError(f"unknown enhancement loss '{name}'; allowed: {', '.join(ENHANCE_LOSSES)}")
    return ENHANCE_LOSSES[name](**dict(args or {}))


def default_loss(model_name: str, model_args: dict[str, Any] | None = None) -> nn.Module:
    """The family loss of an enhancement model; the magnitude loss takes the model's STFT size."""
    if model_name not in DEFAULT_LOSSES:
        raise KeyError(f"model '{model_name}' has no enhancement loss; enhancement models: {', '.join(DEFAULT_LOSSES)}")
    name = DEFAULT_LOSSES[model_name]
    args = {}
    if name == "magnitude_mse":
        model_args = model_args or {}
        args = {key: model_args[key] for key in ("n_fft", "hop_length") if key in model_args}
        if model_name == "pulse_cnn":  # its STFT defaults differ from CR-CED's
            args = {"n_fft": model_args.get("n_fft", 1024), "hop_length": model_args.get("hop_length", 256)}
    return build_enhance_loss(name, args)


def enhancement_targets(clean: Tensor, noisy: Tensor, n_src: int) -> Tensor:
    """Targets `(batch, n_src, time)`: `clean` for one source, `(clean, noisy - clean)` for two.

    clean, noisy: `(batch, time)` or `(batch, 1, time)`.
    """
    clean = clean if clean.dim() == 3 else clean.unsqueeze(1)
    noisy = noisy if noisy.dim() == 3 else noisy.unsqueeze(1)
    if n_src == 1:
        return clean
    if n_src == 2:
        return torch.cat([clean, noisy - clean], dim=1)
    raise ValueError(f"enhancement models estimate 1 (speech) or 2 (speech, noise) sources, got {n_src}")
