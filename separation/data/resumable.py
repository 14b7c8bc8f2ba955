"""A training DataLoader that Lightning can resume mid-epoch.

Lightning saves the `state_dict` of every training loader that has one in each
checkpoint and hands it back before the resumed epoch starts. Ours is the
epoch and the number of samples already trained in it, counted over all
processes of a multi-device run; on resume the epoch's sampler (an
`EpochSeededSampler`: the order is a function of (seed, epoch)) skips exactly
those before sharding the rest, so a run stopped after any step continues with
the batches the uninterrupted run would have seen next, in every process.
"""

from __future__ import annotations

from pytorch_lightning import Callback
from torch.utils.data import DataLoader

from separation.lightning_compat import saved_loader_states


class ResumableLoader(DataLoader):
    """`DataLoader` over an `EpochSeededSampler` whose position in the epoch survives a checkpoint."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._position = 0  # batches of the current epoch handed out by this process (including skipped ones)
        self._samples = 0  # samples of the current epoch handed out by all processes (including skipped ones)
        self._resume: tuple[int, int] | None = None  # (epoch, samples to skip) from a checkpoint

    def __iter__(self):
        epoch = getattr(self.sampler, "epoch", 0)
        processes = getattr(self.sampler, "world_size", 1)
        skip = 0
        if self._resume is not None and self._resume[0] == epoch:
            skip = self._resume[1]
            self.sampler.skip_next(skip)
        self._resume = None
        self._samples = skip
        self._position = skip // (self.batch_size * processes)
        for batch in super().__iter__():
            self._position += 1
            self._samples += self.batch_size * processes
            yield batch

    def state_dict(self) -> dict:
        return {"epoch": int(getattr(self.sampler, "epoch", 0)), "batches": int(self._position),
                "samples": int(self._samples)}

    def load_state_dict(self, state: dict) -> None:
        # Checkpoints from before multi-device runs hold batches of one process only.
        samples = state.get("samples", int(state.get("batches", 0)) * self.batch_size)
        self._resume = (int(state.get("epoch", 0)), int(samples))


class RestoreLoaderPosition(Callback):
    """Hands a checkpoint's loader position back to the training loader.

    Lightning saves the position (`ResumableLoader.state_dict`) but restores it only
    into a loader built after the checkpoint is read; ours is built earlier, when the
    scheduler asks for the number of steps, so this callback restores it instead.
    """

    def __init__(self):
        self._states: list[dict] = []

    def on_load_checkpoint(self, trainer, pl_module, checkpoint):
        self._states = saved_loader_states(checkpoint)

    def on_train_start(self, trainer, pl_module):
        loaders = trainer.train_dataloader
        loaders = loaders if isinstance(loaders, (list, tuple)) else [loaders]
        resumable = [loader for loader in loaders if isinstance(loader, ResumableLoader)]
        if self._states and len(resumable) == len(self._states):
            for loader, state in zip(resumable, self._states):
                loader.load_state_dict(state)
        self._states = []
