"""The task registry: what a value of `config.task` brings with it, in one place.

A task is one entry of `TASKS`: its data section and the checks on it, its
LightningModule and DataModule, how its model's constructor arguments follow
from the data, the metric that selects and the one that reports, how its
checkpoints separate audio and are evaluated, and the words its reports use.
Training (`separation.train`), configuration (`separation.config`), the CLI,
inference and the study report look the task up here instead of branching on
its name, so a new task is one new entry.

Heavy parts (Lightning, torch models) are imported only when a function of an
entry is called, so reading a config stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Headline:
    """The metrics a study of the task compares trials by (dB, higher is better)."""

    val: str  # selection metric (validation split)
    test: str  # reported metric (held-out test split)
    name: str  # for humans, e.g. "SI-SNRi"
    # Improvement of the test metric over the mixture, shown beside it (None: the headline is one already).
    improvement: str | None = None
    improvement_name: str = ""
    # Reference rows scored on the same test excerpts: (label, test metric); per stem as `<metric>_<stem>`.
    references: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Task:
    name: str
    # The dataclass of the config's `data` section, and its checks (raise ConfigError).
    data_config: Callable[[], type]
    validate: Callable[[Any, Any], None]  # (config, models registry) -> None
    # (config) -> (LightningModule class, LightningDataModule instance seeded by config.seed)
    parts: Callable[[Any], tuple[type, Any]]
    # (config) -> constructor arguments of the model, sizes taken from the data where it takes them
    model_args: Callable[[Any], dict]
    headline: Headline
    # (LoadedModel, device) -> separation.inference.separate.Separator
    separator: Callable[[Any, str], Any]
    # (LoadedModel, argparse.Namespace of `separation evaluate`) -> one summary line
    evaluate: Callable[[Any, Any], str]
    # What the task calls on its model beyond forward, checked when a checkpoint is loaded.
    model_method: str | None
    # What a report says the task is, after its name.
    description: str
    # Whether training goes through an objective (`config.objective`, registry separation.objectives);
    # other tasks refuse a non-default objective section.
    objectives: bool = False


# ---------------------------------------------------------------------------------------- speech


def _speech_data():
    from separation.config import DataConfig

    return DataConfig


def _speech_validate(config, models) -> None:
    from separation.config import validate_speech_section

    validate_speech_section(config)


def _speech_parts(config):
    from separation.data.speech_datamodule import SpeechDataModule
    from separation.systems.speech import SpeechSeparationSystem

    return SpeechSeparationSystem, SpeechDataModule(config.data, seed=config.seed)


def _speech_model_args(config) -> dict:
    from separation.systems.speech import speech_model_args

    return speech_model_args(config)


def _speech_separator(loaded, device):
    from separation.inference.separate import speech_separator

    return speech_separator(loaded, device)


def _speech_evaluate(loaded, args) -> str:
    from separation.evaluation.speech import evaluate_from_cli

    return evaluate_from_cli(loaded, args)


# ----------------------------------------------------------------------------------------- music


def _music_data():
    from separation.config import MusicDataConfig

    return MusicDataConfig


def _music_validate(config, models) -> None:
    from separation.config import validate_music_section

    validate_music_section(config, models)


def _music_parts(config):
    from separation.data.music_datamodule import MusicDataModule
    from separation.systems.music import MusicSeparationSystem

    return MusicSeparationSystem, MusicDataModule(config.data, seed=config.seed)


def _music_model_args(config) -> dict:
    from separation.systems.music import music_model_args

    return music_model_args(config)


def _music_separator(loaded, device):
    from separation.inference.separate import music_separator

    return music_separator(loaded, device)


def _music_evaluate(loaded, args) -> str:
    from separation.evaluation.music import evaluate_from_cli

    return evaluate_from_cli(loaded, args)


# --------------------------------------------------------------------------------------- enhance


def _enhance_data():
    from separation.config import EnhanceDataConfig

    return EnhanceDataConfig


def _enhance_validate(config, models) -> None:
    from separation.config import validate_enhance_section

    validate_enhance_section(config, models)


def _enhance_parts(config):
    from separation.data.enhance_datamodule import EnhanceDataModule
    from separation.systems.enhance import EnhancementSystem

    return EnhancementSystem, EnhanceDataModule(config.data, seed=config.seed, objective=config.objective.name)


def _enhance_model_args(config) -> dict:
    from separation.systems.enhance import enhance_model_args

    return enhance_model_args(config)


def _enhance_separator(loaded, device):
    from separation.inference.separate import enhance_separator

    return enhance_separator(loaded, device)


def _enhance_evaluate(loaded, args) -> str:
    from separation.evaluation.enhance_checkpoint import evaluate_from_cli

    return evaluate_from_cli(loaded, args)


TASKS: dict[str, Task] = {
    "speech": Task(
        name="speech",
        data_config=_speech_data,
        validate=_speech_validate,
        parts=_speech_parts,
        model_args=_speech_model_args,
        headline=Headline("val/si_snri", "test/si_snri", "SI-SNRi"),
        separator=_speech_separator,
        evaluate=_speech_evaluate,
        model_method=None,
        description="speaker separation; SI-SNRi is the SI-SNR gain over the mixture, speakers matched by PIT",
    ),
    "music": Task(
        name="music",
        data_config=_music_data,
        validate=_music_validate,
        parts=_music_parts,
        model_args=_music_model_args,
        headline=Headline("val/sdr", "test/sdr", "SDR", "test/sdri", "SDRi",
                          (("mixture", "test/sdr_mixture"), ("oracle ratio mask", "test/sdr_oracle"))),
        separator=_music_separator,
        evaluate=_music_evaluate,
        model_method="separate",
        description="music stem separation; SDR per stem (museval BSS Eval v4), median over frames, mean over stems",
    ),
    "enhance": Task(
        name="enhance",
        data_config=_enhance_data,
        validate=_enhance_validate,
        parts=_enhance_parts,
        model_args=_enhance_model_args,
        headline=Headline("val/si_snri", "test/si_snri", "SI-SNRi"),
        separator=_enhance_separator,
        evaluate=_enhance_evaluate,
        model_method=None,
        description="speech enhancement (denoising); SI-SNRi is the SI-SNR gain of the speech estimate over the noisy input",
        objectives=True,
    ),
}


def get_task(name: str) -> Task:
    """The entry of `name`; ConfigError (one line, naming the choices) when there is none."""
    if name not in TASKS:
        from separation.config import ConfigError

        raise ConfigError(f"config key 'task' is '{name}'; allowed: {', '.join(TASKS)}")
    return TASKS[name]
