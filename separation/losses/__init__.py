"""Separation losses and metrics: SI-SNR, permutation-invariant training, SVoice's multi-stage loss."""

from .multistage import multistage_pit_si_snr
from .pit import find_best_permutation, pit_si_snr, reorder_sources
from .si_snr import pairwise_si_snr, si_snr, si_snr_improvement

__all__ = [
    "si_snr",
    "pairwise_si_snr",
    "si_snr_improvement",
    "find_best_permutation",
    "reorder_sources",
    "pit_si_snr",
    "multistage_pit_si_snr",
]
