"""Scale-invariant signal-to-noise ratio (SI-SNR) in dB, per source and pairwise."""

import torch
from torch import Tensor


def _working_dtype(x: Tensor) -> torch.dtype:
    # Half precision loses the small noise energies of good estimates; float64 is kept.
    return torch.promote_types(x.dtype, torch.float32)


def _check_3d(name: str, estimate: Tensor, reference: Tensor) -> None:
    if estimate.dim() != 3 or reference.dim() != 3:
        raise ValueError(
            f"{name} expects estimate and reference of shape (batch, sources, time); "
            f"got estimate {tuple(estimate.shape)} and reference {tuple(reference.shape)}"
        )


def _zero_mean(x: Tensor) -> Tensor:
    return x - x.mean(dim=-1, keepdim=True)


def si_snr(estimate: Tensor, reference: Tensor, eps: float = 1e-8) -> Tensor:
    """SI-SNR of each estimate against the reference at the same index.

    estimate, reference: (batch, sources, time). Returns (batch, sources) in dB,
    in float32 (float64 inputs stay float64) whatever autocast is active.
    Both signals are made zero-mean; the estimate is projected on the reference.
    `eps` keeps a silent reference or estimate finite with a finite gradient:
    values are floored at 10*log10(eps) (-80 dB), and silence scores the floor
    rather than being rewarded.
    """
    _check_3d("si_snr", estimate, reference)
    if estimate.shape != reference.shape:
        raise ValueError(
            "si_snr expects estimate and reference of equal shape (batch, sources, time); "
            f"got estimate {tuple(estimate.shape)} and reference {tuple(reference.shape)}"
        )
    with torch.autocast(device_type=estimate.device.type, enabled=False):
        est = _zero_mean(estimate.to(_working_dtype(estimate)))
        ref = _zero_mean(reference.to(est.dtype))
        scale = (est * ref).sum(-1, keepdim=True) / (ref.pow(2).sum(-1, keepdim=True) + eps)
        target = scale * ref
        noise = est - target
        ratio = target.pow(2).sum(-1) / (noise.pow(2).sum(-1) + eps)
        return 10 * torch.log10(ratio.clamp_min(eps))


def pairwise_si_snr(estimate: Tensor, reference: Tensor, eps: float = 1e-8) -> Tensor:
    """SI-SNR of every estimate against every reference.

    estimate: (batch, n_est, time), reference: (batch, n_ref, time).
    Returns (batch, n_est, n_ref) in dB; entry [b, i, j] equals
    si_snr(estimate[b, i], reference[b, j]) algebraically.

    Works from the Gram matrices (one batched matmul, no (n_est, n_ref, time)
    tensor), so the noise energy is a difference of energies: in float32 it
    saturates near 70 dB for near-perfect estimates. That is far above any
    separation quality, so the matrix serves the permutation search; pit_si_snr
    evaluates the chosen pairs exactly with si_snr.
    """
    _check_3d("pairwise_si_snr", estimate, reference)
    if estimate.shape[0] != reference.shape[0] or estimate.shape[-1] != reference.shape[-1]:
        raise ValueError(
            "pairwise_si_snr expects equal batch and time sizes; "
            f"got estimate {tuple(estimate.shape)} and reference {tuple(reference.shape)}"
        )
    with torch.autocast(device_type=estimate.device.type, enabled=False):
        est = _zero_mean(estimate.to(_working_dtype(estimate)))
        ref = _zero_mean(reference.to(est.dtype))
        dot = torch.bmm(est, ref.transpose(1, 2))  # (batch, n_est, n_ref)
        est_energy = est.pow(2).sum(-1).unsqueeze(2)  # (batch, n_est, 1)
        ref_energy = ref.pow(2).sum(-1).unsqueeze(1)  # (batch, 1, n_ref)
        scale = dot / (ref_energy + eps)
        target_energy = scale.pow(2) * ref_energy
        # |est - scale*ref|^2 expanded; rounding can make it slightly negative.
        noise_energy = (est_energy - 2 * scale * dot + target_energy).clamp_min(0)
        ratio = target_energy / (noise_energy + eps)
        return 10 * torch.log10(ratio.clamp_min(eps))


def si_snr_improvement(estimate_aligned: Tensor, reference: Tensor, mixture: Tensor) -> Tensor:
    """SI-SNR gain of aligned estimates over the unprocessed mixture.

    estimate_aligned, reference: (batch, sources, time), already in the same
    source order (see reorder_sources). mixture: (batch, time) or
    (batch, 1, time). Returns (batch, sources) in dB.
    """
    if mixture.dim() == 2:
        mixture = mixture.unsqueeze(1)
    if mixture.dim() != 3 or mixture.shape[1] != 1 or mixture.shape[::2] != reference.shape[::2]:
        raise ValueError(
            "si_snr_improvement expects mixture of shape (batch, time) or (batch, 1, time) "
            f"matching reference {tuple(reference.shape)}; got mixture {tuple(mixture.shape)}"
        )
    baseline = si_snr(mixture.expand_as(reference), reference)
    return si_snr(estimate_aligned, reference) - baseline
