"""The statistics of a study report: robust summaries, bootstrap intervals, profiles.

Every metric here is higher-is-better (SI-SNRi, SDR) and every sample is one
value per seed. The bootstrap draws from `numpy.random.default_rng(seed)` afresh
for each call, so a report computed twice gives the same intervals whatever
order its comparisons run in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RESAMPLES = 10_000
LEVEL = 0.95
# Fewer seeds per cell give no interval: resampling two values yields only three
# possible medians, an interval that says more than the data can.
MIN_SEEDS = 3


def median_iqr(values) -> tuple[float, float, float]:
    """(median, 25th percentile, 75th percentile) of the finite values; NaNs when there are none."""
    x = _finite(values)
    if x.size == 0:
        return (float("nan"),) * 3
    q25, median, q75 = np.percentile(x, [25, 50, 75])
    return float(median), float(q25), float(q75)


def _finite(values) -> np.ndarray:
    x = np.asarray(values, dtype=float).ravel()
    return x[np.isfinite(x)]


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    @property
    def resolved(self) -> bool:
        """The interval excludes zero (a NaN interval, from too few seeds, never resolves)."""
        return bool(self.low > 0 or self.high < 0)


def bootstrap_difference(a, b, statistic=np.median, resamples: int = RESAMPLES, level: float = LEVEL, seed: int = 0) -> Interval:
    """Percentile-bootstrap interval of statistic(a) - statistic(b), seeds resampled within each group.

    The groups are resampled independently (unpaired): seed k of one cell and
    seed k of another share no more than any two runs do. With fewer
    than `MIN_SEEDS` values in either group there is no interval (NaN bounds), only the estimate.
    """
    a, b = _finite(a), _finite(b)
    if a.size == 0 or b.size == 0:
        return Interval(float("nan"), float("nan"), float("nan"))
    estimate = float(statistic(a) - statistic(b))
    if a.size < MIN_SEEDS or b.size < MIN_SEEDS:
        return Interval(estimate, float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    draws_a = statistic(a[rng.integers(0, a.size, (resamples, a.size))], axis=1)
    draws_b = statistic(b[rng.integers(0, b.size, (resamples, b.size))], axis=1)
    return _percentile_interval(estimate, draws_a - draws_b, level)


def bootstrap_mean(values, resamples: int = RESAMPLES, level: float = LEVEL, seed: int = 0) -> Interval:
    """The mean of the finite values with its percentile-bootstrap interval (NaN bounds under `MIN_SEEDS` values)."""
    x = _finite(values)
    if x.size == 0:
        return Interval(float("nan"), float("nan"), float("nan"))
    if x.size < MIN_SEEDS:
        return Interval(float(x.mean()), float("nan"), float("nan"))
    draws = x[np.random.default_rng(seed).integers(0, x.size, (resamples, x.size))].mean(axis=1)
    return _percentile_interval(float(x.mean()), draws, level)


def _percentile_interval(estimate: float, draws: np.ndarray, level: float) -> Interval:
    """The estimate with the central `level` percentile interval of its bootstrap draws."""
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return Interval(estimate, float(low), float(high))


def probability_of_improvement(a, b) -> float:
    """P(A > B) over all pairs of one value from each group, ties counting one half (as rliable)."""
    a, b = _finite(a), _finite(b)
    if a.size == 0 or b.size == 0:
        return float("nan")
    diff = a[:, None] - b[None, :]
    return float(np.mean((diff > 0) + 0.5 * (diff == 0)))


def performance_profile(times: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """Fraction of problems each method solves within a factor tau of the fastest method (AlgoPerf).

    `times` is `(methods, problems)` with `inf` where a method never reached the
    target; returns `(methods, taus)`. A problem no method solved counts as
    unsolved for every method.
    """
    times = np.asarray(times, dtype=float)
    best = times.min(axis=0, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        # The fastest method's ratio is exactly 1, even when its time is 0.
        ratios = np.where(np.isfinite(times), np.where(times == best, 1.0, times / best), np.inf)
    return (ratios[:, :, None] <= np.asarray(taus)[None, None, :]).mean(axis=1)


def profile_taus(times: np.ndarray, points: int = 200) -> np.ndarray:
    """A log-spaced tau axis from 1 to a little past the largest finite ratio (at least 2)."""
    times = np.asarray(times, dtype=float)
    best = times.min(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = times / best[None, :]
    finite = ratios[np.isfinite(ratios)]
    top = max(2.0, float(finite.max()) * 1.1 if finite.size else 2.0)
    return np.logspace(0, np.log10(top), points)
