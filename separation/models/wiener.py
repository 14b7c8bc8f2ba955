"""Multichannel Wiener filtering of source estimates (the EM algorithm of norbert).

Each source j is modelled in every time-frequency bin as a zero-mean complex
Gaussian with covariance `v_j(f, n) R_j(f)`: a power spectral density times a
frequency-dependent spatial covariance. Starting from initial estimates
`y_j` (e.g. ratio-masked mixtures), one iteration re-estimates `v_j` and
`R_j` from the `y_j` and refines every estimate as

    y_j = v_j R_j (sum_k v_k R_k)^-1 x,

which keeps the sum of the estimates equal to the mixture up to the
regularisation. Frames are processed in blocks to bound memory on long tracks.
"""

from __future__ import annotations

import torch


def _spatial_covariances(estimates: torch.Tensor, block: int, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """PSDs `(batch, sources, freq, frames)` and spatial covariances `(batch, sources, freq, ch, ch)`."""
    psd = estimates.abs().square().mean(dim=2)
    covariance = None
    for start in range(0, estimates.shape[-1], block):
        y = estimates[..., start : start + block]  # (B, S, C, F, n)
        part = torch.einsum("bscfn,bsdfn->bsfcd", y, y.conj())
        covariance = part if covariance is None else covariance + part
    weight = psd.sum(dim=-1)[..., None, None] + eps
    return psd, covariance / weight


def wiener(
    mixture: torch.Tensor, estimates: torch.Tensor, iterations: int = 1, eps: float = 1e-10, block: int = 256
) -> torch.Tensor:
    """Refine complex source estimates with `iterations` EM steps of multichannel Wiener filtering.

    Args:
        mixture: `(batch, channels, freq, frames)` complex mixture STFT.
        estimates: `(batch, sources, channels, freq, frames)` complex initial estimates.
        iterations: EM iterations; 0 returns `estimates` unchanged.
        eps: regularisation of the mixture covariance and the PSD normalisation.
        block: frames per block in the filtering step.

    Returns:
        `(batch, sources, channels, freq, frames)` complex filtered estimates.
    """
    channels = mixture.shape[1]
    identity = torch.eye(channels, dtype=mixture.dtype, device=mixture.device)
    for _ in range(iterations):
        psd, spatial = _spatial_covariances(estimates, block, eps)
        filtered = torch.empty_like(estimates)
        for start in range(0, mixture.shape[-1], block):
            stop = start + block
            v = psd[..., start:stop].to(mixture.dtype)  # (B, S, F, n)
            source_cov = v[..., None, None] * spatial[:, :, :, None]  # (B, S, F, n, C, C)
            inverse = torch.linalg.inv(source_cov.sum(dim=1) + eps * identity)  # (B, F, n, C, C)
            x = mixture[..., start:stop].permute(0, 2, 3, 1)  # (B, F, n, C)
            gain = source_cov @ inverse[:, None]  # (B, S, F, n, C, C)
            y = (gain @ x[:, None, ..., None]).squeeze(-1)  # (B, S, F, n, C)
            filtered[..., start:stop] = y.permute(0, 1, 4, 2, 3)
        estimates = filtered
    return estimates
