"""A pruned grid through Ray Tune: the same rung decisions and outcomes as the local engine (one wave per rung)."""

import json

import pytest

from separation.grid.pruning import decision_path
from separation.grid.runner import run_local
from separation.grid.spec import load_spec
from test_grid_run import write_spec


def test_ray_runs_the_same_rungs_and_decisions_as_the_local_engine(speech_corpus, tmp_path):
    pytest.importorskip("ray")
    from separation.grid.ray_engine import run_ray

    axes = {"optimizer": [{"name": "adam", "lr": [1e-4, 3e-2]}, {"name": "sgd", "lr": [1e-1]}]}
    path = write_spec(tmp_path, speech_corpus, axes, epochs=2, pruning={"rungs": [4], "keep": 0.5})
    spec = load_spec(path)
    local = run_local(spec, tmp_path / "local")
    distributed = run_ray(spec, tmp_path / "ray", cpus_per_trial=1)
    assert distributed == local and sorted(local.values()) == ["completed", "completed", "pruned"]
    for group in ("adam", "sgd"):
        mine, theirs = (json.loads(decision_path(root / "g", 4, group).read_text()) for root in (tmp_path / "ray", tmp_path / "local"))
        assert (mine["promoted"], mine["pruned"], mine["cells"]) == (theirs["promoted"], theirs["pruned"], theirs["cells"])
    for trial in spec.trials:
        meta = json.loads((tmp_path / "ray" / "g" / trial.id / "meta.json").read_text())
        assert meta["engine"] == "ray" or meta["status"] == "pruned"
