"""Supervised (PN) training: the model's own loss against the clean reference."""

from __future__ import annotations

from torch import Tensor, nn

from separation.losses.enhance import ENHANCE_LOSSES, enhancement_targets
from separation.objectives.base import FamilyLoss, Objective


class Supervised(Objective):
    """Parallel clean/noisy pairs. A two-source model is also taught the noise (noisy - clean).

    The speech estimate is the model's first output source.
    """

    name = "supervised"
    needs_noise_only = False

    def __init__(self, loss: str | None = None):
        # `loss` replaces the model family's own loss (e.g. neg_si_snr for CleanUNet, whose L1 + STFT
        # loss spends a short budget on the output's gain, which SI-SNR does not see); None keeps it.
        if loss is not None and loss not in ENHANCE_LOSSES:
            raise ValueError(f"objective.args.loss must be one of {', '.join(ENHANCE_LOSSES)}, got {loss!r}")
        self.loss_name = loss  # the training shell builds it in the family loss's place (a module on its device)

    def loss(self, model: nn.Module, batch: dict[str, Tensor], family_loss: FamilyLoss) -> Tensor:
        estimate = model(batch["noisy"])  # (batch, sources, time)
        targets = enhancement_targets(batch["clean"], batch["noisy"], estimate.shape[1])
        return family_loss(estimate, targets)

    def enhance(self, model: nn.Module, noisy: Tensor) -> Tensor:
        return model(noisy)[:, :1]
