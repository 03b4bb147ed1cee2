"""Seeds derived from a base seed, so every random draw is a pure function of its coordinates."""

from __future__ import annotations

import numpy as np


def derive_seed(*coords: int) -> int:
    """A 63-bit seed from non-negative integers, e.g. (seed, epoch, index); well mixed."""
    state = np.random.SeedSequence([int(c) for c in coords]).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))
