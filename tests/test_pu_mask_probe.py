"""scripts/pu_mask_probe.py: what a mask model's mask keeps, on a tiny generated noisy corpus, for masks whose
effect is known: all bins at 1 (the input back), all at 0.9 (0.81 of the energy), all near 0 (silence)."""

import pytest
import torch

from conftest import load_script
from separation.config import config_from_dict, config_to_dict
from separation.data.noisy_corpus import generate_noisy_corpus
from separation.errors import UserError
from separation.losses import si_snr
from separation.models import build_model

RATE = 8000
PULSE = {"channels": 2, "blocks": 1, "n_fft": 256, "hop_length": 64, "identity_init": True}
script = load_script("pu_mask_probe")


@pytest.fixture(scope="module")
def noisy_root(speech_corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("pu_mask_probe") / "noisy"
    generate_noisy_corpus(root, speech_corpus, sample_rate=RATE, items=(4, 3, 2), log=None)
    return root


def _checkpoint(path, name, args, output_bias=None):
    """What `separation train` stores for an enhancement model (tests/test_inference.py's shape), without Lightning;
    `output_bias`: PulseCNN's 1x1 output layer set to that constant logit for every bin."""
    torch.manual_seed(0)
    model = build_model(name, args)
    if output_bias is not None:
        with torch.no_grad():
            model.net[-1].weight.zero_()
            model.net[-1].bias.fill_(output_bias)
    config = config_from_dict({"task": "enhance", "model": {"name": name, "args": args},
                               "data": {"root": "unused", "layout": "noisy", "sample_rate": RATE}})
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
                "model_spec": {"name": name, "args": dict(args)}, "config": config_to_dict(config)}, path)
    return path


def _probe(path, noisy_root):
    results = script.probe(script.load_mask_model(path), noisy_root / "valid", 12)
    assert len(results) == 3  # the whole split: fewer items than asked
    return [item for _, item in results]


def _input_si_snr(noisy_root, row):
    from separation.data.audio import read_wav

    noisy, clean = (torch.from_numpy(read_wav(noisy_root / "valid" / row[c])).view(1, 1, -1) for c in ("noisy_path", "clean_path"))
    return float(si_snr(noisy.double(), clean.double()))


def test_a_hard_identity_mask_keeps_every_bin_and_returns_the_input(noisy_root, tmp_path, capsys):
    path = _checkpoint(tmp_path / "identity.ckpt", "pulse_cnn", {**PULSE, "hard_mask": True})
    results = script.probe(script.load_mask_model(path), noisy_root / "valid", 12)
    for row, item in results:
        assert item.kept_bins == 1.0
        assert item.energy_ratio == pytest.approx(1.0, abs=1e-4)  # the STFT inverted exactly
        assert item.speech_db == pytest.approx(_input_si_snr(noisy_root, row), abs=1e-3)
        assert item.noise_gain_db == pytest.approx(0.0, abs=1e-3)
    assert script.main([str(path), "--data", str(noisy_root), "--items", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[0].startswith(results[0][0]["id"] + "  ")
    assert lines[-1] == f"{noisy_root / 'valid'}: 2 items: kept bins 1.000-1.000, energy ratio 1.00e+00-1.00e+00"


def test_a_soft_mask_keeps_its_square_of_the_energy(noisy_root, tmp_path):
    """Identity at initialisation without the hard mask is a constant 0.9 mask: every bin kept, 0.81 of the energy."""
    for item in _probe(_checkpoint(tmp_path / "soft.ckpt", "pulse_cnn", PULSE), noisy_root):
        assert item.kept_bins == 1.0 and item.energy_ratio == pytest.approx(0.81, abs=1e-4)
        assert item.noise_gain_db == pytest.approx(0.0, abs=1e-3)  # a scaled input: SI-SNR unchanged


def test_a_very_negative_mask_bias_keeps_no_bin_and_no_energy(noisy_root, tmp_path, capsys):
    path = _checkpoint(tmp_path / "closed.ckpt", "pulse_cnn", PULSE, output_bias=-30.0)
    for item in _probe(path, noisy_root):
        assert item.kept_bins == 0.0 and item.energy_ratio < 1e-20  # sigmoid(-30)^2 ~ 9e-27
    assert script.main([str(path), "--data", str(noisy_root)]) == 0
    assert ": 3 items: kept bins 0.000-0.000, energy ratio " in capsys.readouterr().out.splitlines()[-1]


def test_a_model_without_bin_logits_is_refused_in_one_line(noisy_root, tmp_path, capsys):
    path = _checkpoint(tmp_path / "tasnet.ckpt", "convtasnet", {"N": 32, "L": 16, "B": 8, "H": 16, "X": 2, "R": 1})
    with pytest.raises(UserError, match="has no bin_logits"):
        script.load_mask_model(path)
    assert script.main([str(path), "--data", str(noisy_root)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == (f"error: {path}: model 'convtasnet' has no bin_logits, so no mask to "
                                                   "probe; expected a mask model such as pulse_cnn\n")
