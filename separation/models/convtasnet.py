"""Conv-TasNet (Luo & Mesgarani 2019) for enhancement, through `torchaudio.models.ConvTasNet`.

The paper's best configuration is the default: N=512 encoder filters of L=16
samples, B=128 bottleneck and H=512 hidden channels, P=3 kernels, X=8 blocks
per repeat, R=3 repeats: 4,918,833 parameters with one source
(`sum(p.numel() for p in build_model('convtasnet').parameters())`); the paper reports 5.1 M.
`n_src=1` estimates the speech; `n_src=2` estimates
speech (source 0) and noise (source 1), trained against (clean, noisy - clean).

`identity_init` changes the initialisation only, not the architecture: the
decoder starts as an exact inverse of the (random) encoder (its weights the
encoder's pseudo-inverse times a periodic Hann window, whose half-overlapping
copies sum to one) and the mask head's last convolution starts with zero
weights and a bias giving constant masks (0.9 for the speech, the other 0.1
shared by the rest: `identity_masks`), so an untrained model returns 0.9 x its
input: SI-SNRi 0. The paper initialises both at random; this option is off by default so
checkpoints and studies trained before it rebuild exactly as they were.
"""

from __future__ import annotations

import torch
from torch import nn
from torchaudio.models import ConvTasNet

from separation.models.waveform import identity_masks, mono_batch, rms_scale


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
        identity_init: bool = False,
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
        if identity_init:
            if N < L:
                raise ValueError(f"ConvTasNetDenoiser identity_init needs N >= L (an invertible encoder), got N={N}, L={L}")
            self._init_identity(mask_activation)

    @torch.no_grad()
    def _init_identity(self, mask_activation: str) -> None:
        """Decoder = the encoder's inverse (overlap-add of Hann-windowed frames); masks constant."""
        encoder = self.net.encoder.weight[:, 0, :]  # (N, L)
        length = encoder.shape[1]
        window = torch.hann_window(length, periodic=True, dtype=torch.float64)  # w[n] + w[n + L/2] = 1
        decoder = window[:, None] * torch.linalg.pinv(encoder.double())  # (L, N): decoder^T encoder = diag(w)
        self.net.decoder.weight.copy_(decoder.T.unsqueeze(1).to(self.net.decoder.weight.dtype))
        head = self.net.mask_generator.output_conv  # N * n_src channels, source-major
        head.weight.zero_()
        masks = torch.tensor(identity_masks(self.n_src), dtype=torch.float64)
        bias = torch.logit(masks) if mask_activation == "sigmoid" else masks
        head.bias.copy_(bias.repeat_interleave(head.out_channels // self.n_src).to(head.bias.dtype))

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        """`(batch, time)` or `(batch, 1, time)` -> `(batch, n_src, time)`."""
        noisy = mono_batch(noisy, "ConvTasNetDenoiser")
        scale = rms_scale(noisy) if self.input_normalization else torch.ones_like(noisy[:, :1])
        # torchaudio pads to whole encoder hops itself and crops back to the input length.
        return self.net((noisy / scale).unsqueeze(1)) * scale.unsqueeze(-1)
