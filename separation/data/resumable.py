"""A training DataLoader that Lightning can resume mid-epoch.

Lightning saves the `state_dict` of every training loader that has one in each
checkpoint and hands it back before the resumed epoch starts. Ours is the
epoch and the number of batches already trained in it; on resume the epoch's
sampler (an `EpochSeededSampler`: the order is a function of (seed, epoch))
skips exactly those, so a run stopped after any step continues with the batch
the uninterrupted run would have seen next.
"""

from __future__ import annotations

from pytorch_lightning import Callback
from torch.utils.data import DataLoader


class ResumableLoader(DataLoader):
    """`DataLoader` over an `EpochSeededSampler` whose position in the epoch survives a checkpoint."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._position = 0  # batches of the current epoch handed out (including skipped ones)
        self._resume: tuple[int, int] | None = None  # (epoch, batches to skip) from a checkpoint

    def __iter__(self):
        epoch = getattr(self.sampler, "epoch", 0)
        skip = 0
        if self._resume is not None and self._resume[0] == epoch:
            skip = self._resume[1]
            self.sampler.skip_next(skip * self.batch_size)
        self._resume = None
        self._position = skip
        for batch in super().__iter__():
            self._position += 1
            yield batch

    def state_dict(self) -> dict:
        return {"epoch": int(getattr(self.sampler, "epoch", 0)), "batches": int(self._position)}

    def load_state_dict(self, state: dict) -> None:
        self._resume = (int(state.get("epoch", 0)), int(state.get("batches", 0)))


class RestoreLoaderPosition(Callback):
    """Hands a checkpoint's loader position back to the training loader.

    Lightning saves the position (`ResumableLoader.state_dict`) but restores it only
    into a loader built after the checkpoint is read; ours is built earlier, when the
    scheduler asks for the number of steps, so this callback restores it instead.
    """

    def __init__(self):
        self._states: list[dict] = []

    def on_load_checkpoint(self, trainer, pl_module, checkpoint):
        fit_loop = checkpoint.get("loops", {}).get("fit_loop", {})
        self._states = list(fit_loop.get("state_dict", {}).get("combined_loader", []))

    def on_train_start(self, trainer, pl_module):
        loaders = trainer.train_dataloader
        loaders = loaders if isinstance(loaders, (list, tuple)) else [loaders]
        resumable = [loader for loader in loaders if isinstance(loader, ResumableLoader)]
        if self._states and len(resumable) == len(self._states):
            for loader, state in zip(resumable, self._states):
                loader.load_state_dict(state)
        self._states = []
