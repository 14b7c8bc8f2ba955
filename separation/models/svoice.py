"""SVoice: gated dual-path RNN separation with a loss after every repeat.

Re-implementation of Nachmani et al. 2020, "Voice Separation with an Unknown
Number of Multiple Speakers" (facebookresearch/svoice, `SWave`).

    mixture (B, T)
      -> encoder: Conv1d(1, N, L, stride L/2, no bias) + ReLU      (B, N, T')
      -> 50%-overlap chunks of length K                            (B, N, K, S)
      -> R repeats of [MulCat along K, then MulCat along S], each block added
         residually; after a repeat the shared head PReLU + Conv2d(N, N*C, 1)
         maps the features to per-source features                (B, N*C, K, S)
      -> parameter-free decoder: overlap-add the chunks (B, C, N, T'), average
         groups of L features into frames of N/L samples, overlap-add the
         frames with hop L/2, pad or crop to T                     (B, C, T)

In training mode the head runs after every repeat so each stage can be given a
loss; in eval mode only after the last, which yields the same last stage.
The model does not normalise its input: the data pipeline owns loudness.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class MulCatBlock(nn.Module):
    """Two LSTMs whose projected outputs gate each other, then mix with the input.

    `out = Linear_2N->N( cat[ proj(LSTM_a(x)) * proj(LSTM_b(x)), x ] )`.
    Maps `(batch, seq, features)` to the same shape.
    """

    def __init__(self, features: int, hidden_size: int, bidirectional: bool):
        super().__init__()
        rnn_out = hidden_size * (2 if bidirectional else 1)
        self.rnn = nn.LSTM(features, hidden_size, num_layers=1, batch_first=True, bidirectional=bidirectional)
        self.rnn_proj = nn.Linear(rnn_out, features)
        self.gate_rnn = nn.LSTM(features, hidden_size, num_layers=1, batch_first=True, bidirectional=bidirectional)
        self.gate_rnn_proj = nn.Linear(rnn_out, features)
        self.block_projection = nn.Linear(2 * features, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(batch, seq, features) -> (batch, seq, features)`."""
        value = self.rnn_proj(self.rnn(x)[0])
        gate = self.gate_rnn_proj(self.gate_rnn(x)[0])
        return self.block_projection(torch.cat([value * gate, x], dim=-1))


class DualPathRepeat(nn.Module):
    """One repeat: a MulCat block within chunks (along K), then one across chunks (along S).

    Each block's output (optionally GroupNorm-ed) is added to its input.
    Maps `(batch, N, K, S)` to the same shape.
    """

    def __init__(self, features: int, hidden_size: int, bidirectional: bool, group_norm: bool):
        super().__init__()
        self.intra = MulCatBlock(features, hidden_size, bidirectional)
        self.inter = MulCatBlock(features, hidden_size, bidirectional)
        self.intra_norm = nn.GroupNorm(1, features, eps=1e-8) if group_norm else nn.Identity()
        self.inter_norm = nn.GroupNorm(1, features, eps=1e-8) if group_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(batch, N, K, S) -> (batch, N, K, S)`."""
        batch, features, chunk, chunks = x.shape
        # Intra-chunk: every chunk of every item is one sequence of length K.
        seq = x.permute(0, 3, 2, 1).reshape(batch * chunks, chunk, features)
        out = self.intra(seq).view(batch, chunks, chunk, features).permute(0, 3, 2, 1)
        x = x + self.intra_norm(out)
        # Inter-chunk: every within-chunk position is one sequence of length S.
        seq = x.permute(0, 2, 3, 1).reshape(batch * chunk, chunks, features)
        out = self.inter(seq).view(batch, chunk, chunks, features).permute(0, 3, 1, 2)
        return x + self.inter_norm(out)


def split_chunks(x: torch.Tensor, chunk_size: int) -> tuple[torch.Tensor, int]:
    """Cut `(batch, N, T')` into chunks `(batch, N, K, S)` with hop K//2; also return the tail padding.

    The padding follows the reference: `rest` zeros at the end so that two
    tilings of length-K chunks (one starting at 0, one at K//2) cover the
    signal, plus K//2 zeros on both sides so the first and last frames also
    sit in two chunks. Every frame is therefore covered exactly twice.
    """
    batch, features, length = x.shape
    hop = chunk_size // 2
    # Reference formula: in 1..K, so a full extra chunk is added when nothing is needed.
    rest = chunk_size - (hop + length % chunk_size) % chunk_size
    padded = F.pad(x, (hop, rest + hop))
    tiled = padded.shape[-1] - hop
    first = padded[..., :tiled].reshape(batch, features, -1, chunk_size)
    second = padded[..., hop:].reshape(batch, features, -1, chunk_size)
    # Interleave the two tilings so chunks are in time order along S.
    chunks = torch.stack([first, second], dim=3).flatten(2, 3)
    return chunks.transpose(2, 3), rest


def merge_chunks(chunks: torch.Tensor, rest: int) -> torch.Tensor:
    """Overlap-add `(batch, N, K, S)` chunks from `split_chunks` back to `(batch, N, T')`."""
    batch, features, chunk_size, _ = chunks.shape
    hop = chunk_size // 2
    pairs = chunks.transpose(2, 3).reshape(batch, features, -1, 2, chunk_size)
    first = pairs[:, :, :, 0].flatten(2)[..., hop:]
    second = pairs[:, :, :, 1].flatten(2)[..., :-hop]
    return (first + second)[..., :-rest]


def overlap_add(frames: torch.Tensor, hop: int) -> torch.Tensor:
    """Sum frames `(..., frame_length, n_frames)` placed `hop` apart.

    Returns `(..., (n_frames - 1) * hop + frame_length)`.
    """
    *outer, frame_length, n_frames = frames.shape
    length = (n_frames - 1) * hop + frame_length
    flat = frames.reshape(-1, frame_length, n_frames)
    out = F.fold(flat, output_size=(1, length), kernel_size=(1, frame_length), stride=(1, hop))
    return out.reshape(*outer, length)


class SVoice(nn.Module):
    """SVoice separator: mixture `(batch, time)` -> sources `(batch, n_src, time)`.

    Args:
        n_src: number of sources C.
        enc_dim: encoder filters N (also the feature width of every block).
        kernel_size: encoder window L; stride and decoder hop are L/2.
        hidden_size: LSTM units H per direction.
        num_repeats: dual-path repeats R (each gives one output stage).
        chunk_size: chunk length K in encoder frames; None derives it from the
            training segment as the reference does, `int(sqrt(2 * sr * seg / (L/2)))`.
        sample_rate, segment_seconds: only used to derive `chunk_size`.
        bidirectional: bidirectional LSTMs in the MulCat blocks.
        group_norm: GroupNorm on each block output before the residual add.
        input_normalization: not in the reference (off by default): scale each
            mixture to unit RMS and the estimates back by the same factor.
    """

    def __init__(
        self,
        n_src: int = 2,
        enc_dim: int = 128,
        kernel_size: int = 8,
        hidden_size: int = 128,
        num_repeats: int = 6,
        chunk_size: int | None = None,
        sample_rate: int = 8000,
        segment_seconds: float = 4.0,
        bidirectional: bool = True,
        group_norm: bool = False,
        input_normalization: bool = False,
    ):
        super().__init__()
        if n_src < 1 or num_repeats < 1 or hidden_size < 1:
            raise ValueError(
                f"n_src, num_repeats and hidden_size must be >= 1, got {n_src}, {num_repeats}, {hidden_size}"
            )
        if kernel_size < 2:
            raise ValueError(f"kernel_size must be >= 2 (stride kernel_size // 2), got {kernel_size}")
        if enc_dim % kernel_size or enc_dim // kernel_size < kernel_size // 2:
            # The decoder turns L features into one sample of a frame of N/L samples
            # laid out with hop L/2; shorter frames would leave gaps in the waveform.
            raise ValueError(
                f"enc_dim must be a multiple of kernel_size with enc_dim / kernel_size >= kernel_size / 2, "
                f"got enc_dim={enc_dim}, kernel_size={kernel_size}"
            )
        if chunk_size is None:
            chunk_size = int(math.sqrt(2 * sample_rate * segment_seconds / (kernel_size / 2)))
        if chunk_size < 2:
            raise ValueError(f"chunk_size must be >= 2, got {chunk_size}")
        self.n_src = n_src
        self.enc_dim = enc_dim
        self.kernel_size = kernel_size
        self.num_repeats = num_repeats
        self.chunk_size = chunk_size
        self.input_normalization = input_normalization

        self.encoder = nn.Conv1d(1, enc_dim, kernel_size, stride=kernel_size // 2, bias=False)
        self.repeats = nn.ModuleList(
            DualPathRepeat(enc_dim, hidden_size, bidirectional, group_norm) for _ in range(num_repeats)
        )
        # One head shared by all repeats, as in the reference.
        self.head = nn.Sequential(nn.PReLU(), nn.Conv2d(enc_dim, enc_dim * n_src, 1))
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_normal_(p)

    def forward(self, mixture: torch.Tensor) -> torch.Tensor:
        """Separate `mixture` `(batch, time)` or `(batch, 1, time)`.

        Returns `(num_repeats, batch, n_src, time)` in training mode (one stage
        per repeat, last = final estimate) and `(batch, n_src, time)` in eval mode.
        """
        if mixture.dim() == 3 and mixture.shape[1] == 1:
            mixture = mixture[:, 0]
        if mixture.dim() != 2:
            raise ValueError(
                f"SVoice expects a mixture of shape (batch, time) or (batch, 1, time), got {tuple(mixture.shape)}"
            )
        length = mixture.shape[-1]
        scale = None
        if self.input_normalization:
            # Unit-RMS input and outputs scaled back: the same inside training and inference,
            # and it spares the LSTMs the tiny activations of quiet (-30 dBFS) mixtures.
            scale = mixture.pow(2).mean(dim=-1, keepdim=True).sqrt().clamp_min(1e-8)
            mixture = mixture / scale
        # Inputs shorter than one encoder window are zero-padded so they still yield one frame.
        wav = F.pad(mixture, (0, max(0, self.kernel_size - length)))
        features = F.relu(self.encoder(wav.unsqueeze(1)))
        chunks, rest = split_chunks(features, self.chunk_size)

        stages = []
        for index, repeat in enumerate(self.repeats):
            chunks = repeat(chunks)
            if self.training or index == self.num_repeats - 1:
                stage = self._decode(self.head(chunks), rest, length)
                stages.append(stage if scale is None else stage * scale.unsqueeze(-1))
        if self.training:
            return torch.stack(stages)
        return stages[-1]

    def _decode(self, chunks: torch.Tensor, rest: int, length: int) -> torch.Tensor:
        """Head output `(batch, N*C, K, S)` -> waveforms `(batch, C, length)`."""
        features = merge_chunks(chunks, rest)
        batch, _, frames = features.shape
        per_source = features.view(batch, self.n_src, self.enc_dim, frames)
        # Average each group of L consecutive features: frames of N/L samples.
        samples = per_source.unflatten(2, (self.enc_dim // self.kernel_size, self.kernel_size)).mean(3)
        wav = overlap_add(samples, self.kernel_size // 2)
        return F.pad(wav, (0, length - wav.shape[-1]))
