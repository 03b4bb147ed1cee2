"""Saliency metrics on hand-made cases with known answers, and on the real sod-dev masks."""

import numpy as np
import pytest

from pretrain.saliency.metrics import (
    SaliencyEvaluator,
    adaptive_fbeta,
    binarize_gt,
    fbeta,
    find_masks,
    mae,
    normalize_map,
    pr_curves,
    read_mask,
)
from tests.conftest import shared_data


def f03(p: float, r: float) -> float:
    return 1.3 * p * r / (0.3 * p + r) if p + r else 0.0


def evaluate(*pairs: tuple[np.ndarray, np.ndarray]) -> dict:
    ev = SaliencyEvaluator()
    for pred, gt in pairs:
        ev.update(pred, gt)
    return ev.result()


GT = np.array([[255, 0, 0, 0], [255, 255, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], np.uint8)  # 3 of 16 foreground
# A 2 x 2 case worked by hand: the map in any range (here 0..8) normalizes to [[1, .5], [.25, 0]],
# i.e. levels floor(255 * v) = 255, 127, 63, 0; the foreground is the left column (1 and .25).
PRED_2X2 = np.array([[8.0, 4.0], [2.0, 0.0]])
GT_2X2 = np.array([[255, 0], [255, 0]], np.uint8)


def test_perfect_prediction():
    r = evaluate((GT.astype(np.float32), GT))
    assert r["max_fbeta"] == pytest.approx(1.0)
    assert r["adaptive_fbeta"] == pytest.approx(1.0)
    assert r["mae"] == 0.0
    assert r["num_images"] == 1
    assert r["precision"].shape == r["recall"].shape == r["fbeta"].shape == (256,)
    # t = 0 predicts every pixel: precision is the foreground fraction, recall 1.
    assert (r["precision"][0], r["recall"][0]) == (pytest.approx(3 / 16), 1.0)
    assert r["mean_fbeta"] == pytest.approx((f03(3 / 16, 1) + 255) / 256)


def test_inverted_prediction():
    r = evaluate((255.0 - GT, GT))
    only_t0 = f03(3 / 16, 1)  # from t = 1 on only background is predicted: P = R = F = 0
    assert r["max_fbeta"] == pytest.approx(only_t0)
    assert r["max_fbeta_threshold"] == 0
    assert r["mean_fbeta"] == pytest.approx(only_t0 / 256)
    assert np.all(r["precision"][1:] == 0) and np.all(r["recall"][1:] == 0)
    assert r["adaptive_fbeta"] == 0.0  # threshold min(2 * 13/16, 1) = 1 picks the background
    assert r["mae"] == 1.0


def test_constant_prediction_is_all_zeros():
    assert np.array_equal(normalize_map(np.full((3, 3), 0.7)), np.zeros((3, 3)))
    r = evaluate((np.full(GT.shape, 0.7), GT))
    everything = f03(3 / 16, 1)  # only t = 0 (and the adaptive threshold 0) predicts anything: all pixels
    assert r["max_fbeta"] == pytest.approx(everything)
    assert r["mean_fbeta"] == pytest.approx(everything / 256)
    assert r["adaptive_fbeta"] == pytest.approx(everything)
    assert r["mae"] == pytest.approx(3 / 16)


def test_hand_computed_2x2_curves():
    precision, recall = pr_curves(normalize_map(PRED_2X2), binarize_gt(GT_2X2))
    # t = 0: all 4 predicted, 2 right. t = 1..63: {1, .5, .25}. t = 64..127: {1, .5}. t = 128..255: {1}.
    expected = {0: (2 / 4, 1.0), 1: (2 / 3, 1.0), 63: (2 / 3, 1.0), 64: (1 / 2, 1 / 2), 127: (1 / 2, 1 / 2)}
    expected |= {128: (1.0, 1 / 2), 255: (1.0, 1 / 2)}
    for t, (p, r) in expected.items():
        assert (precision[t], recall[t]) == (pytest.approx(p), pytest.approx(r)), t
    result = evaluate((PRED_2X2, GT_2X2))
    assert result["max_fbeta"] == pytest.approx(0.65 / 0.8)  # 1.3 * 1 * .5 / (.3 + .5) at t >= 128
    assert result["max_fbeta_threshold"] == 128
    mean_f = (f03(0.5, 1) + 63 * f03(2 / 3, 1) + 64 * f03(0.5, 0.5) + 128 * f03(1, 0.5)) / 256
    assert result["mean_fbeta"] == pytest.approx(mean_f)
    assert fbeta(2 / 3, 1.0) == pytest.approx(1.3 * 2 / 3 / (0.2 + 1))


def test_threshold_is_inclusive_on_8bit_levels():
    pred = np.array([[255, 128, 0]], np.uint8)
    precision, recall = pr_curves(normalize_map(pred), binarize_gt(np.array([[0, 255, 0]], np.uint8)))
    assert recall[128] == 1.0 and recall[129] == 0.0  # 128/255 counts as predicted at t = 128 (pred >= t)
    assert precision[128] == 0.5 and precision[129] == 0.0  # only the wrong pixel left at 129..255


def test_empty_prediction_and_empty_gt_give_zero():
    assert np.all(fbeta(np.zeros(3), np.zeros(3)) == 0)
    precision, recall = pr_curves(np.array([[1.0, 0.0]]), np.array([[False, False]]))
    assert np.all(precision == 0) and np.all(recall == 0)


def test_mae_on_known_case():
    assert mae(normalize_map(PRED_2X2), binarize_gt(GT_2X2)) == pytest.approx((0 + 0.5 + 0.75 + 0) / 4)
    assert evaluate((PRED_2X2, GT_2X2))["mae"] == pytest.approx(0.3125)


def test_adaptive_threshold():
    # mean .4375 -> threshold .875: only the 1 is predicted, P = 1, R = 1/2.
    assert adaptive_fbeta(normalize_map(PRED_2X2), binarize_gt(GT_2X2)) == pytest.approx(0.8125)
    # mean .75 -> 2 * mean clipped to 1, and >= keeps the three maxima: P = 2/3, R = 1.
    pred, gt = np.array([[1.0, 1.0], [1.0, 0.0]]), np.array([[255, 255], [0, 0]], np.uint8)
    assert adaptive_fbeta(pred, binarize_gt(gt)) == pytest.approx(f03(2 / 3, 1))


def test_curves_are_averaged_over_images_before_f():
    perfect = GT_2X2.astype(np.float64)
    r = evaluate((PRED_2X2, GT_2X2), (perfect, GT_2X2))
    # t >= 128: mean P = (1 + 1) / 2, mean R = (1/2 + 1) / 2 -> F = 1.3 * .75 / 1.05.
    assert r["max_fbeta"] == pytest.approx(1.3 * 0.75 / 1.05)
    assert r["max_fbeta"] != pytest.approx((0.8125 + 1.0) / 2)  # averaging per-image F would give this
    assert r["recall"][200] == pytest.approx(0.75)
    assert r["adaptive_fbeta"] == pytest.approx((0.8125 + 1.0) / 2)
    assert r["mae"] == pytest.approx(0.3125 / 2)
    assert r["num_images"] == 2


def test_shape_mismatch_and_empty_evaluator_raise():
    ev = SaliencyEvaluator()
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\)"):
        ev.update(np.zeros((2, 3)), np.zeros((3, 2), np.uint8))
    with pytest.raises(ValueError, match="no images"):
        ev.result()
    with pytest.raises(ValueError, match="NaN"):
        ev.update(np.array([[np.nan, 0.0]]), np.zeros((1, 2), np.uint8))


def center_prior(shape: tuple[int, int]) -> np.ndarray:
    """A centred Gaussian, sigma a quarter of each side: the classic baseline that knows only photographers' habits."""
    h, w = shape
    y, x = np.mgrid[:h, :w]
    return np.exp(-0.5 * (((x - (w - 1) / 2) / (0.25 * w)) ** 2 + ((y - (h - 1) / 2) / (0.25 * h)) ** 2))


def test_real_masks_against_themselves_and_a_center_prior():
    masks = find_masks(shared_data("sod-dev", "masks"))
    assert len(masks) == 150
    itself, center = SaliencyEvaluator(), SaliencyEvaluator()
    for path in masks.values():
        gt = read_mask(path)
        itself.update(gt, gt)
        center.update(center_prior(gt.shape), gt)
    same, prior = itself.result(), center.result()
    assert same["max_fbeta"] == pytest.approx(1.0) and same["adaptive_fbeta"] == pytest.approx(1.0)
    assert same["mae"] == 0.0
    print("center prior on sod-dev:", {k: round(v, 4) for k, v in prior.items() if isinstance(v, float)})
    assert 0.3 < prior["max_fbeta"] < 0.8
    assert prior["mean_fbeta"] < prior["max_fbeta"]
    assert 0.2 < prior["adaptive_fbeta"] < 0.8
    assert 0.1 < prior["mae"] < 0.5
