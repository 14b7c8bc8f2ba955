"""What every training shell of the suite shares, whatever the model or task.

The study axes live here once: the optimizer and scheduler come from the
registries in `separation.optim`, clipping by norm or value comes from the
trainer (which reads the config) and AutoClip from `separation.training.autoclip`,
and every step logs the learning rate, the gradient norm before and after
clipping and the norm's threshold (norm and AutoClip modes). A non-finite loss
or gradient ends the run as *diverged*: an outcome recorded with its reason,
never a crash and never a silent skip.
"""

from __future__ import annotations

import math

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger

from separation import optim
from separation.config import Config, config_to_dict, flatten
from separation.evaluation.collapse import CollapseProbe
from separation.lightning_compat import attached_trainer
from separation.models import build_model, model_spec
from separation.tasks import get_task
from separation.training.autoclip import AutoClip

def peak_normalised(signal: torch.Tensor) -> torch.Tensor:
    """For listening only: scale to a 0.9 peak so quiet TensorBoard audio examples are audible."""
    return 0.9 * signal / signal.abs().max().clamp_min(1e-8)


def _total_norm(gradients: list[torch.Tensor]) -> float:
    if not gradients:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in gradients])))


class SeparationSystem(pl.LightningModule):
    """Base LightningModule: the model by name, the study axes, step instrumentation.

    Subclasses implement `training_step` (returning the loss through `self.guard_loss`)
    and the validation/test steps of their task, logging `val/loss` and their
    `selection_metric`; the best value of that metric so far is tracked here.
    """

    def __init__(self, config: Config, model_args: dict):
        super().__init__()
        self.config = config
        # The metric names are the task's (`separation.tasks`), one source for the system, best.ckpt and the report:
        # the higher-is-better validation metric that selects the best checkpoint (e.g. "val/si_snri"), the test
        # metrics copied to the HPARAMS tab at the end of a test run, the test gain quoted when a run collapsed.
        headline = get_task(config.task).headline
        self.selection_metric: str = headline.val
        self.test_metrics: tuple[str, ...] = headline.test_metrics
        self.improvement_metric: str = headline.quoted
        self.model_name = config.model.name
        self.model_args = dict(model_args)
        self.model = build_model(self.model_name, self.model_args)
        # Set when the run must stop as diverged; the reason is written to the run's summary.
        self.divergence_reason: str | None = None
        # Steps whose gradient the fp16 loss scaler discarded (not divergence: it rescales and goes on).
        self.skipped_steps = 0
        self.best_score = float("-inf")
        # Set by the test run when the model's estimates are trivial (separation.evaluation.collapse).
        self.collapse_reason: str | None = None
        self.collapse_probe = CollapseProbe()
        # Set by `train`: the precision this run trains in and why (separation.training.precision).
        self.precision_choice = None
        # AutoClip's norm history is training state: saved with each checkpoint (on_save_checkpoint).
        self.autoclip = AutoClip(config.clipping.value) if config.clipping.mode == "autoclip" else None

    # ------------------------------------------------------------------ optimisation
    def configure_optimizers(self):
        cfg = self.config
        optimizer = optim.build_optimizer(
            cfg.optimizer.name, self.parameters(), cfg.optimizer.lr, cfg.optimizer.weight_decay, cfg.optimizer.args
        )
        total_steps = int(self.trainer.estimated_stepping_batches) if attached_trainer(self) is not None else 1
        scheduler = optim.build_scheduler(cfg.scheduler.name, optimizer, total_steps, cfg.scheduler.args)
        if scheduler is None:
            return optimizer
        if "monitor" in scheduler and cfg.trainer.check_val_every_n_epoch > 1:
            # A schedule that watches a validation metric steps once per validation: stepped every
            # epoch it would find no metric on the epochs between validations (Lightning stops the
            # run), and its patience counts validations, the unit a user reads in the curves.
            scheduler = {**scheduler, "frequency": cfg.trainer.check_val_every_n_epoch}
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

    def current_lr(self) -> float:
        return float(self.trainer.optimizers[0].param_groups[0]["lr"])

    def guard_loss(self, loss: torch.Tensor) -> torch.Tensor | None:
        """Return the loss, or None (skipping the step) after marking the run diverged."""
        checked = loss.detach()
        if attached_trainer(self) is not None and self.trainer.world_size > 1:
            # Every process skips the step or none does: a backward pass missing on one process hangs the others.
            checked = self.trainer.strategy.reduce(checked.clone(), reduce_op="mean")
        if torch.isfinite(checked):
            return loss
        self.mark_diverged(f"non-finite training loss ({float(checked)}) at step {self.global_step}")
        return None

    def mark_diverged(self, reason: str) -> None:
        if self.divergence_reason is None:
            self.divergence_reason = reason
        self.trainer.should_stop = True

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        # Lightning discards the norm its own clip computes, so measure before and after here.
        gradients = [p.grad for p in self.parameters() if p.grad is not None]
        if not gradients:
            return  # the step was skipped (guard_loss returned None)
        pre = _total_norm(gradients)
        if not math.isfinite(pre):
            if self.trainer.precision == "16-mixed":
                # GradScaler will skip this step and lower its scale; count it so it is visible.
                self.skipped_steps += 1
                self.log("train/skipped_steps", float(self.skipped_steps))
                return
            self.mark_diverged(f"non-finite gradient norm at step {self.global_step}")
            for parameter in self.parameters():
                parameter.grad = None  # so the optimizer step leaves the weights as they were
            return
        threshold = None  # on the norm; a value clip bounds each element instead
        if self.autoclip is not None:
            threshold = self.autoclip.threshold(pre)
            post = pre
            # At or under the threshold the gradient stays bit for bit (torch's clip would still scale it by 1 - ~1e-6/norm).
            if pre > threshold:
                self.clip_gradients(optimizer, threshold, "norm")
                post = _total_norm([p.grad for p in self.parameters() if p.grad is not None])
        elif gradient_clip_val is not None:
            self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)
            post = _total_norm([p.grad for p in self.parameters() if p.grad is not None])
            if gradient_clip_algorithm == "norm":
                threshold = float(gradient_clip_val)
        else:
            post = pre
        if threshold is not None:
            self.log("train/clip_threshold", threshold)
        self.log("train/grad_norm_pre_clip", pre)
        self.log("train/grad_norm_post_clip", post)
        self.log("train/clipped", float(post < pre * (1 - 1e-6)))

    def on_train_batch_start(self, batch, batch_idx):
        self.log("train/lr", self.current_lr())

    # ------------------------------------------------------------------ validation outcome
    def on_validation_epoch_end(self):
        if self.trainer.sanity_checking:
            return
        metrics = self.trainer.callback_metrics
        loss, score = metrics.get("val/loss"), metrics.get(self.selection_metric)
        if loss is None or score is None:
            return
        if not torch.isfinite(loss):
            self.mark_diverged(f"non-finite validation loss at epoch {self.current_epoch}")
            return
        self.best_score = max(self.best_score, float(score))
        name = self._hp_name(self.selection_metric)
        # The values are already reduced across processes; sync_dist keeps Lightning from asking for it.
        self.log("hp/val_loss", loss, sync_dist=True)
        self.log(f"hp/{name}", score, sync_dist=True)
        self.log(f"hp/best_{name}", self.best_score, sync_dist=True)

    def on_test_epoch_start(self):
        self.collapse_probe.reset()

    def on_test_epoch_end(self):
        metrics = self.trainer.callback_metrics
        for metric in self.test_metrics:
            if metric in metrics:
                self.log(f"hp/{self._hp_name(metric)}", metrics[metric], sync_dist=True)
        improvement = metrics.get(self.improvement_metric)
        if self.trainer.world_size > 1:
            self.collapse_probe.gather()
        quoted = (self.improvement_metric, float(improvement)) if improvement is not None else None
        self.collapse_reason = self.collapse_probe.reason(quoted)

    @staticmethod
    def _hp_name(metric: str) -> str:
        return metric.replace("/", "_")  # val/si_snri -> val_si_snri

    @property
    def hparam_metrics(self) -> list[str]:
        """Metrics shown in TensorBoard's HPARAMS tab next to the run's hyperparameters."""
        name = self._hp_name(self.selection_metric)
        return ["hp/val_loss", f"hp/{name}", f"hp/best_{name}", *(f"hp/{self._hp_name(m)}" for m in self.test_metrics)]

    # ------------------------------------------------------------------ hyperparameters
    def tensorboard(self) -> TensorBoardLogger | None:
        for logger in self.loggers:
            if isinstance(logger, TensorBoardLogger):
                return logger
        return None

    def hparams_for_logging(self) -> dict:
        values = {}
        for key, value in flatten(config_to_dict(self.config)).items():
            if isinstance(value, (list, tuple, dict)):
                value = str(value)
            values[key] = "None" if value is None else value
        if self.precision_choice is not None:  # `auto` says what it chose
            values["trainer.precision_resolved"] = self.precision_choice.resolved
        return values

    # ------------------------------------------------------------------ precision probe
    # Shape of one model input, without the batch: (time,) for speech; subclasses differ.
    input_channels: tuple[int, ...] = ()

    def example_input(self) -> torch.Tensor:
        """One training-segment-sized model input `(1, *input_channels, time)`: what a bf16 probe
        step runs on (separation.training.precision). Fixed noise from its own generator: the
        run's random state is not touched."""
        samples = int(round(self.config.data.segment_seconds * self.config.data.sample_rate))
        generator = torch.Generator().manual_seed(0)
        return 0.1 * torch.randn(1, *self.input_channels, samples, generator=generator)

    def on_fit_start(self):
        board = self.tensorboard()
        if board is not None:
            # Placeholders register the metric tags; validation logs their real values under the same names.
            board.log_hyperparams(self.hparams_for_logging(), {name: float("nan") for name in self.hparam_metrics})

    # ------------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # Enough to rebuild the model without the training config (see separation.models.model_spec).
        checkpoint["model_spec"] = model_spec(self.model_name, self.model_args)
        checkpoint["config"] = config_to_dict(self.config)
        checkpoint["skipped_steps"] = self.skipped_steps
        checkpoint["best_score"] = self.best_score
        if self.autoclip is not None:
            checkpoint["autoclip"] = self.autoclip.state_dict()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.skipped_steps = int(checkpoint.get("skipped_steps", 0))
        self.best_score = float(checkpoint.get("best_score", float("-inf")))
        if self.autoclip is not None:
            self.autoclip.load_state_dict(checkpoint["autoclip"])
