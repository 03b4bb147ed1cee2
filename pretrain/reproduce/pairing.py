"""Paired comparisons over seeds: an arm's gain over its reference, seed by seed (pure functions, no I/O).

Two runs with the same ``SEED`` share everything that copy-paste does not change: initial
weights, data order, crop boxes, photometric draws, negatives (the plan draws copy-paste from a
stream of its own, :mod:`pretrain.augment.plan`). Their difference is then the effect of the
composite plus the chaos it sets off, and the spread of that difference over seeds, not the
spread of either arm, is what a claim about the effect must beat. Each comparison reports the
mean paired difference, its 95% Student-t interval and how many seeds gained.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pretrain.utils.stats import mean_interval


@dataclass(frozen=True)
class PairedGain:
    """``arm - reference`` of one metric over the seeds both ran; ``low``/``high`` the 95% t interval."""

    seeds: tuple[int, ...]
    differences: tuple[float, ...]
    mean: float
    low: float
    high: float
    positive: int  # seeds where the arm gained

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "n": len(self.seeds)}


def paired_gain(arm: dict[int, float], reference: dict[int, float]) -> PairedGain:
    """The gain of ``arm`` over ``reference`` (seed -> value each) on the seeds both have."""
    seeds = tuple(sorted(set(arm) & set(reference)))
    if not seeds:
        raise ValueError(f"no seed in common: arm has {sorted(arm)}, reference {sorted(reference)}")
    differences = tuple(arm[s] - reference[s] for s in seeds)
    mean, low, high = mean_interval(list(differences))
    return PairedGain(seeds, differences, mean, low, high, sum(d > 0 for d in differences))


def by_seed(results: list[dict[str, Any]], setting: str, metric: str) -> dict[int, float]:
    """seed -> ``metric`` of the finished runs of ``setting``."""
    return {r["seed"]: r[metric] for r in results if r["setting"] == setting and metric in r}


def compare(
    results: list[dict[str, Any]], arms: list[str], reference: str, metrics: tuple[str, ...]
) -> dict[str, dict[str, dict[str, Any]]]:
    """arm -> metric -> :meth:`PairedGain.as_dict` for every arm and metric with a seed in common."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for arm in arms:
        gains = {}
        for metric in metrics:
            mine, theirs = by_seed(results, arm, metric), by_seed(results, reference, metric)
            if set(mine) & set(theirs):
                gains[metric] = paired_gain(mine, theirs).as_dict()
        if gains:
            out[arm] = gains
    return out


def format_comparisons(comparisons: dict[str, dict[str, dict[str, Any]]], reference: str, names: dict[str, str]) -> str:
    """A markdown table: one row per (arm, metric) with the mean gain, its 95% CI and the seeds that gained."""
    lines = [
        "| comparison | metric | seeds | mean paired gain | 95% CI (t) | seeds gaining | per seed |",
        "|---|---|---|---|---|---|---|",
    ]
    for arm, gains in comparisons.items():
        for metric, g in gains.items():
            per_seed = ", ".join(f"{d:+.1f}" for d in g["differences"])
            interval = f"{g['low']:+.2f} to {g['high']:+.2f}" if g["n"] > 1 else "- (one seed)"
            lines.append(
                f"| {arm} - {reference} | {names.get(metric, metric)} | {g['n']} | {g['mean']:+.2f} "
                f"| {interval} | {g['positive']}/{g['n']} | {per_seed} |"
            )
    return "\n".join(lines)
