"""The optimizers ranked within each value of a grouping axis (separation.analysis.within)."""

import numpy as np

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
