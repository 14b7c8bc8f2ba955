"""STFT-magnitude denoisers with noisy-phase synthesis: CR-CED and a CRNN.

Both follow the fully convolutional denoising recipe of Park & Lee 2017 ("A
Fully Convolutional Neural Network for Speech Enhancement"): each output frame
is predicted from the current and `context_frames - 1` past noisy magnitude
frames, convolutions run along frequency only after that first layer, and the
estimated magnitude is given the noisy phase before the inverse STFT.

    noisy (B, T), scaled to unit RMS
      -> |STFT| (n_fft, hop)                                     (B, 1, F, frames)
      -> CRCED: R cascaded encoder-decoder blocks of (18, 30, 8) filters of
         widths (9, 5, 9) along frequency, BatchNorm + ReLU, the block outputs
         added (skip connections), then one full-band conv       (B, S, F, frames)
         CRNN: one such block, then an LSTM over frames on the flattened
         (channels x F) features and a linear layer to S x F bins
      -> softplus (magnitudes are positive), noisy phase, inverse STFT,
         scaled back                                              (B, S, T)

At the defaults CR-CED has 32,653 parameters (the paper's 33 K) and the CRNN
1,886,773 (`sum(p.numel() for p in build_model('crced').parameters())`) and likewise for 'crnn'.
The loss of this family is an MSE on STFT magnitudes (`separation.losses.enhance`).

`identity_init` changes what the output layer means, which the published
models do not do: its softplus is read as a mask on the noisy magnitude
(estimate = mask x |X|) instead of the magnitude itself, and the layer starts
with zero weights and biases giving constant masks (`identity_masks`: 0.9 for
the speech, the other 0.1 shared by the rest), so an untrained model returns
0.9 x its input (SI-SNRi 0). Off by default, so earlier checkpoints, which store
no such argument, rebuild as the published models.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from separation.models.stft import STFT
from separation.models.waveform import identity_masks, mono_batch, rms_scale


def _conv_bn_relu(inputs: int, outputs: int, width: int, context: int = 1) -> nn.Sequential:
    """Conv2d over (frequency, frames) with a `width` x `context` kernel; pads frequency "same"."""
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, (width, context), padding=(width // 2, 0)),
        nn.BatchNorm2d(outputs),
        nn.ReLU(),
    )


class _MagnitudeFrontEnd(nn.Module):
    """Waveform <-> magnitude and noisy phase, with causal frame context for the first layer."""

    def __init__(self, n_fft: int, hop_length: int, context_frames: int, input_normalization: bool):
        super().__init__()
        if context_frames < 1:
            raise ValueError(f"context_frames must be at least 1, got {context_frames}")
        self.stft = STFT(n_fft, hop_length)
        self.context_frames = context_frames
        self.input_normalization = input_normalization
        self.bins = n_fft // 2 + 1

    def analyse(self, noisy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`(batch, time)` -> (padded magnitude `(batch, 1, F, context-1+frames)`, spectrum, scale)."""
        scale = rms_scale(noisy) if self.input_normalization else torch.ones_like(noisy[:, :1])
        spectrum = self.stft(noisy / scale)  # (batch, F, frames)
        magnitude = spectrum.abs().unsqueeze(1)
        # Past frames only: frame k sees frames k-context+1 .. k, zeros before the start.
        return F.pad(magnitude, (self.context_frames - 1, 0)), spectrum, scale

    def synthesise(self, magnitude: torch.Tensor, spectrum: torch.Tensor, scale: torch.Tensor, length: int) -> torch.Tensor:
        """Estimated magnitudes `(batch, S, F, frames)` with the noisy phase -> `(batch, S, length)`."""
        phase = spectrum / spectrum.abs().clamp_min(1e-8)
        return self.stft.inverse(magnitude * phase.unsqueeze(1), length) * scale.unsqueeze(-1)


def _identity_head(layer: nn.Module, n_src: int) -> None:
    """Zero weights; biases whose softplus is each source's starting mask (inverse softplus: log(e^m - 1))."""
    with torch.no_grad():
        layer.weight.zero_()
        masks = torch.tensor(identity_masks(n_src), dtype=torch.float64)
        bias = torch.log(torch.expm1(masks)).float()
        layer.bias.copy_(bias.repeat_interleave(layer.bias.numel() // n_src))


def _output_magnitude(head: torch.Tensor, spectrum: torch.Tensor, as_mask: bool) -> torch.Tensor:
    """softplus(head) `(batch, S, F, frames)` as the magnitude, or as a mask on the noisy one."""
    positive = F.softplus(head)
    return positive * spectrum.abs().unsqueeze(1) if as_mask else positive


class CRCED(nn.Module):
    """Cascaded redundant convolutional encoder-decoder: noisy `(batch, time)` or `(batch, 1, time)` -> `(batch, n_src, time)`.

    Defaults are the paper's CR-CED (5 repeats of 18-30-8 filters of widths
    9-5-9, 8 frames of context) at its 8 kHz STFT (256 points, hop 64).
    """

    def __init__(
        self,
        n_src: int = 1,
        n_fft: int = 256,
        hop_length: int = 64,
        context_frames: int = 8,
        filters: tuple[int, ...] = (18, 30, 8),
        widths: tuple[int, ...] = (9, 5, 9),
        repeats: int = 5,
        input_normalization: bool = True,
        identity_init: bool = False,
    ):
        super().__init__()
        if len(filters) != len(widths) or not filters or repeats < 1:
            raise ValueError(f"CRCED needs as many filters as widths and repeats >= 1, got {filters}, {widths}, {repeats}")
        self.n_src = n_src  # read by the objectives (MixIT needs 2 or more)
        self.front = _MagnitudeFrontEnd(n_fft, hop_length, context_frames, input_normalization)
        self.blocks = nn.ModuleList()
        for repeat in range(repeats):
            layers, previous = [], 1 if repeat == 0 else filters[-1]
            for index, (count, width) in enumerate(zip(filters, widths)):
                context = context_frames if repeat == 0 and index == 0 else 1
                layers.append(_conv_bn_relu(previous, count, width, context))
                previous = count
            self.blocks.append(nn.Sequential(*layers))
        bins = self.front.bins
        self.output = nn.Conv2d(filters[-1], n_src, (bins, 1), padding=(bins // 2, 0))
        self.identity_init = identity_init
        if identity_init:
            _identity_head(self.output, n_src)

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        """`(batch, time)` or `(batch, 1, time)` -> `(batch, n_src, time)`."""
        noisy = mono_batch(noisy, "CRCED")
        magnitude, spectrum, scale = self.front.analyse(noisy)
        x = self.blocks[0](magnitude)
        for block in self.blocks[1:]:
            x = x + block(x)
        magnitude = _output_magnitude(self.output(x), spectrum, self.identity_init)
        return self.front.synthesise(magnitude, spectrum, scale, noisy.shape[-1])


class CRNN(nn.Module):
    """CR-CED's front end plus a recurrent layer: noisy `(batch, time)` or `(batch, 1, time)` -> `(batch, n_src, time)`."""

    def __init__(
        self,
        n_src: int = 1,
        n_fft: int = 256,
        hop_length: int = 64,
        context_frames: int = 8,
        filters: tuple[int, ...] = (18, 30, 8),
        widths: tuple[int, ...] = (9, 5, 9),
        hidden_size: int = 256,
        num_layers: int = 2,
        bidirectional: bool = False,
        input_normalization: bool = True,
        identity_init: bool = False,
    ):
        super().__init__()
        if len(filters) != len(widths) or not filters:
            raise ValueError(f"CRNN needs as many filters as widths, got {filters}, {widths}")
        self.n_src = n_src
        self.front = _MagnitudeFrontEnd(n_fft, hop_length, context_frames, input_normalization)
        layers, previous = [], 1
        for index, (count, width) in enumerate(zip(filters, widths)):
            layers.append(_conv_bn_relu(previous, count, width, context_frames if index == 0 else 1))
            previous = count
        self.convs = nn.Sequential(*layers)
        bins = self.front.bins
        self.rnn = nn.LSTM(filters[-1] * bins, hidden_size, num_layers, batch_first=True, bidirectional=bidirectional)
        self.output = nn.Linear(hidden_size * (2 if bidirectional else 1), n_src * bins)
        self.identity_init = identity_init
        if identity_init:
            _identity_head(self.output, n_src)  # source-major outputs: view(..., n_src, bins) below

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        """`(batch, time)` or `(batch, 1, time)` -> `(batch, n_src, time)`."""
        noisy = mono_batch(noisy, "CRNN")
        magnitude, spectrum, scale = self.front.analyse(noisy)
        x = self.convs(magnitude)  # (batch, C, F, frames)
        batch, channels, bins, frames = x.shape
        h, _ = self.rnn(x.permute(0, 3, 1, 2).reshape(batch, frames, channels * bins))
        head = self.output(h).view(batch, frames, self.n_src, bins).permute(0, 2, 3, 1)  # (batch, S, F, frames)
        estimate = _output_magnitude(head, spectrum, self.identity_init)
        return self.front.synthesise(estimate, spectrum, scale, noisy.shape[-1])
