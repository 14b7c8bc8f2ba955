"""PULSE's CNN (Ito & Sugiyama 2023, "Audio signal enhancement with learning from positive and
unlabelled data"): a small all-convolutional classifier of STFT bins.

    noisy (B, T), scaled to unit RMS
      -> STFT (Hamming, n_fft 1024, hop 256), |X|^(1/15) compression     (B, 1, F, frames)
      -> 3x3 conv(1 -> C), 3x3 conv(C -> C), then `blocks` pairs of 3x3
         convs doubling the channels (C -> 2C -> 2C -> 4C -> 4C), each with
         ReLU and Dropout2d (BatchNorm instead with `batch_norm`)
      -> 1x1 conv to n_src logits per bin                                  (B, n_src, F, frames)

With the defaults (C=8, blocks=2, n_src=1) that is the paper's 7-layer network, 18,073
parameters (`sum(p.numel() for p in build_model('pulse_cnn').parameters())`).
`bin_logits` returns the logits for the weakly supervised objectives (PU
learning, MixIT) to define their own targets; `forward` reads logit k as
"this bin belongs to source k" (source 0 is the speech), masks the noisy STFT
with its sigmoid (or with `logit > 0` when `hard_mask`, PULSE's test-time rule
for PU learning) and returns one waveform per source. `n_src > 1` gives
PULSE's MixIT baseline network (its 1x1 layer has three outputs there); the
masks are independent sigmoids, so the sources need not sum to the input.
`stft` is the exact spectrum the network sees, for losses that weight or mask
it (`separation.objectives.pu`).

`identity_init` changes the initialisation only: the 1x1 output layer starts
with zero weights and biases giving constant masks (`identity_masks`: 0.9 for
the speech, the other 0.1 shared by the other sources; with `hard_mask` 1 and
0), so an untrained model returns a scaled copy of its input (SI-SNRi 0). As a
PU classifier it starts by calling every bin speech; under MixIT source 0
starts as the input and the others near silence. PULSE initialises at random;
the option is off by default so earlier checkpoints and studies rebuild as they were.
"""

from __future__ import annotations

import torch
from torch import nn

from separation.models.waveform import identity_masks, mono_batch, rms_scale


class PulseCNN(nn.Module):
    """Noisy `(batch, time)` or `(batch, 1, time)` -> masked estimates `(batch, n_src, time)`, same length."""

    def __init__(
        self,
        n_src: int = 1,
        channels: int = 8,
        blocks: int = 2,
        dropout: float = 0.2,
        batch_norm: bool = False,
        n_fft: int = 1024,
        hop_length: int = 256,
        compression: float = 1 / 15,
        hard_mask: bool = False,
        input_normalization: bool = True,
        identity_init: bool = False,
    ):
        super().__init__()
        if isinstance(n_src, bool) or not isinstance(n_src, int) or n_src < 1:
            raise ValueError(f"PulseCNN n_src must be a positive integer, got {n_src!r}")
        self.n_src = n_src
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
        layers.append(nn.Conv2d(channels * 2**blocks, n_src, 1))
        self.net = nn.Sequential(*layers)
        if identity_init:
            with torch.no_grad():
                layers[-1].weight.zero_()
                layers[-1].bias.copy_(torch.logit(torch.tensor(identity_masks(n_src), dtype=torch.float64)).float())

    def stft(self, noisy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`(batch, time)` -> complex STFT `(batch, n_fft // 2 + 1, frames)` of the input over `scale`, and
        `scale` `(batch, 1)` (its RMS with `input_normalization`, else 1)."""
        scale = rms_scale(noisy) if self.input_normalization else torch.ones_like(noisy[:, :1])
        spectrum = torch.stft(noisy / scale, self.n_fft, self.hop_length, window=self.window, center=True,
                              pad_mode="constant", return_complex=True)
        return spectrum, scale

    def bin_logits(self, noisy: torch.Tensor) -> torch.Tensor:
        """`(batch, time)` or `(batch, 1, time)` -> logits `(batch, n_src, n_fft // 2 + 1, frames)`."""
        spectrum, _ = self.stft(mono_batch(noisy, "PulseCNN"))
        return self.net(spectrum.abs().clamp_min(1e-12).pow(self.compression).unsqueeze(1))

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        """`(batch, time)` or `(batch, 1, time)` -> `(batch, n_src, time)`."""
        noisy = mono_batch(noisy, "PulseCNN")
        spectrum, scale = self.stft(noisy)
        logits = self.net(spectrum.abs().clamp_min(1e-12).pow(self.compression).unsqueeze(1))  # (B, S, F, frames)
        mask = (logits > 0).to(spectrum.real.dtype) if self.hard_mask else torch.sigmoid(logits)
        batch, sources, bins, frames = mask.shape
        masked = (spectrum.unsqueeze(1) * mask).reshape(batch * sources, bins, frames)
        audio = torch.istft(masked, self.n_fft, self.hop_length, window=self.window, center=True,
                            length=noisy.shape[-1])
        return audio.reshape(batch, sources, -1) * scale.unsqueeze(-1)
