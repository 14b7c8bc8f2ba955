"""Load a trained model from a training checkpoint, without its training config file.

Every checkpoint `separation train` writes holds `model_spec` (`{"name", "args"}`:
the model class by registry name and its constructor arguments), the weights in
`state_dict` under the `model.` prefix, and `config` (the whole training config
as plain data). The file is read with `torch.load(weights_only=True)`, so a
checkpoint can never run code when loaded.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from separation.errors import UserError

WEIGHTS_PREFIX = "model."


class CheckpointError(UserError):
    """A checkpoint is missing, unreadable or not one `separation train` wrote (one-line message)."""


@dataclass
class LoadedModel:
    """A model in eval mode with what its checkpoint says about it.

    Attributes:
        model: the rebuilt `nn.Module`, weights loaded, in eval mode.
        name, args: the registry name and constructor arguments it was built from.
        task: `config["task"]` ("speech", "music", "enhance").
        sample_rate: `config["data"]["sample_rate"]`, the rate the model was trained at.
        config: the training config as stored (nested plain data).
        path: the checkpoint file.
    """

    model: nn.Module
    name: str
    args: dict[str, Any]
    task: str
    sample_rate: int
    config: dict[str, Any]
    path: Path


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


NOT_OURS = "not a weights-only checkpoint of this suite"


def _why_unreadable(path: Path, error: BaseException) -> str:
    """Our words for a failed weights-only load. PyTorch's own message advises loading with
    weights_only=False, which would run whatever code a stranger's file holds: never repeat it."""
    try:
        with open(path, "rb") as handle:
            zipped = handle.read(4) == b"PK\x03\x04"  # torch.save's archive format
    except OSError as os_error:
        return f"cannot be read: {os_error.strerror or os_error}"
    text = str(error)
    if zipped and "Weights only load failed" in text:
        return "it holds pickled Python objects, which could run code when loaded, so it was not loaded"
    if zipped:
        return "the archive is truncated or damaged"
    return "unrecognised contents: not a file written by torch.save"


def _read(path: Path) -> dict:
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"{path}: is a folder; expected a checkpoint file (best.ckpt, last.ckpt)")
    try:
        with warnings.catch_warnings():
            # PyTorch warns about the pickle protocol of a file it may then refuse; our one line says
            # why, and a warning before it would make two.
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a corrupt file surfaces as any of KeyError, EOFError, RuntimeError, UnpicklingError
        raise CheckpointError(f"{path}: {NOT_OURS} ({_why_unreadable(path, error)})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: {NOT_OURS} (holds a {type(state).__name__}, expected a dict)")
    return state


def _required(path: Path, state: dict, dotted: str, kind: type) -> Any:
    """`state[a][b]...` for `dotted = "a.b"`, checked to be of `kind`."""
    node: Any = state
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            raise CheckpointError(f"{path}: {NOT_OURS} (no '{dotted}'; written by `separation train`?)")
        node = node[key]
    if not isinstance(node, kind):
        raise CheckpointError(f"{path}: '{dotted}' must be a {kind.__name__}, got {type(node).__name__}")
    return node


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild the model stored in a training checkpoint, in eval mode on `device`.

    Raises `CheckpointError` (one line naming the file) when the file is
    missing or unreadable, lacks `model_spec`, `state_dict`, `config.task` or
    `config.data.sample_rate`, names an unknown model, or holds weights that do
    not fit the rebuilt model.
    """
    from separation.models import build_model

    path = Path(path)
    state = _read(path)
    name = _required(path, state, "model_spec.name", str)
    args = _required(path, state, "model_spec.args", dict)
    weights = _required(path, state, "state_dict", dict)
    config = _required(path, state, "config", dict)
    task = _required(path, state, "config.task", str)
    sample_rate = _required(path, state, "config.data.sample_rate", int)
    try:
        model = build_model(name, args)
    except (KeyError, TypeError, ValueError) as error:  # ConfigError is a ValueError
        raise CheckpointError(f"{path}: cannot rebuild model '{name}' ({_first_line(error)})") from None
    from separation.tasks import TASKS

    needed = TASKS[task].model_method if task in TASKS else None
    if needed and not callable(getattr(model, needed, None)):
        raise CheckpointError(f"{path}: model '{name}' cannot serve task '{task}' (it has no '{needed}' method)")
    own = {key[len(WEIGHTS_PREFIX):]: value for key, value in weights.items() if key.startswith(WEIGHTS_PREFIX)}
    try:
        model.load_state_dict(own)
    except RuntimeError as error:
        # The first line is only a header; the second names the missing or unexpected keys.
        lines = str(error).strip().splitlines()
        detail = lines[1].strip() if len(lines) > 1 else _first_line(error)
        raise CheckpointError(f"{path}: weights do not fit model '{name}' ({detail})") from None
    return LoadedModel(model.to(device).eval(), name, dict(args), task, sample_rate, config, path)
