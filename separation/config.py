"""Training configuration as plain typed data, validated once where it enters.

A run is fully described by one `Config`. It is read from YAML (`load_config`),
optionally patched with `key.path=value` overrides (the CLI's `--set` and the grid
runner's axes both use `apply_overrides`), and checked by `validate`. Every error
names the offending key and what was allowed, so a typo in a grid spec fails
before any trial starts.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import re
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, get_type_hints

import yaml


from separation.errors import UserError


class ConfigError(UserError):
    """A configuration value is missing, unknown or out of range (one-line message)."""

    def __init__(self, message: str = ""):
        # A key or value quoted from the input may hold a line break: shown escaped, the message stays one line.
        super().__init__(str(message).replace("\r", "\\r").replace("\n", "\\n"))


@dataclass
class ModelConfig:
    name: str = "svoice"
    # Constructor arguments of the model class; checked against its signature.
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfig:
    # Folder holding a LibriMix-layout corpus (the one holding `Libri2Mix/`) or a
    # wsj0-mix folder (the one holding `tr/ cv/ tt/`).
    root: str = "data/speech"
    layout: str = "librimix"  # librimix | wsj0mix
    n_src: int = 2
    sample_rate: int = 8000
    librimix_mode: str = "min"  # min | max
    librimix_mixture: str = "mix_clean"  # mix_clean | mix_both
    # None picks the layout's usual names (librimix: train-100/dev/test, wsj0mix: tr/cv/tt).
    train_split: str | None = None
    valid_split: str | None = None
    test_split: str | None = None
    segment_seconds: float = 4.0
    # Draw speakers and gains on the fly from the training split's single-speaker sources.
    dynamic_mixing: bool = False
    # Examples per training epoch; None means one pass over the training mixtures.
    train_items_per_epoch: int | None = None
    # Cap on validation utterances (full length); None keeps every one.
    valid_max_items: int | None = None
    batch_size: int = 4
    num_workers: int = 0


@dataclass
class MusicDataConfig:
    # Folder holding MUSDB18-HQ wav folders (`train/<track>/mixture.wav ...`) or MUSDB18 `.stem.mp4`
    # files (`train/<track>.stem.mp4`); an optional `musdb.yaml` there replaces musdb's split.
    root: str = "data/music"
    is_wav: bool = True
    # Where `.stem.mp4` tracks are decoded to wav once (is_wav: false); None means ROOT/decoded.
    cache_dir: str | None = None
    # musdb targets to separate: vocals, drums, bass, other, accompaniment.
    stems: list[str] = field(default_factory=lambda: ["vocals", "accompaniment"])
    sample_rate: int = 44100
    # Training chunk: 11.88 s is Spleeter's T = 512 frames at hop 1024.
    segment_seconds: float = 11.88
    batch_size: int = 4
    num_workers: int = 0
    # Chunks per training epoch; None means 64 per training track.
    train_items_per_epoch: int | None = None
    # Each source of a training chunk from its own random track.
    random_mix: bool = True
    # Per-source random gain and channel swap in training.
    augment: bool = True
    gain_range: list[float] = field(default_factory=lambda: [0.25, 1.25])
    channel_swap: float = 0.5
    # Validation and test audio per track: a centred excerpt of this length; None means the whole track.
    valid_seconds: float | None = 10.0
    test_seconds: float | None = None
    # Cap on validation tracks (musdb's order); None keeps every one.
    valid_max_items: int | None = None


def validate_music_data(data: MusicDataConfig, key: str = "data") -> None:
    """Raise ConfigError naming the first key of the music data section that is out of range."""
    if not isinstance(data.stems, list) or not data.stems or not all(isinstance(s, str) for s in data.stems):
        raise ConfigError(f"config key '{key}.stems' must be a non-empty list of names, got {data.stems!r}")
    if len(set(data.stems)) != len(data.stems):
        raise ConfigError(f"config key '{key}.stems' lists a stem twice: {data.stems}")
    for name in ("sample_rate", "segment_seconds", "batch_size"):
        value = getattr(data, name)
        if not value > 0:
            raise ConfigError(f"config key '{key}.{name}' must be positive, got {value!r}")
    for name in ("train_items_per_epoch", "valid_seconds", "test_seconds", "valid_max_items"):
        value = getattr(data, name)
        if value is not None and not value > 0:
            raise ConfigError(f"config key '{key}.{name}' must be positive or null, got {value!r}")
    if data.num_workers < 0:
        raise ConfigError(f"config key '{key}.num_workers' must be >= 0, got {data.num_workers}")
    gains = data.gain_range
    if not (isinstance(gains, list) and len(gains) == 2 and all(isinstance(g, (int, float)) for g in gains)
            and 0 < gains[0] <= gains[1]):
        raise ConfigError(f"config key '{key}.gain_range' must be [low, high] with 0 < low <= high, got {gains!r}")
    if not 0 <= data.channel_swap <= 1:
        raise ConfigError(f"config key '{key}.channel_swap' is a probability in [0, 1], got {data.channel_swap}")


@dataclass
class EnhanceDataConfig:
    # A generated noisy corpus (`separation data noisy ROOT`: ROOT/corpus.json, ROOT/{train,valid,test}/)
    # or a VoiceBank-DEMAND folder (`clean_trainset_*wav/`, `noisy_trainset_*wav/`, `clean_testset_wav/`, ...).
    root: str = "data/noisy"
    layout: str = "noisy"  # noisy | voicebank
    # The generated corpus must be at this rate; VoiceBank-DEMAND (48 kHz) is resampled to it.
    sample_rate: int = 16000
    # VoiceBank-DEMAND's `*_trainset_{trainset}_wav` folders when there are several (28spk, 56spk).
    trainset: str | None = None
    segment_seconds: float = 2.0
    batch_size: int = 4
    # Segments per training epoch (random crops of random items); None means one per training item.
    train_items_per_epoch: int | None = None
    # Cap on validation utterances (whole, in file order); None keeps every one.
    valid_max_items: int | None = None
    num_workers: int = 0


ENHANCE_LAYOUTS = ("noisy", "voicebank")


def validate_enhance_section(config: "Config", models) -> None:
    """The enhancement data section, and a model that enhances: it must have a family loss."""
    if not isinstance(config.data, EnhanceDataConfig):
        raise ConfigError(f"config section 'data' must be an enhancement data section for task '{config.task}'")
    from separation.losses.enhance import DEFAULT_LOSSES

    _choice("model.name", config.model.name, DEFAULT_LOSSES)
    data = config.data
    _choice("data.layout", data.layout, ENHANCE_LAYOUTS)
    if data.trainset is not None and data.layout != "voicebank":
        raise ConfigError(f"config key 'data.trainset' applies to layout 'voicebank' only, got layout '{data.layout}'")
    _validate_waveform_data(data)
    from separation.objectives import OBJECTIVES

    n_src = config.model.args.get("n_src", 1)
    objective = OBJECTIVES.get(config.objective.name)  # an unknown name is reported by validate_objective
    low, high = (objective.min_sources, objective.max_sources) if objective else (1, None)
    if n_src < low or (high is not None and n_src > high):
        allowed = f"{low} to {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"config key 'model.args.n_src' is {n_src}; objective '{config.objective.name}' trains "
                          f"models of {allowed} output sources")


@dataclass
class ObjectiveConfig:
    # What a training batch teaches the model (registry `separation.objectives.OBJECTIVES`); enhancement only.
    name: str = "supervised"
    # Constructor arguments of the objective; checked against its signature.
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimizerConfig:
    name: str = "adam"
    lr: float = 5e-4
    weight_decay: float = 0.0
    # Extra keyword arguments of the optimizer (momentum, betas, eps ...).
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class SchedulerConfig:
    name: str = "none"
    # Keyword arguments of the scheduler builder in `separation.optim`.
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class ClippingConfig:
    mode: str = "none"  # none | norm | value
    value: float | None = None


@dataclass
class TrainerConfig:
    max_epochs: int = 10
    max_steps: int = -1
    # Wall-clock budget for the whole fit (minutes); None means no limit.
    max_minutes: float | None = None
    accelerator: str = "auto"
    devices: int = 1
    # auto | 32 | bf16-mixed | 16-mixed. auto: bf16 on a bf16 CPU for a model family measured to train as
    # in fp32 and faster, else fp32 (separation.training.precision); each run records what it chose.
    # The committed study specs pin "32", the precision they ran in, so their trial ids stay the same.
    precision: str = "auto"
    limit_train_batches: float = 1.0
    limit_val_batches: float = 1.0
    check_val_every_n_epoch: int = 1
    log_every_n_steps: int = 10
    deterministic: bool = False
    # Separated examples written to TensorBoard at each validation.
    audio_examples: int = 2
    enable_progress_bar: bool = True
    # End the run once every threshold in `targets` is reached (status stopped-at-target).
    stop_at_target: bool = False


@dataclass
class Config:
    task: str = "speech"
    seed: int = 0
    # Where checkpoints, metrics and TensorBoard events of this run go; empty: `separation train`
    # derives runs/<config file stem> (a grid sets its trials' own folders).
    run_dir: str | None = None
    model: ModelConfig = field(default_factory=ModelConfig)
    # DataConfig for task speech, MusicDataConfig for music, EnhanceDataConfig for enhance (picked by `task` when read).
    data: DataConfig | MusicDataConfig | EnhanceDataConfig = field(default_factory=DataConfig)
    # The training objective; tasks without objectives (`Task.objectives` false) keep the default.
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    clipping: ClippingConfig = field(default_factory=ClippingConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    # Time-to-target: metric name -> thresholds (higher is better), e.g. {"val/si_snri": [5, 10]}.
    targets: dict[str, list[float]] = field(default_factory=dict)


# Keys that do not change what a run computes: left out of trial ids (separation.grid.spec) and
# free to differ when `train` continues a run folder (separation.training.run_folder).
NON_TRAINING_KEYS = ("run_dir", "trainer.enable_progress_bar", "data.num_workers")

LAYOUTS = ("librimix", "wsj0mix")
PRECISIONS = ("auto", "32", "bf16-mixed", "16-mixed")
CLIPPING_MODES = ("none", "norm", "value", "autoclip")  # autoclip: clipping.value is the percentile


# ---------------------------------------------------------------------------
# dict <-> dataclass


# Integers a config may hold: what torch, numpy and Lightning take as a size or count (int64).
INT_LIMIT = 2**63


def check_finite(value: Any, key: str) -> None:
    """Refuse NaN, infinities and integers beyond int64 anywhere in a value (mappings and lists walked).

    A NaN learning rate or threshold would otherwise reach training and end the run as `diverged`,
    an outcome the report blames on the optimizer.
    """
    if isinstance(value, dict):
        for name, item in value.items():
            check_finite(item, f"{key}.{name}")
    elif isinstance(value, (list, tuple)):
        for item in value:
            check_finite(item, key)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"config key '{key}' must be a finite number, got {value!r}")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= INT_LIMIT:
        raise ConfigError(f"config key '{key}' must be below 2**63 in size, got {_short(value)}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Check one leaf value against its annotated type, converting where lossless."""
    if is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}' must be a mapping, got {type(value).__name__}")
        return _from_dict(hint, value, key + ".")
    text = str(hint)
    if value is None:
        if "None" in text:
            return None
        raise ConfigError(f"config key '{key}' must not be empty")
    check_finite(value, key)
    if text.startswith("dict"):
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}' must be a mapping, got {_short(value)}")
        return dict(value)
    if hint is bool or text.startswith("bool"):
        if not isinstance(value, bool):
            raise ConfigError(f"config key '{key}' must be true or false, got {value!r}")
        return value
    if hint is str or text.startswith("str"):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # precision: 32 reads as an int in YAML
        if not isinstance(value, str):
            raise ConfigError(f"config key '{key}' must be a string, got {value!r}")
        return value
    if hint is int or text.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and not value.is_integer()):
            raise ConfigError(f"config key '{key}' must be an integer, got {_short(value)}")
        check_finite(int(value), key)  # 1e300 is a whole number, and too big for any size
        return int(value)
    if hint is float or text.startswith("float"):
        if isinstance(value, str):
            try:
                value = float(value)  # YAML reads 1e-3 as a string
            except ValueError:
                pass
            check_finite(value, key)  # "nan" and "inf" read as numbers here
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key '{key}' must be a number, got {_short(value)}")
        return float(value)
    return value


def _from_dict(cls: type, data: dict, prefix: str = "", hints: dict | None = None) -> Any:
    hints = {**get_type_hints(cls), **(hints or {})}
    names = [f.name for f in fields(cls)]
    unknown = [k for k in data if k not in names]
    if unknown:
        raise ConfigError(
            f"config key '{prefix}{unknown[0]}' is unknown; allowed: {', '.join(names)}"
        )
    values = {k: _coerce(v, hints[k], prefix + k) for k, v in data.items()}
    return cls(**values)


def config_from_dict(data: dict) -> Config:
    """Build and validate a Config from nested plain data."""
    if not isinstance(data, dict):
        raise ConfigError("config must be a mapping of sections (model, data, optimizer, ...)")
    from separation.tasks import TASKS

    task = data.get("task", Config.task)
    _choice("task", task, TASKS)
    data_section = TASKS[task].data_config()
    config = _from_dict(Config, data, hints={"data": data_section})
    if "data" not in data:
        config.data = data_section()
    validate(config)
    return config


def config_to_dict(config: Config) -> dict:
    return dataclasses.asdict(config)


def flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; used for overrides, hparams and trial tables."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def apply_overrides(data: dict, overrides: dict[str, Any]) -> dict:
    """Return a deep copy of `data` with each dotted key set to its value.

    Keys inside `args` mappings may be new (they are checked against the
    constructor later); any other unknown key is reported by validation.
    """
    import copy

    result = copy.deepcopy(data)
    for dotted, value in overrides.items():
        node = result
        parts = dotted.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"config key '{dotted}': '{part}' is not a section")
            node = child
        node[parts[-1]] = value
    return result


def parse_set_arguments(items: list[str]) -> dict[str, Any]:
    """Parse CLI `key.path=value` pairs; values are read as YAML scalars."""
    overrides = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got '{item}'")
        key, raw = item.split("=", 1)
        try:
            overrides[key.strip()] = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            raise ConfigError(f"--set {item}: the value of '{key.strip()}' is not a YAML scalar, list or mapping") from None
    return overrides


def read_yaml(path: str | Path) -> dict:
    """Read a YAML mapping, with one-line errors naming the file."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; expected a YAML file")
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    try:
        data = yaml.safe_load(path.read_text())
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file; expected YAML") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{path}: malformed YAML{where}: {getattr(error, 'problem', error)}") from None
    if data is None:
        raise ConfigError(f"{path}: empty; expected a YAML mapping")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> Config:
    data = apply_overrides(read_yaml(path), overrides or {})
    try:
        return config_from_dict(data)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


# ---------------------------------------------------------------------------
# validation


def _choice(key: str, value: str, allowed) -> None:
    allowed = list(allowed)
    if value not in allowed:
        raise ConfigError(f"config key '{key}' is '{value}'; allowed: {', '.join(map(str, allowed))}")


def _positive(key: str, value: float | None, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if value is None or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"config key '{key}' must be a positive number, got {value!r}")


def validate(config: Config) -> None:
    """Check every choice against its registry and every size against its range."""
    from separation import models, optim
    from separation.tasks import TASKS

    _choice("task", config.task, TASKS)
    _choice("model.name", config.model.name, models.MODELS)
    models.check_model_args(config.model.name, config.model.args, key="model.args")
    check_argument_kinds("model.args", config.model.args, models.MODELS[config.model.name].__init__)
    TASKS[config.task].validate(config, models)
    validate_objective(config, TASKS[config.task].objectives)
    _validate_training(config, optim)


FLAG, NUMBER, TEXT, LIST = "true or false", "a number", "text", "a list"
# Words of a type annotation -> the kind of config value they take.
_ANNOTATION_KINDS = {"bool": FLAG, "int": NUMBER, "float": NUMBER, "str": TEXT, "list": LIST, "List": LIST,
                     "tuple": LIST, "Tuple": LIST, "Sequence": LIST, "Iterable": LIST}


def _kind(value: Any) -> str | None:
    """What a default stands for: a flag, a number, text or a sequence (None: anything goes)."""
    if isinstance(value, bool):
        return FLAG
    if isinstance(value, (int, float)):
        return NUMBER
    if isinstance(value, str):
        return TEXT
    if isinstance(value, (list, tuple)):
        return LIST
    return None


def _kinds(parameter: inspect.Parameter) -> set[str]:
    """The kinds a parameter takes: from its annotation (`int | Sequence[str]`: a number or a list), else
    from its default; empty when either says nothing checkable (`Any`, a tensor, a None default)."""
    annotation = parameter.annotation
    if annotation is not inspect.Parameter.empty:
        words = set(re.findall(r"[A-Za-z_]+", annotation if isinstance(annotation, str) else str(annotation)))
        if "Any" in words:
            return set()
        kinds = {kind for word, kind in _ANNOTATION_KINDS.items() if word in words}
        if kinds:
            return kinds
    default = _kind(parameter.default) if parameter.default is not inspect.Parameter.empty else None
    return {default} if default else set()


def _is_kind(value: Any, kind: str | None) -> bool:
    if kind == FLAG:
        return isinstance(value, bool)
    if kind == NUMBER:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == TEXT:
        return isinstance(value, str)
    if kind == LIST:
        return isinstance(value, (list, tuple))
    return True


def check_argument_kinds(key: str, args: dict[str, Any], function) -> None:
    """Each argument of a kind its parameter takes (annotation, else default): a number for a number,
    true/false for a flag, text for text, a list for a tuple, and a list's items as the default's.
    `nesterov: "no"` would otherwise train with Nesterov momentum on."""
    parameters = inspect.signature(function).parameters
    for name, value in args.items():
        if name not in parameters:
            continue  # reported by the registry's own check
        kinds, default = _kinds(parameters[name]), parameters[name].default
        if value is None and (default is None or re.search(r"\b(None|Optional)\b", str(parameters[name].annotation))):
            continue
        if kinds and not any(_is_kind(value, kind) for kind in kinds):
            raise ConfigError(f"config key '{key}.{name}' must be {' or '.join(sorted(kinds))}, got {_short(value)}")
        if isinstance(value, (list, tuple)) and isinstance(default, (list, tuple)) and default:
            item_kind = _kind(default[0])
            if not all(_is_kind(item, item_kind) for item in value):
                raise ConfigError(f"config key '{key}.{name}' must hold {item_kind} items like {default!r}, got {_short(value)}")


def refused_by(key: str, what: str, build) -> Any:
    """`build()`; whatever it raises becomes one ConfigError naming `key`.

    The constructors and step functions of torch's optimizers and schedulers check their own
    arguments (a momentum below 0, a factor above 1, a tuple too short): any exception from them
    with arguments that passed the checks above is the configuration's, so it is reported as such
    instead of as a traceback in the middle of a run.
    """
    try:
        return build()
    except Exception as error:  # noqa: BLE001 - see the docstring
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(f"config key '{key}' is refused by {what}: {message}") from None


def validate_objective(config: Config, task_has_objectives: bool) -> None:
    """`objective.name` from the registry, `objective.args` from its constructor's keywords."""
    objective = config.objective
    if not task_has_objectives:
        if objective != ObjectiveConfig():
            raise ConfigError(f"config section 'objective' applies to the enhancement task only, not task '{config.task}'")
        return
    from separation.objectives import OBJECTIVES, objective_arguments

    _choice("objective.name", objective.name, OBJECTIVES)
    allowed = objective_arguments(objective.name)
    for arg in objective.args:
        if arg not in allowed:
            listed = ", ".join(allowed) if allowed else "none"
            raise ConfigError(f"config key 'objective.args.{arg}' is unknown for objective '{objective.name}'; allowed: {listed}")
    from separation.objectives import OBJECTIVES, build_objective

    check_argument_kinds("objective.args", objective.args, OBJECTIVES[objective.name].__init__)
    refused_by("objective.args", f"objective '{objective.name}'", lambda: build_objective(objective.name, objective.args))


def validate_music_section(config: Config, models) -> None:
    if not isinstance(config.data, MusicDataConfig):
        raise ConfigError("config section 'data' must be a music data section for task 'music'")
    validate_music_data(config.data, key="data")
    if "stems" not in inspect.signature(models.MODELS[config.model.name].__init__).parameters:
        raise ConfigError(f"config key 'model.name' is '{config.model.name}', which separates no music stems; use unet")
    stems = config.model.args.get("stems")
    if stems is not None:
        from separation.models.unet import stem_names

        try:
            names = list(stem_names(stems))
        except (TypeError, ValueError) as error:  # 0.5 stems, a mapping of stems
            raise ConfigError(f"config key 'model.args.stems': {error}") from None
        if names != config.data.stems:
            raise ConfigError(f"config key 'model.args.stems' is {names} but 'data.stems' is {config.data.stems}")


def validate_speech_section(config: Config, models=None) -> None:
    if not isinstance(config.data, DataConfig):
        raise ConfigError(f"config section 'data' must be a speech data section for task '{config.task}'")
    data = config.data
    _choice("data.layout", data.layout, LAYOUTS)
    _choice("data.librimix_mode", data.librimix_mode, ("min", "max"))
    _choice("data.librimix_mixture", data.librimix_mixture, ("mix_clean", "mix_both", "mix_single"))
    if data.n_src < 1:
        raise ConfigError(f"config key 'data.n_src' must be at least 1, got {data.n_src}")
    model_src = config.model.args.get("n_src")
    if model_src is not None and model_src != data.n_src:
        raise ConfigError(f"config key 'model.args.n_src' is {model_src} but 'data.n_src' is {data.n_src}")
    _validate_waveform_data(data)


def _validate_waveform_data(data) -> None:
    """The sizes every segment-based waveform data section (speech, enhance) shares."""
    _positive("data.sample_rate", data.sample_rate)
    _positive("data.segment_seconds", data.segment_seconds)
    _positive("data.batch_size", data.batch_size)
    _positive("data.train_items_per_epoch", data.train_items_per_epoch, allow_none=True)
    _positive("data.valid_max_items", data.valid_max_items, allow_none=True)
    if data.num_workers < 0:
        raise ConfigError(f"config key 'data.num_workers' must be >= 0, got {data.num_workers}")


def _at_least(key: str, value: int, low: int, also: tuple[int, ...] = ()) -> None:
    if value < low and value not in also:
        allowed = f"at least {low}" + "".join(f" or {v}" for v in also)
        raise ConfigError(f"config key '{key}' must be {allowed}, got {value}")


def _validate_counts(config: Config) -> None:
    """The counts Lightning and numpy would refuse mid-run, refused here."""
    if not 0 <= config.seed < 2**32:
        raise ConfigError(f"config key 'seed' must be from 0 to 2**32 - 1 (numpy's seeds), got {config.seed}")
    trainer = config.trainer
    _at_least("trainer.max_epochs", trainer.max_epochs, 0, also=(-1,))
    _at_least("trainer.max_steps", trainer.max_steps, 0, also=(-1,))
    _at_least("trainer.devices", trainer.devices, 1)
    _at_least("trainer.check_val_every_n_epoch", trainer.check_val_every_n_epoch, 1)
    _at_least("trainer.log_every_n_steps", trainer.log_every_n_steps, 1)
    _at_least("trainer.audio_examples", trainer.audio_examples, 0)
    for name in ("limit_train_batches", "limit_val_batches"):
        value = getattr(trainer, name)
        if value > 1 and not value.is_integer():
            raise ConfigError(f"config key 'trainer.{name}' must be a fraction up to 1.0 or a whole number of "
                              f"batches, got {value}")


def _validate_training(config: Config, optim) -> None:
    _choice("optimizer.name", config.optimizer.name, optim.OPTIMIZERS)
    _positive("optimizer.lr", config.optimizer.lr)
    if config.optimizer.weight_decay < 0:
        raise ConfigError(f"config key 'optimizer.weight_decay' must be >= 0, got {config.optimizer.weight_decay}")
    optim.check_optimizer_args(config.optimizer.name, config.optimizer.args, key="optimizer.args")
    entry = optim.OPTIMIZERS[config.optimizer.name]
    check_argument_kinds("optimizer.args", config.optimizer.args, entry.cls.__init__)
    _choice("scheduler.name", config.scheduler.name, optim.SCHEDULERS)
    optim.check_scheduler_args(config.scheduler.name, config.scheduler.args, key="scheduler.args")
    check_argument_kinds("scheduler.args", config.scheduler.args, optim.SCHEDULERS[config.scheduler.name])
    # Built once on a stand-in parameter and stepped: what torch refuses is refused here, not mid-run.
    optimizer = config.optimizer
    stand_in = refused_by("optimizer.*", f"optimizer '{optimizer.name}'", lambda: optim.try_optimizer(
        optimizer.name, optimizer.lr, optimizer.weight_decay, optimizer.args))
    refused_by("scheduler.args", f"scheduler '{config.scheduler.name}'", lambda: optim.try_scheduler(
        config.scheduler.name, stand_in, config.scheduler.args))

    _choice("clipping.mode", config.clipping.mode, CLIPPING_MODES)
    if config.clipping.mode != "none":
        _positive("clipping.value", config.clipping.value)
    if config.clipping.mode == "autoclip" and config.clipping.value > 100:
        raise ConfigError(f"config key 'clipping.value' is AutoClip's percentile, at most 100, got {config.clipping.value!r}")

    trainer = config.trainer
    _choice("trainer.precision", trainer.precision, PRECISIONS)
    _choice("trainer.accelerator", trainer.accelerator, ("auto", "cpu", "gpu", "cuda", "mps"))
    if trainer.max_epochs < 1 and trainer.max_steps < 1:
        raise ConfigError("config keys 'trainer.max_epochs' and 'trainer.max_steps' cannot both be unlimited")
    every = trainer.check_val_every_n_epoch
    if every > 1 and trainer.max_steps < 1 and trainer.max_epochs % every:
        # Reports select on the final validation: an epoch budget must end on a validated epoch.
        raise ConfigError(f"config key 'trainer.check_val_every_n_epoch' is {every}, which does not divide "
                          f"'trainer.max_epochs' {trainer.max_epochs}: the last epoch would not be validated")
    _positive("trainer.max_minutes", trainer.max_minutes, allow_none=True)
    _positive("trainer.limit_train_batches", trainer.limit_train_batches)
    _positive("trainer.limit_val_batches", trainer.limit_val_batches)
    _validate_counts(config)

    for metric, thresholds in config.targets.items():
        if not isinstance(thresholds, list) or not thresholds:
            raise ConfigError(f"config key 'targets.{metric}' must be a non-empty list of numbers")
        for value in thresholds:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"config key 'targets.{metric}' must hold numbers, got {value!r}")
