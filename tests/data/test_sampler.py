import pytest

from pretrain.data import EpochSampler


def test_ranks_split_the_single_process_batches():
    single = list(EpochSampler(100, 8, seed=3))
    ranks = [list(EpochSampler(100, 4, r, 2, seed=3)) for r in range(2)]
    assert len(single) == 96  # 12 global batches of 8, the rest dropped
    for t in range(12):
        assert single[8 * t : 8 * t + 8] == ranks[0][4 * t : 4 * t + 4] + ranks[1][4 * t : 4 * t + 4]


def test_epochs_differ_and_resume_mid_epoch():
    s = EpochSampler(50, 5, seed=0)
    s.set_epoch(1)
    full = list(s)
    s.set_epoch(2)
    assert list(s) != full
    s.set_epoch(1, start_iter=4)
    assert list(s) == full[20:] and len(s) == 30
    assert sorted(full) == sorted(set(full))  # no repeats within an epoch


def test_too_few_images():
    with pytest.raises(ValueError, match="IMS_PER_BATCH"):
        EpochSampler(3, 4)
