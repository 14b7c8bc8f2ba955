"""Config validation at the edge, and the optimizer / scheduler registries."""

import math

import pytest
import torch

from separation import optim
from separation.config import (
    ConfigError,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config,
    parse_set_arguments,
)


def test_defaults_validate_and_round_trip():
    config = config_from_dict({})
    assert config_from_dict(config_to_dict(config)) == config


@pytest.mark.parametrize(
    "data, message",
    [
        ({"optimizer": {"lrr": 1}}, "'optimizer.lrr' is unknown; allowed: name, lr"),
        ({"optimizer": {"name": "adamm"}}, "'optimizer.name' is 'adamm'; allowed: sgd"),
        ({"scheduler": {"name": "plateau", "args": {"patiense": 2}}}, "'scheduler.args.patiense' is unknown for scheduler 'plateau'"),
        ({"optimizer": {"name": "adam", "args": {"momentum": 0.9}}}, "'optimizer.args.momentum' is unknown for optimizer 'adam'"),
        ({"model": {"name": "svoice", "args": {"layers": 3}}}, "'model.args.layers' is unknown for model 'svoice'"),
        ({"clipping": {"mode": "norm"}}, "'clipping.value' must be a positive number"),
        ({"clipping": {"mode": "sometimes", "value": 1}}, "'clipping.mode' is 'sometimes'"),
        ({"trainer": {"precision": "fp8"}}, "'trainer.precision' is 'fp8'; allowed: auto, 32, bf16-mixed, 16-mixed"),
        ({"data": {"batch_size": 0}}, "'data.batch_size' must be a positive number"),
        ({"data": {"n_src": 3}, "model": {"args": {"n_src": 2}}}, "'model.args.n_src' is 2 but 'data.n_src' is 3"),
        ({"optimizer": {"lr": "fast"}}, "'optimizer.lr' must be a number"),
        ({"seed": 1.5}, "'seed' must be an integer"),
        ({"targets": {"val/si_snri": []}}, "'targets.val/si_snri' must be a non-empty list"),
    ],
)
def test_bad_values_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        config_from_dict(data)


def test_yaml_scalars_are_coerced():
    config = config_from_dict({"optimizer": {"lr": "1e-3"}, "trainer": {"precision": 32}})
    assert config.optimizer.lr == 1e-3 and config.trainer.precision == "32"


def test_overrides_and_set_arguments(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("optimizer:\n  name: sgd\n  lr: 0.1\n")
    overrides = parse_set_arguments(["optimizer.lr=0.01", "optimizer.args.momentum=0.5", "clipping.mode=norm", "clipping.value=5"])
    config = load_config(path, overrides)
    assert config.optimizer.lr == 0.01 and config.optimizer.args == {"momentum": 0.5}
    assert config.clipping.value == 5.0
    with pytest.raises(ConfigError, match=r"--set expects key=value"):
        parse_set_arguments(["optimizer.lr"])
    with pytest.raises(ConfigError, match=r"'optimizer.lr.x': 'lr' is not a section"):
        apply_overrides({"optimizer": {"lr": 1}}, {"optimizer.lr.x": 2})


def test_malformed_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("optimizer:\n  name: [adam\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: malformed YAML \(line \d+\)"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"missing\.yaml: no such file"):
        load_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize("name", sorted(optim.OPTIMIZERS))
def test_every_optimizer_builds_and_descends(name):
    torch.manual_seed(0)
    weight = torch.nn.Parameter(torch.tensor([3.0, -2.0]))
    lr = {"adadelta": 1.0, "adagrad": 0.5}.get(name, 0.05)
    optimizer = optim.build_optimizer(name, [weight], lr=lr)
    start = float((weight**2).sum().detach())
    for _ in range(20):
        optimizer.zero_grad()
        (weight**2).sum().backward()
        optimizer.step()
    assert float((weight**2).sum()) < start


def test_registry_entries_mean_what_they_say():
    weight = torch.nn.Parameter(torch.zeros(1))
    assert optim.build_optimizer("sgd", [weight], 0.1).defaults["momentum"] == 0
    nesterov = optim.build_optimizer("nesterov", [weight], 0.1).defaults
    assert nesterov["momentum"] == 0.9 and nesterov["nesterov"] is True
    # An explicit argument overrides the entry's default.
    assert optim.build_optimizer("sgd_momentum", [weight], 0.1, args={"momentum": 0.5}).defaults["momentum"] == 0.5


def _lrs(name, args, steps, metric=None):
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=1.0)
    spec = optim.build_scheduler(name, optimizer, total_steps=steps, args=args)
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if spec is None:
            continue
        if spec.get("monitor"):
            spec["scheduler"].step(metric)
        else:
            spec["scheduler"].step()
    return spec, lrs


def test_schedulers_shape_the_learning_rate():
    spec, lrs = _lrs("none", {}, 5)
    assert spec is None and lrs == [1.0] * 5
    spec, lrs = _lrs("step", {"step_size": 2, "gamma": 0.5}, 5)
    assert spec["interval"] == "epoch" and lrs == [1.0, 1.0, 0.5, 0.5, 0.25]
    spec, lrs = _lrs("plateau", {"patience": 1, "factor": 0.5}, 6, metric=1.0)
    assert spec["monitor"] == optim.PLATEAU_MONITOR and min(lrs) < 1.0
    spec, lrs = _lrs("cosine_warmup", {"warmup_steps": 4}, 20)
    assert spec["interval"] == "step"
    assert lrs[:4] == [0.25, 0.5, 0.75, 1.0] and lrs[-1] < 0.05
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:]))
    spec, lrs = _lrs("exponential", {"gamma": 0.5}, 3)
    assert lrs == [1.0, 0.5, 0.25]
    assert all(math.isfinite(x) for x in lrs)
