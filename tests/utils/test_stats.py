"""The statistics of published claims: Student's t quantiles, the sample deviation, the mean's interval, the
prediction interval of one more run."""

import pytest

from pretrain.utils.stats import mean_interval, mean_std, prediction_interval, t_quantile_975


def test_t_quantiles_are_students():
    assert t_quantile_975(1) == pytest.approx(12.706, abs=1e-3)
    assert t_quantile_975(4) == pytest.approx(2.776, abs=1e-3)  # 5 seeds
    assert t_quantile_975(40) == pytest.approx(2.021, abs=1e-3)
    assert t_quantile_975(120) == pytest.approx(1.980, abs=1e-3)
    with pytest.raises(ValueError, match="2 values"):
        t_quantile_975(0)


def test_mean_std_uses_the_sample_deviation():
    assert mean_std([50.0, 52.0, 57.0]) == pytest.approx((53.0, 3.605551))
    assert mean_std([41.5]) == (41.5, 0.0)
    with pytest.raises(ValueError, match="at least one"):
        mean_std([])


def test_one_seed_has_no_interval():
    assert mean_interval([3.0]) == (3.0, 3.0, 3.0)
    with pytest.raises(ValueError, match="at least one"):
        mean_interval([])


def test_prediction_interval_is_wider_than_the_means_by_sqrt_n_plus_1():
    values = [50.0, 52.0, 57.0]  # mean 53, sd 3.6056, t(2) 4.3027
    low, high = prediction_interval(values)
    assert (low, high) == pytest.approx(
        (53 - 4.3027 * 3.6056 * (4 / 3) ** 0.5, 53 + 4.3027 * 3.6056 * (4 / 3) ** 0.5), abs=1e-3
    )
    _, mean_low, _ = mean_interval(values)
    assert (53 - low) / (53 - mean_low) == pytest.approx(2.0)  # sqrt(1 + 1/3) / sqrt(1/3) = sqrt(4)
    with pytest.raises(ValueError, match="2 values"):
        prediction_interval([41.5])
