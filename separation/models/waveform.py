"""Shared input handling of the single-channel enhancement models: one mono waveform per batch item."""

from __future__ import annotations

import torch


def mono_batch(noisy: torch.Tensor, model: str) -> torch.Tensor:
    """`(batch, time)` or `(batch, 1, time)` -> `(batch, time)`; a ValueError names the model otherwise."""
    if noisy.dim() == 3 and noisy.shape[1] == 1:
        noisy = noisy[:, 0]
    if noisy.dim() != 2:
        raise ValueError(f"{model} expects a noisy waveform of shape (batch, time) or (batch, 1, time), got {tuple(noisy.shape)}")
    return noisy


def rms_scale(noisy: torch.Tensor) -> torch.Tensor:
    """Per-item RMS `(batch, 1)` of `(batch, time)`, floored so silence does not divide by zero."""
    return noisy.pow(2).mean(dim=-1, keepdim=True).sqrt().clamp_min(1e-8)


IDENTITY_SPEECH_SHARE = 0.9  # a sigmoid mask cannot start at exactly 1 and still learn (its slope there is 0)


def identity_masks(n_src: int) -> list[float]:
    """The mask each source starts at under `identity_init`: 0.9 for the speech (source 0), the other
    0.1 shared by the rest, so the estimates sum to the input. Any constant mask scores the input's
    SI-SNR exactly (SI-SNR is scale invariant); 0.9 keeps a sigmoid's slope at 0.09 rather than 0."""
    if n_src == 1:
        return [IDENTITY_SPEECH_SHARE]
    return [IDENTITY_SPEECH_SHARE] + [(1 - IDENTITY_SPEECH_SHARE) / (n_src - 1)] * (n_src - 1)
