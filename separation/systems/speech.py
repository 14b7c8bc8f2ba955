"""Training shell for speaker separation: PIT SI-SNR in, SI-SNR/SI-SNRi out.

Training uses every stage a multi-stage model emits (SVoice's weighted sum);
validation and test use the final output only, so the two losses are on
different scales by design (as in the SVoice reference).
"""

from __future__ import annotations

import inspect

import torch

from separation.config import Config
from separation.losses import multistage_pit_si_snr, pit_si_snr, reorder_sources, si_snr, si_snr_improvement
from separation.models import MODELS
from separation.systems.base import SeparationSystem, peak_normalised


def speech_model_args(config: Config) -> dict:
    """Constructor arguments: the data's sizes where the model takes them, then `model.args`."""
    accepted = inspect.signature(MODELS[config.model.name].__init__).parameters
    from_data = {
        "n_src": config.data.n_src,
        "sample_rate": config.data.sample_rate,
        "segment_seconds": config.data.segment_seconds,
    }
    args = {key: value for key, value in from_data.items() if key in accepted}
    args.update(config.model.args)
    return args


class SpeechSeparationSystem(SeparationSystem):
    def __init__(self, config: Config):
        super().__init__(config, speech_model_args(config))

    def forward(self, mixture: torch.Tensor) -> torch.Tensor:
        """(batch, time) -> (batch, sources, time) in eval mode; (stages, batch, sources, time) in training."""
        return self.model(mixture)

    def training_step(self, batch, batch_idx):
        mixture, sources = batch["mixture"], batch["sources"]
        estimates = self.model(mixture)
        if estimates.dim() == 3:  # single-output models are a one-stage special case
            estimates = estimates.unsqueeze(0)
        loss = multistage_pit_si_snr(estimates, sources)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=mixture.shape[0],
                 sync_dist=True)
        return self.guard_loss(loss)

    def _evaluate(self, batch, stage: str):
        mixture, sources = batch["mixture"], batch["sources"]
        estimates = self.model(mixture)
        loss, permutation = pit_si_snr(estimates, sources)
        aligned = reorder_sources(estimates, permutation)
        sisnr = si_snr(aligned, sources).mean()
        sisnri = si_snr_improvement(aligned, sources, mixture).mean()
        size = mixture.shape[0]
        self.log(f"{stage}/loss", loss, sync_dist=True, batch_size=size)
        self.log(f"{stage}/si_snr", sisnr, sync_dist=True, batch_size=size, prog_bar=stage == "val")
        self.log(f"{stage}/si_snri", sisnri, sync_dist=True, batch_size=size, prog_bar=stage == "val")
        return mixture, sources, aligned

    def validation_step(self, batch, batch_idx):
        mixture, sources, aligned = self._evaluate(batch, "val")
        if batch_idx < self.config.trainer.audio_examples:
            self._log_audio(batch_idx, mixture[0], sources[0], aligned[0])

    def test_step(self, batch, batch_idx):
        mixture, _, aligned = self._evaluate(batch, "test")
        self.collapse_probe.update(aligned, mixture)

    def _log_audio(self, index: int, mixture, sources, estimates) -> None:
        board = self.tensorboard()
        if board is None or not torch.isfinite(estimates).all():
            return
        rate = self.config.data.sample_rate
        step = self.global_step
        write = board.experiment.add_audio
        write(f"example{index}/mixture", peak_normalised(mixture.float()).cpu(), step, sample_rate=rate)
        for source in range(estimates.shape[0]):
            write(f"example{index}/estimate{source + 1}", peak_normalised(estimates[source].float()).cpu(), step, sample_rate=rate)
            if step == 0 or self.current_epoch == 0:
                write(f"example{index}/reference{source + 1}", peak_normalised(sources[source].float()).cpu(), step, sample_rate=rate)
