"""Chunked overlap-add separation: signals of any length in flat memory.

    mixture (channels, time)
      -> chunks of `chunk` samples every `hop = chunk - overlap` samples, the last
         one zero-padded at the end; a signal no longer than one chunk is one
         chunk of its own length, so it is separated exactly as a whole file
      -> the model, `batch_size` chunks at a time        (batch, sources, channels, chunk)
      -> optionally (unordered sources, i.e. speakers) each chunk's sources
         permuted to best correlate with the previous chunk's on the `overlap`
         samples they share, so a speaker keeps its channel across chunk edges
      -> cross-faded into one preallocated output        (sources, channels, time)

The cross-fade weights each chunk with a window whose ramps over the overlaps
are complementary raised cosines (`r` rising where the previous chunk's `1 - r`
falls), so the weights of overlapping copies sum to one at every sample; the
first chunk starts and the last ends at full weight. The ramps also fade out
each chunk's edges, where a model sees the least context.

Only one batch of chunk outputs and the previous chunk's tail exist at a time:
beyond the input and output arrays themselves, memory does not grow with the
signal's length. `separate_stream` goes one step further, reading the input
from a callback and handing each finished stretch of output to another, so
neither whole signal need be in memory (`separation separate` streams files
this way); `separate_chunked` is that stream over arrays.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from separation.losses import find_best_permutation

# (batch, channels, time) -> (batch, sources, channels, time)
ChunkSeparator = Callable[[torch.Tensor], torch.Tensor]


def chunk_starts(length: int, chunk: int, hop: int) -> list[int]:
    """First sample of every chunk: 0, hop, 2 hop, ... until one reaches `length` (at least one)."""
    if length <= chunk:
        return [0]
    return [index * hop for index in range(1 + math.ceil((length - chunk) / hop))]


def crossfade_window(chunk: int, overlap: int, first: bool, last: bool) -> torch.Tensor:
    """Weights `(chunk,)` of one chunk: a rising ramp over its first `overlap`
    samples (unless `first`), a falling one over its last (unless `last`), one between.

    The rising ramp is `sin^2` at sample centres and the falling one is one minus
    it, so neighbouring chunks placed `chunk - overlap` apart sum to one.
    """
    window = torch.ones(chunk, dtype=torch.float64)
    if overlap > 0:
        rise = torch.sin(0.5 * math.pi * (torch.arange(overlap, dtype=torch.float64) + 0.5) / overlap) ** 2
        if not first:
            window[:overlap] = rise
        if not last:
            window[chunk - overlap:] = 1 - rise
    return window.float()


def match_to_previous(previous_tail: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    """Permute `current`'s sources to best match the previous chunk on their overlap.

    Args:
        previous_tail: `(sources, channels, overlap)`, the previous chunk's last
            samples, already in output order.
        current: `(sources, channels, chunk)`; its first `overlap` samples cover
            the same stretch of signal.

    Returns:
        `current` reordered `(sources, channels, chunk)`: the permutation that
        maximises the summed correlation (inner product over channels and time)
        between matched pairs. Raw inner products weigh a loud speaker more
        than a near-silent one, whose match would be noise.
    """
    overlap = previous_tail.shape[-1]
    head = current[..., :overlap].double().flatten(1)
    correlation = head @ previous_tail.double().flatten(1).T  # [i, j]: current i against previous j
    _, permutation = find_best_permutation(-correlation.unsqueeze(0))
    return current[permutation[0]]


def _check(chunk: int, overlap: int, batch_size: int, rematch: bool) -> None:
    if chunk < 1 or batch_size < 1:
        raise ValueError(f"chunk and batch_size must be positive, got chunk={chunk}, batch_size={batch_size}")
    if not 0 <= overlap <= chunk // 2:
        # Longer ramps would meet inside a chunk and three chunks would overlap somewhere.
        raise ValueError(f"overlap must be between 0 and chunk // 2 = {chunk // 2} samples, got {overlap}")
    if rematch and overlap == 0:
        raise ValueError("re-matching sources between chunks needs overlap > 0")


@torch.no_grad()
def separate_chunked(
    separate: ChunkSeparator,
    mixture: np.ndarray | torch.Tensor,
    chunk: int,
    overlap: int,
    batch_size: int = 1,
    rematch: bool = False,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Separate a `(channels, time)` mixture chunk by chunk; returns `(sources, channels, time)` float32.

    Args:
        separate: the model on a batch of chunks, `(batch, channels, chunk)` ->
            `(batch, sources, channels, chunk)`, called on `device`.
        mixture: float audio, kept on the CPU; only chunks move to `device`.
        chunk, overlap: chunk length and overlap of neighbours in samples
            (`0 <= overlap <= chunk // 2`).
        batch_size: chunks per call of `separate`.
        rematch: re-match sources between neighbouring chunks (unordered
            sources such as speakers; needs `overlap > 0`).
    """
    mixture = torch.as_tensor(mixture)
    if mixture.dim() != 2 or mixture.shape[-1] == 0:
        raise ValueError(f"mixture must be (channels, time) with time > 0, got shape {tuple(mixture.shape)}")
    length = mixture.shape[-1]
    output: np.ndarray | None = None
    written = 0

    def write(block: np.ndarray) -> None:
        nonlocal output, written
        if output is None:
            output = np.zeros((block.shape[0], block.shape[1], length), dtype=np.float32)
        output[..., written:written + block.shape[-1]] = block
        written += block.shape[-1]

    separate_stream(separate, lambda start, stop: mixture[:, start:stop], length, chunk, overlap, write,
                    batch_size, rematch, device)
    return output


@torch.no_grad()
def separate_stream(
    separate: ChunkSeparator,
    read: Callable[[int, int], torch.Tensor],
    length: int,
    chunk: int,
    overlap: int,
    write: Callable[[np.ndarray], None],
    batch_size: int = 1,
    rematch: bool = False,
    device: str | torch.device = "cpu",
) -> None:
    """`separate_chunked` from a reader to a writer: memory bounded by one batch, whatever `length`.

    `read(start, stop)` returns the mixture's samples `[start, stop)` as
    `(channels, stop - start)`; `write(block)` receives the output
    `(sources, channels, n)` in order, blocks covering `[0, length)` once each
    (a block is final: no later chunk overlaps it; it is a view, valid during the call).
    Other arguments as for `separate_chunked`, whose output this reproduces sample for sample.
    """
    _check(chunk, overlap, batch_size, rematch)
    if length < 1:
        raise ValueError(f"length must be positive, got {length}")
    chunk = min(chunk, length)
    starts = chunk_starts(length, chunk, chunk - overlap)
    pending: np.ndarray | None = None  # output samples [done, done + width) still receiving chunks
    done = 0
    previous_tail: torch.Tensor | None = None
    for batch_start in range(0, len(starts), batch_size):
        batch_starts = starts[batch_start:batch_start + batch_size]
        pieces = [torch.as_tensor(read(start, min(start + chunk, length))) for start in batch_starts]
        batch = torch.stack([F.pad(p, (0, chunk - p.shape[-1])) for p in pieces]).float().to(device)
        estimates = separate(batch).float().cpu()
        if estimates.dim() != 4 or estimates.shape[0] != len(batch_starts) or estimates.shape[2:] != batch.shape[1:]:
            raise ValueError(
                f"the separator must map (batch, channels, time) {tuple(batch.shape)} to "
                f"(batch, sources, channels, time), got {tuple(estimates.shape)}"
            )
        for offset, (start, estimate) in enumerate(zip(batch_starts, estimates)):
            index = batch_start + offset
            if rematch and previous_tail is not None:
                estimate = match_to_previous(previous_tail, estimate)
            previous_tail = estimate[..., chunk - overlap:].clone()  # a view would keep the whole batch alive
            window = crossfade_window(chunk, overlap, first=index == 0, last=index == len(starts) - 1)
            stop = min(start + chunk, length)
            if pending is None:
                pending = np.zeros((*estimate.shape[:2], 0), dtype=np.float32)
            if pending.shape[-1] < stop - done:
                grow = np.zeros((*pending.shape[:2], stop - done - pending.shape[-1]), dtype=np.float32)
                pending = np.concatenate([pending, grow], axis=-1)
            pending[..., start - done:stop - done] += (estimate * window)[..., : stop - start].numpy()
            # No later chunk starts before the next one: everything up to its start is final.
            final = starts[index + 1] if index + 1 < len(starts) else length
            write(pending[..., : final - done])
            pending = pending[..., final - done:].copy()
            done = final
