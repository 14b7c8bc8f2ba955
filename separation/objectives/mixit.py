"""Mixture invariant training (MixIT) for enhancement from noisy speech and noise-only clips.

Wisdom, Tzinis, Erdogan, Weiss, Wilson and Hershey, "Unsupervised sound
separation using mixture invariant training", NeurIPS 2020. PULSE (Ito &
Sugiyama, ICASSP 2023) uses it as the baseline that learns from the same data
as PU learning, and so does this suite:

- Two training mixtures per item: x1 = the noisy utterance, x2 = a noise-only
  clip. The model sees their sum x1 + x2 (the "mixture of mixtures") and
  outputs M >= 2 sources `(batch, M, time)`.
- A mixing matrix A in {0, 1}^(2 x M) with one 1 per column assigns every
  source to one mixture; the remix is A @ estimates `(batch, 2, time)`. The
  loss is the best assignment's, searched exhaustively (2^M matrices,
  vectorised over the batch and the assignments):

      L = min_A sum_i SNRloss(x_i, [A estimates]_i)
      SNRloss(y, y^) = 10 log10(|y - y^|^2 + tau |y|^2) - 10 log10 |y|^2,  tau = 10^(-SNRmax / 10)

  with SNRmax = 30 dB as Wisdom et al.: the soft threshold stops a source that
  is already 30 dB good from dominating the gradient (the minimum of each term
  is -SNRmax, reached by a perfect remix).
- Speech source and inference rule: source 0 is the speech. Training only
  searches the 2^(M-1) assignments that put source 0 into the noisy mixture,
  as PULSE's MixIT baseline does (its source 0 always joins the noisy
  mixture; the others may go either way). Because the noise of the noisy
  utterance and the noise-only clip are of the same kind, no source can know
  which mixture a stretch of noise came from, so any noise left in source 0
  is mis-assigned whenever it came from the clip: the loss is lowest when
  source 0 holds the speech only and the other sources split the noise. At
  inference the model is fed the noisy utterance alone and source 0 is the
  speech estimate (PULSE: the sigmoid mask of output 0 on the noisy STFT).
  Without the constraint nothing names the speech source at test time, where
  there is no second mixture to assign against.

Where this differs from PULSE's code: PULSE's MixIT loss is a squared error
between remixed masked magnitudes and the mixtures' magnitudes, with M = 3 and
only the two assignments that send exactly one of sources 1, 2 to the noise;
here the loss is Wisdom et al.'s waveform SNR loss over all assignments with
source 0 fixed (for M = 3 also the two that send both or neither noise source
to the noise clip). Mixture consistency (Wisdom et al.'s optional projection)
is not applied.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from separation.objectives.base import FamilyLoss, Objective


def snr_loss(estimate: Tensor, reference: Tensor, snr_max: float = 30.0, eps: float = 1e-8) -> Tensor:
    """Negative SNR (dB) with a soft threshold: `(..., time)` twice -> `(...)`.

    `10 log10(|y - y^|^2 + tau |y|^2) - 10 log10 |y|^2` with `tau = 10^(-snr_max / 10)`;
    `eps` (added to both energies) keeps an all-zero reference finite.
    """
    tau = 10.0 ** (-snr_max / 10.0)
    reference_energy = reference.pow(2).sum(-1)
    error_energy = (reference - estimate).pow(2).sum(-1)
    return 10 * torch.log10(error_energy + tau * reference_energy + eps) - 10 * torch.log10(reference_energy + eps)


def assignment_matrices(n_sources: int, n_mixtures: int = 2, source0_to: int | None = None) -> Tensor:
    """Every mixing matrix `(K, n_mixtures, n_sources)` with exactly one 1 per column (source -> mixture).

    Matrix k sends source m to mixture `(k // n_mixtures**m) % n_mixtures`, so K = n_mixtures^n_sources;
    `source0_to` keeps only those sending source 0 to that mixture (K / n_mixtures of them).
    """
    if n_sources < 1 or n_mixtures < 1:
        raise ValueError(f"assignment_matrices needs n_sources >= 1 and n_mixtures >= 1, got {n_sources}, {n_mixtures}")
    index = torch.arange(n_mixtures**n_sources)
    targets = torch.stack([(index // n_mixtures**m) % n_mixtures for m in range(n_sources)], dim=1)  # (K, M)
    if source0_to is not None:
        targets = targets[targets[:, 0] == source0_to]
    return nn.functional.one_hot(targets, n_mixtures).transpose(1, 2).float()


def mixit_losses(estimates: Tensor, mixtures: Tensor, assignments: Tensor, snr_max: float = 30.0) -> Tensor:
    """The loss of every assignment: estimates `(batch, M, time)`, mixtures `(batch, N, time)`,
    assignments `(K, N, M)` -> `(batch, K)`, summed over the N mixtures."""
    if estimates.dim() != 3 or mixtures.dim() != 3 or estimates.shape[0] != mixtures.shape[0] \
            or estimates.shape[-1] != mixtures.shape[-1]:
        raise ValueError(f"mixit expects estimates (batch, sources, time) and mixtures (batch, mixtures, time) of one "
                         f"batch and length, got {tuple(estimates.shape)} and {tuple(mixtures.shape)}")
    if assignments.shape[1:] != (mixtures.shape[1], estimates.shape[1]):
        raise ValueError(f"mixit assignments must be (K, {mixtures.shape[1]}, {estimates.shape[1]}), "
                         f"got {tuple(assignments.shape)}")
    remixes = torch.einsum("knm,bmt->bknt", assignments.to(estimates), estimates)  # (batch, K, N, time)
    return snr_loss(remixes, mixtures.unsqueeze(1), snr_max).sum(-1)


def mixit_loss(estimates: Tensor, mixtures: Tensor, assignments: Tensor | None = None, snr_max: float = 30.0) -> Tensor:
    """Mean over the batch of the best assignment's loss; all `N^M` assignments unless `assignments` is given."""
    if assignments is None:
        assignments = assignment_matrices(estimates.shape[1], mixtures.shape[1])
    return mixit_losses(estimates, mixtures, assignments, snr_max).min(dim=1).values.mean()


def model_sources(model: nn.Module) -> int:
    """How many sources a suite model outputs (its `n_src`; models without one output one)."""
    return int(getattr(model, "n_src", 1))


class MixIT(Objective):
    """MixIT on (noisy utterance, noise-only clip); source 0 is the speech (module docstring).

    Args:
        snr_max: the soft threshold of the SNR loss in dB (tau = 10^(-snr_max / 10)); Wisdom et al. use 30.
    """

    name = "mixit"
    needs_noise_only = True
    min_sources = 2  # source 0 the speech, the rest whatever the mixture of mixtures holds
    max_sources = None

    def __init__(self, snr_max: float = 30.0):
        if isinstance(snr_max, bool) or not isinstance(snr_max, (int, float)) or not math.isfinite(snr_max) \
                or snr_max <= 0:
            raise ValueError(f"mixit snr_max must be a positive number of dB, got {snr_max!r}")
        self.snr_max = float(snr_max)
        self._assignments: dict[int, Tensor] = {}

    def check_model(self, model_name: str, model: nn.Module) -> None:
        sources = model_sources(model)
        if sources < 2:
            raise ValueError(f"MixIT needs a model with at least 2 output sources (source 0 the speech), "
                             f"'{model_name}' outputs {sources}; set model.args.n_src (PULSE's MixIT CNN: 3)")

    def assignments(self, n_sources: int) -> Tensor:
        """The searched assignments `(2^(M-1), 2, M)`: source 0 always to the noisy mixture (index 0)."""
        if n_sources not in self._assignments:
            self._assignments[n_sources] = assignment_matrices(n_sources, 2, source0_to=0)
        return self._assignments[n_sources]

    def loss(self, model: nn.Module, batch: dict[str, Tensor], family_loss: FamilyLoss) -> Tensor:
        noisy, noise = batch["noisy"], batch["noise_only"]  # (batch, 1, time) each
        if noisy.shape != noise.shape:
            raise ValueError(f"mixit needs noisy and noise_only clips of one shape, got {tuple(noisy.shape)} "
                             f"and {tuple(noise.shape)}")
        estimates = model(noisy + noise)  # (batch, M, time)
        return mixit_loss(estimates, torch.cat([noisy, noise], dim=1), self.assignments(estimates.shape[1]),
                          self.snr_max)

    def enhance(self, model: nn.Module, noisy: Tensor) -> Tensor:
        return model(noisy)[:, :1]
