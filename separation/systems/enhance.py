"""Training shell for speech enhancement: an objective's loss in, SI-SNR/SI-SNRi of the speech estimate out.

What a training batch teaches the model is the objective's business
(`config.objective`, registry `separation.objectives`), with the model family's
own loss (`separation.losses.enhance.default_loss`) handed to it; the
optimizer, scheduler and clipping axes are the base class's, as for every task.
Validation and test score `objective.enhance(model, noisy)` on whole utterances
(batch size 1) against the clean reference, in float32 whatever the training
precision; `val/loss` is minus the validation SI-SNR, so it means the same for
every objective and model family (a weakly supervised objective's own loss
needs clips that validation items do not have).
"""

from __future__ import annotations

import inspect

import torch

from separation.config import Config
from separation.errors import ConfigError
from separation.evaluation.collapse import WrongSourceProbe
from separation.losses import si_snr
from separation.losses.enhance import build_enhance_loss, default_loss
from separation.models import MODELS
from separation.objectives import build_objective
from separation.systems.base import SeparationSystem, peak_normalised


def enhance_model_args(config: Config) -> dict:
    """Constructor arguments: the data's rate where the model takes one, then `model.args`."""
    accepted = inspect.signature(MODELS[config.model.name].__init__).parameters
    args = {"sample_rate": config.data.sample_rate} if "sample_rate" in accepted else {}
    args.update(config.model.args)
    return args


def _sdr(estimate: torch.Tensor, clean: torch.Tensor) -> float:
    """BSS-eval SDR (dB) of one `(time,)` estimate, as `separation evaluate` scores it (float64 on the CPU:
    the distortion filter's linear solve is ill-conditioned in float32)."""
    from separation.evaluation.enhance_metrics import sdr as bss_sdr

    return bss_sdr(estimate.double().cpu().numpy(), clean.double().cpu().numpy())


class EnhancementSystem(SeparationSystem):
    input_channels = (1,)

    def __init__(self, config: Config):
        super().__init__(config, enhance_model_args(config))
        self.objective = build_objective(config.objective.name, config.objective.args)
        try:
            self.objective.check_model(self.model_name, self.model)
        except ValueError as error:
            raise ConfigError(f"config key 'objective.name' is '{config.objective.name}', which cannot train model "
                              f"'{self.model_name}': {error}") from None
        # A submodule, so its STFT windows follow the model to its device. An objective may name its own
        # loss in the family loss's place (supervised's `loss` argument).
        own = getattr(self.objective, "loss_name", None)
        self.family_loss = build_enhance_loss(own) if own else default_loss(self.model_name, self.model_args)
        # A speech estimate that is the noise (MixIT's swapped roles) is an outcome, reported like collapse.
        self.wrong_source_probe = WrongSourceProbe()

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        """`(batch, 1, time)` noisy -> `(batch, 1, time)` speech estimate (the objective's inference rule)."""
        return self.objective.enhance(self.model, noisy)

    def training_step(self, batch, batch_idx):
        loss = self.objective.loss(self.model, batch, self.family_loss)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=batch["noisy"].shape[0],
                 sync_dist=True)
        return self.guard_loss(loss)

    def _evaluate(self, batch, stage: str):
        noisy, clean = batch["noisy"], batch["clean"]  # (1, 1, time): one whole utterance
        estimate = self.objective.enhance(self.model, noisy).float()
        sisnr = si_snr(estimate, clean.float()).mean()
        sisnri = sisnr - si_snr(noisy.float(), clean.float()).mean()
        size = noisy.shape[0]
        self.log(f"{stage}/loss", -sisnr, sync_dist=True, batch_size=size)
        self.log(f"{stage}/si_snr", sisnr, sync_dist=True, batch_size=size, prog_bar=stage == "val")
        self.log(f"{stage}/si_snri", sisnri, sync_dist=True, batch_size=size, prog_bar=stage == "val")
        return noisy, clean, estimate

    def validation_step(self, batch, batch_idx):
        noisy, clean, estimate = self._evaluate(batch, "val")
        if batch_idx < self.config.trainer.audio_examples:
            self._log_audio(batch_idx, noisy[0, 0], clean[0, 0], estimate[0, 0])

    def test_step(self, batch, batch_idx):
        noisy, clean, estimate = self._evaluate(batch, "test")
        # Collapsed = the estimate is the input scaled, or silence: then (estimate, noisy - estimate)
        # is one signal up to scale (a single estimate alone would always look like one).
        self.collapse_probe.update(torch.cat([estimate, noisy - estimate], dim=1), noisy[:, 0])
        self.wrong_source_probe.update(estimate, noisy, clean)
        sdr = _sdr(estimate[0, 0], clean[0, 0]) if torch.isfinite(estimate).all() else float("nan")
        self.log("test/sdr", sdr, sync_dist=True, batch_size=noisy.shape[0])

    def on_test_epoch_start(self):
        super().on_test_epoch_start()
        self.wrong_source_probe.reset()

    def on_test_epoch_end(self):
        super().on_test_epoch_end()
        if self.trainer.world_size > 1:
            self.wrong_source_probe.gather()
        if self.collapse_reason is None:
            improvement = self.trainer.callback_metrics.get(self.improvement_metric)
            quoted = (self.improvement_metric, float(improvement)) if improvement is not None else None
            self.collapse_reason = self.wrong_source_probe.reason(quoted)

    def _log_audio(self, index: int, noisy, clean, estimate) -> None:
        board = self.tensorboard()
        if board is None or not torch.isfinite(estimate).all():
            return
        rate = self.config.data.sample_rate
        step = self.global_step
        write = board.experiment.add_audio
        write(f"example{index}/estimate", peak_normalised(estimate.float()).cpu(), step, sample_rate=rate)
        if step == 0 or self.current_epoch == 0:
            write(f"example{index}/noisy", peak_normalised(noisy.float()).cpu(), step, sample_rate=rate)
            write(f"example{index}/clean", peak_normalised(clean.float()).cpu(), step, sample_rate=rate)
