"""AutoClip: clip the gradient norm to a percentile of the norms seen so far.

Seetharaman, Wichern, Pardo and Le Roux 2020, "AutoClip: adaptive gradient
clipping for source separation networks". Each step the total gradient norm
(before clipping) joins the history first, then the step is clipped to the p-th
percentile of the whole history, this step included, as the authors' reference
implementation does (`np.percentile`, linear interpolation). The first step's
threshold is therefore its own norm: nothing is clipped until a history exists.

The history is training state: it goes into every checkpoint, so a resumed run
clips exactly as the uninterrupted one would have.
"""

from __future__ import annotations

import numpy as np
import torch


class AutoClip:
    """The norm history of one run and the threshold it gives at `percentile` (0, 100]."""

    def __init__(self, percentile: float):
        if not 0 < percentile <= 100:
            raise ValueError(f"AutoClip percentile must be in (0, 100], got {percentile!r}")
        self.percentile = float(percentile)
        self.history: list[float] = []

    def threshold(self, norm: float) -> float:
        """Record this step's pre-clip `norm` and return the norm to clip it to."""
        self.history.append(float(norm))
        return float(np.percentile(self.history, self.percentile))

    def state_dict(self) -> dict:
        # float64 holds every recorded norm exactly, and `torch.load(weights_only=True)` reads a tensor.
        return {"percentile": self.percentile, "history": torch.tensor(self.history, dtype=torch.float64)}

    def load_state_dict(self, state: dict) -> None:
        if float(state["percentile"]) != self.percentile:
            raise ValueError(f"the checkpoint's AutoClip percentile is {state['percentile']}, the config's {self.percentile}")
        self.history = [float(value) for value in state["history"].tolist()]
