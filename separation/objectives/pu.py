"""PU learning for enhancement (PULSE): a per-bin noise classifier from noise-only clips and noisy speech.

Ito and Sugiyama, "Audio signal enhancement with learning from positive and
unlabelled data", ICASSP 2023; the risk estimator is Kiryo, Niu, du Plessis
and Sugiyama, "Positive-unlabeled learning with non-negative risk estimator",
NeurIPS 2017 (nnPU), after du Plessis, Niu and Sugiyama's unbiased PU risk.

Data: every time-frequency bin of a noise-only clip is a labelled positive
(noise); every bin of a noisy utterance is unlabelled (noise or speech). The
model gives a noise logit g per bin; the class prior pi is the fraction of
unlabelled bins that are noise (default 0.7, PULSE's TIMIT setting).

Loss: the sigmoid loss l(z, y) = sigmoid(-y z) (y = +1 noise, -1 speech), each
bin weighted by w = (|X| + 1e-7)^p, |X| the magnitude of the STFT the model
sees (PULSE's weight; p = 1 by default, p = 0 is the unweighted loss). With
means over the positive bins P and the unlabelled bins U of a batch,

    R_p^+ = mean_P w l(g, +1)     R_p^- = mean_P w l(g, -1)     R_u^- = mean_U w l(g, -1)
    unbiased:      R = pi R_p^+ + (R_u^- - pi R_p^-)
    non-negative:  R = pi R_p^+ + max(0, R_u^- - pi R_p^-)

(the bracket estimates the speech part, pi_s R_n^-, which cannot be negative;
an over-fitted classifier drives the unbiased estimate below zero). `pu_risk`
returns these values. Training (`pu_training_loss`) follows Kiryo et al.'s
Algorithm 1: while R_u^- - pi R_p^- >= -beta the step descends
pi R_p^+ + (R_u^- - pi R_p^-) (for beta = 0 that is the nn risk itself); otherwise it steps along
+gamma * grad(R_u^- - pi R_p^-), i.e. it minimises -gamma (R_u^- - pi R_p^-),
pushing the negative estimate back up instead of exploiting it. The returned
value is the nn risk either way (only the gradient follows the algorithm), so
`train/loss` is comparable across steps. Defaults
beta = 0, gamma = 1 are Kiryo et al.'s; PULSE's code uses beta = 0 and
gamma = 0.096 (there written gamma * (beta - neg), the same gradient).

Model: `pulse_cnn` (`bin_logits`, one output). Its logit reads "this bin is
speech", so the noise logit is g = -bin_logits: the speech mask
1 - sigmoid(g) = sigmoid(bin_logits) is exactly the mask `PulseCNN.forward`
applies to the noisy STFT, and with `hard_mask` its `logit > 0` is PULSE's
test-time rule g < 0. Positive and unlabelled clips go through the network in
one batch, as in PULSE's mixed batches. The weights come from `PulseCNN.stft`,
the input scaled to unit RMS, as PULSE weights by the STFT of its
unit-variance clips.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from separation.objectives.base import FamilyLoss, Objective

MODES = ("nn", "unbiased")
WEIGHT_EPS = 1e-7  # PULSE's: keeps a zero bin's weight finite for p < 0 and its gradient finite


def sigmoid_loss(logits: Tensor, label: float) -> Tensor:
    """l(z, y) = sigmoid(-y z), elementwise; y = +1 (positive, noise) or -1 (negative, speech)."""
    return torch.sigmoid(-label * logits)


def pu_risks(logits: Tensor, positive: Tensor, weights: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """(R_p^+, R_p^-, R_u^-): weighted sigmoid losses averaged over the positive and the unlabelled bins.

    logits, positive (1 = labelled positive, 0 = unlabelled) and weights (default 1): one shape, any.
    """
    if positive.shape != logits.shape or (weights is not None and weights.shape != logits.shape):
        raise ValueError(f"pu risk expects logits, labels and weights of one shape, got {tuple(logits.shape)}, "
                         f"{tuple(positive.shape)}, {None if weights is None else tuple(weights.shape)}")
    positive = positive.to(logits.dtype)
    unlabelled = 1 - positive
    n_positive, n_unlabelled = positive.sum(), unlabelled.sum()
    if n_positive == 0 or n_unlabelled == 0:
        raise ValueError(f"pu risk needs positive and unlabelled bins, got {int(n_positive)} and {int(n_unlabelled)}")
    weights = torch.ones_like(logits) if weights is None else weights.to(logits.dtype)
    as_positive, as_negative = weights * sigmoid_loss(logits, +1), weights * sigmoid_loss(logits, -1)
    return ((positive * as_positive).sum() / n_positive, (positive * as_negative).sum() / n_positive,
            (unlabelled * as_negative).sum() / n_unlabelled)


def _check(prior: float, mode: str) -> None:
    if not 0 < prior < 1:
        raise ValueError(f"pu prior must be in (0, 1), got {prior!r}")
    if mode not in MODES:
        raise ValueError(f"pu mode must be one of {', '.join(MODES)}, got {mode!r}")


def pu_risk(logits: Tensor, positive: Tensor, weights: Tensor | None = None, prior: float = 0.7,
            mode: str = "nn") -> Tensor:
    """The PU risk estimate (scalar): `pi R_p^+ + (R_u^- - pi R_p^-)`, its bracket floored at 0 when `mode` is nn."""
    _check(prior, mode)
    r_p_pos, r_p_neg, r_u_neg = pu_risks(logits, positive, weights)
    negative = r_u_neg - prior * r_p_neg
    return prior * r_p_pos + (negative.clamp_min(0) if mode == "nn" else negative)


def pu_training_loss(logits: Tensor, positive: Tensor, weights: Tensor | None = None, prior: float = 0.7,
                     mode: str = "nn", beta: float = 0.0, gamma: float = 1.0) -> Tensor:
    """The scalar to back-propagate: the unbiased risk, or for nn Kiryo et al.'s Algorithm 1.

    nn: the gradient is the unbiased risk's while `R_u^- - pi R_p^- >= -beta` and
    `-gamma` times the bracket's below; the value is
    the nn risk either way, so a logged training loss always reads as that risk.
    """
    _check(prior, mode)
    r_p_pos, r_p_neg, r_u_neg = pu_risks(logits, positive, weights)
    negative = r_u_neg - prior * r_p_neg
    unbiased = prior * r_p_pos + negative
    if mode == "unbiased":
        return unbiased
    surrogate = -gamma * negative if negative < -beta else unbiased
    risk = prior * r_p_pos + negative.clamp_min(0)
    return risk.detach() + (surrogate - surrogate.detach())


def _positive_number(name: str, value, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"pu {name} must be a {'non-negative' if allow_zero else 'positive'} number, got {value!r}")
    return float(value)


class PU(Objective):
    """nnPU / unbiased PU learning of a per-bin noise classifier (module docstring).

    Args:
        prior: class prior pi of noise among the unlabelled (noisy) bins, in (0, 1); PULSE: 0.7.
        p: exponent of the magnitude weight (|X| + 1e-7)^p; 1 is PULSE's weighted loss, 0 the unweighted one.
        mode: "nn" (non-negative risk, Kiryo et al.) or "unbiased" (du Plessis et al.).
        beta: nn only: the step turns to pushing R_u^- - pi R_p^- back up once it is below -beta.
        gamma: nn only: the size of that step, relative to a risk step.
    """

    name = "pu"
    needs_noise_only = True

    def __init__(self, prior: float = 0.7, p: float = 1.0, mode: str = "nn", beta: float = 0.0, gamma: float = 1.0):
        if isinstance(prior, bool) or not isinstance(prior, (int, float)):
            raise ValueError(f"pu prior must be a number in (0, 1), got {prior!r}")
        _check(float(prior), mode)
        self.prior, self.mode = float(prior), mode
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p):
            raise ValueError(f"pu p must be a number (the weight's exponent), got {p!r}")
        self.p = float(p)
        self.beta = _positive_number("beta", beta, allow_zero=True)
        self.gamma = _positive_number("gamma", gamma)

    def check_model(self, model_name: str, model: nn.Module) -> None:
        if not (hasattr(model, "bin_logits") and hasattr(model, "stft")):
            raise ValueError(f"PU learning needs a per-bin classifier (a model with bin_logits, e.g. pulse_cnn); "
                             f"'{model_name}' has none")
        sources = int(getattr(model, "n_src", 1))
        if sources != 1:
            raise ValueError(f"PU learning needs one logit per bin (model.args.n_src 1), '{model_name}' has {sources}")

    def loss(self, model: nn.Module, batch: dict[str, Tensor], family_loss: FamilyLoss) -> Tensor:
        noise, noisy = batch["noise_only"], batch["noisy"]  # (batch, 1, time) each
        if noise.shape != noisy.shape:
            raise ValueError(f"pu needs noisy and noise_only clips of one shape, got {tuple(noisy.shape)} "
                             f"and {tuple(noise.shape)}")
        clips = torch.cat([noise, noisy])  # positives first: (2 batch, 1, time)
        noise_logits = -model.bin_logits(clips).float()  # (2 batch, 1, freq, frames); risks in float32
        with torch.no_grad():  # the weights are data, as in PULSE
            spectrum, _ = model.stft(clips[:, 0])
            weights = (spectrum.abs() + WEIGHT_EPS).float().pow(self.p).unsqueeze(1)
        positive = torch.zeros_like(noise_logits)
        positive[: noise.shape[0]] = 1
        return pu_training_loss(noise_logits, positive, weights, self.prior, self.mode, self.beta, self.gamma)

    def enhance(self, model: nn.Module, noisy: Tensor) -> Tensor:
        # PulseCNN.forward masks with sigmoid(bin_logits) = 1 - P(noise), or PULSE's P(noise) < 1/2 with hard_mask.
        return model(noisy)[:, :1]
