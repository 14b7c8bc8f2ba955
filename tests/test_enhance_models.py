"""Enhancement models and their losses: shapes, registry, one training step, overfitting one batch."""

from __future__ import annotations

import pytest
import torch

from separation.losses.enhance import (
    DEFAULT_LOSSES,
    ENHANCE_LOSSES,
    MagnitudeMSE,
    build_enhance_loss,
    default_loss,
    enhancement_targets,
)
from separation.models import MODELS, build_model

TINY = {
    "convtasnet": {"N": 16, "L": 8, "B": 8, "H": 16, "P": 3, "X": 2, "R": 1},
    "cleanunet": {"channels": 8, "max_channels": 16, "encoder_layers": 3, "transformer_layers": 1, "heads": 2,
                  "d_model": 16, "d_inner": 32},
    "crced": {"filters": (6, 8, 6), "widths": (9, 5, 9), "repeats": 2},
    "crnn": {"filters": (6, 6), "widths": (9, 5), "hidden_size": 32, "num_layers": 1},
    "pulse_cnn": {"channels": 4, "blocks": 1, "n_fft": 256, "hop_length": 64, "dropout": 0.0},
}
SINGLE_SOURCE = {"pulse_cnn"}  # a mask on the noisy STFT: speech only


def noisy_speech(batch: int = 2, length: int = 2000, snr_db: float = 0.0, seed: int = 0, noise_clips: int = 1):
    """Harmonic 'speech' with a syllable envelope, and `noise_clips` white noises at `snr_db` against it.

    Returns `(clean, noises)`: `(batch, 1, time)` and a list of as many. The objectives' tests take a
    second clip as the noise-only recording; the first noise is always drawn first, so one seed gives
    the same mixture whatever `noise_clips` is.
    """
    generator = torch.Generator().manual_seed(seed)
    time = torch.arange(length) / 8000
    f0 = 120 + 80 * torch.rand(batch, 1, 1, generator=generator)
    harmonics = torch.arange(1, 6).view(1, -1, 1)
    voiced = (torch.sin(2 * torch.pi * f0 * harmonics * time) / harmonics).sum(1, keepdim=True)
    clean = 0.05 * voiced * (0.6 + 0.4 * torch.sin(2 * torch.pi * 4 * time))
    noises = []
    for _ in range(noise_clips):
        white = torch.randn(batch, 1, length, generator=generator)
        noises.append(white * (clean.pow(2).sum(-1, keepdim=True) / white.pow(2).sum(-1, keepdim=True) / 10 ** (snr_db / 10)).sqrt())
    return clean, noises


def _batch(batch: int = 2, length: int = 2000, snr_db: float = 0.0, seed: int = 0):
    """`(noisy, clean)` of `noisy_speech`: `(batch, 1, time)` each."""
    clean, (noise,) = noisy_speech(batch, length, snr_db, seed)
    return clean + noise, clean


def test_every_enhancement_model_is_registered_with_a_family_loss():
    for name in TINY:
        assert name in MODELS and DEFAULT_LOSSES[name] in ENHANCE_LOSSES
    assert isinstance(default_loss("crced", {"n_fft": 128, "hop_length": 32}), MagnitudeMSE)
    assert default_loss("crced", {"n_fft": 128}).n_fft == 128
    with pytest.raises(KeyError, match="no enhancement loss"):
        default_loss("svoice")


@pytest.mark.parametrize(("name", "n_src"), [(n, k) for n in sorted(TINY) for k in (1, 2) if k == 1 or n not in SINGLE_SOURCE])
def test_output_is_batch_sources_time_of_the_input_length(name, n_src):
    model = build_model(name, {**TINY[name], **({} if name in SINGLE_SOURCE else {"n_src": n_src})}).eval()
    for length in (1999, 37):
        noisy = torch.randn(3, length) * 0.03
        with torch.no_grad():
            out = model(noisy)
            assert out.shape == (3, n_src, length)
            torch.testing.assert_close(model(noisy[:, None]), out)
    with pytest.raises(ValueError, match=r"\(batch, time\) or \(batch, 1, time\)"):
        model(torch.zeros(2, 2, 100))


def test_targets_and_losses_take_batch_sources_time():
    noisy, clean = _batch()
    targets = enhancement_targets(clean, noisy, 2)
    assert targets.shape == (2, 2, 2000)
    torch.testing.assert_close(targets.sum(1, keepdim=True), noisy)
    for name in ENHANCE_LOSSES:
        loss = build_enhance_loss(name)
        assert float(loss(targets, targets)) < float(loss(targets.flip(1), targets))
        with pytest.raises(ValueError, match=r"\(batch, sources, time\)"):
            loss(targets[:, 0], targets[:, 0])


def _improvement(name: str, loss_name: str, before: float, after: float) -> bool:
    """The loss halves; for the SI-SNR loss (in dB) the residual's energy halves: 3 dB lower."""
    if loss_name == "neg_si_snr":
        return after <= before - 3.0
    return after <= 0.5 * before


@pytest.mark.parametrize("name", sorted(TINY))
def test_one_step_then_overfitting_one_batch(name):
    torch.manual_seed(0)
    model = build_model(name, TINY[name])
    loss_fn = default_loss(name, TINY[name])
    noisy, clean = _batch()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    losses = []
    for step in range(200):
        optimizer.zero_grad()
        loss = loss_fn(model(noisy), enhancement_targets(clean, noisy, 1))
        loss.backward()
        if step == 0:
            assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)
        optimizer.step()
        losses.append(loss.item())
        if step >= 10 and _improvement(name, DEFAULT_LOSSES[name], losses[0], losses[-1]):
            break
    assert _improvement(name, DEFAULT_LOSSES[name], losses[0], min(losses)), (losses[0], min(losses), len(losses))


def test_pulse_cnn_has_seven_layers_and_per_bin_logits():
    model = build_model("pulse_cnn")
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 7
    logits = model.eval().bin_logits(torch.randn(2, 4000) * 0.03)
    assert logits.shape == (2, 1, 513, 4000 // 256 + 1)
    hard = build_model("pulse_cnn", {"hard_mask": True}).eval()
    assert hard(torch.randn(1, 3000)).shape == (1, 1, 3000)


@pytest.mark.parametrize(("name", "count"), [("convtasnet", 4_918_833), ("cleanunet", 46_081_153), ("crced", 32_653),
                                             ("crnn", 1_886_773), ("pulse_cnn", 18_073)])
def test_reference_sizes_have_the_parameter_counts_their_docstrings_quote(name, count):
    assert sum(p.numel() for p in build_model(name).parameters()) == count
