"""Training objectives of the enhancement task: MixIT's assignment search, the PU risks, and one batch of training each."""

from __future__ import annotations

import inspect
import math

import pytest
import torch

from separation.losses.enhance import default_loss
from separation.losses.si_snr import si_snr
from separation.models import build_model
from separation.objectives import OBJECTIVES, build_objective, objective_arguments
from separation.objectives.mixit import assignment_matrices, mixit_loss, mixit_losses, snr_loss
from separation.objectives.pu import pu_risk, pu_risks, pu_training_loss
from test_enhance_models import noisy_speech

TINY_CNN = {"channels": 4, "blocks": 1, "n_fft": 256, "hop_length": 64, "dropout": 0.0}
LN3 = math.log(3.0)  # sigmoid(ln 3) = 3/4, sigmoid(-ln 3) = 1/4: risks by hand in quarters


def _batch(batch: int = 2, length: int = 4000, snr_db: float = 0.0, seed: int = 0) -> dict[str, torch.Tensor]:
    """`noisy_speech` with a second noise of the same level as the noise-only clip: `(batch, 1, time)` each."""
    clean, (noise, noise_only) = noisy_speech(batch, length, snr_db, seed, noise_clips=2)
    return {"noisy": clean + noise, "clean": clean, "noise_only": noise_only}


# ------------------------------------------------------------------------------------------- registry


def test_registry_holds_the_three_objectives_and_every_argument_has_a_default():
    assert {"supervised", "mixit", "pu"} <= set(OBJECTIVES)
    for name in ("mixit", "pu"):
        parameters = inspect.signature(OBJECTIVES[name].__init__).parameters
        assert all(parameters[arg].default is not inspect.Parameter.empty for arg in objective_arguments(name))
        assert build_objective(name).needs_noise_only
    assert objective_arguments("pu") == ["prior", "p", "mode", "beta", "gamma"]
    assert objective_arguments("mixit") == ["snr_max"]
    assert not build_objective("supervised").needs_noise_only


@pytest.mark.parametrize(("name", "args", "message"), [
    ("pu", {"mode": "biased"}, "mode must be one of nn, unbiased"),
    ("pu", {"prior": 1.0}, r"prior must be in \(0, 1\)"),
    ("pu", {"prior": "0.7"}, "prior must be a number"),
    ("pu", {"gamma": 0}, "gamma must be a positive number"),
    ("pu", {"beta": -1.0}, "beta must be a non-negative number"),
    ("mixit", {"snr_max": -30}, "snr_max must be a positive number"),
    ("supervised", {"loss": "l2"}, "objective.args.loss must be one of neg_si_snr, l1_mrstft, magnitude_mse, got 'l2'"),
])
def test_bad_arguments_are_refused_in_one_line(name, args, message):
    with pytest.raises(ValueError, match=message) as error:
        build_objective(name, args)
    assert "\n" not in str(error.value)


def test_each_objective_names_the_models_it_cannot_train():
    single, triple = build_model("pulse_cnn", TINY_CNN), build_model("pulse_cnn", {**TINY_CNN, "n_src": 3})
    tasnet = build_model("convtasnet", {"n_src": 2, "N": 16, "L": 8, "B": 8, "H": 16, "X": 2, "R": 1})
    with pytest.raises(ValueError, match="at least 2 output sources.*'pulse_cnn' outputs 1"):
        build_objective("mixit").check_model("pulse_cnn", single)
    build_objective("mixit").check_model("pulse_cnn", triple)
    build_objective("mixit").check_model("convtasnet", tasnet)
    with pytest.raises(ValueError, match="bin_logits.*'convtasnet' has none"):
        build_objective("pu").check_model("convtasnet", tasnet)
    with pytest.raises(ValueError, match="one logit per bin.*'pulse_cnn' has 3"):
        build_objective("pu").check_model("pulse_cnn", triple)
    build_objective("pu").check_model("pulse_cnn", single)


def test_pulse_cnn_with_several_sources_masks_the_noisy_stft_once_per_source():
    model = build_model("pulse_cnn", {**TINY_CNN, "n_src": 3}).eval()
    noisy = torch.randn(2, 1, 1999) * 0.03
    with torch.no_grad():
        estimates, logits = model(noisy), model.bin_logits(noisy)
        spectrum, scale = model.stft(noisy[:, 0])
        # Source k is the inverse STFT of the noisy STFT under mask k, at the input's level.
        second = torch.istft(spectrum * torch.sigmoid(logits[:, 1]), 256, 64, window=model.window, length=1999)
    assert estimates.shape == (2, 3, 1999) and logits.shape == (2, 3, 129, 1999 // 64 + 1)
    torch.testing.assert_close(estimates[:, 1], second * scale)
    with pytest.raises(ValueError, match="n_src must be a positive integer"):
        build_model("pulse_cnn", {"n_src": 0})


# ---------------------------------------------------------------------------------------------- MixIT


def test_snr_loss_is_minus_the_threshold_for_a_perfect_estimate_and_about_zero_for_silence():
    reference = torch.randn(3, 500)
    torch.testing.assert_close(snr_loss(reference, reference), torch.full((3,), -30.0))
    torch.testing.assert_close(snr_loss(reference, reference, snr_max=20.0), torch.full((3,), -20.0))
    torch.testing.assert_close(snr_loss(torch.zeros_like(reference), reference), torch.full((3,), 10 * math.log10(1.001)))
    # Plain negative SNR below the threshold: an error 10 dB under the reference.
    error = torch.randn(3, 500)
    error = error * 10 ** (-0.5) * reference.norm(dim=-1, keepdim=True) / error.norm(dim=-1, keepdim=True)
    expected = 10 * math.log10(0.1 + 0.001)  # |e|^2 = |y|^2 / 10, plus tau |y|^2
    torch.testing.assert_close(snr_loss(reference + error, reference), torch.full((3,), expected))


@pytest.mark.parametrize("n_sources", [2, 3, 4])
def test_assignments_are_all_2_to_the_m_ways_of_sending_each_source_to_one_mixture(n_sources):
    matrices = assignment_matrices(n_sources)
    assert matrices.shape == (2**n_sources, 2, n_sources)
    assert torch.all(matrices.sum(1) == 1)  # one mixture per source
    assert len({tuple(m.flatten().tolist()) for m in matrices}) == 2**n_sources
    fixed = assignment_matrices(n_sources, source0_to=0)
    assert fixed.shape == (2 ** (n_sources - 1), 2, n_sources) and torch.all(fixed[:, 0, 0] == 1)


@pytest.mark.parametrize("n_sources", [2, 3, 4])
def test_mixit_is_at_its_minimum_for_the_perfect_assignment_and_finds_it_among_all(n_sources):
    torch.manual_seed(n_sources)
    sources = torch.randn(3, n_sources, 800)
    matrices = assignment_matrices(n_sources)
    minimum = 2 * -30.0  # each of the two mixtures at -SNRmax
    for index, truth in enumerate(matrices):
        mixtures = torch.einsum("nm,bmt->bnt", truth, sources)
        if not torch.all(truth.sum(1) > 0):
            continue  # an empty mixture is all zeros: no SNR to speak of
        losses = mixit_losses(sources, mixtures, matrices)
        assert torch.all(losses.argmin(1) == index)
        torch.testing.assert_close(losses[:, index], torch.full((3,), minimum))
        torch.testing.assert_close(mixit_loss(sources, mixtures), torch.tensor(minimum))
        # The source order does not matter (a permutation is another assignment) ...
        order = torch.randperm(n_sources)
        torch.testing.assert_close(mixit_loss(sources[:, order], mixtures), torch.tensor(minimum))
        # ... and any error costs.
        assert mixit_loss(sources + 0.1 * torch.randn_like(sources), mixtures) > minimum + 1.0


def test_mixit_objective_remixes_the_sources_of_noisy_plus_noise_with_source0_in_the_noisy_mixture():
    batch = _batch()

    class Oracle(torch.nn.Module):
        """Outputs (speech, noise of the noisy utterance, noise-only clip) whatever its input."""
        n_src = 3

        def forward(self, mixture):
            assert torch.allclose(mixture, batch["noisy"] + batch["noise_only"])
            return torch.cat([batch["clean"], batch["noisy"] - batch["clean"], batch["noise_only"]], dim=1)

    objective = build_objective("mixit")
    torch.testing.assert_close(objective.loss(Oracle(), batch, None), torch.tensor(-60.0), atol=1e-3, rtol=0)
    swapped = torch.cat([batch["noise_only"], batch["noisy"] - batch["clean"], batch["clean"]], dim=1)
    # With the speech in source 2 and source 0 tied to the noisy mixture, no assignment is perfect.
    assert objective.loss(type("Swapped", (Oracle,), {"forward": lambda self, x: swapped})(), batch, None) > -20
    torch.testing.assert_close(objective.enhance(Oracle(), batch["noisy"] + batch["noise_only"]), batch["clean"])


# ------------------------------------------------------------------------------------------------- PU


def _two_by_three():
    """Noise logits, labels (1 = positive) and weights of a 2x3 grid of bins."""
    logits = torch.tensor([[LN3, 0.0, -LN3], [0.0, LN3, -LN3]])
    positive = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    weights = torch.tensor([[1.0, 2.0, 1.0], [2.0, 1.0, 2.0]])
    return logits, positive, weights


def test_pu_risk_equals_the_hand_computed_value_on_a_2x3_example():
    logits, positive, weights = _two_by_three()
    # Positives: (z, w) = (ln3, 1), (0, 2), (-ln3, 2); sigmoid(-z) = 1/4, 1/2, 3/4; sigmoid(z) = 3/4, 1/2, 1/4.
    r_p_pos = (1 * 1 / 4 + 2 * 1 / 2 + 2 * 3 / 4) / 3  # 11/12
    r_p_neg = (1 * 3 / 4 + 2 * 1 / 2 + 2 * 1 / 4) / 3  # 3/4
    # Unlabelled: (z, w) = (-ln3, 1), (0, 2), (ln3, 1); sigmoid(z) = 1/4, 1/2, 3/4.
    r_u_neg = (1 * 1 / 4 + 2 * 1 / 2 + 1 * 3 / 4) / 3  # 2/3
    for got, want in zip(pu_risks(logits, positive, weights), (r_p_pos, r_p_neg, r_u_neg)):
        assert got.item() == pytest.approx(want)
    expected = 0.7 * r_p_pos + (r_u_neg - 0.7 * r_p_neg)  # 0.641667 + 0.141667, the bracket positive
    assert expected == pytest.approx(0.7833333, abs=1e-6)
    assert pu_risk(logits, positive, weights, prior=0.7, mode="unbiased").item() == pytest.approx(expected)
    assert pu_risk(logits, positive, weights, prior=0.7, mode="nn").item() == pytest.approx(expected)
    # Unweighted (p = 0): the same bins, every weight 1.
    unweighted = 0.5 * (1 / 4 + 1 / 2 + 3 / 4) / 3 + ((1 / 4 + 1 / 2 + 3 / 4) / 3 - 0.5 * (3 / 4 + 1 / 2 + 1 / 4) / 3)
    assert pu_risk(logits, positive, prior=0.5).item() == pytest.approx(unweighted)
    # A prior where the bracket goes negative: 2/3 - 0.95 * 3/4 < 0, floored by nn only.
    assert pu_risk(logits, positive, weights, prior=0.95, mode="unbiased").item() == pytest.approx(
        0.95 * r_p_pos + r_u_neg - 0.95 * r_p_neg)
    assert pu_risk(logits, positive, weights, prior=0.95, mode="nn").item() == pytest.approx(0.95 * r_p_pos)


def test_nn_risk_is_never_below_zero_where_the_unbiased_one_is():
    # A classifier that calls every bin noise: R_p^+ ~ 0, R_p^- ~ 1, R_u^- ~ 1, so both risks ~ 1 - prior.
    logits, positive, weights = _two_by_three()
    confident = torch.full_like(logits, 12.0)
    assert pu_risk(confident, positive, prior=0.7, mode="unbiased").item() == pytest.approx(0.3, abs=1e-4)
    assert pu_risk(confident, positive, prior=0.7, mode="nn").item() == pytest.approx(0.3, abs=1e-4)
    # One that memorised the labels (positives noise, every unlabelled bin speech): R_u^- ~ 0, so the
    # unbiased risk ~ -prior, an impossible negative risk; the nn one stays at ~0.
    overfit = torch.where(positive > 0, torch.full_like(logits, 12.0), torch.full_like(logits, -12.0))
    assert pu_risk(overfit, positive, prior=0.7, mode="unbiased").item() == pytest.approx(-0.7, abs=1e-4)
    assert pu_risk(overfit, positive, prior=0.7, mode="nn").item() >= 0
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        logits = 6 * torch.randn(4, 5, generator=generator)
        positive = (torch.rand(4, 5, generator=generator) < 0.5).float()
        positive[0, 0], positive[0, 1] = 1, 0
        weights = torch.rand(4, 5, generator=generator) * 3
        prior = float(torch.rand(1, generator=generator) * 0.98 + 0.01)
        nn_risk = pu_risk(logits, positive, weights, prior, "nn")
        unbiased = pu_risk(logits, positive, weights, prior, "unbiased")
        assert nn_risk >= 0 and nn_risk >= unbiased - 1e-6


def test_nn_training_steps_push_a_negative_bracket_back_up_with_weight_gamma():
    logits0, positive, weights = _two_by_three()
    for prior, gamma in ((0.95, 1.0), (0.95, 0.096), (0.7, 1.0)):
        logits = logits0.clone().requires_grad_(True)
        loss = pu_training_loss(logits, positive, weights, prior, "nn", gamma=gamma)
        loss.backward()
        reference = logits0.clone().requires_grad_(True)
        r_p_pos, r_p_neg, r_u_neg = pu_risks(reference, positive, weights)
        negative = r_u_neg - prior * r_p_neg
        (-gamma * negative if negative < 0 else prior * r_p_pos + negative).backward()
        torch.testing.assert_close(logits.grad, reference.grad)
        # The value is the nn risk whichever branch the gradient took.
        torch.testing.assert_close(loss.detach(), pu_risk(logits0, positive, weights, prior, "nn"))
    with pytest.raises(ValueError, match="positive and unlabelled bins"):
        pu_risk(logits0, torch.ones_like(logits0))


def test_pu_objective_labels_noise_only_bins_positive_and_weights_by_the_models_stft():
    batch = _batch()
    model = build_model("pulse_cnn", TINY_CNN).eval()
    for p in (0.0, 1.0):
        objective = build_objective("pu", {"p": p, "mode": "unbiased"})
        with torch.no_grad():
            loss = objective.loss(model, batch, None)
            noise_logits = -torch.cat([model.bin_logits(batch["noise_only"]), model.bin_logits(batch["noisy"])])
            spectrum = torch.cat([model.stft(batch["noise_only"][:, 0])[0], model.stft(batch["noisy"][:, 0])[0]])
            positive = torch.zeros_like(noise_logits)
            positive[:2] = 1
            weights = (spectrum.abs() + 1e-7).pow(p).unsqueeze(1)
        torch.testing.assert_close(loss, pu_risk(noise_logits, positive, weights, 0.7, "unbiased"))
    # The speech estimate is the noisy STFT under 1 - P(noise): the model's own forward.
    torch.testing.assert_close(objective.enhance(model, batch["noisy"]), model(batch["noisy"]))


# ------------------------------------------------------------------------------------- one batch each


def _measure(name: str, model, objective, batch) -> float:
    """What overfitting must lower: the objective's loss (for PU the nn risk, which its loss reports)."""
    with torch.no_grad():
        return float(objective.loss(model, batch, default_loss("pulse_cnn", TINY_CNN)))


# PU's CNN reads uncompressed magnitudes, as PULSE's released code computes its feature (`abs(stft) ** 1/15`
# is |X| / 15 in Python); with the 1/15-power compression this toy's classifier drifts to calling every bin
# noise while the risk falls, the level contrast between speech and noise bins being all but gone.
@pytest.mark.parametrize(("name", "model_args"), [("supervised", {}), ("mixit", {"n_src": 3}), ("pu", {"compression": 1.0})])
def test_each_objective_trains_one_step_then_overfits_one_batch(name, model_args):
    torch.manual_seed(0)
    model = build_model("pulse_cnn", {**TINY_CNN, **model_args})
    objective = build_objective(name)
    objective.check_model("pulse_cnn", model)
    family_loss = default_loss("pulse_cnn", TINY_CNN)
    batch = _batch()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    before = _measure(name, model, objective, batch)
    # MixIT's loss is in dB (lower by 3 dB: the remix error's energy halves); the others halve.
    done = (lambda loss: loss <= before - 3.0) if name == "mixit" else (lambda loss: loss <= 0.5 * before)
    for step in range(200):
        optimizer.zero_grad()
        loss = objective.loss(model, batch, family_loss)
        loss.backward()
        if step == 0:
            assert torch.isfinite(loss)
            assert all(p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
                       for p in model.parameters())
        optimizer.step()
        # Stop on the loss of the weights as they are now: the loss just computed is that of the weights
        # before this step, and with Adam the step after a low loss can overshoot.
        after = _measure(name, model, objective, batch)
        if step >= 10 and done(after):
            break
    assert done(after), (name, before, after, step)
    with torch.no_grad():
        estimate = objective.enhance(model.eval(), batch["noisy"])
    assert estimate.shape == batch["noisy"].shape and torch.isfinite(estimate).all()
    assert (si_snr(estimate, batch["clean"]) - si_snr(batch["noisy"], batch["clean"])).mean() > 1.0


def test_supervised_loss_argument_replaces_the_family_loss_in_the_training_shell():
    from separation.config import config_from_dict
    from separation.losses.enhance import L1MultiResolutionSTFT, NegativeSISNR
    from separation.systems.enhance import EnhancementSystem

    def system(objective):
        return EnhancementSystem(config_from_dict({
            "task": "enhance", "model": {"name": "cleanunet", "args": {
                "channels": 4, "max_channels": 8, "encoder_layers": 2, "transformer_layers": 1, "heads": 2,
                "d_model": 8, "d_inner": 16}},
            "data": {"root": "data/noisy", "layout": "noisy", "sample_rate": 16000}, "objective": objective}))

    assert isinstance(system({"name": "supervised"}).family_loss, L1MultiResolutionSTFT)  # CleanUNet's own
    assert isinstance(system({"name": "supervised", "args": {"loss": "neg_si_snr"}}).family_loss, NegativeSISNR)
