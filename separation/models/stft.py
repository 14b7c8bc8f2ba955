"""A multichannel STFT pair with a fixed window, for spectrogram-masking models.

The transform is centred with zero padding (half a frame each side): frame k
covers samples around k * hop, every sample is covered by n_fft / hop frames,
and `istft(stft(x), length=len(x))` returns x to float precision for any
window satisfying the overlap-add condition (Hann at hop n_fft / 4 does).
"""

from __future__ import annotations

import torch
from torch import nn


class STFT(nn.Module):
    """`(..., time)` waveforms <-> `(..., freq, frames)` complex spectra, freq = n_fft // 2 + 1."""

    def __init__(self, n_fft: int = 4096, hop_length: int = 1024):
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        # Periodic Hann, as tf.signal.hann_window(periodic=True) in Spleeter; a buffer so it follows .to(device).
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)

    def frames(self, samples: int) -> int:
        """Number of frames `forward` gives for a waveform of `samples` samples."""
        return samples // self.hop_length + 1

    def samples_for(self, frames: int) -> int:
        """The waveform length whose transform has exactly `frames` frames."""
        return (frames - 1) * self.hop_length

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """`(..., time)` real -> `(..., freq, frames)` complex."""
        shape = audio.shape
        spec = torch.stft(
            audio.reshape(-1, shape[-1]).float(),
            self.n_fft,
            self.hop_length,
            window=self.window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        return spec.reshape(*shape[:-1], *spec.shape[-2:])

    def inverse(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        """`(..., freq, frames)` complex -> `(..., length)` real."""
        shape = spec.shape
        audio = torch.istft(
            spec.reshape(-1, *shape[-2:]), self.n_fft, self.hop_length, window=self.window, center=True, length=length
        )
        return audio.reshape(*shape[:-2], length)
