"""Which items a process handles in a run on several devices (`trainer.devices > 1`).

The suite builds its own samplers (Lightning's `use_distributed_sampler` is off):
training shards through `EpochSeededSampler(rank=, world_size=)`; validation and
test through `EvalShard`, which never repeats an item, so the metrics reduced
across processes (`self.log(..., sync_dist=True)`) average every item exactly
once, as on one device (Lightning's `DistributedSampler` pads with repeats).
"""

from __future__ import annotations

from collections.abc import Iterator

from torch.utils.data import Sampler

from separation.errors import UserError


def process_share(trainer) -> tuple[int, int]:
    """(rank, world size) of the process a loader is built for; (0, 1) outside a trainer."""
    if trainer is None:
        return 0, 1
    return int(trainer.global_rank), int(trainer.world_size)


class EvalShard(Sampler):
    """Items `rank, rank + world_size, ...` of `range(length)`: in order, each item on one process only."""

    def __init__(self, length: int, rank: int = 0, world_size: int = 1, what: str = "evaluation"):
        if world_size > 1 and length < world_size:
            # A process with no item would skip the epoch's metric reduction and leave the others waiting.
            raise UserError(f"{what} has {length} items, fewer than the trainer.devices={world_size} processes; "
                            "use more items or fewer devices")
        self.length = length
        self.rank = rank
        self.world_size = world_size

    def __len__(self) -> int:
        return len(range(self.rank, self.length, self.world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.length, self.world_size))
