"""Properties of the SVoice model: size, shapes, stage outputs, determinism, learning."""

import math

import pytest
import torch

from separation.losses import pit_si_snr, reorder_sources, si_snr
from separation.models.svoice import SVoice, merge_chunks, split_chunks

SR = 8000
TINY = dict(enc_dim=32, hidden_size=16, num_repeats=2, kernel_size=8, sample_rate=SR, segment_seconds=0.5)


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_default_size_matches_reference():
    model = SVoice()
    assert model.chunk_size == 126
    assert abs(n_params(model) - 7_558_913) <= 0.02 * 7_558_913


@pytest.mark.parametrize("n_src", [2, 3, 5])
@pytest.mark.parametrize("length", [4001, 1234, 80, 5])
def test_output_shapes_keep_input_length(n_src, length):
    torch.manual_seed(0)
    model = SVoice(n_src=n_src, **TINY)
    mixture = torch.randn(2, length)
    with torch.no_grad():
        assert model.train()(mixture).shape == (2, 2, n_src, length)
        assert model.eval()(mixture).shape == (2, n_src, length)
        assert model.eval()(mixture.unsqueeze(1)).shape == (2, n_src, length)


def test_rejects_multichannel_input():
    with pytest.raises(ValueError, match="batch, time"):
        SVoice(**TINY)(torch.randn(2, 2, 100))


def test_rejects_decoder_with_gaps():
    # Frames of enc_dim / kernel_size = 2 samples laid out with hop 4 leave holes.
    with pytest.raises(ValueError, match="enc_dim"):
        SVoice(enc_dim=16, kernel_size=8)


@pytest.mark.parametrize("chunk_size", [2, 7, 44])
@pytest.mark.parametrize("frames", [1, 43, 44, 100])
def test_chunks_cover_every_frame_twice(chunk_size, frames):
    features = torch.randn(2, 3, frames)
    chunks, rest = split_chunks(features, chunk_size)
    assert chunks.shape[:3] == (2, 3, chunk_size)
    torch.testing.assert_close(merge_chunks(chunks, rest), 2 * features)


def test_eval_output_is_last_training_stage():
    torch.manual_seed(0)
    model = SVoice(n_src=3, **TINY)
    mixture = torch.randn(2, 1234)
    with torch.no_grad():
        stages = model.train()(mixture)
        final = model.eval()(mixture)
    torch.testing.assert_close(final, stages[-1], rtol=0, atol=1e-6)


def test_head_is_shared_by_all_repeats():
    sizes = [n_params(SVoice(**{**TINY, "num_repeats": r})) for r in (1, 2, 3)]
    one_repeat = n_params(SVoice(**TINY).repeats[0])
    assert sizes[1] - sizes[0] == sizes[2] - sizes[1] == one_repeat
    head = n_params(SVoice(**TINY).head)
    encoder = n_params(SVoice(**TINY).encoder)
    assert sizes[0] == encoder + one_repeat + head


def test_same_seed_same_weights():
    torch.manual_seed(3)
    first = SVoice(**TINY).state_dict()
    torch.manual_seed(3)
    second = SVoice(**TINY).state_dict()
    torch.manual_seed(4)
    other = SVoice(**TINY).state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not torch.equal(first["encoder.weight"], other["encoder.weight"])


def test_batch_items_are_independent():
    torch.manual_seed(0)
    model = SVoice(n_src=2, **TINY).eval()
    mixture = torch.randn(3, 2001)
    with torch.no_grad():
        together = model(mixture)
        alone = torch.cat([model(item[None]) for item in mixture])
    torch.testing.assert_close(together, alone, rtol=0, atol=1e-5)


def test_gradient_reaches_encoder_from_last_stage():
    torch.manual_seed(0)
    model = SVoice(n_src=2, **TINY).train()
    model(torch.randn(2, 1000))[-1].pow(2).mean().backward()
    grad = model.encoder.weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_runs_under_bf16_autocast():
    torch.manual_seed(0)
    model = SVoice(n_src=2, **TINY).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.randn(2, 1000))
    assert out.shape == (2, 2, 2, 1000) and torch.isfinite(out.float()).all()


def harmonic_voice(f0: float, am_hz: float, amplitude: float, phase: float, length: int) -> torch.Tensor:
    """Five harmonics of `f0` under a slow amplitude envelope, `(length,)`."""
    t = torch.arange(length) / SR
    envelope = 0.6 + 0.4 * torch.sin(2 * math.pi * am_hz * t + phase)
    tone = sum(torch.sin(2 * math.pi * f0 * k * t + k * phase) / k for k in range(1, 6))
    return amplitude * envelope * tone


def test_tiny_model_overfits_one_batch():
    torch.manual_seed(0)
    length = SR // 2
    sources = torch.stack(
        [
            torch.stack([harmonic_voice(120, 3, 1.0, 0.3, length), harmonic_voice(210, 5, 0.6, 1.1, length)]),
            torch.stack([harmonic_voice(150, 4, 0.8, 2.0, length), harmonic_voice(260, 2, 0.5, 0.7, length)]),
        ]
    )
    mixture = sources.sum(1)
    model = SVoice(n_src=2, **{**TINY, "num_repeats": 1})
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(400):
        loss, _ = pit_si_snr(model(mixture)[-1], sources)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        estimate = model.eval()(mixture)
        _, permutation = pit_si_snr(estimate, sources)
        achieved = si_snr(reorder_sources(estimate, permutation), sources).mean(-1)
    assert achieved.min() > 20, achieved


def test_input_normalization_makes_output_scale_equivariant():
    torch.manual_seed(0)
    model = SVoice(n_src=2, enc_dim=32, kernel_size=8, hidden_size=8, num_repeats=2, segment_seconds=0.25,
                   input_normalization=True).eval()
    mixture = torch.randn(2, 1000) * torch.tensor([[0.01], [1.0]])
    with torch.no_grad():
        out = model(mixture)
        scaled = model(mixture * 50.0)
    torch.testing.assert_close(scaled, out * 50.0, rtol=1e-4, atol=1e-4)
    # The quiet and the loud item differ only in scale, so they come out the same up to that scale.
    with torch.no_grad():
        same = model(torch.stack([mixture[1], mixture[1] * 1e-3]))
    torch.testing.assert_close(same[1], same[0] * 1e-3, rtol=1e-4, atol=1e-8)
