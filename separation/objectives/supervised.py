"""Supervised (PN) training: the model's own loss against the clean reference."""

from __future__ import annotations

from torch import Tensor, nn

from separation.losses.enhance import enhancement_targets
from separation.objectives.base import FamilyLoss, Objective


class Supervised(Objective):
    """Parallel clean/noisy pairs. A two-source model is also taught the noise (noisy - clean).

    The speech estimate is the model's first output source.
    """

    name = "supervised"
    needs_noise_only = False

    def loss(self, model: nn.Module, batch: dict[str, Tensor], family_loss: FamilyLoss) -> Tensor:
        estimate = model(batch["noisy"])  # (batch, sources, time)
        targets = enhancement_targets(batch["clean"], batch["noisy"], estimate.shape[1])
        return family_loss(estimate, targets)

    def enhance(self, model: nn.Module, noisy: Tensor) -> Tensor:
        return model(noisy)[:, :1]
