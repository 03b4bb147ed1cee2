"""Small-sample statistics of the claims dilo publishes: a mean and its 95% Student-t interval (no I/O)."""

from __future__ import annotations

import math

# t_{0.975, df} for df = 1..30 (two-sided 95%); larger df use the Cornish-Fisher expansion below.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
_Z975 = 1.959964


def t_quantile_975(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom (to 3 decimals)."""
    if df < 1:
        raise ValueError(f"a t interval needs at least 1 degree of freedom (2 values), got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; 0 for a single value)."""
    if not values:
        raise ValueError("mean_std needs at least one value")
    mean = sum(values) / len(values)
    if len(values) == 1:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def mean_interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and its 95% t interval (the interval is the mean itself for a single value: no spread known)."""
    mean, std = mean_std(values)
    half = t_quantile_975(len(values) - 1) * std / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return mean, mean - half, mean + half
