"""A multichannel STFT pair with a fixed window, framed as Spleeter frames.

Frames are not centred: frame k covers samples `[k * hop, k * hop + n_fft)` of
the signal it is computed on. Spleeter frames its two paths differently, and
so does this module:

- training (`pad=False`): the segment as it is, `1 + (samples - n_fft) // hop`
  frames, trailing samples that fill no whole frame dropped
  (`tf.signal.stft` in `spleeter/audio/spectrogram.py`);
- inference (`pad=True`, the default): `n_fft` zeros before the waveform and
  zeros after it up to a whole frame (`pad_end`), `ceil((samples + n_fft) / hop)`
  frames, so frame k covers samples `[k * hop - n_fft, k * hop)` of the
  waveform: frame k + 2 of this framing is frame k of a centred STFT at hop
  n_fft / 4 (`_build_stft_feature` in `spleeter/model/__init__.py`).

`inverse(forward(x), len(x))` returns x to float precision for any window
satisfying the overlap-add condition (Hann at hop n_fft / 4 does): the padding
is cut off again, as Spleeter's `_inverse_stft` crops `n_fft` samples.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class STFT(nn.Module):
    """`(..., time)` waveforms <-> `(..., freq, frames)` complex spectra, freq = n_fft // 2 + 1."""

    def __init__(self, n_fft: int = 4096, hop_length: int = 1024):
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        # Periodic Hann, as tf.signal.hann_window(periodic=True) in Spleeter; a buffer so it follows .to(device).
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)

    def frames(self, samples: int, pad: bool = True) -> int:
        """Number of frames `forward(..., pad)` gives for a waveform of `samples` samples."""
        if pad:
            return -(-(samples + self.n_fft) // self.hop_length)
        if samples < self.n_fft:
            raise ValueError(f"an unpadded STFT needs at least n_fft={self.n_fft} samples, got {samples}")
        return 1 + (samples - self.n_fft) // self.hop_length

    def samples_for(self, frames: int) -> int:
        """The shortest waveform whose unpadded (training) transform has exactly `frames` frames."""
        return (frames - 1) * self.hop_length + self.n_fft

    def forward(self, audio: torch.Tensor, pad: bool = True) -> torch.Tensor:
        """`(..., time)` real -> `(..., freq, frames)` complex; `pad` as in the module docstring."""
        shape = audio.shape
        flat = audio.reshape(-1, shape[-1]).float()
        if pad:
            total = (self.frames(shape[-1]) - 1) * self.hop_length + self.n_fft
            flat = F.pad(flat, (self.n_fft, total - self.n_fft - shape[-1]))
        elif shape[-1] < self.n_fft:
            raise ValueError(f"an unpadded STFT needs at least n_fft={self.n_fft} samples, got {shape[-1]}")
        spec = torch.stft(flat, self.n_fft, self.hop_length, window=self.window, center=False, return_complex=True)
        return spec.reshape(*shape[:-1], *spec.shape[-2:])

    def inverse(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        """`(..., freq, frames)` complex of a padded `forward` -> `(..., length)` real.

        A centred inverse puts frame k's centre at k * hop, i.e. its output sample
        t is sample t + n_fft / 2 of the padded signal, and the waveform starts at
        padded sample n_fft: so invert centred and drop the first n_fft / 2 samples.
        """
        shape = spec.shape
        half = self.n_fft // 2
        audio = torch.istft(
            spec.reshape(-1, *shape[-2:]), self.n_fft, self.hop_length, window=self.window, center=True,
            length=half + length,
        )
        return audio[..., half:].reshape(*shape[:-2], length)
