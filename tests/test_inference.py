"""Chunked separation and checkpoint loading: properties on generated signals and tiny seeded models."""

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from separation.config import Config, ModelConfig, config_to_dict
from separation.data.audio import AudioError, read_wav, write_wav
from separation.errors import UserError
from separation.inference.checkpoint import CheckpointError, LoadedModel, load_checkpoint
from separation.inference.chunked import crossfade_window, match_to_previous, separate_chunked
from separation.inference.separate import build_separator, separate_audio, separate_files
from separation.losses import si_snr, si_snr_improvement
from separation.models.svoice import SVoice

RATE = 8000
TINY_SVOICE = {"n_src": 2, "enc_dim": 16, "kernel_size": 4, "hidden_size": 8, "num_repeats": 1}


# ---------------------------------------------------------------------------
# Generated voices and a local, exact separator for them


def two_voices(seconds: float, seed: int = 0, rate: int = RATE) -> torch.Tensor:
    """Two synthetic voices in disjoint bands, `(2, time)` float32.

    Voice 1: harmonics of a gliding 100-160 Hz pitch below 700 Hz; voice 2:
    harmonics of a 200-260 Hz pitch between 1400 and 3200 Hz. Both are
    syllable-modulated and never silent, so every overlap carries both.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    voices = []
    for low_f0, band in ((100.0, (0.0, 700.0)), (200.0, (1400.0, 3200.0))):
        f0 = low_f0 + 30 * (1 + np.sin(2 * np.pi * rng.uniform(0.1, 0.3) * t + rng.uniform(0, 2 * np.pi)))
        phase = 2 * np.pi * np.cumsum(f0) / rate
        harmonics = range(1, int(band[1] // low_f0) + 1)
        # A harmonic is kept only while its frequency lies in the voice's band.
        wave = sum(np.sin(k * phase + rng.uniform(0, 2 * np.pi)) * ((k * f0 > band[0]) & (k * f0 < band[1])) for k in harmonics)
        envelope = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(2.5, 4.0) * t + rng.uniform(0, 2 * np.pi))
        voices.append(envelope * wave)
    voices = np.stack(voices)
    return torch.from_numpy(0.4 * voices / np.abs(voices).max()).float()


def band_split_oracle(taps: int = 129, cutoff: float = 1000.0, rate: int = RATE):
    """A separator that is local in time: a windowed-sinc low-pass gives voice 1, the rest voice 2.

    Maps `(batch, 1, time)` -> `(batch, 2, 1, time)`; zero padding makes chunk edges its only error.
    """
    n = torch.arange(taps, dtype=torch.float64) - (taps - 1) / 2
    fc = cutoff / rate
    kernel = (2 * fc * torch.sinc(2 * fc * n) * torch.hamming_window(taps, periodic=False, dtype=torch.float64)).float()

    def run(chunks: torch.Tensor) -> torch.Tensor:
        low = F.conv1d(chunks, kernel.view(1, 1, -1), padding=taps // 2)
        return torch.stack([low, chunks - low], dim=1)

    return run


def swapping(run, permutations):
    """Wrap a separator so call `i` returns its sources in `permutations[i % len]` order (batch size 1)."""
    calls = itertools.count()

    def wrapped(chunks: torch.Tensor) -> torch.Tensor:
        return run(chunks)[:, permutations[next(calls) % len(permutations)]]

    return wrapped


def tiny_svoice(seed: int = 0, **overrides) -> SVoice:
    torch.manual_seed(seed)
    return SVoice(**{**TINY_SVOICE, **overrides}).eval()


def svoice_run(model: SVoice):
    return lambda chunks: model(chunks[:, 0]).unsqueeze(2)


# ---------------------------------------------------------------------------
# Chunking


@pytest.mark.parametrize("chunk, overlap", [(100, 0), (100, 50), (101, 50), (64, 10), (64, 1)])
@pytest.mark.parametrize("length", [1, 63, 64, 100, 101, 1000, 4321])
def test_windows_sum_to_one_so_a_pointwise_model_passes_through(chunk, overlap, length):
    mixture = torch.randn(2, length)

    def gains(chunks):  # source k is (k + 1) times the mixture
        return torch.stack([chunks, 2 * chunks, 3 * chunks], dim=1)

    for batch_size in (1, 3):
        out = separate_chunked(gains, mixture, chunk, overlap, batch_size)
        assert out.shape == (3, 2, length) and out.dtype == np.float32
        for k in range(3):
            np.testing.assert_allclose(out[k], (k + 1) * mixture.numpy(), rtol=1e-5, atol=1e-6)


def test_crossfade_ramps_are_complementary():
    chunk, overlap = 40, 16
    left = crossfade_window(chunk, overlap, first=True, last=False)
    right = crossfade_window(chunk, overlap, first=False, last=True)
    assert torch.allclose(left[-overlap:] + right[:overlap], torch.ones(overlap), atol=1e-7)
    assert left[0] == 1 and right[-1] == 1 and left[-1] < 0.01 and right[0] < 0.01


def test_shorter_than_one_chunk_equals_whole_file():
    model = tiny_svoice()
    mixture = torch.randn(1, 5555)
    with torch.no_grad():
        whole = model(mixture)
    out = separate_chunked(svoice_run(model), mixture, chunk=8000, overlap=2000, batch_size=4, rematch=True)
    assert torch.equal(torch.from_numpy(out[:, 0]), whole[0])


def test_chunked_si_snri_within_0p2_db_of_whole_file_on_30s():
    voices = two_voices(30.0)
    mixture = voices.sum(0, keepdim=True)
    oracle = band_split_oracle()
    with torch.no_grad():
        whole = oracle(mixture[None])[0, :, 0]
    chunked = torch.from_numpy(separate_chunked(oracle, mixture, 4 * RATE, RATE, batch_size=3, rematch=True))[:, 0]
    whole_sisnri = float(si_snr_improvement(whole[None], voices[None], mixture).mean())
    chunked_sisnri = float(si_snr_improvement(chunked[None], voices[None], mixture).mean())
    assert whole_sisnri > 20  # the oracle really separates, so the comparison means something
    assert abs(chunked_sisnri - whole_sisnri) < 0.2, (whole_sisnri, chunked_sisnri)


# ---------------------------------------------------------------------------
# Re-matching


@pytest.mark.parametrize("n_src", [2, 3, 4, 5])
def test_match_to_previous_undoes_any_permutation(n_src):
    generator = torch.Generator().manual_seed(n_src)
    sources = torch.randn(n_src, 1, 300, generator=generator)
    previous_tail = sources[..., :100] + 0.3 * torch.randn(n_src, 1, 100, generator=generator)
    permutations = list(itertools.permutations(range(n_src)))
    if n_src > 3:  # Hungarian search above 3 sources: a sample of permutations
        permutations = [permutations[i] for i in torch.randperm(len(permutations), generator=generator)[:20]]
    for permutation in permutations:
        assert torch.equal(match_to_previous(previous_tail, sources[list(permutation)]), sources)


def test_planted_swaps_between_chunks_are_undone():
    voices = two_voices(20.0, seed=1)
    mixture = voices.sum(0, keepdim=True)
    oracle = band_split_oracle()
    swaps = [[0, 1], [1, 0], [1, 0], [0, 1], [1, 0]]  # the first chunk is in voice order
    for rematch in (True, False):
        out = separate_chunked(swapping(oracle, swaps), mixture, 2 * RATE, RATE // 2, batch_size=1, rematch=rematch)
        scores = si_snr(torch.from_numpy(out[:, 0])[None], voices[None])[0]
        if rematch:
            assert scores.min() > 20, scores
        else:  # the swaps are real: without re-matching, voices mix across channels
            assert scores.max() < 5, scores


def test_rematched_svoice_output_is_invariant_to_per_chunk_source_order():
    model = tiny_svoice(n_src=3)
    mixture = torch.randn(1, 3 * RATE)
    generator = torch.Generator().manual_seed(0)
    permutations = [torch.randperm(3, generator=generator).tolist() for _ in range(7)]
    plain = separate_chunked(svoice_run(model), mixture, RATE // 2, RATE // 8, batch_size=1, rematch=True)
    shuffled = separate_chunked(swapping(svoice_run(model), permutations), mixture, RATE // 2, RATE // 8, batch_size=1, rematch=True)
    assert any(p != permutations[0] for p in permutations[1:])
    # The first chunk's order is the output's order; every later chunk follows it.
    np.testing.assert_allclose(shuffled, plain[permutations[0]], atol=1e-6)


def test_bad_chunk_settings_are_refused():
    run = band_split_oracle()
    with pytest.raises(ValueError, match="overlap"):
        separate_chunked(run, torch.randn(1, 100), chunk=10, overlap=6)
    with pytest.raises(ValueError, match="overlap > 0"):
        separate_chunked(run, torch.randn(1, 100), chunk=10, overlap=0, rematch=True)
    with pytest.raises(ValueError, match=r"\(batch, sources, channels, time\)"):
        separate_chunked(lambda c: c, torch.randn(1, 100), chunk=10, overlap=2)


# ---------------------------------------------------------------------------
# Checkpoints and files


def save_checkpoint(path, model: SVoice, args: dict, task: str = "speech", **extra) -> None:
    """What `separation train` stores (see SeparationSystem.on_save_checkpoint), without Lightning."""
    config = Config(task=task, model=ModelConfig(name="svoice", args=args))
    state = {
        "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
        "model_spec": {"name": "svoice", "args": dict(args)},
        "config": config_to_dict(config),
        **extra,
    }
    torch.save(state, path)


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "tiny.ckpt"
    save_checkpoint(path, tiny_svoice(), TINY_SVOICE)
    return path


def test_checkpoint_rebuilds_the_model_in_eval_mode(checkpoint):
    loaded = load_checkpoint(checkpoint)
    assert not loaded.model.training and loaded.task == "speech" and loaded.sample_rate == RATE
    mixture = torch.randn(2, 3000)
    with torch.no_grad():
        assert torch.equal(loaded.model(mixture), tiny_svoice()(mixture))


def test_bad_checkpoints_give_one_line_naming_the_file(tmp_path):
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint" * 10)
    no_spec = tmp_path / "no_spec.ckpt"
    torch.save({"state_dict": {}}, no_spec)
    wrong_weights = tmp_path / "wrong.ckpt"
    save_checkpoint(wrong_weights, tiny_svoice(enc_dim=32), TINY_SVOICE)
    listed = tmp_path / "list.ckpt"
    torch.save([1, 2], listed)
    cases = {
        tmp_path / "missing.ckpt": "no such checkpoint",
        garbage: "not a weights-only checkpoint of this suite",
        no_spec: "no 'model_spec.name'",
        wrong_weights: "weights do not fit",
        listed: "holds a list",
    }
    for path, message in cases.items():
        with pytest.raises(CheckpointError, match=message) as error:
            load_checkpoint(path)
        assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_separate_files_matches_the_model_and_keeps_rate_and_length(checkpoint, tmp_path):
    mixture = two_voices(1.3).sum(0).numpy()
    write_wav(tmp_path / "in" / "a.wav", mixture, RATE)
    stereo_16k = np.stack([mixture, 0.5 * mixture]).repeat(2, axis=1)  # any rate, any channel count
    write_wav(tmp_path / "in" / "b.wav", stereo_16k, 2 * RATE)
    inputs = [tmp_path / "in" / "a.wav", tmp_path / "in" / "b.wav"]
    folders = separate_files(checkpoint, inputs, tmp_path / "out", device="cpu", log=None)
    assert folders == [tmp_path / "out" / "a", tmp_path / "out" / "b"]
    with torch.no_grad():
        expected = tiny_svoice()(torch.from_numpy(mixture)[None])[0]
    for k in range(2):
        assert np.array_equal(read_wav(tmp_path / "out" / "a" / f"s{k + 1}.wav", RATE, 1), expected[k].numpy())
        resampled = read_wav(tmp_path / "out" / "b" / f"s{k + 1}.wav", 2 * RATE, 1)
        assert resampled.shape == (stereo_16k.shape[1],) and np.isfinite(resampled).all()

    with pytest.raises(UserError, match="exists; pass --force"):
        separate_files(checkpoint, inputs, tmp_path / "out", device="cpu", log=None)
    separate_files(checkpoint, inputs, tmp_path / "out", force=True, device="cpu", log=None)


def test_separate_files_checks_every_input_first(checkpoint, tmp_path):
    good = tmp_path / "good.wav"
    write_wav(good, np.zeros(800, dtype=np.float32), RATE)
    (tmp_path / "text.wav").write_text("not audio")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    (tmp_path / "other").mkdir()
    write_wav(tmp_path / "other" / "good.wav", np.zeros(800, dtype=np.float32), RATE)
    for bad, error in [(tmp_path / "text.wav", AudioError), (empty, AudioError), (tmp_path / "nope.wav", AudioError),
                       (tmp_path / "other" / "good.wav", UserError)]:
        with pytest.raises(error):
            separate_files(checkpoint, [good, bad], tmp_path / "out", device="cpu", log=None)
        assert not (tmp_path / "out").exists()  # nothing written before every input was checked


def test_separator_settings_and_task_are_checked(checkpoint):
    loaded = load_checkpoint(checkpoint)
    separator = build_separator(loaded, "cpu", chunk_seconds=2.0, batch_size=8)
    assert (separator.chunk_seconds, separator.overlap, separator.batch_size) == (2.0, 0.25, 8)
    assert separator.sources == ("s1", "s2") and separator.rematch and separator.channels == 1
    for bad in ({"overlap": 0.6}, {"overlap": 0.0}, {"chunk_seconds": 0.0}, {"batch_size": 0}):
        with pytest.raises(UserError):
            build_separator(loaded, "cpu", **bad)
    loaded.task = "karaoke"
    with pytest.raises(UserError, match="task 'karaoke'"):
        build_separator(loaded, "cpu")


def test_music_stems_sum_to_the_mixture_through_chunking():
    # Ratio masks extended by their average sum to one over stems, so the stems add up to the
    # mixture: chunk seams or a dropped window would show. A mono file feeds the stereo model.
    from separation.models.unet import UNetSeparator  # here, so a change to the music model fails only this test

    torch.manual_seed(0)
    model = UNetSeparator(stems=2, sample_rate=RATE, n_fft=256, hop_length=64, max_bins=64, channels=2,
                          filters=(4, 8), patch_frames=16, mask_extension="average").eval()
    loaded = LoadedModel(model, "unet", {}, "music", RATE, {}, Path("music.ckpt"))
    separator = build_separator(loaded, "cpu", chunk_seconds=1.0, overlap=0.25)
    assert separator.sources == ("vocals", "accompaniment") and not separator.rematch
    mixture = two_voices(3.3).sum(0).numpy()
    stems = separate_audio(separator, mixture, RATE)
    assert stems.shape == (2, 2, mixture.size)
    np.testing.assert_allclose(stems.sum(0), np.broadcast_to(mixture, (2, mixture.size)), atol=1e-5)
