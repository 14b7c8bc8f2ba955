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
