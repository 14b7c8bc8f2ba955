"""Conv-TasNet (Luo & Mesgarani 2019) for enhancement, through `torchaudio.models.ConvTasNet`.

The paper's best configuration is the default: N=512 encoder filters of L=16
samples, B=128 bottleneck and H=512 hidden channels, P=3 kernels, X=8 blocks
per repeat, R=3 repeats: 4,918,833 parameters with one source
(`sum(p.numel() for p in build_model('convtasnet').parameters())`); the paper reports 5.1 M.
`n_src=1` estimates the speech; `n_src=2` estimates
speech (source 0) and noise (source 1), trained against (clean, noisy - clean).
"""

from __future__ import annotations

import torch
from torch import nn
from torchaudio.models import ConvTasNet

from separation.models.waveform import mono_batch, rms_scale


class ConvTasNetDenoiser(nn.Module):
    """Noisy `(batch, time)` or `(batch, 1, time)` -> estimates `(batch, n_src, time)`, same length.

    Argument names follow the paper (N, L, B, H, P, X, R). With
    `input_normalization` the input is scaled to unit RMS and the estimates
    scaled back, so the model sees the same level whatever the recording's.
    """

    def __init__(
        self,
        n_src: int = 1,
        N: int = 512,
        L: int = 16,
        B: int = 128,
        H: int = 512,
        P: int = 3,
        X: int = 8,
        R: int = 3,
        mask_activation: str = "sigmoid",
        input_normalization: bool = True,
    ):
        super().__init__()
        if n_src not in (1, 2):
            raise ValueError(f"ConvTasNetDenoiser n_src must be 1 (speech) or 2 (speech, noise), got {n_src}")
        if L % 2:
            raise ValueError(f"ConvTasNetDenoiser L must be even (the encoder hops L/2), got {L}")
        self.n_src = n_src
        self.input_normalization = input_normalization
        self.net = ConvTasNet(
            num_sources=n_src, enc_kernel_size=L, enc_num_feats=N, msk_kernel_size=P, msk_num_feats=B,
            msk_num_hidden_feats=H, msk_num_layers=X, msk_num_stacks=R, msk_activate=mask_activation,
        )

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        """`(batch, time)` or `(batch, 1, time)` -> `(batch, n_src, time)`."""
        noisy = mono_batch(noisy, "ConvTasNetDenoiser")
        scale = rms_scale(noisy) if self.input_normalization else torch.ones_like(noisy[:, :1])
        # torchaudio pads to whole encoder hops itself and crops back to the input length.
        return self.net((noisy / scale).unsqueeze(1)) * scale.unsqueeze(-1)
