"""scripts/pu_class_prior.py: the class prior PU learning's weighted risk needs, measured from a corpus's parts."""

import math

import torch

from conftest import load_script

prior_script = load_script("pu_class_prior")
N_FFT, HOP = 256, 64


def _prior(clean, noise, noise_only):
    is_noise = prior_script.noise_dominated(clean, noise, N_FFT, HOP)
    noisy_sum, noisy_bins, positive_sum, positive_bins = prior_script.weighted_risk_sums(is_noise, clean + noise, noise_only, N_FFT, HOP)
    return (noisy_sum / noisy_bins) / (positive_sum / positive_bins)


def test_noise_alone_against_itself_is_all_noise():
    """No speech: every bin of the noisy clip is noise and the noise-only clip is that clip, so the prior is 1."""
    noise = torch.randn(4000, generator=torch.Generator().manual_seed(0))
    assert math.isclose(_prior(torch.zeros(4000), noise, noise), 1.0, rel_tol=1e-6)


def test_the_prior_ignores_the_level_of_either_clip():
    """The model sees every clip at unit RMS, so neither the noise-only clip's nor the noisy clip's level matters."""
    generator = torch.Generator().manual_seed(1)
    clean, noise, noise_only = (torch.randn(4000, generator=generator) for _ in range(3))
    clean = clean * torch.hann_window(4000)  # speech-like: not stationary
    reference = _prior(clean, noise, noise_only)
    assert math.isclose(_prior(clean, noise, 7.0 * noise_only), reference, rel_tol=1e-5)
    assert math.isclose(_prior(3.0 * clean, 3.0 * noise, noise_only), reference, rel_tol=1e-5)


def test_the_weighted_prior_is_below_the_plain_fraction_when_the_noise_is_a_part_of_the_noisy_clip():
    """Noise sharing the noisy clip with speech is quieter at unit RMS than a noise-only clip of the same noise:
    the prior for the p = 1 risk falls below the fraction of noise-dominated bins, and rises with the noise's share."""
    generator = torch.Generator().manual_seed(2)
    noise = torch.randn(8000, generator=generator)
    clean = torch.randn(8000, generator=generator) * torch.hann_window(8000)
    plain, _ = prior_script.bin_fractions(prior_script.noise_dominated(clean, 0.5 * noise, N_FFT, HOP),
                                          prior_script.magnitude(clean + 0.5 * noise, N_FFT, HOP))
    weighted = _prior(clean, 0.5 * noise, noise)
    assert 0 < weighted < plain
    assert _prior(clean, 2.0 * noise, noise) > weighted
