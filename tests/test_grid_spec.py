"""Grid spec expansion: products, stable ids, include/exclude, bad specs."""

from pathlib import Path

import pytest

from separation.config import ConfigError
from separation.grid.runner import check_writable, format_table
from separation.grid.spec import load_spec

BASE = """
task: speech
model: {name: svoice, args: {enc_dim: 8, hidden_size: 8, num_repeats: 1}}
trainer: {max_epochs: 1}
"""

GRID = """
study: demo
base: base.yaml
axes:
  optimizer:
    - {name: adam, lr: 1.0e-3}
    - {name: sgd_momentum, lr: 0.05}
    - {name: rmsprop, lr: 1.0e-4}
  scheduler: [{name: none}, {name: plateau, args: {patience: 1}}]
  clipping: [{mode: none}, {mode: norm, value: 5}]
  seed: [0, 1]
"""


def write(tmp_path: Path, spec: str, base: str = BASE) -> Path:
    (tmp_path / "base.yaml").write_text(base)
    path = tmp_path / "spec.yaml"
    path.write_text(spec)
    return path


def test_product_gives_24_distinct_stable_ids(tmp_path):
    spec = load_spec(write(tmp_path, GRID))
    ids = [t.id for t in spec.trials]
    assert len(ids) == 24 == len(set(ids))
    # Same config, same id: a second load (as on another machine) agrees.
    assert ids == [t.id for t in load_spec(write(tmp_path, GRID)).trials]
    # The id depends on the resolved config, not on where the value came from.
    moved = GRID.replace("    - {name: adam, lr: 1.0e-3}\n", "    - {name: adam}\n")
    base_with_lr = BASE + "optimizer: {lr: 1.0e-3}\n"
    assert set(ids) == {t.id for t in load_spec(write(tmp_path, moved, base_with_lr)).trials}
    combos = {(t.config.optimizer.name, t.config.scheduler.name, t.config.clipping.mode, t.config.seed) for t in spec.trials}
    assert len(combos) == 24


def test_each_optimizer_has_its_own_learning_rates(tmp_path):
    spec = load_spec(write(tmp_path, GRID.replace("lr: 0.05}", "lr: [0.01, 0.1]}")))
    lrs = {(t.config.optimizer.name, t.config.optimizer.lr) for t in spec.trials}
    assert lrs == {("adam", 1e-3), ("sgd_momentum", 0.01), ("sgd_momentum", 0.1), ("rmsprop", 1e-4)}
    assert len(spec.trials) == 32


def test_exclude_and_include(tmp_path):
    text = GRID + """
exclude:
  - {optimizer.name: sgd_momentum, scheduler.name: plateau}
  - {optimizer.lr: 1.0e-4, clipping.mode: norm}
include:
  - {optimizer.name: adamw, optimizer.lr: 3.0e-4, scheduler.name: step}
"""
    spec = load_spec(write(tmp_path, text))
    configs = [t.config for t in spec.trials]
    assert not any(c.optimizer.name == "sgd_momentum" and c.scheduler.name == "plateau" for c in configs)
    assert not any(c.optimizer.name == "rmsprop" and c.clipping.mode == "norm" for c in configs)
    adamw = [c for c in configs if c.optimizer.name == "adamw"]
    assert sorted(c.seed for c in adamw) == [0, 1] and all(c.scheduler.name == "step" for c in adamw)
    assert len(configs) == 24 - 4 - 4 + 2


def test_include_with_a_list_of_seeds_extends_chosen_cells(tmp_path):
    # Phase 2 of a sweep: the chosen setting over more seeds; its seed-0 trial is the sweep's own trial.
    sweep = GRID.replace("seed: [0, 1]", "seed: [0]")
    phase2 = sweep + "include:\n  - {optimizer.name: sgd_momentum, optimizer.lr: 0.05, scheduler.name: none, clipping.mode: none, seed: [0, 2, 3]}\n"
    first, second = load_spec(write(tmp_path, sweep)), load_spec(write(tmp_path, phase2))
    assert {t.id for t in first.trials} < {t.id for t in second.trials}
    added = [t.config for t in second.trials if t.id not in {u.id for u in first.trials}]
    assert sorted(c.seed for c in added) == [2, 3]
    assert all((c.optimizer.name, c.optimizer.lr, c.scheduler.name, c.clipping.mode) == ("sgd_momentum", 0.05, "none", "none")
               for c in added)
    with pytest.raises(ConfigError, match=r"include\[0\]\.seed is an empty list"):
        load_spec(write(tmp_path, sweep + "include:\n  - {optimizer.name: adam, seed: []}\n"))


def test_clipping_value_under_mode_none_leaves_the_id_alone(tmp_path):
    """Nothing is clipped under mode none, so its value is no part of the trial: one id whatever it says."""
    axis = "  clipping: [{mode: none}, {mode: none, value: 3}, {mode: norm, value: 3}]\n"
    spec = load_spec(write(tmp_path, "study: s\nbase: base.yaml\naxes:\n" + axis))
    assert [(t.config.clipping.mode, t.config.clipping.value) for t in spec.trials] == [("none", None), ("norm", 3)]
    plain = load_spec(write(tmp_path, "study: s\nbase: base.yaml\naxes:\n  seed: [0]\n")).trials[0]
    from_base = load_spec(write(tmp_path, "study: s\nbase: base.yaml\naxes:\n  seed: [0]\n",
                                BASE + "clipping: {mode: none, value: 7}\n")).trials[0]
    assert from_base.config.clipping.value == 7 and from_base.id == plain.id == spec.trials[0].id
    # The value still counts where it is used.
    assert len({t.id for t in load_spec(write(tmp_path, GRID.replace("value: 5}", "value: 2}"))).trials} -
               {t.id for t in load_spec(write(tmp_path, GRID)).trials}) == 12


def test_other_config_keys_are_axes(tmp_path):
    spec = load_spec(write(tmp_path, "study: s\nbase: base.yaml\naxes:\n  data.batch_size: [2, 4]\n  seed: [3]\n"))
    assert sorted(t.config.data.batch_size for t in spec.trials) == [2, 4]


@pytest.mark.parametrize(
    "text, message",
    [
        (GRID.replace("name: rmsprop", "name: rmsprob"), r"'optimizer.name' is 'rmsprob'; allowed:"),
        (GRID.replace("name: plateau", "name: plateaux"), r"'scheduler.name' is 'plateaux'"),
        (GRID.replace("seed: [0, 1]", "seed: [0, 1, 0]"), r"seed lists seed 0 more than once"),
        (GRID.replace("seed: [0, 1]", "seed: []"), r"axes\.seed must be a non-empty list"),
        (GRID + "\nbogus: 1\n", r"key 'bogus' is unknown; allowed: study, base"),
        (GRID.replace("axes:", "axes:\n  trainer.max_epochz: [1]"), r"'trainer.max_epochz' is unknown"),
        (GRID.replace("{mode: norm, value: 5}", "{mode: norm}"), r"'clipping.value' must be a positive number"),
        ("study: s\nbase: base.yaml\naxes: {seed: [0]\n", r"malformed YAML"),
        ("study: s\nbase: nowhere.yaml\n", r"nowhere\.yaml: no such file"),
        (GRID + "exclude:\n  - {seed: 0}\n  - {seed: 1}\n", r"the grid is empty"),
    ],
)
def test_bad_specs_give_one_clear_error(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_spec(write(tmp_path, text))


def test_dry_run_table_counts_missing(tmp_path):
    spec = load_spec(write(tmp_path, GRID))
    table = format_table(spec, tmp_path / "runs" / "demo")
    assert "24 trials" in table and "24 missing" in table
    assert table.count("\n") == 24 + 1


def test_unwritable_run_directory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(Exception, match=r"run directory '.*file/demo' is not writable"):
        check_writable(blocker / "demo")
    assert not (blocker / "demo").exists() if blocker.is_dir() else True


def test_a_key_written_twice_is_refused(tmp_path):
    """Plain YAML keeps the last of two equal keys silently; a spec or config must say which line repeats one."""
    from separation.configuration.reading import read_yaml

    (tmp_path / "spec.yaml").write_text("study: first\nbase: base.yaml\naxes:\n  seed: [0]\nstudy: second\n")
    with pytest.raises(ConfigError, match=r"spec.yaml: malformed YAML \(line 5\): key 'study' appears twice"):
        read_yaml(tmp_path / "spec.yaml")
    (tmp_path / "config.yaml").write_text("optimizer: {name: adam, lr: 1.0e-3, lr: 3.0e-3}\n")
    with pytest.raises(ConfigError, match="key 'lr' appears twice"):
        read_yaml(tmp_path / "config.yaml")
