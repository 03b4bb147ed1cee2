import pytest

from pretrain.config import load_config
from pretrain.engine.solver import base_lr, lr_at_epoch


def test_linear_scaling_and_step_schedule():
    cfg = load_config("", ["SOLVER.IMS_PER_BATCH", "1024"])
    assert base_lr(cfg) == pytest.approx(0.12)
    assert [lr_at_epoch(cfg, e) for e in (0, 119, 120, 159, 160, 199)] == pytest.approx(
        [0.12, 0.12, 0.012, 0.012, 0.0012, 0.0012]
    )


def test_cosine_schedule_is_moco_v2s_half_cosine_over_the_epochs():
    cfg = load_config("", ["SOLVER.SCHEDULE", "cosine", "SOLVER.EPOCHS", "200"])
    assert [lr_at_epoch(cfg, e) for e in (0, 50, 100, 150)] == pytest.approx(
        [0.03, 0.03 * (1 + 2**-0.5) / 2, 0.015, 0.03 * (1 - 2**-0.5) / 2]
    )
