"""Issue #28: denoisers that start at their input, recorded noise from Debian packages, and MixIT's
wrong-source outcome."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from separation.data.noisy_corpus import SPLITS, generate_noisy_corpus, read_metadata
from separation.data.recorded_noise import AmbientSource, MissingNoisePackage, ambient_scenes, scene_of
from separation.errors import UserError
from separation.evaluation.collapse import WrongSourceProbe
from separation.losses import si_snr
from separation.models import build_model
from separation.objectives import build_objective

RATE = 8000
CASES = [  # (model, args, objective): every enhancement family, and the objectives that read outputs differently
    ("convtasnet", {"N": 32, "L": 16, "B": 8, "H": 16, "X": 2, "R": 1}, "supervised"),
    ("convtasnet", {"N": 32, "L": 16, "B": 8, "H": 16, "X": 2, "R": 1, "n_src": 2, "mask_activation": "relu"}, "mixit"),
    ("cleanunet", {"channels": 8, "max_channels": 16, "encoder_layers": 3, "transformer_layers": 1, "heads": 2,
                   "d_model": 16, "d_inner": 32}, "supervised"),
    ("cleanunet", {"channels": 8, "max_channels": 16, "encoder_layers": 3, "transformer_layers": 1, "heads": 2,
                   "d_model": 16, "d_inner": 32, "n_src": 2}, "mixit"),
    ("crced", {"filters": (6, 8, 6), "widths": (9, 5, 9), "repeats": 2}, "supervised"),
    ("crced", {"filters": (6, 8, 6), "widths": (9, 5, 9), "repeats": 2, "n_src": 2}, "supervised"),
    ("crnn", {"filters": (6, 6), "widths": (9, 5), "hidden_size": 32, "num_layers": 1}, "supervised"),
    ("pulse_cnn", {"compression": 1.0}, "supervised"),
    ("pulse_cnn", {"compression": 1.0, "hard_mask": True}, "pu"),
    ("pulse_cnn", {"compression": 1.0, "n_src": 3}, "mixit"),
]


@pytest.fixture(scope="module")
def ambient_corpus(speech_corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("ambient") / "noisy"
    generate_noisy_corpus(root, speech_corpus, sample_rate=RATE, kinds=("ambient",), items=(12, 4, 4), log=None)
    return root


@pytest.fixture(scope="module")
def noisy_speech(ambient_corpus):
    """About 3 s of generated speech in recorded noise (test items of the corpus, end to end): `(noisy, clean)`."""
    folder = ambient_corpus / "test"
    rows = read_metadata(folder)
    import soundfile as sf

    clean = np.concatenate([sf.read(folder / row["clean_path"], dtype="float32")[0] for row in rows])
    noisy = np.concatenate([sf.read(folder / row["noisy_path"], dtype="float32")[0] for row in rows])
    assert len(noisy) >= RATE
    return torch.from_numpy(noisy[: 3 * RATE]).view(1, 1, -1), torch.from_numpy(clean[: 3 * RATE]).view(1, 1, -1)


@pytest.mark.parametrize("name,args,objective", CASES, ids=[f"{n}-{o}-{a.get('n_src', 1)}" for n, a, o in CASES])
def test_identity_init_scores_the_noisy_input(noisy_speech, name, args, objective):
    noisy, clean = noisy_speech
    torch.manual_seed(0)
    model = build_model(name, {**args, "identity_init": True})
    build_objective(objective).check_model(name, model)
    for mode in (model.train, model.eval):  # BatchNorm and dropout in either mode: the output layer is what starts at zero
        mode()
        with torch.no_grad():
            estimate = build_objective(objective).enhance(model, noisy)
        improvement = float(si_snr(estimate, clean) - si_snr(noisy, clean))
        assert abs(improvement) < 0.1, (name, mode.__name__, improvement)
    with torch.no_grad():
        sources = model(noisy)
    assert sources.shape[1] == args.get("n_src", 1)
    if sources.shape[1] > 1 and not args.get("hard_mask"):  # the noise estimates start near silence, summing to the input
        torch.testing.assert_close(sources.sum(1, keepdim=True), noisy, atol=1e-4, rtol=1e-3)


def test_identity_init_is_off_by_default_and_a_config_can_turn_it_on():
    """Checkpoints store the arguments they were built with; one without `identity_init` must rebuild as before."""
    from separation.config import config_from_dict

    torch.manual_seed(0)
    default = build_model("crced", {"filters": (6, 8, 6), "widths": (9, 5, 9), "repeats": 2})
    torch.manual_seed(0)
    off = build_model("crced", {"filters": (6, 8, 6), "widths": (9, 5, 9), "repeats": 2, "identity_init": False})
    for a, b in zip(default.state_dict().values(), off.state_dict().values()):
        torch.testing.assert_close(a, b)
    for name in ("convtasnet", "cleanunet", "crced", "crnn", "pulse_cnn"):
        config = config_from_dict({"task": "enhance", "model": {"name": name, "args": {"identity_init": True}},
                                   "data": {"root": "data/noisy", "layout": "noisy", "sample_rate": 16000}})
        assert config.model.args["identity_init"] is True


def test_ambient_recordings_are_named_and_disjoint_between_splits(ambient_corpus):
    scenes = {}
    for split in SPLITS:
        rows = read_metadata(ambient_corpus / split)
        assert {row["noise_kind"] for row in rows} == {"ambient"}
        sources = [row["noise_source"] for row in rows] + [row["noise_only_source"] for row in rows if row["noise_only_source"]]
        for source in sources:
            package, path = source.split(":", 1)
            assert package == "lincity-ng-data" and Path(path).is_file(), source
        scenes[split] = {scene_of(Path(source.split(":", 1)[1])) for source in sources}
        assert all(-5.0 <= float(row["snr_db"]) <= 20.0 for row in rows)  # the default range
    for a, b in (("train", "valid"), ("train", "test"), ("valid", "test")):
        assert not scenes[a] & scenes[b], (a, b)
    corpus = json.loads((ambient_corpus / "corpus.json").read_text())
    assert corpus["snr_range"] == [-5.0, 20.0]
    test = corpus["snr_db"]["test"]
    assert test["count"] == 4 and -5 <= test["min"] <= test["q1"] <= test["median"] <= test["q3"] <= test["max"] <= 20
    dealt = {split: {scene_of(Path(s.split(":", 1)[1])) for s in corpus["ambient"][split]} for split in SPLITS}
    assert not (dealt["train"] & dealt["test"] or dealt["valid"] & dealt["test"] or dealt["train"] & dealt["valid"])
    assert scenes["test"] <= dealt["test"]
    assert len(ambient_scenes()) >= 10  # lincity-ng-data's places, interface clicks and rockets left out


def test_a_missing_noise_package_is_one_line_naming_it(tmp_path):
    with pytest.raises(MissingNoisePackage) as error:
        ambient_scenes((AmbientSource("some-sounds-data", str(tmp_path / "absent"), ()),))
    message = str(error.value)
    assert isinstance(error.value, UserError) and "\n" not in message
    assert "some-sounds-data" in message and "scripts/system-deps.sh" in message


def _speech_and_noise(items: int = 6, length: int = 16000, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    time = torch.arange(length) / 16000
    f0 = 100 + 100 * torch.rand(items, 1, generator=generator)
    clean = torch.sin(2 * torch.pi * f0 * time) * (0.5 + 0.5 * torch.sin(2 * torch.pi * 3 * time))
    noise = torch.randn(items, length, generator=generator)
    return clean, noise


@pytest.mark.parametrize("snr_db", [-5.0, 20.0])
def test_wrong_source_is_found_when_the_speech_estimate_is_the_noise(snr_db):
    clean, noise = _speech_and_noise()
    noise = noise * (clean.pow(2).mean(-1, keepdim=True) / noise.pow(2).mean(-1, keepdim=True) / 10 ** (snr_db / 10)).sqrt()
    noisy = clean + noise

    def verdict(estimate):
        probe = WrongSourceProbe()
        probe.update(estimate.unsqueeze(1), noisy.unsqueeze(1), clean.unsqueeze(1))
        return probe.reason(("test/si_snri", -40.0))

    # MixIT's outcome: source 0 holds the noise, a trace of speech left in it (30 dB below).
    leak = clean * (noise.pow(2).mean(-1, keepdim=True) / clean.pow(2).mean(-1, keepdim=True) / 1e3).sqrt()
    reason = verdict(0.7 * (noise + leak))
    assert reason is not None and reason.startswith("wrong source on 6 of 6 test items") and "-40.00 dB" in reason
    # Not wrong-source: the input itself (even at -5 dB it is no closer to the noise than it was),
    # an honest denoiser, a poor one that keeps half of the noise, and silence.
    assert verdict(noisy) is None
    assert verdict(clean + 0.1 * noise) is None
    assert verdict(0.5 * clean + noise) is None
    assert verdict(torch.zeros_like(noisy)) is None
    # The roles are the model's: a minority of swapped items does not make the run wrong-source.
    mixed = torch.cat([noise[:3] + leak[:3], noisy[3:]])
    assert verdict(mixed) is None
    mixed = torch.cat([noise[:4] + leak[:4], noisy[4:]])
    assert verdict(mixed).startswith("wrong source on 4 of 6")
