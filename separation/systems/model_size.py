"""How large a trial's model is: built from its config as its system builds it (the data's sizes included).

The study report states each model's parameter count in its Setup; it asks
here, so that the analysis layer never builds a torch model itself and loads
torch only when a count is asked for.
"""

from __future__ import annotations

from separation.config import config_from_dict
from separation.models import build_model
from separation.tasks import get_task


def parameter_count(config: dict) -> int:
    """Parameters of the model that the resolved config `config` (a plain dict, as in config.yaml) trains."""
    resolved = config_from_dict(config)
    model = build_model(resolved.model.name, get_task(resolved.task).model_args(resolved))
    return sum(p.numel() for p in model.parameters())
