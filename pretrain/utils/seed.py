"""Seeds derived from a base seed, so every random draw is a pure function of its coordinates."""

from __future__ import annotations

import numpy as np

# NumPy's SeedSequence constants (O'Neill's seed_seq_fe): :func:`derive_seeds` recomputes its hash.
INIT_A, MULT_A, INIT_B, MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
MIX_MULT_L, MIX_MULT_R = 0xCA01F9DD, 0x4973F715
POOL_SIZE = 4
MASK32 = 0xFFFFFFFF


def derive_seed(*coords: int) -> int:
    """A 63-bit seed from non-negative integers, e.g. (seed, epoch, index); well mixed."""
    state = np.random.SeedSequence([int(c) for c in coords]).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))


def derive_seeds(coords: np.ndarray) -> list[int]:
    """:func:`derive_seed` of every row of ``coords`` (N, k), the same values, computed for all rows at once.

    NumPy's SeedSequence hash is replayed on uint32 columns (its constants do not depend on the
    data), so a batch costs a few dozen array operations instead of N hashes in Python. Rows with
    a coordinate of 2**32 or more (more than one entropy word) take :func:`derive_seed`.
    """
    coords = np.asarray(coords, dtype=np.int64)
    if coords.ndim != 2 or (coords < 0).any():
        raise ValueError(f"derive_seeds needs (N, k) non-negative integers, got shape {coords.shape}")
    if (coords > MASK32).any():
        return [derive_seed(*row) for row in coords.tolist()]
    entropy = coords.astype(np.uint32)
    hash_const = [INIT_A]

    def hashmix(value: np.ndarray) -> np.ndarray:
        value = value ^ np.uint32(hash_const[0])
        hash_const[0] = (hash_const[0] * MULT_A) & MASK32
        value = value * np.uint32(hash_const[0])
        return value ^ (value >> np.uint32(16))

    def mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        result = np.uint32(MIX_MULT_L) * x - np.uint32(MIX_MULT_R) * y
        return result ^ (result >> np.uint32(16))

    zeros = np.zeros(len(entropy), np.uint32)
    pool = [hashmix(entropy[:, i] if i < entropy.shape[1] else zeros) for i in range(POOL_SIZE)]
    for src in range(POOL_SIZE):
        for dst in range(POOL_SIZE):
            if src != dst:
                pool[dst] = mix(pool[dst], hashmix(pool[src]))
    for src in range(POOL_SIZE, entropy.shape[1]):
        for dst in range(POOL_SIZE):
            pool[dst] = mix(pool[dst], hashmix(entropy[:, src]))
    words, const = [], INIT_B  # generate_state(1, uint64): two 32-bit words, little-endian
    for value in pool[:2]:
        value = value ^ np.uint32(const)
        const = (const * MULT_B) & MASK32
        value = value * np.uint32(const)
        words.append((value ^ (value >> np.uint32(16))).astype(np.uint64))
    return ((words[0] | (words[1] << np.uint64(32))) >> np.uint64(1)).tolist()
