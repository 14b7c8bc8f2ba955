"""The optimizers ranked within each value of a grouping axis (separation.analysis.within)."""

from types import SimpleNamespace

import numpy as np
import pandas as pd

from separation.analysis import within
from separation.analysis.stats import MIN_SEEDS, bootstrap_mean


def test_bootstrap_mean_brackets_the_mean_and_needs_seeds():
    values = [1.0, 2.0, 3.0, 10.0]
    interval = bootstrap_mean(values)
    assert interval.estimate == np.mean(values)
    assert interval.low <= interval.estimate <= interval.high
    assert interval.low >= min(values) and interval.high <= max(values)
    few = bootstrap_mean(values[: MIN_SEEDS - 1])
    assert np.isnan(few.low) and np.isfinite(few.estimate)


class _Interval:
    def __init__(self, low, high):
        self.estimate, self.low, self.high = (low + high) / 2, low, high

    @property
    def resolved(self):
        return self.low > 0 or self.high < 0


class _Comparison:
    def __init__(self, low, high):
        self.conservative = None
        self.difference = _Interval(low, high)


def _ranked(*entries):
    return [within.Ranked(name, name, 0.0, None if interval is None else _Comparison(*interval)) for name, interval in entries]


def test_verdict_needs_disjoint_tied_sets():
    separated = {"a": _ranked(("adam", None), ("sgd", (1, 2))), "b": _ranked(("sgd", None), ("adam", (0.5, 3)))}
    assert within.verdict(separated) == "changes"
    overlapping = {"a": _ranked(("adam", None), ("sgd", (-1, 2))), "b": _ranked(("sgd", None), ("adam", (0.5, 3)))}
    assert within.verdict(overlapping) == "not resolved"
    same = {"a": _ranked(("adam", None), ("sgd", (1, 2))), "b": _ranked(("adam", None), ("sgd", (-1, 2)))}
    assert within.verdict(same) == "does not change"


def _study(rows, varying):
    """What grouping_factor reads of a study: its varying factors and one row per trial."""
    columns = ["cell", "optimizer", "objective.name", "model.args.n_src"]
    return SimpleNamespace(varying=varying, trials=pd.DataFrame(rows, columns=columns))


def test_grouping_factor_is_the_added_axis_that_sets_the_others():
    # The enhance_objectives shape: the objective sets n_src, the optimizer varies within each objective.
    rows = [(f"{o}-{obj}", o, obj, n) for o in ("adam", "sgd") for obj, n in (("pit", 1), ("mixit", 4))]
    varying = ["optimizer", "objective.name", "model.args.n_src"]
    assert within.grouping_factor(_study(rows, varying)) == "objective.name"
    # Crossed added axes: neither sets the other, so there is no grouping factor.
    crossed = [(f"{o}-{obj}-{n}", o, obj, n) for o in ("adam", "sgd") for obj in ("pit", "mixit") for n in (1, 4)]
    assert within.grouping_factor(_study(crossed, varying)) is None
    # The optimizer fixed, or varied under one value only: nothing to rank within.
    fixed = [(f"adam-{obj}", "adam", obj, n) for obj, n in (("pit", 1), ("mixit", 4))]
    assert within.grouping_factor(_study(fixed, ["objective.name", "model.args.n_src"])) is None
    lopsided = [("adam-pit", "adam", "pit", 1), ("sgd-pit", "sgd", "pit", 1), ("adam-mixit", "adam", "mixit", 4)]
    assert within.grouping_factor(_study(lopsided, varying)) is None
    # Only the optimizer axes vary: no added axis at all.
    assert within.grouping_factor(_study(rows, ["optimizer"])) is None
