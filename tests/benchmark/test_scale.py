"""The scale rehearsal, smoke-sized: its stages run dilo's code and its extrapolation is a linear fit."""

import pytest
import torch

from pretrain.benchmark import scale

pytestmark = pytest.mark.usefixtures("one_thread")


def test_tree_and_probe_stages_measure_every_size(tmp_path):
    cpu = torch.device("cpu")
    found = scale.tree_stages(str(tmp_path), [1000, 2000], cpu) + scale.probe_stage([300, 600], cpu)
    assert [(m.stage, m.n) for m in found] == [
        *(
            (stage, n)
            for n in (1000, 2000)
            for stage in ("listing", "mask_check", "saliency_shards", "saliency_resume")
        ),
        ("probe_gather", 300),
        ("probe_gather", 600),
    ]
    assert all(m.seconds > 0 and m.device_peak_bytes is None for m in found)
    assert list(tmp_path.iterdir()) == []  # the trees are removed


def test_extrapolation_is_the_linear_fit_at_imagenet_size():
    rows = [scale.Measurement("probe_gather", n, 2.0 + n * 1e-3, 100 + 8 * n, None) for n in (1000, 2000, 4000)]
    queries = [scale.Measurement("knn_monitor", n, n * 1e-6, 4 * n, 7 * n) for n in (1000, 2000)]
    knn, gather = scale.extrapolate(rows + queries, knn_queries=100)  # in scale.TARGETS' order
    assert gather.stage == "probe_gather" and gather.target_n == scale.IMAGENET_TRAIN
    assert gather.seconds == pytest.approx(2.0 + scale.IMAGENET_TRAIN * 1e-3)
    assert gather.host_peak_bytes == pytest.approx(100 + 8 * scale.IMAGENET_TRAIN) and gather.device_peak_bytes is None
    assert knn.seconds == pytest.approx(scale.IMAGENET_TRAIN * 1e-6 * scale.IMAGENET_VAL / 100)  # per query -> 50k
    assert knn.device_peak_bytes == pytest.approx(7 * scale.IMAGENET_TRAIN)


def test_time_swamped_by_noise_extrapolates_from_the_dearest_row():
    rows = [scale.Measurement("listing", n, t, 10 * n, None) for n, t in ((1000, 0.5), (2000, 0.3), (4000, 0.4))]
    (listing,) = scale.extrapolate(rows)
    assert listing.seconds_per_n == pytest.approx(0.5 / 1000) and listing.seconds > 0
