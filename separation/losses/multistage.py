"""SVoice's deep-supervision loss over the outputs of every separation stage."""

from torch import Tensor

from .pit import pit_si_snr


def multistage_pit_si_snr(stage_estimates: Tensor, reference: Tensor, method: str = "auto") -> Tensor:
    """Weighted PIT SI-SNR loss of all stages, later stages weighing more.

    stage_estimates: (stages, batch, sources, time), reference: (batch, sources, time).
    With R stages, loss = (1/R) * sum_{i=1..R} (i/R) * pit_si_snr(stage i), the
    permutation searched independently per stage (as in SVoice's solver).
    The weights sum to (R+1)/(2R), not 1, so this training loss is on another
    scale than the validation loss, which callers compute with pit_si_snr on
    the last stage only (stage_estimates[-1]). Returns a differentiable scalar.
    """
    if stage_estimates.dim() != 4 or stage_estimates.shape[0] < 1 or stage_estimates.shape[1:] != reference.shape:
        raise ValueError(
            "multistage_pit_si_snr expects stage_estimates (stages, batch, sources, time) "
            f"and reference (batch, sources, time); got {tuple(stage_estimates.shape)} "
            f"and {tuple(reference.shape)}"
        )
    stages = stage_estimates.shape[0]
    total = 0
    for i, estimate in enumerate(stage_estimates, start=1):
        loss, _ = pit_si_snr(estimate, reference, method)
        total = total + (i / stages) * loss
    return total / stages
