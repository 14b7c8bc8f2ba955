"""Training shell for music separation: Spleeter's L1 on masked magnitudes in, SDR per stem out.

Training compares each stem's masked mixture magnitude with the target's
magnitude (L1, mean over bins, frames and channels, summed over stems), as
Spleeter does. Validation and test run the inference path (ratio masks, iSTFT)
on fixed excerpts and score every stem with the fast global SDR
(`separation.evaluation.music.global_sdr`) and its improvement over the
mixture (SDRi); the test run also scores two reference rows on the same
excerpts, the mixture itself and the oracle ratio mask of the model's STFT
(`test/sdr_mixture`, `test/sdr_oracle`), and probes for collapse
(`separation.evaluation.collapse`). museval's BSSEval v4 on whole tracks is
`separation.evaluation.music.evaluate_music`, run after training.
Batch norm follows Keras (momentum 0.01), so early in a run the eval-mode
statistics still lag the training ones and validation scores trail training.
"""

from __future__ import annotations

import inspect

import torch

from separation.config import Config
from separation.errors import ConfigError
from separation.evaluation.music import global_sdr, oracle_ratio_mask
from separation.models import MODELS
from separation.models.stft import STFT
from separation.systems.base import SeparationSystem


def music_model_args(config: Config) -> dict:
    """Constructor arguments: the data's stems and rate where the model takes them, then `model.args`."""
    accepted = inspect.signature(MODELS[config.model.name].__init__).parameters
    from_data = {"stems": list(config.data.stems), "sample_rate": config.data.sample_rate}
    args = {key: value for key, value in from_data.items() if key in accepted}
    args.update(config.model.args)
    return args


def _listenable(signal: torch.Tensor) -> torch.Tensor:
    """`(channels, time)` -> mono `(time,)` at a 0.9 peak: TensorBoard plays one channel, quiet stems stay audible."""
    mono = signal.float().mean(dim=0)
    return 0.9 * mono / mono.abs().max().clamp_min(1e-8)


class MusicSeparationSystem(SeparationSystem):
    input_channels = (2,)  # stereo, as musdb

    def __init__(self, config: Config):
        super().__init__(config, music_model_args(config))
        self.stems = tuple(self.model.stems)
        if list(self.stems) != list(config.data.stems):
            raise ConfigError(f"model stems {list(self.stems)} differ from data.stems {config.data.stems}")

    def forward(self, mixture: torch.Tensor) -> torch.Tensor:
        """(batch, channels, time) -> (batch, stems, channels, time)."""
        return self.model.separate(mixture)

    def _l1(self, mixture: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(summed loss, per-stem loss `(stems,)`) between masked mixture and target magnitudes."""
        estimates = self.model(mixture)
        references = self.model.magnitude(targets)
        per_stem = (estimates.float() - references).abs().mean(dim=(0, 2, 3, 4))
        return per_stem.sum(), per_stem

    def training_step(self, batch, batch_idx):
        mixture, targets = batch["mixture"], batch["targets"]
        loss, per_stem = self._l1(mixture, targets)
        size = mixture.shape[0]
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=size, sync_dist=True)
        for stem, value in zip(self.stems, per_stem):
            self.log(f"train/loss_{stem}", value, on_step=False, on_epoch=True, batch_size=size, sync_dist=True)
        return self.guard_loss(loss)

    def _evaluate(self, batch, stage: str):
        mixture, targets = batch["mixture"], batch["targets"]
        loss, _ = self._l1(mixture, targets)
        estimates = self.model.separate(mixture)
        sdr = global_sdr(estimates, targets)  # (batch, stems)
        sdr_mixture = global_sdr(mixture.unsqueeze(1).expand_as(targets), targets)
        size = mixture.shape[0]
        self.log(f"{stage}/loss", loss, sync_dist=True, batch_size=size)
        self._log_stems(f"{stage}/sdr", sdr, size, prog_bar=stage == "val")
        self._log_stems(f"{stage}/sdri", sdr - sdr_mixture, size)
        if stage == "test":
            self._log_stems("test/sdr_mixture", sdr_mixture, size)
            self._log_stems("test/sdr_oracle", global_sdr(self._oracle(mixture, targets), targets), size)
        return mixture, targets, estimates

    def _log_stems(self, name: str, values: torch.Tensor, size: int, prog_bar: bool = False) -> None:
        """`values` `(batch, stems)`: the mean as `name`, each stem as `name_<stem>`."""
        for stem, value in zip(self.stems, values.mean(dim=0)):
            self.log(f"{name}_{stem}", value, sync_dist=True, batch_size=size)
        self.log(name, values.mean(), sync_dist=True, batch_size=size, prog_bar=prog_bar)

    def _oracle(self, mixture: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The oracle ratio mask in the model's own STFT and exponent (Spleeter's framing when it has none)."""
        stft = getattr(self.model, "stft", None)
        if stft is None:
            stft = STFT().to(mixture.device)
        exponent = float(getattr(self.model, "separation_exponent", 2.0))
        return oracle_ratio_mask(mixture, targets, stft, exponent)

    def validation_step(self, batch, batch_idx):
        mixture, targets, estimates = self._evaluate(batch, "val")
        if batch_idx < self.config.trainer.audio_examples:
            self._log_audio(batch_idx, mixture[0], targets[0], estimates[0])

    def test_step(self, batch, batch_idx):
        mixture, _, estimates = self._evaluate(batch, "test")
        self.collapse_probe.update(estimates, mixture)

    def _log_audio(self, index: int, mixture, targets, estimates) -> None:
        board = self.tensorboard()
        if board is None:
            return
        rate = self.config.data.sample_rate
        step = self.global_step
        write = board.experiment.add_audio
        write(f"example{index}/mixture", _listenable(mixture).cpu(), step, sample_rate=rate)
        for stem, estimate, reference in zip(self.stems, estimates, targets):
            write(f"example{index}/estimate_{stem}", _listenable(estimate).cpu(), step, sample_rate=rate)
            if self.current_epoch == 0:
                write(f"example{index}/reference_{stem}", _listenable(reference).cpu(), step, sample_rate=rate)
