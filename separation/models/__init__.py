"""The model registry: a grid axis or config names a model by one string.

Models are pure `nn.Module`s whose constructor arguments are the whole
architecture, so `(name, args, state_dict)` is enough to rebuild one anywhere
(checkpoints store exactly that; see `model_spec`).
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from separation.errors import ConfigError
from separation.models.cleanunet import CleanUNet
from separation.models.convtasnet import ConvTasNetDenoiser
from separation.models.magnitude_denoisers import CRCED, CRNN
from separation.models.pulse_cnn import PulseCNN
from separation.models.svoice import SVoice
from separation.models.unet import UNetSeparator

MODELS: dict[str, type[nn.Module]] = {
    "svoice": SVoice,
    "unet": UNetSeparator,
    # Speech enhancement (noisy waveform -> (batch, sources, time)); losses in separation.losses.enhance.
    "convtasnet": ConvTasNetDenoiser,
    "cleanunet": CleanUNet,
    "crced": CRCED,
    "crnn": CRNN,
    "pulse_cnn": PulseCNN,
}


def _constructor_parameters(cls: type) -> list[str]:
    signature = inspect.signature(cls.__init__)
    return [name for name in signature.parameters if name != "self"]


def check_model_args(name: str, args: dict[str, Any], key: str = "model.args") -> None:
    """Raise ConfigError naming the first argument the model's constructor lacks."""
    allowed = _constructor_parameters(MODELS[name])
    for arg in args:
        if arg not in allowed:
            raise ConfigError(f"config key '{key}.{arg}' is unknown for model '{name}'; allowed: {', '.join(allowed)}")


def build_model(name: str, args: dict[str, Any] | None = None) -> nn.Module:
    if name not in MODELS:
        raise KeyError(f"unknown model '{name}'; allowed: {', '.join(MODELS)}")
    args = dict(args or {})
    check_model_args(name, args)
    return MODELS[name](**args)


def model_spec(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """What a checkpoint stores so the model can be rebuilt without the training config."""
    return {"name": name, "args": dict(args)}
