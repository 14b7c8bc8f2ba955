"""Shared fixtures: one tiny generated speech corpus per test session."""

import os

import pytest

# Two cores: keep each test process from oversubscribing them.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def speech_corpus(tmp_path_factory):
    """A LibriMix-shaped 2-speaker corpus small enough to build in seconds."""
    from separation.data.speech_corpus import generate_speech_corpus

    root = tmp_path_factory.mktemp("speech_corpus")
    generate_speech_corpus(
        root,
        seed=0,
        n_src_list=(2,),
        n_train=16,
        n_dev=4,
        n_test=4,
        speakers=(6, 2, 2),
        utterances_per_speaker=3,
        words_per_utterance=(3, 5),
        families=("espeak",),  # the fastest family: these tests exercise training, not voices
        log=None,
    )
    return root


@pytest.fixture(scope="session")
def music_corpus(tmp_path_factory):
    """MUSDB18-HQ-shaped: 3 training tracks (the last one validation) and 1 test track of 3 s."""
    from separation.data.music_corpus import generate_music_corpus

    root = tmp_path_factory.mktemp("music_corpus")
    generate_music_corpus(root, seed=0, n_train=3, n_valid=1, n_test=1, seconds=3.0, log=None)
    return root


def tiny_speech_config(root, run_dir, **overrides):
    """A seconds-per-epoch SVoice config on the tiny corpus; dotted keys override."""
    from separation.config import apply_overrides, config_from_dict

    data = {
        "seed": 0,
        "run_dir": str(run_dir),
        "model": {"name": "svoice", "args": {"enc_dim": 16, "kernel_size": 4, "hidden_size": 8, "num_repeats": 2}},
        "data": {"root": str(root), "segment_seconds": 0.5, "batch_size": 2, "train_items_per_epoch": 8, "valid_max_items": 2},
        "optimizer": {"name": "adam", "lr": 1e-3},
        "trainer": {"max_epochs": 2, "log_every_n_steps": 1, "audio_examples": 1, "enable_progress_bar": False, "deterministic": True},
    }
    return config_from_dict(apply_overrides(data, overrides))


def load_script(name: str):
    """A file of scripts/ imported as a module (the scripts are not a package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module
