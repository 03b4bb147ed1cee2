"""Small-sample statistics of the claims dilo publishes: a mean and its 95% Student-t interval (no I/O)."""

from __future__ import annotations

import math
import statistics

from scipy import stats


def t_quantile_975(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom: the half-width factor of a two-sided
    95% interval."""
    if df < 1:
        raise ValueError(f"a t interval needs at least 1 degree of freedom (2 values), got {df}")
    return float(stats.t.ppf(0.975, df))


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; 0 for a single value)."""
    if not values:
        raise ValueError("mean_std needs at least one value")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def mean_interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and its 95% t interval (the interval is the mean itself for a single value: no spread known)."""
    mean, std = mean_std(values)
    half = t_quantile_975(len(values) - 1) * std / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return mean, mean - half, mean + half


def prediction_interval(values: list[float]) -> tuple[float, float]:
    """The 95% t prediction interval of one more draw from the population of ``values`` (at least 2):
    mean +- t(n - 1) sd sqrt(1 + 1/n). A new run is expected inside it 95% of the time."""
    mean, std = mean_std(values)
    half = t_quantile_975(len(values) - 1) * std * math.sqrt(1 + 1 / len(values))
    return mean - half, mean + half
