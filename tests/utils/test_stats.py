"""The statistics of published claims: Student's t quantiles, the sample deviation, the mean's interval."""

import pytest

from pretrain.utils.stats import mean_interval, mean_std, t_quantile_975


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
