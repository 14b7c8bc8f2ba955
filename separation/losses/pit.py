"""Permutation-invariant training: assign estimates to references, then score them.

A permutation is a LongTensor (batch, n_src) where permutation[b, j] is the
index of the estimate assigned to reference j.
"""

import functools
import itertools

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from .si_snr import pairwise_si_snr, si_snr

METHODS = ("auto", "exhaustive", "hungarian")
# n! permutations are enumerated up to here; the Hungarian algorithm is exact above.
MAX_EXHAUSTIVE_AUTO = 3


@functools.lru_cache(maxsize=None)
def _all_permutations(n_src: int) -> Tensor:
    """(n_src!, n_src) LongTensor, one permutation per row, on the CPU."""
    return torch.tensor(list(itertools.permutations(range(n_src))), dtype=torch.long)


def _exhaustive(pairwise_loss: Tensor) -> Tensor:
    batch, n_src, _ = pairwise_loss.shape
    perms = _all_permutations(n_src).to(pairwise_loss.device)
    refs = torch.arange(n_src, device=pairwise_loss.device)
    # (batch, n_perms, n_src): loss of each reference under each permutation.
    per_perm = pairwise_loss.detach()[:, perms, refs].mean(-1)
    return perms[per_perm.argmin(dim=1)]


def _hungarian(pairwise_loss: Tensor) -> Tensor:
    # Non-finite entries would make scipy raise; a diverged run must instead
    # yield a non-finite loss, which the gather from the device matrix keeps.
    costs = torch.nan_to_num(pairwise_loss.detach().double().cpu(), nan=1e30, posinf=1e30, neginf=-1e30)
    rows = []
    for cost in costs.numpy():
        # Rows are references, so the column of row j is the estimate for reference j.
        _, est_index = linear_sum_assignment(cost.T)
        rows.append(torch.from_numpy(est_index))
    return torch.stack(rows).to(pairwise_loss.device)


def find_best_permutation(pairwise_loss: Tensor, method: str = "auto") -> tuple[Tensor, Tensor]:
    """Assignment of estimates to references that minimises the mean loss.

    pairwise_loss: (batch, n_src, n_src), entry [b, i, j] the loss of estimate i
    against reference j (lower is better). method: "exhaustive" enumerates all
    permutations (vectorised; memory grows as batch * n_src! * n_src, so keep
    it to about 8 sources), "hungarian" solves the assignment with scipy on
    a detached CPU copy, "auto" picks exhaustive up to 3 sources.
    Returns (best_loss (batch,), permutation (batch, n_src)); best_loss is the
    mean over references, gathered from `pairwise_loss` so gradients flow.
    """
    if method not in METHODS:
        raise ValueError(f"find_best_permutation: method must be one of {METHODS}; got {method!r}")
    if pairwise_loss.dim() != 3 or pairwise_loss.shape[1] != pairwise_loss.shape[2]:
        raise ValueError(
            "find_best_permutation expects a square pairwise loss (batch, n_src, n_src); "
            f"got {tuple(pairwise_loss.shape)}"
        )
    n_src = pairwise_loss.shape[1]
    if method == "exhaustive" or (method == "auto" and n_src <= MAX_EXHAUSTIVE_AUTO):
        permutation = _exhaustive(pairwise_loss)
    else:
        permutation = _hungarian(pairwise_loss)
    best_loss = pairwise_loss.gather(1, permutation.unsqueeze(1)).squeeze(1).mean(-1)
    return best_loss, permutation


def reorder_sources(estimate: Tensor, permutation: Tensor) -> Tensor:
    """Estimates in reference order: out[b, j] = estimate[b, permutation[b, j]].

    estimate: (batch, sources, time), permutation: (batch, sources).
    Returns (batch, sources, time); differentiable with respect to `estimate`.
    """
    if estimate.dim() != 3 or permutation.shape != estimate.shape[:2]:
        raise ValueError(
            "reorder_sources expects estimate (batch, sources, time) and permutation (batch, sources); "
            f"got estimate {tuple(estimate.shape)} and permutation {tuple(permutation.shape)}"
        )
    # Row indexing copies whole source rows; gather with a time-expanded index is ~8x slower on CPU.
    batch_index = torch.arange(estimate.shape[0], device=estimate.device).unsqueeze(1)
    return estimate[batch_index, permutation.to(estimate.device)]


def pit_si_snr(estimate: Tensor, reference: Tensor, method: str = "auto") -> tuple[Tensor, Tensor]:
    """Permutation-invariant negative SI-SNR.

    estimate, reference: (batch, sources, time). Returns (loss, permutation):
    loss is a differentiable scalar, the batch mean of minus the mean-over-
    sources SI-SNR (dB) under the best permutation; permutation is
    (batch, sources) as in find_best_permutation.
    The search runs without autograd on the pairwise matrix; the loss is then
    recomputed exactly on the reordered estimates, so its value and gradient do
    not carry the matrix's float32 saturation and backward stores no matrix.
    """
    if estimate.shape != reference.shape:
        raise ValueError(
            "pit_si_snr expects estimate and reference of equal shape (batch, sources, time); "
            f"got estimate {tuple(estimate.shape)} and reference {tuple(reference.shape)}"
        )
    with torch.no_grad():
        _, permutation = find_best_permutation(-pairwise_si_snr(estimate, reference), method)
    loss = -si_snr(reorder_sources(estimate, permutation), reference).mean()
    return loss, permutation
