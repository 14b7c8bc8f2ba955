"""A CleanUNet-style waveform denoiser (Kong et al. 2022, "Speech Denoising in the Waveform Domain
with Self-Attention").

    noisy (B, T), scaled to unit standard deviation, zero-padded to a length the strides divide
      -> D encoder layers: Conv1d(K, stride S) + ReLU + Conv1d(1x1, 2C) + GLU      (B, C_d, T_d)
      -> bottleneck: 1x1 conv to d_model, sinusoidal positions, a Transformer
         encoder (self-attention, optionally causal), 1x1 conv back          (B, C_D, T_D)
      -> D decoder layers, each fed the matching encoder output (skip, added):
         Conv1d(1x1, 2C) + GLU + ConvTranspose1d(K, stride S) [+ ReLU but the last]
      -> cropped to T, scaled back                                            (B, n_src, T)

Channels double per layer from `channels` up to `max_channels`. The defaults
are those of the released full model (8 layers, H=64 up to 768, K=4, S=2, 5 Transformer layers of
8 heads, d_model 512, 2048 inner): 46,081,153 parameters (`sum(p.numel() for p in build_model('cleanunet').parameters())`),
the paper's 46.07 M. Tests use a few layers of a few channels.

`identity_init` adds a residual path, which the published model has not: the
decoder's output is read as a correction of the input (speech = input +
correction, every other source = its correction alone) and the last
transposed convolution starts at zero, so an untrained model returns its input
(SI-SNRi 0) and the noise estimate starts silent. Off by default, so earlier
checkpoints, which store no such argument, rebuild as the published model.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from separation.models.waveform import mono_batch


def sinusoidal_positions(length: int, dim: int, device, dtype) -> torch.Tensor:
    """The Transformer's sine/cosine position table `(length, dim)`."""
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: dim // 2])
    return table.to(dtype)


class CleanUNet(nn.Module):
    """Noisy `(batch, time)` or `(batch, 1, time)` -> estimates `(batch, n_src, time)`, same length.

    `n_src=1` estimates the speech; `n_src=2` speech (source 0) and noise (source 1).
    """

    def __init__(
        self,
        n_src: int = 1,
        channels: int = 64,
        max_channels: int = 768,
        encoder_layers: int = 8,
        kernel_size: int = 4,
        stride: int = 2,
        transformer_layers: int = 5,
        heads: int = 8,
        d_model: int = 512,
        d_inner: int = 2048,
        dropout: float = 0.0,
        causal: bool = False,
        input_normalization: bool = True,
        identity_init: bool = False,
    ):
        super().__init__()
        if n_src not in (1, 2):
            raise ValueError(f"CleanUNet n_src must be 1 (speech) or 2 (speech, noise), got {n_src}")
        if d_model % heads or d_model % 2:
            raise ValueError(f"CleanUNet d_model ({d_model}) must be even and divisible by heads ({heads})")
        self.n_src = n_src  # read by the objectives (MixIT needs 2 or more)
        self.kernel_size, self.stride, self.encoder_layers = kernel_size, stride, encoder_layers
        self.causal, self.input_normalization = causal, input_normalization
        widths = [min(channels * 2**i, max_channels) for i in range(encoder_layers)]
        self.encoder = nn.ModuleList()
        self.decoder = nn.ModuleList()
        previous = 1
        for index, width in enumerate(widths):
            self.encoder.append(nn.Sequential(
                nn.Conv1d(previous, width, kernel_size, stride), nn.ReLU(),
                nn.Conv1d(width, 2 * width, 1), nn.GLU(dim=1),
            ))
            out = n_src if index == 0 else previous
            layers = [nn.Conv1d(width, 2 * width, 1), nn.GLU(dim=1), nn.ConvTranspose1d(width, out, kernel_size, stride)]
            if index > 0:
                layers.append(nn.ReLU())
            # Built outermost first; applied in reverse (innermost first).
            self.decoder.insert(0, nn.Sequential(*layers))
            previous = width
        self.to_model = nn.Conv1d(widths[-1], d_model, 1)
        layer = nn.TransformerEncoderLayer(d_model, heads, d_inner, dropout, batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, transformer_layers, enable_nested_tensor=False)
        self.from_model = nn.Conv1d(d_model, widths[-1], 1)
        self.identity_init = identity_init
        if identity_init:
            last = self.decoder[-1][-1]  # the outermost layer's transposed convolution: the correction
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def valid_length(self, length: int) -> int:
        """The smallest length >= `length` that every strided layer divides exactly."""
        for _ in range(self.encoder_layers):
            length = max(math.ceil((length - self.kernel_size) / self.stride) + 1, 1)
        for _ in range(self.encoder_layers):
            length = (length - 1) * self.stride + self.kernel_size
        return length

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        """`(batch, time)` or `(batch, 1, time)` -> `(batch, n_src, time)`."""
        noisy = mono_batch(noisy, "CleanUNet")
        length = noisy.shape[-1]
        scale = noisy.std(dim=-1, keepdim=True).clamp_min(1e-8) if self.input_normalization else None
        inputs = (noisy if scale is None else noisy / scale).unsqueeze(1)  # (batch, 1, time)
        x = F.pad(inputs, (0, self.valid_length(length) - length))
        skips = []
        for layer in self.encoder:
            x = layer(x)
            skips.append(x)
        h = self.to_model(x).transpose(1, 2)  # (batch, frames, d_model)
        h = h + sinusoidal_positions(h.shape[1], h.shape[2], h.device, h.dtype)
        mask = nn.Transformer.generate_square_subsequent_mask(h.shape[1], device=h.device) if self.causal else None
        x = self.from_model(self.transformer(h, mask=mask, is_causal=self.causal).transpose(1, 2))
        for layer, skip in zip(self.decoder, reversed(skips)):
            x = layer(x + skip[..., : x.shape[-1]])
        x = x[..., :length]
        if self.identity_init:  # residual: the input is source 0's estimate before any correction
            x = x + F.pad(inputs, (0, 0, 0, x.shape[1] - 1))
        return x if scale is None else x * scale.unsqueeze(-1)
