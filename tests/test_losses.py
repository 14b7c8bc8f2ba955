"""Properties of SI-SNR, permutation search and the PIT / multi-stage losses."""

import itertools
import math

import pytest
import torch
from torchmetrics.functional.audio import scale_invariant_signal_noise_ratio

from separation.losses import (
    find_best_permutation,
    multistage_pit_si_snr,
    pairwise_si_snr,
    pit_si_snr,
    reorder_sources,
    si_snr,
    si_snr_improvement,
)

TIME = 800


def signals(batch, sources, time=TIME, seed=0):
    return torch.randn(batch, sources, time, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("n_src", [2, 3, 4, 5])
def test_permuted_references_are_recovered_for_every_permutation(n_src):
    reference = signals(3, n_src)
    identity = si_snr(reference, reference)
    for applied in itertools.permutations(range(n_src)):
        applied = torch.tensor(applied)
        estimate = reference[:, applied]  # estimate i is reference applied[i]
        loss, permutation = pit_si_snr(estimate, reference)
        inverse = torch.argsort(applied)
        assert torch.equal(permutation, inverse.expand(3, -1))
        assert torch.equal(reorder_sources(estimate, permutation), reference)
        assert identity.min() > 100
        torch.testing.assert_close(loss, -identity.mean())


@pytest.mark.parametrize("n_src", [2, 3, 4, 5, 6])
def test_exhaustive_and_hungarian_agree(n_src):
    pairwise = torch.rand(16, n_src, n_src, generator=torch.Generator().manual_seed(n_src))
    loss_ex, perm_ex = find_best_permutation(pairwise, method="exhaustive")
    loss_hu, perm_hu = find_best_permutation(pairwise, method="hungarian")
    assert torch.equal(perm_ex, perm_hu)
    torch.testing.assert_close(loss_ex, loss_hu)


def test_best_loss_is_minimum_over_all_permutations():
    pairwise = torch.rand(4, 4, 4, generator=torch.Generator().manual_seed(1))
    loss, _ = find_best_permutation(pairwise, method="hungarian")
    every = [pairwise[:, list(p), range(4)].mean(-1) for p in itertools.permutations(range(4))]
    torch.testing.assert_close(loss, torch.stack(every).min(0).values)


def test_hungarian_finds_planted_permutation_of_ten_sources():
    reference = signals(4, 10, seed=2)
    applied = torch.randperm(10, generator=torch.Generator().manual_seed(3))
    noise = 0.3 * signals(4, 10, seed=4)
    estimate = reference[:, applied] + noise
    _, permutation = pit_si_snr(estimate, reference)
    assert torch.equal(permutation, torch.argsort(applied).expand(4, -1))


@pytest.mark.parametrize("factor", [0.01, 3.0, 1000.0])
def test_si_snr_is_invariant_to_positive_scaling(factor):
    estimate, reference = signals(2, 3, seed=5), signals(2, 3, seed=6)
    estimate = estimate + 0.5 * reference  # a meaningful, non-trivial SI-SNR
    torch.testing.assert_close(si_snr(factor * estimate, reference), si_snr(estimate, reference), atol=1e-4, rtol=0)


def test_si_snr_is_invariant_to_constant_offset():
    estimate, reference = signals(2, 3, seed=7), signals(2, 3, seed=8)
    expected = si_snr(estimate, reference)
    torch.testing.assert_close(si_snr(estimate + 2.5, reference - 1.0), expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize(
    "dtype, weight",
    # In float32 torchmetrics' own epsilon (1.2e-7) shifts values near -55 dB by
    # about 4e-4 dB, so unrelated signals are compared in float64.
    [(torch.float64, 0.0), (torch.float64, 0.3), (torch.float32, 0.3), (torch.float32, 3.0)],
)
def test_si_snr_matches_torchmetrics(dtype, weight):
    reference = signals(4, 3, seed=9).to(dtype)
    estimate = weight * reference + signals(4, 3, seed=10).to(dtype)
    expected = scale_invariant_signal_noise_ratio(estimate, reference)
    torch.testing.assert_close(si_snr(estimate, reference), expected, atol=1e-4, rtol=0)


def test_pairwise_matches_si_snr_of_each_pair():
    estimate = signals(2, 3, seed=11)
    reference = signals(2, 4, seed=12)
    estimate = estimate + 2.0 * reference[:, :3]  # some pairs near 6 dB, others near -10 dB
    pairwise = pairwise_si_snr(estimate, reference)
    assert pairwise.shape == (2, 3, 4)
    for i, j in itertools.product(range(3), range(4)):
        expected = si_snr(estimate[:, i : i + 1], reference[:, j : j + 1])[:, 0]
        torch.testing.assert_close(pairwise[:, i, j], expected, atol=1e-3, rtol=0)


@pytest.mark.parametrize("silent", ["estimate", "reference", "both"])
def test_silence_gives_finite_values_and_gradients(silent):
    estimate, reference = signals(2, 2, seed=13), signals(2, 2, seed=14)
    if silent in ("estimate", "both"):
        estimate = torch.zeros_like(estimate)
    if silent in ("reference", "both"):
        reference = torch.zeros_like(reference)
    estimate.requires_grad_(True)
    for values in (si_snr(estimate, reference), pairwise_si_snr(estimate, reference)):
        assert torch.isfinite(values).all()
        (grad,) = torch.autograd.grad(values.sum(), estimate)
        assert torch.isfinite(grad).all()


@pytest.mark.parametrize("method", ["exhaustive", "hungarian"])
def test_gradients_flow_to_the_estimate(method):
    reference = signals(2, 4, seed=15)
    estimate = (reference.flip(1) + signals(2, 4, seed=16)).requires_grad_(True)
    loss, _ = pit_si_snr(estimate, reference, method=method)
    (grad,) = torch.autograd.grad(loss, estimate)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0

    pairwise = -pairwise_si_snr(estimate, reference)
    best, _ = find_best_permutation(pairwise, method=method)
    (grad,) = torch.autograd.grad(best.mean(), estimate)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_hungarian_propagates_non_finite_loss_instead_of_raising():
    pairwise = torch.rand(2, 4, 4)
    pairwise[0, 1, 2] = float("nan")
    pairwise[1] = float("inf")
    loss, permutation = find_best_permutation(pairwise, method="hungarian")
    assert permutation.shape == (2, 4)
    assert torch.isinf(loss[1])


def test_si_snr_under_bf16_autocast_is_float32_and_close():
    reference = signals(2, 2, seed=17)
    estimate = reference + 0.5 * signals(2, 2, seed=18)
    expected = si_snr(estimate.bfloat16().float(), reference.bfloat16().float())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        values = si_snr(estimate.bfloat16(), reference.bfloat16())
        pairwise = pairwise_si_snr(estimate.bfloat16(), reference.bfloat16())
    assert values.dtype == torch.float32 and pairwise.dtype == torch.float32
    torch.testing.assert_close(values, expected, atol=1e-3, rtol=0)
    torch.testing.assert_close(pairwise.diagonal(dim1=1, dim2=2), expected, atol=1e-3, rtol=0)


def test_multistage_with_one_stage_equals_pit():
    reference = signals(2, 3, seed=19)
    estimate = reference.roll(1, dims=1) + signals(2, 3, seed=20)
    loss, _ = pit_si_snr(estimate, reference)
    torch.testing.assert_close(multistage_pit_si_snr(estimate.unsqueeze(0), reference), loss)


@pytest.mark.parametrize("stages", [2, 6])
def test_multistage_weights_identical_stages(stages):
    reference = signals(2, 3, seed=21)
    estimate = reference.roll(1, dims=1) + signals(2, 3, seed=22)
    loss, _ = pit_si_snr(estimate, reference)
    weight = sum(i / stages for i in range(1, stages + 1)) / stages
    stacked = estimate.expand(stages, -1, -1, -1)
    torch.testing.assert_close(multistage_pit_si_snr(stacked, reference), loss * weight)


def test_multistage_weights_later_stages_more():
    reference = signals(2, 2, seed=23)
    good = reference + 0.1 * signals(2, 2, seed=24)
    bad = signals(2, 2, seed=25)
    good_last = multistage_pit_si_snr(torch.stack([bad, good]), reference)
    good_first = multistage_pit_si_snr(torch.stack([good, bad]), reference)
    assert good_last < good_first


def test_si_snr_improvement_of_the_mixture_is_zero():
    reference = signals(2, 3, seed=26)
    mixture = reference.sum(1)
    improvement = si_snr_improvement(mixture.unsqueeze(1).expand_as(reference), reference, mixture)
    torch.testing.assert_close(improvement, torch.zeros(2, 3))
    perfect = si_snr_improvement(reference, reference, mixture.unsqueeze(1))
    assert perfect.min() > 90


@pytest.mark.parametrize(
    "call",
    [
        lambda: si_snr(torch.zeros(2, 3, 10), torch.zeros(2, 3, 11)),
        lambda: si_snr(torch.zeros(2, 10), torch.zeros(2, 10)),
        lambda: pairwise_si_snr(torch.zeros(2, 3, 10), torch.zeros(3, 3, 10)),
        lambda: find_best_permutation(torch.zeros(2, 3, 4)),
        lambda: find_best_permutation(torch.zeros(2, 3, 3), method="greedy"),
        lambda: reorder_sources(torch.zeros(2, 3, 10), torch.zeros(2, 4, dtype=torch.long)),
        lambda: multistage_pit_si_snr(torch.zeros(2, 3, 10), torch.zeros(2, 3, 10)),
        lambda: si_snr_improvement(torch.zeros(2, 3, 10), torch.zeros(2, 3, 10), torch.zeros(2, 2, 10)),
    ],
)
def test_bad_shapes_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_silent_reference_scores_far_below_any_real_estimate():
    # The epsilon floor must not reward outputting silence.
    reference = signals(1, 2, seed=27)
    estimate = reference.clone()
    estimate[:, 1] = 0
    values = si_snr(estimate, reference)
    assert values[0, 1] < -70 and math.isfinite(values[0, 1].item())
