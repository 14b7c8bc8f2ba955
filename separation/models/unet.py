"""Spleeter's U-Net (Hennequin et al., 2020) in PyTorch: one spectrogram-masking U-Net per stem.

Front end: STFT at frame 4096 / hop 1024 with a periodic Hann window on stereo
44.1 kHz audio, framed as Spleeter frames (`separation.models.stft`: unpadded
segments in training, n_fft zeros before the waveform at inference); each U-Net
sees the magnitude of the lowest 1024 bins and outputs a sigmoid mask times
that magnitude. Training compares these masked magnitudes with the targets'
(L1). At inference the stems' outputs become ratio masks
`out_i^2 / sum_j out_j^2`, extended above the network's bins, applied to the
complex mixture STFT and inverted; or, with Wiener iterations, sigsep's
`norbert.wiener` refines them as Spleeter's `_build_mwf_output_waveform` does.

Details follow `spleeter/model/functions/unet.py`: TensorFlow "same" padding
(the extra pad bottom/right), Keras batch norm (eps 1e-3, momentum 0.01 in
Keras's sense = 0.01 in PyTorch's), He-uniform kernels and zero biases, skips
concatenating the raw (pre-batch-norm) encoder convolutions, the last
encoder's activation unused, ReLU before batch norm in the decoder, dropout
in its first three blocks, and a 4x4 dilation-2 convolution to one mask per
channel. Spectrograms are laid out `(channels, freq, frames)`; every kernel
is square and padded alike on both axes, so this equals Spleeter's
`(frames, freq, channels)` up to a transpose.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from separation.models.stft import STFT

STEM_SETS = {
    2: ("vocals", "accompaniment"),
    4: ("vocals", "drums", "bass", "other"),
    5: ("vocals", "drums", "bass", "piano", "other"),
}
ACTIVATIONS = ("leaky_relu", "elu")
MASK_EXTENSIONS = ("zeros", "average")
DROPOUT_BLOCKS = 3  # Spleeter drops out in the first three decoder blocks
EPSILON = 1e-10  # Spleeter's, in the ratio masks


def stem_names(stems: int | Sequence[str]) -> tuple[str, ...]:
    """2, 4 or 5 -> Spleeter's stem names; a sequence of names is kept as given."""
    if isinstance(stems, int) and not isinstance(stems, bool):
        if stems not in STEM_SETS:
            raise ValueError(f"stems must be one of {sorted(STEM_SETS)} or a list of names, got {stems}")
        return STEM_SETS[stems]
    names = tuple(str(name) for name in stems)
    if not names or len(set(names)) != len(names):
        raise ValueError(f"stems must be distinct names, got {list(names)}")
    return names


def _activations(name: str) -> tuple[nn.Module, nn.Module]:
    """(encoder, decoder) activations: LeakyReLU(0.2)/ReLU, or ELU for both (4/5-stem configs)."""
    if name == "leaky_relu":
        return nn.LeakyReLU(0.2), nn.ReLU()
    if name == "elu":
        return nn.ELU(), nn.ELU()
    raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got '{name}'")


def _batch_norm(channels: int) -> nn.BatchNorm2d:
    # Keras BatchNormalization defaults: epsilon 1e-3, moving average 0.99 (PyTorch momentum 0.01).
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


class _Down(nn.Module):
    """Conv 5x5 stride 2 with TF "same" padding -> batch norm -> activation."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, activation: nn.Module):
        super().__init__()
        total = kernel_size - 2  # "same" padding at stride 2 on an even size
        self.padding = (total // 2, total - total // 2) * 2  # (left, right, top, bottom): extra pad at the end
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=2)
        self.norm = _batch_norm(out_channels)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (raw convolution, activated); the skip connection takes the raw one."""
        conv = self.conv(F.pad(x, self.padding))
        return conv, self.activation(self.norm(conv))


class _Up(nn.Module):
    """Transposed conv 5x5 stride 2 with TF "same" cropping -> activation -> batch norm -> dropout."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, activation: nn.Module, dropout: float):
        super().__init__()
        # TF crops the full transposed output to twice the input from the forward conv's "before" pad.
        self.crop = (kernel_size - 2) // 2
        self.conv = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride=2)
        self.activation = activation
        self.norm = _batch_norm(out_channels)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = 2 * x.shape[-2], 2 * x.shape[-1]
        up = self.conv(x)[..., self.crop : self.crop + height, self.crop : self.crop + width]
        return self.dropout(self.norm(self.activation(up)))


class UNet(nn.Module):
    """One stem's U-Net: `(batch, channels, freq, frames)` magnitude -> mask in [0, 1] of the same shape.

    freq and frames must be multiples of 2 ** len(filters).
    """

    def __init__(
        self,
        channels: int = 2,
        filters: Sequence[int] = (16, 32, 64, 128, 256, 512),
        kernel_size: int = 5,
        activation: str = "leaky_relu",
        dropout: float = 0.5,
    ):
        super().__init__()
        filters = list(filters)
        depth = len(filters)
        encode, decode = _activations(activation)
        self.down = nn.ModuleList(
            _Down(c_in, c_out, kernel_size, encode) for c_in, c_out in zip([channels] + filters[:-1], filters)
        )
        ups = []
        for i in range(depth):
            c_in = filters[-1] if i == 0 else 2 * filters[depth - 1 - i]
            c_out = filters[depth - 2 - i] if i < depth - 1 else 1
            rate = dropout if i < min(DROPOUT_BLOCKS, depth - 1) else 0.0
            ups.append(_Up(c_in, c_out, kernel_size, decode, rate))
        self.up = nn.ModuleList(ups)
        self.mask = nn.Conv2d(1, channels, 4, dilation=2, padding="same")
        self._init_weights()

    def _init_weights(self) -> None:
        # Keras he_uniform kernels and zero biases; fan-in conventions of both frameworks agree.
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_uniform_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def forward(self, magnitude: torch.Tensor) -> torch.Tensor:
        skips = []
        x = magnitude
        for block in self.down:
            conv, x = block(x)
            skips.append(conv)
        x = skips.pop()  # the decoder starts from the raw last convolution
        for block in self.up:
            x = block(x)
            if skips:
                x = torch.cat([skips.pop(), x], dim=1)
        return torch.sigmoid(self.mask(x))


class UNetSeparator(nn.Module):
    """Spleeter: one U-Net per stem on the mixture's magnitude spectrogram.

    Args:
        stems: 2, 4 or 5 (Spleeter's stem sets) or a list of stem names.
        sample_rate: the audio rate the model is meant for (recorded, not resampled).
        n_fft, hop_length: STFT frame and hop in samples.
        max_bins: lowest frequency bins given to the U-Nets (a multiple of 2 ** len(filters)).
        channels: audio channels (2 for stereo); one mask per channel.
        filters: encoder widths; the decoder mirrors them.
        kernel_size: of every (transposed) convolution.
        activation: "leaky_relu" (LeakyReLU 0.2 / ReLU, 2 stems) or "elu" (4 and 5 stems).
        dropout: rate in the first three decoder blocks.
        separation_exponent: ratio masks are `out_i ** e / sum_j out_j ** e` (2 in Spleeter).
        mask_extension: masks above `max_bins`: "zeros" (Spleeter's configs) or
            "average" (each stem's mean over the modelled bins, per frame).
        patch_frames: at inference the spectrogram is cut into patches of this
            many frames, as in training (a multiple of 2 ** len(filters)).
        wiener_iterations: EM iterations of `norbert.wiener` instead of the ratio masks (0: ratio masks;
            Spleeter's multichannel Wiener filter is 1).
    """

    def __init__(
        self,
        stems: int | Sequence[str] = ("vocals", "accompaniment"),
        sample_rate: int = 44100,
        n_fft: int = 4096,
        hop_length: int = 1024,
        max_bins: int = 1024,
        channels: int = 2,
        filters: Sequence[int] = (16, 32, 64, 128, 256, 512),
        kernel_size: int = 5,
        activation: str = "leaky_relu",
        dropout: float = 0.5,
        separation_exponent: float = 2.0,
        mask_extension: str = "zeros",
        patch_frames: int = 512,
        wiener_iterations: int = 0,
    ):
        super().__init__()
        self.stems = stem_names(stems)
        multiple = 2 ** len(filters)
        if max_bins % multiple or patch_frames % multiple:
            raise ValueError(f"max_bins ({max_bins}) and patch_frames ({patch_frames}) must be multiples of {multiple}")
        if not 0 < max_bins <= n_fft // 2 + 1:
            raise ValueError(f"max_bins must be in 1..{n_fft // 2 + 1}, got {max_bins}")
        if mask_extension not in MASK_EXTENSIONS:
            raise ValueError(f"mask_extension must be one of {', '.join(MASK_EXTENSIONS)}, got '{mask_extension}'")
        if kernel_size < 2:
            raise ValueError(f"kernel_size must be at least 2, got {kernel_size}")
        self.sample_rate = sample_rate
        self.channels = channels
        self.max_bins = max_bins
        self.frame_multiple = multiple
        self.separation_exponent = separation_exponent
        self.mask_extension = mask_extension
        self.patch_frames = patch_frames
        self.wiener_iterations = wiener_iterations
        self.stft = STFT(n_fft, hop_length)
        self.unets = nn.ModuleDict(
            {name: UNet(channels, filters, kernel_size, activation, dropout) for name in self.stems}
        )

    # ------------------------------------------------------------------ spectrograms
    def magnitude(self, audio: torch.Tensor) -> torch.Tensor:
        """`(..., channels, time)` -> `(..., channels, max_bins, frames)` magnitude seen by the U-Nets in training.

        Spleeter's training framing: the segment unpadded, `stft.frames(time, pad=False)` frames.
        """
        return self.stft(audio, pad=False)[..., : self.max_bins, :].abs()

    def estimate(self, magnitude: torch.Tensor) -> torch.Tensor:
        """`(batch, channels, max_bins, frames)` -> masked magnitudes `(batch, stems, channels, max_bins, frames)`.

        Frames are zero-padded at the end to a multiple of 2 ** depth for the U-Nets and cropped back.
        """
        frames = magnitude.shape[-1]
        padded = F.pad(magnitude, (0, -frames % self.frame_multiple))
        outputs = [unet(padded) * padded for unet in self.unets.values()]
        return torch.stack(outputs, dim=1)[..., :frames]

    def forward(self, mixture: torch.Tensor) -> torch.Tensor:
        """`(batch, channels, time)` -> masked magnitudes `(batch, stems, channels, max_bins, frames)`.

        What the training loss compares with `magnitude(targets)`.
        """
        return self.estimate(self.magnitude(mixture))

    # ------------------------------------------------------------------ inference
    def ratio_masks(self, estimates: torch.Tensor) -> torch.Tensor:
        """Spleeter's soft masks `(e_i^p + eps/S) / (sum_j e_j^p + eps)`; they sum to one over stems (dim 1)."""
        powered = estimates.float() ** self.separation_exponent
        total = powered.sum(dim=1, keepdim=True) + EPSILON
        return (powered + EPSILON / len(self.stems)) / total

    def extend_masks(self, masks: torch.Tensor, freq: int) -> torch.Tensor:
        """`(..., max_bins, frames)` -> `(..., freq, frames)` masks over every STFT bin."""
        extra = freq - masks.shape[-2]
        if self.mask_extension == "zeros":
            fill = masks.new_zeros(*masks.shape[:-2], extra, masks.shape[-1])
        else:
            fill = masks.mean(dim=-2, keepdim=True).expand(*masks.shape[:-2], extra, masks.shape[-1])
        return torch.cat([masks, fill], dim=-2)

    def apply_masks(self, spectrum: torch.Tensor, masks: torch.Tensor, length: int) -> torch.Tensor:
        """Mask the mixture and go back to waveforms.

        Args:
            spectrum: `(batch, channels, freq, frames)` complex mixture STFT (padded framing).
            masks: `(batch, stems, channels, freq, frames)` real masks over every bin.
            length: samples of the output.

        Returns:
            `(batch, stems, channels, length)` waveforms.
        """
        return self.stft.inverse(masks * spectrum.unsqueeze(1), length)

    def wiener(self, spectrum: torch.Tensor, estimates: torch.Tensor) -> torch.Tensor:
        """Multichannel Wiener filtering by `norbert.wiener`, called as Spleeter calls it.

        The source spectrogram models are the U-Nets' masked magnitudes on the
        modelled bins (exponent 1: norbert starts from their soft mask) and, above
        them, the extended exponent-1 masks times the mixture magnitude (zeros
        for Spleeter's "zeros"). norbert scales the mixture by
        max(1, max|x| / 10) and regularises with sqrt(eps) I, eps of float32.

        Args:
            spectrum: `(batch, channels, freq, frames)` complex mixture STFT.
            estimates: `(batch, stems, channels, max_bins, frames)` masked magnitudes.

        Returns:
            `(batch, stems, channels, freq, frames)` complex stem spectra.
        """
        import norbert  # numpy only, and only when Wiener filtering is asked for

        estimates = estimates.float()
        masks = self.extend_masks(estimates / (estimates.sum(dim=1, keepdim=True) + EPSILON), spectrum.shape[-2])
        models = masks * spectrum.abs().unsqueeze(1)
        models[..., : self.max_bins, :] = estimates
        outputs = []
        for v, x in zip(models.cpu().numpy(), spectrum.detach().cpu().numpy()):
            # norbert: v (frames, freq, channels, stems), x (frames, freq, channels); it rescales x in place.
            y = norbert.wiener(v.transpose(3, 2, 1, 0), x.transpose(2, 1, 0).copy(), self.wiener_iterations)
            outputs.append(torch.from_numpy(y.transpose(3, 2, 1, 0)))
        return torch.stack(outputs).to(spectrum.device)

    def _patched_estimate(self, magnitude: torch.Tensor) -> torch.Tensor:
        """`estimate` on consecutive `patch_frames` patches, as Spleeter infers: `(B, C, F, N)` -> `(B, S, C, F, N)`."""
        batch, channels, bins, frames = magnitude.shape
        padded = F.pad(magnitude, (0, -frames % self.patch_frames))
        patches = padded.shape[-1] // self.patch_frames
        stacked = padded.reshape(batch, channels, bins, patches, self.patch_frames).permute(0, 3, 1, 2, 4)
        out = self.estimate(stacked.reshape(batch * patches, channels, bins, self.patch_frames))
        out = out.reshape(batch, patches, len(self.stems), channels, bins, self.patch_frames)
        return out.permute(0, 2, 3, 4, 1, 5).reshape(batch, len(self.stems), channels, bins, -1)[..., :frames]

    @torch.no_grad()
    def separate(self, mixture: torch.Tensor) -> torch.Tensor:
        """`(batch, channels, time)` -> `(batch, stems, channels, time)` (call in eval mode).

        Spleeter's inference framing: patch 0 starts at frame 0 of the padded STFT, n_fft samples before the waveform.
        """
        spectrum = self.stft(mixture)
        estimates = self._patched_estimate(spectrum[..., : self.max_bins, :].abs())
        if self.wiener_iterations > 0:
            return self.stft.inverse(self.wiener(spectrum, estimates), mixture.shape[-1])
        masks = self.extend_masks(self.ratio_masks(estimates), spectrum.shape[-2])
        return self.apply_masks(spectrum, masks, mixture.shape[-1])
