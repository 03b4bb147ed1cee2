"""Paired comparisons over seeds: the t interval, the pairing by seed, the table, checked with numbers."""

import pytest

from pretrain.reproduce.pairing import compare, format_comparisons, paired_gain


def test_paired_gain_differs_seed_by_seed_not_arm_by_arm():
    # The arms' own spreads are large (std 10), their differences are steady: pairing sees the gain.
    reference = {0: 40.0, 1: 50.0, 2: 60.0, 3: 45.0, 4: 55.0}
    arm = {0: 42.0, 1: 53.0, 2: 61.0, 3: 47.0, 4: 57.0, 9: 99.0}  # seed 9 has no partner: left out
    g = paired_gain(arm, reference)
    assert g.seeds == (0, 1, 2, 3, 4)
    assert g.differences == (2.0, 3.0, 1.0, 2.0, 2.0)
    assert g.mean == pytest.approx(2.0)
    half = 2.776445 * (0.5**0.5) / 5**0.5  # t(4) x sample std (sqrt 0.5) / sqrt(5)
    assert (g.low, g.high) == pytest.approx((2.0 - half, 2.0 + half))
    assert g.excludes_zero and g.positive == 5
    with pytest.raises(ValueError, match="no seed in common"):
        paired_gain({7: 1.0}, reference)


def test_compare_and_its_table():
    results = [
        {"setting": "baseline", "seed": 0, "linear_top1": 50.0, "knn_top1": 40.0},
        {"setting": "baseline", "seed": 1, "linear_top1": 52.0, "knn_top1": 41.0},
        {"setting": "rbd", "seed": 0, "linear_top1": 53.0, "knn_top1": 39.0},
        {"setting": "rbd", "seed": 1, "linear_top1": 56.0, "knn_top1": 44.0},
        {"setting": "true", "seed": 5, "linear_top1": 70.0},  # no baseline at seed 5: no comparison
    ]
    out = compare(results, ["rbd", "true"], "baseline", ("linear_top1", "knn_top1", "localization"))
    assert set(out) == {"rbd"} and set(out["rbd"]) == {"linear_top1", "knn_top1"}
    assert out["rbd"]["linear_top1"]["mean"] == 3.5 and out["rbd"]["linear_top1"]["n"] == 2
    assert out["rbd"]["knn_top1"]["differences"] == (-1.0, 3.0) and out["rbd"]["knn_top1"]["positive"] == 1
    table = format_comparisons(out, "baseline", {"linear_top1": "linear top-1"}).splitlines()
    assert table[2] == "| rbd - baseline | linear top-1 | 2 | +3.50 | -2.85 to +9.85 | 2/2 | +3.0, +4.0 |"
