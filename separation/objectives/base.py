"""What a training objective of the enhancement task is: one class per objective.

An objective decides what a training batch teaches the model and how a trained
model's output becomes the speech estimate. It is chosen by `objective.name` in
the config (registry `separation.objectives.OBJECTIVES`), its constructor
arguments come from `objective.args`, and it never touches the optimizer,
scheduler or clipping: those axes stay exactly as for every other task.

Batches (from the enhancement datamodule), all float tensors on the model's device:
    "noisy":      (batch, 1, time)  noisy speech, the model's input at inference
    "clean":      (batch, 1, time)  the clean reference (used by supervised training only)
    "noise_only": (batch, 1, time)  a noise-only clip from the same noise sources
                                    (present when the dataset has them; see `needs_noise_only`)
"""

from __future__ import annotations

from typing import Callable

from torch import Tensor, nn

# The model family's own loss (`separation.losses.enhance.default_loss`): (estimate, target) -> scalar,
# both `(batch, sources, time)`.
FamilyLoss = Callable[[Tensor, Tensor], Tensor]


class Objective:
    """Base class. Subclasses set `name` / `needs_noise_only` and implement `loss` and `enhance`.

    Constructor keyword arguments are the objective's settings (`objective.args`),
    checked against the signature when the config is read.
    """

    name: str = ""
    # True when the loss needs batch["noise_only"]: training refuses datasets without them.
    needs_noise_only: bool = False
    # Output sources a model may have under this objective (checked when the config is read):
    # speech, or speech and noise, unless the objective says otherwise (None: no upper bound).
    min_sources: int = 1
    max_sources: int | None = 2

    def check_model(self, model_name: str, model: nn.Module) -> None:
        """Raise ValueError (one line) when `model` cannot be trained with this objective."""

    def loss(self, model: nn.Module, batch: dict[str, Tensor], family_loss: FamilyLoss) -> Tensor:
        """The scalar to minimise for one training batch."""
        raise NotImplementedError

    def enhance(self, model: nn.Module, noisy: Tensor) -> Tensor:
        """`(batch, 1, time)` noisy speech -> `(batch, 1, time)` speech estimate (inference rule)."""
        raise NotImplementedError
