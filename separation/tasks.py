"""The task registry: what a value of `config.task` brings with it, in one place.

A task is one entry of `TASKS`: its data section and the checks on it, its
LightningModule and DataModule, how its model's constructor arguments follow
from the data, every metric name it logs, selects by and reports (`Headline`:
the selection metric picks `best.ckpt` and ranks a study's cells, so both
follow one name), how its checkpoints separate audio and are evaluated (and
fixed baselines, where it has them), how a report reads that evaluation back,
the synthetic batches the step benchmark trains on, and the words its reports
use. Training (`separation.train`, the systems), configuration
(`separation.config`), the CLI, the benchmarks, inference, collection and the
study report look the task up here instead of branching on its name, so a new
task is one new entry (tests/test_toy_task.py registers one and runs it through
train, grid, report and evaluate).

Each task's config `data` section and its checks live below this registry
(`separation.data_config.<task>`) and are imported here; heavy parts (Lightning,
torch models) are imported only when a function of an entry is called, so
reading a config stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from separation.data_config.enhance import EnhanceDataConfig, validate_enhance_section
from separation.data_config.music import MusicDataConfig, validate_music_section
from separation.data_config.speech import DataConfig, validate_speech_section
from separation.errors import ConfigError


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
    # What the report says the reference rows are (after "Reference rows, scored by ...: ").
    references_note: str = ""
    # Every test metric the system logs that TensorBoard's HPARAMS tab shows beside the run.
    test_metrics: tuple[str, ...] = ()

    @property
    def quoted(self) -> str:
        """The test metric a collapsed run's verdict quotes: the gain over the input."""
        return self.improvement or self.test


@dataclass(frozen=True)
class Chunking:
    """How `separation separate` / `evaluate` cut long audio by default (each can be given instead):
    chunk length in seconds, overlap as a fraction of it, chunks per model call."""

    seconds: float
    overlap: float
    batch_size: int

    def settings(self) -> dict:
        """As `separation.inference.separate.Separator`'s fields."""
        return {"chunk_seconds": self.seconds, "overlap": self.overlap, "batch_size": self.batch_size}


@dataclass(frozen=True)
class Task:
    name: str
    # The dataclass of the config's `data` section (returned by a function, so an entry may also name
    # one lazily), and its checks (raise ConfigError); both in `separation.data_config`.
    data_config: Callable[[], type]
    validate: Callable[[Any, Any], None]  # (config, models registry) -> None
    # () -> the LightningModule class, (config) -> its LightningDataModule instance seeded by config.seed
    system: Callable[[], type]
    datamodule: Callable[[Any], Any]
    # (config) -> constructor arguments of the model, sizes taken from the data where it takes them
    model_args: Callable[[Any], dict]
    headline: Headline
    # (LoadedModel, device) -> separation.inference.separate.Separator, cutting audio by `chunking`
    separator: Callable[[Any, str], Any]
    chunking: Chunking
    # (LoadedModel, argparse.Namespace of `separation evaluate`) -> one summary line
    evaluate: Callable[[Any, Any], str]
    # What `evaluate` (and `separation evaluate --baseline`) writes into its folder, read back by the
    # report: (folder) -> separation.evaluation.scores.Evaluation (flat named scores), None when absent.
    evaluation_file: str
    evaluation_scores: Callable[[Any], Any]
    # What the task calls on its model beyond forward, checked when a checkpoint is loaded.
    model_method: str | None
    # What a report says the task is, after its name.
    description: str
    # (config, count, seed, device) -> `count` in-memory training batches shaped as the task's
    # DataModule yields them (separation.bench.signals): what `separation.bench.step_timing` trains on.
    bench_batches: Callable[[Any, int, int, str], list]
    # Whether the training loss is in dB (a negative SI-SNR): the GPU check then bounds bf16's loss
    # difference in dB, else as a fraction of the fp32 loss.
    loss_in_db: bool
    # Whether training goes through an objective (`config.objective`, registry separation.objectives);
    # other tasks refuse a non-default objective section.
    objectives: bool = False
    # `separation evaluate --baseline NAME` (argparse.Namespace) -> one summary line; None: no baselines.
    baseline: Callable[[Any], str] | None = None
    # Score names of its evaluation that the report's within-groups table shows (empty: all of them).
    compared_scores: tuple[str, ...] = ()
    # What the task's estimates are computed from, in a report's words ("mixture", "noisy input").
    input_name: str = "mixture"


def _find(target: str):
    """`"module:name"` -> that object, imported now."""
    import importlib

    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def _lazy(target: str) -> Callable:
    """`"module:name"` -> a function that imports the function `name` of `module` when called, and calls it."""

    def call(*args, **kwargs):
        return _find(target)(*args, **kwargs)

    call.__qualname__ = call.__name__ = target.split(":")[1]
    return call


def _class(target: str) -> Callable[[], type]:
    """`"module:name"` -> a function that imports that class when called."""
    return lambda: _find(target)


def _datamodule(datamodule: str, **from_config: str | Callable) -> Callable:
    """(config) -> datamodule(config.data, seed=config.seed, **{key: config.<dotted path>});
    a callable instead of a path is called with the config."""

    def build(config):
        from operator import attrgetter

        extra = {key: path(config) if callable(path) else attrgetter(path)(config) for key, path in from_config.items()}
        return _find(datamodule)(config.data, seed=config.seed, **extra)

    return build


TASKS: dict[str, Task] = {
    "speech": Task(
        name="speech",
        data_config=lambda: DataConfig,
        validate=validate_speech_section,
        system=_class("separation.systems.speech:SpeechSeparationSystem"),
        datamodule=_datamodule("separation.data.speech_datamodule:SpeechDataModule"),
        model_args=_lazy("separation.systems.speech:speech_model_args"),
        headline=Headline("val/si_snri", "test/si_snri", "SI-SNRi", test_metrics=("test/si_snri", "test/si_snr")),
        separator=_lazy("separation.inference.separate:speech_separator"),
        # Longer than the generated test utterances (separated whole); a 2 s cross-fade to re-match speakers on.
        chunking=Chunking(8.0, 0.25, 4),
        evaluate=_lazy("separation.evaluation.speech:evaluate_from_cli"),
        evaluation_file="summary.json",
        evaluation_scores=_lazy("separation.evaluation.scores:speech_scores"),
        model_method=None,
        description="speaker separation; SI-SNRi is the SI-SNR gain over the mixture, speakers matched by PIT",
        bench_batches=_lazy("separation.bench.signals:speech_config_batches"),
        loss_in_db=True,
        compared_scores=("SI-SNRi", "SDR", "SDRi"),
    ),
    "music": Task(
        name="music",
        data_config=lambda: MusicDataConfig,
        validate=validate_music_section,
        system=_class("separation.systems.music:MusicSeparationSystem"),
        datamodule=_datamodule("separation.data.music_datamodule:MusicDataModule"),
        model_args=_lazy("separation.systems.music:music_model_args"),
        headline=Headline("val/sdr", "test/sdr", "SDR", "test/sdri", "SDRi",
                          (("mixture", "test/sdr_mixture"), ("oracle ratio mask", "test/sdr_oracle")),
                          references_note="the mixture as every stem's estimate (SDRi 0 by definition), and the oracle "
                          "ratio mask (the references' ideal soft mask in the model's STFT, every bin: the ceiling of a "
                          "mask-based model).",
                          test_metrics=("test/sdr", "test/sdri")),
        separator=_lazy("separation.inference.separate:music_separator"),
        chunking=Chunking(30.0, 0.1, 1),  # a small STFT per batch; a 3 s cross-fade hides the seams
        evaluate=_lazy("separation.evaluation.music:evaluate_from_cli"),
        evaluation_file="bsseval.json",
        evaluation_scores=_lazy("separation.evaluation.scores:music_scores"),
        model_method="separate",
        description="music stem separation; SDR per stem (museval BSS Eval v4), median over frames, mean over stems",
        bench_batches=_lazy("separation.bench.signals:music_config_batches"),
        loss_in_db=False,
    ),
    "enhance": Task(
        name="enhance",
        data_config=lambda: EnhanceDataConfig,
        validate=validate_enhance_section,
        system=_class("separation.systems.enhance:EnhancementSystem"),
        datamodule=_datamodule("separation.data.enhance_datamodule:EnhanceDataModule", objective="objective.name",
                               needs_noise_only=_lazy("separation.objectives:needs_noise_only")),
        model_args=_lazy("separation.systems.enhance:enhance_model_args"),
        headline=Headline("val/si_snri", "test/si_snri", "SI-SNRi", test_metrics=("test/si_snri", "test/si_snr", "test/sdr")),
        separator=_lazy("separation.inference.separate:enhance_separator"),
        chunking=Chunking(4.0, 0.25, 8),  # many receptive fields per chunk; 8 chunks a call keep a GPU busy
        evaluate=_lazy("separation.evaluation.enhance_checkpoint:evaluate_from_cli"),
        evaluation_file="summary.json",
        evaluation_scores=_lazy("separation.evaluation.scores:enhance_scores"),
        model_method=None,
        description="speech enhancement (denoising); SI-SNRi is the SI-SNR gain of the speech estimate over the noisy input",
        bench_batches=_lazy("separation.bench.signals:enhance_config_batches"),
        loss_in_db=False,  # the objective's loss: a negative SI-SNR for some, not for all
        objectives=True,
        baseline=_lazy("separation.evaluation.enhance_checkpoint:evaluate_baseline_from_cli"),
        compared_scores=("SI-SNRi", "STOI", "PESQ", "SDR", "SDRi"),
        input_name="noisy input",
    ),
}


def get_task(name: str) -> Task:
    """The entry of `name`; ConfigError (one line, naming the choices) when there is none."""
    if name not in TASKS:
        raise ConfigError(f"config key 'task' is '{name}'; allowed: {', '.join(TASKS)}")
    return TASKS[name]
