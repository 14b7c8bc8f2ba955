"""PULSE's CNN (Ito & Sugiyama 2023, "Audio signal enhancement with learning from positive and
unlabelled data"): a small all-convolutional classifier of STFT bins.

    noisy (B, T), scaled to unit RMS
      -> STFT (Hamming, n_fft 1024, hop 256), |X|^(1/15) compression     (B, 1, F, frames)
      -> 3x3 conv(1 -> C), 3x3 conv(C -> C), then `blocks` pairs of 3x3
         convs doubling the channels (C -> 2C -> 2C -> 4C -> 4C), each with
         ReLU and Dropout2d (BatchNorm instead with `batch_norm`)
      -> 1x1 conv to one logit per bin                                     (B, 1, F, frames)

With the defaults (C=8, blocks=2) that is the paper's 7-layer network, 18,073
parameters (`sum(p.numel() for p in build_model('pulse_cnn').parameters())`).
`bin_logits` returns the logits for the weakly supervised objectives (PU
learning, MixIT) to define their own targets; `forward` reads a logit as
"this bin is speech", masks the noisy STFT with its sigmoid (or with
`logit > 0` when `hard_mask`, PULSE's test-time rule) and returns the waveform.
"""

from __future__ import annotations

import torch
from torch import nn

from separation.models.waveform import mono_batch, rms_scale


class PulseCNN(nn.Module):
    """Noisy `(batch, time)` or `(batch, 1, time)` -> masked estimate `(batch, 1, time)`, same length."""

    def __init__(
        self,
        channels: int = 8,
        blocks: int = 2,
        dropout: float = 0.2,
        batch_norm: bool = False,
        n_fft: int = 1024,
        hop_length: int = 256,
        compression: float = 1 / 15,
        hard_mask: bool = False,
        input_normalization: bool = True,
    ):
        super().__init__()
        self.n_fft, self.hop_length, self.compression = n_fft, hop_length, compression
        self.hard_mask, self.input_normalization = hard_mask, input_normalization
        self.register_buffer("window", torch.hamming_window(n_fft), persistent=False)

        def unit(inputs: int, outputs: int) -> list[nn.Module]:
            regulariser = nn.BatchNorm2d(outputs) if batch_norm else nn.Dropout2d(dropout)
            return [nn.Conv2d(inputs, outputs, 3, padding="same"), nn.ReLU(), regulariser]

        layers = unit(1, channels) + unit(channels, channels)
        for block in range(blocks):
            width = channels * 2**block
            layers += unit(width, 2 * width) + unit(2 * width, 2 * width)
        layers.append(nn.Conv2d(channels * 2**blocks, 1, 1))
        self.net = nn.Sequential(*layers)

    def _stft(self, noisy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scale = rms_scale(noisy) if self.input_normalization else torch.ones_like(noisy[:, :1])
        spectrum = torch.stft(noisy / scale, self.n_fft, self.hop_length, window=self.window, center=True,
                              pad_mode="constant", return_complex=True)
        return spectrum, scale

    def bin_logits(self, noisy: torch.Tensor) -> torch.Tensor:
        """`(batch, time)` or `(batch, 1, time)` -> logits `(batch, 1, n_fft // 2 + 1, frames)`."""
        spectrum, _ = self._stft(mono_batch(noisy, "PulseCNN"))
        return self.net(spectrum.abs().clamp_min(1e-12).pow(self.compression).unsqueeze(1))

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        """`(batch, time)` or `(batch, 1, time)` -> `(batch, 1, time)`."""
        noisy = mono_batch(noisy, "PulseCNN")
        spectrum, scale = self._stft(noisy)
        logits = self.net(spectrum.abs().clamp_min(1e-12).pow(self.compression).unsqueeze(1))[:, 0]
        mask = (logits > 0).to(spectrum.real.dtype) if self.hard_mask else torch.sigmoid(logits)
        audio = torch.istft(spectrum * mask, self.n_fft, self.hop_length, window=self.window, center=True,
                            length=noisy.shape[-1])
        return (audio * scale).unsqueeze(1)
