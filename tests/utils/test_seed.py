import numpy as np
import pytest

from pretrain.utils.seed import derive_seed, derive_seeds


@pytest.mark.parametrize("k", [1, 3, 4, 6])
def test_batched_seeds_are_numpys_seed_sequence(k):
    """derive_seeds replays SeedSequence's integer hash: the same 63-bit seeds, edges included."""
    coords = np.random.default_rng(k).integers(0, 2**32, (300, k))
    coords[::5], coords[1::7] = 0, 2**32 - 1
    assert derive_seeds(coords) == [derive_seed(*row) for row in coords.tolist()]


def test_batched_seeds_of_large_coordinates_and_bad_input():
    coords = np.array([[7, 2**40, 3], [7, 1, 3]])
    assert derive_seeds(coords) == [derive_seed(*row) for row in coords.tolist()]
    with pytest.raises(ValueError, match="non-negative"):
        derive_seeds(np.array([[1, -1]]))
