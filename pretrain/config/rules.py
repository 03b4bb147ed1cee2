"""What a config value may be: string choices and numeric ranges, declared beside the defaults.

fvcore checks a value's type only, so ``SOLVER.EPOCHS 0`` or ``COPY_PASTE.BLEND gausian``
would load and fail (or silently do nothing) much later. Each defaults module declares a
``RULES`` mapping (key -> :class:`OneOf` or :class:`Within`), and rules between keys as
:class:`Requires`; :func:`check_config` applies them when the config is loaded and reports
every violation at once, naming the keys.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fvcore.common.config import CfgNode


@dataclass(frozen=True)
class OneOf:
    """A string option and its allowed values."""

    choices: tuple[str, ...]

    def problem(self, value: Any) -> str | None:
        return None if value in self.choices else f"must be one of {self.choices}, got {value!r}"


@dataclass(frozen=True)
class Within:
    """A number (or each number of a tuple) in [low, high]; ``open_low`` excludes low; ``ordered`` tuples ascend."""

    low: float | None = None
    high: float | None = None
    open_low: bool = False
    ordered: bool = False

    def problem(self, value: Any) -> str | None:
        values = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]
        if not all(math.isfinite(v) for v in values):  # NaN passes every comparison as False
            return f"must be a finite number, got {value!r}"
        bad = [v for v in values if not self._inside(v)]
        if bad:
            return f"must be {self._describe()}, got {value!r}"
        if self.ordered and values != sorted(values):
            return f"must be in ascending order, got {value!r}"
        return None

    def _inside(self, v: float) -> bool:
        if self.low is not None and (v <= self.low if self.open_low else v < self.low):
            return False
        return self.high is None or v <= self.high

    def _describe(self) -> str:
        low = f"{'>' if self.open_low else '>='} {self.low:g}" if self.low is not None else ""
        high = f"<= {self.high:g}" if self.high is not None else ""
        return " and ".join(p for p in (low, high) if p) + (" (each)" if self.ordered else "")


@dataclass(frozen=True)
class Requires:
    """Where ``key`` is one of ``values``, ``other`` must be one of ``allowed`` (``why`` says the reason)."""

    key: str
    values: tuple[str, ...]
    other: str
    allowed: tuple[str, ...]
    why: str

    def problem(self, cfg: CfgNode) -> str | None:
        value, other = value_at(cfg, self.key), value_at(cfg, self.other)
        if value not in self.values or other in self.allowed:
            return None
        return f"{self.key} {value} needs {self.other} in {self.allowed}, got {other!r} ({self.why})"


POSITIVE = Within(0, open_low=True)
NON_NEGATIVE = Within(0)
AT_LEAST_ONE = Within(1)
PROBABILITY = Within(0, 1)


def value_at(cfg: CfgNode, key: str) -> Any:
    for part in key.split("."):
        cfg = cfg[part]
    return cfg


def non_finite(cfg: CfgNode, prefix: str = "") -> list[str]:
    """The keys of ``cfg`` holding a NaN or infinite number (alone or in a tuple), ruled or not: no setting
    of dilo means anything as NaN, and a NaN learning rate would train to the end on NaN losses."""
    keys = []
    for key, value in cfg.items():
        if isinstance(value, CfgNode):
            keys += non_finite(value, f"{prefix}{key}.")
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(v, float) and not math.isfinite(v) for v in values):
            keys.append(f"{prefix}{key}")
    return keys


def check_config(
    cfg: CfgNode, rules: Mapping[str, OneOf | Within], source: str = "", combinations: Sequence[Requires] = ()
) -> None:
    """Raise one ValueError listing every key of ``cfg`` that breaks its rule (and what it must be), every
    other key that holds a non-finite number, then every broken combination."""
    problems = [
        f"{key} {problem}" for key, rule in rules.items() if (problem := rule.problem(value_at(cfg, key))) is not None
    ]
    problems += [f"{key} must be finite, got {value_at(cfg, key)!r}" for key in non_finite(cfg) if key not in rules]
    problems += [problem for rule in combinations if (problem := rule.problem(cfg)) is not None]
    if problems:
        where = f"{source}: " if source else ""
        raise ValueError(f"{where}invalid config value{'s' if len(problems) > 1 else ''}: " + "; ".join(problems))
