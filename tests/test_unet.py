"""The Spleeter U-Net: size, shapes, TensorFlow padding, masks and the inference path."""

import numpy as np
import pytest
import torch

from separation.models.stft import STFT
from separation.models.unet import UNet, UNetSeparator, _Down, _Up, stem_names

TINY = {"filters": (4, 8, 16), "max_bins": 64, "patch_frames": 16, "n_fft": 256, "hop_length": 64}


def tiny(**overrides) -> UNetSeparator:
    torch.manual_seed(0)
    return UNetSeparator(**{**TINY, **overrides}).eval()


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_default_size_is_spleeters_per_stem():
    per_stem = count(UNet())
    assert abs(per_stem - 9.8e6) / 9.8e6 < 0.02, per_stem
    four = UNetSeparator(4, activation="elu")
    assert count(four) == 4 * per_stem and four.stems == ("vocals", "drums", "bass", "other")


def test_stem_sets():
    assert stem_names(2) == ("vocals", "accompaniment")
    assert stem_names(5) == ("vocals", "drums", "bass", "piano", "other")
    assert stem_names(["vocals", "drums"]) == ("vocals", "drums")
    for bad in (3, [], ["vocals", "vocals"]):
        with pytest.raises(ValueError):
            stem_names(bad)


def test_sizes_must_divide_by_the_depth():
    with pytest.raises(ValueError, match="multiples of 8"):
        UNetSeparator(**{**TINY, "max_bins": 60})
    with pytest.raises(ValueError, match="mask_extension"):
        UNetSeparator(**{**TINY, "mask_extension": "ones"})


@pytest.mark.parametrize("activation", ["leaky_relu", "elu"])
def test_shapes(activation):
    model = tiny(stems=4, activation=activation)
    mixture = torch.randn(2, 2, 3000)
    frames = STFT(256, 64).frames(3000, pad=False)
    masked = model(mixture)
    assert masked.shape == (2, 4, 2, 64, frames)
    assert (masked >= 0).all() and (masked <= model.magnitude(mixture).unsqueeze(1) + 1e-6).all()
    assert model.separate(mixture).shape == (2, 4, 2, 3000)


def test_same_padding_puts_the_extra_pad_after():
    """TF "same": a centre-tap stride-2 conv keeps odd samples, its transpose puts them back in place."""
    down = _Down(1, 1, 5, torch.nn.Identity())
    up = _Up(1, 1, 5, torch.nn.Identity(), 0.0)
    for conv in (down.conv, up.conv):
        torch.nn.init.zeros_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
        conv.weight.data[0, 0, 2, 2] = 1.0
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 1, 3] = 1.0  # odd row and column
    raw, _ = down(x)
    assert raw.shape == (1, 1, 4, 4) and raw[0, 0, 0, 1] == 1.0 and raw.sum() == 1.0
    back = up.conv(raw)[..., up.crop : up.crop + 8, up.crop : up.crop + 8]
    assert torch.equal(back, x)


def test_last_encoder_activation_is_unused():
    """The decoder starts from the raw 6th convolution, so its batch norm gets no gradient."""
    unet = UNet(channels=2, filters=(4, 8, 16))
    unet(torch.rand(2, 2, 32, 32)).sum().backward()
    assert unet.down[-1].norm.weight.grad is None
    assert unet.down[0].norm.weight.grad is not None and unet.down[-1].conv.weight.grad is not None


def test_skips_take_raw_convolutions():
    """With the first batch norm zeroed nothing but a raw-convolution skip can carry the input to the mask."""
    unet = UNet(channels=1, filters=(4, 8)).eval()
    unet.down[0].norm.weight.data.zero_()
    unet.down[0].norm.bias.data.zero_()
    a, b = torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16)
    assert not torch.allclose(unet(a), unet(b))


def test_ratio_masks_sum_to_one_over_stems():
    model = tiny(stems=4, mask_extension="average")
    estimates = model(torch.randn(2, 2, 4000))
    masks = model.ratio_masks(estimates)
    torch.testing.assert_close(masks.sum(dim=1), torch.ones_like(masks[:, 0]))
    full = model.extend_masks(masks, 129)
    torch.testing.assert_close(full.sum(dim=1), torch.ones_like(full[:, 0]))
    zeros = tiny(stems=4).extend_masks(masks, 129)
    assert torch.equal(zeros[..., 64:, :], torch.zeros_like(zeros[..., 64:, :]))
    # Silence everywhere: the masks fall back to an even split instead of 0/0.
    silent = model.ratio_masks(torch.zeros_like(estimates))
    torch.testing.assert_close(silent, torch.full_like(silent, 0.25))


def test_all_ones_masks_give_back_the_mixture():
    model = tiny()
    mixture = torch.randn(2, 2, 5000)
    spectrum = model.stft(mixture)
    ones = torch.ones(2, 2, *spectrum.shape[1:])
    out = model.apply_masks(spectrum, ones, mixture.shape[-1])
    torch.testing.assert_close(out, mixture.unsqueeze(1).expand_as(out), atol=1e-5, rtol=0)


@pytest.mark.parametrize("iterations", [0, 2])
def test_separated_stems_sum_to_the_mixture(iterations):
    model = tiny(stems=4, mask_extension="average", wiener_iterations=iterations)
    mixture = torch.randn(1, 2, 6000)
    # norbert regularises the mixture covariance with sqrt(eps) I (eps of float32): the sum is exact only up to it.
    tolerance = 5e-3 if iterations else 1e-4
    torch.testing.assert_close(model.separate(mixture).sum(dim=1), mixture, atol=tolerance, rtol=0)


def test_wiener_keeps_sources_that_own_their_bins():
    """norbert only redistributes overlap: stems that own disjoint bins come back as the masked mixture."""
    model = tiny(wiener_iterations=2)
    generator = torch.Generator().manual_seed(0)
    spectrum = torch.randn(1, 2, 129, 20, dtype=torch.complex64, generator=generator)
    owner = (torch.rand(129, 20, generator=generator) > 0.5).float()
    magnitude = spectrum[..., :64, :].abs()
    estimates = torch.stack([magnitude * owner[:64], magnitude * (1 - owner[:64])], dim=1)
    out = model.wiener(spectrum, estimates)
    expected = torch.stack([spectrum * owner, spectrum * (1 - owner)], dim=1)
    expected[..., 64:, :] = 0  # "zeros" extension: nothing above the modelled bins
    error = (out - expected).abs()
    assert error.max() < 1e-2 and error.median() < 1e-5  # up to norbert's sqrt(eps) regularisation


def test_inference_patches_do_not_leak_across_the_batch():
    model = tiny(stems=2)
    a, b = torch.randn(1, 2, 4000), torch.randn(1, 2, 4000)
    both = model.separate(torch.cat([a, b]))
    torch.testing.assert_close(both[:1], model.separate(a), atol=1e-5, rtol=0)
    torch.testing.assert_close(both[1:], model.separate(b), atol=1e-5, rtol=0)


def test_stft_round_trip():
    stft = STFT(256, 64)
    audio = torch.randn(3, 2, 1000)
    assert stft(audio).shape == (3, 2, 129, stft.frames(1000))
    torch.testing.assert_close(stft.inverse(stft(audio), 1000), audio, atol=1e-5, rtol=0)
    assert stft.frames(stft.samples_for(512), pad=False) == 512
    assert stft(torch.randn(stft.samples_for(16)), pad=False).shape[-1] == 16


@pytest.mark.parametrize("pad", [True, False])
def test_frames_start_where_spleeter_starts_them(pad):
    """An impulse at sample n appears in frame k's DC bin as window[n - start_k]:
    start_k = k * hop - n_fft with Spleeter's inference padding, k * hop without (training)."""
    n_fft, hop, n = 256, 64, 700
    stft = STFT(n_fft, hop)
    audio = torch.zeros(1000)
    audio[n] = 1.0
    dc = stft(audio, pad=pad)[0].real.numpy()
    window = np.hanning(n_fft + 1)[:-1]  # periodic Hann
    for k in range(len(dc)):
        start = k * hop - (n_fft if pad else 0)
        expected = window[n - start] if 0 <= n - start < n_fft else 0.0
        assert dc[k] == pytest.approx(expected, abs=1e-6), k
    assert len(dc) == (-(-(1000 + n_fft) // hop) if pad else 1 + (1000 - n_fft) // hop)


def test_padded_frame_k_plus_2_is_the_centred_frame_k():
    """The 8-9 dB gap the issue measured: a centred STFT at hop n_fft / 4 lags Spleeter's frames by two."""
    stft = STFT(256, 64)
    audio = torch.randn(2, 1500)
    centred = torch.stft(audio, 256, 64, window=stft.window, center=True, pad_mode="constant", return_complex=True)
    ours = stft(audio)
    frames = centred.shape[-1]
    torch.testing.assert_close(ours[..., 2 : 2 + frames], centred[..., : ours.shape[-1] - 2], atol=1e-4, rtol=0)
